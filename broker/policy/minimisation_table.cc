#include "broker/policy/minimisation_table.h"

namespace safeguard::policy {

std::set<safeguard::v1::DisclosableField> FieldsVisibleTo(protocol::NodeType recipient) {
  using protocol::NodeType;
  std::set<safeguard::v1::DisclosableField> fields = {
      safeguard::v1::DISCLOSABLE_FIELD_CHILD_IDENTITY, safeguard::v1::DISCLOSABLE_FIELD_SUMMARY,
      safeguard::v1::DISCLOSABLE_FIELD_DETAILS, safeguard::v1::DISCLOSABLE_FIELD_ADDRESS};
  switch (recipient) {
    case NodeType::kFrontDoor:
    case NodeType::kSocialCare:
    case NodeType::kEarlyHelp:
      fields.insert(safeguard::v1::DISCLOSABLE_FIELD_HEALTH_DETAILS);
      fields.insert(safeguard::v1::DISCLOSABLE_FIELD_POLICE_DETAILS);
      break;
    case NodeType::kGp:
    case NodeType::kHealth:
      fields.insert(safeguard::v1::DISCLOSABLE_FIELD_HEALTH_DETAILS);
      break;
    case NodeType::kPolice:
      fields.insert(safeguard::v1::DISCLOSABLE_FIELD_POLICE_DETAILS);
      break;
    case NodeType::kSchool:
    case NodeType::kHousing:
      break;
    case NodeType::kAuditor:
      return {};  // auditors read the audit log, never notifications
  }
  return fields;
}

}  // namespace safeguard::policy
