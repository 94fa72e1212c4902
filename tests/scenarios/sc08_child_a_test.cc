// SC-08 Child A (requirements.md §7): a child-protection plan whose core groups are not recorded,
// and education, the school nurse and early help each worried about drift without escalating.
// The broker alerts the team manager that the core group is overdue (checked every second), and
// the three agencies' concerns add up to a cumulative concern for the lead worker.
#include <chrono>
#include <set>
#include <thread>

#include "google/protobuf/util/time_util.h"
#include "tests/scenarios/scenario_fixture.h"

namespace safeguard::scenarios {
namespace {

using google::protobuf::util::TimeUtil;
using safeguard::v1::Delivery;

constexpr char kChildA[] = "9434765919";

std::vector<Delivery> OfType(const std::vector<Delivery>& in, safeguard::v1::NotificationType t) {
  std::vector<Delivery> out;
  for (const auto& d : in) {
    if (d.notification().type() == t) out.push_back(d);
  }
  return out;
}

class Sc08ChildATest : public ScenarioTest {
 protected:
  void SetUp() override {
    // Plans are checked for drift every second (the default is ten minutes).
    partnership().AddBrokerFlag("--drift_check_seconds=1");
    ScenarioTest::SetUp();
  }
};

TEST_F(Sc08ChildATest, CoreGroupOverdueAndDriftConcernsAddUp) {
  auto sw = MakeWorker(kCsc, "sw-a", "Sam Social Worker", "social worker");
  auto tm = MakeWorker(kCsc, "tm-a", "Terry Team Manager", "team manager");
  auto plan = Plan("CP-A", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION, Nhs(kChildA), "Child A", sw,
                   tm);
  *plan.mutable_team_manager() = tm;
  // The plan started 40 days ago; no core group has been recorded since.
  *plan.mutable_start() = TimeUtil::GetCurrentTime() - TimeUtil::HoursToDuration(24 * 40);
  Publish(kCsc, plan);

  // Informal drift concerns from three agencies.
  for (const char* node : {kSchool, kCommunityHealth, kEarlyHelp}) {
    Event e;
    e.type = safeguard::v1::NOTIFICATION_TYPE_CONCERN_REFERRAL;
    e.about = {Nhs(kChildA)};
    e.summary = "Worried the plan is drifting";
    Send(node, e);
  }
  std::vector<Delivery> concerns;
  for (int i = 0; i < 100 && concerns.empty(); ++i) {
    concerns = OfType(Mailbox(kCsc), safeguard::v1::NOTIFICATION_TYPE_CUMULATIVE_CONCERN);
    if (concerns.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(concerns.size(), 1u);
  EXPECT_EQ(concerns[0].role(), "lead-worker");
  EXPECT_EQ(concerns[0].addressed_to(), "sw-a");
  EXPECT_NE(concerns[0].notification().summary().find("concerns-from-several-agencies"),
            std::string::npos);
  const auto& events = concerns[0].notification().details().fields().at("events").list_value();
  ASSERT_EQ(events.values_size(), 3);
  std::set<std::string> agencies;
  for (const auto& v : events.values()) {
    agencies.insert(v.struct_value().fields().at("agency").string_value());
  }
  EXPECT_EQ(agencies, (std::set<std::string>{kSchool, kCommunityHealth, kEarlyHelp}));

  // The drift check alerts the team manager that the core group is overdue, once.
  std::vector<Delivery> drift;
  for (int i = 0; i < 100 && drift.empty(); ++i) {
    drift = OfType(Mailbox(kCsc), safeguard::v1::NOTIFICATION_TYPE_PLAN_DRIFT);
    if (drift.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_EQ(drift[0].addressed_to(), "tm-a");
  EXPECT_EQ(drift[0].notification().details().fields().at("kind").string_value(),
            "core-group-overdue");
  EXPECT_NE(drift[0].notification().summary().find("Core group overdue"), std::string::npos);
  std::this_thread::sleep_for(std::chrono::seconds(3));  // three more checks
  EXPECT_EQ(OfType(Mailbox(kCsc, true), safeguard::v1::NOTIFICATION_TYPE_PLAN_DRIFT).size(), 1u);
}

}  // namespace
}  // namespace safeguard::scenarios
