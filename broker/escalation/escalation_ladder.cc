#include "broker/escalation/escalation_ladder.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "broker/server/log.h"
#include "clients/protocol/envelope.h"
#include "google/protobuf/util/time_util.h"

namespace safeguard::escalation {
namespace {

using google::protobuf::util::TimeUtil;

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

std::string FormatUtc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M UTC", t, absl::UTCTimeZone());
}

std::string TypeName(safeguard::v1::NotificationType type) {
  std::string name = safeguard::v1::NotificationType_Name(type);
  constexpr absl::string_view kPrefix = "NOTIFICATION_TYPE_";
  if (absl::string_view(name).substr(0, kPrefix.size()) == kPrefix) name.erase(0, kPrefix.size());
  for (char& c : name) c = c == '_' ? '-' : static_cast<char>(std::tolower(c));
  return name;
}

bool HasWorker(const safeguard::v1::Worker& w) { return !w.worker_id().empty(); }

}  // namespace

EscalationLadder::EscalationLadder(storage::Store& store, registry::RegistryStore* children,
                                   const identity::NodeRegistry& nodes, EscalationSink& sink,
                                   const Clock& clock, LadderOptions options)
    : store_(store),
      children_(children),
      nodes_(nodes),
      sink_(sink),
      clock_(clock),
      options_(std::move(options)) {}

EscalationLadder::~EscalationLadder() { Stop(); }

void EscalationLadder::Start() {
  thread_ = std::thread([this] {
    for (;;) {
      {
        absl::MutexLock lock(&mu_);
        auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
        mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.interval);
        if (stopping_) return;
      }
      auto sent = CheckNow();
      if (!sent.ok()) {
        SAFEGUARD_LOG_ERROR("escalation check failed: ", sent.status().message());
      } else if (*sent > 0) {
        SAFEGUARD_LOG_INFO("escalated ", *sent, " overdue deliveries");
      }
    }
  });
}

void EscalationLadder::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

EscalationLadder::Rung EscalationLadder::NextRung(
    const storage::OverdueDelivery& overdue, const std::string& area,
    const std::optional<safeguard::v1::Involvement>& plan, int step, absl::Time now) const {
  // The human route: the front door in office hours, the emergency duty team out of hours (and
  // for the front door's own overdue deliveries, when there is one).
  auto human_route = [&]() -> Rung {
    Rung rung;
    rung.last = true;
    const identity::NodeInfo* front_door = nodes_.FrontDoorFor(area);
    const identity::NodeInfo* duty = nullptr;
    if (auto it = options_.emergency_duty_nodes.find(area);
        it != options_.emergency_duty_nodes.end()) {
      duty = nodes_.FindById(it->second);
    }
    bool in_hours = !options_.office_hours || options_.office_hours(area, now);
    bool front_door_is_late = front_door != nullptr && front_door->id == overdue.mailbox;
    if (duty != nullptr && (!in_hours || front_door_is_late)) {
      rung.targets.push_back({duty, false, "",
                              absl::StrCat("escalation step ", step, ": emergency duty team",
                                           in_hours ? "" : " (out of hours)")});
      rung.description = "emergency duty team";
    } else if (front_door != nullptr) {
      rung.targets.push_back(
          {front_door, false, "", absl::StrCat("escalation step ", step, ": front door for area ",
                                               area)});
      rung.description = "front door";
    }
    return rung;
  };
  if (!overdue.delivered) {
    // The recipient's system never collected it: people at the same node cannot see it either.
    Rung rung = human_route();
    rung.description += " (the recipient's system has not collected it)";
    return rung;
  }
  std::vector<Rung> rungs;
  if (plan && overdue.role == "lead-worker") {
    auto worker_rung = [&](const safeguard::v1::Worker& w, const char* who) {
      const identity::NodeInfo* node =
          nodes_.FindById(w.node_id().empty() ? plan->publisher() : w.node_id());
      if (node == nullptr || !HasWorker(w)) return;
      Rung rung;
      rung.targets.push_back(
          {node, true, w.worker_id(),
           absl::StrCat("escalation step ", step, ": ", who, " of ",
                        routing::PlanTypeName(plan->plan_type()), " plan ", plan->reference())});
      rung.description = who;
      rungs.push_back(std::move(rung));
    };
    worker_rung(plan->deputy(), "deputy");
    worker_rung(plan->team_manager(), "team manager");
  }
  rungs.push_back(human_route());
  size_t index = std::min<size_t>(static_cast<size_t>(step - 1), rungs.size() - 1);
  Rung rung = std::move(rungs[index]);
  rung.last = index == rungs.size() - 1;
  return rung;
}

absl::StatusOr<int> EscalationLadder::CheckNow() {
  const absl::Time now = clock_.Now();
  auto overdue = store_.OverdueDeliveries(now, options_.batch);
  if (!overdue.ok()) return overdue.status();
  int sent = 0;
  for (const storage::OverdueDelivery& d : *overdue) {
    const int step = d.escalation_step + 1;
    safeguard::v1::SignedPayload payload;
    payload.ParseFromString(d.envelope.payload());
    auto assembled = protocol::AssembleDisclosures(d.envelope, payload);
    if (!assembled.ok()) {
      SAFEGUARD_LOG_ERROR("cannot escalate delivery ", d.cursor, ": stored notification ",
                          d.notification_id, " does not assemble");
      continue;
    }
    const safeguard::v1::Notification& original = assembled->notification;
    std::string area;
    if (original.subjects_size() > 0) area = original.subjects(0).area();
    if (area.empty()) {
      if (const auto* node = nodes_.FindById(d.mailbox)) area = node->area;
    }
    std::optional<safeguard::v1::Involvement> plan;
    if (children_ != nullptr && original.subjects_size() > 0) {
      auto match = children_->MatchChild(original.subjects(0).identifiers());
      if (match.ok() && match->kind == registry::ChildMatch::Kind::kMatched) {
        auto open = children_->OpenInvolvements(match->subject_ids.front());
        if (open.ok()) {
          for (const auto& inv : *open) {
            const std::string lead_node = inv.lead_worker().node_id().empty()
                                              ? inv.publisher()
                                              : inv.lead_worker().node_id();
            if (lead_node == d.mailbox && inv.lead_worker().worker_id() == d.addressee) {
              plan = inv;
              break;
            }
          }
          if (!plan && !open->empty()) plan = open->front();
        }
      }
    }
    Rung rung = NextRung(d, area, plan, step, now);
    if (rung.targets.empty()) {
      SAFEGUARD_LOG_ERROR("no escalation route for delivery ", d.cursor, " in area ", area);
      continue;
    }
    safeguard::v1::Notification notice;
    notice.set_idempotency_key(absl::StrCat("escalation-", d.cursor, "-", step));
    notice.set_type(safeguard::v1::NOTIFICATION_TYPE_ESCALATION);
    notice.set_severity(safeguard::v1::SEVERITY_URGENT);
    for (const auto& subject : original.subjects()) {
      auto* s = notice.add_subjects();
      *s->mutable_identifiers() = subject.identifiers();
      s->set_area(subject.area().empty() ? area : subject.area());
    }
    const identity::NodeInfo* late = nodes_.FindById(d.mailbox);
    std::string late_name = late == nullptr ? d.mailbox
                            : late->display_name.empty() ? late->id
                                                         : late->display_name;
    notice.set_summary(absl::StrCat(
        d.delivered ? "Not acknowledged in time: " : "Not collected in time: ",
        TypeName(d.type), " from ", d.sender, ", accepted ", FormatUtc(d.accepted_at),
        ", for ", late_name, " as ", d.role, d.addressee.empty() ? "" : " (" + d.addressee + ")",
        ", due ", FormatUtc(d.due_at), ". Escalation step ", step, ": ", rung.description,
        rung.last ? " (last step)." : "."));
    auto& fields = *notice.mutable_details()->mutable_fields();
    fields["escalated_notification"].set_string_value(d.notification_id);
    fields["escalated_cursor"].set_number_value(static_cast<double>(d.cursor));
    fields["escalated_to_node"].set_string_value(d.mailbox);
    fields["step"].set_number_value(step);
    fields["due"].set_string_value(FormatUtc(d.due_at));
    fields["deadline_class"].set_string_value(d.deadline_class);
    *notice.mutable_occurred_at() = ToProto(now);
    *notice.mutable_sharing() = original.sharing();

    storage::AcceptRequest::EscalationStep taken;
    taken.cursor = d.cursor;
    taken.step = step;
    if (!rung.last && options_.step_due) taken.next_due = options_.step_due(area, now, step);

    absl::Notification finished;
    absl::StatusOr<safeguard::v1::SubmitResponse> result = absl::UnknownError("not sent");
    sink_.Send(std::move(notice), rung.targets, taken,
               [&](absl::StatusOr<safeguard::v1::SubmitResponse> r) {
                 result = std::move(r);
                 finished.Notify();
               });
    finished.WaitForNotification();
    if (!result.ok()) {
      if (absl::IsFailedPrecondition(result.status())) continue;  // acknowledged meanwhile
      SAFEGUARD_LOG_ERROR("escalating delivery ", d.cursor, " failed: ",
                          result.status().message());
      continue;
    }
    if (result->duplicate()) continue;  // sent before a restart
    ++sent;
    for (const auto& target : rung.targets) {
      safeguard::v1::AuditEntry audit;
      audit.set_event(safeguard::v1::AUDIT_EVENT_ESCALATED);
      audit.set_actor("broker");
      audit.set_actor_type("broker");
      audit.set_counterpart(target.node->id);
      audit.set_notification_id(d.notification_id);
      audit.set_notification_type(d.type);
      audit.set_deadline(d.deadline_class);
      audit.set_reason(absl::StrCat("step ", step, " to ", rung.description, ": delivery to ",
                                    d.mailbox, " as ", d.role, " due ", FormatUtc(d.due_at),
                                    d.delivered ? " not acknowledged" : " not collected",
                                    "; notice ", result->notification_id()));
      store_.AppendAudit(std::move(audit));
    }
  }
  return sent;
}

}  // namespace safeguard::escalation
