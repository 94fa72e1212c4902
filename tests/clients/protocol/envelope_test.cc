// The envelope protocol against its published test vectors (made by an independent Python
// implementation, tests/testdata/protocol/make_vectors.py) and its refusals.

#include "clients/protocol/envelope.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"

namespace safeguard::protocol {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using safeguard::v1::DisclosableField;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::map<std::string, std::string> Vectors() {
  std::map<std::string, std::string> out;
  for (absl::string_view line :
       absl::StrSplit(ReadFile(SAFEGUARD_PROTOCOL_VECTORS "/vectors.txt"), '\n')) {
    std::vector<std::string> kv = absl::StrSplit(line, absl::MaxSplits(' ', 1));
    if (kv.size() == 2) out[kv[0]] = kv[1];
  }
  return out;
}

safeguard::v1::SignedEnvelope VectorEnvelope() {
  std::string bytes;
  EXPECT_TRUE(absl::Base64Unescape(
      absl::StripAsciiWhitespace(ReadFile(SAFEGUARD_PROTOCOL_VECTORS "/envelope.b64")), &bytes));
  safeguard::v1::SignedEnvelope envelope;
  EXPECT_TRUE(envelope.ParseFromString(bytes));
  return envelope;
}

std::shared_ptr<const TrustAnchor> VectorTrust() {
  auto trust = TrustAnchor::FromPem(ReadFile(SAFEGUARD_PROTOCOL_VECTORS "/ca.crt"));
  EXPECT_TRUE(trust.ok()) << trust.status();
  return *trust;
}

TEST(EnvelopeVectorsTest, PreAuthEncodingMatches) {
  auto v = Vectors();
  EXPECT_EQ(absl::BytesToHexString(PreAuthEncoding(v["pae.type"], "hello")), v["pae.hex"]);
}

TEST(EnvelopeVectorsTest, DisclosureBytesAndDigestsMatch) {
  auto v = Vectors();
  safeguard::v1::Disclosure identity;
  std::string salt;
  for (int i = 0; i < 16; ++i) salt.push_back(static_cast<char>(i));
  identity.set_salt(salt);
  identity.set_field(safeguard::v1::DISCLOSABLE_FIELD_CHILD_IDENTITY);
  auto* id = identity.mutable_value()->add_subjects()->add_identifiers();
  id->set_scheme(safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER);
  id->set_value("9434765919");
  std::string bytes = identity.SerializeAsString();
  EXPECT_EQ(absl::BytesToHexString(bytes), v["disclosure.0.hex"]);
  EXPECT_EQ(HexSha256(bytes), v["disclosure.0.sha256"]);

  safeguard::v1::Disclosure summary;
  for (char& c : salt) c = static_cast<char>(c + 16);
  summary.set_salt(salt);
  summary.set_field(safeguard::v1::DISCLOSABLE_FIELD_SUMMARY);
  summary.mutable_value()->set_summary("Not brought to third appointment");
  EXPECT_EQ(HexSha256(summary.SerializeAsString()), v["disclosure.1.sha256"]);
}

TEST(EnvelopeVectorsTest, VectorEnvelopeOpens) {
  auto v = Vectors();
  auto opened = Open(VectorEnvelope(), *VectorTrust());
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->signer_uri, v["signer"]);
  EXPECT_EQ(absl::BytesToHexString(opened->envelope_digest), v["payload.sha256"]);
  EXPECT_EQ(opened->signer_certificate.keyid(), v["keyid"]);
  EXPECT_TRUE(opened->withheld.empty());
  EXPECT_EQ(opened->notification.subjects(0).area(), "swindon");
  EXPECT_EQ(opened->notification.subjects(0).identifiers(0).value(), "9434765919");
  EXPECT_EQ(opened->notification.summary(), "Not brought to third appointment");
  EXPECT_EQ(opened->notification.idempotency_key(), "vector-0001");
}

TEST(EnvelopeVectorsTest, AnyFlippedPayloadByteIsRefused) {
  auto envelope = VectorEnvelope();
  for (size_t i = 0; i < envelope.payload().size(); ++i) {
    auto tampered = envelope;
    std::string payload = tampered.payload();
    payload[i] ^= 0x20;
    tampered.set_payload(payload);
    EXPECT_FALSE(Open(tampered, *VectorTrust()).ok()) << "byte " << i;
  }
}

TEST(EnvelopeVectorsTest, EachRefusalSaysWhatIsWrong) {
  auto trust = VectorTrust();
  auto message = [&](const safeguard::v1::SignedEnvelope& e, OpenOptions o = {}) {
    return std::string(Open(e, *trust, o).status().message());
  };
  auto e = VectorEnvelope();
  e.set_payload_type("text/plain");
  EXPECT_THAT(message(e), HasSubstr("not a known payload type"));
  e = VectorEnvelope();
  e.set_payload("\xff\xff\xff");
  EXPECT_THAT(message(e), HasSubstr("truncated or corrupt"));
  e = VectorEnvelope();
  e.clear_signatures();
  EXPECT_THAT(message(e), HasSubstr("exactly one is expected"));
  e = VectorEnvelope();
  e.mutable_signatures(0)->set_certificate("not a certificate");
  EXPECT_THAT(message(e), HasSubstr("not a DER X.509 certificate"));
  e = VectorEnvelope();
  e.mutable_signatures(0)->set_keyid(std::string(64, '0'));
  EXPECT_THAT(message(e), HasSubstr("wrong key was used"));
  e = VectorEnvelope();
  std::string d = e.disclosures(0);
  d[d.size() - 1] ^= 1;
  e.set_disclosures(0, d);
  EXPECT_THAT(message(e), HasSubstr("matches no digest"));
  e = VectorEnvelope();
  e.add_disclosures(e.disclosures(0));
  EXPECT_THAT(message(e), HasSubstr("repeats field child-identity"));
  // The certificate checked at a time it was not valid: expired.
  EXPECT_THAT(message(VectorEnvelope(),
                      {.certificate_time = absl::FromCivil(absl::CivilDay(2300, 1, 1),
                                                           absl::UTCTimeZone())}),
              HasSubstr("certificate has expired"));
}

TEST(EnvelopeVectorsTest, MinimisedEnvelopeStillVerifiesAndShowsWhatIsWithheld) {
  auto minimised = Minimise(VectorEnvelope(), {safeguard::v1::DISCLOSABLE_FIELD_SUMMARY});
  EXPECT_EQ(minimised.disclosures_size(), 1);
  auto opened = Open(minimised, *VectorTrust());
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_THAT(opened->withheld, ElementsAre(safeguard::v1::DISCLOSABLE_FIELD_CHILD_IDENTITY));
  EXPECT_TRUE(opened->notification.subjects(0).identifiers().empty());
  EXPECT_EQ(opened->notification.subjects(0).area(), "swindon");  // the core stays
  EXPECT_EQ(opened->notification.summary(), "Not brought to third appointment");
  EXPECT_THAT(std::string(Open(minimised, *VectorTrust(), {.require_all_disclosures = true})
                              .status()
                              .message()),
              HasSubstr("child-identity is missing"));
}

// With a signer minted now by the project's own tooling.
class SignedByTestNodeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/envelope-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::string certs = SAFEGUARD_CERTS_TOOL;
    std::string cmd = absl::StrCat(
        certs, " init-ca --dir ", dir_, "/ca --partnership unit.example >/dev/null && ", certs,
        " issue-node --ca-dir ", dir_, "/ca --out ", dir_,
        "/gp --partnership unit.example --type gp --id gp-unit >/dev/null && ", certs,
        " issue-broker --ca-dir ", dir_, "/ca --out ", dir_,
        "/broker --partnership unit.example >/dev/null");
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  static std::shared_ptr<const Signer> Load(const std::string& who) {
    auto s = Signer::FromPem(ReadFile(dir_ + "/" + who + "/node.crt"),
                             ReadFile(dir_ + "/" + who + "/node.key"));
    EXPECT_TRUE(s.ok()) << s.status();
    return *s;
  }
  static std::shared_ptr<const TrustAnchor> Trust() {
    return *TrustAnchor::FromPem(ReadFile(dir_ + "/ca/ca.crt"));
  }
  static std::string dir_;
};
std::string SignedByTestNodeTest::dir_;

TEST_F(SignedByTestNodeTest, EveryFieldRoundTrips) {
  safeguard::v1::Notification n;
  n.set_idempotency_key("k");
  n.set_type(safeguard::v1::NOTIFICATION_TYPE_NO_ACCESS_VISIT);
  auto* s = n.add_subjects();
  s->set_area("swindon");
  s->set_display_name("Child L");
  auto* id = s->add_identifiers();
  id->set_scheme(safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER);
  id->set_value("9434765919");
  n.add_subjects()->set_area("oxford");
  n.mutable_subjects(1)->add_identifiers()->set_value("x");
  n.set_summary("s");
  (*n.mutable_details()->mutable_fields())["a"].set_number_value(1);
  n.mutable_address()->set_postcode("SN1 1AA");
  (*n.mutable_health_details()->mutable_fields())["h"].set_bool_value(true);
  (*n.mutable_police_details()->mutable_fields())["p"].set_string_value("x");
  auto envelope = Seal(n, *Load("gp"), absl::Now());
  ASSERT_TRUE(envelope.ok()) << envelope.status();
  EXPECT_EQ(envelope->disclosures_size(), 6);
  auto opened = Open(*envelope, *Trust(), {.require_all_disclosures = true});
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->notification.SerializeAsString(), n.SerializeAsString());
  // The signed core reveals no disclosable field.
  EXPECT_FALSE(opened->payload.core().has_police_details());
  EXPECT_TRUE(opened->payload.core().summary().empty());
  EXPECT_TRUE(opened->payload.core().subjects(0).identifiers().empty());
}

TEST_F(SignedByTestNodeTest, DisclosureCarryingAnotherCategoryIsRefused) {
  auto signer = Load("gp");
  safeguard::v1::Disclosure sneaky;
  sneaky.set_salt(std::string(16, 'x'));
  sneaky.set_field(safeguard::v1::DISCLOSABLE_FIELD_SUMMARY);
  sneaky.mutable_value()->set_summary("s");
  (*sneaky.mutable_value()->mutable_police_details()->mutable_fields())["p"].set_string_value("x");
  safeguard::v1::SignedPayload payload;
  payload.set_envelope_id("k");
  payload.set_sender(signer->uri());
  *payload.mutable_signed_at() = google::protobuf::util::TimeUtil::GetCurrentTime();
  payload.mutable_core()->add_subjects();
  auto* digest = payload.add_disclosures();
  digest->set_field(safeguard::v1::DISCLOSABLE_FIELD_SUMMARY);
  digest->set_sha256(Sha256(sneaky.SerializeAsString()));
  safeguard::v1::SignedEnvelope e;
  e.set_payload_type(kNotificationPayloadType);
  e.set_payload(payload.SerializeAsString());
  e.add_disclosures(sneaky.SerializeAsString());
  auto* sig = e.add_signatures();
  sig->set_keyid(signer->certificate().keyid());
  sig->set_certificate(signer->certificate().der());
  sig->set_sig(*signer->Sign(PreAuthEncoding(kNotificationPayloadType, e.payload())));
  EXPECT_THAT(std::string(Open(e, *Trust()).status().message()),
              HasSubstr("carries fields outside its own category"));
}

TEST_F(SignedByTestNodeTest, ReceiptsVerifyOnlyForTheirEnvelopeAndFromABroker) {
  auto broker = Load("broker");
  safeguard::v1::ReceiptBody body;
  body.set_envelope_digest(Sha256("payload"));
  body.set_envelope_id("k");
  body.set_notification_id("n1");
  body.set_sequence(7);
  *body.mutable_accepted_at() = google::protobuf::util::TimeUtil::GetCurrentTime();
  body.set_sender("spiffe://unit.example/gp/gp-unit");
  body.set_broker(broker->uri());
  auto receipt = SignReceipt(body, *broker);
  ASSERT_TRUE(receipt.ok());
  ExpectedReceipt expected{.envelope_digest = Sha256("payload"), .envelope_id = "k",
                           .sender = body.sender()};
  auto verified = VerifyReceipt(*receipt, *Trust(), expected);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->sequence(), 7u);

  expected.envelope_digest = Sha256("other payload");
  EXPECT_THAT(std::string(VerifyReceipt(*receipt, *Trust(), expected).status().message()),
              HasSubstr("different envelope"));
  // Signed by a node, not a broker.
  body.set_broker(Load("gp")->uri());
  auto by_node = SignReceipt(body, *Load("gp"));
  expected.envelope_digest = Sha256("payload");
  EXPECT_THAT(std::string(VerifyReceipt(*by_node, *Trust(), expected).status().message()),
              HasSubstr("not signed by a broker"));
}

TEST_F(SignedByTestNodeTest, ReceiptsSignedTogetherEachVerifyAndCannotBeMixedUp) {
  auto broker = Load("broker");
  auto body_for = [&](int i) {
    safeguard::v1::ReceiptBody body;
    body.set_envelope_digest(Sha256(absl::StrCat("payload ", i)));
    body.set_envelope_id(absl::StrCat("k", i));
    body.set_notification_id(absl::StrCat("n", i));
    body.set_sequence(100 + i);
    *body.mutable_accepted_at() = google::protobuf::util::TimeUtil::GetCurrentTime();
    body.set_sender("spiffe://unit.example/gp/gp-unit");
    body.set_broker(broker->uri());
    return body;
  };
  auto expected_for = [](const safeguard::v1::ReceiptBody& body) {
    return ExpectedReceipt{.envelope_digest = body.envelope_digest(),
                           .envelope_id = body.envelope_id(),
                           .sender = body.sender()};
  };
  for (int size : {1, 2, 3, 5, 8, 13}) {
    std::vector<safeguard::v1::ReceiptBody> bodies;
    for (int i = 0; i < size; ++i) bodies.push_back(body_for(i));
    auto receipts = SignReceipts(bodies, *broker);
    ASSERT_TRUE(receipts.ok()) << receipts.status();
    ASSERT_EQ(receipts->size(), bodies.size());
    for (int i = 0; i < size; ++i) {
      const auto& receipt = (*receipts)[i];
      // One signature for the whole batch; a batch of one is an ordinary receipt.
      EXPECT_EQ(receipt.signature(), (*receipts)[0].signature());
      EXPECT_EQ(receipt.has_batch(), size > 1);
      auto verified = VerifyReceipt(receipt, *Trust(), expected_for(bodies[i]));
      ASSERT_TRUE(verified.ok()) << "receipt " << i << " of " << size << ": " << verified.status();
      EXPECT_EQ(verified->sequence(), 100u + i);
      if (size > 1) {
        // Another receipt's body under this one's proof does not verify.
        auto swapped = receipt;
        swapped.set_body((*receipts)[(i + 1) % size].body());
        EXPECT_FALSE(VerifyReceipt(swapped, *Trust(), expected_for(bodies[(i + 1) % size])).ok());
      }
    }
  }

  std::vector<safeguard::v1::ReceiptBody> bodies = {body_for(0), body_for(1), body_for(2)};
  auto receipts = SignReceipts(bodies, *broker);
  ASSERT_TRUE(receipts.ok());
  const auto& good = (*receipts)[1];
  auto expected = expected_for(bodies[1]);
  auto message = [&](const safeguard::v1::Receipt& r) {
    return std::string(VerifyReceipt(r, *Trust(), expected).status().message());
  };
  auto tampered = good;
  tampered.mutable_batch()->mutable_proof(0)->back() ^= 1;
  EXPECT_THAT(message(tampered), HasSubstr("signature does not verify"));
  tampered = good;
  tampered.mutable_batch()->set_index(0);
  EXPECT_THAT(message(tampered), HasSubstr("signature does not verify"));
  tampered = good;
  tampered.mutable_batch()->set_size(4);  // same proof length, another claimed tree
  EXPECT_FALSE(VerifyReceipt(tampered, *Trust(), expected).ok());
  tampered = good;
  tampered.mutable_batch()->set_index(3);
  EXPECT_THAT(message(tampered), HasSubstr("receipt 3 of a batch of 3 is impossible"));
  tampered = good;
  tampered.mutable_batch()->add_proof(std::string(32, 'x'));
  EXPECT_THAT(message(tampered), HasSubstr("receipt.batch:"));
  tampered = good;
  tampered.mutable_batch()->mutable_proof(0)->pop_back();
  EXPECT_THAT(message(tampered), HasSubstr("malformed proof"));
  tampered = good;
  tampered.clear_batch();  // a batch signature is not a signature over the body
  EXPECT_THAT(message(tampered), HasSubstr("signature does not verify"));

  EXPECT_THAT(std::string(SignReceipts({}, *broker).status().message()),
              HasSubstr("1 to 4096 receipts, not 0"));
}

}  // namespace
}  // namespace safeguard::protocol
