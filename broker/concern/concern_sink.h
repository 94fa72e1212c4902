// Where the broker's cumulative-concern and plan-drift notices go. In the broker it is
// BrokerService::SubmitFromBroker (safeguard_broker_main.cc); tests capture what would be sent.
#ifndef SAFEGUARD_BROKER_CONCERN_CONCERN_SINK_H_
#define SAFEGUARD_BROKER_CONCERN_CONCERN_SINK_H_

#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "broker/routing/recipient_resolver.h"
#include "clients/protocol/node_type.h"
#include "safeguard/v1/broker.pb.h"
#include "safeguard/v1/notification.pb.h"

namespace safeguard::concern {

// Implementations are thread-safe.
class ConcernSink {
 public:
  virtual ~ConcernSink() = default;
  // Runs once the notice is durable (duplicate=true when its idempotency key was accepted
  // before), or with the error; may run on any thread.
  using Done = absl::AnyInvocable<void(absl::StatusOr<safeguard::v1::SubmitResponse>) &&>;
  // Sends `notice` from the broker to exactly `targets`, each decided by the sharing policy as
  // if `reported_by` had sent it.
  virtual void Raise(safeguard::v1::Notification notice, protocol::NodeType reported_by,
                     std::vector<routing::ResolvedRecipient> targets, Done done) = 0;
};

}  // namespace safeguard::concern

#endif  // SAFEGUARD_BROKER_CONCERN_CONCERN_SINK_H_
