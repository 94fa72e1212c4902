// Lint for sharing policies: every problem SharingPolicy would refuse the file for (unknown
// sender types, notification types, statuses, roles or fields; rules without a citation;
// overlapping share rules with conflicting outcomes; the language's legal checks) plus what it
// accepts but an author should look at (rules that can never fire, shares a withholding silently
// overrides, overrides that never apply). Each finding has file:line:column.
#ifndef SAFEGUARD_BROKER_POLICY_POLICY_LINT_H_
#define SAFEGUARD_BROKER_POLICY_POLICY_LINT_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "broker/policy/diagnostic.h"

namespace safeguard::policy {

struct LintReport {
  std::string file;
  std::vector<Diagnostic> diagnostics;  // sorted by line

  int errors() const;
  int warnings() const;
  bool clean() const { return diagnostics.empty(); }
};

// Thread-safe (pure functions). A file that cannot be read is one error.
LintReport LintPolicyFile(const std::string& path);
LintReport LintPolicyText(absl::string_view file_name, const std::string& text);

}  // namespace safeguard::policy

#endif  // SAFEGUARD_BROKER_POLICY_POLICY_LINT_H_
