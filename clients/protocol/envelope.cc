#include "clients/protocol/envelope.h"

#include <openssl/rand.h>

#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "clients/protocol/audit/merkle.h"
#include "google/protobuf/util/time_util.h"
#include "safeguard/v1/audit.pb.h"

namespace safeguard::protocol {
namespace {

using google::protobuf::util::TimeUtil;
using safeguard::v1::DisclosableField;
using safeguard::v1::Notification;

constexpr DisclosableField kAllFields[] = {
    safeguard::v1::DISCLOSABLE_FIELD_CHILD_IDENTITY, safeguard::v1::DISCLOSABLE_FIELD_SUMMARY,
    safeguard::v1::DISCLOSABLE_FIELD_DETAILS,        safeguard::v1::DISCLOSABLE_FIELD_ADDRESS,
    safeguard::v1::DISCLOSABLE_FIELD_HEALTH_DETAILS, safeguard::v1::DISCLOSABLE_FIELD_POLICE_DETAILS,
};


// The hashes of a proof field (`what` names it in the error), each exactly 32 bytes.
absl::StatusOr<std::vector<audit::Hash>> ParseProof(
    const google::protobuf::RepeatedPtrField<std::string>& hashes, absl::string_view what) {
  std::vector<audit::Hash> proof;
  proof.reserve(hashes.size());
  for (const std::string& h : hashes) {
    auto hash = audit::HashFromBytes(h);
    if (!hash.ok()) return absl::InvalidArgumentError(absl::StrCat(what, ": malformed proof"));
    proof.push_back(*hash);
  }
  return proof;
}

// Moves `field`'s parts out of `core` into a partial notification. Returns false if absent.
bool ExtractField(Notification& core, DisclosableField field, Notification& part) {
  switch (field) {
    case safeguard::v1::DISCLOSABLE_FIELD_CHILD_IDENTITY:
      for (auto& subject : *core.mutable_subjects()) {
        auto* s = part.add_subjects();
        *s->mutable_identifiers() = std::move(*subject.mutable_identifiers());
        subject.clear_identifiers();
        s->set_display_name(subject.display_name());
        subject.clear_display_name();
        if (subject.has_date_of_birth()) {
          *s->mutable_date_of_birth() = subject.date_of_birth();
          subject.clear_date_of_birth();
        }
      }
      return core.subjects_size() > 0;
    case safeguard::v1::DISCLOSABLE_FIELD_SUMMARY:
      if (core.summary().empty()) return false;
      part.set_summary(core.summary());
      core.clear_summary();
      return true;
    case safeguard::v1::DISCLOSABLE_FIELD_DETAILS:
      if (!core.has_details()) return false;
      *part.mutable_details() = core.details();
      core.clear_details();
      return true;
    case safeguard::v1::DISCLOSABLE_FIELD_ADDRESS:
      if (!core.has_address()) return false;
      *part.mutable_address() = core.address();
      core.clear_address();
      return true;
    case safeguard::v1::DISCLOSABLE_FIELD_HEALTH_DETAILS:
      if (!core.has_health_details()) return false;
      *part.mutable_health_details() = core.health_details();
      core.clear_health_details();
      return true;
    case safeguard::v1::DISCLOSABLE_FIELD_POLICE_DETAILS:
      if (!core.has_police_details()) return false;
      *part.mutable_police_details() = core.police_details();
      core.clear_police_details();
      return true;
    default:
      return false;
  }
}

// Checks that a disclosure's partial notification carries only its own field's parts, and
// merges it into `out`.
absl::Status MergeField(DisclosableField field, const Notification& part, Notification& out) {
  Notification rest = part;
  Notification extracted;
  ExtractField(rest, field, extracted);
  // Once its own field is taken out, nothing may remain (identity leaves empty subjects).
  bool clean = field == safeguard::v1::DISCLOSABLE_FIELD_CHILD_IDENTITY || rest.subjects_size() == 0;
  for (const auto& s : rest.subjects()) clean &= s.ByteSizeLong() == 0;
  rest.clear_subjects();
  if (!clean || rest.ByteSizeLong() != 0) {
    return absl::InvalidArgumentError("carries fields outside its own category");
  }
  if (field == safeguard::v1::DISCLOSABLE_FIELD_CHILD_IDENTITY) {
    if (part.subjects_size() != out.subjects_size()) {
      return absl::InvalidArgumentError("names a different number of children than the payload");
    }
    for (int i = 0; i < part.subjects_size(); ++i) {
      out.mutable_subjects(i)->MergeFrom(part.subjects(i));
    }
    return absl::OkStatus();
  }
  out.MergeFrom(part);
  return absl::OkStatus();
}

}  // namespace

std::string DisclosableFieldName(DisclosableField field) {
  std::string name(absl::StripPrefix(safeguard::v1::DisclosableField_Name(field),
                                     "DISCLOSABLE_FIELD_"));
  absl::AsciiStrToLower(&name);
  absl::StrReplaceAll({{"_", "-"}}, &name);
  return name;
}

absl::StatusOr<safeguard::v1::SignedEnvelope> Seal(const Notification& notification,
                                                  const Signer& signer, absl::Time signed_at) {
  if (notification.idempotency_key().empty()) {
    return absl::InvalidArgumentError("idempotency_key: is empty; it becomes the envelope id");
  }
  safeguard::v1::SignedPayload payload;
  payload.set_envelope_id(notification.idempotency_key());
  payload.set_sender(signer.uri());
  *payload.mutable_signed_at() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(signed_at));
  Notification core = notification;
  safeguard::v1::SignedEnvelope envelope;
  envelope.set_payload_type(kNotificationPayloadType);
  for (DisclosableField field : kAllFields) {
    safeguard::v1::Disclosure disclosure;
    if (!ExtractField(core, field, *disclosure.mutable_value())) continue;
    disclosure.set_field(field);
    std::string salt(16, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()), 16) != 1) {
      return absl::InternalError("no randomness for a disclosure salt");
    }
    disclosure.set_salt(salt);
    std::string bytes = disclosure.SerializeAsString();
    auto* digest = payload.add_disclosures();
    digest->set_field(field);
    digest->set_sha256(Sha256(bytes));
    envelope.add_disclosures(std::move(bytes));
  }
  *payload.mutable_core() = std::move(core);
  envelope.set_payload(payload.SerializeAsString());
  auto sig = signer.Sign(PreAuthEncoding(kNotificationPayloadType, envelope.payload()));
  if (!sig.ok()) return sig.status();
  auto* s = envelope.add_signatures();
  s->set_keyid(signer.certificate().keyid());
  s->set_sig(*std::move(sig));
  s->set_certificate(signer.certificate().der());
  return envelope;
}

absl::StatusOr<AssembledNotification> AssembleDisclosures(
    const safeguard::v1::SignedEnvelope& envelope, const safeguard::v1::SignedPayload& payload) {
  AssembledNotification out;
  // Disclosures: each must match a signed digest of its own field, once.
  std::map<std::string, DisclosableField> digests;
  for (const auto& d : payload.disclosures()) digests[d.sha256()] = d.field();
  out.notification = payload.core();
  for (int i = 0; i < envelope.disclosures_size(); ++i) {
    std::string where = absl::StrCat("envelope.disclosures[", i, "]: ");
    auto it = digests.find(Sha256(envelope.disclosures(i)));
    if (it == digests.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "matches no digest in the signed payload: it was altered after signing"));
    }
    safeguard::v1::Disclosure disclosure;
    if (!disclosure.ParseFromString(envelope.disclosures(i)) || disclosure.field() != it->second) {
      return absl::InvalidArgumentError(absl::StrCat(where, "is not the field its digest names"));
    }
    if (!out.disclosed.insert(disclosure.field()).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, "repeats field ",
                                                     DisclosableFieldName(disclosure.field())));
    }
    if (absl::Status s = MergeField(disclosure.field(), disclosure.value(), out.notification);
        !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, s.message()));
    }
  }
  for (const auto& d : payload.disclosures()) {
    if (!out.disclosed.count(d.field())) out.withheld.insert(d.field());
  }
  return out;
}

absl::StatusOr<OpenedEnvelope> Open(const safeguard::v1::SignedEnvelope& envelope,
                                    const TrustAnchor& trust, const OpenOptions& options) {
  if (envelope.payload_type() != kNotificationPayloadType) {
    return absl::InvalidArgumentError(
        absl::StrCat("envelope.payload_type: '", envelope.payload_type(),
                     "' is not a known payload type; expected '", kNotificationPayloadType, "'"));
  }
  OpenedEnvelope opened;
  if (envelope.payload().empty() || !opened.payload.ParseFromString(envelope.payload())) {
    return absl::InvalidArgumentError(
        "envelope.payload: cannot be parsed as a SignedPayload; the envelope is truncated or "
        "corrupt");
  }
  if (envelope.signatures_size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat("envelope.signatures: has ",
                                                   envelope.signatures_size(),
                                                   " signatures; exactly one is expected"));
  }
  const auto& signature = envelope.signatures(0);
  auto cert = Certificate::FromDer(signature.certificate());
  if (!cert.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("envelope.signatures[0].certificate: ", cert.status().message()));
  }
  if (signature.keyid() != cert->keyid()) {
    return absl::InvalidArgumentError(
        "envelope.signatures[0]: signed with a key other than the enclosed certificate's "
        "(key id mismatch): the wrong key was used");
  }
  if (!VerifySignature(*cert, PreAuthEncoding(envelope.payload_type(), envelope.payload()),
                       signature.sig())) {
    return absl::InvalidArgumentError(
        "envelope.signatures[0]: the signature does not verify: the payload was altered after "
        "it was signed");
  }
  if (!opened.payload.has_signed_at()) {
    return absl::InvalidArgumentError("envelope.payload.signed_at: is missing");
  }
  absl::Time cert_time = options.certificate_time.value_or(FromTimestamp(opened.payload.signed_at()));
  if (absl::Status s = trust.Verify(*cert, cert_time); !s.ok()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "envelope.signatures[0].certificate: not acceptable: ", s.message(),
        " (checked at ", absl::FormatTime(cert_time), ")"));
  }
  bool names_sender = false;
  for (const auto& uri : cert->uris()) names_sender |= uri == opened.payload.sender();
  if (!names_sender) {
    return absl::PermissionDeniedError(absl::StrCat(
        "envelope.payload.sender: '", opened.payload.sender(),
        "' is not the node named by the signing certificate"));
  }
  opened.signer_uri = opened.payload.sender();
  opened.signer_certificate = *std::move(cert);
  opened.envelope_digest = Sha256(envelope.payload());

  auto assembled = AssembleDisclosures(envelope, opened.payload);
  if (!assembled.ok()) return assembled.status();
  opened.notification = std::move(assembled->notification);
  opened.disclosed = std::move(assembled->disclosed);
  opened.withheld = std::move(assembled->withheld);
  if (options.require_all_disclosures && !opened.withheld.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "envelope.disclosures: the disclosure of ",
        DisclosableFieldName(*opened.withheld.begin()),
        " is missing; the sender must send every disclosure it signed"));
  }
  return opened;
}

safeguard::v1::SignedEnvelope Minimise(const safeguard::v1::SignedEnvelope& envelope,
                                       const std::set<DisclosableField>& allowed) {
  safeguard::v1::SignedEnvelope out = envelope;
  out.clear_disclosures();
  for (const std::string& bytes : envelope.disclosures()) {
    safeguard::v1::Disclosure d;
    if (d.ParseFromString(bytes) && allowed.count(d.field())) out.add_disclosures(bytes);
  }
  return out;
}

absl::StatusOr<safeguard::v1::Receipt> SignReceipt(const safeguard::v1::ReceiptBody& body,
                                                  const Signer& broker) {
  safeguard::v1::Receipt receipt;
  receipt.set_body(body.SerializeAsString());
  auto sig = broker.Sign(PreAuthEncoding(kReceiptPayloadType, receipt.body()));
  if (!sig.ok()) return sig.status();
  receipt.set_signature(*std::move(sig));
  receipt.set_broker_certificate(broker.certificate().der());
  return receipt;
}

std::string ReceiptBatchHead(uint64_t size, absl::string_view root) {
  std::string head(8, '\0');
  for (int i = 7; i >= 0; --i, size >>= 8) head[i] = static_cast<char>(size & 0xff);
  head.append(root.data(), root.size());
  return head;
}

absl::StatusOr<std::vector<safeguard::v1::Receipt>> SignReceipts(
    const std::vector<safeguard::v1::ReceiptBody>& bodies, const Signer& broker) {
  if (bodies.empty() || bodies.size() > kMaxReceiptBatch) {
    return absl::InvalidArgumentError(absl::StrCat("a receipt batch holds 1 to ", kMaxReceiptBatch,
                                                   " receipts, not ", bodies.size()));
  }
  std::vector<safeguard::v1::Receipt> receipts;
  if (bodies.size() == 1) {
    auto one = SignReceipt(bodies.front(), broker);
    if (!one.ok()) return one.status();
    receipts.push_back(*std::move(one));
    return receipts;
  }
  audit::InMemoryTree tree;
  receipts.resize(bodies.size());
  for (size_t i = 0; i < bodies.size(); ++i) {
    receipts[i].set_body(bodies[i].SerializeAsString());
    if (absl::Status s = tree.AppendLeaf(audit::LeafHash(receipts[i].body())); !s.ok()) return s;
  }
  audit::Hash root = tree.Root();
  auto sig = broker.Sign(
      PreAuthEncoding(kReceiptBatchPayloadType, ReceiptBatchHead(bodies.size(), audit::AsBytes(root))));
  if (!sig.ok()) return sig.status();
  const std::string& certificate = broker.certificate().der();
  for (size_t i = 0; i < receipts.size(); ++i) {
    auto proof = audit::InclusionProof(i, bodies.size(), tree);
    if (!proof.ok()) return proof.status();
    auto& receipt = receipts[i];
    receipt.set_signature(*sig);
    receipt.set_broker_certificate(certificate);
    receipt.mutable_batch()->set_index(i);
    receipt.mutable_batch()->set_size(bodies.size());
    for (const audit::Hash& h : *proof) {
      receipt.mutable_batch()->add_proof(std::string(audit::AsBytes(h)));
    }
  }
  return receipts;
}

absl::StatusOr<safeguard::v1::ReceiptBody> VerifyReceipt(
    const safeguard::v1::Receipt& receipt, const TrustAnchor& trust,
    const ExpectedReceipt& expected) {
  auto cert = Certificate::FromDer(receipt.broker_certificate());
  if (!cert.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("receipt.broker_certificate: ",
                                                   cert.status().message()));
  }
  std::string signed_bytes;
  if (receipt.has_batch()) {
    // Signed with others: the signature covers the root the body's proof leads to.
    const auto& batch = receipt.batch();
    if (batch.size() == 0 || batch.size() > kMaxReceiptBatch || batch.index() >= batch.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "receipt.batch: receipt ", batch.index(), " of a batch of ", batch.size(),
          " is impossible (a batch holds 1 to ", kMaxReceiptBatch, ")"));
    }
    auto proof = ParseProof(batch.proof(), "receipt.batch");
    if (!proof.ok()) return proof.status();
    auto root = audit::RootFromInclusionProof(audit::LeafHash(receipt.body()), batch.index(),
                                              batch.size(), *proof);
    if (!root.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("receipt.batch: ", root.status().message()));
    }
    signed_bytes =
        PreAuthEncoding(kReceiptBatchPayloadType, ReceiptBatchHead(batch.size(), audit::AsBytes(*root)));
  } else {
    signed_bytes = PreAuthEncoding(kReceiptPayloadType, receipt.body());
  }
  if (!VerifySignature(*cert, signed_bytes, receipt.signature())) {
    return absl::InvalidArgumentError("receipt: the broker's signature does not verify");
  }
  safeguard::v1::ReceiptBody body;
  if (!body.ParseFromString(receipt.body())) {
    return absl::InvalidArgumentError("receipt.body: cannot be parsed");
  }
  absl::Time accepted = FromTimestamp(body.accepted_at());
  if (absl::Status s = trust.Verify(*cert, accepted); !s.ok()) {
    return absl::PermissionDeniedError(
        absl::StrCat("receipt.broker_certificate: not acceptable: ", s.message()));
  }
  bool is_broker = false;
  for (const auto& uri : cert->uris()) {
    is_broker |= uri == body.broker() && absl::StrContains(uri, "/broker/");
  }
  if (!is_broker) {
    return absl::PermissionDeniedError("receipt: not signed by a broker of the partnership");
  }
  if ((expected.envelope_digest && body.envelope_digest() != *expected.envelope_digest) ||
      body.envelope_id() != expected.envelope_id || body.sender() != expected.sender) {
    return absl::InvalidArgumentError("receipt: is for a different envelope");
  }
  if (body.has_audit()) {
    // The acceptance is leaf `leaf_index` of the audit log whose root at tree_size the broker
    // signed here; a checkpoint consistent with that root proves it was never taken out.
    const auto& inclusion = body.audit();
    safeguard::v1::AuditEntry entry;
    if (!entry.ParseFromString(inclusion.entry()) ||
        entry.event() != safeguard::v1::AUDIT_EVENT_SUBMITTED) {
      return absl::InvalidArgumentError("receipt.audit: the logged entry is not an acceptance");
    }
    if (entry.notification_id() != body.notification_id() ||
        entry.envelope_digest() != body.envelope_digest()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "receipt.audit: the logged entry is for notification '", entry.notification_id(),
          "', not this one ('", body.notification_id(), "'), or another envelope"));
    }
    auto proof = ParseProof(inclusion.proof(), "receipt.audit");
    if (!proof.ok()) return proof.status();
    auto root = audit::HashFromBytes(inclusion.root());
    if (!root.ok() || !audit::VerifyInclusion(audit::LeafHash(inclusion.entry()),
                                              inclusion.leaf_index(), inclusion.tree_size(), *proof,
                                              *root)
                           .ok()) {
      return absl::InvalidArgumentError(
          "receipt.audit: the inclusion proof does not lead to the signed root");
    }
  }
  return body;
}

}  // namespace safeguard::protocol
