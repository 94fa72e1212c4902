#include "broker/policy/sharing_policy.h"

#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "clients/protocol/crypto.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/broker/policy/test_policy.h"

namespace safeguard::policy {
namespace {

using protocol::NodeType;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::kRiskRule;
using testing::LineOf;
using testing::Policy;

std::shared_ptr<const SharingPolicy> MustLoad(const std::string& text) {
  auto p = SharingPolicy::FromText("policy.yaml", text);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : nullptr;
}

std::string LoadError(const std::string& text) {
  auto p = SharingPolicy::FromText("policy.yaml", text);
  EXPECT_FALSE(p.ok()) << "the policy loaded, but should have been refused";
  return p.ok() ? "" : std::string(p.status().message());
}

SharingRequest Request(
    RecipientRole recipient, bool risk = true, ConsentState consent = ConsentState::kNotSought,
    NodeType sender = NodeType::kGp,
    safeguard::v1::NotificationType type = safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT,
    ChildStatus status = ChildStatus::kNoPlan) {
  SharingRequest r;
  r.sender = sender;
  r.type = type;
  r.child_status = status;
  r.consent = consent;
  r.risk_of_harm = risk;
  r.recipient = recipient;
  return r;
}

TEST(SharingPolicyTest, NothingMatchingMeansWithholdWithACompleteRecord) {
  std::string text = Policy(kRiskRule);
  auto p = MustLoad(text);
  ASSERT_TRUE(p);
  Decision d = p->Evaluate(Request(RecipientRole::kFrontDoor, /*risk=*/false));
  EXPECT_EQ(d.outcome, Outcome::kWithhold);
  EXPECT_EQ(d.rule_id, kDefaultWithholdRuleId);
  EXPECT_FALSE(d.reason.empty());
  EXPECT_FALSE(d.basis);
  EXPECT_TRUE(d.disclosed.empty());
  EXPECT_EQ(d.withheld, FieldSet::All());
  EXPECT_EQ(d.policy_name, "test-policy");
  EXPECT_EQ(d.policy_version, "7");
  EXPECT_EQ(d.policy_digest, protocol::HexSha256(text));
  EXPECT_EQ(d.request.recipient, RecipientRole::kFrontDoor);
  EXPECT_EQ(p->digest(), protocol::HexSha256(text));
}

TEST(SharingPolicyTest, AShareRecordsBasisPurposeFieldsDeadlineAndCitations) {
  std::string text = Policy(kRiskRule);
  auto p = MustLoad(text);
  ASSERT_TRUE(p);
  Decision d = p->Evaluate(Request(RecipientRole::kLeadWorker, true, ConsentState::kGiven));
  ASSERT_EQ(d.outcome, Outcome::kShare);
  EXPECT_EQ(d.rule_id, "risk-to-front-door");
  EXPECT_EQ(d.rule_line, LineOf(text, "id: risk-to-front-door"));
  ASSERT_TRUE(d.basis);
  EXPECT_EQ(d.basis->name, "SG-RISK");
  EXPECT_EQ(d.basis->regime, Regime::kUkGdpr);
  EXPECT_EQ(d.basis->article6, "6(1)(e) public task");
  EXPECT_EQ(d.basis->article9, "9(2)(g) substantial public interest");
  EXPECT_EQ(d.basis->schedule1, "DPA 2018 Sch 1 para 18");
  EXPECT_EQ(d.basis->statutory_gateway, "Children Act 2004 s.11");
  EXPECT_EQ(d.basis->consent, "given");
  EXPECT_EQ(d.purpose, "Triage of a risk of harm.");
  EXPECT_EQ(d.deadline, "one-working-day");
  EXPECT_EQ(d.disclosed.ToString(), "child-identity, summary, details, address");
  EXPECT_EQ(d.withheld.ToString(), "health-details, police-details");
  ASSERT_EQ(d.citations.size(), 2u);  // the rule's two; the basis's one is among them
  EXPECT_EQ(d.citations[0].id, "isa-2024");
  EXPECT_THAT(d.citations[0].title, HasSubstr("Information sharing advice"));
  EXPECT_THAT(d.citations[0].url, HasSubstr("gov.uk"));
}

TEST(SharingPolicyTest, RefusedConsentDoesNotStopSharingWhenRiskIsIndicated) {
  auto p = MustLoad(Policy(kRiskRule));
  ASSERT_TRUE(p);
  for (ConsentState c :
       {ConsentState::kRefused, ConsentState::kWithdrawn, ConsentState::kNotSought}) {
    Decision d = p->Evaluate(Request(RecipientRole::kFrontDoor, true, c));
    ASSERT_TRUE(d.shared()) << ConsentStateName(c);
    EXPECT_THAT(d.basis->consent, HasSubstr("Sch 1 para 18(c)"));
    EXPECT_THAT(d.reason, HasSubstr(absl::StrCat("Consent ", ConsentStateName(c))));
  }
}

TEST(SharingPolicyTest, PoliceSendersAreRecordedUnderDpa2018Part3) {
  auto p = MustLoad(Policy(kRiskRule));
  ASSERT_TRUE(p);
  Decision d = p->Evaluate(
      Request(RecipientRole::kFrontDoor, true, ConsentState::kRefused, NodeType::kPolice));
  ASSERT_TRUE(d.shared());
  EXPECT_EQ(d.basis->regime, Regime::kLawEnforcement);
  EXPECT_EQ(d.basis->lawful_processing, "DPA 2018 s.35(2)(b)");
  EXPECT_EQ(d.basis->sensitive_processing, "DPA 2018 s.35(5) and Sch 8 para 4");
  EXPECT_TRUE(d.basis->article6.empty());
  EXPECT_THAT(d.basis->consent, HasSubstr("Sch 8 para 4"));
}

TEST(SharingPolicyTest, AWithholdingAlwaysWinsOverAShare) {
  std::string text = Policy(absl::StrCat(kRiskRule, R"yaml(  - id: not-the-lead-worker
    citations: [isa-2024]
    match:
      types: [school-absence]
    withhold:
      to: [lead-worker]
      reason: "Absences are for school."
    overrides: [risk-to-front-door]
)yaml"));
  auto p = MustLoad(text);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->warnings().empty());  // the override is declared, so no shadowing warning
  auto r = Request(RecipientRole::kLeadWorker, true, ConsentState::kGiven, NodeType::kSchool,
                   safeguard::v1::NOTIFICATION_TYPE_SCHOOL_ABSENCE);
  Decision d = p->Evaluate(r);
  EXPECT_EQ(d.outcome, Outcome::kWithhold);
  EXPECT_EQ(d.rule_id, "not-the-lead-worker");
  EXPECT_EQ(d.reason, "Absences are for school.");
  EXPECT_THAT(d.also_matched, ElementsAre("risk-to-front-door"));
  EXPECT_TRUE(d.disclosed.empty());
  EXPECT_EQ(d.citations.size(), 1u);
  r.recipient = RecipientRole::kFrontDoor;
  EXPECT_TRUE(p->Evaluate(r).shared());
}

TEST(SharingPolicyTest, TheMostSpecificShareWins) {
  std::string text = Policy(absl::StrCat(kRiskRule, R"yaml(  - id: hospital-same-day
    citations: [wt-2023]
    match:
      types: [hospital-attendance-concern]
      risk: true
    share:
      to: [front-door]
      basis: SG-RISK
      purpose: "Same day."
      deadline: same-day
)yaml"));
  auto p = MustLoad(text);
  ASSERT_TRUE(p);
  auto r = Request(RecipientRole::kFrontDoor, true, ConsentState::kGiven, NodeType::kHealth,
                   safeguard::v1::NOTIFICATION_TYPE_HOSPITAL_ATTENDANCE_CONCERN);
  Decision d = p->Evaluate(r);
  EXPECT_EQ(d.rule_id, "hospital-same-day");
  EXPECT_EQ(d.deadline, "same-day");
  EXPECT_THAT(d.also_matched, ElementsAre("risk-to-front-door"));
  r.type = safeguard::v1::NOTIFICATION_TYPE_SCHOOL_ABSENCE;
  EXPECT_EQ(p->Evaluate(r).rule_id, "risk-to-front-door");
}

constexpr char kIncomparable[] = R"yaml(  - id: health-events-same-day
    citations: [isa-2024]
    match:
      types: [was-not-brought]
      risk: true
    share:
      to: [front-door]
      basis: SG-RISK
      purpose: "Health events."
      deadline: same-day
  - id: from-gp
    citations: [isa-2024]
    match:
      senders: [gp]
      risk: true
    share:
      to: [front-door]
      basis: SG-RISK
      purpose: "From a GP."
      deadline: one-working-day
)yaml";

TEST(SharingPolicyTest, OverlappingSharesWithDifferentOutcomesAndNoOrderAreRefused) {
  std::string text = Policy(kIncomparable);
  std::string error = LoadError(text);
  EXPECT_THAT(error, HasSubstr(absl::StrCat("policy.yaml:", LineOf(text, "id: from-gp"))));
  EXPECT_THAT(error, HasSubstr("'health-events-same-day' (line"));
  EXPECT_THAT(error, HasSubstr("'from-gp' (line"));
  EXPECT_THAT(error, HasSubstr("deadline same-day vs one-working-day"));
  EXPECT_THAT(error, HasSubstr("sender gp, type was-not-brought"));
}

TEST(SharingPolicyTest, OverridesOrdersIncomparableShares) {
  std::string text =
      Policy(absl::StrCat(kRiskRule, kIncomparable, "    overrides: [health-events-same-day]\n"));
  auto p = MustLoad(text);
  ASSERT_TRUE(p);
  auto r = Request(RecipientRole::kFrontDoor);
  EXPECT_EQ(p->Evaluate(r).rule_id, "from-gp");
  r.sender = NodeType::kHealth;
  EXPECT_EQ(p->Evaluate(r).rule_id, "health-events-same-day");
  r.type = safeguard::v1::NOTIFICATION_TYPE_SCHOOL_ABSENCE;
  EXPECT_EQ(p->Evaluate(r).rule_id, "risk-to-front-door");
}

TEST(SharingPolicyTest, OverlappingSharesWithTheSameOutcomeAreNoConflictAndTheFirstDecides) {
  std::string text = Policy(R"yaml(  - id: first
    citations: [isa-2024]
    match: {types: [was-not-brought], risk: true}
    share: {to: [front-door], basis: SG-RISK, purpose: "One.", deadline: same-day}
  - id: second
    citations: [isa-2024]
    match: {senders: [gp], risk: true}
    share: {to: [front-door], basis: SG-RISK, purpose: "Two.", deadline: same-day}
)yaml");
  auto p = MustLoad(text);
  ASSERT_TRUE(p);
  Decision d = p->Evaluate(Request(RecipientRole::kFrontDoor));
  EXPECT_EQ(d.rule_id, "first");
  EXPECT_THAT(d.also_matched, ElementsAre("second"));
}

TEST(SharingPolicyTest, ExceptRemovesFromAMatch) {
  auto p = MustLoad(Policy(R"yaml(  - id: not-absences
    citations: [isa-2024]
    match:
      risk: true
      except: {types: [school-absence], senders: [housing]}
    share: {to: [front-door], basis: SG-RISK, purpose: "P.", deadline: same-day}
)yaml"));
  ASSERT_TRUE(p);
  auto r = Request(RecipientRole::kFrontDoor);
  EXPECT_TRUE(p->Evaluate(r).shared());
  r.type = safeguard::v1::NOTIFICATION_TYPE_SCHOOL_ABSENCE;
  EXPECT_FALSE(p->Evaluate(r).shared());
  r.type = safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT;
  r.sender = NodeType::kHousing;
  EXPECT_FALSE(p->Evaluate(r).shared());
}

TEST(SharingPolicyTest, NestedListsFromYamlAliasesAreFlattened) {
  auto p = MustLoad(Policy(R"yaml(  - id: health
    citations: [isa-2024]
    match:
      types: &health [was-not-brought, missed-health-contact]
      risk: true
    share: {to: [front-door], basis: SG-RISK, purpose: "P.", deadline: same-day}
  - id: health-and-more
    citations: [isa-2024]
    match:
      types: [*health, school-absence]
      risk: true
    share: {to: [gp], basis: SG-RISK, purpose: "P.", deadline: same-day}
)yaml"));
  ASSERT_TRUE(p);
  auto r = Request(RecipientRole::kGp, true, ConsentState::kGiven, NodeType::kSchool,
                   safeguard::v1::NOTIFICATION_TYPE_MISSED_HEALTH_CONTACT);
  EXPECT_EQ(p->Evaluate(r).rule_id, "health-and-more");
  EXPECT_EQ(p->Evaluate(r).disclosed.ToString(), "child-identity, summary, health-details");
}

TEST(SharingPolicyTest, YamlErrorsNameFileLineAndColumn) {
  std::string text = Policy("  - id: x\n    citations: [isa-2024\n    match: {risk: true}\n");
  std::string error = LoadError(text);
  EXPECT_THAT(error,
              ::testing::MatchesRegex("policy\\.yaml:[0-9]+:[0-9]+: error: not valid YAML.*"));
}

TEST(SharingPolicyTest, UnknownKeysAreRefusedWithTheKeysAllowed) {
  std::string text = Policy(absl::StrCat(kRiskRule,
                                         "  - id: typo\n    citations: [isa-2024]\n"
                                         "    mach: {risk: true}\n"));
  std::string error = LoadError(text);
  EXPECT_THAT(error, HasSubstr(absl::StrCat("policy.yaml:", LineOf(text, "mach:"), ":5:")));
  EXPECT_THAT(error, HasSubstr("unknown key 'mach'"));
  EXPECT_THAT(error, HasSubstr("id, description, citations, match, share, withhold, overrides"));
}

TEST(SharingPolicyTest, DuplicateKeysAreRefused) {
  std::string text = Policy(R"yaml(  - id: twice
    citations: [isa-2024]
    match: {risk: true, risk: false}
    share: {to: [front-door], basis: SG-RISK, purpose: "P.", deadline: same-day}
)yaml");
  EXPECT_THAT(LoadError(text), HasSubstr("has 'risk' twice"));
}

TEST(SharingPolicyTest, UnknownNamesSuggestTheNearestKnownOne) {
  std::string text = Policy(R"yaml(  - id: typo
    citations: [isa-2024]
    match: {types: [was-not-brougt], status: [child-protecton], consent: [refused], risk: true}
    share: {to: [front-door], basis: SG-RISK, purpose: "P.", deadline: same-day}
)yaml");
  std::string error = LoadError(text);
  EXPECT_THAT(error, HasSubstr("unknown notification type 'was-not-brougt' (did you mean "
                               "'was-not-brought'?)"));
  EXPECT_THAT(error, HasSubstr("unknown child status 'child-protecton' (did you mean "
                               "'child-protection'?)"));
}

TEST(SharingPolicyTest, UnknownBasisDeadlineAndReferenceAreRefused) {
  std::string text = Policy(R"yaml(  - id: r
    citations: [nice-2020]
    match: {risk: true}
    share: {to: [front-door], basis: SG-RISKY, purpose: "P.", deadline: tomorrow}
)yaml");
  std::string error = LoadError(text);
  EXPECT_THAT(error, HasSubstr("cites 'nice-2020', which is not under references"));
  EXPECT_THAT(error, HasSubstr("names basis 'SG-RISKY'"));
  EXPECT_THAT(error, HasSubstr("names deadline class 'tomorrow'"));
}

TEST(SharingPolicyTest, NothingIsEverSharedWithAuditors) {
  std::string text = Policy(R"yaml(  - id: to-auditors
    citations: [isa-2024]
    match: {risk: true}
    share: {to: [auditor], basis: SG-RISK, purpose: "P.", deadline: same-day}
)yaml");
  EXPECT_THAT(LoadError(text), HasSubstr("auditors read the audit log"));
}

TEST(SharingPolicyTest, ABasisMustSayHowItSharesWithoutConsent) {
  std::string text = Policy(R"yaml(  - id: no-risk
    citations: [isa-2024]
    match: {consent: [given, refused], risk: false}
    share: {to: [front-door], basis: NO-CONSENT-WORDING, purpose: "P.", deadline: same-day}
)yaml");
  text = absl::StrCat(text.substr(0, text.find("rules:")), R"yaml(  NO-CONSENT-WORDING:
    uk_gdpr: {article6: "6(1)(e) public task"}
    law_enforcement: {lawful_processing: "s.35(2)(b)"}
    gateway: "CA 2004 s.11"
    citations: [isa-2024]
)yaml",
                      text.substr(text.find("rules:")));
  EXPECT_THAT(LoadError(text), HasSubstr("does not say under which condition it shares without "
                                         "consent"));
}

TEST(SharingPolicyTest, Article9GAndHNeedASchedule1Condition) {
  std::string text = Policy(kRiskRule);
  std::string broken = text;
  broken.replace(broken.find("      schedule1: \"DPA 2018 Sch 1 para 18\"\n"),
                 std::string("      schedule1: \"DPA 2018 Sch 1 para 18\"\n").size(), "");
  EXPECT_THAT(LoadError(broken), HasSubstr("Art 9(2)(g), which DPA 2018 s.10 allows only with a "
                                           "Schedule 1 condition"));
}

TEST(SharingPolicyTest, ARegimeMustBeGivenForEverySender) {
  std::string text = Policy(kRiskRule);
  text.replace(text.find("  law-enforcement: [police]\n"),
               std::string("  law-enforcement: [police]\n").size(), "");
  EXPECT_THAT(LoadError(text), HasSubstr("missing: police"));
}

TEST(SharingPolicyTest, ATypeThePolicyCannotKnowIsWithheld) {
  auto p = MustLoad(Policy(kRiskRule));
  ASSERT_TRUE(p);
  auto r = Request(RecipientRole::kFrontDoor);
  r.type = static_cast<safeguard::v1::NotificationType>(999);
  Decision d = p->Evaluate(r);
  EXPECT_EQ(d.outcome, Outcome::kWithhold);
  EXPECT_THAT(d.reason, HasSubstr("not one this policy knows"));
}

TEST(SharingPolicyTest, EvaluateAllAnswersForEveryRole) {
  auto p = MustLoad(Policy(kRiskRule));
  ASSERT_TRUE(p);
  std::vector<Decision> all = p->EvaluateAll(Request(RecipientRole::kGp));
  ASSERT_EQ(all.size(), static_cast<size_t>(kRecipientRoleCount));
  for (int i = 0; i < kRecipientRoleCount; ++i) {
    EXPECT_EQ(all[i].request.recipient, static_cast<RecipientRole>(i));
    bool expected = i == Index(RecipientRole::kFrontDoor) || i == Index(RecipientRole::kLeadWorker);
    EXPECT_EQ(all[i].shared(), expected) << RecipientRoleName(all[i].request.recipient);
  }
}

TEST(SharingPolicyTest, ExplainSaysHowEachRuleBoreOnTheDecision) {
  std::string text = Policy(absl::StrCat(kRiskRule, R"yaml(  - id: hospital-same-day
    citations: [wt-2023]
    match: {types: [hospital-attendance-concern], risk: true}
    share: {to: [front-door], basis: SG-RISK, purpose: "Same day.", deadline: same-day}
  - id: school-only
    citations: [wt-2023]
    match: {risk: true}
    share: {to: [school], basis: SG-RISK, purpose: "School.", deadline: same-day}
)yaml"));
  auto p = MustLoad(text);
  ASSERT_TRUE(p);
  Explanation e =
      p->Explain(Request(RecipientRole::kFrontDoor, true, ConsentState::kGiven, NodeType::kHealth,
                         safeguard::v1::NOTIFICATION_TYPE_HOSPITAL_ATTENDANCE_CONCERN));
  EXPECT_EQ(e.decision.rule_id, "hospital-same-day");
  ASSERT_EQ(e.rules.size(), 3u);
  EXPECT_EQ(e.rules[0].verdict, RuleTrace::Verdict::kOverridden);
  EXPECT_THAT(e.rules[0].detail, HasSubstr("'hospital-same-day'"));
  EXPECT_THAT(e.rules[0].detail, HasSubstr("more specific"));
  EXPECT_EQ(e.rules[1].verdict, RuleTrace::Verdict::kDecided);
  EXPECT_EQ(e.rules[1].line, LineOf(text, "id: hospital-same-day"));
  EXPECT_EQ(e.rules[2].verdict, RuleTrace::Verdict::kNotForRecipient);

  e = p->Explain(Request(RecipientRole::kFrontDoor, true, ConsentState::kGiven, NodeType::kHealth,
                         safeguard::v1::NOTIFICATION_TYPE_SCHOOL_ABSENCE));
  EXPECT_EQ(e.rules[1].verdict, RuleTrace::Verdict::kNotMatched);
  EXPECT_THAT(e.rules[1].detail,
              HasSubstr("type school-absence is not among: hospital-attendance-concern"));
}

TEST(SharingPolicyTest, DecisionsAsJsonCarryTheWholeRecord) {
  auto p = MustLoad(Policy(kRiskRule));
  ASSERT_TRUE(p);
  std::string json = DecisionToJson(p->Evaluate(
      Request(RecipientRole::kFrontDoor, true, ConsentState::kRefused, NodeType::kPolice)));
  EXPECT_THAT(json, HasSubstr("\"decision\":\"share\""));
  EXPECT_THAT(json, HasSubstr("\"rule\":\"risk-to-front-door\""));
  EXPECT_THAT(json, HasSubstr("\"regime\":\"law-enforcement\""));
  EXPECT_THAT(json, HasSubstr("\"sha256\":\"" + p->digest() + "\""));
  EXPECT_THAT(json, HasSubstr("\"consent\":\"refused\""));
  EXPECT_THAT(json, HasSubstr("\"withheld\":[]"));
  std::string withheld = DecisionToJson(p->Evaluate(Request(RecipientRole::kSchool)));
  EXPECT_THAT(withheld, HasSubstr("\"decision\":\"withhold\""));
  EXPECT_THAT(withheld, HasSubstr("\"rule\":\"default-withhold\""));
  EXPECT_THAT(withheld, ::testing::Not(HasSubstr("\"basis\"")));
}

TEST(SharingPolicyTest, JsonEscapesWhatAPolicyAuthorWrote) {
  auto p = MustLoad(Policy(R"yaml(  - id: quoted
    citations: [isa-2024]
    match: {}
    withhold:
      to: [school]
      reason: "A \"quoted\" reason\nover two lines, with a back\\slash."
)yaml"));
  ASSERT_TRUE(p);
  std::string json = DecisionToJson(p->Evaluate(Request(RecipientRole::kSchool)));
  EXPECT_THAT(json,
              HasSubstr(R"("reason":"A \"quoted\" reason\nover two lines, with a back\\slash.")"));
}

TEST(SharingPolicyTest, EvaluationIsSafeFromManyThreads) {
  auto p = MustLoad(Policy(kRiskRule));
  ASSERT_TRUE(p);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        Decision d =
            p->Evaluate(Request((i + t) % 2 ? RecipientRole::kFrontDoor : RecipientRole::kSchool));
        if (d.shared() != ((i + t) % 2 == 1)) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace safeguard::policy
