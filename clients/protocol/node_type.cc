#include "clients/protocol/node_type.h"

#include <array>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace safeguard::protocol {
namespace {

constexpr std::array<std::pair<NodeType, absl::string_view>, 9> kNames = {{
    {NodeType::kGp, "gp"},
    {NodeType::kSchool, "school"},
    {NodeType::kHousing, "housing"},
    {NodeType::kPolice, "police"},
    {NodeType::kFrontDoor, "front-door"},
    {NodeType::kSocialCare, "social-care"},
    {NodeType::kHealth, "health"},
    {NodeType::kEarlyHelp, "early-help"},
    {NodeType::kAuditor, "auditor"},
}};

constexpr absl::string_view kScheme = "spiffe://";

}  // namespace

absl::string_view NodeTypeName(NodeType type) {
  for (const auto& [t, name] : kNames) {
    if (t == type) return name;
  }
  return "unknown";
}

std::optional<NodeType> ParseNodeType(absl::string_view name) {
  for (const auto& [t, n] : kNames) {
    if (n == name) return t;
  }
  return std::nullopt;
}

std::string AllNodeTypeNames() {
  std::vector<absl::string_view> names;
  for (const auto& [t, n] : kNames) names.push_back(n);
  return absl::StrJoin(names, ", ");
}

bool IsValidNodeId(absl::string_view id) {
  if (id.empty() || id.size() > 63) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    char c = id[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0);
    if (!ok) return false;
  }
  return true;
}

std::string FormatNodeUri(absl::string_view partnership, NodeType type, absl::string_view id) {
  return absl::StrCat(kScheme, partnership, "/", NodeTypeName(type), "/", id);
}

absl::StatusOr<NodeUri> ParseNodeUri(absl::string_view uri) {
  if (!absl::StartsWith(uri, kScheme)) {
    return absl::InvalidArgumentError(
        absl::StrCat("node URI '", uri, "' does not start with ", kScheme));
  }
  std::vector<absl::string_view> parts = absl::StrSplit(uri.substr(kScheme.size()), '/');
  if (parts.size() != 3 || parts[0].empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "node URI '", uri, "' is not of the form spiffe://<partnership>/<type>/<id>"));
  }
  std::optional<NodeType> type = ParseNodeType(parts[1]);
  if (!type) {
    return absl::InvalidArgumentError(absl::StrCat("node URI '", uri, "' has unknown type '",
                                                   parts[1], "'; known: ", AllNodeTypeNames()));
  }
  if (!IsValidNodeId(parts[2])) {
    return absl::InvalidArgumentError(
        absl::StrCat("node URI '", uri, "' has an invalid node id '", parts[2], "'"));
  }
  return NodeUri{std::string(parts[0]), *type, std::string(parts[2])};
}

}  // namespace safeguard::protocol
