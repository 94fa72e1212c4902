#include "broker/server/chronology_service.h"

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "broker/policy/wire_vocabulary.h"
#include "broker/routing/recipient_resolver.h"
#include "broker/server/authentication.h"
#include "broker/server/grpc_status.h"
#include "broker/server/log.h"
#include "clients/protocol/envelope.h"
#include "clients/protocol/notification_validator.h"
#include "clients/protocol/identifiers.h"
#include "clients/protocol/node_type.h"
#include "google/protobuf/util/time_util.h"

namespace safeguard::server {
namespace {

using google::protobuf::util::TimeUtil;
using protocol::NodeType;
using safeguard::v1::ChronologyEvent;
using safeguard::v1::ChronologyMessage;

// Entries read from the store per batch (the stream sends them while the next is read).
constexpr int kReadBatch = 512;
// Events per call when the request names no page size, and the most it may name.
constexpr uint32_t kMaxPage = 10000;

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(t));
}

bool MayAsk(NodeType t) {
  return t == NodeType::kSocialCare || t == NodeType::kEarlyHelp || t == NodeType::kFrontDoor;
}

// The same normal form the Broker and Registry services give identifiers, so keys agree.
absl::Status NormaliseIdentifier(safeguard::v1::SubjectIdentifier& id) {
  if (id.scheme() == safeguard::v1::IDENTIFIER_SCHEME_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        "child: give the child's NHS number, school UPN or a reference");
  }
  return protocol::NormaliseIdentifier(id, "child");
}

// Whether the node holds this involvement: published it, or its lead worker's post goes there.
bool Holds(const safeguard::v1::Involvement& inv, const std::string& node_id) {
  return inv.publisher() == node_id || inv.lead_worker().node_id() == node_id;
}

// A child's identifiers, plan status and the requester's role for it, from the registry.
ChronologySubject SubjectFrom(const safeguard::v1::ChildRecord& record, std::string label,
                              const identity::NodeInfo& requester) {
  ChronologySubject s;
  s.label = std::move(label);
  for (const auto& id : record.identifiers()) s.keys.push_back(storage::SubjectKey(id));
  safeguard::v1::PlanType plan = safeguard::v1::PLAN_TYPE_UNSPECIFIED;
  bool holds = false;
  for (const auto& inv : record.involvements()) {
    if (inv.open() && routing::PlanProtection(inv.plan_type()) > routing::PlanProtection(plan)) plan = inv.plan_type();
    holds = holds || Holds(inv, requester.id);
  }
  s.status = policy::ChildStatusOf(plan);
  s.role = holds ? policy::RecipientRole::kLeadWorker : policy::RoleOf(requester.type);
  return s;
}

std::string WorkerLine(const safeguard::v1::Worker& w) {
  if (w.name().empty()) return w.team();
  return w.team().empty() ? w.name() : absl::StrCat(w.name(), " (", w.team(), ")");
}

void AddEpisodes(const safeguard::v1::ChildRecord& record, const std::string& label,
                 safeguard::v1::ChronologyHeader& header) {
  for (const auto& inv : record.involvements()) {
    auto* e = header.add_episodes();
    e->set_reference(inv.reference());
    e->set_plan_type(inv.plan_type());
    e->set_publisher(inv.publisher());
    if (inv.has_start()) *e->mutable_start() = inv.start();
    if (inv.has_end()) *e->mutable_end() = inv.end();
    e->set_open(inv.open());
    e->set_closure_reason(inv.closure_reason());
    e->set_lead_worker(WorkerLine(inv.lead_worker()));
    e->set_child_label(label);
  }
}

}  // namespace

absl::StatusOr<std::optional<ChronologyEvent>> DecideChronologyEvent(
    const storage::ChronologyEntry& entry, std::optional<NodeType> sender_type,
    const std::vector<ChronologySubject>& subjects, const policy::SharingPolicy& policy) {
  if (!sender_type || subjects.empty()) return std::nullopt;
  // Which of the children it concerns: the identity disclosure names its subjects.
  const ChronologySubject* subject = nullptr;
  for (const std::string& bytes : entry.envelope.disclosures()) {
    safeguard::v1::Disclosure d;
    if (!d.ParseFromString(bytes)) continue;  // AssembleDisclosures below reports it
    if (d.field() != safeguard::v1::DISCLOSABLE_FIELD_CHILD_IDENTITY) continue;
    for (const auto& s : d.value().subjects()) {
      for (const auto& id : s.identifiers()) {
        const std::string key = storage::SubjectKey(id);
        for (const auto& candidate : subjects) {
          if (std::find(candidate.keys.begin(), candidate.keys.end(), key) !=
                  candidate.keys.end() &&
              (subject == nullptr || &candidate < subject)) {
            subject = &candidate;
          }
        }
      }
    }
  }
  if (subject == nullptr) subject = &subjects.front();

  safeguard::v1::SignedPayload payload;
  if (!payload.ParseFromString(entry.envelope.payload())) {
    return absl::DataLossError(absl::StrCat("stored notification ", entry.notification_id,
                                            " cannot be parsed; the store is damaged"));
  }
  const auto& sharing = payload.core().sharing();
  policy::SharingRequest question;
  question.sender = *sender_type;
  question.type = entry.type;
  question.child_status = subject->status;
  question.consent = policy::ConsentOf(sharing.consent());
  question.not_sought_reason = policy::NotSoughtReasonOf(sharing.not_sought_reason());
  question.risk_of_harm = sharing.risk_of_harm();
  question.recipient = subject->role;
  policy::Decision decision = policy.Evaluate(question);
  if (!decision.shared()) return std::nullopt;

  ChronologyEvent event;
  event.set_sequence(entry.sequence);
  event.set_notification_id(entry.notification_id);
  *event.mutable_accepted_at() = ToProto(entry.accepted_at);
  event.set_sender_node_id(entry.sender);
  event.set_sender_node_type(std::string(protocol::NodeTypeName(*sender_type)));
  event.set_type(entry.type);
  event.set_child_label(subject->label);
  event.set_rule_id(decision.rule_id);
  safeguard::v1::SignedEnvelope minimised =
      protocol::Minimise(entry.envelope, decision.disclosed.ToSet());
  auto assembled = protocol::AssembleDisclosures(minimised, payload);
  if (!assembled.ok()) {
    return absl::DataLossError(absl::StrCat("stored notification ", entry.notification_id,
                                            " no longer assembles: ",
                                            assembled.status().message()));
  }
  safeguard::v1::Notification& n = assembled->notification;
  if (n.has_occurred_at()) *event.mutable_occurred_at() = n.occurred_at();
  event.set_severity(n.severity());
  event.set_summary(n.summary());
  // The sender's own addressing and keys are not the reader's business.
  n.clear_idempotency_key();
  n.clear_recipients();
  *event.mutable_notification() = std::move(n);
  for (auto field : assembled->withheld) event.add_withheld(field);
  return event;
}

// One GetChronology call: resolves the children in the registry, sends the header, then the
// events in sequence order (read in batches on the work queue, one write in flight), then the
// summary, and records the view in the audit log once, however the call ends.
//
// Thread-safe: gRPC callbacks and reads on the work queue take mu_. Deletes itself once gRPC is
// done with it (OnDone) and no read is scheduled (holds_ == 0).
class ChronologyService::Stream final : public grpc::ServerWriteReactor<ChronologyMessage> {
 public:
  Stream(ChronologyService& service, const identity::NodeInfo& requester,
         safeguard::v1::GetChronologyRequest request)
      : service_(service), requester_(requester), request_(std::move(request)) {
    cursor_ = request_.after_sequence();
    page_ = request_.page_size() == 0 ? kMaxPage : std::min(request_.page_size(), kMaxPage);
    from_ = request_.has_from() ? FromProto(request_.from()) : absl::InfinitePast();
    to_ = request_.has_to() ? FromProto(request_.to()) : absl::InfiniteFuture();
  }

  void Start() {
    absl::MutexLock lock(&mu_);
    ScheduleLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    if (!ok || finished_) {
      if (!finished_) FinishLocked(grpc::Status::CANCELLED);
      return;
    }
    pending_.pop_front();
    if (!pending_.empty()) {
      StartWriteLocked();
    } else if (summary_sent_) {
      FinishLocked(grpc::Status::OK);
    } else {
      ScheduleLocked();
    }
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    if (!finished_) FinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    bool destroy;
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
      destroy = holds_ == 0;
    }
    if (destroy) delete this;
  }

 private:
  void ScheduleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || scheduled_) return;
    scheduled_ = true;
    ++holds_;
    service_.workers_.Post([this] { RunAndRelease(); });
  }

  void RunAndRelease() {
    bool destroy;
    {
      absl::MutexLock lock(&mu_);
      scheduled_ = false;
      if (!finished_ && !write_in_flight_ && pending_.empty()) {
        if (!resolved_) {
          ResolveLocked();
        } else {
          ReadLocked();
        }
        if (!finished_ && !pending_.empty() && !write_in_flight_) StartWriteLocked();
      }
      destroy = --holds_ == 0 && done_;
    }
    if (destroy) delete this;
  }

  // Finds the child (and household) in the registry and queues the header.
  void ResolveLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    resolved_ = true;
    policy_ = service_.policy_->Current();
    safeguard::v1::ChronologyHeader header;
    const safeguard::v1::SubjectIdentifier& asked = request_.child();
    auto record = service_.children_.GetChild(asked);
    if (record.ok()) {
      subjects_.push_back(SubjectFrom(*record, "the child", requester_));
      AddEpisodes(*record, "the child", header);
      for (const auto& id : record->identifiers()) AddRef(id);
      if (request_.household()) {
        std::set<std::string> seen = {record->subject_id()};
        for (const auto& household : record->households()) {
          for (const auto& member : household.members()) {
            if (member.role() != safeguard::v1::HOUSEHOLD_ROLE_CHILD ||
                member.identifiers().empty()) {
              continue;
            }
            auto sibling = service_.children_.GetChild(member.identifiers(0));
            if (!sibling.ok()) {
              if (sibling.status().code() != absl::StatusCode::kNotFound) {
                FailLocked(sibling.status());
                return;
              }
              continue;  // a household member the registry knows only in the household
            }
            if (!seen.insert(sibling->subject_id()).second) continue;
            std::string label = absl::StrCat("sibling ", seen.size() - 1);
            subjects_.push_back(SubjectFrom(*sibling, label, requester_));
            AddEpisodes(*sibling, label, header);
            header.add_household()->set_label(label);
            for (const auto& id : sibling->identifiers()) AddRef(id);
          }
        }
      }
    } else if (record.status().code() == absl::StatusCode::kNotFound) {
      // Not in the registry: the notifications that name this identifier, no episodes.
      ChronologySubject s;
      s.label = "the child";
      s.keys.push_back(storage::SubjectKey(asked));
      s.role = policy::RoleOf(requester_.type);
      subjects_.push_back(std::move(s));
      AddRef(asked);
    } else {
      FailLocked(record.status());
      return;
    }
    for (const auto& s : subjects_) keys_.insert(keys_.end(), s.keys.begin(), s.keys.end());
    std::sort(keys_.begin(), keys_.end());
    keys_.erase(std::unique(keys_.begin(), keys_.end()), keys_.end());
    std::stable_sort(header.mutable_episodes()->begin(), header.mutable_episodes()->end(),
                     [](const auto& a, const auto& b) {
                       return TimeUtil::TimestampToMicroseconds(a.start()) <
                              TimeUtil::TimestampToMicroseconds(b.start());
                     });
    auto* child = header.mutable_child();
    child->set_label("the child");
    *child->add_identifiers() = asked;
    header.set_requester(requester_.id);
    header.set_requester_role(std::string(policy::RecipientRoleName(subjects_.front().role)));
    header.set_purpose(request_.purpose());
    *header.mutable_produced_at() = ToProto(service_.clock_.Now());
    header.set_policy_digest(policy_->digest());
    header.set_policy_version(policy_->version());
    *pending_.emplace_back().mutable_header() = std::move(header);
  }

  // Reads the next batch of events and queues those the requester may see; queues the summary
  // at the end (or when the page is full).
  void ReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    while (pending_.empty() && !summary_sent_) {
      auto batch = service_.store_.ReadChronology(keys_, from_, to_, cursor_, kReadBatch);
      if (!batch.ok()) {
        FailLocked(batch.status());
        return;
      }
      for (const storage::ChronologyEntry& entry : *batch) {
        std::optional<NodeType> sender_type;
        bool from_broker = false;
        if (const auto* sender = service_.registry_.FindById(entry.sender)) {
          sender_type = sender->type;
        } else if (protocol::IsBrokerNotice(entry.type)) {
          // The broker's own notices (escalations, cumulative concerns, drift, look-ups) are
          // decided as the broker sends them: as social care's safeguarding process.
          sender_type = NodeType::kSocialCare;
          from_broker = true;
        }
        auto event = DecideChronologyEvent(entry, sender_type, subjects_, *policy_);
        if (!event.ok()) {
          FailLocked(event.status());
          return;
        }
        if (from_broker && event->has_value()) (*event)->set_sender_node_type("broker");
        cursor_ = entry.sequence;
        if (!event->has_value()) {
          ++withheld_;
          continue;
        }
        ChronologyEvent& e = **event;
        ++by_agency_[e.sender_node_id()];
        ++by_type_[safeguard::v1::NotificationType_Name(e.type())];
        *pending_.emplace_back().mutable_event() = std::move(e);
        if (++shown_ == page_) {
          QueueSummaryLocked(/*more=*/true);
          return;
        }
      }
      if (static_cast<int>(batch->size()) < kReadBatch) QueueSummaryLocked(/*more=*/false);
    }
  }

  void QueueSummaryLocked(bool more) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto* summary = pending_.emplace_back().mutable_summary();
    summary->set_shown(shown_);
    summary->set_withheld(withheld_);
    for (const auto& [k, v] : by_agency_) {
      auto* c = summary->add_by_agency();
      c->set_key(k);
      c->set_count(v);
    }
    for (const auto& [k, v] : by_type_) {
      auto* c = summary->add_by_type();
      c->set_key(k);
      c->set_count(v);
    }
    if (more) summary->set_next_cursor(cursor_);
    summary_sent_ = true;
    RecordViewLocked("");
  }

  void AddRef(const safeguard::v1::SubjectIdentifier& id) {
    if (service_.audit_keys_ != nullptr) refs_.push_back(service_.audit_keys_->ChildReference(id));
  }

  // The one CHRONOLOGY_VIEWED entry of this call.
  void RecordViewLocked(absl::string_view ending) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (recorded_) return;
    recorded_ = true;
    safeguard::v1::AuditEntry entry;
    entry.set_event(safeguard::v1::AUDIT_EVENT_CHRONOLOGY_VIEWED);
    entry.set_actor(requester_.id);
    entry.set_actor_type(std::string(protocol::NodeTypeName(requester_.type)));
    for (auto& r : refs_) entry.add_child_refs(r);
    const std::string role =
        subjects_.empty() ? std::string(policy::RecipientRoleName(policy::RoleOf(requester_.type)))
                          : std::string(policy::RecipientRoleName(subjects_.front().role));
    entry.set_reason(absl::StrCat(
        "chronology for \"", request_.purpose(), "\": ", shown_, " shown, ", withheld_,
        " withheld; as ", role, request_.household() ? "; with household (" : "",
        request_.household() ? absl::StrCat(subjects_.size(), " children)") : "",
        ending.empty() ? "" : "; ", ending));
    if (policy_ != nullptr) entry.set_policy_digest(policy_->digest());
    service_.store_.AppendAudit(std::move(entry));
  }

  void StartWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    write_in_flight_ = true;
    StartWrite(&pending_.front());
  }

  void FailLocked(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    SAFEGUARD_LOG_ERROR("chronology for ", requester_.id, ": ", status.ToString());
    FinishLocked(ToGrpcStatus(status));
  }

  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    finished_ = true;
    // A view cut short is recorded too: what was read may have been seen.
    if (resolved_ && !recorded_) {
      RecordViewLocked(status.ok() ? "" : absl::StrCat("ended early: ", status.error_message()));
    }
    Finish(std::move(status));
  }

  ChronologyService& service_;
  const identity::NodeInfo& requester_;  // owned by the NodeRegistry, which outlives the service
  const safeguard::v1::GetChronologyRequest request_;

  absl::Mutex mu_;
  std::shared_ptr<const policy::SharingPolicy> policy_ ABSL_GUARDED_BY(mu_);
  std::vector<ChronologySubject> subjects_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> keys_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> refs_ ABSL_GUARDED_BY(mu_);
  uint64_t cursor_ ABSL_GUARDED_BY(mu_) = 0;  // last sequence examined
  uint32_t page_ = kMaxPage;
  absl::Time from_;
  absl::Time to_;
  uint64_t shown_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t withheld_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, uint64_t> by_agency_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> by_type_ ABSL_GUARDED_BY(mu_);
  std::deque<ChronologyMessage> pending_ ABSL_GUARDED_BY(mu_);  // front() in flight when writing
  bool resolved_ ABSL_GUARDED_BY(mu_) = false;
  bool summary_sent_ ABSL_GUARDED_BY(mu_) = false;
  bool recorded_ ABSL_GUARDED_BY(mu_) = false;
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool scheduled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  int holds_ ABSL_GUARDED_BY(mu_) = 0;
};

ChronologyService::ChronologyService(const identity::NodeRegistry& registry,
                                     registry::RegistryStore& children,
                                     policy::PolicyStore* policy, storage::Store& store,
                                     const audit_log::AuditKeys* audit_keys, const Clock& clock)
    : registry_(registry),
      children_(children),
      policy_(policy),
      store_(store),
      audit_keys_(audit_keys),
      clock_(clock) {}

ChronologyService::~ChronologyService() = default;

grpc::ServerWriteReactor<ChronologyMessage>* ChronologyService::GetChronology(
    grpc::CallbackServerContext* context, const safeguard::v1::GetChronologyRequest* request) {
  class Refused final : public grpc::ServerWriteReactor<ChronologyMessage> {
   public:
    explicit Refused(const absl::Status& s) { Finish(ToGrpcStatus(s)); }
    void OnDone() override { delete this; }
  };
  auto caller = AuthenticateCall(registry_, context);
  if (!caller.ok()) return new Refused(caller.status());
  const identity::NodeInfo& node = **caller;
  if (!MayAsk(node.type)) {
    SAFEGUARD_LOG_WARN("node ", node.id, " (", protocol::NodeTypeName(node.type),
                       ") refused GetChronology");
    return new Refused(absl::PermissionDeniedError(absl::StrCat(
        "node '", node.id, "' is a ", protocol::NodeTypeName(node.type),
        " node; only social-care, early-help and front-door nodes may view a child's "
        "chronology")));
  }
  if (policy_ == nullptr) {
    return new Refused(absl::FailedPreconditionError(
        "this broker runs without a sharing policy, so it cannot decide what you may see"));
  }
  safeguard::v1::GetChronologyRequest req = *request;
  if (absl::Status s = NormaliseIdentifier(*req.mutable_child()); !s.ok()) {
    return new Refused(s);
  }
  if (req.purpose().empty() || req.purpose().size() > 200) {
    return new Refused(absl::InvalidArgumentError(
        "purpose: say why you view the chronology (1 to 200 characters), e.g. \"core group 12 "
        "May\"; it is recorded in the audit log"));
  }
  if (req.has_from() && req.has_to() &&
      TimeUtil::TimestampToMicroseconds(req.from()) >= TimeUtil::TimestampToMicroseconds(req.to())) {
    return new Refused(absl::InvalidArgumentError("from: must be before to"));
  }
  auto* stream = new Stream(*this, node, std::move(req));
  stream->Start();
  return stream;
}

}  // namespace safeguard::server
