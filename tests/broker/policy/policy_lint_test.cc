// Each file under testdata/ holds one kind of mistake; its second line says what lint must find:
//   # lint-expect: conflict@65          (kind@line, several separated by spaces, or "nothing")
#include "broker/policy/policy_lint.h"

#include <dirent.h>

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "broker/policy/sharing_policy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/broker/policy/test_policy.h"

namespace safeguard::policy {
namespace {

using ::testing::HasSubstr;

std::vector<std::string> TestdataFiles() {
  std::vector<std::string> out;
  DIR* dir = opendir(SAFEGUARD_POLICY_TESTDATA);
  if (dir == nullptr) return out;
  while (dirent* e = readdir(dir)) {
    if (absl::EndsWith(e->d_name, ".yaml")) out.push_back(e->d_name);
  }
  closedir(dir);
  std::sort(out.begin(), out.end());
  return out;
}

std::set<std::string> Expected(const std::string& text) {
  std::set<std::string> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, "# lint-expect:")) continue;
    for (absl::string_view item : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
      if (item != "nothing") out.insert(std::string(item));
    }
    return out;
  }
  ADD_FAILURE() << "no '# lint-expect:' line";
  return out;
}

class LintTestdataTest : public ::testing::TestWithParam<std::string> {};

TEST_P(LintTestdataTest, FindsExactlyTheMistakeItHolds) {
  std::string path = absl::StrCat(SAFEGUARD_POLICY_TESTDATA, "/", GetParam());
  std::string text = testing::ReadFile(path);
  LintReport report = LintPolicyFile(path);
  std::set<std::string> found;
  for (const Diagnostic& d : report.diagnostics) {
    found.insert(absl::StrCat(KindName(d.kind), "@", d.line));
    EXPECT_EQ(d.file, path);
    EXPECT_GT(d.line, 0) << d.ToString();
    EXPECT_GT(d.column, 0) << d.ToString();
    EXPECT_THAT(d.ToString(),
                ::testing::StartsWith(absl::StrCat(path, ":", d.line, ":", d.column, ": ")));
  }
  EXPECT_EQ(found, Expected(text));

  // Errors make the broker refuse the file, with the same place; warnings do not.
  auto loaded = SharingPolicy::LoadFile(path);
  if (report.errors() > 0) {
    ASSERT_FALSE(loaded.ok());
    EXPECT_THAT(loaded.status().message(),
                HasSubstr(absl::StrCat(path, ":", report.diagnostics[0].line, ":")));
  } else {
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ((*loaded)->warnings().size(), report.diagnostics.size());
  }
}

INSTANTIATE_TEST_SUITE_P(Testdata, LintTestdataTest, ::testing::ValuesIn(TestdataFiles()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name(absl::StripSuffix(info.param, ".yaml"));
                           return name;
                         });

TEST(LintTest, EveryKindOfMistakeHasATestdataFile) {
  std::set<std::string> kinds;
  for (const std::string& f : TestdataFiles()) {
    for (const std::string& e :
         Expected(testing::ReadFile(absl::StrCat(SAFEGUARD_POLICY_TESTDATA, "/", f)))) {
      kinds.insert(e.substr(0, e.find('@')));
    }
  }
  for (const char* kind : {"syntax", "unknown-name", "duplicate", "no-citation", "unlawful",
                           "conflict", "never-fires", "shadowed", "unused-override"}) {
    EXPECT_TRUE(kinds.count(kind)) << kind;
  }
}

TEST(LintTest, ReportsEveryProblemNotJustTheFirst) {
  std::string text = testing::Policy(R"yaml(  - id: a
    match: {types: [bogus-one], risk: true}
    share: {to: [front-door], basis: SG-RISK, purpose: "P.", deadline: same-day}
  - id: b
    citations: [isa-2024]
    match: {risk: true}
    share: {to: [nobody], basis: SG-RISK, purpose: "P.", deadline: same-day}
)yaml");
  LintReport report = LintPolicyText("many.yaml", text);
  EXPECT_EQ(report.errors(), 3) << report.diagnostics.size();
  ASSERT_EQ(report.diagnostics.size(), 3u);
  EXPECT_EQ(report.diagnostics[0].kind, Diagnostic::Kind::kNoCitation);
  EXPECT_EQ(report.diagnostics[1].kind, Diagnostic::Kind::kUnknownName);
  EXPECT_EQ(report.diagnostics[2].kind, Diagnostic::Kind::kUnknownName);
  EXPECT_EQ(report.diagnostics[2].rule_id, "b");
}

TEST(LintTest, AnEmptyOrUnreadableFileIsAnError) {
  EXPECT_EQ(LintPolicyText("empty.yaml", "").errors(), 1);
  EXPECT_EQ(LintPolicyFile("/nonexistent/policy.yaml").errors(), 1);
  LintReport report = LintPolicyText("list.yaml", "- just\n- a list\n");
  ASSERT_EQ(report.errors(), 1);
  EXPECT_THAT(report.diagnostics[0].message, HasSubstr("must be a mapping"));
}

TEST(LintTest, AnUnsupportedFormatIsRefused) {
  std::string text = testing::Policy(testing::kRiskRule);
  text.replace(0, text.find('\n'), "format: safeguard-sharing-policy/v9");
  LintReport report = LintPolicyText("v9.yaml", text);
  ASSERT_EQ(report.errors(), 1);
  EXPECT_EQ(report.diagnostics[0].line, 1);
  EXPECT_THAT(report.diagnostics[0].message, HasSubstr("use format: safeguard-sharing-policy/v1"));
}

}  // namespace
}  // namespace safeguard::policy
