// Cumulative concern: after each notification an agency sends, the policy's `cumulative:` rules
// are evaluated over the recent chronology of every child it is about (and of the child's
// household, for household rules); a rule that is met sends a CUMULATIVE_CONCERN notice from the
// broker, listing the contributing events, to the child's lead workers (else the front door).
// docs/concern.md describes the rules and how a cluster of events raises only once.
//
//   CumulativeConcernWatcher watcher(store, children, nodes, sink, clock,
//                                    [&] { return policy_store->Current(); });
//   options.on_accepted = [&](const server::AcceptedNotification& a) {
//     watcher.OnAccepted({a.sequence, a.accepted_at, a.sender, a.sender_type, a.sender_area,
//                         a.notification});
//   };
#ifndef SAFEGUARD_BROKER_CONCERN_CUMULATIVE_CONCERN_WATCHER_H_
#define SAFEGUARD_BROKER_CONCERN_CUMULATIVE_CONCERN_WATCHER_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "broker/common/clock.h"
#include "broker/concern/concern_sink.h"
#include "broker/identity/node_registry.h"
#include "broker/policy/sharing_policy.h"
#include "broker/registry/registry_store.h"
#include "broker/storage/store.h"

namespace safeguard::concern {

// An agency's notification, just accepted.
struct AcceptedEvent {
  uint64_t sequence = 0;
  absl::Time accepted_at;
  std::string sender;  // node id
  protocol::NodeType sender_type = protocol::NodeType::kGp;
  std::string sender_area;
  // Shared with the broker (server::AcceptedNotification), not copied. Null: nothing to evaluate.
  std::shared_ptr<const safeguard::v1::Notification> notification;
};

// One evaluation's outcome, for tests and the log.
struct RaisedConcern {
  std::string rule_id;
  std::string idempotency_key;
  bool duplicate = false;  // the key had been raised before (e.g. before a restart)
};

// Thread-safe. Evaluation runs on the watcher's own thread, never on gRPC's or the store's
// threads. A turn evaluates up to 64 waiting subjects, sending the notices their rules call for,
// then waits once for all of those notices to be durable (so they share commits) before the next
// turn, which is the earliest a subject can be evaluated again: a subject's next evaluation
// always sees its last notice. Subjects are independent: a rule counts only agencies' events
// and only its own notices for the same subject.
//
// Memory stays bounded however fast notifications arrive: events are turned into their subjects
// (children, households) as they come, and a subject with several events waiting is evaluated
// once for all of them; each evaluation reads the subject's whole window from the store, so
// nothing is miscounted. At most 20,000 events (~1-3 KB each, with their notifications) and
// 20,000 subjects wait; a waiting subject keeps its identifiers and who sent its latest event,
// not the notification (~0.5 KB). Past that, events are dropped with a warning in the log and
// their subjects are evaluated again with their next event.
class CumulativeConcernWatcher {
 public:
  using PolicySource = std::function<std::shared_ptr<const policy::SharingPolicy>()>;
  // `children` may be null: then only child-scope rules over the notification's own identifiers
  // are evaluated, and notices go to the front door.
  CumulativeConcernWatcher(storage::Store& store, registry::RegistryStore* children,
                           const identity::NodeRegistry& nodes, ConcernSink& sink,
                           const Clock& clock, PolicySource policy);
  ~CumulativeConcernWatcher();  // Stop()s
  CumulativeConcernWatcher(const CumulativeConcernWatcher&) = delete;
  CumulativeConcernWatcher& operator=(const CumulativeConcernWatcher&) = delete;

  // Queues the event for evaluation; returns at once.
  void OnAccepted(AcceptedEvent event) ABSL_LOCKS_EXCLUDED(mu_);
  // Evaluates now, on the calling thread (tests), waiting for each notice to be durable.
  std::vector<RaisedConcern> Evaluate(const AcceptedEvent& event);
  // Waits until every queued event has been evaluated (tests).
  void Drain() ABSL_LOCKS_EXCLUDED(mu_);
  // Drops what is still queued and joins the thread. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Subject;
  void Run();
  std::vector<Subject> SubjectsOf(const AcceptedEvent& event);
  // A notice sent to the sink and not yet known to be durable.
  struct SentNotice {
    std::string rule_id;
    std::string idempotency_key;
    size_t events = 0;  // how many events met the rule
    std::shared_ptr<absl::Notification> finished;
    std::shared_ptr<absl::StatusOr<safeguard::v1::SubmitResponse>> result;
  };
  // Evaluates the rules that count any of `types` for `subject`; `event` is the latest of its
  // events (who reported it, the fallback area). Each notice the rules call for is sent and
  // appended to `sent`, not waited for: Settle waits, before the subject is evaluated again.
  void EvaluateSubject(const policy::SharingPolicy& policy, const Subject& subject,
                       bool household, const std::set<safeguard::v1::NotificationType>& types,
                       const AcceptedEvent& event, absl::Time now, std::vector<SentNotice>& sent);
  // Waits until each notice is durable (or refused, or 30 s passed), logs it, and says which
  // were raised.
  std::vector<RaisedConcern> Settle(std::vector<SentNotice>& sent);
  // Watcher thread: turns an event into pending subjects (merged with those already waiting).
  void Gather(const policy::SharingPolicy& policy, AcceptedEvent event);
  // Counts an event dropped because too much was waiting; warns every 10,000.
  void NoteDroppedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  struct PendingSubject;
  std::vector<routing::ResolvedRecipient> TargetsFor(const Subject& subject,
                                                     const std::string& fallback_area);

  storage::Store& store_;
  registry::RegistryStore* const children_;
  const identity::NodeRegistry& nodes_;
  ConcernSink& sink_;
  const Clock& clock_;
  const PolicySource policy_;

  absl::Mutex mu_;
  std::deque<AcceptedEvent> incoming_ ABSL_GUARDED_BY(mu_);
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;  // events dropped because too much was waiting
  bool busy_ ABSL_GUARDED_BY(mu_) = false;    // subjects are pending or being evaluated
  // Watcher thread only: subjects waiting for evaluation, in the order they first arrived.
  std::deque<std::string> order_;
  std::map<std::string, std::unique_ptr<PendingSubject>> pending_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace safeguard::concern

#endif  // SAFEGUARD_BROKER_CONCERN_CUMULATIVE_CONCERN_WATCHER_H_
