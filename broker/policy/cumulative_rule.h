// Cumulative-concern rules (`cumulative:`) and plan-drift thresholds (`drift:`) of the sharing
// policy (docs/policy.md, docs/concern.md). The policy only states them; broker/concern applies
// them to the chronology and the plan registry.
#ifndef SAFEGUARD_BROKER_POLICY_CUMULATIVE_RULE_H_
#define SAFEGUARD_BROKER_POLICY_CUMULATIVE_RULE_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "safeguard/v1/notification.pb.h"

namespace safeguard::policy {

// "Raise a cumulative concern when at least `at_least` events of `types` about one child (or
// household) were accepted within `within`, from at least `agencies_at_least` sending nodes."
// Value type.
struct CumulativeRule {
  enum class Scope {
    kChild,      // events about the child (any of the child's identifiers)
    kHousehold,  // events about any member of any household the child belongs to
  };
  std::string id;
  std::string description;
  std::vector<std::string> citations;
  std::vector<safeguard::v1::NotificationType> types;  // never empty once parsed
  Scope scope = Scope::kChild;
  absl::Duration within = absl::ZeroDuration();  // > 0 once parsed
  int at_least = 1;                              // >= 1
  int agencies_at_least = 1;                     // distinct senders, >= 1
  // `after-outcome: no-further-action`: count only events accepted after a recorded
  // no-further-action outcome on an earlier event about the same child (or household).
  bool after_no_further_action = false;
  int line = 0;  // where the rule starts (1-based)

  bool Counts(safeguard::v1::NotificationType type) const {
    for (auto t : types) {
      if (t == type) return true;
    }
    return false;
  }
};

// When open plans have drifted (`drift:`); each threshold has a default, so a policy without
// the section still gets drift alerts. Value type.
struct DriftSettings {
  // A plan open longer than this with no new version within `progress_window` has drifted
  // (requirements SC-03 / §4.7: "9-12 months").
  absl::Duration plan_length = absl::Hours(24 * 273);
  absl::Duration progress_window = absl::Hours(24 * 28);
  // Child-protection plans: core groups at least this often (Working Together 2023: monthly).
  absl::Duration core_group_interval = absl::Hours(24 * 31);
  // How often the broker checks the registry (and at start-up).
  absl::Duration check_every = absl::Minutes(10);
  int line = 0;  // 0: the policy has no drift section (defaults)
};

}  // namespace safeguard::policy

#endif  // SAFEGUARD_BROKER_POLICY_CUMULATIVE_RULE_H_
