// The escalation ladder: a delivery not acknowledged by its deadline goes, one step at a time,
// to the plan's deputy, then its team manager, then the area's front door (in office hours) or
// emergency duty team (out of hours). A delivery the recipient's system never collected goes
// straight to that human route. Each step is a notification of its own (type ESCALATION),
// visible to the referrer in GetStatus and recorded in the audit log.
//
// The step a delivery has reached is stored with it, and taken in the same transaction as the
// notice that announces it: a restart loses no deadline and fires no step twice.
#ifndef SAFEGUARD_BROKER_ESCALATION_ESCALATION_LADDER_H_
#define SAFEGUARD_BROKER_ESCALATION_ESCALATION_LADDER_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/common/clock.h"
#include "broker/identity/node_registry.h"
#include "broker/registry/registry_store.h"
#include "broker/routing/recipient_resolver.h"
#include "broker/storage/store.h"
#include "safeguard/v1/broker.pb.h"

namespace safeguard::escalation {

// Where escalation notices go out: BrokerService::SubmitFromBroker in the broker, a recorder in
// tests.
class EscalationSink {
 public:
  virtual ~EscalationSink() = default;
  using Done = absl::AnyInvocable<void(absl::StatusOr<safeguard::v1::SubmitResponse>) &&>;
  virtual void Send(safeguard::v1::Notification notice,
                    std::vector<routing::ResolvedRecipient> targets,
                    storage::AcceptRequest::EscalationStep step, Done done) = 0;
};

struct LadderOptions {
  // When escalation step `step` (1, 2, ...) taken at `from` in `area` falls due in turn.
  std::function<absl::Time(const std::string& area, absl::Time from, int step)> step_due;
  // Whether `t` is within the area's office hours (out of hours the last step is the emergency
  // duty team).
  std::function<bool(const std::string& area, absl::Time t)> office_hours;
  // Area code → the node of its out-of-hours emergency duty team (BrokerConfig.areas).
  std::map<std::string, std::string> emergency_duty_nodes;
  // How often the background thread looks for overdue deliveries.
  absl::Duration interval = absl::Seconds(30);
  int batch = 100;
};

// Thread-safe. CheckNow may be called directly (tests, with a fake clock) or by the background
// thread Start() runs.
class EscalationLadder {
 public:
  EscalationLadder(storage::Store& store, registry::RegistryStore* children,
                   const identity::NodeRegistry& nodes, EscalationSink& sink, const Clock& clock,
                   LadderOptions options);
  ~EscalationLadder();

  // Escalates every delivery overdue at the clock's now by one step. Returns how many notices
  // were sent. Waits for each notice to be durable.
  absl::StatusOr<int> CheckNow();

  void Start();
  void Stop();

  // The next rung for a delivery (exposed for tests): who, and whether it is the last.
  struct Rung {
    std::vector<routing::ResolvedRecipient> targets;
    bool last = false;
    std::string description;  // "deputy", "team manager", "front door", "emergency duty team"
  };
  Rung NextRung(const storage::OverdueDelivery& overdue, const std::string& area,
                const std::optional<safeguard::v1::Involvement>& plan, int step,
                absl::Time now) const;

 private:
  storage::Store& store_;
  registry::RegistryStore* const children_;
  const identity::NodeRegistry& nodes_;
  EscalationSink& sink_;
  const Clock& clock_;
  const LadderOptions options_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace safeguard::escalation

#endif  // SAFEGUARD_BROKER_ESCALATION_ESCALATION_LADDER_H_
