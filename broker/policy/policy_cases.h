// Test cases for a sharing policy, as OPA's policy tests are: a YAML file of requests with the
// decisions expected for named recipients, and of flag questions (role, plan status) with the
// flag expected (deploy/policy/england.cases.yaml, docs/policy.md).
// `safeguardctl policy test POLICY CASES` runs them; so does the default policy's unit test.
#ifndef SAFEGUARD_BROKER_POLICY_POLICY_CASES_H_
#define SAFEGUARD_BROKER_POLICY_POLICY_CASES_H_

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "broker/policy/decision.h"
#include "broker/policy/sharing_policy.h"

namespace safeguard::policy {

// What one case expects for one recipient; unset parts are not checked.
struct Expectation {
  RecipientRole recipient = RecipientRole::kFrontDoor;
  int line = 0;
  Outcome outcome = Outcome::kWithhold;
  std::optional<std::string> rule;
  std::optional<std::string> basis;  // the basis name, e.g. SG-RISK
  std::optional<Regime> regime;
  std::optional<std::string> deadline;
  std::optional<FieldSet> fields;      // exactly the fields disclosed
  std::optional<std::string> consent;  // text the basis's consent record must contain
  std::optional<std::string> reason;   // text the reason must contain
};

// What a flag case expects; unset parts are not checked.
struct FlagExpectation {
  int line = 0;
  bool shared = false;
  std::optional<std::string> rule;
  std::optional<std::string> basis;
  std::optional<std::set<FlagField>> fields;              // exactly the fields shared
  std::optional<std::set<LookupReason>> silent_look_ups;  // exactly the silent reasons
  std::optional<std::string> reason;                      // text the reason must contain
};

// A case is either about a notification (`given` + `expect` per role) or about a flag
// (`flag: {to, status}` + `expect` for that role).
struct PolicyCase {
  std::string name;
  int line = 0;
  SharingRequest request;  // request.recipient is set from each expectation
  std::vector<Expectation> expect;
  std::optional<FlagRequest> flag;  // set for a flag case
  std::optional<FlagExpectation> flag_expect;
};

struct CaseFile {
  std::string file;
  std::vector<PolicyCase> cases;
};

// INVALID_ARGUMENT with file:line:column for each problem; NOT_FOUND if unreadable.
absl::StatusOr<CaseFile> LoadCaseFile(const std::string& path);
absl::StatusOr<CaseFile> ParseCases(absl::string_view file_name, const std::string& text);

struct CaseFailure {
  std::string case_name;
  std::string file;
  int line = 0;  // of the expectation that failed
  std::string message;
};

struct CaseResults {
  int passed = 0;  // cases whose every expectation held
  int failed = 0;
  std::vector<CaseFailure> failures;  // one per failed expectation
};

// Thread-safe (pure function).
CaseResults RunCases(const SharingPolicy& policy, const CaseFile& cases);

}  // namespace safeguard::policy

#endif  // SAFEGUARD_BROKER_POLICY_POLICY_CASES_H_
