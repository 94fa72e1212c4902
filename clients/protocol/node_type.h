// The kinds of node in a partnership and the certificate URI that names a node.
//
// A node's identity is the URI SAN of its certificate: spiffe://<partnership>/<type>/<id>.
// Broker and clients must agree on this exactly, so it lives in the shared protocol library.
#ifndef SAFEGUARD_CLIENTS_PROTOCOL_NODE_TYPE_H_
#define SAFEGUARD_CLIENTS_PROTOCOL_NODE_TYPE_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace safeguard::protocol {

enum class NodeType {
  kGp,
  kSchool,
  kHousing,
  kPolice,
  kFrontDoor,   // children's social care front door / MASH for an area
  kSocialCare,  // a social care case team
  kHealth,      // community health, hospital
  kEarlyHelp,
  kAuditor,
};

// "gp", "school", "housing", "police", "front-door", "social-care", "health", "early-help",
// "auditor".
absl::string_view NodeTypeName(NodeType type);
std::optional<NodeType> ParseNodeType(absl::string_view name);
// All names, comma-separated, for error messages.
std::string AllNodeTypeNames();

// True for [a-z0-9][a-z0-9-]{0,62}.
bool IsValidNodeId(absl::string_view id);

struct NodeUri {
  std::string partnership;
  NodeType type;
  std::string id;
};

std::string FormatNodeUri(absl::string_view partnership, NodeType type, absl::string_view id);
// Parses spiffe://<partnership>/<type>/<id>; fails with a message saying which part is wrong.
absl::StatusOr<NodeUri> ParseNodeUri(absl::string_view uri);

}  // namespace safeguard::protocol

#endif  // SAFEGUARD_CLIENTS_PROTOCOL_NODE_TYPE_H_
