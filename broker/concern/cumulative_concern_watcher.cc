#include "broker/concern/cumulative_concern_watcher.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/notification.h"
#include "broker/policy/vocabulary.h"
#include "broker/routing/recipient_resolver.h"
#include "broker/server/log.h"
#include "clients/protocol/crypto.h"
#include "clients/protocol/envelope.h"
#include "clients/protocol/notification_validator.h"

namespace safeguard::concern {
namespace {

using safeguard::v1::NotificationType;
using safeguard::v1::SubjectIdentifier;

constexpr int kChronologyLimit = 2000;
// Bounds on what waits for evaluation (see the class comment): an event waiting holds its
// notification (~1-3 KB); a subject waiting, its identifiers and its latest sender (~0.5 KB).
constexpr size_t kMaxIncoming = 20000;
constexpr size_t kMaxPendingSubjects = 20000;
constexpr absl::Duration kRaiseTimeout = absl::Seconds(30);
// Subjects evaluated per turn before waiting for the notices they raised.
constexpr size_t kSubjectsPerTurn = 64;

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t s = absl::ToUnixSeconds(t);
  ts.set_seconds(s);
  ts.set_nanos(static_cast<int32_t>((t - absl::FromUnixSeconds(s)) / absl::Nanoseconds(1)));
  return ts;
}

std::string FormatUtc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string FormatDate(absl::Time t) { return absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone()); }

std::string ShortHash(absl::string_view s) { return protocol::HexSha256(s).substr(0, 20); }

// An agency's event that at least one cumulative rule counts (the broker's own notices never).
bool AnyRuleCounts(const policy::SharingPolicy& policy, const AcceptedEvent& event) {
  if (event.notification == nullptr || protocol::IsBrokerNotice(event.notification->type())) {
    return false;
  }
  for (const auto& rule : policy.cumulative_rules()) {
    if (rule.Counts(event.notification->type())) return true;
  }
  return false;
}

// The notice as it was sealed (the core with every disclosure merged), from a stored envelope.
std::optional<safeguard::v1::Notification> NoticeOf(const safeguard::v1::SignedEnvelope& e,
                                                     std::string* envelope_id) {
  safeguard::v1::SignedPayload payload;
  if (!payload.ParseFromString(e.payload())) return std::nullopt;
  *envelope_id = payload.envelope_id();
  auto assembled = protocol::AssembleDisclosures(e, payload);
  if (!assembled.ok()) return payload.core();
  return assembled->notification;
}

}  // namespace

struct CumulativeConcernWatcher::Subject {
  bool household = false;
  std::string key_id;                             // in idempotency keys; never an identifier
  std::vector<std::string> chronology_keys;       // SubjectKey() of every identifier read
  std::vector<std::vector<SubjectIdentifier>> notice_subjects;  // the children it is about
  std::vector<std::string> child_ids;             // registry subject ids (lead workers)
  std::string area;
};

CumulativeConcernWatcher::CumulativeConcernWatcher(storage::Store& store,
                                                   registry::RegistryStore* children,
                                                   const identity::NodeRegistry& nodes,
                                                   ConcernSink& sink, const Clock& clock,
                                                   PolicySource policy)
    : store_(store),
      children_(children),
      nodes_(nodes),
      sink_(sink),
      clock_(clock),
      policy_(std::move(policy)),
      thread_([this] { Run(); }) {}

CumulativeConcernWatcher::~CumulativeConcernWatcher() { Stop(); }

struct CumulativeConcernWatcher::PendingSubject {
  Subject subject;
  std::set<safeguard::v1::NotificationType> types;  // of the events waiting
  AcceptedEvent latest;
};

void CumulativeConcernWatcher::OnAccepted(AcceptedEvent event) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  if (incoming_.size() >= kMaxIncoming) {
    NoteDroppedLocked();
    return;
  }
  incoming_.push_back(std::move(event));
}

void CumulativeConcernWatcher::NoteDroppedLocked() {
  if (dropped_++ % 10000 == 0) {
    SAFEGUARD_LOG_WARN("cumulative-concern rules are behind: ", dropped_,
                       " events dropped so far; their children are evaluated again with their "
                       "next event");
  }
}

void CumulativeConcernWatcher::Drain() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](CumulativeConcernWatcher* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
        return w->stopping_ || (w->incoming_.empty() && !w->busy_);
      },
      this));
}

void CumulativeConcernWatcher::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    incoming_.clear();
  }
  if (thread_.joinable()) thread_.join();
}

void CumulativeConcernWatcher::Run() {
  for (;;) {
    std::deque<AcceptedEvent> arrived;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](CumulativeConcernWatcher* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
            return w->stopping_ || !w->incoming_.empty() || w->busy_;
          },
          this));
      if (stopping_) return;
      arrived.swap(incoming_);
      busy_ = true;
    }
    std::shared_ptr<const policy::SharingPolicy> policy = policy_();
    if (policy != nullptr) {
      for (AcceptedEvent& event : arrived) Gather(*policy, std::move(event));
    }
    arrived.clear();
    // A few subjects per turn, so that events arriving meanwhile are merged into what waits;
    // their notices are sent together and waited for once, so they share commits.
    if (policy != nullptr) {
      std::vector<SentNotice> sent;
      for (size_t n = 0; n < kSubjectsPerTurn && !order_.empty(); ++n) {
        auto node = pending_.extract(order_.front());
        order_.pop_front();
        if (node.empty()) continue;
        const PendingSubject& p = *node.mapped();
        EvaluateSubject(*policy, p.subject, p.subject.household, p.types, p.latest, clock_.Now(),
                        sent);
      }
      Settle(sent);
    }
    absl::MutexLock lock(&mu_);
    busy_ = !order_.empty();
    if (policy == nullptr) {
      order_.clear();
      pending_.clear();
      busy_ = false;
    }
  }
}

void CumulativeConcernWatcher::Gather(const policy::SharingPolicy& policy, AcceptedEvent event) {
  if (!AnyRuleCounts(policy, event)) return;
  const safeguard::v1::NotificationType type = event.notification->type();
  for (Subject& subject : SubjectsOf(event)) {
    auto it = pending_.find(subject.key_id);
    if (it == pending_.end()) {
      if (pending_.size() >= kMaxPendingSubjects) {
        absl::MutexLock lock(&mu_);
        NoteDroppedLocked();
        continue;
      }
      order_.push_back(subject.key_id);
      auto p = std::make_unique<PendingSubject>();
      p->subject = std::move(subject);
      it = pending_.emplace(order_.back(), std::move(p)).first;
    }
    it->second->types.insert(type);
    // Who sent the latest event is all its evaluation needs of it: the notification itself is
    // not kept while the subject waits (it was most of a waiting subject's memory, and under
    // load up to 20,000 subjects wait).
    AcceptedEvent& latest = it->second->latest;
    latest.sequence = event.sequence;
    latest.accepted_at = event.accepted_at;
    latest.sender = event.sender;
    latest.sender_type = event.sender_type;
    latest.sender_area = event.sender_area;
  }
}

std::vector<CumulativeConcernWatcher::Subject> CumulativeConcernWatcher::SubjectsOf(
    const AcceptedEvent& event) {
  std::vector<Subject> out;
  std::set<std::string> seen;
  auto add = [&](Subject s) {
    if (seen.insert(s.key_id).second) out.push_back(std::move(s));
  };
  for (const auto& subject : event.notification->subjects()) {
    const std::string area = subject.area().empty() ? event.sender_area : subject.area();
    std::optional<safeguard::v1::ChildRecord> record;
    if (children_ != nullptr) {
      auto match = children_->MatchChild(subject.identifiers());
      if (match.ok() && match->kind == registry::ChildMatch::Kind::kMatched) {
        for (const auto& id : subject.identifiers()) {
          auto r = children_->GetChild(id);
          if (r.ok()) {
            record = *std::move(r);
            break;
          }
        }
      }
    }
    if (!record) {
      // Unknown to the registry: the child as the sender names them.
      Subject s;
      std::vector<std::string> keys;
      for (const auto& id : subject.identifiers()) keys.push_back(storage::SubjectKey(id));
      std::sort(keys.begin(), keys.end());
      s.key_id = absl::StrCat("u-", ShortHash(absl::StrJoin(keys, "|")));
      s.chronology_keys = keys;
      s.notice_subjects.push_back({subject.identifiers().begin(), subject.identifiers().end()});
      s.area = area;
      add(std::move(s));
      continue;
    }
    std::set<std::string> own;
    for (const auto& id : record->identifiers()) own.insert(storage::SubjectKey(id));
    bool adult = false;
    for (const auto& h : record->households()) {
      for (const auto& m : h.members()) {
        if (m.role() == safeguard::v1::HOUSEHOLD_ROLE_CHILD) continue;
        for (const auto& id : m.identifiers()) adult = adult || own.count(storage::SubjectKey(id));
      }
    }
    if (!adult) {
      Subject s;
      s.key_id = record->subject_id();
      s.chronology_keys.assign(own.begin(), own.end());
      s.notice_subjects.push_back({record->identifiers().begin(), record->identifiers().end()});
      s.child_ids.push_back(record->subject_id());
      s.area = area;
      for (const auto& inv : record->involvements()) {
        if (inv.open() && !inv.area().empty()) {
          s.area = inv.area();
          break;
        }
      }
      add(std::move(s));
    }
    for (const auto& h : record->households()) {
      Subject s;
      s.household = true;
      s.key_id = absl::StrCat("household-", ShortHash(absl::StrCat(h.publisher(), "/", h.reference())));
      s.area = h.area().empty() ? area : h.area();
      std::set<std::string> keys;
      for (const auto& m : h.members()) {
        for (const auto& id : m.identifiers()) keys.insert(storage::SubjectKey(id));
        if (m.role() != safeguard::v1::HOUSEHOLD_ROLE_CHILD || m.identifiers_size() == 0) continue;
        if (s.notice_subjects.size() < 16) {
          s.notice_subjects.push_back({m.identifiers().begin(), m.identifiers().end()});
        }
        auto child = children_->MatchChild(m.identifiers());
        if (child.ok() && child->kind == registry::ChildMatch::Kind::kMatched) {
          s.child_ids.push_back(child->subject_ids.front());
        }
      }
      s.chronology_keys.assign(keys.begin(), keys.end());
      if (!s.notice_subjects.empty()) add(std::move(s));
    }
  }
  return out;
}

std::vector<RaisedConcern> CumulativeConcernWatcher::Evaluate(const AcceptedEvent& event) {
  std::vector<RaisedConcern> raised;
  std::shared_ptr<const policy::SharingPolicy> policy = policy_();
  if (policy == nullptr || !AnyRuleCounts(*policy, event)) return raised;
  const absl::Time now = clock_.Now();
  std::vector<SentNotice> sent;
  for (const Subject& subject : SubjectsOf(event)) {
    EvaluateSubject(*policy, subject, subject.household, {event.notification->type()}, event, now,
                    sent);
  }
  return Settle(sent);
}

void CumulativeConcernWatcher::EvaluateSubject(
    const policy::SharingPolicy& policy, const Subject& subject, bool household,
    const std::set<safeguard::v1::NotificationType>& types, const AcceptedEvent& event,
    absl::Time now, std::vector<SentNotice>& sent) {
  for (const policy::CumulativeRule& rule : policy.cumulative_rules()) {
    if ((rule.scope == policy::CumulativeRule::Scope::kHousehold) != household) continue;
    bool counts = false;
    for (auto type : types) counts = counts || rule.Counts(type);
    if (!counts) continue;
    const absl::Time from = now - rule.within;
    // Twice the window back: an outcome recorded in the window may be on an older event.
    // Counting needs only who sent what when; envelopes only of earlier concern notices.
    auto entries = store_.ReadChronology(
        subject.chronology_keys, rule.after_no_further_action ? from - rule.within : from,
        now + absl::Seconds(1), 0, kChronologyLimit,
        [](safeguard::v1::NotificationType type) {
          return type == safeguard::v1::NOTIFICATION_TYPE_CUMULATIVE_CONCERN;
        },
        // The newest: for a child with more events in the window than the limit, what happened
        // lately (and the last notice raised) is what the rule must see.
        storage::Store::Keep::kNewest);
    if (!entries.ok()) {
      SAFEGUARD_LOG_WARN("cumulative rule ", rule.id, ": cannot read the chronology: ",
                         entries.status().message());
      continue;
    }
    // Events already listed by an earlier notice of this rule for this subject do not count
    // again: a new cluster starts after the last one raised.
    const std::string key_prefix = absl::StrCat("cumulative:", rule.id, ":", subject.key_id, ":");
    uint64_t through = 0;
    for (const auto& e : *entries) {
      if (e.type != safeguard::v1::NOTIFICATION_TYPE_CUMULATIVE_CONCERN ||
          nodes_.FindById(e.sender) != nullptr) {
        continue;
      }
      std::string envelope_id;
      auto notice = NoticeOf(e.envelope, &envelope_id);
      if (!notice || !absl::StartsWith(envelope_id, key_prefix)) continue;
      uint64_t t = e.sequence;
      auto it = notice->details().fields().find("through_sequence");
      if (it != notice->details().fields().end()) {
        t = static_cast<uint64_t>(it->second.number_value());
      }
      through = std::max(through, t);
    }
    // After a no-further-action outcome: the earliest one recorded within the window.
    std::optional<absl::Time> nfa_at;
    std::string nfa_notification;
    if (rule.after_no_further_action) {
      for (const auto& e : *entries) {
        if (protocol::IsBrokerNotice(e.type) || nodes_.FindById(e.sender) == nullptr) continue;
        auto status = store_.GetStatus(e.notification_id);
        if (!status.ok()) continue;
        for (const auto& r : status->recipients) {
          if (!r.outcome ||
              r.outcome->record.kind != safeguard::v1::OUTCOME_KIND_NO_FURTHER_ACTION ||
              r.outcome->recorded_at < from || r.outcome->recorded_at > now) {
            continue;
          }
          if (!nfa_at || r.outcome->recorded_at < *nfa_at) {
            nfa_at = r.outcome->recorded_at;
            nfa_notification = e.notification_id;
          }
        }
      }
      if (!nfa_at) continue;
    }
    std::vector<const storage::ChronologyEntry*> counted;
    std::set<std::string> agencies;
    for (const auto& e : *entries) {
      if (e.accepted_at < from || e.sequence <= through || !rule.Counts(e.type)) continue;
      if (nodes_.FindById(e.sender) == nullptr) continue;  // only agencies' events
      if (nfa_at && e.accepted_at <= *nfa_at) continue;
      counted.push_back(&e);
      agencies.insert(e.sender);
    }
    if (static_cast<int>(counted.size()) < rule.at_least ||
        static_cast<int>(agencies.size()) < rule.agencies_at_least) {
      continue;
    }

    const storage::ChronologyEntry& first = *counted.front();
    const storage::ChronologyEntry& last = *counted.back();
    safeguard::v1::Notification notice;
    notice.set_idempotency_key(absl::StrCat(key_prefix, first.sequence));
    notice.set_type(safeguard::v1::NOTIFICATION_TYPE_CUMULATIVE_CONCERN);
    notice.set_severity(safeguard::v1::SEVERITY_CONCERN);
    for (const auto& ids : subject.notice_subjects) {
      auto* s = notice.add_subjects();
      for (const auto& id : ids) *s->add_identifiers() = id;
      s->set_area(subject.area);
    }
    std::set<std::string> type_names;
    for (const auto* e : counted) type_names.insert(policy::NotificationTypeName(e->type));
    const int64_t days = rule.within / absl::Hours(24);
    notice.set_summary(absl::StrCat(
        counted.size(), " events (", absl::StrJoin(type_names, ", "), ") from ",
        agencies.size(), agencies.size() == 1 ? " agency" : " agencies", " in ", days, " days",
        household ? " about the child's household" : "",
        nfa_at ? absl::StrCat(" after a no-further-action outcome on ", FormatDate(*nfa_at)) : "",
        " (rule ", rule.id, ")", rule.description.empty() ? "" : ": ", rule.description));
    auto& fields = *notice.mutable_details()->mutable_fields();
    fields["rule"].set_string_value(rule.id);
    fields["scope"].set_string_value(household ? "household" : "child");
    fields["within_days"].set_number_value(static_cast<double>(days));
    fields["at_least"].set_number_value(rule.at_least);
    fields["agencies"].set_number_value(static_cast<double>(agencies.size()));
    fields["through_sequence"].set_number_value(static_cast<double>(last.sequence));
    auto* list = fields["events"].mutable_list_value();
    for (const auto* e : counted) {
      auto& f = *list->add_values()->mutable_struct_value()->mutable_fields();
      f["date"].set_string_value(FormatUtc(e->accepted_at));
      f["agency"].set_string_value(e->sender);
      f["type"].set_string_value(policy::NotificationTypeName(e->type));
      f["notification_id"].set_string_value(e->notification_id);
      f["sequence"].set_number_value(static_cast<double>(e->sequence));
    }
    if (nfa_at) {
      auto& f = *fields["after_no_further_action"].mutable_struct_value()->mutable_fields();
      f["notification_id"].set_string_value(nfa_notification);
      f["recorded"].set_string_value(FormatUtc(*nfa_at));
    }
    *notice.mutable_occurred_at() = ToProto(last.accepted_at);
    notice.mutable_sharing()->set_consent(safeguard::v1::CONSENT_STATE_NOT_SOUGHT);
    notice.mutable_sharing()->set_not_sought_reason(
        safeguard::v1::NOT_SOUGHT_REASON_NOT_THE_LAWFUL_BASIS);
    notice.mutable_sharing()->set_risk_of_harm(true);

    protocol::NodeType reported_by = event.sender_type;
    if (const identity::NodeInfo* n = nodes_.FindById(last.sender)) reported_by = n->type;
    std::vector<routing::ResolvedRecipient> targets = TargetsFor(subject, event.sender_area);
    if (targets.empty()) {
      SAFEGUARD_LOG_ERROR("cumulative rule ", rule.id, " met but nobody to tell in area ",
                          subject.area);
      continue;
    }
    SentNotice& pending = sent.emplace_back();
    pending.rule_id = rule.id;
    pending.idempotency_key = absl::StrCat(key_prefix, first.sequence);
    pending.events = counted.size();
    pending.finished = std::make_shared<absl::Notification>();
    pending.result = std::make_shared<absl::StatusOr<safeguard::v1::SubmitResponse>>(
        absl::UnknownError("not sent"));
    sink_.Raise(std::move(notice), reported_by, std::move(targets),
                [finished = pending.finished, result = pending.result](
                    absl::StatusOr<safeguard::v1::SubmitResponse> r) mutable {
                  *result = std::move(r);
                  finished->Notify();
                });
  }
}

std::vector<RaisedConcern> CumulativeConcernWatcher::Settle(std::vector<SentNotice>& sent) {
  std::vector<RaisedConcern> raised;
  const absl::Time deadline = absl::Now() + kRaiseTimeout;
  for (SentNotice& notice : sent) {
    if (!notice.finished->WaitForNotificationWithDeadline(deadline)) {
      SAFEGUARD_LOG_ERROR("cumulative rule ", notice.rule_id, ": the notice was not stored in time");
      continue;
    }
    const absl::StatusOr<safeguard::v1::SubmitResponse>& result = *notice.result;
    RaisedConcern out{notice.rule_id, notice.idempotency_key, false};
    if (result.ok()) {
      out.duplicate = result->duplicate();
    } else if (absl::IsAlreadyExists(result.status())) {
      out.duplicate = true;  // raised before with other content (e.g. before a policy change)
    } else {
      SAFEGUARD_LOG_ERROR("cumulative rule ", notice.rule_id, ": the notice was refused: ",
                          result.status().message());
      continue;
    }
    SAFEGUARD_LOG_INFO("cumulative concern: rule ", notice.rule_id, " met by ", notice.events,
                       " events", out.duplicate ? " (raised before)" : "");
    raised.push_back(std::move(out));
  }
  sent.clear();
  return raised;
}

std::vector<routing::ResolvedRecipient> CumulativeConcernWatcher::TargetsFor(
    const Subject& subject, const std::string& fallback_area) {
  std::vector<routing::ResolvedRecipient> out;
  std::set<std::pair<std::string, std::string>> seen;
  if (children_ != nullptr) {
    for (const auto& child : subject.child_ids) {
      auto open = children_->OpenInvolvements(child);
      if (!open.ok()) continue;
      for (const auto& inv : *open) {
        const std::string node_id =
            inv.lead_worker().node_id().empty() ? inv.publisher() : inv.lead_worker().node_id();
        const identity::NodeInfo* node = nodes_.FindById(node_id);
        if (node == nullptr || !seen.emplace(node_id, inv.lead_worker().worker_id()).second) {
          continue;
        }
        out.push_back({node, true, inv.lead_worker().worker_id(),
                       absl::StrCat("lead worker of ", routing::PlanTypeName(inv.plan_type()), " plan ",
                                    inv.reference(), " (cumulative concern)")});
      }
    }
  }
  if (out.empty()) {
    const std::string area = subject.area.empty() ? fallback_area : subject.area;
    if (const identity::NodeInfo* fd = nodes_.FrontDoorFor(area)) {
      out.push_back({fd, false, "",
                     absl::StrCat("front door for area ", area,
                                  " (cumulative concern; no open plan)")});
    }
  }
  return out;
}

}  // namespace safeguard::concern
