// SC-09 Child B (requirements.md §7): an early-help plan that drifted for months before the step
// up to child in need, with drift concerns from education and the school nurse along the way.
//
// The broker checks plans for drift every second (--drift_check_seconds=1): the early-help plan's
// team manager is told once that its review is overdue; the school's and the school nurse's
// concerns reach the early-help lead worker; after the step-up (a child-in-need plan published by
// social care, the early-help plan closed "stepped up") later events reach the child-in-need lead
// worker only, a third agency's concern adds up with the earlier two into one cumulative concern
// for that worker, and the chronology shows both episodes.
//
// Not asserted here (no broker feature yet): D1's P_STEPUP alert while a step-up request waits,
// D2's "partners not invited" flag on single-agency CIN meetings.
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/sdk/chronology_client.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "tests/scenarios/scenario_fixture.h"

namespace safeguard::scenarios {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using google::protobuf::util::TimeUtil;
using safeguard::v1::Delivery;

constexpr char kChildB[] = "9434765870";

std::vector<Delivery> OfType(const std::vector<Delivery>& in, safeguard::v1::NotificationType t) {
  std::vector<Delivery> out;
  for (const auto& d : in) {
    if (d.notification().type() == t) out.push_back(d);
  }
  return out;
}

class Sc09ChildBTest : public ScenarioTest {
 protected:
  void SetUp() override {
    // Plans are checked for drift every second (the default is ten minutes).
    partnership().AddBrokerFlag("--drift_check_seconds=1");
    ScenarioTest::SetUp();
  }

  // Polls `node`'s whole mailbox (acknowledged included) until it holds at least `want`
  // notifications of `type`, or `within` has passed.
  std::vector<Delivery> WaitForType(const std::string& node, safeguard::v1::NotificationType type,
                                    size_t want, absl::Duration within) {
    const absl::Time give_up = absl::Now() + within;
    std::vector<Delivery> got;
    for (;;) {
      got = OfType(Mailbox(node, true), type);
      if (got.size() >= want || absl::Now() >= give_up) return got;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  Event Concern(const std::string& summary) {
    Event e;
    e.type = safeguard::v1::NOTIFICATION_TYPE_CONCERN_REFERRAL;
    e.about = {Nhs(kChildB)};
    e.summary = summary;
    return e;
  }
};

TEST_F(Sc09ChildBTest, EarlyHelpDriftIsFlaggedAndTheStepUpCarriesTheHistory) {
  // The early-help plan: open for eight months. Its review falls due a few seconds into the
  // test, and nothing is recorded on the plan after that (the drift the review found).
  // (A plan first published with its review date already past raises nothing today: the
  // publication itself counts as a change after the review, plan_drift_monitor.cc `updated <=
  // review`; and overrun waits progress-window, at least 1m, after the publication.)
  auto eh_lead = MakeWorker(kEarlyHelp, "eh-lee", "Lee Family Support", "early help lead worker");
  auto eh_tm = MakeWorker(kEarlyHelp, "eh-tm", "Morgan Early Help Manager", "team manager");
  auto eh_plan = Plan("EH-B", safeguard::v1::PLAN_TYPE_EARLY_HELP, Nhs(kChildB), "Child B",
                      eh_lead);
  *eh_plan.mutable_team_manager() = eh_tm;
  const auto now = TimeUtil::GetCurrentTime();
  *eh_plan.mutable_start() = now - TimeUtil::HoursToDuration(24 * 240);
  *eh_plan.mutable_next_review() = now + TimeUtil::SecondsToDuration(3);
  auto published = Publish(kEarlyHelp, eh_plan);
  EXPECT_EQ(published.involvement().version(), 1u);

  // Step 4 during early help: drift concerns from the school and the school nurse reach the
  // early-help lead worker, and nobody else.
  std::vector<std::string> eh_episode;
  for (const char* node : {kSchool, kCommunityHealth}) {
    SCOPED_TRACE(node);
    auto sent = Send(node, Concern("Worried nothing is changing for Child B under early help"));
    eh_episode.push_back(sent.notification_id());
    ASSERT_THAT(RecipientNodes(sent), ElementsAre(kEarlyHelp));
    EXPECT_EQ(sent.recipients(0).role(), "lead-worker");
    EXPECT_EQ(sent.recipients(0).addressed_to(), "eh-lee");
    EXPECT_TRUE(sent.recipients(0).shared()) << sent.recipients(0).decision_reason();
    auto got = MailboxFor(kEarlyHelp, sent.notification_id());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].addressed_to(), "eh-lee");
    EXPECT_THAT(got[0].route(), HasSubstr("EH-B"));
    ExpectOnlyDelivered(sent.notification_id(), {kEarlyHelp});
    Ack(kEarlyHelp, got[0].cursor(), "Lee Family Support");
  }

  // The review date passes with no new version of the plan: the early-help team manager is told,
  // once.
  auto drift = WaitForType(kEarlyHelp, safeguard::v1::NOTIFICATION_TYPE_PLAN_DRIFT, 1,
                           absl::Seconds(15));
  ASSERT_EQ(drift.size(), 1u) << partnership().broker_log();
  EXPECT_EQ(drift[0].addressed_to(), "eh-tm");
  EXPECT_EQ(drift[0].role(), "lead-worker");
  EXPECT_THAT(drift[0].route(), HasSubstr("team manager of early-help plan EH-B"));
  EXPECT_EQ(drift[0].notification().details().fields().at("kind").string_value(),
            "review-overdue");
  EXPECT_EQ(drift[0].notification().details().fields().at("plan_reference").string_value(),
            "EH-B");
  EXPECT_THAT(drift[0].notification().summary(), HasSubstr("Review overdue"));
  EXPECT_THAT(drift[0].notification().summary(), HasSubstr("Lee Family Support"));
  EXPECT_EQ(drift[0].sender_node_type(), "broker");
  EXPECT_TRUE(Broker(kEarlyHelp).Verify(drift[0]).ok());
  Ack(kEarlyHelp, drift[0].cursor(), "Morgan Early Help Manager");
  // Nobody else hears of the early-help plan's drift.
  ExpectOnlyDelivered(drift[0].notification_id(), {kEarlyHelp});

  // Steps 1-2: the step-up. Social care publishes a child-in-need plan; early help closes its
  // plan as stepped up.
  auto sw = MakeWorker(kCsc, "sw-b", "Sasha Social Worker", "social worker");
  auto csc_tm = MakeWorker(kCsc, "tm-b", "Toni Team Manager", "team manager", "01793 444444");
  auto cin = Plan("CIN-B", safeguard::v1::PLAN_TYPE_CHILD_IN_NEED, Nhs(kChildB), "Child B", sw,
                  csc_tm);
  *cin.mutable_team_manager() = csc_tm;
  Publish(kCsc, cin);
  Close(kEarlyHelp, "EH-B", "stepped up to child in need");
  auto record = GetChild(kCsc, Nhs(kChildB));
  int open_plans = 0;
  for (const auto& inv : record.involvements()) {
    if (inv.open()) {
      ++open_plans;
      EXPECT_EQ(inv.reference(), "CIN-B");
    }
  }
  EXPECT_EQ(open_plans, 1);

  // Later events reach the child-in-need lead worker, no longer early help. The GP's concern is
  // the third agency's in 90 days: with the school's and the nurse's from the early-help episode
  // it is one cumulative concern, for the child-in-need lead worker.
  auto late = Send(kGp, Concern("Child B seen with untreated dental pain; mother missed two "
                                "appointments"));
  ASSERT_THAT(RecipientNodes(late), ElementsAre(kCsc));
  EXPECT_EQ(late.recipients(0).role(), "lead-worker");
  EXPECT_EQ(late.recipients(0).addressed_to(), "sw-b");
  auto late_got = MailboxFor(kCsc, late.notification_id());
  ASSERT_EQ(late_got.size(), 1u);
  EXPECT_THAT(late_got[0].route(), HasSubstr("CIN-B"));
  ExpectOnlyDelivered(late.notification_id(), {kCsc});
  Ack(kCsc, late_got[0].cursor(), "Sasha Social Worker");

  auto cumulative = WaitForType(kCsc, safeguard::v1::NOTIFICATION_TYPE_CUMULATIVE_CONCERN, 1,
                                absl::Seconds(10));
  ASSERT_EQ(cumulative.size(), 1u) << partnership().broker_log();
  EXPECT_EQ(cumulative[0].role(), "lead-worker");
  EXPECT_EQ(cumulative[0].addressed_to(), "sw-b");
  EXPECT_THAT(cumulative[0].notification().summary(),
              HasSubstr("concerns-from-several-agencies"));
  const auto& events =
      cumulative[0].notification().details().fields().at("events").list_value();
  std::set<std::string> listed;
  std::set<std::string> agencies;
  for (const auto& v : events.values()) {
    listed.insert(v.struct_value().fields().at("notification_id").string_value());
    agencies.insert(v.struct_value().fields().at("agency").string_value());
  }
  EXPECT_EQ(listed, (std::set<std::string>{eh_episode[0], eh_episode[1],
                                           late.notification_id()}));
  EXPECT_EQ(agencies, (std::set<std::string>{kSchool, kCommunityHealth, kGp}));
  ExpectOnlyDelivered(cumulative[0].notification_id(), {kCsc});

  // More drift checks: the early-help plan is closed and the child-in-need plan is new, so no
  // further drift alert; the cumulative concern is not raised again.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(OfType(Mailbox(kEarlyHelp, true), safeguard::v1::NOTIFICATION_TYPE_PLAN_DRIFT).size(),
            1u);
  EXPECT_TRUE(OfType(Mailbox(kCsc, true), safeguard::v1::NOTIFICATION_TYPE_PLAN_DRIFT).empty());
  EXPECT_EQ(
      OfType(Mailbox(kCsc, true), safeguard::v1::NOTIFICATION_TYPE_CUMULATIVE_CONCERN).size(),
      1u);
  EXPECT_TRUE(
      OfType(Mailbox(kEarlyHelp, true), safeguard::v1::NOTIFICATION_TYPE_CUMULATIVE_CONCERN)
          .empty());

  // The social worker's chronology shows both episodes and every agency's concern: the step-up
  // does not start again.
  client::ChronologyClient chronology(Broker(kCsc).channel(),
                                      client::ConnectionOptions{.max_attempts = 1});
  auto view = chronology.Get({.child = Nhs(kChildB), .purpose = "CIN meeting, Child B"});
  ASSERT_TRUE(view.ok()) << view.status();
  ASSERT_EQ(view->header.episodes_size(), 2);
  const auto& first = view->header.episodes(0);
  EXPECT_EQ(first.reference(), "EH-B");
  EXPECT_EQ(first.plan_type(), safeguard::v1::PLAN_TYPE_EARLY_HELP);
  EXPECT_EQ(first.publisher(), kEarlyHelp);
  EXPECT_FALSE(first.open());
  EXPECT_TRUE(first.has_end());
  EXPECT_THAT(first.closure_reason(), HasSubstr("stepped up"));
  const auto& second = view->header.episodes(1);
  EXPECT_EQ(second.reference(), "CIN-B");
  EXPECT_EQ(second.plan_type(), safeguard::v1::PLAN_TYPE_CHILD_IN_NEED);
  EXPECT_EQ(second.publisher(), kCsc);
  EXPECT_TRUE(second.open());
  std::set<std::string> shown;
  for (const auto& e : view->events) shown.insert(e.notification_id());
  for (const std::string& id : {eh_episode[0], eh_episode[1], late.notification_id()}) {
    EXPECT_TRUE(shown.count(id)) << "chronology lacks " << id;
  }
}

}  // namespace
}  // namespace safeguard::scenarios
