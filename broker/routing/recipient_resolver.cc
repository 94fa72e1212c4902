#include "broker/routing/recipient_resolver.h"

#include <set>

#include "absl/strings/str_cat.h"

namespace safeguard::routing {

absl::StatusOr<std::vector<ResolvedRecipient>> RecipientResolver::Resolve(
    const identity::NodeInfo& sender, const safeguard::v1::Notification& notification) const {
  std::vector<ResolvedRecipient> out;
  std::set<std::string> seen;
  for (int i = 0; i < notification.recipients_size(); ++i) {
    const std::string& id = notification.recipients(i);
    std::string field = absl::StrCat("recipients[", i, "]");
    const identity::NodeInfo* node = registry_.FindById(id);
    if (node == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": '", id, "' is not a node of this partnership"));
    }
    if (node->type == protocol::NodeType::kAuditor) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": '", id, "' is an auditor; auditors read the audit log, not notifications"));
    }
    if (node->id == sender.id) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": a node cannot send to itself"));
    }
    if (seen.insert(node->id).second) out.push_back({node, "named by sender"});
  }
  if (!out.empty()) return out;

  for (int i = 0; i < notification.subjects_size(); ++i) {
    const std::string& area =
        notification.subjects(i).area().empty() ? sender.area : notification.subjects(i).area();
    const identity::NodeInfo* front_door = registry_.FrontDoorFor(area);
    if (front_door == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "subjects[", i, "].area: '", area,
          "' is not an area of this partnership; name the recipients instead"));
    }
    if (front_door->id == sender.id) continue;
    if (seen.insert(front_door->id).second) {
      out.push_back({front_door, absl::StrCat("front door for area ", area)});
    }
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(
        "recipients: nobody would receive this notification (it would go to the sender's own "
        "front door); name the recipients");
  }
  return out;
}

}  // namespace safeguard::routing
