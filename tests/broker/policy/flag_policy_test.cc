// Flags (`flags:`): SharingPolicy::EvaluateFlag / ExplainFlag on small policies, and that a flags
// section leaves every notification decision as it was.
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "broker/policy/policy_lint.h"
#include "broker/policy/sharing_policy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/broker/policy/test_policy.h"

namespace safeguard::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::kRiskRule;
using testing::LineOf;
using testing::Policy;

// An SG-CP basis for the test policy head (which has SG-RISK and CONSENT).
constexpr char kSgCp[] = R"yaml(  SG-CP:
    description: "Child protection plan"
    uk_gdpr:
      article6: "6(1)(e) public task"
      article9: "9(2)(g) substantial public interest"
      schedule1: "DPA 2018 Sch 1 para 18"
      without_consent: "DPA 2018 Sch 1 para 18(c): the plan does not rest on consent"
    gateway: "Children Act 1989 s.47"
    citations: [wt-2023]
    requires:
      status: [child-protection]
)yaml";

std::string WithFlags(absl::string_view flags) {
  std::string text = Policy(kRiskRule);
  text.insert(text.find("rules:\n"), kSgCp);
  return absl::StrCat(text, "flags:\n", flags);
}

constexpr char kFlags[] = R"yaml(  - id: cp-to-gp
    description: "GPs know of child protection plans."
    citations: [wt-2023]
    to: [gp, health]
    status: [child-protection]
    fields: [lead-worker, escalation-contact]
    basis: SG-CP
    silent-look-ups: [record-check]
  - id: cp-to-school
    citations: [isa-2024]
    to: [school, gp]
    status: [child-protection]
    fields: [plan-type, lead-worker, escalation-contact, plan-dates]
    basis: SG-CP
  - id: early-help-to-school
    citations: [isa-2024]
    to: school
    status: early-help
    fields: plan-type
    basis: CONSENT
    silent-look-ups: [attendance, registration, record-check]
)yaml";

// 1-based line of the last line containing `needle`.
int LastLineOf(const std::string& text, absl::string_view needle) {
  int line = 0, found = 0;
  for (absl::string_view l : absl::StrSplit(text, '\n')) {
    ++line;
    if (absl::StrContains(l, needle)) found = line;
  }
  return found;
}

std::shared_ptr<const SharingPolicy> MustLoad(const std::string& text) {
  auto p = SharingPolicy::FromText("policy.yaml", text);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : nullptr;
}

TEST(FlagPolicyTest, TheFirstMatchingFlagRuleDecidesAndPlanTypeIsAlwaysShared) {
  std::string text = WithFlags(kFlags);
  auto p = MustLoad(text);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->flag_rule_count(), 3);
  // cp-to-gp comes first: the GP gets its fields, not cp-to-school's.
  FlagDecision gp = p->EvaluateFlag({RecipientRole::kGp, ChildStatus::kChildProtection});
  EXPECT_TRUE(gp.shared);
  EXPECT_EQ(gp.rule_id, "cp-to-gp");
  EXPECT_EQ(gp.rule_line, LineOf(text, "- id: cp-to-gp"));
  EXPECT_THAT(gp.fields, ElementsAre(FlagField::kPlanType, FlagField::kLeadWorker,
                                     FlagField::kEscalationContact));
  EXPECT_THAT(gp.Withheld(), ElementsAre(FlagField::kPlanDates));
  EXPECT_TRUE(gp.SilentLookUp(LookupReason::kRecordCheck));
  EXPECT_FALSE(gp.SilentLookUp(LookupReason::kAttendance));
  EXPECT_FALSE(gp.SilentLookUp(LookupReason::kRegistration));
  ASSERT_TRUE(gp.basis);
  EXPECT_EQ(gp.basis->name, "SG-CP");
  EXPECT_EQ(gp.basis->regime, Regime::kUkGdpr);
  EXPECT_EQ(gp.basis->article6, "6(1)(e) public task");
  EXPECT_THAT(gp.basis->consent, HasSubstr("para 18(c)"));
  EXPECT_EQ(gp.basis->statutory_gateway, "Children Act 1989 s.47");
  EXPECT_EQ(gp.policy_digest, p->digest());
  EXPECT_EQ(gp.policy_name, "test-policy");
  EXPECT_THAT(gp.reason, HasSubstr("under SG-CP"));
  EXPECT_THAT(gp.reason, HasSubstr("one for record-check does not"));
  ASSERT_FALSE(gp.citations.empty());
  EXPECT_EQ(gp.citations[0].id, "wt-2023");

  FlagDecision school = p->EvaluateFlag({RecipientRole::kSchool, ChildStatus::kChildProtection});
  EXPECT_EQ(school.rule_id, "cp-to-school");
  EXPECT_EQ(school.fields.size(), 4u);
  EXPECT_TRUE(school.silent_look_ups.empty());
  EXPECT_TRUE(school.Withheld().empty());
  EXPECT_THAT(school.reason, HasSubstr("Every look-up notifies the lead worker"));

  FlagDecision eh = p->EvaluateFlag({RecipientRole::kSchool, ChildStatus::kEarlyHelp});
  EXPECT_EQ(eh.rule_id, "early-help-to-school");
  EXPECT_THAT(eh.fields, ElementsAre(FlagField::kPlanType));
  EXPECT_EQ(eh.silent_look_ups.size(), 3u);
  EXPECT_THAT(eh.basis->consent, HasSubstr("given"));
}

TEST(FlagPolicyTest, NoMatchingFlagRuleTellsTheRoleNothingAndSaysWhy) {
  auto p = MustLoad(WithFlags(kFlags));
  ASSERT_TRUE(p);
  struct Case {
    RecipientRole role;
    ChildStatus status;
    const char* reason;
  };
  for (const Case& c :
       {Case{RecipientRole::kGp, ChildStatus::kChildInNeed, "No flag rule"},
        Case{RecipientRole::kHealth, ChildStatus::kLookedAfter, "No flag rule"},
        Case{RecipientRole::kGp, ChildStatus::kNoPlan, "no plan"},
        Case{RecipientRole::kHousing, ChildStatus::kChildProtection, "Flags go only to"},
        Case{RecipientRole::kLeadWorker, ChildStatus::kChildProtection, "Flags go only to"}}) {
    FlagDecision d = p->EvaluateFlag({c.role, c.status});
    EXPECT_FALSE(d.shared) << FormatFlagRequest(d.request);
    EXPECT_EQ(d.rule_id, kDefaultFlagRuleId);
    EXPECT_EQ(d.request.recipient, c.role);
    EXPECT_EQ(d.request.status, c.status);
    EXPECT_FALSE(d.basis);
    EXPECT_TRUE(d.fields.empty());
    EXPECT_TRUE(d.Withheld().empty());
    EXPECT_TRUE(d.silent_look_ups.empty());
    EXPECT_THAT(d.reason, HasSubstr(c.reason));
    EXPECT_EQ(d.policy_digest, p->digest());
  }
  // Values outside the enums (a cast from a wire value) are told nothing, never a crash.
  FlagDecision odd = p->EvaluateFlag({static_cast<RecipientRole>(200), ChildStatus::kEarlyHelp});
  EXPECT_FALSE(odd.shared);
}

TEST(FlagPolicyTest, APolicyWithoutFlagsSharesNoFlags) {
  auto p = MustLoad(Policy(kRiskRule));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->flag_rule_count(), 0);
  for (int r = 0; r < kRecipientRoleCount; ++r) {
    for (int s = 0; s < kChildStatusCount; ++s) {
      FlagDecision d =
          p->EvaluateFlag({static_cast<RecipientRole>(r), static_cast<ChildStatus>(s)});
      EXPECT_FALSE(d.shared);
      EXPECT_FALSE(d.reason.empty());
    }
  }
}

// Adding flags changes no notification decision (same rules, same answers over the space).
TEST(FlagPolicyTest, FlagsLeaveNotificationDecisionsUnchanged) {
  std::string plain = Policy(kRiskRule);
  plain.insert(plain.find("rules:\n"), kSgCp);
  auto without = MustLoad(plain);
  auto with = MustLoad(WithFlags(kFlags));
  ASSERT_TRUE(without && with);
  SharingRequest r;
  for (auto type : AllNotificationTypes()) {
    r.type = type;
    for (int st = 0; st < kChildStatusCount; ++st) {
      r.child_status = static_cast<ChildStatus>(st);
      for (bool risk : {false, true}) {
        r.risk_of_harm = risk;
        for (int role = 0; role < kRecipientRoleCount; ++role) {
          r.recipient = static_cast<RecipientRole>(role);
          Decision a = without->Evaluate(r), b = with->Evaluate(r);
          ASSERT_EQ(a.outcome, b.outcome) << FormatRequest(r);
          ASSERT_EQ(a.rule_id, b.rule_id) << FormatRequest(r);
          ASSERT_EQ(a.disclosed, b.disclosed) << FormatRequest(r);
        }
      }
    }
  }
}

TEST(FlagPolicyTest, ExplainFlagSaysHowEachFlagRuleBoreOnIt) {
  auto p = MustLoad(WithFlags(kFlags));
  ASSERT_TRUE(p);
  FlagExplanation e = p->ExplainFlag({RecipientRole::kGp, ChildStatus::kChildProtection});
  EXPECT_EQ(e.decision.rule_id, "cp-to-gp");
  ASSERT_EQ(e.rules.size(), 3u);
  EXPECT_EQ(e.rules[0].verdict, RuleTrace::Verdict::kDecided);
  EXPECT_EQ(e.rules[1].verdict, RuleTrace::Verdict::kOverridden);
  EXPECT_THAT(e.rules[1].detail, HasSubstr("'cp-to-gp'"));
  EXPECT_EQ(e.rules[2].verdict, RuleTrace::Verdict::kNotForRecipient);
  e = p->ExplainFlag({RecipientRole::kSchool, ChildStatus::kLookedAfter});
  EXPECT_EQ(e.rules[1].verdict, RuleTrace::Verdict::kNotMatched);
  EXPECT_THAT(e.rules[1].detail, HasSubstr("status looked-after is not among: child-protection"));
}

TEST(FlagPolicyTest, FlagRecordsRenderForPeopleAndAsJson) {
  auto p = MustLoad(WithFlags(kFlags));
  ASSERT_TRUE(p);
  FlagDecision d = p->EvaluateFlag({RecipientRole::kGp, ChildStatus::kChildProtection});
  std::string json = FlagDecisionToJson(d);
  EXPECT_THAT(json, HasSubstr(R"("flag":"share")"));
  EXPECT_THAT(json, HasSubstr(R"("request":{"recipient":"gp","status":"child-protection"})"));
  EXPECT_THAT(json, HasSubstr(R"("fields":["plan-type","lead-worker","escalation-contact"])"));
  EXPECT_THAT(json, HasSubstr(R"("withheld":["plan-dates"])"));
  EXPECT_THAT(json, HasSubstr(R"("silent_look_ups":["record-check"])"));
  std::string text = FormatFlagDecision(d);
  EXPECT_THAT(text, HasSubstr("look-ups that notify the lead worker: attendance, registration"));
}

TEST(FlagPolicyTest, BrokenFlagRulesAreRefusedWithTheirLine) {
  std::string text = WithFlags(R"yaml(  - id: bad
    citations: [nowhere]
    to: [gp, police]
    status: [no-plan, child-protection]
    fields: [plan-type, diagnosis]
    basis: SG-CP
    silent-look-ups: [whenever]
  - id: risk-to-front-door
    to: [gp]
    status: [child-protection]
    fields: [plan-type]
    basis: NOPE
)yaml");
  LintReport report = LintPolicyText("policy.yaml", text);
  std::set<std::string> found;
  for (const Diagnostic& d : report.diagnostics) {
    found.insert(absl::StrCat(KindName(d.kind), "@", d.line));
  }
  EXPECT_EQ(found, (std::set<std::string>{
                       absl::StrCat("no-citation@", LineOf(text, "[nowhere]")),
                       absl::StrCat("unlawful@", LineOf(text, "to: [gp, police]")),
                       absl::StrCat("unlawful@", LineOf(text, "[no-plan, child-protection]")),
                       absl::StrCat("unknown-name@", LineOf(text, "diagnosis")),
                       absl::StrCat("unknown-name@", LineOf(text, "[whenever]")),
                       absl::StrCat("no-citation@", LastLineOf(text, "- id: risk-to-front-door")),
                       absl::StrCat("duplicate@", LastLineOf(text, "- id: risk-to-front-door")),
                       absl::StrCat("unknown-name@", LineOf(text, "basis: NOPE")),
                   }))
      << report.diagnostics.size();
  EXPECT_FALSE(SharingPolicy::FromText("policy.yaml", text).ok());
}

TEST(FlagPolicyTest, AFlagRuleEntirelyDecidedByEarlierOnesIsAWarning) {
  std::string text = WithFlags(R"yaml(  - id: first
    citations: [wt-2023]
    to: [gp, health]
    status: [child-protection]
    fields: [plan-type]
    basis: SG-CP
  - id: partly-new
    citations: [wt-2023]
    to: [gp, school]
    status: [child-protection]
    fields: [plan-type, lead-worker]
    basis: SG-CP
  - id: never
    citations: [wt-2023]
    to: [school, health]
    status: [child-protection]
    fields: [plan-type, lead-worker]
    basis: SG-CP
)yaml");
  LintReport report = LintPolicyText("policy.yaml", text);
  ASSERT_EQ(report.diagnostics.size(), 1u);
  EXPECT_EQ(report.errors(), 0);
  EXPECT_EQ(report.diagnostics[0].kind, Diagnostic::Kind::kShadowed);
  EXPECT_EQ(report.diagnostics[0].line, LineOf(text, "- id: never"));
  EXPECT_THAT(report.diagnostics[0].message, HasSubstr("'first'"));
  EXPECT_THAT(report.diagnostics[0].message, HasSubstr("'partly-new'"));
  auto p = MustLoad(text);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->warnings().size(), 1u);
}

TEST(FlagPolicyTest, VocabularyRoundTrips) {
  for (int f = 0; f < kFlagFieldCount; ++f) {
    EXPECT_EQ(ParseFlagField(FlagFieldName(static_cast<FlagField>(f))), static_cast<FlagField>(f));
  }
  for (int r = 0; r < kLookupReasonCount; ++r) {
    EXPECT_EQ(ParseLookupReason(LookupReasonName(static_cast<LookupReason>(r))),
              static_cast<LookupReason>(r));
  }
  EXPECT_EQ(FlagFieldName(FlagField::kEscalationContact), "escalation-contact");
  EXPECT_EQ(LookupReasonName(LookupReason::kRecordCheck), "record-check");
  EXPECT_FALSE(ParseFlagField("address"));
  EXPECT_FALSE(ParseLookupReason(""));
  EXPECT_TRUE(IsFlagRecipient(RecipientRole::kSchool));
  EXPECT_FALSE(IsFlagRecipient(RecipientRole::kLeadWorker));
  EXPECT_EQ(NotificationTypeName(safeguard::v1::NOTIFICATION_TYPE_HEALTH_ATTENDANCE),
            "health-attendance");
  EXPECT_EQ(NotificationTypeName(safeguard::v1::NOTIFICATION_TYPE_FLAG_LOOKED_UP),
            "flag-looked-up");
  EXPECT_EQ(ParseNotificationType("flag-looked-up"),
            safeguard::v1::NOTIFICATION_TYPE_FLAG_LOOKED_UP);
  EXPECT_GE(TypeIndex(safeguard::v1::NOTIFICATION_TYPE_FLAG_LOOKED_UP), 0);
}

}  // namespace
}  // namespace safeguard::policy
