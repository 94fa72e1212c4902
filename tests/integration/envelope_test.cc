// Signed envelopes end to end: every refusal the broker makes, minimised deliveries verified by
// their recipients, receipts verified by senders, and verification after certificate renewal.

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/integration/test_partnership.h"

namespace safeguard::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using safeguard::v1::Delivery;

std::vector<Delivery> Backlog(client::BrokerClient& c) {
  std::vector<Delivery> out;
  EXPECT_TRUE(c.Subscribe({}, [&](const Delivery& d) {
                 out.push_back(d);
                 return true;
               }).ok());
  return out;
}

safeguard::v1::Notification Normalised() {
  auto n = ExampleNotification();
  n.mutable_subjects(0)->mutable_identifiers(0)->set_value("9434765919");
  return n;
}

class EnvelopeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    partnership_.StartBroker();
    gp_ = partnership_.Client("gp-riverside");
    signer_ = partnership_.SignerFor("gp-riverside");
  }
  // Submits and expects a refusal with `code` whose message contains `text`; nothing delivered.
  void ExpectRefused(const safeguard::v1::SignedEnvelope& envelope, grpc::StatusCode code,
                     const std::string& text) {
    grpc::Status s = RawSubmit(*gp_, envelope);
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(text));
    EXPECT_TRUE(Backlog(*partnership_.Client("fd-swindon")).empty());
  }

  TestPartnership partnership_;
  std::unique_ptr<client::BrokerClient> gp_;
  std::shared_ptr<const protocol::Signer> signer_;
};

TEST_F(EnvelopeTest, TamperedPayloadIsRefused) {
  auto envelope = SealNow(Normalised(), *signer_);
  // Change one character of the signed sender URI: still a well-formed payload, but not the
  // bytes that were signed.
  std::string payload = envelope.payload();
  size_t at = payload.find("gp-riverside");
  ASSERT_NE(at, std::string::npos);
  payload[at] = 'G';
  envelope.set_payload(payload);
  ExpectRefused(envelope, grpc::StatusCode::INVALID_ARGUMENT, "payload was altered");
}

TEST_F(EnvelopeTest, TamperedDisclosureIsRefused) {
  auto envelope = SealNow(Normalised(), *signer_);
  std::string disclosure = envelope.disclosures(1);
  disclosure.back() ^= 0x01;
  envelope.set_disclosures(1, disclosure);
  ExpectRefused(envelope, grpc::StatusCode::INVALID_ARGUMENT, "matches no digest");
}

TEST_F(EnvelopeTest, WithheldDisclosureFromTheSenderIsRefused) {
  auto envelope = SealNow(Normalised(), *signer_);
  envelope.mutable_disclosures()->RemoveLast();
  ExpectRefused(envelope, grpc::StatusCode::INVALID_ARGUMENT, "must send every disclosure");
}

TEST_F(EnvelopeTest, WrongKeyIsRefused) {
  // Signed with the school's key but carrying the GP's certificate.
  auto envelope = SealNow(Normalised(), *partnership_.SignerFor("school-oakfield"));
  auto* sig = envelope.mutable_signatures(0);
  sig->set_certificate(signer_->certificate().der());
  sig->set_keyid(signer_->certificate().keyid());
  ExpectRefused(envelope, grpc::StatusCode::INVALID_ARGUMENT, "payload was altered");
  sig->set_keyid(partnership_.SignerFor("school-oakfield")->certificate().keyid());
  ExpectRefused(envelope, grpc::StatusCode::INVALID_ARGUMENT, "wrong key was used");
}

TEST_F(EnvelopeTest, TruncatedEnvelopeIsRefused) {
  auto envelope = SealNow(Normalised(), *signer_);
  envelope.set_payload(envelope.payload().substr(0, envelope.payload().size() / 3));
  ExpectRefused(envelope, grpc::StatusCode::INVALID_ARGUMENT, "truncated or corrupt");
}

TEST_F(EnvelopeTest, UnknownPayloadTypeIsRefused) {
  auto envelope = SealNow(Normalised(), *signer_);
  envelope.set_payload_type("application/json");
  ExpectRefused(envelope, grpc::StatusCode::INVALID_ARGUMENT, "not a known payload type");
}

TEST_F(EnvelopeTest, EnvelopeSignedByAnotherNodeIsRefused) {
  // The school signed it; the GP tries to pass it off.
  auto envelope = SealNow(Normalised(), *partnership_.SignerFor("school-oakfield"));
  ExpectRefused(envelope, grpc::StatusCode::PERMISSION_DENIED,
                "a node may send only what it signed itself");
}

TEST_F(EnvelopeTest, SigningTimeOutsideTheSkewWindowIsRefused) {
  auto n = Normalised();
  n.set_idempotency_key("old");
  auto envelope = protocol::Seal(n, *signer_, absl::Now() - absl::Minutes(10));
  ASSERT_TRUE(envelope.ok());
  ExpectRefused(*envelope, grpc::StatusCode::INVALID_ARGUMENT, "outside the window of 5m");
  envelope = protocol::Seal(n, *signer_, absl::Now() + absl::Minutes(10));
  ExpectRefused(*envelope, grpc::StatusCode::INVALID_ARGUMENT, "check the sending system's clock");
}

TEST_F(EnvelopeTest, SameEnvelopeIdWithOtherContentIsRefused) {
  auto n = Normalised();
  n.set_idempotency_key("env-1");
  ASSERT_TRUE(RawSubmit(*gp_, SealNow(n, *signer_)).ok());
  // Re-signed, same content: a retry, not a duplicate.
  safeguard::v1::SubmitResponse again;
  ASSERT_TRUE(RawSubmit(*gp_, SealNow(n, *signer_), &again).ok());
  EXPECT_TRUE(again.duplicate());
  n.set_summary("something else");
  grpc::Status s = RawSubmit(*gp_, SealNow(n, *signer_));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Backlog(*partnership_.Client("fd-swindon")).size(), 1u);
}

TEST_F(EnvelopeTest, SenderVerifiesTheBrokersReceipt) {
  auto sent = gp_->Submit(ExampleNotification());  // the SDK verifies the receipt
  ASSERT_TRUE(sent.ok()) << sent.status();
  auto body = protocol::VerifyReceipt(
      sent->receipt(), *partnership_.Trust(),
      {.envelope_id = "", .sender = signer_->uri()});
  EXPECT_FALSE(body.ok());  // wrong envelope id: the check is real
  safeguard::v1::ReceiptBody parsed;
  ASSERT_TRUE(parsed.ParseFromString(sent->receipt().body()));
  EXPECT_EQ(parsed.notification_id(), sent->notification_id());
  EXPECT_EQ(parsed.sequence(), sent->sequence());
  EXPECT_THAT(parsed.broker(), HasSubstr("/broker/"));
  auto forged = sent->receipt();
  std::string b = forged.body();
  b.back() ^= 1;
  forged.set_body(b);
  EXPECT_THAT(protocol::VerifyReceipt(forged, *partnership_.Trust(),
                                      {.envelope_id = parsed.envelope_id(),
                                       .sender = signer_->uri()})
                  .status()
                  .message(),
              HasSubstr("does not verify"));
}

TEST_F(EnvelopeTest, MinimisedDeliveryVerifiesAtTheRecipient) {
  auto police = partnership_.Client("police-wiltshire");
  auto n = ExampleNotification(safeguard::v1::NOTIFICATION_TYPE_POLICE_DOMESTIC_ABUSE_INCIDENT);
  (*n.mutable_police_details()->mutable_fields())["incident"].set_string_value("WPC-2026-1142");
  (*n.mutable_health_details()->mutable_fields())["injury"].set_string_value("bruising");
  n.mutable_address()->add_lines("1 Example Street");
  n.add_recipients("school-oakfield");
  n.add_recipients("fd-swindon");
  ASSERT_TRUE(police->Submit(n).ok());

  // Operation Encompass: the school gets the child's identity and the summary, nothing more.
  auto school = partnership_.Client("school-oakfield");
  auto school_inbox = Backlog(*school);
  ASSERT_EQ(school_inbox.size(), 1u);
  const Delivery& d = school_inbox[0];
  EXPECT_FALSE(d.notification().has_police_details());
  EXPECT_FALSE(d.notification().has_health_details());
  EXPECT_FALSE(d.notification().has_address());
  EXPECT_FALSE(d.notification().summary().empty());
  auto verified = school->Verify(d);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_THAT(verified->withheld,
              UnorderedElementsAre(safeguard::v1::DISCLOSABLE_FIELD_POLICE_DETAILS,
                                   safeguard::v1::DISCLOSABLE_FIELD_HEALTH_DETAILS,
                                   safeguard::v1::DISCLOSABLE_FIELD_ADDRESS));
  EXPECT_THAT(d.withheld(), ::testing::SizeIs(3));
  EXPECT_EQ(verified->signer_uri, partnership_.SignerFor("police-wiltshire")->uri());

  // The front door sees everything, and it verifies too.
  auto fd = partnership_.Client("fd-swindon");
  auto fd_inbox = Backlog(*fd);
  ASSERT_EQ(fd_inbox.size(), 1u);
  EXPECT_EQ(fd_inbox[0].notification().police_details().fields().at("incident").string_value(),
            "WPC-2026-1142");
  ASSERT_TRUE(fd->Verify(fd_inbox[0]).ok());
  EXPECT_TRUE(fd->Verify(fd_inbox[0])->withheld.empty());

  // A broker that altered the assembled view would be caught.
  Delivery altered = d;
  altered.mutable_notification()->set_summary("something the police never said");
  EXPECT_THAT(std::string(school->Verify(altered).status().message()),
              HasSubstr("differs from what the sender signed"));
}

TEST_F(EnvelopeTest, EarlierNotificationsStillVerifyAfterTheSendersCertificateIsRenewed) {
  ASSERT_TRUE(gp_->Submit(ExampleNotification()).ok());
  std::string old_keyid = signer_->certificate().keyid();
  // Renew: a new key and certificate in the same place (the old one is not revoked).
  partnership_.MintUnregistered("gp", "gp-riverside");
  auto renewed = partnership_.Client("gp-riverside");
  ASSERT_NE(partnership_.SignerFor("gp-riverside")->certificate().keyid(), old_keyid);
  ASSERT_TRUE(renewed->Submit(ExampleNotification()).ok()) << "renewal needs no broker restart";

  auto fd = partnership_.Client("fd-swindon");
  auto inbox = Backlog(*fd);
  ASSERT_EQ(inbox.size(), 2u);
  for (const auto& d : inbox) {
    auto v = fd->Verify(d);
    EXPECT_TRUE(v.ok()) << v.status();
  }
  EXPECT_EQ(inbox[0].envelope().signatures(0).keyid(), old_keyid);
}

TEST(EnvelopeRevocationTest, EnvelopeSignedWithARevokedCertificateIsRefused) {
  TestPartnership partnership;
  // The GP's old certificate signs; then it is renewed and the old one revoked. The GP
  // connects with its new certificate, so only the envelope check can catch the old one.
  auto old_signer = partnership.SignerFor("gp-riverside");
  RunOrDie(absl::StrCat("cp ", partnership.identity_dir("gp-riverside"), "/node.crt ",
                        partnership.dir(), "/old-gp.crt"));
  partnership.MintUnregistered("gp", "gp-riverside");
  RunOrDie(absl::StrCat(SAFEGUARD_CERTS_TOOL, " revoke --ca-dir ", partnership.dir(),
                        "/ca --cert ", partnership.dir(), "/old-gp.crt"));
  RunOrDie(absl::StrCat(SAFEGUARD_CERTS_TOOL, " crl --ca-dir ", partnership.dir(), "/ca --out ",
                        partnership.dir(), "/crl"));
  RunOrDie("sed -i 's|ca_certificate: \"ca/ca.crt\"|ca_certificate: \"ca/ca.crt\" "
           "crl_directory: \"crl\"|' " + partnership.dir() + "/broker.conf");
  partnership.StartBroker();
  auto gp = partnership.Client("gp-riverside");
  grpc::Status s = RawSubmit(*gp, SealNow(Normalised(), *old_signer));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("certificate revoked"));
  EXPECT_TRUE(gp->Submit(ExampleNotification()).ok());
}

}  // namespace
}  // namespace safeguard::testing
