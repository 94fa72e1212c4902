// Decides which mailboxes an accepted notification goes to, and in which role.
//
// Every notification reaches the lead worker of each open involvement of the child it is about
// (the worker's node, addressed to the worker), or else the front door of the child's area.
// Events about a household reach the lead workers of every child in it; a police domestic-abuse
// incident also reaches the school of each child (Operation Encompass); the agencies that serve
// a child with a statutory plan (its GP, health and school nodes) are its network. Nodes the
// sender names are added. The sharing policy then decides, per recipient, what it may see.
#ifndef SAFEGUARD_BROKER_ROUTING_RECIPIENT_RESOLVER_H_
#define SAFEGUARD_BROKER_ROUTING_RECIPIENT_RESOLVER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "broker/identity/node_registry.h"
#include "broker/registry/registry_store.h"
#include "safeguard/v1/notification.pb.h"
#include "safeguard/v1/registry.pb.h"

namespace safeguard::routing {

struct ResolvedRecipient {
  const identity::NodeInfo* node;
  // True when it receives the notification as a child's lead worker (policy role lead-worker);
  // otherwise the role is the node's type.
  bool as_lead_worker = false;
  std::string addressee;  // the lead worker's id in the node's system
  std::string reason;     // "lead worker of child-protection plan CP-1", "front door for ..."
};

struct Routing {
  std::vector<ResolvedRecipient> recipients;  // may be empty only when the sender is the fallback
  // For the sender and the audit log: "matched on nhs-number", "unmatched", ...
  std::string child_match;
  // The most protective open plan of the children the notification is about, when the
  // registry knows them (the registry, not the sender, is the authority on plans).
  std::optional<safeguard::v1::PlanType> plan;
};

// Thread-safe (holds a const node registry and a thread-safe registry store).
class RecipientResolver {
 public:
  // `children` may be null: then only named nodes and front doors are used.
  RecipientResolver(const identity::NodeRegistry& registry, registry::RegistryStore* children)
      : registry_(registry), children_(children) {}

  // Never depends on the kind of agency that sent the notification. Fails INVALID_ARGUMENT
  // naming the field when a named node or an area is unknown, or nobody would receive it.
  // A registry that cannot be read sends the notification to the front door (and says so):
  // routing never loses a notification.
  absl::StatusOr<Routing> Resolve(const identity::NodeInfo& sender,
                                  const safeguard::v1::Notification& notification) const;

  // True for events about a household rather than one child: utility cut-off, domestic abuse
  // at the address, refused access, no-access visits, a new adult, housing and home conditions.
  static bool IsHouseholdEvent(safeguard::v1::NotificationType type);

 private:
  const identity::NodeRegistry& registry_;
  registry::RegistryStore* const children_;
};

absl::string_view PlanTypeName(safeguard::v1::PlanType plan);  // "child-protection", ...
// Higher is more protective: looked after 4 > child protection 3 > child in need 2 > early help
// 1 > none 0.
int PlanProtection(safeguard::v1::PlanType plan);

}  // namespace safeguard::routing

#endif  // SAFEGUARD_BROKER_ROUTING_RECIPIENT_RESOLVER_H_
