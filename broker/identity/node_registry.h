// The partnership's nodes, and who a caller is according to its certificate.
#ifndef SAFEGUARD_BROKER_IDENTITY_NODE_REGISTRY_H_
#define SAFEGUARD_BROKER_IDENTITY_NODE_REGISTRY_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "broker/config/broker_config.pb.h"
#include "clients/protocol/node_type.h"

namespace safeguard::identity {

struct NodeInfo {
  std::string id;
  protocol::NodeType type;
  std::string area;
  std::string display_name;
  std::string uri;  // spiffe://<partnership>/<type>/<id>
};

// Immutable after construction; thread-safe.
//
// Invariants: ids are unique; each area that has nodes has exactly one front door (checked by
// config::ParseBrokerConfig before a registry is built).
class NodeRegistry {
 public:
  // REQUIRES: `config` passed config::ParseBrokerConfig.
  explicit NodeRegistry(const config::BrokerConfig& config);

  const std::string& partnership() const { return partnership_; }
  const NodeInfo* FindById(absl::string_view id) const;
  const NodeInfo* FrontDoorFor(absl::string_view area) const;

  // Identifies a caller from the URI SANs of its verified certificate. Exactly one URI must name
  // a node of this partnership with the type the registry has for it. Fails UNAUTHENTICATED with
  // a detailed message meant for the broker's log, not for the caller.
  absl::StatusOr<const NodeInfo*> Authenticate(const std::vector<std::string>& peer_uris) const;

 private:
  std::string partnership_;
  std::map<std::string, NodeInfo, std::less<>> by_id_;
  std::map<std::string, std::string, std::less<>> front_door_by_area_;
};

}  // namespace safeguard::identity

#endif  // SAFEGUARD_BROKER_IDENTITY_NODE_REGISTRY_H_
