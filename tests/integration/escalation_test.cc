// The escalation ladder in the real broker: a missed contact the lead worker does not
// acknowledge in time reaches the plan's deputy as an escalation notice signed by the broker,
// the referrer sees the step, and a restart neither loses nor repeats it.
//
// The default policy's one-working-day class is shortened to two seconds for the test, and the
// broker checks for overdue deliveries every second: the only waiting is real time passing.
#include <chrono>
#include <thread>

#include "absl/strings/str_replace.h"
#include "clients/sdk/registry_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/test_partnership.h"

namespace safeguard::testing {
namespace {

using ::testing::HasSubstr;
using safeguard::v1::Delivery;

std::vector<Delivery> Backlog(client::BrokerClient& c) {
  std::vector<Delivery> out;
  safeguard::v1::SubscribeRequest request;
  absl::Status s = c.Subscribe(request, [&](const Delivery& d) {
    out.push_back(d);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

class EscalationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string policy = DefaultPolicyText();
    std::string shortened = absl::StrReplaceAll(
        policy, {{"due: {end-of-working-day: 1}", "due: {within: 2s}"}});
    ASSERT_NE(shortened, policy) << "the default policy's one-working-day rule has changed";
    partnership_.UsePolicy(shortened);
    partnership_.AddBrokerFlag("--escalation_check_seconds=1");
    partnership_.StartBroker();
    auto broker = partnership_.Client("csc-team-north");
    client::RegistryClient registry(broker->channel(), {.call_timeout = absl::Seconds(10)});
    safeguard::v1::Involvement plan;
    plan.set_reference("CP-7");
    plan.set_plan_type(safeguard::v1::PLAN_TYPE_CHILD_PROTECTION);
    auto* id = plan.add_child();
    id->set_scheme(safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER);
    id->set_value("9434765919");
    auto worker = [](safeguard::v1::Worker* w, const char* id, const char* name) {
      w->set_worker_id(id);
      w->set_name(name);
      w->set_contact("01793 000000");
    };
    worker(plan.mutable_lead_worker(), "sw-1", "Sam Jones");
    worker(plan.mutable_deputy(), "sw-2", "Alex Deputy");
    worker(plan.mutable_team_manager(), "tm-3", "Priya Shah");
    worker(plan.mutable_escalation_contact(), "tm-3", "Priya Shah");
    auto put = registry.PutInvolvement(plan);
    ASSERT_TRUE(put.ok()) << put.status();
  }

  // Waits (real time) for an escalation notice in the lead worker's node's mailbox.
  std::vector<Delivery> EscalationNotices(int want, absl::Duration within) {
    absl::Time give_up = absl::Now() + within;
    std::vector<Delivery> notices;
    while (absl::Now() < give_up) {
      notices.clear();
      for (const Delivery& d : Backlog(*partnership_.Client("csc-team-north"))) {
        if (d.notification().type() == safeguard::v1::NOTIFICATION_TYPE_ESCALATION) {
          notices.push_back(d);
        }
      }
      if (static_cast<int>(notices.size()) >= want) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return notices;
  }

  TestPartnership partnership_;
};

TEST_F(EscalationTest, UnacknowledgedMissedContactReachesTheDeputyOnceEvenAcrossARestart) {
  auto gp = partnership_.Client("gp-riverside");
  auto sent = gp->Submit(ExampleNotification());
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_GE(sent->recipients_size(), 1);
  EXPECT_EQ(sent->recipients(0).addressed_to(), "sw-1");
  // The lead worker's system collects it but nobody acknowledges it.
  auto inbox = Backlog(*partnership_.Client("csc-team-north"));
  ASSERT_EQ(inbox.size(), 1u);

  auto notices = EscalationNotices(1, absl::Seconds(20));
  ASSERT_EQ(notices.size(), 1u) << partnership_.broker_log();
  const Delivery& notice = notices[0];
  EXPECT_EQ(notice.addressed_to(), "sw-2");
  EXPECT_THAT(notice.route(), HasSubstr("escalation step 1: deputy of child-protection plan CP-7"));
  EXPECT_THAT(notice.notification().summary(), HasSubstr("Not acknowledged in time"));
  EXPECT_EQ(notice.sender_node_type(), "broker");
  auto verified = partnership_.Client("csc-team-north")->Verify(notice);
  EXPECT_TRUE(verified.ok()) << verified.status();

  // The GP sees that its notification was escalated, and to whom.
  auto status = gp->GetStatus(sent->notification_id());
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_GE(status->recipients_size(), 1);
  EXPECT_TRUE(status->recipients(0).has_due_at());
  ASSERT_EQ(status->recipients(0).escalations_size(), 1);
  EXPECT_EQ(status->recipients(0).escalations(0).step(), 1);

  // A restart: the step is not sent again (the next falls due only after office hours).
  partnership_.StopBroker();
  partnership_.StartBroker();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(EscalationNotices(1, absl::Seconds(1)).size(), 1u);
}

TEST_F(EscalationTest, AnAcknowledgedDeliveryIsNeverEscalated) {
  auto gp = partnership_.Client("gp-riverside");
  ASSERT_TRUE(gp->Submit(ExampleNotification()).ok());
  auto lead = partnership_.Client("csc-team-north");
  auto inbox = Backlog(*lead);
  ASSERT_EQ(inbox.size(), 1u);
  ASSERT_TRUE(lead->Acknowledge(inbox[0].cursor(), "Sam Jones").ok());
  std::this_thread::sleep_for(std::chrono::seconds(4));
  EXPECT_TRUE(EscalationNotices(1, absl::Seconds(1)).empty());
}

}  // namespace
}  // namespace safeguard::testing
