// SubmitStream end to end: the real safeguard-broker binary over mutual TLS on loopback, driven
// through the SDK's SubmitMany and through the raw stream.

#include <fstream>
#include <set>
#include <tuple>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "clients/protocol/envelope.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/integration/test_partnership.h"

namespace safeguard::testing {
namespace {

using ::testing::HasSubstr;
using safeguard::v1::Delivery;
using safeguard::v1::SubmitRequest;
using safeguard::v1::SubmitStreamResponse;

// The idempotency keys of the deliveries in `node`'s mailbox sent by `sender`.
std::multiset<std::string> KeysFrom(TestPartnership& partnership, const std::string& node,
                                    const std::string& sender) {
  auto client = partnership.Client(node);
  safeguard::v1::SubscribeRequest request;
  std::multiset<std::string> keys;
  absl::Status s = client->Subscribe(request, [&](const Delivery& d) {
    if (d.sender_node_id() == sender) keys.insert(d.notification().idempotency_key());
    return true;
  });
  EXPECT_TRUE(s.ok()) << s;
  return keys;
}

// `count` example notifications of `type`, keyed `<prefix><i>`.
std::vector<safeguard::v1::Notification> NotificationRun(
    int count, const std::string& prefix,
    safeguard::v1::NotificationType type = safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT) {
  std::vector<safeguard::v1::Notification> run;
  for (int i = 0; i < count; ++i) {
    run.push_back(ExampleNotification(type));
    run.back().set_idempotency_key(absl::StrCat(prefix, i));
  }
  return run;
}

// Sealed as the SDK would, but without its local checks: what any client may send.
SubmitRequest Sealed(TestPartnership& partnership, const std::string& node,
                     safeguard::v1::Notification n) {
  n.mutable_subjects(0)->mutable_identifiers(0)->set_value("9434765919");  // normal form
  auto envelope = protocol::Seal(n, *partnership.SignerFor(node), absl::Now());
  EXPECT_TRUE(envelope.ok()) << envelope.status();
  SubmitRequest request;
  *request.mutable_envelope() = *std::move(envelope);
  return request;
}

// More notifications than the broker reads ahead (256), one of them wrong: every good one is
// accepted once with a verified receipt, the wrong one is refused naming the field, and sending
// the whole run again creates nothing new.
TEST(SubmitStreamTest, ARunLongerThanTheWindowIsAcceptedOnceEachAndRefusalsStopNothing) {
  TestPartnership partnership;
  partnership.StartBroker();
  auto school = partnership.Client("school-oakfield");
  auto run = NotificationRun(300, "attendance-2026-12-07-",
                             safeguard::v1::NOTIFICATION_TYPE_SCHOOL_ABSENCE);
  run[150].mutable_subjects(0)->mutable_identifiers(0)->set_value("943 476 5918");

  auto results = school->SubmitMany(run);
  ASSERT_EQ(results.size(), run.size());
  std::set<std::string> ids;
  for (size_t i = 0; i < results.size(); ++i) {
    if (i == 150) {
      EXPECT_EQ(results[i].status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(results[i].status().message(), HasSubstr("subjects[0].identifiers[0].value"));
      continue;
    }
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status();
    EXPECT_FALSE(results[i]->duplicate());
    ASSERT_EQ(results[i]->recipients_size(), 1);
    EXPECT_EQ(results[i]->recipients(0).node_id(), "fd-swindon");
    ids.insert(results[i]->notification_id());
  }
  EXPECT_EQ(ids.size(), 299u);
  auto delivered = KeysFrom(partnership, "fd-swindon", "school-oakfield");
  EXPECT_EQ(delivered.size(), 299u);
  EXPECT_EQ(delivered.count("attendance-2026-12-07-150"), 0u);

  // The same run again (the sender's system restarted half-way, say): all answered as retries.
  auto again = school->SubmitMany(run);
  for (size_t i = 0; i < again.size(); ++i) {
    if (i == 150) continue;
    ASSERT_TRUE(again[i].ok()) << i << ": " << again[i].status();
    EXPECT_TRUE(again[i]->duplicate());
    EXPECT_EQ(again[i]->notification_id(), results[i]->notification_id());
  }
  EXPECT_EQ(KeysFrom(partnership, "fd-swindon", "school-oakfield").size(), 299u);
}

// On the raw stream the n-th answer is for the n-th request, whatever each one's fate.
TEST(SubmitStreamTest, AnswersComeInRequestOrderAndTheStreamEndsOkWhenTheSenderCloses) {
  TestPartnership partnership;
  partnership.StartBroker();
  auto gp = partnership.Client("gp-riverside");
  auto first = ExampleNotification();
  first.set_idempotency_key("stream-order-1");
  auto second = ExampleNotification(safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT);
  second.set_idempotency_key("stream-order-2");
  auto other = ExampleNotification();
  other.set_idempotency_key("stream-order-3");

  std::vector<SubmitRequest> requests;
  requests.push_back(Sealed(partnership, "gp-riverside", first));
  requests.emplace_back();  // no envelope
  requests.push_back(Sealed(partnership, "school-oakfield", other));  // signed by another node
  requests.push_back(Sealed(partnership, "gp-riverside", second));
  requests.push_back(requests[0]);  // the first again: a retry

  grpc::ClientContext context;
  auto stream = gp->stub().SubmitStream(&context);
  for (const SubmitRequest& r : requests) ASSERT_TRUE(stream->Write(r));
  ASSERT_TRUE(stream->WritesDone());
  std::vector<SubmitStreamResponse> answers;
  SubmitStreamResponse answer;
  while (stream->Read(&answer)) answers.push_back(answer);
  grpc::Status ended = stream->Finish();
  EXPECT_TRUE(ended.ok()) << ended.error_message();
  ASSERT_EQ(answers.size(), 5u);

  EXPECT_EQ(answers[0].code(), 0) << answers[0].message();
  EXPECT_FALSE(answers[0].accepted().duplicate());
  EXPECT_EQ(answers[1].code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(answers[1].message(), HasSubstr("envelope: is missing"));
  EXPECT_EQ(answers[2].code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(answers[2].message(), HasSubstr("a node may send only what it signed itself"));
  EXPECT_EQ(answers[3].code(), 0) << answers[3].message();
  EXPECT_EQ(answers[3].accepted().recipients(0).node_id(), "fd-swindon");
  EXPECT_NE(answers[3].accepted().notification_id(), answers[0].accepted().notification_id());
  EXPECT_EQ(answers[4].code(), 0) << answers[4].message();
  EXPECT_TRUE(answers[4].accepted().duplicate());
  EXPECT_EQ(answers[4].accepted().notification_id(), answers[0].accepted().notification_id());

  // Each receipt proves its own envelope was taken.
  for (int i : {0, 3}) {
    const SubmitRequest& sent = requests[i];
    protocol::ExpectedReceipt expected{
        .envelope_digest = protocol::Sha256(sent.envelope().payload()),
        .envelope_id = i == 0 ? "stream-order-1" : "stream-order-2",
        .sender = partnership.SignerFor("gp-riverside")->uri()};
    auto body = protocol::VerifyReceipt(answers[i].accepted().receipt(), *partnership.Trust(),
                                        expected);
    EXPECT_TRUE(body.ok()) << i << ": " << body.status();
  }
  EXPECT_EQ(KeysFrom(partnership, "fd-swindon", "gp-riverside"),
            (std::multiset<std::string>{"stream-order-1", "stream-order-2"}));
}

// At a capacity of one notification in flight a stream is slowed, not refused: with no retries
// at all, every notification of the run is accepted exactly once (a unary Submit would have
// been answered UNAVAILABLE for most of them).
TEST(SubmitStreamTest, AtCapacityAStreamWaitsInsteadOfBeingRefused) {
  TestPartnership partnership(DefaultNodes(), "limits { max_submits_in_flight: 1 }");
  partnership.StartBroker();
  auto gp = partnership.Client("gp-riverside", /*max_attempts=*/1);
  auto run = NotificationRun(64, "capacity-stream-");
  auto results = gp->SubmitMany(run);
  for (size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status();
  }
  auto delivered = KeysFrom(partnership, "fd-swindon", "gp-riverside");
  EXPECT_EQ(delivered.size(), 64u);
  EXPECT_EQ(std::set<std::string>(delivered.begin(), delivered.end()).size(), 64u);
  // The operator still sees that the broker was at capacity.
  EXPECT_THAT(partnership.broker_log(), HasSubstr("SubmitStream request(s) since the last warning"));
}

// A sender that goes away mid-stream: what the broker had read is stored or not, never half;
// the broker carries on, and sending the same run again completes it with nothing doubled.
TEST(SubmitStreamTest, ASenderThatCancelsMidStreamLosesNothingOnceItSendsAgain) {
  TestPartnership partnership;
  partnership.StartBroker();
  auto gp = partnership.Client("gp-riverside");
  auto run = NotificationRun(200, "cancelled-run-");
  for (auto& n : run) n.mutable_subjects(0)->mutable_identifiers(0)->set_value("9434765919");
  {
    grpc::ClientContext context;
    auto stream = gp->stub().SubmitStream(&context);
    for (const auto& n : run) {
      if (!stream->Write(Sealed(partnership, "gp-riverside", n))) break;
    }
    SubmitStreamResponse answer;
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(stream->Read(&answer));
    context.TryCancel();
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  auto stored = KeysFrom(partnership, "fd-swindon", "gp-riverside");
  EXPECT_GE(stored.size(), 5u);
  EXPECT_LE(stored.size(), 200u);

  auto results = gp->SubmitMany(run);
  int retries = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status();
    retries += results[i]->duplicate();
  }
  // Whatever the cancelled stream stored is answered as a retry (some may have committed after
  // the look above); the rest is new.
  EXPECT_GE(static_cast<size_t>(retries), stored.size());
  auto delivered = KeysFrom(partnership, "fd-swindon", "gp-riverside");
  EXPECT_EQ(delivered.size(), 200u);
  EXPECT_EQ(std::set<std::string>(delivered.begin(), delivered.end()).size(), 200u);
}

// Runs safeguardctl as `node`; returns exit status and output.
std::pair<int, std::string> Ctl(const TestPartnership& p, const std::string& node,
                                const std::string& args) {
  return RunCommand(absl::StrCat(SAFEGUARD_CTL_BINARY, " --broker=", p.address(),
                                " --identity=", p.identity_dir(node), " ", args));
}

std::string JsonLine(const safeguard::v1::Notification& n) {
  std::string out;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(n, &out).ok());
  return out + "\n";
}

// A school's attendance run from a file: each line answered in file order, a wrong line
// refused naming the field without stopping the others, and the same file sent again is safe.
TEST(SubmitStreamTest, SafeguardctlSendManySendsAFileAndIsSafeToRunAgain) {
  TestPartnership partnership;
  partnership.StartBroker();
  std::string path = partnership.dir() + "/attendance.jsonl";
  {
    std::ofstream file(path);
    file << "# attendance run 2026-12-07\n";
    for (int i = 0; i < 3; ++i) {
      auto n = ExampleNotification(safeguard::v1::NOTIFICATION_TYPE_SCHOOL_ABSENCE);
      n.set_idempotency_key(absl::StrCat("mis-absence-", i));
      if (i == 1) n.mutable_subjects(0)->mutable_identifiers(0)->set_value("943 476 5918");
      file << JsonLine(n) << "\n";  // and a blank line
    }
  }
  auto [rc, out] = Ctl(partnership, "school-oakfield", "send-many " + path);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_THAT(out, HasSubstr("line 2: accepted: notification "));
  EXPECT_THAT(out, HasSubstr("line 4: REFUSED INVALID_ARGUMENT: "
                             "notification.subjects[0].identifiers[0].value"));
  EXPECT_THAT(out, HasSubstr("line 6: accepted: notification "));
  EXPECT_THAT(out, HasSubstr("-> fd-swindon"));
  EXPECT_THAT(out, HasSubstr("2 accepted, 0 already accepted, 1 refused"));

  std::tie(rc, out) = Ctl(partnership, "school-oakfield", "send-many " + path);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_THAT(out, HasSubstr("line 2: already accepted: notification "));
  EXPECT_THAT(out, HasSubstr("0 accepted, 2 already accepted, 1 refused"));
  EXPECT_EQ(KeysFrom(partnership, "fd-swindon", "school-oakfield"),
            (std::multiset<std::string>{"mis-absence-0", "mis-absence-2"}));

  // A line that is not a notification: nothing is sent, and the line is named.
  {
    std::ofstream file(path, std::ios::app);
    file << "{\"summary\": \"no closing brace\"\n";
  }
  std::tie(rc, out) = Ctl(partnership, "school-oakfield", "send-many " + path);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_THAT(out, HasSubstr("line 8 is not a Notification in JSON"));
  EXPECT_THAT(out, HasSubstr("nothing was sent"));
}

TEST(SubmitStreamTest, AnAuditorsStreamIsRefusedAtOnce) {
  TestPartnership partnership;
  partnership.StartBroker();
  auto auditor = partnership.Client("auditor-scp");
  auto results = auditor->SubmitMany({ExampleNotification()});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(results[0].status().message(), HasSubstr("auditor nodes may not send"));
}

}  // namespace
}  // namespace safeguard::testing
