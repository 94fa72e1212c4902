#include "broker/routing/recipient_resolver.h"
#include "broker/concern/plan_drift_monitor.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/notification.h"
#include "broker/server/log.h"
#include "clients/protocol/envelope.h"

namespace safeguard::concern {
namespace {

constexpr absl::Duration kRaiseTimeout = absl::Seconds(30);

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t s = absl::ToUnixSeconds(t);
  ts.set_seconds(s);
  ts.set_nanos(static_cast<int32_t>((t - absl::FromUnixSeconds(s)) / absl::Nanoseconds(1)));
  return ts;
}

std::string FormatDate(absl::Time t) { return absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone()); }

// Due dates are whole days (UTC): a lapse is one date, whatever the time of the check.
absl::Time StartOfDay(absl::Time t) {
  return absl::FromCivil(absl::ToCivilDay(t, absl::UTCTimeZone()), absl::UTCTimeZone());
}

}  // namespace

PlanDriftMonitor::PlanDriftMonitor(registry::RegistryStore& children,
                                   const identity::NodeRegistry& nodes, ConcernSink& sink,
                                   const Clock& clock, SettingsSource settings)
    : children_(children), nodes_(nodes), sink_(sink), clock_(clock),
      settings_(std::move(settings)) {}

PlanDriftMonitor::~PlanDriftMonitor() { Stop(); }

void PlanDriftMonitor::Start(std::optional<absl::Duration> interval) {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this, interval] { Run(interval); });
}

void PlanDriftMonitor::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void PlanDriftMonitor::Run(std::optional<absl::Duration> interval) {
  for (;;) {
    CheckNow(clock_.Now());
    absl::Duration wait = interval.value_or(settings_().check_every);
    absl::MutexLock lock(&mu_);
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    mu_.AwaitWithTimeout(absl::Condition(&stopping), wait);
    if (stopping_) return;
  }
}

std::vector<DriftAlert> PlanDriftMonitor::CheckNow(absl::Time now) {
  absl::MutexLock check(&check_mu_);
  std::vector<DriftAlert> out;
  const policy::DriftSettings s = settings_();
  auto open = children_.AllOpenInvolvements();
  if (!open.ok()) {
    SAFEGUARD_LOG_WARN("plan drift: cannot read the open plans: ", open.status().message());
    return out;
  }
  for (const safeguard::v1::Involvement& inv : *open) {
    const absl::Time start = protocol::FromTimestamp(inv.start());
    const absl::Time updated = protocol::FromTimestamp(inv.updated_at());
    struct Lapse {
      std::string kind;
      absl::Time due;
      std::string what;
    };
    std::vector<Lapse> lapses;
    if (inv.has_start()) {
      // Overrun: the later of "plan-length after the start" and "progress-window after the last
      // change" — recorded progress moves the due date on.
      absl::Time due = std::max(start + s.plan_length, updated + s.progress_window);
      if (due <= now) {
        lapses.push_back({"overrun", StartOfDay(due),
                          absl::StrCat("open since ", FormatDate(start), " with no recorded "
                                       "progress since ", FormatDate(updated))});
      }
    }
    if (inv.has_next_review()) {
      const absl::Time review = protocol::FromTimestamp(inv.next_review());
      // A review held is recorded by publishing the plan with its next review date: any other
      // change (or a plan first registered after the date) does not count as a review.
      if (review <= now) {
        lapses.push_back({"review-overdue", StartOfDay(review),
                          absl::StrCat("review was due ", FormatDate(review),
                                       " and no later review date has been recorded")});
      }
    }
    if (inv.plan_type() == safeguard::v1::PLAN_TYPE_CHILD_PROTECTION &&
        (inv.has_last_core_group() || inv.has_start())) {
      const absl::Time last = protocol::FromTimestamp(
          inv.has_last_core_group() ? inv.last_core_group() : inv.start());
      const absl::Time due = last + s.core_group_interval;
      if (due <= now) {
        lapses.push_back({"core-group-overdue", StartOfDay(due),
                          absl::StrCat(inv.has_last_core_group() ? "last core group "
                                                                 : "no core group recorded since "
                                                                   "the plan started ",
                                       FormatDate(last), "; one was due by ", FormatDate(due))});
      }
    }
    for (const Lapse& lapse : lapses) {
      DriftAlert alert{lapse.kind, inv.publisher(), inv.reference(), lapse.due, "", false};
      alert.idempotency_key = absl::StrCat("drift:", inv.publisher(), ":", inv.reference(), ":",
                                           lapse.kind, ":", FormatDate(lapse.due));
      if (raised_.count(alert.idempotency_key)) {
        alert.duplicate = true;
        out.push_back(std::move(alert));
        continue;
      }
      // The team manager, addressed as the lead worker's line; else the lead worker's node.
      const bool has_manager = !inv.team_manager().worker_id().empty();
      const safeguard::v1::Worker& to = has_manager ? inv.team_manager() : inv.lead_worker();
      const std::string node_id = to.node_id().empty() ? inv.publisher() : to.node_id();
      const identity::NodeInfo* node = nodes_.FindById(node_id);
      if (node == nullptr) {
        SAFEGUARD_LOG_ERROR("plan drift: no registered node ", node_id, " for plan of ",
                            inv.publisher());
        continue;
      }
      const std::string plan = absl::StrCat(routing::PlanTypeName(inv.plan_type()), " plan ",
                                            inv.reference());
      std::vector<routing::ResolvedRecipient> targets{
          {node, true, to.worker_id(),
           absl::StrCat(has_manager ? "team manager of " : "lead worker (no team manager) of ",
                        plan, " (plan drift: ", lapse.kind, ")")}};

      safeguard::v1::Notification notice;
      notice.set_idempotency_key(alert.idempotency_key);
      notice.set_type(safeguard::v1::NOTIFICATION_TYPE_PLAN_DRIFT);
      notice.set_severity(safeguard::v1::SEVERITY_CONCERN);
      auto* subject = notice.add_subjects();
      *subject->mutable_identifiers() = inv.child();
      subject->set_area(inv.area());
      const char* title = lapse.kind == "overrun"          ? "Plan overrun"
                          : lapse.kind == "review-overdue" ? "Review overdue"
                                                           : "Core group overdue";
      notice.set_summary(absl::StrCat(title, ": ", plan, " (", inv.publisher(), "): ", lapse.what,
                                      ". Lead worker: ",
                                      inv.lead_worker().name().empty()
                                          ? inv.lead_worker().worker_id()
                                          : inv.lead_worker().name(),
                                      "."));
      auto& f = *notice.mutable_details()->mutable_fields();
      f["kind"].set_string_value(lapse.kind);
      f["publisher"].set_string_value(inv.publisher());
      f["plan_reference"].set_string_value(inv.reference());
      f["plan_type"].set_string_value(std::string(routing::PlanTypeName(inv.plan_type())));
      f["due"].set_string_value(FormatDate(lapse.due));
      if (inv.has_start()) f["start"].set_string_value(FormatDate(start));
      if (inv.has_next_review()) {
        f["next_review"].set_string_value(FormatDate(protocol::FromTimestamp(inv.next_review())));
      }
      if (inv.has_last_core_group()) {
        f["last_core_group"].set_string_value(
            FormatDate(protocol::FromTimestamp(inv.last_core_group())));
      }
      f["plan_version"].set_number_value(static_cast<double>(inv.version()));
      f["lead_worker"].set_string_value(inv.lead_worker().worker_id());
      *notice.mutable_occurred_at() = ToProto(lapse.due);
      notice.mutable_sharing()->set_consent(safeguard::v1::CONSENT_STATE_NOT_SOUGHT);
      notice.mutable_sharing()->set_not_sought_reason(
          safeguard::v1::NOT_SOUGHT_REASON_NOT_THE_LAWFUL_BASIS);

      protocol::NodeType reported_by = protocol::NodeType::kSocialCare;
      if (const identity::NodeInfo* p = nodes_.FindById(inv.publisher())) reported_by = p->type;
      auto finished = std::make_shared<absl::Notification>();
      auto result = std::make_shared<absl::StatusOr<safeguard::v1::SubmitResponse>>(
          absl::UnknownError("not sent"));
      sink_.Raise(std::move(notice), reported_by, std::move(targets),
                  [finished, result](absl::StatusOr<safeguard::v1::SubmitResponse> r) mutable {
                    *result = std::move(r);
                    finished->Notify();
                  });
      if (!finished->WaitForNotificationWithTimeout(kRaiseTimeout)) {
        SAFEGUARD_LOG_ERROR("plan drift: the ", lapse.kind, " notice was not stored in time");
        continue;
      }
      if (result->ok()) {
        alert.duplicate = (*result)->duplicate();
      } else if (absl::IsAlreadyExists(result->status())) {
        alert.duplicate = true;
      } else {
        SAFEGUARD_LOG_ERROR("plan drift: the ", lapse.kind, " notice was refused: ",
                            result->status().message());
        continue;
      }
      raised_.insert(alert.idempotency_key);
      if (!alert.duplicate) {
        SAFEGUARD_LOG_INFO("plan drift: ", lapse.kind, " alert for a plan of ", inv.publisher(),
                           " sent to ", node_id);
      }
      out.push_back(std::move(alert));
    }
  }
  return out;
}

}  // namespace safeguard::concern
