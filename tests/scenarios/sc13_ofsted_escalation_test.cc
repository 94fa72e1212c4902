// SC-13 Ofsted escalation case (requirements.md §7, S4 ¶57): health and school thought the child
// should have been removed earlier "but neither agency had escalated"; the chair was told "the
// mother had not had enough time"; "No-one was clear about how to raise or escalate concerns about
// the safety of a child."
//
// End to end: a no-further-action outcome tells the referrer who decided and the named route to
// challenge it (the area's resolution route while the child has no plan, the plan's escalation
// contact once there is one); concerns recurring after "no further action" add up to a cumulative
// concern for the lead worker listing them, once per cluster; and a concern nobody acknowledges
// in time goes up the ladder to the plan's deputy, which the referring school sees.
//
// The default policy's one-working-day class is shortened to four seconds and the ladder checks
// every second (as tests/integration/escalation_test.cc does): every delivery but the one left
// unacknowledged on purpose is acknowledged as soon as it arrives.
//
// Not asserted here (no broker feature yet): EscalationRaised/EscalationResponse as notification
// types with levels (D3), the re-escalation prompt when nothing changes (D4), the auditor's
// classification of escalation outcomes.
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "tests/scenarios/scenario_fixture.h"

namespace safeguard::scenarios {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using safeguard::v1::Delivery;

constexpr char kChild[] = "9434765889";

std::vector<Delivery> OfType(const std::vector<Delivery>& in, safeguard::v1::NotificationType t) {
  std::vector<Delivery> out;
  for (const auto& d : in) {
    if (d.notification().type() == t) out.push_back(d);
  }
  return out;
}

std::set<std::string> ListedEvents(const Delivery& notice) {
  std::set<std::string> out;
  const auto& events = notice.notification().details().fields().at("events").list_value();
  for (const auto& v : events.values()) {
    out.insert(v.struct_value().fields().at("notification_id").string_value());
  }
  return out;
}

class Sc13OfstedEscalationTest : public ScenarioTest {
 protected:
  void SetUp() override {
    std::string policy = testing::DefaultPolicyText();
    std::string shortened = absl::StrReplaceAll(
        policy, {{"due: {end-of-working-day: 1}", "due: {within: 4s}"}});
    ASSERT_NE(shortened, policy) << "the default policy's one-working-day rule has changed";
    partnership().UsePolicy(shortened);
    partnership().AddBrokerFlag("--escalation_check_seconds=1");
    ScenarioTest::SetUp();
  }

  // Acknowledges everything waiting in every mailbox except the deliveries of `keep`.
  void AckAllExcept(const std::string& keep = "") {
    for (const std::string& node : AllNodes()) {
      if (node == kAuditor) continue;
      for (const Delivery& d : Mailbox(node)) {
        if (d.notification_id() != keep) Ack(node, d.cursor(), "duty worker");
      }
    }
  }

  // Polls `node`'s whole mailbox until it holds at least `want` notifications of `type`
  // (acknowledging everything else that arrives meanwhile, except `keep`).
  std::vector<Delivery> WaitForType(const std::string& node, safeguard::v1::NotificationType type,
                                    size_t want, absl::Duration within,
                                    const std::string& keep = "") {
    const absl::Time give_up = absl::Now() + within;
    std::vector<Delivery> got;
    for (;;) {
      got = OfType(Mailbox(node, true), type);
      if (got.size() >= want || absl::Now() >= give_up) return got;
      AckAllExcept(keep);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  Event About(safeguard::v1::NotificationType type, const std::string& summary) {
    Event e;
    e.type = type;
    e.about = {Nhs(kChild)};
    e.summary = summary;
    return e;
  }
};

TEST_F(Sc13OfstedEscalationTest, NoFurtherActionIsChallengeableRecurrenceAddsUpAndSilenceEscalates) {
  // Step 1: the family has just moved into the area; the school's first concern goes to the
  // front door (nobody holds a plan), which decides no further action.
  auto first = Send(kSchool, About(safeguard::v1::NOTIFICATION_TYPE_CONCERN_REFERRAL,
                                   "New pupil: unkempt, hungry, says mum's new boyfriend shouts"));
  ASSERT_THAT(RecipientNodes(first), ElementsAre(kFrontDoor));
  auto fd = MailboxFor(kFrontDoor, first.notification_id());
  ASSERT_EQ(fd.size(), 1u);
  Ack(kFrontDoor, fd[0].cursor(), "MASH duty social worker");
  safeguard::v1::Outcome outcome;
  grpc::Status recorded = RecordOutcome(
      kFrontDoor, fd[0].cursor(), safeguard::v1::OUTCOME_KIND_NO_FURTHER_ACTION,
      "Family new to the area; mother to be given time to settle and register with services",
      "MASH team manager", &outcome);
  ASSERT_TRUE(recorded.ok()) << recorded.error_message();
  EXPECT_EQ(outcome.challenge_route(), kSwindonResolutionRoute);
  // The school sees who decided what, and how to challenge it.
  auto status = Status(kSchool, first.notification_id());
  ASSERT_EQ(status.recipients_size(), 1);
  EXPECT_EQ(status.recipients(0).role(), "front-door");
  EXPECT_EQ(status.recipients(0).state(), safeguard::v1::DELIVERY_STATE_ACKNOWLEDGED);
  ASSERT_TRUE(status.recipients(0).has_outcome());
  EXPECT_EQ(status.recipients(0).outcome().kind(), safeguard::v1::OUTCOME_KIND_NO_FURTHER_ACTION);
  EXPECT_THAT(status.recipients(0).outcome().rationale(), HasSubstr("time to settle"));
  EXPECT_EQ(status.recipients(0).outcome().challenge_route(), kSwindonResolutionRoute);

  // Step 2: social care opens a child-in-need plan with a named escalation contact E.
  auto sw = MakeWorker(kCsc, "sw-13", "Sam Okafor", "social worker", "01793 555001");
  auto deputy = MakeWorker(kCsc, "sw-13b", "Dee Deputy", "senior social worker", "01793 555002");
  auto tm = MakeWorker(kCsc, "tm-13", "Tariq Manager", "team manager", "01793 555003");
  auto contact_e = MakeWorker(kCsc, "sm-13", "Erin Escalation", "service manager",
                              "01793 555004");
  auto cin = Plan("CIN-13", safeguard::v1::PLAN_TYPE_CHILD_IN_NEED, Nhs(kChild), "Child M", sw,
                  contact_e);
  *cin.mutable_deputy() = deputy;
  *cin.mutable_team_manager() = tm;
  Publish(kCsc, cin);

  // Steps 3-4 after the "no further action": the child tells his family support worker he does
  // not want to live at home; the police learn of a new adult in the household. Both reach the
  // lead worker, and together they are a recurrence after no further action.
  auto voice = Send(kEarlyHelp, About(safeguard::v1::NOTIFICATION_TYPE_DISCLOSURE_BY_CHILD,
                                      "He told his family support worker he did not want to live "
                                      "at home"));
  auto adult = Send(kPolice, About(safeguard::v1::NOTIFICATION_TYPE_NEW_ADULT_IN_HOUSEHOLD,
                                   "Mother's new partner living at the address; not disclosed "
                                   "to agencies"));
  for (const auto* sent : {&voice, &adult}) {
    auto lead = RecipientsOn(*sent, kCsc);
    ASSERT_FALSE(lead.empty()) << sent->notification_id();
    EXPECT_EQ(lead[0].role(), "lead-worker");
    EXPECT_EQ(lead[0].addressed_to(), "sw-13");
    EXPECT_TRUE(lead[0].shared()) << lead[0].decision_reason();
    EXPECT_FALSE(MailboxFor(kCsc, sent->notification_id()).empty());
  }
  AckAllExcept();

  auto cumulative = WaitForType(kCsc, safeguard::v1::NOTIFICATION_TYPE_CUMULATIVE_CONCERN, 1,
                                absl::Seconds(10));
  ASSERT_EQ(cumulative.size(), 1u) << partnership().broker_log();
  Ack(kCsc, cumulative[0].cursor(), "Sam Okafor");
  EXPECT_EQ(cumulative[0].role(), "lead-worker");
  EXPECT_EQ(cumulative[0].addressed_to(), "sw-13");
  EXPECT_EQ(cumulative[0].sender_node_type(), "broker");
  EXPECT_TRUE(Broker(kCsc).Verify(cumulative[0]).ok());
  const auto& fields = cumulative[0].notification().details().fields();
  EXPECT_EQ(fields.at("rule").string_value(), "recurrence-after-no-further-action");
  EXPECT_THAT(cumulative[0].notification().summary(),
              HasSubstr("after a no-further-action outcome"));
  ASSERT_TRUE(fields.count("after_no_further_action"));
  EXPECT_EQ(fields.at("after_no_further_action")
                .struct_value()
                .fields()
                .at("notification_id")
                .string_value(),
            first.notification_id());
  // The events after the decision, not the one decided on.
  EXPECT_EQ(ListedEvents(cumulative[0]),
            (std::set<std::string>{voice.notification_id(), adult.notification_id()}));
  ExpectOnlyDelivered(cumulative[0].notification_id(), {kCsc});

  // The CIN plan steps up to a child-protection plan, E still its escalation contact.
  auto cp = Plan("CP-13", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION, Nhs(kChild), "Child M", sw,
                 contact_e);
  *cp.mutable_deputy() = deputy;
  *cp.mutable_team_manager() = tm;
  Publish(kCsc, cp);
  Close(kCsc, "CIN-13", "stepped up to child protection");

  // Step 5: the school raises its worry with the lead worker, who decides no further action
  // because the mother "had not had enough time". The school is told, and told whom to challenge:
  // E, by name and number.
  auto worry = Send(kSchool, About(safeguard::v1::NOTIFICATION_TYPE_CONCERN_REFERRAL,
                                   "Still hungry and unkempt; no change since the plan began"));
  ASSERT_THAT(RecipientNodes(worry), ElementsAre(kCsc));
  auto at_lead = MailboxFor(kCsc, worry.notification_id());
  ASSERT_EQ(at_lead.size(), 1u);
  Ack(kCsc, at_lead[0].cursor(), "Sam Okafor");
  recorded = RecordOutcome(kCsc, at_lead[0].cursor(),
                           safeguard::v1::OUTCOME_KIND_NO_FURTHER_ACTION,
                           "The mother has not had enough time to make the changes in the plan",
                           "Sam Okafor", &outcome);
  ASSERT_TRUE(recorded.ok()) << recorded.error_message();
  EXPECT_THAT(outcome.challenge_route(), HasSubstr("Erin Escalation"));
  EXPECT_THAT(outcome.challenge_route(), HasSubstr("01793 555004"));
  status = Status(kSchool, worry.notification_id());
  ASSERT_EQ(status.recipients_size(), 1);
  EXPECT_EQ(status.recipients(0).role(), "lead-worker");
  ASSERT_TRUE(status.recipients(0).has_outcome());
  EXPECT_EQ(status.recipients(0).outcome().kind(), safeguard::v1::OUTCOME_KIND_NO_FURTHER_ACTION);
  EXPECT_THAT(status.recipients(0).outcome().rationale(), HasSubstr("not had enough time"));
  EXPECT_THAT(status.recipients(0).outcome().challenge_route(), HasSubstr("Erin Escalation"));
  EXPECT_THAT(status.recipients(0).outcome().challenge_route(), HasSubstr("CP-13"));
  EXPECT_THAT(status.recipients(0).outcome().challenge_route(),
              Not(HasSubstr(kSwindonResolutionRoute)));

  // One recurrence is not yet a new cluster: still one cumulative concern.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(
      OfType(Mailbox(kCsc, true), safeguard::v1::NOTIFICATION_TYPE_CUMULATIVE_CONCERN).size(),
      1u);

  // The school's next concern: the lead worker's system collects it but nobody acknowledges it.
  // It is the second recurrence since the last notice: a second cumulative concern, listing the
  // two new events only.
  auto ignored = Send(kSchool, About(safeguard::v1::NOTIFICATION_TYPE_CONCERN_REFERRAL,
                                     "Bruise to cheek; says he does not want to go home"));
  ASSERT_THAT(RecipientNodes(ignored), ElementsAre(kCsc));
  EXPECT_EQ(ignored.recipients(0).addressed_to(), "sw-13");
  ASSERT_EQ(MailboxFor(kCsc, ignored.notification_id()).size(), 1u);
  cumulative = WaitForType(kCsc, safeguard::v1::NOTIFICATION_TYPE_CUMULATIVE_CONCERN, 2,
                           absl::Seconds(10), ignored.notification_id());
  ASSERT_EQ(cumulative.size(), 2u) << partnership().broker_log();
  AckAllExcept(ignored.notification_id());
  EXPECT_EQ(cumulative[1].addressed_to(), "sw-13");
  EXPECT_EQ(ListedEvents(cumulative[1]),
            (std::set<std::string>{worry.notification_id(), ignored.notification_id()}));

  // Past its due time the ladder sends it to the plan's deputy (step 1)...
  std::vector<Delivery> escalations;
  const absl::Time give_up = absl::Now() + absl::Seconds(15);
  while (escalations.empty() && absl::Now() < give_up) {
    escalations = OfType(Mailbox(kCsc, true), safeguard::v1::NOTIFICATION_TYPE_ESCALATION);
    AckAllExcept(ignored.notification_id());
    if (escalations.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_EQ(escalations.size(), 1u) << partnership().broker_log();
  const Delivery& step1 = escalations[0];
  EXPECT_EQ(step1.addressed_to(), "sw-13b");
  EXPECT_THAT(step1.route(), HasSubstr("escalation step 1: deputy of child-protection plan CP-13"));
  EXPECT_THAT(step1.notification().summary(), HasSubstr("Not acknowledged in time"));
  EXPECT_EQ(step1.notification().details().fields().at("escalated_notification").string_value(),
            ignored.notification_id());
  EXPECT_EQ(step1.sender_node_type(), "broker");
  EXPECT_TRUE(Broker(kCsc).Verify(step1).ok());
  ExpectOnlyDelivered(step1.notification_id(), {kCsc});

  // ...and the school sees that its concern was escalated, and to whom.
  status = Status(kSchool, ignored.notification_id());
  ASSERT_EQ(status.recipients_size(), 1);
  const auto& seen = status.recipients(0);
  EXPECT_EQ(seen.state(), safeguard::v1::DELIVERY_STATE_DELIVERED);
  EXPECT_TRUE(seen.has_due_at());
  ASSERT_EQ(seen.escalations_size(), 1);
  EXPECT_EQ(seen.escalations(0).step(), 1);
  EXPECT_EQ(seen.escalations(0).node_id(), kCsc);
  EXPECT_THAT(seen.escalations(0).route(), HasSubstr("deputy of child-protection plan CP-13"));

  // Every other delivery was acknowledged in time and never escalated.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  for (const Delivery& d : OfType(Mailbox(kCsc, true), safeguard::v1::NOTIFICATION_TYPE_ESCALATION)) {
    EXPECT_EQ(d.notification().details().fields().at("escalated_notification").string_value(),
              ignored.notification_id());
  }
}

}  // namespace
}  // namespace safeguard::scenarios
