// Decides which mailboxes an accepted notification goes to.
//
// For now: the nodes the sender named, or else the front door of each child's area. Lead-worker
// resolution (plans, households, Operation Encompass) extends this component.
#ifndef SAFEGUARD_BROKER_ROUTING_RECIPIENT_RESOLVER_H_
#define SAFEGUARD_BROKER_ROUTING_RECIPIENT_RESOLVER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "broker/identity/node_registry.h"
#include "safeguard/v1/notification.pb.h"

namespace safeguard::routing {

struct ResolvedRecipient {
  const identity::NodeInfo* node;
  std::string reason;  // "named by sender", "front door for area swindon"
};

// Thread-safe (holds only a const registry).
class RecipientResolver {
 public:
  explicit RecipientResolver(const identity::NodeRegistry& registry) : registry_(registry) {}

  // Never depends on the kind of agency that sent the notification. Fails INVALID_ARGUMENT
  // naming the field when a named node or an area is unknown, or nobody would receive it.
  absl::StatusOr<std::vector<ResolvedRecipient>> Resolve(
      const identity::NodeInfo& sender, const safeguard::v1::Notification& notification) const;

 private:
  const identity::NodeRegistry& registry_;
};

}  // namespace safeguard::routing

#endif  // SAFEGUARD_BROKER_ROUTING_RECIPIENT_RESOLVER_H_
