// The lawful-basis sharing policy: a versioned YAML file of rules (docs/policy.md) compiled into
// a decision table. For each question "may this notification go to this recipient?" it answers
// share (with the lawful basis, purpose, fields and deadline class) or withhold (with the
// reason), naming the rule that decided and the SHA-256 of the policy file.
//
//   ASSIGN_OR_RETURN(auto policy, SharingPolicy::LoadFile("/etc/safeguard/policy.yaml"));
//   Decision d = policy->Evaluate({.sender = NodeType::kGp, .type = WAS_NOT_BROUGHT,
//                                  .child_status = ChildStatus::kChildProtection,
//                                  .consent = ConsentState::kRefused, .risk_of_harm = true,
//                                  .recipient = RecipientRole::kFrontDoor});
//
// Semantics, in brief: no matching rule means withhold; a matching withhold rule always wins
// over share rules (forbid overrides permit); among share rules the most specific wins (the one
// whose match is a strict subset of the other's, or that names the other in `overrides`);
// overlapping share rules with different outcomes and no such order make the policy invalid.
//
// Flags (the `flags:` section): what a GP, health or school node serving a child is told about
// the child's plan. The first flag rule (file order) naming the role and the plan's status
// decides; none matching means the role is told nothing.
//
//   FlagDecision f = policy->EvaluateFlag({.recipient = RecipientRole::kGp,
//                                          .status = ChildStatus::kChildProtection});
//   if (f.shared && !f.SilentLookUp(LookupReason::kAttendance)) { /* notify the lead worker */ }
#ifndef SAFEGUARD_BROKER_POLICY_SHARING_POLICY_H_
#define SAFEGUARD_BROKER_POLICY_SHARING_POLICY_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "broker/policy/cumulative_rule.h"
#include "broker/policy/deadline_rule.h"
#include "broker/policy/decision.h"
#include "broker/policy/diagnostic.h"

namespace safeguard::policy {

namespace internal {
struct CompiledPolicy;
}

// How one rule bore on one request (safeguardctl policy explain).
struct RuleTrace {
  enum class Verdict {
    kDecided,          // this rule made the decision
    kOverridden,       // matched, but another rule decided (detail says which and why)
    kNotMatched,       // speaks about this recipient but not this request (detail says why)
    kNotForRecipient,  // does not speak about this recipient at all
  };
  std::string rule_id;
  int line = 0;
  Outcome outcome = Outcome::kWithhold;  // what the rule does when it decides
  Verdict verdict = Verdict::kNotMatched;
  std::string detail;
};

struct Explanation {
  Decision decision;
  std::vector<RuleTrace> rules;  // every rule of the policy, in file order
};

struct FlagExplanation {
  FlagDecision decision;
  // Every flag rule, in file order (outcome kShare): kDecided, kOverridden (matches, but an
  // earlier flag rule decided), kNotMatched (names the role, not the status) or kNotForRecipient.
  std::vector<RuleTrace> rules;
};

// Immutable once loaded; thread-safe.
class SharingPolicy {
 public:
  // Reads, validates and compiles a policy file. NOT_FOUND when it cannot be read;
  // INVALID_ARGUMENT listing each error as file:line:column: message otherwise.
  static absl::StatusOr<std::shared_ptr<const SharingPolicy>> LoadFile(const std::string& path);
  // The same from text already read; `file_name` is used in messages only. The digest is the
  // SHA-256 of `text`.
  static absl::StatusOr<std::shared_ptr<const SharingPolicy>> FromText(absl::string_view file_name,
                                                                       const std::string& text);
  // Every problem in a policy, errors and warnings, without refusing it (what lint prints).
  static std::vector<Diagnostic> Check(absl::string_view file_name, const std::string& text);

  ~SharingPolicy();
  SharingPolicy(const SharingPolicy&) = delete;
  SharingPolicy& operator=(const SharingPolicy&) = delete;

  // The decision for one recipient. Never fails: a request the policy cannot place (a type
  // unknown to it, a sender that cannot send) is withheld with a reason. p50 about 0.3 µs.
  Decision Evaluate(const SharingRequest& request) const;
  // The decision for every recipient role, in RecipientRole order (request.recipient ignored).
  std::vector<Decision> EvaluateAll(const SharingRequest& request) const;
  // The decision and how each rule bore on it. Slower than Evaluate (it re-resolves the
  // request rule by rule); for tools, not the delivery path.
  Explanation Explain(const SharingRequest& request) const;

  // What a node of request.recipient is told about a plan of request.status (registry flags and
  // look-ups). Never fails: a role other than gp, health or school, or status no-plan, is told
  // nothing, with a reason. One table lookup and a copy of a prebuilt record.
  FlagDecision EvaluateFlag(const FlagRequest& request) const;
  FlagExplanation ExplainFlag(const FlagRequest& request) const;

  // The deadline classes (`deadlines:`) and how each turns an acceptance time into a due time
  // (broker/calendar applies them). A class given only a description has kind kNone.
  const std::map<std::string, DeadlineRule>& deadline_rules() const;
  // The rule of one class, or nullptr when the policy has no such class.
  const DeadlineRule* FindDeadlineRule(absl::string_view deadline_class) const;

  // The cumulative-concern rules (`cumulative:`), in file order, and the plan-drift thresholds
  // (`drift:`, defaults when absent); broker/concern applies them (docs/concern.md).
  const std::vector<CumulativeRule>& cumulative_rules() const;
  const DriftSettings& drift() const;

  const std::string& name() const;
  const std::string& version() const;
  const std::string& digest() const;  // lowercase hex SHA-256 of the file's bytes
  const std::string& file() const;
  int rule_count() const;
  int flag_rule_count() const;
  // Warnings found at load (rules that never fire, shadowed shares, unused overrides).
  const std::vector<Diagnostic>& warnings() const { return warnings_; }

 private:
  SharingPolicy(std::unique_ptr<internal::CompiledPolicy> compiled,
                std::vector<Diagnostic> warnings);

  std::unique_ptr<const internal::CompiledPolicy> compiled_;
  std::vector<Diagnostic> warnings_;
};

}  // namespace safeguard::policy

#endif  // SAFEGUARD_BROKER_POLICY_SHARING_POLICY_H_
