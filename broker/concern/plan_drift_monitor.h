// Plan drift: a periodic check of every open plan in the registry against the policy's `drift:`
// thresholds (docs/concern.md). Three kinds of lapse, each alerting the plan's team manager
// (else the lead worker's node) with a PLAN_DRIFT notice from the broker, once per lapse:
//   overrun             open longer than plan-length with no new version of the plan within
//                       progress-window (no recorded progress);
//   review-overdue      next_review has passed and the plan has not changed since;
//   core-group-overdue  a child-protection plan whose last core group (last_core_group, else
//                       start) is more than core-group-interval ago.
// The idempotency key "drift:<publisher>:<reference>:<kind>:<due date>" makes each lapse raise
// once, across checks and restarts; a lapse recorded progress ends starts a new due date.
#ifndef SAFEGUARD_BROKER_CONCERN_PLAN_DRIFT_MONITOR_H_
#define SAFEGUARD_BROKER_CONCERN_PLAN_DRIFT_MONITOR_H_

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/common/clock.h"
#include "broker/concern/concern_sink.h"
#include "broker/identity/node_registry.h"
#include "broker/policy/cumulative_rule.h"
#include "broker/registry/registry_store.h"

namespace safeguard::concern {

// One lapse found by a check.
struct DriftAlert {
  std::string kind;  // "overrun", "review-overdue", "core-group-overdue"
  std::string publisher;
  std::string reference;
  absl::Time due;
  std::string idempotency_key;
  bool duplicate = false;  // raised before (e.g. before a restart): nobody told again
};

// Thread-safe.
class PlanDriftMonitor {
 public:
  // The thresholds in force (the policy's `drift:` section).
  using SettingsSource = std::function<policy::DriftSettings()>;
  PlanDriftMonitor(registry::RegistryStore& children, const identity::NodeRegistry& nodes,
                   ConcernSink& sink, const Clock& clock, SettingsSource settings);
  ~PlanDriftMonitor();  // Stop()s
  PlanDriftMonitor(const PlanDriftMonitor&) = delete;
  PlanDriftMonitor& operator=(const PlanDriftMonitor&) = delete;

  // Checks at once, then every `interval` (default: the settings' check_every) until Stop().
  void Start(std::optional<absl::Duration> interval = std::nullopt) ABSL_LOCKS_EXCLUDED(mu_);
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // One check as of `now`, on the calling thread, waiting for each notice to be durable.
  // Returns every lapse found (duplicate ones included).
  std::vector<DriftAlert> CheckNow(absl::Time now);

 private:
  void Run(std::optional<absl::Duration> interval);

  registry::RegistryStore& children_;
  const identity::NodeRegistry& nodes_;
  ConcernSink& sink_;
  const Clock& clock_;
  const SettingsSource settings_;

  absl::Mutex check_mu_;  // one check at a time
  std::set<std::string> raised_ ABSL_GUARDED_BY(check_mu_);  // keys known to be stored

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace safeguard::concern

#endif  // SAFEGUARD_BROKER_CONCERN_PLAN_DRIFT_MONITOR_H_
