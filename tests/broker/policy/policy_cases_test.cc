#include "broker/policy/policy_cases.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/broker/policy/test_policy.h"

namespace safeguard::policy {
namespace {

using ::testing::HasSubstr;

constexpr char kCases[] = R"yaml(format: safeguard-policy-cases/v1
cases:
  - name: risk goes to the front door
    given: {sender: gp, type: was-not-brought, status: no-plan, consent: refused, risk: true}
    expect:
      front-door: {decision: share, rule: risk-to-front-door, basis: SG-RISK, regime: uk-gdpr,
                   deadline: one-working-day, consent: "para 18(c)",
                   fields: [child-identity, summary, details, address, health-details, police-details]}
      school: withhold
  - name: a wrong expectation
    given: {sender: police, type: was-not-brought, status: no-plan, consent: given, risk: true}
    expect:
      front-door: {decision: share, regime: uk-gdpr, deadline: same-day}
      school: share
)yaml";

std::shared_ptr<const SharingPolicy> Load() {
  auto p = SharingPolicy::FromText("p.yaml", testing::Policy(testing::kRiskRule));
  EXPECT_TRUE(p.ok()) << p.status();
  return *p;
}

TEST(PolicyCasesTest, CountsCasesAndReportsEachFailedExpectationWithItsLine) {
  auto cases = ParseCases("c.yaml", kCases);
  ASSERT_TRUE(cases.ok()) << cases.status();
  ASSERT_EQ(cases->cases.size(), 2u);
  CaseResults r = RunCases(*Load(), *cases);
  EXPECT_EQ(r.passed, 1);
  EXPECT_EQ(r.failed, 1);
  ASSERT_EQ(r.failures.size(), 3u);
  EXPECT_EQ(r.failures[0].case_name, "a wrong expectation");
  EXPECT_EQ(r.failures[0].line, testing::LineOf(kCases, "front-door: {decision: share, regime"));
  EXPECT_THAT(r.failures[0].message, HasSubstr("expected regime uk-gdpr, got law-enforcement"));
  EXPECT_THAT(r.failures[1].message, HasSubstr("expected deadline same-day, got one-working-day"));
  EXPECT_THAT(r.failures[2].message, HasSubstr("school: expected share, got withhold"));
}

TEST(PolicyCasesTest, InvalidCasesAreRefusedWithLineAndColumn) {
  std::string text = R"yaml(format: safeguard-policy-cases/v1
cases:
  - name: typo
    given: {sender: gp, type: was-not-brought, status: no-plan, consent: maybe, risk: true}
    expect: {front-door: share, nobody: share}
)yaml";
  auto cases = ParseCases("c.yaml", text);
  ASSERT_FALSE(cases.ok());
  EXPECT_THAT(cases.status().message(), HasSubstr("c.yaml:4:"));
  EXPECT_THAT(cases.status().message(), HasSubstr("unknown consent 'maybe'"));
  EXPECT_THAT(cases.status().message(), HasSubstr("c.yaml:5:"));
  EXPECT_THAT(cases.status().message(), HasSubstr("unknown recipient role 'nobody'"));
}

TEST(PolicyCasesTest, EveryGivenKeyIsRequiredButTheReason) {
  auto cases = ParseCases("c.yaml", R"yaml(format: safeguard-policy-cases/v1
cases:
  - name: short
    given: {sender: gp, type: was-not-brought}
    expect: {front-door: share}
)yaml");
  ASSERT_FALSE(cases.ok());
  EXPECT_THAT(cases.status().message(), HasSubstr("needs 'status'"));
  EXPECT_THAT(cases.status().message(), HasSubstr("needs 'consent'"));
  EXPECT_THAT(cases.status().message(), HasSubstr("needs 'risk'"));
}

constexpr char kFlagCases[] = R"yaml(format: safeguard-policy-cases/v1
cases:
  - name: no flags in the test policy
    flag: {to: gp, status: child-protection}
    expect: withhold
  - name: a wrong flag expectation
    flag: {to: school, status: looked-after}
    expect: {decision: share, rule: somewhere, fields: [plan-type], silent-look-ups: []}
)yaml";

TEST(PolicyCasesTest, FlagCasesAreRunAndFailuresNameTheirLine) {
  auto cases = ParseCases("c.yaml", kFlagCases);
  ASSERT_TRUE(cases.ok()) << cases.status();
  ASSERT_EQ(cases->cases.size(), 2u);
  ASSERT_TRUE(cases->cases[1].flag);
  EXPECT_EQ(cases->cases[1].flag->recipient, RecipientRole::kSchool);
  EXPECT_EQ(cases->cases[1].flag->status, ChildStatus::kLookedAfter);
  ASSERT_TRUE(cases->cases[1].flag_expect);
  EXPECT_TRUE(cases->cases[1].flag_expect->silent_look_ups->empty());
  CaseResults r = RunCases(*Load(), *cases);
  EXPECT_EQ(r.passed, 1);
  EXPECT_EQ(r.failed, 1);
  ASSERT_EQ(r.failures.size(), 3u);
  EXPECT_EQ(r.failures[0].line, testing::LineOf(kFlagCases, "expect: {decision: share"));
  EXPECT_THAT(r.failures[0].message,
              HasSubstr("flag to=school status=looked-after: expected share, got withhold"));
  EXPECT_THAT(r.failures[1].message, HasSubstr("expected flag rule somewhere"));
  EXPECT_THAT(r.failures[2].message, HasSubstr("expected fields plan-type, shared none"));
}

TEST(PolicyCasesTest, AFlagCaseIsCheckedLikeAnyOther) {
  auto cases = ParseCases("c.yaml", R"yaml(format: safeguard-policy-cases/v1
cases:
  - name: both
    given: {sender: gp, type: was-not-brought, status: no-plan, consent: given, risk: true}
    flag: {to: gp, status: child-protection}
    expect: withhold
  - name: typos
    flag: {to: gp, status: child-protection-plan}
    expect: {decision: share, fields: [plan-type, address], silent-look-ups: [sometimes]}
)yaml");
  ASSERT_FALSE(cases.ok());
  EXPECT_THAT(cases.status().message(), HasSubstr("both 'given' and 'flag'"));
  EXPECT_THAT(cases.status().message(), HasSubstr("c.yaml:8:"));
  EXPECT_THAT(cases.status().message(), HasSubstr("unknown status 'child-protection-plan'"));
  EXPECT_THAT(cases.status().message(), HasSubstr("unknown name 'address'"));
  EXPECT_THAT(cases.status().message(), HasSubstr("unknown name 'sometimes'"));
}

}  // namespace
}  // namespace safeguard::policy
