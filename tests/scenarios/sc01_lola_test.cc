// SC-01 Lola (requirements §7): housing referrals about a child unknown to the partnership,
// consent refused, moves and a utility cut-off, then a child-in-need plan.
//
// Not yet asserted (a later issue: deadlines, escalation, cumulative concern, chronology):
// acknowledgement within P_ACK and outcome within P_OUT (D1, D2 timing), the address-instability
// marker after the fourth move (D4), NotRegisteredGP/NoEducationSetting events from registration
// queries (D6, no LA education node type), and the auditor's chronology and queries.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/scenarios/scenario_fixture.h"

namespace safeguard::scenarios {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using safeguard::v1::CONSENT_STATE_REFUSED;

const std::string kLola = "9434760003";
const std::string kMother = "9434760070";
const char kFather[] = "F-20250114";  // the police's person reference for F
const std::string kHalfBrother = "9434760984";

class LolaTest : public ScenarioTest {
 protected:
  Event HousingEvent(safeguard::v1::NotificationType type, const std::string& summary,
                     const safeguard::v1::Address& where,
                     safeguard::v1::ConsentState consent = CONSENT_STATE_REFUSED) {
    Event e;
    e.type = type;
    e.about = {Nhs(kLola)};
    e.summary = summary;
    e.risk_of_harm = true;  // basis SG-RISK
    e.consent = consent;
    e.address = where;
    return e;
  }
};

// D1, D2, D3: an unknown child's housing concern is handled exactly as the police's would be,
// the front door's outcome reaches housing with the route to challenge it, and consent refused
// stops nothing that a risk of harm justifies.
TEST_F(LolaTest, HousingConcernAboutUnknownChildIsHandledLikePoliceAndHousingHearsTheOutcome) {
  // Step 1: housing's concern; nobody in the partnership knows Lola yet.
  Event concern = HousingEvent(safeguard::v1::NOTIFICATION_TYPE_HOUSING_CONCERN,
                               "Child under six in a flat without working heating; mother says "
                               "she is home educated",
                               At("Flat 2, 10 Station Road", "100121000001"),
                               safeguard::v1::CONSENT_STATE_NOT_SOUGHT);
  auto from_housing = Send(kHousing, concern);
  ASSERT_THAT(RecipientNodes(from_housing), ElementsAre(kFrontDoor));
  const auto housing_fd = from_housing.recipients(0);
  EXPECT_EQ(housing_fd.role(), "front-door");
  EXPECT_EQ(housing_fd.child_match(), "unmatched");
  EXPECT_THAT(housing_fd.reason(), HasSubstr("child not known to the registry"));
  EXPECT_TRUE(housing_fd.shared());
  EXPECT_THAT(housing_fd.lawful_basis(), HasSubstr("SG-RISK"));

  // The same concern from the police: same recipient, route, role, rule and deadline class
  // (D1 "in the same priority class as a POL or HOSP concern"; fail if lower).
  auto from_police = Send(kPolice, concern);
  ASSERT_THAT(RecipientNodes(from_police), ElementsAre(kFrontDoor));
  const auto police_fd = from_police.recipients(0);
  EXPECT_EQ(police_fd.reason(), housing_fd.reason());
  EXPECT_EQ(police_fd.role(), housing_fd.role());
  EXPECT_EQ(police_fd.rule_id(), housing_fd.rule_id());
  EXPECT_EQ(police_fd.deadline(), housing_fd.deadline());
  EXPECT_FALSE(housing_fd.deadline().empty());

  auto fd_inbox = Mailbox(kFrontDoor);
  ASSERT_EQ(fd_inbox.size(), 2u);
  EXPECT_EQ(fd_inbox[0].notification_id(), from_housing.notification_id());
  EXPECT_EQ(fd_inbox[0].sender_node_type(), "housing");
  EXPECT_EQ(fd_inbox[1].sender_node_type(), "police");
  EXPECT_EQ(fd_inbox[0].role(), "front-door");
  EXPECT_EQ(fd_inbox[0].route(), fd_inbox[1].route());
  EXPECT_EQ(fd_inbox[0].role(), fd_inbox[1].role());
  EXPECT_THAT(fd_inbox[0].route(), HasSubstr("child not known to the registry"));
  EXPECT_TRUE(fd_inbox[0].addressed_to().empty());
  EXPECT_TRUE(Broker(kFrontDoor).Verify(fd_inbox[0]).ok());

  // D2: the front door acknowledges and decides; housing sees who has it (by role), the outcome
  // and how to challenge it — the area's resolution route, as Lola has no plan.
  Ack(kFrontDoor, fd_inbox[0].cursor(), "MASH duty social worker");
  safeguard::v1::Outcome outcome;
  grpc::Status recorded = RecordOutcome(
      kFrontDoor, fd_inbox[0].cursor(), safeguard::v1::OUTCOME_KIND_ASSESSMENT_STARTED,
      "Child not known to any setting; home visit with police today", "MASH team manager",
      &outcome);
  ASSERT_TRUE(recorded.ok()) << recorded.error_message();
  EXPECT_EQ(outcome.challenge_route(), kSwindonResolutionRoute);

  auto status = Status(kHousing, from_housing.notification_id());
  EXPECT_EQ(status.child_match(), "unmatched");
  ASSERT_EQ(status.recipients_size(), 1);
  const auto& seen = status.recipients(0);
  EXPECT_EQ(seen.node_id(), kFrontDoor);
  EXPECT_EQ(seen.role(), "front-door");
  EXPECT_EQ(seen.state(), safeguard::v1::DELIVERY_STATE_ACKNOWLEDGED);
  ASSERT_TRUE(seen.has_outcome());
  EXPECT_EQ(seen.outcome().kind(), safeguard::v1::OUTCOME_KIND_ASSESSMENT_STARTED);
  EXPECT_EQ(seen.outcome().challenge_route(), kSwindonResolutionRoute);
  EXPECT_THAT(seen.outcome().rationale(), HasSubstr("home visit"));

  // Step 2: the mother refuses consent (the front door records it; it is its own sender).
  Event refusal;
  refusal.type = safeguard::v1::NOTIFICATION_TYPE_CONSENT_REFUSED;
  refusal.about = {Nhs(kLola)};
  refusal.summary = "Mother declines further information gathering and assessment";
  refusal.risk_of_harm = true;
  refusal.consent = CONSENT_STATE_REFUSED;
  Send(kFrontDoor, refusal);

  // Steps 3–7 under SG-RISK despite the refusal (D3; "fail if any message after step 2 is
  // withheld or marked consent-required").
  const char* hotels[] = {"Room 12, Station Hotel", "Room 3, Park Inn", "4 Mill Lane",
                          "9 Brook Street"};
  int i = 0;
  for (const char* line : hotels) {
    auto moved = Send(kHousing, HousingEvent(safeguard::v1::NOTIFICATION_TYPE_CHANGE_OF_ADDRESS,
                                             absl::StrCat("Family moved to ", line),
                                             At(line, absl::StrCat("10012100010", i++))));
    ASSERT_THAT(RecipientNodes(moved), ElementsAre(kFrontDoor)) << line;
    EXPECT_TRUE(moved.recipients(0).shared()) << line;
    EXPECT_THAT(moved.recipients(0).lawful_basis(), HasSubstr("SG-RISK")) << line;
  }
  auto cut_off = Send(kHousing, HousingEvent(safeguard::v1::NOTIFICATION_TYPE_UTILITY_DISCONNECTION,
                                             "Electricity and water cut off by the property owner",
                                             At("9 Brook Street", "100121000103")));
  ASSERT_THAT(RecipientNodes(cut_off), ElementsAre(kFrontDoor));
  EXPECT_TRUE(cut_off.recipients(0).shared());
  EXPECT_THAT(cut_off.recipients(0).lawful_basis(), HasSubstr("SG-RISK"));
  // step 1 (police copy) unacknowledged, four moves, the cut-off
  EXPECT_EQ(AgencyMailbox(kFrontDoor).size(), 1u + 4u + 1u);
  // D4: the fourth change of address puts an address-instability marker in front of the front
  // door, listing the moves (a cumulative-concern rule of the policy).
  auto markers =
      AwaitBrokerNotices(kFrontDoor, safeguard::v1::NOTIFICATION_TYPE_CUMULATIVE_CONCERN, 1);
  ASSERT_EQ(markers.size(), 1u);
  EXPECT_THAT(markers[0].notification().summary(), HasSubstr("address-instability"));

  // Nothing reached anyone else: no school, GP or other area knows Lola.
  for (const auto& id : {from_housing.notification_id(), cut_off.notification_id()}) {
    ExpectOnlyDelivered(id, {kFrontDoor});
  }
}

// D5, D7: once Lola has a child-in-need plan, housing's events reach her lead worker, addressed
// to the worker, not the front door; the lead worker's outcome names the plan's escalation
// contact; her household is {Lola, mother} with her father linked as not living there, and that
// link does not carry her household's events to his other household.
TEST_F(LolaTest, AfterThePlanEventsReachTheLeadWorkerAndNotTheFathersOtherHousehold) {
  const auto address = At("9 Brook Street", "100121000103");
  Publish(kCsc, Plan("CIN-LOLA", safeguard::v1::PLAN_TYPE_CHILD_IN_NEED, Nhs(kLola), "Lola",
                     MakeWorker(kCsc, "sw-sam", "Sam Jones", "social worker"),
                     MakeWorker(kCsc, "tm-pat", "Pat Lee", "named escalation contact",
                                "01793 222222")));
  // D7: F is linked to Lola's household as her father, recorded as not living there. He lives
  // with his partner and Lola's half-brother H, who has a plan of his own with another worker.
  PublishHousehold(kCsc, "HH-LOLA",
                   {{safeguard::v1::HOUSEHOLD_ROLE_CHILD, Nhs(kLola), "Lola", "child"},
                    {safeguard::v1::HOUSEHOLD_ROLE_PARENT, Nhs(kMother), "M", "mother"},
                    {safeguard::v1::HOUSEHOLD_ROLE_LINKED_ADULT, PoliceRef(kFather, kPolice),
                     "F", "father (not in household)"}},
                   address);
  Publish(kCsc, Plan("CIN-H", safeguard::v1::PLAN_TYPE_CHILD_IN_NEED, Nhs(kHalfBrother), "H",
                     MakeWorker(kCsc, "sw-kai", "Kai Moss", "social worker"),
                     MakeWorker(kCsc, "tm-pat", "Pat Lee", "named escalation contact")));
  PublishHousehold(kCsc, "HH-F",
                   {{safeguard::v1::HOUSEHOLD_ROLE_CHILD, Nhs(kHalfBrother), "H", "child"},
                    {safeguard::v1::HOUSEHOLD_ROLE_PARENT, PoliceRef(kFather, kPolice), "F",
                     "father"}},
                   At("22 Oak Avenue", "100121000900"));

  auto record = GetChild(kCsc, Nhs(kLola));
  ASSERT_EQ(record.households_size(), 1);
  EXPECT_EQ(record.households(0).reference(), "HH-LOLA");
  bool father_linked = false;
  for (const auto& m : record.households(0).members()) {
    if (m.display_name() == "F") {
      father_linked = m.relationship() == "father (not in household)";
    }
  }
  EXPECT_TRUE(father_linked);

  std::vector<std::string> sent_to_lola;
  // Change of address and a utility cut-off: to the lead worker, addressed to Sam, not the
  // front door; consent refused does not stop them.
  for (auto type : {safeguard::v1::NOTIFICATION_TYPE_CHANGE_OF_ADDRESS,
                    safeguard::v1::NOTIFICATION_TYPE_UTILITY_DISCONNECTION}) {
    auto sent = Send(kHousing, HousingEvent(type, "Event at 9 Brook Street", address));
    sent_to_lola.push_back(sent.notification_id());
    SCOPED_TRACE(safeguard::v1::NotificationType_Name(type));
    ASSERT_THAT(RecipientNodes(sent), ElementsAre(kCsc));
    const auto& r = sent.recipients(0);
    EXPECT_EQ(r.role(), "lead-worker");
    EXPECT_EQ(r.addressed_to(), "sw-sam");
    EXPECT_THAT(r.reason(), HasSubstr("CIN-LOLA"));
    EXPECT_THAT(r.child_match(), HasSubstr("matched"));
    EXPECT_THAT(r.child_match(), Not(HasSubstr("unmatched")));
    EXPECT_TRUE(r.shared());
    EXPECT_THAT(r.lawful_basis(), HasSubstr("SG-RISK"));
    auto got = MailboxFor(kCsc, sent.notification_id());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].role(), "lead-worker");
    EXPECT_EQ(got[0].addressed_to(), "sw-sam");
    EXPECT_THAT(got[0].route(), HasSubstr("lead worker of child-in-need plan CIN-LOLA"));
    EXPECT_TRUE(Broker(kCsc).Verify(got[0]).ok());
    ExpectOnlyDelivered(sent.notification_id(), {kCsc});
  }

  // Step 9: housing's repeat concern; the lead worker decides, and housing sees the plan's named
  // escalation contact as its route to challenge (the default).
  auto repeat = Send(kHousing, HousingEvent(safeguard::v1::NOTIFICATION_TYPE_HOUSING_CONCERN,
                                            "Repeat concern: conditions at 9 Brook Street",
                                            address));
  ASSERT_THAT(RecipientNodes(repeat), ElementsAre(kCsc));
  sent_to_lola.push_back(repeat.notification_id());
  auto got = MailboxFor(kCsc, repeat.notification_id());
  ASSERT_EQ(got.size(), 1u);
  Ack(kCsc, got[0].cursor(), "Sam Jones");
  safeguard::v1::Outcome outcome;
  grpc::Status recorded =
      RecordOutcome(kCsc, got[0].cursor(), safeguard::v1::OUTCOME_KIND_STRATEGY_DISCUSSION,
                    "Home conditions with the earlier concerns meet the s.47 threshold",
                    "Sam Jones", &outcome);
  ASSERT_TRUE(recorded.ok()) << recorded.error_message();
  EXPECT_THAT(outcome.challenge_route(), HasSubstr("Pat Lee"));
  EXPECT_THAT(outcome.challenge_route(), HasSubstr("01793 222222"));
  auto status = Status(kHousing, repeat.notification_id());
  ASSERT_EQ(status.recipients_size(), 1);
  EXPECT_EQ(status.recipients(0).role(), "lead-worker");
  EXPECT_EQ(status.recipients(0).state(), safeguard::v1::DELIVERY_STATE_ACKNOWLEDGED);
  EXPECT_THAT(status.recipients(0).outcome().challenge_route(), HasSubstr("Pat Lee"));
  EXPECT_THAT(status.recipients(0).route(), Not(HasSubstr("Sam Jones")));

  // Household events at Lola's address reach Lola's worker only: the link through her father
  // does not carry them to his other household (H's worker hears nothing).
  for (const auto& id : sent_to_lola) {
    EXPECT_EQ(MailboxFor(kCsc, id).size(), 1u);
  }
  EXPECT_EQ(Mailbox(kCsc).size(), sent_to_lola.size() - 1);  // the repeat concern acknowledged
  for (const auto& d : Mailbox(kCsc, /*include_acknowledged=*/true)) {
    EXPECT_NE(d.addressed_to(), "sw-kai") << d.route();
  }

  // A concern about the father himself reaches the children he lives with (H's worker), not
  // Lola's: he is linked to her household, not living in it.
  Event about_father;
  about_father.type = safeguard::v1::NOTIFICATION_TYPE_NEW_ADULT_IN_HOUSEHOLD;
  about_father.about = {PoliceRef(kFather, kPolice)};
  about_father.summary = "F has moved in with a partner known for domestic abuse";
  about_father.risk_of_harm = true;
  auto father = Send(kPolice, about_father);
  bool to_kai = false;
  for (const auto& r : father.recipients()) {
    EXPECT_NE(r.addressed_to(), "sw-sam") << r.reason();
    to_kai |= r.addressed_to() == "sw-kai";
  }
  EXPECT_TRUE(to_kai);
}

}  // namespace
}  // namespace safeguard::scenarios
