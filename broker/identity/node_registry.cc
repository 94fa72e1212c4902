#include "broker/identity/node_registry.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace safeguard::identity {

NodeRegistry::NodeRegistry(const config::BrokerConfig& config)
    : partnership_(config.partnership()) {
  for (const auto& node : config.nodes()) {
    protocol::NodeType type = *protocol::ParseNodeType(node.type());
    NodeInfo info{node.id(), type, node.area(), node.display_name(),
                  protocol::FormatNodeUri(partnership_, type, node.id())};
    if (type == protocol::NodeType::kFrontDoor) front_door_by_area_[node.area()] = node.id();
    by_id_.emplace(node.id(), std::move(info));
  }
}

const NodeInfo* NodeRegistry::FindById(absl::string_view id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

const NodeInfo* NodeRegistry::FrontDoorFor(absl::string_view area) const {
  auto it = front_door_by_area_.find(area);
  return it == front_door_by_area_.end() ? nullptr : FindById(it->second);
}

absl::StatusOr<const NodeInfo*> NodeRegistry::Authenticate(
    const std::vector<std::string>& peer_uris) const {
  const NodeInfo* found = nullptr;
  std::vector<std::string> problems;
  for (const std::string& uri : peer_uris) {
    auto parsed = protocol::ParseNodeUri(uri);
    if (!parsed.ok()) {
      problems.push_back(std::string(parsed.status().message()));
      continue;
    }
    if (parsed->partnership != partnership_) {
      problems.push_back(absl::StrCat("'", uri, "' belongs to partnership '",
                                      parsed->partnership, "', not '", partnership_, "'"));
      continue;
    }
    const NodeInfo* node = FindById(parsed->id);
    if (node == nullptr) {
      problems.push_back(absl::StrCat("'", uri, "' names node '", parsed->id,
                                      "', which is not in the registry"));
      continue;
    }
    if (node->type != parsed->type) {
      problems.push_back(absl::StrCat("'", uri, "' claims type '",
                                      protocol::NodeTypeName(parsed->type), "' but node '",
                                      node->id, "' is registered as '",
                                      protocol::NodeTypeName(node->type), "'"));
      continue;
    }
    if (found != nullptr && found != node) {
      return absl::UnauthenticatedError(
          absl::StrCat("certificate names more than one node ('", found->id, "' and '",
                       node->id, "')"));
    }
    found = node;
  }
  if (found == nullptr) {
    if (peer_uris.empty()) problems.push_back("certificate has no URI SAN");
    return absl::UnauthenticatedError(absl::StrCat(
        "certificate identifies no node of this partnership: ", absl::StrJoin(problems, "; ")));
  }
  return found;
}

}  // namespace safeguard::identity
