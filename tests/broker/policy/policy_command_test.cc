#include "clients/safeguardctl/policy_command.h"

#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/broker/policy/test_policy.h"

namespace safeguard::ctl {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;

const std::string kPolicy = absl::StrCat(SAFEGUARD_POLICY_DIR, "/england.yaml");
const std::string kCases = absl::StrCat(SAFEGUARD_POLICY_DIR, "/england.cases.yaml");
const std::string kTestdata = SAFEGUARD_POLICY_TESTDATA;

struct Outcome {
  int status;
  std::string out;
  std::string err;
};

Outcome Policy(std::vector<std::string> args) {
  args.insert(args.begin(), "policy");
  auto cl = ParseCommandLine(args, {{"json", false}, {"broker"}, {"identity"}},
                             {{"policy", PolicyCommandFlags()}});
  EXPECT_TRUE(cl.ok()) << cl.status();
  if (!cl.ok()) return {2, "", std::string(cl.status().message())};
  std::ostringstream out, err;
  int status = RunPolicyCommand(*cl, out, err);
  return {status, out.str(), err.str()};
}

std::string LastLine(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  return lines.empty() ? "" : lines.back();
}

TEST(PolicyCommandTest, LintOfTheDefaultPolicyFindsNothing) {
  Outcome r = Policy({"lint", kPolicy});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(r.out, kPolicy + ": no problems found\n");
}

TEST(PolicyCommandTest, LintReportsFileLineAndExitsOne) {
  std::string file = kTestdata + "/conflict.yaml";
  Outcome r = Policy({"lint", file});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.out, HasSubstr(file + ":65:5: error: rules 'health-events-same-day'"));
  EXPECT_EQ(LastLine(r.out), "1 error, 0 warnings");
  r = Policy({"lint", kTestdata + "/never_fires.yaml"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(LastLine(r.out), "0 errors, 1 warning");
}

TEST(PolicyCommandTest, LintOfAMissingFileIsAUsageError) {
  Outcome r = Policy({"lint", "/nonexistent.yaml"});
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("cannot read /nonexistent.yaml"));
  EXPECT_EQ(Policy({"lint"}).status, 2);
  EXPECT_EQ(Policy({"lint", kPolicy, "--sender=gp"}).status, 2);
}

TEST(PolicyCommandTest, ExplainShowsEveryRecipient) {
  Outcome r = Policy({"explain", kPolicy, "--sender=gp", "--type=was-not-brought",
                      "--status=child-protection", "--consent=refused", "--risk"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("request: sender=gp type=was-not-brought status=child-protection "
                               "consent=refused risk=yes\n"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("front-door +SHARE +risk-to-front-door-and-lead-"
                                              "worker:[0-9]+ +SG-RISK +one-working-day"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("auditor +withhold +auditors-read-the-log"));
  EXPECT_THAT(r.out, HasSubstr("Shared with 8 of 10 recipient roles."));
}

TEST(PolicyCommandTest, ExplainForOneRecipientGivesTheRecordAndTheRuleTrace) {
  Outcome r = Policy({"explain", kPolicy, "--sender=police", "--type=new-adult-in-household",
                      "--consent=not-sought", "--consent-reason=would-prejudice-protection",
                      "--risk", "--recipient=lead-worker"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out,
              HasSubstr("SHARE to lead-worker under rule risk-to-front-door-and-lead-worker"));
  EXPECT_THAT(r.out, HasSubstr("regime:    DPA 2018 Part 3 (law enforcement)"));
  EXPECT_THAT(r.out, HasSubstr("consent:   DPA 2018 Sch 8 para 4"));
  EXPECT_THAT(r.out, HasSubstr("How each rule bore on it:"));
  EXPECT_THAT(r.out,
              ::testing::ContainsRegex("risk-to-front-door-and-lead-worker +share +DECIDED"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("cp-plan-network +share +not for it|cp-plan-network "
                                              "+share +no match"));
}

TEST(PolicyCommandTest, ExplainPrintsJsonRecords) {
  Outcome r = Policy(
      {"explain", kPolicy, "--sender=housing", "--type=housing-concern", "--risk", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 10u);
  for (const auto& line : lines) {
    EXPECT_THAT(line, ::testing::StartsWith("{\"decision\":"));
    EXPECT_THAT(line, EndsWith("}"));
  }
}

TEST(PolicyCommandTest, ExplainRefusesUnknownValuesNamingTheKnownOnes) {
  Outcome r = Policy(
      {"explain", kPolicy, "--sender=gp", "--type=was-not-brought", "--status=child-protecton"});
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("--status: unknown value 'child-protecton'; use one of: no-plan"));
  EXPECT_EQ(Policy({"explain", kPolicy, "--type=was-not-brought"}).status, 2);
  EXPECT_EQ(Policy({"explain", kPolicy, "--sender=gp", "--type=x", "--recipient=nobody"}).status,
            2);
  r = Policy({"explain", kPolicy, "--sender=gp", "--type=was-not-brought", "--consent=given",
              "--consent-reason=cannot-be-given"});
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("--consent-reason is for --consent=not-sought"));
}

TEST(PolicyCommandTest, TestRunsTheCasesAndEndsWithTheCount) {
  Outcome r = Policy({"test", kPolicy, kCases});
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(LastLine(r.out), ::testing::MatchesRegex("[0-9]+ passed, 0 failed"));
}

TEST(PolicyCommandTest, TestExitsOneWhenACaseFails) {
  std::string cases =
      policy::testing::WriteFile("failing.cases.yaml", R"yaml(format: safeguard-policy-cases/v1
cases:
  - name: passes
    given: {sender: gp, type: was-not-brought, status: no-plan, consent: refused, risk: true}
    expect: {front-door: share}
  - name: fails
    given: {sender: gp, type: was-not-brought, status: no-plan, consent: refused, risk: true}
    expect: {auditor: share}
)yaml");
  Outcome r = Policy({"test", kPolicy, cases});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.out, HasSubstr(cases + ":8: FAIL fails: auditor: expected share, got withhold"));
  EXPECT_EQ(LastLine(r.out), "1 passed, 1 failed");
}

TEST(PolicyCommandTest, TestOfAnInvalidPolicyIsAUsageErrorNamingTheLine) {
  Outcome r = Policy({"test", kTestdata + "/unknown_type.yaml", kCases});
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown_type.yaml:58:15: error: unknown notification type"));
}

TEST(PolicyCommandTest, HelpForEachSubcommand) {
  Outcome r = Policy({"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.out, HasSubstr("safeguardctl policy lint FILE"));
  for (const char* sub : {"lint", "explain", "test"}) {
    r = Policy({sub, "--help"});
    EXPECT_EQ(r.status, 0) << sub;
    EXPECT_THAT(r.out, HasSubstr(absl::StrCat("safeguardctl policy ", sub, " - "))) << sub;
    EXPECT_EQ(r.out, PolicyHelp(sub));
  }
  EXPECT_EQ(Policy({}).status, 2);
  EXPECT_EQ(Policy({"frobnicate"}).status, 2);
}

TEST(PolicyCommandTest, ExplainFlagListsEachRoleAndStatus) {
  Outcome r = Policy({"explain", kPolicy, "--flag"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("gp      child-protection  SHARE     cp-flags-to-gp-and-health:"));
  EXPECT_THAT(r.out, HasSubstr("silent look-ups: record-check"));
  EXPECT_THAT(r.out, HasSubstr("school  early-help        no flag   default-no-flag"));
  r = Policy({"explain", kPolicy, "--flag", "--recipient=school", "--status=child-protection"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("SHARE of child-protection plans to school under flag rule "
                               "cp-flags-to-school"));
  EXPECT_THAT(r.out, HasSubstr("withheld:  plan-dates"));
  EXPECT_THAT(r.out, HasSubstr("DECIDED"));
  r = Policy({"explain", kPolicy, "--flag", "--recipient=gp", "--status=no-plan", "--json"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(R"("flag":"withhold")"));
  r = Policy({"explain", kPolicy, "--flag", "--sender=gp"});
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("--sender is for notifications, not --flag"));
}

TEST(PolicyCommandTest, TestRunsTheDefaultFlagCases) {
  Outcome r = Policy({"test", kPolicy, kCases});
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(LastLine(r.out), EndsWith(" passed, 0 failed"));
}

}  // namespace
}  // namespace safeguard::ctl
