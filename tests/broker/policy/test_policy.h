// Small policies for the engine's tests: a complete head (references, regimes, deadlines,
// datasets, two bases) to which each test appends its rules.
#ifndef SAFEGUARD_TESTS_BROKER_POLICY_TEST_POLICY_H_
#define SAFEGUARD_TESTS_BROKER_POLICY_TEST_POLICY_H_

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace safeguard::policy::testing {

inline constexpr char kPolicyHead[] = R"yaml(format: safeguard-sharing-policy/v1
name: test-policy
version: "7"
references:
  isa-2024:
    title: "HM Government, Information sharing advice (2024)"
    url: https://www.gov.uk/government/publications/safeguarding-practitioners-information-sharing-advice
  wt-2023:
    title: "HM Government, Working Together to Safeguard Children 2023"
regimes:
  uk-gdpr: [gp, school, housing, front-door, social-care, health, early-help]
  law-enforcement: [police]
deadlines:
  same-day: "Before the end of the working day."
  one-working-day: "By the end of the next working day."
datasets:
  front-door: [child-identity, summary, details, address, health-details, police-details]
  lead-worker: [child-identity, summary, details, address]
  school: [child-identity, summary]
  gp: [child-identity, summary, health-details]
bases:
  SG-RISK:
    description: "Safeguarding: risk of harm"
    uk_gdpr:
      article6: "6(1)(e) public task"
      article9: "9(2)(g) substantial public interest"
      schedule1: "DPA 2018 Sch 1 para 18"
      without_consent: "DPA 2018 Sch 1 para 18(c): without consent"
    law_enforcement:
      lawful_processing: "DPA 2018 s.35(2)(b)"
      sensitive_processing: "DPA 2018 s.35(5) and Sch 8 para 4"
      without_consent: "DPA 2018 Sch 8 para 4: without consent"
    gateway: "Children Act 2004 s.11"
    citations: [isa-2024]
    requires:
      risk: true
  CONSENT:
    uk_gdpr:
      article6: "6(1)(a) consent"
    law_enforcement:
      lawful_processing: "DPA 2018 s.35(2)(a)"
    gateway: "Children Act 2004 s.10"
    citations: [wt-2023]
    requires:
      consent: [given]
      risk: false
rules:
)yaml";

// The rule every test policy starts with: risk of harm -> front door and lead worker.
inline constexpr char kRiskRule[] = R"yaml(  - id: risk-to-front-door
    citations: [isa-2024, wt-2023]
    match:
      risk: true
    share:
      to: [front-door, lead-worker]
      basis: SG-RISK
      purpose: "Triage of a risk of harm."
      deadline: one-working-day
)yaml";

inline std::string Policy(absl::string_view rules) { return absl::StrCat(kPolicyHead, rules); }

// 1-based line of the first line containing `needle`, or 0.
inline int LineOf(const std::string& text, absl::string_view needle) {
  int line = 0;
  for (absl::string_view l : absl::StrSplit(text, '\n')) {
    ++line;
    if (l.find(needle) != absl::string_view::npos) return line;
  }
  return 0;
}

inline std::string TempDir() {
  const char* t = std::getenv("TEST_TMPDIR");
  return t != nullptr ? t : "/tmp";
}

inline std::string WriteFile(const std::string& name, absl::string_view text) {
  // Unique per process: ctest runs each test case as its own process, in parallel.
  std::string path = absl::StrCat(TempDir(), "/policy-test-", getpid(), "-", name);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  return path;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace safeguard::policy::testing

#endif  // SAFEGUARD_TESTS_BROKER_POLICY_TEST_POLICY_H_
