#include "broker/routing/recipient_resolver.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/server/log.h"

namespace safeguard::routing {
namespace {

using safeguard::v1::Involvement;
using safeguard::v1::PlanType;

bool IsStatutory(PlanType p) { return PlanProtection(p) >= 2; }

// Collects recipients in order, one delivery per (node, addressee).
class Collector {
 public:
  explicit Collector(const identity::NodeInfo& sender) : sender_(sender) {}

  void Add(const identity::NodeInfo* node, bool as_lead_worker, std::string addressee,
           std::string reason) {
    if (node == nullptr || node->type == protocol::NodeType::kAuditor) return;
    if (node->id == sender_.id) {
      skipped_sender_ = true;
      return;
    }
    // A node already receiving it as something else is not told twice, except a lead worker
    // node holding plans of two children with different workers: each worker is addressed.
    for (const auto& r : out_) {
      if (r.node == node && (r.addressee == addressee || !as_lead_worker)) return;
    }
    out_.push_back({node, as_lead_worker, std::move(addressee), std::move(reason)});
  }

  std::vector<ResolvedRecipient>& recipients() { return out_; }
  bool skipped_sender() const { return skipped_sender_; }

 private:
  const identity::NodeInfo& sender_;
  std::vector<ResolvedRecipient> out_;
  bool skipped_sender_ = false;
};

}  // namespace

int PlanProtection(PlanType p) {
  switch (p) {
    case safeguard::v1::PLAN_TYPE_LOOKED_AFTER: return 4;
    case safeguard::v1::PLAN_TYPE_CHILD_PROTECTION: return 3;
    case safeguard::v1::PLAN_TYPE_CHILD_IN_NEED: return 2;
    case safeguard::v1::PLAN_TYPE_EARLY_HELP: return 1;
    default: return 0;
  }
}

absl::string_view PlanTypeName(PlanType plan) {
  switch (plan) {
    case safeguard::v1::PLAN_TYPE_EARLY_HELP: return "early-help";
    case safeguard::v1::PLAN_TYPE_CHILD_IN_NEED: return "child-in-need";
    case safeguard::v1::PLAN_TYPE_CHILD_PROTECTION: return "child-protection";
    case safeguard::v1::PLAN_TYPE_LOOKED_AFTER: return "looked-after";
    default: return "unspecified";
  }
}

bool RecipientResolver::IsHouseholdEvent(safeguard::v1::NotificationType type) {
  switch (type) {
    case safeguard::v1::NOTIFICATION_TYPE_UTILITY_DISCONNECTION:
    case safeguard::v1::NOTIFICATION_TYPE_POLICE_DOMESTIC_ABUSE_INCIDENT:
    case safeguard::v1::NOTIFICATION_TYPE_ACCESS_TO_CHILD_REFUSED:
    case safeguard::v1::NOTIFICATION_TYPE_NO_ACCESS_VISIT:
    case safeguard::v1::NOTIFICATION_TYPE_NEW_ADULT_IN_HOUSEHOLD:
    case safeguard::v1::NOTIFICATION_TYPE_HOUSING_CONCERN:
    case safeguard::v1::NOTIFICATION_TYPE_POLICE_HOME_CONDITIONS:
    case safeguard::v1::NOTIFICATION_TYPE_CHANGE_OF_ADDRESS:
      return true;
    default:
      return false;
  }
}

absl::StatusOr<Routing> RecipientResolver::Resolve(
    const identity::NodeInfo& sender, const safeguard::v1::Notification& notification) const {
  // Named nodes are checked first so a mistake is reported whatever the registry says.
  std::vector<const identity::NodeInfo*> named;
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
    named.push_back(node);
  }
  std::vector<std::string> areas;
  for (int i = 0; i < notification.subjects_size(); ++i) {
    const std::string& area =
        notification.subjects(i).area().empty() ? sender.area : notification.subjects(i).area();
    if (registry_.FrontDoorFor(area) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "subjects[", i, "].area: '", area,
          "' is not an area of this partnership; name the recipients instead"));
    }
    areas.push_back(area);
  }

  Routing routing;
  Collector collect(sender);
  std::vector<std::string> match_notes;
  int best_plan = 0;
  // Children the notification concerns, with the area whose front door stands in for them.
  struct Concerned {
    std::string subject_id;
    std::string area;
    std::string relation;  // "" for the subject itself, "a child in the household" otherwise
  };
  std::vector<Concerned> concerned;
  std::vector<std::pair<std::string, std::string>> front_doors;  // area, reason
  std::set<std::string> seen_subjects;
  std::vector<std::string> network_nodes;  // serving nodes of children with statutory plans
  std::vector<std::string> encompass_schools;
  const bool household = IsHouseholdEvent(notification.type()) || notification.sharing().risk_of_harm();

  for (int i = 0; i < notification.subjects_size(); ++i) {
    const auto& subject = notification.subjects(i);
    const std::string& area = areas[i];
    if (children_ == nullptr) {
      front_doors.emplace_back(area, absl::StrCat("front door for area ", area));
      continue;
    }
    auto match = children_->MatchChild(subject.identifiers());
    if (!match.ok()) {
      SAFEGUARD_LOG_ERROR("registry unavailable while routing: ", match.status().message());
      match_notes.push_back("registry unavailable");
      front_doors.emplace_back(
          area, absl::StrCat("front door for area ", area, " (the registry could not be read)"));
      continue;
    }
    match_notes.push_back(match->description);
    if (notification.type() == safeguard::v1::NOTIFICATION_TYPE_POLICE_DOMESTIC_ABUSE_INCIDENT &&
        match->kind != registry::ChildMatch::Kind::kConflicting) {
      // Operation Encompass: the school that registered the child, plan or no plan.
      if (auto serving = children_->ServingNodesOf(subject.identifiers()); serving.ok()) {
        for (const auto& id : *serving) {
          const identity::NodeInfo* node = registry_.FindById(id);
          if (node != nullptr && node->type == protocol::NodeType::kSchool) {
            encompass_schools.push_back(id);
          }
        }
      }
    }
    switch (match->kind) {
      case registry::ChildMatch::Kind::kUnmatched:
        front_doors.emplace_back(
            area, absl::StrCat("front door for area ", area, " (child not known to the registry)"));
        continue;
      case registry::ChildMatch::Kind::kConflicting:
        // Never guess between two children: the front door resolves who this is.
        front_doors.emplace_back(
            area, absl::StrCat("front door for area ", area, " (", match->description,
                               "; not routed to their workers)"));
        continue;
      case registry::ChildMatch::Kind::kMatched:
        break;
    }
    const std::string& subject_id = match->subject_ids.front();
    std::vector<std::string> household_children;
    if (auto h = children_->HouseholdChildren(subject_id); h.ok()) {
      household_children = *std::move(h);
    } else {
      SAFEGUARD_LOG_ERROR("registry unavailable while routing: ", h.status().message());
    }
    // An adult of a household (a parent) is not a child to route for; their children are.
    bool is_adult = !household_children.empty() &&
                    std::find(household_children.begin(), household_children.end(),
                              subject_id) == household_children.end();
    if (!is_adult && seen_subjects.insert(subject_id).second) {
      concerned.push_back({subject_id, area, ""});
    }
    if (household || is_adult) {
      for (const auto& child : household_children) {
        if (seen_subjects.insert(child).second) {
          concerned.push_back({child, area, "a child in the household"});
        }
      }
    }
  }
  if (children_ != nullptr && household && !notification.address().uprn().empty()) {
    if (auto at = children_->ChildrenAtUprn(notification.address().uprn()); at.ok()) {
      for (const auto& child : *at) {
        if (seen_subjects.insert(child).second) {
          concerned.push_back({child, sender.area, "a child living at the address"});
        }
      }
    }
  }

  for (const Concerned& c : concerned) {
    auto open = children_->OpenInvolvements(c.subject_id);
    if (!open.ok()) {
      SAFEGUARD_LOG_ERROR("registry unavailable while routing: ", open.status().message());
      front_doors.emplace_back(
          c.area, absl::StrCat("front door for area ", c.area, " (the registry could not be read)"));
      continue;
    }
    bool statutory = false;
    for (const Involvement& inv : *open) {
      if (c.relation.empty()) best_plan = std::max(best_plan, PlanProtection(inv.plan_type()));
      statutory = statutory || IsStatutory(inv.plan_type());
      const auto& worker = inv.lead_worker();
      const identity::NodeInfo* node =
          registry_.FindById(worker.node_id().empty() ? inv.publisher() : worker.node_id());
      if (node == nullptr) {
        SAFEGUARD_LOG_ERROR("involvement ", inv.reference(), " names a lead worker node that is "
                            "not in this partnership; routing to the front door");
        front_doors.emplace_back(c.area, absl::StrCat("front door for area ", c.area,
                                                      " (the lead worker's node is unknown)"));
        continue;
      }
      collect.Add(node, true, worker.worker_id(),
                  absl::StrCat("lead worker of ", PlanTypeName(inv.plan_type()), " plan ",
                               inv.reference(), c.relation.empty() ? "" : " of ", c.relation));
    }
    if (open->empty()) {
      front_doors.emplace_back(
          c.area, absl::StrCat("front door for area ", c.area,
                               c.relation.empty() ? " (no open plan)"
                                                  : absl::StrCat(" (", c.relation,
                                                                 " has no open plan)")));
    }
    const bool encompass =
        notification.type() == safeguard::v1::NOTIFICATION_TYPE_POLICE_DOMESTIC_ABUSE_INCIDENT;
    // The broker's own notices (a look-up of a flag) are for lead workers only.
    if (notification.type() == safeguard::v1::NOTIFICATION_TYPE_FLAG_LOOKED_UP) continue;
    if (statutory || encompass) {
      auto serving = children_->ServingNodes(c.subject_id);
      if (serving.ok()) {
        for (const auto& id : *serving) {
          const identity::NodeInfo* node = registry_.FindById(id);
          if (node == nullptr) continue;
          if (encompass && node->type == protocol::NodeType::kSchool) {
            encompass_schools.push_back(id);
          } else if (statutory) {
            network_nodes.push_back(id);
          }
        }
      }
    }
  }
  // Without any lead worker, the front door of each area concerned stands in.
  bool any_lead_worker = !collect.recipients().empty();
  for (const auto& [area, reason] : front_doors) {
    collect.Add(registry_.FrontDoorFor(area), false, "", reason);
  }
  if (notification.subjects_size() == 0 && !any_lead_worker) {
    collect.Add(registry_.FrontDoorFor(sender.area), false, "",
                absl::StrCat("front door for area ", sender.area));
  }
  for (const auto& id : encompass_schools) {
    collect.Add(registry_.FindById(id), false, "",
                "school of a child concerned (Operation Encompass)");
  }
  for (const identity::NodeInfo* node : named) collect.Add(node, false, "", "named by sender");
  for (const auto& id : network_nodes) {
    collect.Add(registry_.FindById(id), false, "", "serves a child with a statutory plan");
  }

  routing.recipients = std::move(collect.recipients());
  if (best_plan > 0) {
    for (PlanType p : {safeguard::v1::PLAN_TYPE_EARLY_HELP, safeguard::v1::PLAN_TYPE_CHILD_IN_NEED,
                       safeguard::v1::PLAN_TYPE_CHILD_PROTECTION,
                       safeguard::v1::PLAN_TYPE_LOOKED_AFTER}) {
      if (PlanProtection(p) == best_plan) routing.plan = p;
    }
  }
  std::set<std::string> unique_notes(match_notes.begin(), match_notes.end());
  for (const auto& note : unique_notes) {
    if (!routing.child_match.empty()) absl::StrAppend(&routing.child_match, "; ");
    absl::StrAppend(&routing.child_match, note);
  }
  if (routing.recipients.empty() && !collect.skipped_sender()) {
    return absl::InvalidArgumentError(
        "recipients: nobody would receive this notification; name the recipients");
  }
  return routing;
}

}  // namespace safeguard::routing
