// Reads a policy file (YAML, parsed by yaml-cpp) into a PolicyModel and checks everything that
// can be checked rule by rule: the shape, every name, citations, datasets, and the legal checks
// of the language (docs/policy.md). Checks that need all rules at once (conflicts, rules that
// never fire) are policy_compiler's.
#ifndef SAFEGUARD_BROKER_POLICY_INTERNAL_POLICY_PARSER_H_
#define SAFEGUARD_BROKER_POLICY_INTERNAL_POLICY_PARSER_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "broker/policy/diagnostic.h"
#include "broker/policy/internal/policy_model.h"

namespace safeguard::policy::internal {

inline constexpr char kPolicyFormat[] = "safeguard-sharing-policy/v1";

// Thread-safe (pure function). Appends every problem found to `diagnostics` (errors for what
// makes the policy unusable); returns what could be parsed. Rules with an error of their own are
// marked !valid.
PolicyModel ParsePolicy(absl::string_view file, const std::string& text,
                        std::vector<Diagnostic>* diagnostics);

}  // namespace safeguard::policy::internal

#endif  // SAFEGUARD_BROKER_POLICY_INTERNAL_POLICY_PARSER_H_
