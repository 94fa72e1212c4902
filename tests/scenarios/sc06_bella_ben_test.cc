// SC-06 Bella & Ben (requirements §7): the pre-school's concern, the hospital's admission with
// a risk of harm, the fan-out to the siblings, the lead worker told of a GP's look-up (and not of
// a silent one), and the hospital following its referral to the outcome.
//
// Not yet asserted (a later issue: chronology, deadlines): the latency from the first concern to
// the first CSC action per child (the auditor's measure), care proceedings status to the network
// (D4). D1's copies to community health and the GP of a child with no plan are not routed today:
// only children with a statutory plan have a network (recipient_resolver.cc).
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "grpcpp/grpcpp.h"
#include "safeguard/v1/audit.grpc.pb.h"
#include "tests/scenarios/scenario_fixture.h"

namespace safeguard::scenarios {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

const std::string kBella = "9434760704";
const std::string kBen = "9434760771";
const std::string kBaby = "9434760844";  // a younger sibling with no plan
const std::string kMother = "9434760917";

class BellaBenTest : public ScenarioTest {
 protected:
  void PublishPlans() {
    Publish(kCsc, Plan("CP-BELLA", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION, Nhs(kBella),
                       "Bella", MakeWorker(kCsc, "sw-amy", "Amy Stone", "social worker"),
                       MakeWorker(kCsc, "tm-raj", "Raj Patel", "named escalation contact",
                                  "01793 333333")));
    Publish(kCsc, Plan("CIN-BEN", safeguard::v1::PLAN_TYPE_CHILD_IN_NEED, Nhs(kBen), "Ben",
                       MakeWorker(kCsc, "sw-tom", "Tom Gray", "social worker"),
                       MakeWorker(kCsc, "tm-raj", "Raj Patel", "named escalation contact",
                                  "01793 333333")));
    PublishHousehold(kCsc, "HH-BB",
                     {{safeguard::v1::HOUSEHOLD_ROLE_CHILD, Nhs(kBella), "Bella", "child"},
                      {safeguard::v1::HOUSEHOLD_ROLE_CHILD, Nhs(kBen), "Ben", "sibling"},
                      {safeguard::v1::HOUSEHOLD_ROLE_CHILD, Nhs(kBaby), "Baby", "sibling"},
                      {safeguard::v1::HOUSEHOLD_ROLE_PARENT, Nhs(kMother), "M", "mother"}},
                     At("7 Elm Row", "100121000300"));
  }
};

TEST_F(BellaBenTest, HospitalReferralReachesBothLeadWorkersAndTheHospitalFollowsItToTheOutcome) {
  Serve(kGp, {Nhs(kBella), Nhs(kBen), Nhs(kBaby)});
  Serve(kPreSchool, {Nhs(kBella)});
  Serve(kSchool, {Nhs(kBen)});

  // Step 1: the pre-school's concern about Bella, who has no plan: the front door.
  Event concern;
  concern.type = safeguard::v1::NOTIFICATION_TYPE_CONCERN_REFERRAL;
  concern.about = {Nhs(kBella)};
  concern.summary = "Bella arrives hungry, unwashed, in the same clothes all week";
  auto step1 = Send(kPreSchool, concern);
  auto step1_fd = RecipientsOn(step1, kFrontDoor);
  ASSERT_EQ(step1_fd.size(), 1u);
  EXPECT_EQ(step1_fd[0].role(), "front-door");
  EXPECT_TRUE(step1_fd[0].shared());
  EXPECT_THAT(RecipientsOn(step1, kCsc), IsEmpty());
  EXPECT_EQ(MailboxFor(kFrontDoor, step1.notification_id()).size(), 1u);
  EXPECT_THAT(MailboxFor(kOtherSchool, step1.notification_id()), IsEmpty());
  EXPECT_THAT(MailboxFor(kOtherFrontDoor, step1.notification_id()), IsEmpty());

  // Bella is now on a child protection plan, Ben on a child in need plan; the baby has none.
  PublishPlans();

  // Step 2: the hospital admits Bella with a risk of harm.
  Event admission;
  admission.type = safeguard::v1::NOTIFICATION_TYPE_HOSPITAL_ATTENDANCE_CONCERN;
  admission.about = {Nhs(kBella)};
  admission.summary = "Admitted severely neglected; home circumstances reported hazardous";
  admission.severity = safeguard::v1::SEVERITY_URGENT;
  auto step2 = Send(kHospital, admission);
  std::vector<std::string> workers;
  for (const auto& r : RecipientsOn(step2, kCsc)) {
    workers.push_back(r.addressed_to());
    EXPECT_EQ(r.role(), "lead-worker");
    EXPECT_TRUE(r.shared()) << r.decision_reason();
    EXPECT_THAT(r.lawful_basis(), HasSubstr("SG-RISK"));
  }
  EXPECT_THAT(workers, UnorderedElementsAre("sw-amy", "sw-tom"));  // D3: Ben's lead worker too
  auto fd = RecipientsOn(step2, kFrontDoor);  // for the baby, who has no plan
  ASSERT_EQ(fd.size(), 1u);
  EXPECT_THAT(fd[0].reason(), HasSubstr("a child in the household has no open plan"));
  EXPECT_TRUE(fd[0].shared());
  // D2, D3: the network of the children with statutory plans — GP, Bella's pre-school, Ben's
  // school — hears of it under the policy.
  for (const char* node : {kGp, kPreSchool, kSchool}) {
    auto r = RecipientsOn(step2, node);
    ASSERT_EQ(r.size(), 1u) << node;
    EXPECT_TRUE(r[0].shared()) << node << ": " << r[0].decision_reason();
  }
  auto at_csc = MailboxFor(kCsc, step2.notification_id());
  ASSERT_EQ(at_csc.size(), 2u);
  const safeguard::v1::Delivery* bellas = nullptr;
  for (const auto& d : at_csc) {
    EXPECT_TRUE(Broker(kCsc).Verify(d).ok());
    if (d.addressed_to() == "sw-amy") {
      bellas = &d;
      EXPECT_THAT(d.route(), HasSubstr("lead worker of child-protection plan CP-BELLA"));
    } else {
      EXPECT_THAT(d.route(), HasSubstr("CIN-BEN"));
      EXPECT_THAT(d.route(), HasSubstr("a child in the household"));
    }
  }
  ASSERT_NE(bellas, nullptr);
  ExpectOnlyDelivered(step2.notification_id(), {kCsc, kFrontDoor, kGp, kPreSchool, kSchool});

  // Bella's lead worker acknowledges and starts an assessment; the challenge route defaults to
  // the plan's named escalation contact.
  Ack(kCsc, bellas->cursor(), "Amy Stone");
  safeguard::v1::Outcome outcome;
  grpc::Status recorded = RecordOutcome(kCsc, bellas->cursor(),
                                        safeguard::v1::OUTCOME_KIND_ASSESSMENT_STARTED,
                                        "Strategy discussion held; assessment started today",
                                        "Amy Stone", &outcome);
  ASSERT_TRUE(recorded.ok()) << recorded.error_message();
  EXPECT_THAT(outcome.challenge_route(), HasSubstr("Raj Patel"));

  // The hospital follows its referral: recipients by role, never the workers' names.
  auto status = Status(kHospital, step2.notification_id());
  EXPECT_THAT(status.child_match(), HasSubstr("matched"));
  int lead_workers = 0;
  bool saw_outcome = false;
  for (const auto& r : status.recipients()) {
    for (const char* name : {"Amy Stone", "Tom Gray", "sw-amy", "sw-tom"}) {
      EXPECT_THAT(r.route(), Not(HasSubstr(name)));
    }
    if (r.role() != "lead-worker") continue;
    ++lead_workers;
    EXPECT_EQ(r.node_id(), kCsc);
    if (r.route().find("CP-BELLA") != std::string::npos) {
      EXPECT_EQ(r.state(), safeguard::v1::DELIVERY_STATE_ACKNOWLEDGED);
      ASSERT_TRUE(r.has_outcome());
      EXPECT_EQ(r.outcome().kind(), safeguard::v1::OUTCOME_KIND_ASSESSMENT_STARTED);
      EXPECT_THAT(r.outcome().challenge_route(), HasSubstr("Raj Patel"));
      EXPECT_THAT(r.outcome().challenge_route(), HasSubstr("01793 333333"));
      saw_outcome = true;
    } else {
      EXPECT_NE(r.state(), safeguard::v1::DELIVERY_STATE_ACKNOWLEDGED);
      EXPECT_FALSE(r.has_outcome());
    }
  }
  EXPECT_EQ(lead_workers, 2);
  EXPECT_TRUE(saw_outcome);
}

// Access notifications and silent reads: a GP's look-up for an attendance tells Bella's lead
// worker, in a notice signed by the broker; a GP's record check is silent under the policy; a
// school's record check is not.
TEST_F(BellaBenTest, LookUpForAttendanceTellsTheLeadWorkerAndARecordCheckIsSilent) {
  PublishPlans();
  Serve(kGp, {Nhs(kBella), Nhs(kBen)});
  Serve(kPreSchool, {Nhs(kBella)});

  // The GP's flag for Bella: child protection, lead worker and escalation contact.
  safeguard::v1::Flag bella_flag;
  for (const auto& f : Flags(kGp)) {
    if (f.identifier().value() == kBella) bella_flag = f;
  }
  EXPECT_TRUE(bella_flag.flagged());
  EXPECT_EQ(bella_flag.plan_type(), safeguard::v1::PLAN_TYPE_CHILD_PROTECTION);
  EXPECT_EQ(bella_flag.lead_worker().name(), "Amy Stone");
  EXPECT_EQ(bella_flag.escalation_contact().name(), "Raj Patel");

  const size_t before = Mailbox(kCsc).size();
  auto seen = Lookup(kGp, Nhs(kBella), safeguard::v1::LOOKUP_REASON_ATTENDANCE,
                     "Dr Patel, same-day appointment");
  EXPECT_TRUE(seen.flag().flagged());
  EXPECT_EQ(seen.flag().plan_type(), safeguard::v1::PLAN_TYPE_CHILD_PROTECTION);
  EXPECT_TRUE(seen.lead_worker_notified()) << seen.notice();

  auto inbox = Mailbox(kCsc);
  ASSERT_EQ(inbox.size(), before + 1) << seen.notice();
  const auto& notice = inbox.back();
  EXPECT_EQ(notice.notification().type(), safeguard::v1::NOTIFICATION_TYPE_FLAG_LOOKED_UP);
  EXPECT_EQ(notice.addressed_to(), "sw-amy");
  EXPECT_EQ(notice.role(), "lead-worker");
  EXPECT_THAT(notice.notification().summary(), HasSubstr("Dr Patel"));
  auto verified = Broker(kCsc).Verify(notice);
  EXPECT_TRUE(verified.ok()) << verified.status();
  // The GP and the pre-school on Bella's network are not told of the look-up.
  ExpectOnlyDelivered(notice.notification_id(), {kCsc});

  // A record check by the GP: recorded, silent.
  auto check = Lookup(kGp, Nhs(kBella), safeguard::v1::LOOKUP_REASON_RECORD_CHECK,
                      "Practice safeguarding lead, annual review");
  EXPECT_TRUE(check.flag().flagged());
  EXPECT_FALSE(check.lead_worker_notified());
  EXPECT_THAT(check.notice(), HasSubstr("silent"));
  EXPECT_EQ(Mailbox(kCsc).size(), before + 1);

  // A record check by the pre-school is not silent for schools under the policy.
  auto school_check = Lookup(kPreSchool, Nhs(kBella), safeguard::v1::LOOKUP_REASON_RECORD_CHECK,
                             "Designated safeguarding lead");
  EXPECT_TRUE(school_check.lead_worker_notified()) << school_check.notice();
  auto after = Mailbox(kCsc);
  ASSERT_EQ(after.size(), before + 2);
  EXPECT_EQ(after.back().notification().type(), safeguard::v1::NOTIFICATION_TYPE_FLAG_LOOKED_UP);
  EXPECT_THAT(after.back().notification().summary(), HasSubstr("Designated safeguarding lead"));

  // The lead worker acknowledges the notice of the attendance.
  auto ack = Ack(kCsc, notice.cursor(), "Amy Stone");
  EXPECT_FALSE(ack.already_acknowledged());

  // Both of the GP's look-ups are in the audit log, the record check marked as a silent read.
  auto audit = safeguard::v1::Audit::NewStub(Broker(kAuditor).channel());
  std::vector<std::string> reads;
  for (int attempt = 0; attempt < 50 && reads.size() < 2; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    safeguard::v1::SearchRequest search;
    search.set_agency(kGp);
    search.set_event(safeguard::v1::AUDIT_EVENT_FLAG_READ);
    safeguard::v1::GetEntriesResponse found;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status s = audit->Search(&context, search, &found);
    ASSERT_TRUE(s.ok()) << s.error_message();
    reads.clear();
    for (const auto& e : found.entries()) reads.push_back(e.decoded().reason());
  }
  ASSERT_EQ(reads.size(), 2u);
  EXPECT_THAT(reads[0], HasSubstr("Dr Patel"));
  EXPECT_THAT(reads[0], Not(HasSubstr("silent read")));
  EXPECT_THAT(reads[1], HasSubstr("silent read"));

  // A GP that does not serve Bella looks her up: it may, the look-up is recorded, and Bella's
  // lead worker hears of it (a GP role sees child-protection flags).
  auto other = Lookup(kOtherGp, Nhs(kBella), safeguard::v1::LOOKUP_REASON_ATTENDANCE,
                      "Locum, temporary resident");
  EXPECT_TRUE(other.lead_worker_notified()) << other.notice();
}

}  // namespace
}  // namespace safeguard::scenarios
