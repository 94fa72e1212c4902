// Sealing a notification into a signed envelope with selective disclosure, opening (verifying)
// one, minimising it for a recipient, and the broker's signed receipt. docs/protocol.md is the
// specification; this is its reference implementation, shared by broker and SDK.
#ifndef SAFEGUARD_CLIENTS_PROTOCOL_ENVELOPE_H_
#define SAFEGUARD_CLIENTS_PROTOCOL_ENVELOPE_H_

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/protocol/crypto.h"
#include "safeguard/v1/envelope.pb.h"

namespace safeguard::protocol {

inline constexpr char kNotificationPayloadType[] =
    "application/vnd.safeguard.notification.v1+protobuf";
inline constexpr char kReceiptPayloadType[] = "application/vnd.safeguard.receipt.v1+protobuf";
inline constexpr char kReceiptBatchPayloadType[] = "application/vnd.safeguard.receipt-batch.v1";
// The most receipts one batch signature may cover (a proof of at most 12 hashes).
inline constexpr size_t kMaxReceiptBatch = 4096;

inline absl::Time FromTimestamp(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// "child-identity", "summary", "details", "address", "health-details", "police-details".
std::string DisclosableFieldName(safeguard::v1::DisclosableField field);

// Splits `notification` into a signed core and one salted disclosure per disclosable field that
// is present, and signs it. envelope_id = the notification's idempotency_key (required).
// REQUIRES: the notification is normalised (protocol::NormaliseAndValidate).
absl::StatusOr<safeguard::v1::SignedEnvelope> Seal(const safeguard::v1::Notification& notification,
                                                  const Signer& signer, absl::Time signed_at);

struct OpenedEnvelope {
  safeguard::v1::SignedPayload payload;
  // The core with every verified disclosure merged in; withheld fields are absent.
  safeguard::v1::Notification notification;
  std::string signer_uri;
  Certificate signer_certificate;
  std::set<safeguard::v1::DisclosableField> disclosed;
  std::set<safeguard::v1::DisclosableField> withheld;
  std::string envelope_digest;  // SHA-256 of the payload bytes
};

struct OpenOptions {
  // When to check the signer's certificate validity. Unset: at the payload's signed_at (so a
  // notification stays verifiable after its sender's certificate is renewed or expires).
  std::optional<absl::Time> certificate_time;
  // The broker requires every disclosure; a recipient of a minimised envelope does not.
  bool require_all_disclosures = false;
};

struct AssembledNotification {
  safeguard::v1::Notification notification;
  std::set<safeguard::v1::DisclosableField> disclosed;
  std::set<safeguard::v1::DisclosableField> withheld;
};

// Merges the disclosures present into the payload's core, checking each against its signed
// digest. Does not check the signature: Open() does, and calls this.
absl::StatusOr<AssembledNotification> AssembleDisclosures(
    const safeguard::v1::SignedEnvelope& envelope, const safeguard::v1::SignedPayload& payload);

// Verifies the envelope: payload type, the signature over the exact payload bytes by the key of
// the enclosed certificate, that certificate against the partnership CA, the sender named in the
// payload against the certificate, and every disclosure against its signed digest. Each failure
// has its own INVALID_ARGUMENT / PERMISSION_DENIED message naming what is wrong.
absl::StatusOr<OpenedEnvelope> Open(const safeguard::v1::SignedEnvelope& envelope,
                                    const TrustAnchor& trust, const OpenOptions& options = {});

// The same envelope with only the disclosures of `allowed` fields; the signature still verifies.
safeguard::v1::SignedEnvelope Minimise(const safeguard::v1::SignedEnvelope& envelope,
                                       const std::set<safeguard::v1::DisclosableField>& allowed);

absl::StatusOr<safeguard::v1::Receipt> SignReceipt(const safeguard::v1::ReceiptBody& body,
                                                  const Signer& broker);

// Signs several receipts with one signature: over the RFC 6962 root of their serialised bodies,
// each receipt carrying its inclusion proof (Receipt.batch). One body gives SignReceipt's
// receipt. INVALID_ARGUMENT for none or more than kMaxReceiptBatch.
absl::StatusOr<std::vector<safeguard::v1::Receipt>> SignReceipts(
    const std::vector<safeguard::v1::ReceiptBody>& bodies, const Signer& broker);

// What a batch signature covers: the batch size, 8 bytes big-endian, then its 32-byte root.
std::string ReceiptBatchHead(uint64_t size, absl::string_view root);

// Checks the broker's signature (over the body, or over the batch root its proof leads to), its
// certificate (from the partnership CA, valid when the
// receipt says it accepted, a broker URI) and that the receipt is for the expected envelope: the
// exact digest, or — for the answer to a retry, which carries the receipt of the envelope first
// accepted — at least the same envelope id and sender.
struct ExpectedReceipt {
  std::optional<std::string> envelope_digest;
  std::string envelope_id;
  std::string sender;
};
absl::StatusOr<safeguard::v1::ReceiptBody> VerifyReceipt(const safeguard::v1::Receipt& receipt,
                                                        const TrustAnchor& trust,
                                                        const ExpectedReceipt& expected);

}  // namespace safeguard::protocol

#endif  // SAFEGUARD_CLIENTS_PROTOCOL_ENVELOPE_H_
