// End-to-end tests of the real safeguard-broker binary over mutual TLS on loopback.

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/integration/test_partnership.h"

namespace safeguard::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using safeguard::v1::Delivery;

std::vector<Delivery> Backlog(client::BrokerClient& c, bool include_acknowledged = false) {
  safeguard::v1::SubscribeRequest request;
  request.set_include_acknowledged(include_acknowledged);
  std::vector<Delivery> out;
  absl::Status s = c.Subscribe(request, [&](const Delivery& d) {
    out.push_back(d);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override { partnership_.StartBroker(); }
  TestPartnership partnership_;
};

TEST_F(BrokerTest, ConcernReachesFrontDoorAndSenderSeesAcknowledgement) {
  auto gp = partnership_.Client("gp-riverside");
  auto fd = partnership_.Client("fd-swindon");

  auto sent = gp->Submit(ExampleNotification());
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(sent->notification_id().size(), 32u);
  EXPECT_FALSE(sent->duplicate());
  ASSERT_EQ(sent->recipients_size(), 1);
  EXPECT_EQ(sent->recipients(0).node_id(), "fd-swindon");
  EXPECT_EQ(sent->recipients(0).reason(),
            "front door for area swindon (child not known to the registry)");
  EXPECT_EQ(sent->recipients(0).role(), "front-door");
  EXPECT_EQ(sent->recipients(0).child_match(), "unmatched");

  std::vector<Delivery> inbox = Backlog(*fd);
  ASSERT_EQ(inbox.size(), 1u);
  EXPECT_EQ(inbox[0].notification_id(), sent->notification_id());
  EXPECT_EQ(inbox[0].sender_node_id(), "gp-riverside");
  EXPECT_EQ(inbox[0].sender_node_type(), "gp");
  // The broker normalised the NHS number.
  EXPECT_EQ(inbox[0].notification().subjects(0).identifiers(0).value(), "9434765919");

  auto ack = fd->Acknowledge(inbox[0].cursor(), "Jo Smith, MASH");
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_FALSE(ack->already_acknowledged());
  auto again = fd->Acknowledge(inbox[0].cursor(), "someone else");
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->already_acknowledged());
  EXPECT_EQ(again->acknowledged_by(), "Jo Smith, MASH");

  auto status = gp->GetStatus(sent->notification_id());
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_EQ(status->recipients_size(), 1);
  EXPECT_EQ(status->recipients(0).state(), safeguard::v1::DELIVERY_STATE_ACKNOWLEDGED);
  EXPECT_EQ(status->recipients(0).acknowledged_by(), "Jo Smith, MASH");

  // Acknowledged deliveries leave the default view of the inbox but stay on record.
  EXPECT_TRUE(Backlog(*fd).empty());
  EXPECT_EQ(Backlog(*fd, /*include_acknowledged=*/true).size(), 1u);
}

TEST_F(BrokerTest, AcknowledgeManyAnswersEachCursorAndRefusesOnlyWhatIsNotTheCallers) {
  auto gp = partnership_.Client("gp-riverside");
  auto fd = partnership_.Client("fd-swindon");
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto n = ExampleNotification();
    n.set_idempotency_key(absl::StrCat("many-", i));
    auto sent = gp->Submit(n);
    ASSERT_TRUE(sent.ok()) << sent.status();
    ids.push_back(sent->notification_id());
  }
  auto elsewhere = ExampleNotification();
  elsewhere.set_idempotency_key("many-oxford");
  elsewhere.mutable_subjects(0)->set_area("oxford");
  ASSERT_TRUE(gp->Submit(elsewhere).ok());
  auto oxford_inbox = Backlog(*partnership_.Client("fd-oxford"));
  ASSERT_EQ(oxford_inbox.size(), 1u);

  std::vector<Delivery> inbox = Backlog(*fd);
  ASSERT_EQ(inbox.size(), 3u);
  ASSERT_TRUE(fd->Acknowledge(inbox[2].cursor(), "Jo Smith, MASH").ok());

  auto acks = fd->AcknowledgeMany(
      {inbox[0].cursor(), oxford_inbox[0].cursor(), inbox[1].cursor(), inbox[2].cursor()},
      "Intake team");
  ASSERT_TRUE(acks.ok()) << acks.status();
  ASSERT_EQ(acks->results_size(), 4);
  EXPECT_EQ(acks->results(0).cursor(), inbox[0].cursor());
  ASSERT_TRUE(acks->results(0).has_acknowledged());
  EXPECT_EQ(acks->results(0).acknowledged().notification_id(), ids[0]);
  EXPECT_FALSE(acks->results(0).acknowledged().already_acknowledged());
  // Another mailbox's cursor is refused, and only it.
  EXPECT_EQ(acks->results(1).cursor(), oxford_inbox[0].cursor());
  EXPECT_FALSE(acks->results(1).has_acknowledged());
  EXPECT_THAT(acks->results(1).refused(), HasSubstr("no delivery with cursor"));
  ASSERT_TRUE(acks->results(2).has_acknowledged());
  EXPECT_EQ(acks->results(2).acknowledged().acknowledged_by(), "Intake team");
  // Already acknowledged: the first acknowledgement is kept.
  ASSERT_TRUE(acks->results(3).has_acknowledged());
  EXPECT_TRUE(acks->results(3).acknowledged().already_acknowledged());
  EXPECT_EQ(acks->results(3).acknowledged().acknowledged_by(), "Jo Smith, MASH");

  for (const std::string& id : ids) {
    auto status = gp->GetStatus(id);
    ASSERT_TRUE(status.ok()) << status.status();
    EXPECT_EQ(status->recipients(0).state(), safeguard::v1::DELIVERY_STATE_ACKNOWLEDGED);
  }
  EXPECT_TRUE(Backlog(*fd).empty());
  EXPECT_EQ(Backlog(*partnership_.Client("fd-oxford")).size(), 1u);  // untouched

  // Requests a user can fix are refused whole, saying what to change.
  EXPECT_EQ(fd->AcknowledgeMany({}, "x").status().code(), absl::StatusCode::kInvalidArgument);
  auto twice = fd->AcknowledgeMany({inbox[0].cursor(), inbox[0].cursor()}, "x");
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(twice.status().message()), HasSubstr("given twice"));
  std::vector<uint64_t> too_many(1001);
  for (size_t i = 0; i < too_many.size(); ++i) too_many[i] = i + 1;
  auto many = fd->AcknowledgeMany(too_many, "x");
  EXPECT_EQ(many.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(many.status().message()), HasSubstr("1 to 1000"));
  EXPECT_EQ(fd->AcknowledgeMany({inbox[0].cursor()}, "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(BrokerTest, ChildInAnotherAreaGoesToThatAreasFrontDoor) {
  auto gp = partnership_.Client("gp-riverside");
  auto n = ExampleNotification();
  n.mutable_subjects(0)->set_area("oxford");
  auto sent = gp->Submit(n);
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_EQ(sent->recipients_size(), 1);
  EXPECT_EQ(sent->recipients(0).node_id(), "fd-oxford");
  EXPECT_EQ(Backlog(*partnership_.Client("fd-oxford")).size(), 1u);
  EXPECT_TRUE(Backlog(*partnership_.Client("fd-swindon")).empty());
}

TEST_F(BrokerTest, NamedRecipientsEachGetWhatThePolicyAllows) {
  auto police = partnership_.Client("police-wiltshire");
  auto n = ExampleNotification(safeguard::v1::NOTIFICATION_TYPE_POLICE_DOMESTIC_ABUSE_INCIDENT);
  n.mutable_sharing()->set_child_status(safeguard::v1::CHILD_STATUS_CHILD_PROTECTION);
  n.add_recipients("school-oakfield");
  n.add_recipients("csc-team-north");
  auto sent = police->Submit(n);
  ASSERT_TRUE(sent.ok()) << sent.status();
  // Naming nodes adds them: the child's front door (no plan known) still receives it.
  std::map<std::string, safeguard::v1::Recipient> by_node;
  for (const auto& r : sent->recipients()) {
    by_node[r.node_id()] = r;
    EXPECT_TRUE(r.shared()) << r.node_id() << ": " << r.decision_reason();
    EXPECT_FALSE(r.rule_id().empty());
    EXPECT_EQ(r.policy_digest().size(), 64u);
  }
  ASSERT_EQ(by_node.size(), 3u);
  EXPECT_EQ(by_node["school-oakfield"].rule_id(), "operation-encompass");
  EXPECT_EQ(by_node["school-oakfield"].reason(), "named by sender");
  EXPECT_EQ(by_node["fd-swindon"].role(), "front-door");
  EXPECT_EQ(Backlog(*partnership_.Client("school-oakfield")).size(), 1u);
  EXPECT_EQ(Backlog(*partnership_.Client("csc-team-north")).size(), 1u);
  EXPECT_EQ(Backlog(*partnership_.Client("fd-swindon")).size(), 1u);
}

TEST_F(BrokerTest, WithheldShareTellsTheSenderWhyAndDeliversNothing) {
  auto gp = partnership_.Client("gp-riverside");
  auto n = ExampleNotification();
  n.mutable_sharing()->set_risk_of_harm(false);  // no risk, no plan: nothing is necessary
  auto sent = gp->Submit(n);
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_EQ(sent->recipients_size(), 1);
  const auto& r = sent->recipients(0);
  EXPECT_EQ(r.node_id(), "fd-swindon");
  EXPECT_FALSE(r.shared());
  EXPECT_EQ(r.rule_id(), "default-withhold");
  EXPECT_THAT(r.decision_reason(), HasSubstr("indicate it"));
  EXPECT_TRUE(r.disclosed().empty());
  EXPECT_TRUE(Backlog(*partnership_.Client("fd-swindon")).empty());
  // The decision not to share is on record: the notification is known, with no delivery.
  auto status = gp->GetStatus(sent->notification_id());
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->recipients_size(), 0);
}

TEST_F(BrokerTest, RefusedConsentWithRiskStillReachesTheFrontDoorUnderParagraph18) {
  auto housing = partnership_.Client("housing-swindon");
  auto n = ExampleNotification(safeguard::v1::NOTIFICATION_TYPE_HOUSING_CONCERN);
  n.mutable_sharing()->set_consent(safeguard::v1::CONSENT_STATE_REFUSED);
  n.mutable_sharing()->set_risk_of_harm(true);
  auto sent = housing->Submit(n);
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_EQ(sent->recipients_size(), 1);
  EXPECT_TRUE(sent->recipients(0).shared());
  EXPECT_THAT(sent->recipients(0).lawful_basis(), HasSubstr("SG-RISK"));
  EXPECT_THAT(sent->recipients(0).lawful_basis(), HasSubstr("para 18(c)"));
  auto inbox = Backlog(*partnership_.Client("fd-swindon"));
  ASSERT_EQ(inbox.size(), 1u);
  EXPECT_EQ(inbox[0].notification().sharing().consent(), safeguard::v1::CONSENT_STATE_REFUSED);
}

TEST_F(BrokerTest, RetryWithSameKeyReturnsOriginalAndDeliversOnce) {
  auto housing = partnership_.Client("housing-swindon");
  auto n = ExampleNotification(safeguard::v1::NOTIFICATION_TYPE_NO_ACCESS_VISIT);
  n.set_idempotency_key("housing-visit-2026-11-23-0001");
  auto first = housing->Submit(n);
  auto second = housing->Submit(n);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->notification_id(), second->notification_id());
  EXPECT_EQ(first->sequence(), second->sequence());
  EXPECT_TRUE(second->duplicate());
  EXPECT_EQ(Backlog(*partnership_.Client("fd-swindon")).size(), 1u);

  // A sender's system that re-stamps reported_at on retry is still retrying.
  *n.mutable_reported_at() = google::protobuf::util::TimeUtil::GetCurrentTime();
  auto restamped = housing->Submit(n);
  ASSERT_TRUE(restamped.ok());
  EXPECT_EQ(restamped->notification_id(), first->notification_id());

  n.set_summary("different content under the same key");
  auto conflict = housing->Submit(n);
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(conflict.status().message(), HasSubstr("different content"));
}

// Admission control: offered more than limits.max_submits_in_flight at once, the broker refuses
// the excess with UNAVAILABLE before doing any work, stores none of it, and accepts each of them
// when it is retried with the same key; nothing is lost or delivered twice.
TEST(AdmissionControlTest, SubmitsBeyondCapacityAreRefusedUnavailableAndAcceptedOnRetry) {
  TestPartnership partnership(DefaultNodes(), "limits { max_submits_in_flight: 1 }");
  partnership.StartBroker();
  constexpr int kSenders = 16;
  constexpr int kEach = 4;
  auto key = [](int s, int i) { return absl::StrCat("capacity-", s, "-", i); };
  // Made once: a retry is the same notification (ExampleNotification stamps the time).
  std::vector<std::vector<safeguard::v1::Notification>> notifications(kSenders);
  for (int s = 0; s < kSenders; ++s) {
    for (int i = 0; i < kEach; ++i) {
      notifications[s].push_back(ExampleNotification());
      notifications[s].back().set_idempotency_key(key(s, i));
    }
  }
  std::vector<std::vector<absl::Status>> first(kSenders);
  std::vector<std::thread> threads;
  std::atomic<bool> go{false};
  for (int s = 0; s < kSenders; ++s) {
    threads.emplace_back([&, s] {
      auto gp = partnership.Client("gp-riverside");  // its own connection, no retries
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kEach; ++i) first[s].push_back(gp->Submit(notifications[s][i]).status());
    });
  }
  go.store(true);
  for (auto& t : threads) t.join();

  int accepted = 0;
  int refused = 0;
  for (const auto& statuses : first) {
    for (const absl::Status& status : statuses) {
      if (status.ok()) {
        ++accepted;
      } else {
        ++refused;
        EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
        EXPECT_THAT(status.message(), HasSubstr("at capacity"));
        EXPECT_THAT(status.message(), HasSubstr("retry the same envelope"));
      }
    }
  }
  EXPECT_GT(accepted, 0);
  EXPECT_GT(refused, 0) << "16 connections submitting at once never exceeded a capacity of 1";

  auto fd = partnership.Client("fd-swindon");
  auto from_gp = [&] {
    std::set<std::string> keys;
    for (const Delivery& d : Backlog(*fd)) {
      if (d.sender_node_id() == "gp-riverside") keys.insert(d.notification().idempotency_key());
    }
    return keys;
  };
  EXPECT_EQ(from_gp().size(), static_cast<size_t>(accepted)) << "a refused Submit was stored";

  // Everything again, with the SDK's retries: each is accepted once, the earlier ones as retries.
  auto patient = partnership.Client("gp-riverside", /*max_attempts=*/10);
  for (int s = 0; s < kSenders; ++s) {
    for (int i = 0; i < kEach; ++i) {
      auto sent = patient->Submit(notifications[s][i]);
      ASSERT_TRUE(sent.ok()) << sent.status();
      EXPECT_EQ(sent->duplicate(), first[s][i].ok()) << key(s, i);
    }
  }
  EXPECT_EQ(from_gp().size(), static_cast<size_t>(kSenders * kEach));
  EXPECT_THAT(partnership.broker_log(), HasSubstr("at capacity: refused"));
}

TEST_F(BrokerTest, MalformedNotificationIsRefusedNamingTheField) {
  auto gp = partnership_.Client("gp-riverside");
  auto signer = partnership_.SignerFor("gp-riverside");
  // Sealed but not checked by the SDK: this is what the broker says to any client.
  auto submit = [&](const safeguard::v1::Notification& n) {
    return RawSubmit(*gp, SealNow(n, *signer));
  };
  auto bad_nhs = ExampleNotification();
  bad_nhs.mutable_subjects(0)->mutable_identifiers(0)->set_value("943 476 5918");
  grpc::Status s = submit(bad_nhs);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("subjects[0].identifiers[0].value"));
  EXPECT_THAT(s.error_message(), HasSubstr("check digit should be 9"));

  auto no_type = ExampleNotification(safeguard::v1::NOTIFICATION_TYPE_UNSPECIFIED);
  s = submit(no_type);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("notification.type"));

  // The broker cannot normalise signed content, so it asks for it in normal form.
  s = submit(ExampleNotification());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("must be signed in normal form"));

  auto unknown_recipient = ExampleNotification();
  unknown_recipient.mutable_subjects(0)->mutable_identifiers(0)->set_value("9434765919");
  unknown_recipient.add_recipients("nobody-here");
  s = submit(unknown_recipient);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("'nobody-here' is not a node of this partnership"));

  // Nothing refused was delivered.
  EXPECT_TRUE(Backlog(*partnership_.Client("fd-swindon")).empty());
}

TEST_F(BrokerTest, OversizedMessageIsResourceExhausted) {
  auto gp = partnership_.Client("gp-riverside");
  auto n = ExampleNotification();
  n.set_idempotency_key("big");
  (*n.mutable_details()->mutable_fields())["attachment"].set_string_value(
      std::string(300 * 1024, 'x'));
  grpc::Status s = RawSubmit(*gp, SealNow(n, *partnership_.SignerFor("gp-riverside")));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
}

TEST_F(BrokerTest, CertificateOfUnregisteredNodeIsUnauthenticated) {
  partnership_.MintUnregistered("gp", "gp-not-registered");
  auto stranger = partnership_.Client("gp-not-registered");
  auto sent = stranger->Submit(ExampleNotification());
  EXPECT_EQ(sent.status().code(), absl::StatusCode::kUnauthenticated);
  // The caller learns little; the log says why.
  EXPECT_THAT(std::string(sent.status().message()), ::testing::Not(HasSubstr("registry")));
  EXPECT_THAT(partnership_.broker_log(), HasSubstr("'gp-not-registered', which is not in the registry"));
}

TEST_F(BrokerTest, CertificateClaimingAnotherTypeIsUnauthenticated) {
  // A certificate for id "fd-swindon" but type gp: the registry says front-door.
  partnership_.MintUnregistered("gp", "fd-swindon");
  auto impostor = partnership_.Client("fd-swindon");
  safeguard::v1::SubscribeRequest request;
  absl::Status s = impostor->Subscribe(request, [](const Delivery&) { return true; });
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(BrokerTest, CertificateFromAnotherCaIsRefusedInTheHandshake) {
  std::string other = partnership_.dir() + "/other";
  RunOrDie(absl::StrCat(SAFEGUARD_CERTS_TOOL, " init-ca --dir ", other, "/ca --partnership ",
                        partnership_.partnership()));
  RunOrDie(absl::StrCat(SAFEGUARD_CERTS_TOOL, " issue-node --ca-dir ", other, "/ca --out ", other,
                        "/gp --partnership ", partnership_.partnership(),
                        " --type gp --id gp-riverside"));
  // Trust the real broker (its CA) but present a certificate from the other CA.
  auto identity = client::LoadIdentityDirectory(other + "/gp");
  ASSERT_TRUE(identity.ok());
  auto real = client::LoadIdentityDirectory(partnership_.identity_dir("gp-riverside"));
  identity->ca_certificate = real->ca_certificate;
  auto c = client::BrokerClient::Connect(
      {.broker_address = partnership_.address(), .identity = *identity, .max_attempts = 1});
  ASSERT_TRUE(c.ok());
  auto sent = (*c)->Submit(ExampleNotification());
  EXPECT_EQ(sent.status().code(), absl::StatusCode::kUnavailable) << sent.status();
  EXPECT_TRUE(Backlog(*partnership_.Client("fd-swindon")).empty());
}

TEST_F(BrokerTest, NodeCannotReadAnotherMailboxOrAskAnotherSendersStatus) {
  auto gp = partnership_.Client("gp-riverside");
  auto school = partnership_.Client("school-oakfield");
  auto sent = gp->Submit(ExampleNotification());
  ASSERT_TRUE(sent.ok());

  safeguard::v1::SubscribeRequest request;
  request.set_mailbox("fd-swindon");
  absl::Status s = school->Subscribe(request, [](const Delivery&) { return true; });
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.message()), HasSubstr("only its own mailbox"));

  EXPECT_EQ(school->GetStatus(sent->notification_id()).status().code(),
            absl::StatusCode::kPermissionDenied);
  // Acknowledging a cursor that is not in one's own mailbox finds nothing.
  auto fd_inbox = Backlog(*partnership_.Client("fd-swindon"));
  ASSERT_EQ(fd_inbox.size(), 1u);
  EXPECT_EQ(school->Acknowledge(fd_inbox[0].cursor(), "x").status().code(),
            absl::StatusCode::kNotFound);
  // The "delivered" mark rides the store's next commit after the stream's write completes.
  safeguard::v1::DeliveryState state = safeguard::v1::DELIVERY_STATE_UNSPECIFIED;
  for (int i = 0; i < 100 && state != safeguard::v1::DELIVERY_STATE_DELIVERED; ++i) {
    state = gp->GetStatus(sent->notification_id())->recipients(0).state();
    if (state != safeguard::v1::DELIVERY_STATE_DELIVERED) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  EXPECT_EQ(state, safeguard::v1::DELIVERY_STATE_DELIVERED);
}

TEST_F(BrokerTest, AuditorMayNotSendAndCannotBeSentTo) {
  auto auditor = partnership_.Client("auditor-scp");
  EXPECT_EQ(auditor->Submit(ExampleNotification()).status().code(),
            absl::StatusCode::kPermissionDenied);
  auto n = ExampleNotification();
  n.add_recipients("auditor-scp");
  auto sent = partnership_.Client("gp-riverside")->Submit(n);
  EXPECT_EQ(sent.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(BrokerTest, FollowedStreamReceivesNewNotificationsAndResumesFromCursor) {
  auto fd = partnership_.Client("fd-swindon");
  auto gp = partnership_.Client("gp-riverside");
  std::vector<Delivery> seen;
  absl::Mutex mu;
  std::thread follower([&] {
    safeguard::v1::SubscribeRequest request;
    request.set_follow(true);
    absl::Status s = fd->Subscribe(request, [&](const Delivery& d) {
      absl::MutexLock lock(&mu);
      seen.push_back(d);
      return seen.size() < 3;
    });
    EXPECT_TRUE(s.ok()) << s;
  });
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto sent = gp->Submit(ExampleNotification());
    ASSERT_TRUE(sent.ok());
    ids.push_back(sent->notification_id());
  }
  follower.join();
  ASSERT_EQ(seen.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(seen[i].notification_id(), ids[i]);
  EXPECT_LT(seen[0].cursor(), seen[1].cursor());

  // Resuming after the first cursor gives the other two.
  safeguard::v1::SubscribeRequest resume;
  resume.set_after_cursor(seen[0].cursor());
  std::vector<std::string> resumed;
  ASSERT_TRUE(fd->Subscribe(resume, [&](const Delivery& d) {
                   resumed.push_back(d.notification_id());
                   return true;
                 }).ok());
  EXPECT_THAT(resumed, ElementsAre(ids[1], ids[2]));
}

TEST_F(BrokerTest, AcknowledgedNotificationsSurviveGracefulRestart) {
  auto gp = partnership_.Client("gp-riverside");
  auto sent = gp->Submit(ExampleNotification());
  ASSERT_TRUE(sent.ok());
  partnership_.StopBroker();
  partnership_.StartBroker();
  auto inbox = Backlog(*partnership_.Client("fd-swindon"));
  ASSERT_EQ(inbox.size(), 1u);
  EXPECT_EQ(inbox[0].notification_id(), sent->notification_id());
}

TEST(PolicyReloadTest, BrokenPolicyIsRefusedWithItsLineAndTheOldOneStays) {
  TestPartnership partnership;
  std::string policy = partnership.dir() + "/policy.yaml";
  RunOrDie(absl::StrCat("cp ", SAFEGUARD_DEFAULT_POLICY, " ", policy));
  RunOrDie("sed -i 's|^policy_file: .*|policy_file: \"policy.yaml\"|' " + partnership.dir() +
           "/broker.conf");
  partnership.StartBroker();
  auto wait_for_log = [&](const std::string& text) {
    for (int i = 0; i < 250; ++i) {
      if (partnership.broker_log().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  };
  // A mistake: an unknown notification type in a rule.
  RunOrDie("sed -i '0,/was-not-brought/s//was-not-brougt/' " + policy);
  partnership.ReloadPolicy();
  ASSERT_TRUE(wait_for_log("NOT reloaded")) << partnership.broker_log();
  EXPECT_THAT(partnership.broker_log(), HasSubstr("policy.yaml:"));
  EXPECT_THAT(partnership.broker_log(), HasSubstr("was-not-brougt"));
  // The old policy is still in force.
  auto sent = partnership.Client("gp-riverside")->Submit(ExampleNotification());
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_TRUE(sent->recipients(0).shared());
  std::string digest = sent->recipients(0).policy_digest();
  // A good policy replaces it without a restart.
  RunOrDie("sed -i 's/was-not-brougt/was-not-brought/; s/^version: .*/version: \"2026.2-test\"/' " +
           policy);
  partnership.ReloadPolicy();
  ASSERT_TRUE(wait_for_log("2026.2-test")) << partnership.broker_log();
  auto again = partnership.Client("gp-riverside")->Submit(ExampleNotification());
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->recipients(0).policy_digest(), digest);
}

TEST(BrokerRevocationTest, RevokedCertificateIsRefused) {
  TestPartnership partnership(DefaultNodes(), "");
  partnership.Revoke("gp-riverside");
  // Point the broker at the CRL directory.
  std::string conf = partnership.dir() + "/broker.conf";
  RunOrDie("sed -i 's|ca_certificate: \"ca/ca.crt\"|ca_certificate: \"ca/ca.crt\" "
           "crl_directory: \"crl\"|' " + conf);
  partnership.StartBroker();
  auto revoked = partnership.Client("gp-riverside")->Submit(ExampleNotification());
  EXPECT_FALSE(revoked.ok());
  auto fine = partnership.Client("school-oakfield")->Submit(ExampleNotification());
  EXPECT_TRUE(fine.ok()) << fine.status();
}

}  // namespace
}  // namespace safeguard::testing
