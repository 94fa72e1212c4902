// A problem found in a policy or cases file, with where it is: what `safeguardctl policy lint`
// prints and what a refused load reports.
#ifndef SAFEGUARD_BROKER_POLICY_DIAGNOSTIC_H_
#define SAFEGUARD_BROKER_POLICY_DIAGNOSTIC_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace safeguard::policy {

struct Diagnostic {
  enum class Severity { kError, kWarning };
  // The kinds of problem lint tells apart (tests and tools match on them).
  enum class Kind {
    kSyntax,       // not YAML, or not the shape the format requires
    kUnknownName,  // an unknown sender, type, status, consent state, role, field, basis, ...
    kMissing,      // a required key is missing or empty
    kDuplicate,    // a rule id or map key given twice
    kNoCitation,   // a rule without a citation (or citing an unknown reference)
    kUnlawful,     // a rule the language's legal checks refuse (basis, consent, dataset)
    kConflict,     // overlapping share rules with different outcomes and no order between them
    kNeverFires,   // a rule (or one of its recipients) that can never decide
    kShadowed,     // a withhold rule silently overrides part of a share rule, or a flag rule
                   // is entirely decided by earlier flag rules
    kUnusedOverride,
  };

  Severity severity = Severity::kError;
  Kind kind = Kind::kSyntax;
  std::string file;
  int line = 0;         // 1-based; 0 when unknown
  int column = 0;       // 1-based; 0 when unknown
  std::string rule_id;  // when the problem is about one rule
  std::string message;

  bool error() const { return severity == Severity::kError; }
  // "england.yaml:12:5: error: rule 'x': unknown notification type 'was-not-brougt' ..."
  std::string ToString() const;
};

const char* KindName(Diagnostic::Kind kind);  // "syntax", "unknown-name", ... "unused-override"

// INVALID_ARGUMENT listing the errors (up to a handful, then "and N more"), or OK when none.
absl::Status ErrorsToStatus(const std::vector<Diagnostic>& diagnostics);

}  // namespace safeguard::policy

#endif  // SAFEGUARD_BROKER_POLICY_DIAGNOSTIC_H_
