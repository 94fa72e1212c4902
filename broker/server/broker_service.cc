#include "broker/server/broker_service.h"

#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <array>
#include <atomic>
#include <cstring>
#include <deque>
#include <set>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "broker/server/authentication.h"
#include "broker/server/grpc_status.h"
#include "broker/server/log.h"
#include "broker/server/notification_digest.h"
#include "broker/policy/sharing_policy.h"
#include "broker/policy/vocabulary.h"
#include "broker/policy/wire_vocabulary.h"
#include "clients/protocol/envelope.h"
#include "clients/protocol/notification_validator.h"
#include "google/protobuf/util/time_util.h"
#include "grpc/grpc_security_constants.h"

namespace safeguard::server {
namespace {

using google::protobuf::util::TimeUtil;
using safeguard::v1::Delivery;

constexpr int kMailboxReadBatch = 64;
constexpr int kMaxAcknowledgeMany = 1000;

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

// The ACKNOWLEDGED audit entry for `node` (the store fills in the rest), or INVALID_ARGUMENT
// when `acknowledged_by` is not 1 to 200 characters; `what` is "delivery" or "deliveries".
absl::StatusOr<safeguard::v1::AuditEntry> AcknowledgedEntry(const identity::NodeInfo& node,
                                                           const std::string& acknowledged_by,
                                                           absl::string_view what) {
  if (acknowledged_by.empty() || acknowledged_by.size() > 200) {
    return absl::InvalidArgumentError(absl::StrCat("acknowledged_by: give the person or system "
                                                   "that took the ", what,
                                                   " on (1 to 200 characters)"));
  }
  safeguard::v1::AuditEntry entry;
  entry.set_event(safeguard::v1::AUDIT_EVENT_ACKNOWLEDGED);
  entry.set_actor(node.id);
  entry.set_actor_type(std::string(protocol::NodeTypeName(node.type)));
  return entry;
}

void ToAcknowledgeResponse(const storage::Acknowledged& ack,
                           safeguard::v1::AcknowledgeResponse* out) {
  out->set_cursor(ack.cursor);
  out->set_notification_id(ack.notification_id);
  *out->mutable_acknowledged_at() = ToProto(ack.acknowledged_at);
  out->set_acknowledged_by(ack.acknowledged_by);
  out->set_already_acknowledged(ack.already_acknowledged);
}

// 32 hex characters: the time in milliseconds (48 bits), then 80 random bits. Ids made later
// sort later, so each commit adds to the same few pages of the store's id index instead of
// dirtying a random page per notification (p99 submit→ack at 3,000/s: 20-31 → 15 ms); 80
// random bits keep them unguessable. Nobody should parse them.
//
// The random bits come from OpenSSL's CSPRNG a few hundred ids' worth at a time, per thread:
// one RAND_bytes call per id took ~1% of the broker's CPU at saturation. Each byte is used once.
absl::StatusOr<std::string> NewNotificationId(absl::Time now) {
  constexpr size_t kRandomBytes = 10;
  thread_local std::array<unsigned char, 4000> pool;
  thread_local size_t used = pool.size();
  if (used + kRandomBytes > pool.size()) {
    if (RAND_bytes(pool.data(), static_cast<int>(pool.size())) != 1) {
      return absl::UnavailableError(
          "the broker could not generate an id; retry with the same key");
    }
    used = 0;
  }
  unsigned char bytes[6 + kRandomBytes];
  const uint64_t ms = static_cast<uint64_t>(absl::ToUnixMillis(now));
  for (int i = 0; i < 6; ++i) bytes[i] = static_cast<unsigned char>(ms >> (8 * (5 - i)));
  std::memcpy(bytes + 6, pool.data() + used, kRandomBytes);
  OPENSSL_cleanse(pool.data() + used, kRandomBytes);  // handed out once only
  used += kRandomBytes;
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(bytes), sizeof bytes));
}

safeguard::v1::Outcome ToOutcome(const storage::StoredOutcome& o) {
  safeguard::v1::Outcome out;
  out.set_notification_id(o.notification_id);
  out.set_recipient_node_id(o.mailbox);
  out.set_recipient_role(o.role);
  out.set_kind(o.record.kind);
  out.set_rationale(o.record.rationale);
  out.set_recorded_by(o.record.recorded_by);
  out.set_challenge_route(o.record.challenge_route);
  *out.mutable_recorded_at() = ToProto(o.recorded_at);
  return out;
}

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* context,
                                    const absl::Status& status) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

// One open Subscribe call: sends the mailbox's deliveries in cursor order, one write in flight.
//
// Thread-safe: gRPC callbacks, the hub's notifications and mailbox reads on the work queue all
// take mu_. Reads run on the work queue so neither gRPC's threads nor the store's committer
// ever wait for the database. The object deletes itself once gRPC is done with it (OnDone) and
// no read is scheduled (holds_ == 0).
class BrokerService::MailboxStream final : public grpc::ServerWriteReactor<Delivery>,
                                           public delivery::MailboxListener {
 public:
  MailboxStream(BrokerService& service, const identity::NodeInfo& node,
                const safeguard::v1::SubscribeRequest& request)
      : service_(service),
        mailbox_(node.id),
        node_type_(protocol::NodeTypeName(node.type)),
        cursor_(request.after_cursor()),
        include_acknowledged_(request.include_acknowledged()),
        follow_(request.follow()) {}

  void Start() {
    if (follow_) {
      absl::Status registered = service_.hub_.Register(mailbox_, this);
      if (!registered.ok()) {
        absl::MutexLock lock(&mu_);
        FinishLocked(ToGrpcStatus(registered));
        return;
      }
      registered_ = true;
    }
    absl::MutexLock lock(&mu_);
    ScheduleReadLocked();
  }

  void OnMailboxChanged() override {
    absl::MutexLock lock(&mu_);
    more_ = true;
    if (!write_in_flight_ && pending_.empty()) ScheduleReadLocked();
  }

  void OnBrokerStopping() override {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    finished_ = true;
    Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "the broker is restarting; resume from your last cursor"));
  }

  void OnWriteDone(bool ok) override {
    uint64_t sent_cursor = 0;
    safeguard::v1::AuditEntry delivered;
    {
      absl::MutexLock lock(&mu_);
      write_in_flight_ = false;
      if (!ok || finished_) {
        // The client went away; OnCancel or OnDone follows.
        if (!finished_) FinishLocked(grpc::Status::CANCELLED);
        return;
      }
      sent_cursor = pending_.front().cursor();
      cursor_ = sent_cursor;
      delivered = std::move(pending_delivered_.front());
      pending_delivered_.pop_front();
      pending_.pop_front();
      if (!pending_.empty()) {
        StartWriteLocked();
      } else {
        ScheduleReadLocked();
      }
    }
    service_.store_.MarkDelivered(mailbox_, sent_cursor, std::move(delivered));
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    if (!finished_) FinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    if (registered_) service_.hub_.Unregister(mailbox_, this);
    bool destroy;
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
      destroy = holds_ == 0;
    }
    if (destroy) delete this;
  }

 private:
  void ScheduleReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || read_scheduled_) return;
    read_scheduled_ = true;
    more_ = false;
    ++holds_;
    service_.workers_.Post([this] { ReadAndRelease(); });
  }

  void ReadAndRelease() {
    bool destroy;
    {
      absl::MutexLock lock(&mu_);
      read_scheduled_ = false;
      if (!finished_ && !write_in_flight_ && pending_.empty()) ReadLocked();
      destroy = --holds_ == 0 && done_;
    }
    if (destroy) delete this;
  }

  void ReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto batch = service_.store_.ReadMailbox(mailbox_, cursor_, include_acknowledged_,
                                             kMailboxReadBatch);
    if (!batch.ok()) {
      SAFEGUARD_LOG_ERROR("reading mailbox ", mailbox_, ": ", batch.status().ToString());
      FinishLocked(ToGrpcStatus(batch.status()));
      return;
    }
    for (storage::StoredDelivery& stored : *batch) {
      Delivery& d = pending_.emplace_back();
      d.set_cursor(stored.cursor);
      d.set_notification_id(stored.notification_id);
      d.set_sender_node_id(stored.sender);
      if (const auto* sender = service_.registry_.FindById(stored.sender)) {
        d.set_sender_node_type(std::string(protocol::NodeTypeName(sender->type)));
      } else if (stored.sender == service_.broker_id_) {
        d.set_sender_node_type("broker");
      }
      d.set_route(stored.route);
      d.set_role(stored.role);
      d.set_addressed_to(stored.addressee);
      *d.mutable_accepted_at() = ToProto(stored.accepted_at);
      // Forward only what this recipient may see; the sender's signature still verifies.
      *d.mutable_envelope() = protocol::Minimise(
          stored.envelope, policy::FieldSet::FromBits(static_cast<uint8_t>(stored.disclosed)).ToSet());
      safeguard::v1::SignedPayload payload;
      payload.ParseFromString(d.envelope().payload());
      auto assembled = protocol::AssembleDisclosures(d.envelope(), payload);
      if (!assembled.ok()) {
        // Verified on acceptance, so this means the store was damaged.
        SAFEGUARD_LOG_ERROR("stored envelope of ", stored.notification_id,
                            " no longer assembles: ", assembled.status().message());
        FinishLocked(grpc::Status(grpc::StatusCode::DATA_LOSS,
                                  "a stored notification is damaged; the broker's operator "
                                  "has been told"));
        return;
      }
      *d.mutable_notification() = std::move(assembled->notification);
      for (auto field : assembled->withheld) d.add_withheld(field);
      // The DELIVERED audit entry, logged once the stream has written this delivery; built
      // here, where the payload is already parsed.
      safeguard::v1::AuditEntry& delivered = pending_delivered_.emplace_back();
      delivered.set_event(safeguard::v1::AUDIT_EVENT_DELIVERED);
      delivered.set_actor(mailbox_);
      delivered.set_actor_type(node_type_);
      delivered.set_counterpart(stored.sender);
      delivered.set_notification_id(stored.notification_id);
      delivered.set_notification_type(d.notification().type());
      delivered.set_envelope_digest(protocol::Sha256(d.envelope().payload()));
      for (auto field : assembled->withheld) delivered.add_fields_withheld(field);
      for (auto field : assembled->disclosed) delivered.add_fields_shared(field);
      if (stored.acknowledged_at) {
        *d.mutable_acknowledged_at() = ToProto(*stored.acknowledged_at);
        d.set_acknowledged_by(stored.acknowledged_by);
      }
    }
    if (!pending_.empty()) {
      StartWriteLocked();
    } else if (more_) {
      ScheduleReadLocked();
    } else if (!follow_) {
      FinishLocked(grpc::Status::OK);  // backlog sent
    }
    // else: caught up; OnMailboxChanged schedules the next read.
  }

  void StartWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    write_in_flight_ = true;
    StartWrite(&pending_.front());
  }

  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    finished_ = true;
    Finish(std::move(status));
  }

  BrokerService& service_;
  const std::string mailbox_;
  const std::string node_type_;
  bool registered_ = false;  // written in Start before any callback can run

  absl::Mutex mu_;
  uint64_t cursor_ ABSL_GUARDED_BY(mu_);  // last cursor sent
  const bool include_acknowledged_;
  const bool follow_;
  std::deque<Delivery> pending_ ABSL_GUARDED_BY(mu_);  // front() is being written when in flight
  std::deque<safeguard::v1::AuditEntry> pending_delivered_ ABSL_GUARDED_BY(mu_);  // one each
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool read_scheduled_ ABSL_GUARDED_BY(mu_) = false;
  bool more_ ABSL_GUARDED_BY(mu_) = false;  // the mailbox changed since the last read began
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  int holds_ ABSL_GUARDED_BY(mu_) = 0;  // scheduled reads that still reference this object
};

BrokerService::BrokerService(const identity::NodeRegistry& registry, identity::TrustStore& trust,
                             storage::Store& store, delivery::MailboxHub& hub, const Clock& clock,
                             Options options)
    : registry_(registry),
      trust_(trust),
      store_(store),
      hub_(hub),
      clock_(clock),
      options_(std::move(options)),
      resolver_(registry, options_.children) {
  if (options_.receipt_signer != nullptr) {
    const std::string& uri = options_.receipt_signer->uri();
    broker_id_ = uri.substr(uri.rfind('/') + 1);
    receipts_ = std::make_unique<ReceiptBatcher>(
        options_.receipt_signer, [this](absl::AnyInvocable<void()> work) {
          workers_.Post(std::move(work));
        });
  }
}

BrokerService::~BrokerService() = default;

absl::StatusOr<const identity::NodeInfo*> BrokerService::Authenticate(
    grpc::CallbackServerContext* context) {
  return AuthenticateCall(registry_, context);
}

void BrokerService::RecordRefusal(const identity::NodeInfo* sender,
                                  const std::string& envelope_digest, const absl::Status& status) {
  safeguard::v1::AuditEntry entry;
  entry.set_event(safeguard::v1::AUDIT_EVENT_REFUSED);
  if (sender != nullptr) {
    entry.set_actor(sender->id);
    entry.set_actor_type(std::string(protocol::NodeTypeName(sender->type)));
  } else {
    entry.set_actor("unauthenticated");
  }
  entry.set_envelope_digest(envelope_digest);
  entry.set_reason(absl::StrCat(absl::StatusCodeToString(status.code()), ": ",
                                status.message().substr(0, 300)));
  store_.AppendAudit(std::move(entry));
}

grpc::ServerUnaryReactor* BrokerService::Submit(grpc::CallbackServerContext* context,
                                                const safeguard::v1::SubmitRequest* request,
                                                safeguard::v1::SubmitResponse* response) {
  auto sender = Authenticate(context);
  // Every refusal of a sharing attempt is itself an audit-log entry.
  if (!sender.ok()) {
    RecordRefusal(nullptr, "", sender.status());
    return FinishNow(context, sender.status());
  }
  auto* reactor = context->DefaultReactor();
  AcceptFrom(**sender, *request,
             [reactor, response](absl::StatusOr<safeguard::v1::SubmitResponse> result) {
               if (!result.ok()) {
                 reactor->Finish(ToGrpcStatus(result.status()));
                 return;
               }
               *response = *std::move(result);
               reactor->Finish(grpc::Status::OK);
             });
  return reactor;
}

void BrokerService::AcceptFrom(const identity::NodeInfo& node,
                               const safeguard::v1::SubmitRequest& request, SubmitDone done) {
  if (node.type == protocol::NodeType::kAuditor) {
    absl::Status refusal = absl::PermissionDeniedError("auditor nodes may not send notifications");
    RecordRefusal(&node, "", refusal);  // every refusal of a sharing attempt is audited
    return std::move(done)(refusal);
  }
  // Admission control, before any work: an overloaded broker answers at once instead of
  // queueing without bound. Not an audit-log entry: nothing was read, decided or shared, and
  // the sender retries the same envelope.
  if (!TakeSubmitPlace()) {
    return std::move(done)(absl::UnavailableError(absl::StrCat(
        "the broker is at capacity (", options_.max_submits_in_flight,
        " notifications being accepted); nothing was stored: retry the same envelope after a "
        "short back-off (the SDK does)")));
  }
  AcceptAdmitted(node, request, std::move(done));
}

void BrokerService::AcceptAdmitted(const identity::NodeInfo& node,
                                   const safeguard::v1::SubmitRequest& request, SubmitDone done) {
  absl::Cleanup release_place = [this] { ReleaseSubmitPlace(); };
  // Every refusal of a sharing attempt is itself an audit-log entry. The place is given back
  // before the answer, so a SubmitStream waiting for one can take it at once.
  std::string refused_digest;
  auto refuse = [&](const absl::Status& status) {
    RecordRefusal(&node, refused_digest, status);
    std::move(release_place).Invoke();
    std::move(done)(status);
  };
  if (!request.has_envelope()) {
    return refuse(absl::InvalidArgumentError(
        "envelope: is missing; sign the notification with the SDK or safeguardctl "
        "(docs/protocol.md)"));
  }
  const absl::Time now = clock_.Now();
  auto opened = protocol::Open(request.envelope(), *trust_.Current(),
                               {.certificate_time = now, .require_all_disclosures = true});
  refused_digest = protocol::Sha256(request.envelope().payload());
  if (!opened.ok()) {
    SAFEGUARD_LOG_WARN("refused envelope from ", node.id, ": ", opened.status().message());
    return refuse(opened.status());
  }
  if (opened->signer_uri != node.uri) {
    return refuse(absl::PermissionDeniedError(absl::StrCat(
        "the envelope is signed by ", opened->signer_uri, " but you connected as ", node.uri,
        ": a node may send only what it signed itself")));
  }
  absl::Duration skew = protocol::FromTimestamp(opened->payload.signed_at()) - now;
  if (absl::AbsDuration(skew) > options_.max_clock_skew) {
    return refuse(absl::InvalidArgumentError(absl::StrCat(
        "envelope.payload.signed_at: is ", absl::FormatDuration(skew),
        " from the broker's clock, outside the window of ",
        absl::FormatDuration(options_.max_clock_skew),
        "; check the sending system's clock and sign again")));
  }
  const safeguard::v1::Notification& notification = opened->notification;
  if (notification.idempotency_key() != opened->payload.envelope_id()) {
    return refuse(
        absl::InvalidArgumentError("notification.idempotency_key: must equal the envelope id"));
  }
  // The broker cannot normalise what the sender signed (it would break the signature): what is
  // not in normal form is refused, naming the field.
  if (absl::Status valid = protocol::ValidateSigned(notification, now); !valid.ok()) {
    SAFEGUARD_LOG_DEBUG("refused notification from ", node.id, ": ", valid.message());
    return refuse(absl::InvalidArgumentError(absl::StrCat("notification.", valid.message())));
  }
  Admission admission{node, std::string(protocol::NodeTypeName(node.type)), &request.envelope(),
                      *std::move(opened)};
  Admit(std::move(admission),
        [this, done = std::move(done), sender = &node, digest = std::move(refused_digest),
         release_place = std::move(release_place)](
            absl::StatusOr<safeguard::v1::SubmitResponse> result) mutable {
          std::move(release_place).Invoke();
          if (!result.ok() && absl::IsInvalidArgument(result.status())) {
            RecordRefusal(sender, digest, result.status());
          }
          std::move(done)(std::move(result));
        });
}

bool BrokerService::TryTakeSubmitPlace() {
  const int limit = options_.max_submits_in_flight;
  const int before = submits_in_flight_.fetch_add(1, std::memory_order_relaxed);
  if (limit <= 0 || before < limit) return true;
  submits_in_flight_.fetch_sub(1, std::memory_order_relaxed);
  return false;
}

bool BrokerService::TakeSubmitPlace() {
  if (TryTakeSubmitPlace()) return true;
  refused_at_capacity_.fetch_add(1, std::memory_order_relaxed);
  WarnAtCapacity();
  return false;
}

void BrokerService::NoteStreamWaiting() {
  held_at_capacity_.fetch_add(1, std::memory_order_relaxed);
  WarnAtCapacity();
}

void BrokerService::WarnAtCapacity() {
  // One warning per 10 s at most, with how many were turned away or held back since the last.
  const int64_t now_ns = absl::ToUnixNanos(clock_.Now());
  int64_t logged_ns = capacity_logged_ns_.load(std::memory_order_relaxed);
  if (now_ns - logged_ns >= absl::ToInt64Nanoseconds(absl::Seconds(10)) &&
      capacity_logged_ns_.compare_exchange_strong(logged_ns, now_ns)) {
    SAFEGUARD_LOG_WARN("at capacity: refused ", refused_at_capacity_.exchange(0),
                       " Submit(s) with UNAVAILABLE and held back ",
                       held_at_capacity_.exchange(0),
                       " SubmitStream request(s) since the last warning (",
                       options_.max_submits_in_flight,
                       " in flight; limits.max_submits_in_flight)");
  }
}

void BrokerService::ReleaseSubmitPlace() {
  submits_in_flight_.fetch_sub(1, std::memory_order_relaxed);
}

void BrokerService::SubmitFromBroker(
    safeguard::v1::Notification notification, protocol::NodeType reported_by, SubmitDone done,
    std::vector<routing::ResolvedRecipient> targets,
    std::optional<storage::AcceptRequest::EscalationStep> escalates) {
  const absl::Time now = clock_.Now();
  if (notification.idempotency_key().empty()) {
    auto key = NewNotificationId(now);
    if (!key.ok()) {
      std::move(done)(key.status());
      return;
    }
    notification.set_idempotency_key(*key);
  }
  auto envelope = std::make_shared<safeguard::v1::SignedEnvelope>();
  auto sealed = protocol::Seal(notification, *options_.receipt_signer, now);
  if (!sealed.ok()) {
    std::move(done)(sealed.status());
    return;
  }
  *envelope = *std::move(sealed);
  auto opened = protocol::Open(*envelope, *trust_.Current(),
                               {.certificate_time = now, .require_all_disclosures = true});
  if (!opened.ok()) {
    SAFEGUARD_LOG_ERROR("the broker's own notice does not verify: ", opened.status().message());
    std::move(done)(opened.status());
    return;
  }
  identity::NodeInfo self;
  self.id = broker_id_;
  self.uri = options_.receipt_signer->uri();
  self.type = reported_by;
  self.area = notification.subjects_size() > 0 ? notification.subjects(0).area() : "";
  self.display_name = "the broker";
  Admission admission{std::move(self), "broker", envelope.get(), *std::move(opened),
                      std::move(targets), escalates};
  Admit(std::move(admission),
        [envelope, done = std::move(done)](
            absl::StatusOr<safeguard::v1::SubmitResponse> result) mutable {
          std::move(done)(std::move(result));
        });
}

void BrokerService::Admit(Admission admission, SubmitDone done) {
  const identity::NodeInfo& node = admission.sender;
  const protocol::OpenedEnvelope& opened = admission.opened;
  const safeguard::v1::Notification& notification = opened.notification;
  absl::StatusOr<routing::Routing> routing = routing::Routing{};
  if (admission.targets.empty()) {
    routing = resolver_.Resolve(node, notification);
  } else {
    routing->recipients = std::move(admission.targets);
    routing->child_match = "addressed by the broker";
    if (options_.children != nullptr && notification.subjects_size() > 0) {
      // The plan status still comes from the registry, for the policy.
      auto match = options_.children->MatchChild(notification.subjects(0).identifiers());
      if (match.ok() && match->kind == registry::ChildMatch::Kind::kMatched) {
        auto open = options_.children->OpenInvolvements(match->subject_ids.front());
        if (open.ok() && !open->empty()) routing->plan = open->front().plan_type();
      }
    }
  }
  if (!routing.ok()) {
    std::move(done)(absl::InvalidArgumentError(
        absl::StrCat("notification.", routing.status().message())));
    return;
  }
  auto id = NewNotificationId(clock_.Now());
  if (!id.ok()) {
    std::move(done)(id.status());
    return;
  }
  storage::AcceptRequest accept;
  accept.notification_id = *std::move(id);
  accept.sender = node.id;
  accept.idempotency_key = opened.payload.envelope_id();
  // A retry is the same notification even if re-signed, or reported_at was stamped afresh.
  accept.content_digest = ContentDigest(admission.opened.notification);
  accept.type = notification.type();
  accept.envelope = admission.envelope->SerializeAsString();
  accept.envelope_digest = opened.envelope_digest;
  accept.child_match = routing->child_match;
  accept.escalates = admission.escalates;
  for (const auto& subject : notification.subjects()) {
    for (const auto& id : subject.identifiers()) {
      accept.subject_keys.push_back(storage::SubjectKey(id));
    }
  }
  // The sharing policy decides, for each recipient, share (which fields, under which basis) or
  // withhold (why). Every decision is recorded in the audit log in the same commit.
  std::shared_ptr<const policy::SharingPolicy> sharing = options_.policy->Current();
  policy::SharingRequest question;
  question.sender = node.type;
  question.type = notification.type();
  const auto& context_in = notification.sharing();
  // The registry, not the sender, is the authority on a known child's plan.
  question.child_status = routing->plan ? policy::ChildStatusOf(*routing->plan)
                                        : policy::ChildStatusOf(context_in.child_status());
  question.consent = policy::ConsentOf(context_in.consent());
  question.not_sought_reason = policy::NotSoughtReasonOf(context_in.not_sought_reason());
  question.risk_of_harm = context_in.risk_of_harm();

  std::set<safeguard::v1::DisclosableField> present;
  for (const auto& d : opened.payload.disclosures()) present.insert(d.field());
  safeguard::v1::AuditEntry submitted;
  submitted.set_event(safeguard::v1::AUDIT_EVENT_SUBMITTED);
  submitted.set_actor(node.id);
  submitted.set_actor_type(admission.sender_type);
  submitted.set_envelope_digest(opened.envelope_digest);
  submitted.set_notification_type(notification.type());
  for (auto f : present) submitted.add_fields_shared(f);
  if (!routing->child_match.empty()) submitted.set_reason("child: " + routing->child_match);
  if (options_.audit_keys != nullptr) {
    for (const auto& subject : notification.subjects()) {
      for (const auto& id : subject.identifiers()) {
        submitted.add_child_refs(options_.audit_keys->ChildReference(id));
      }
    }
  }
  accept.audit_entries.push_back(submitted);

  const absl::Time accept_time = clock_.Now();
  std::vector<safeguard::v1::Recipient> answers;
  for (const auto& r : routing->recipients) {
    question.recipient =
        r.as_lead_worker ? policy::RecipientRole::kLeadWorker : policy::RoleOf(r.node->type);
    policy::Decision decision = sharing->Evaluate(question);
    safeguard::v1::Recipient& answer = answers.emplace_back();
    answer.set_node_id(r.node->id);
    answer.set_node_type(std::string(protocol::NodeTypeName(r.node->type)));
    answer.set_reason(r.reason);
    answer.set_role(std::string(policy::RecipientRoleName(question.recipient)));
    answer.set_addressed_to(r.addressee);
    answer.set_child_match(routing->child_match);
    answer.set_shared(decision.shared());
    answer.set_rule_id(decision.rule_id);
    answer.set_decision_reason(decision.reason);
    answer.set_deadline(decision.deadline);
    answer.set_policy_digest(decision.policy_digest);
    if (decision.basis) answer.set_lawful_basis(policy::FormatLawfulBasis(*decision.basis));
    // Only fields the sender actually sent can be disclosed.
    policy::FieldSet disclosed;
    for (auto f : present) {
      if (decision.disclosed.Contains(f)) {
        disclosed.Insert(f);
        answer.add_disclosed(f);
      }
    }
    if (decision.shared()) {
      storage::AcceptRequest::Delivery& delivery = accept.deliveries.emplace_back();
      delivery.node_id = r.node->id;
      delivery.disclosed = disclosed.bits();
      delivery.role = answer.role();
      delivery.route = r.reason;
      delivery.addressee = r.addressee;
      delivery.deadline_class = decision.deadline;
      if (admission.escalates) {
        // The notice carries the ladder of the delivery it escalates; it has none of its own.
        delivery.escalation_of = admission.escalates->cursor;
      } else {
        delivery.due_at = DueAt(decision.deadline, r.node->area, accept_time);
      }
    }

    safeguard::v1::AuditEntry record;
    record.set_event(safeguard::v1::AUDIT_EVENT_POLICY_DECISION);
    record.set_actor(node.id);
    record.set_actor_type(submitted.actor_type());
    record.set_counterpart(r.node->id);
    record.set_envelope_digest(opened.envelope_digest);
    record.set_notification_type(notification.type());
    *record.mutable_child_refs() = submitted.child_refs();
    for (auto f : present) {
      if (disclosed.Contains(f)) {
        record.add_fields_shared(f);
      } else {
        record.add_fields_withheld(f);
      }
    }
    record.set_basis(answer.lawful_basis());
    std::string why = decision.shared() && disclosed.bits() != 0 &&
                              record.fields_withheld_size() == 0
                          ? ""
                          : decision.reason;
    record.set_reason(absl::StrCat("as ", answer.role(), " (", r.reason, ")",
                                   why.empty() ? "" : ": ", why));
    record.set_rule_id(decision.rule_id);
    record.set_policy_digest(decision.policy_digest);
    record.set_deadline(decision.deadline);
    accept.audit_entries.push_back(std::move(record));
  }

  std::optional<AcceptedNotification> listened;
  if (options_.on_accepted && admission.sender_type != "broker") {
    // The last use of the opened notification here: it moves (no copy) to the listener.
    listened = AcceptedNotification{
        .sender = node.id,
        .sender_type = node.type,
        .sender_area = node.area,
        .notification = std::make_shared<const safeguard::v1::Notification>(
            std::move(admission.opened.notification))};
  }
  store_.Accept(std::move(accept), [this, answers = std::move(answers), sender_id = node.id,
                                    sender_uri = node.uri, listened = std::move(listened),
                                    envelope_id = opened.payload.envelope_id(),
                                    done = std::move(done)](
                                       absl::StatusOr<storage::Accepted> accepted) mutable {
    if (!accepted.ok()) {
      SAFEGUARD_LOG_WARN("could not accept notification from ", sender_id, ": ",
                         accepted.status().message());
      workers_.Post([done = std::move(done), status = accepted.status()]() mutable {
        std::move(done)(status);
      });
      return;
    }
    // On the committer thread only what is cheap: the receipt's body. The signing task (on a
    // worker) signs every receipt of the commit at once, then answers each sender.
    safeguard::v1::ReceiptBody body;
    body.set_envelope_digest(accepted->envelope_digest);
    body.set_envelope_id(std::move(envelope_id));
    body.set_notification_id(accepted->notification_id);
    body.set_sequence(accepted->sequence);
    *body.mutable_accepted_at() = ToProto(accepted->accepted_at);
    body.set_sender(std::move(sender_uri));
    body.set_broker(options_.receipt_signer->uri());
    if (accepted->audit) *body.mutable_audit() = *std::move(accepted->audit);
    receipts_->Sign(
        std::move(body),
        [this, answers = std::move(answers), sender_id = std::move(sender_id),
         listened = std::move(listened), accepted = *std::move(accepted),
         done = std::move(done)](absl::StatusOr<safeguard::v1::Receipt> receipt) mutable {
          if (listened && !accepted.duplicate) {
            listened->notification_id = accepted.notification_id;
            listened->sequence = accepted.sequence;
            listened->accepted_at = accepted.accepted_at;
            options_.on_accepted(*listened);
          }
          if (!receipt.ok()) {
            // Accepted and durable, but unprovable: say so; a retry returns a fresh receipt.
            SAFEGUARD_LOG_ERROR("signing a receipt failed: ", receipt.status().message());
            std::move(done)(absl::UnavailableError(
                "accepted, but the receipt could not be signed; retry with the same key to get "
                "it"));
            return;
          }
          safeguard::v1::SubmitResponse response;
          response.set_notification_id(accepted.notification_id);
          response.set_sequence(accepted.sequence);
          *response.mutable_accepted_at() = ToProto(accepted.accepted_at);
          response.set_duplicate(accepted.duplicate);
          // A retry is answered with today's decisions for the recipients first accepted.
          for (const auto& answer : answers) {
            if (!accepted.duplicate ||
                std::find(accepted.recipients.begin(), accepted.recipients.end(),
                          answer.node_id()) != accepted.recipients.end() ||
                !answer.shared()) {
              *response.add_recipients() = answer;
            }
          }
          *response.mutable_receipt() = *std::move(receipt);
          SAFEGUARD_LOG_DEBUG("accepted ", accepted.notification_id, " from ", sender_id, " for ",
                              absl::StrJoin(accepted.recipients, ","),
                              accepted.duplicate ? " (retry)" : "");
          std::move(done)(std::move(response));
        });
  });
}

grpc::ServerWriteReactor<Delivery>* BrokerService::Subscribe(
    grpc::CallbackServerContext* context, const safeguard::v1::SubscribeRequest* request) {
  auto caller = Authenticate(context);
  absl::Status refusal;
  if (!caller.ok()) {
    refusal = caller.status();
  } else if (!request->mailbox().empty() && request->mailbox() != (*caller)->id) {
    SAFEGUARD_LOG_WARN("node ", (*caller)->id, " asked to read mailbox of another node");
    refusal = absl::PermissionDeniedError(absl::StrCat(
        "node '", (*caller)->id, "' may read only its own mailbox, not '", request->mailbox(),
        "'"));
  }
  if (!refusal.ok()) {
    // A reactor that only finishes.
    class Refused final : public grpc::ServerWriteReactor<Delivery> {
     public:
      explicit Refused(grpc::Status s) { Finish(std::move(s)); }
      void OnDone() override { delete this; }
    };
    return new Refused(ToGrpcStatus(refusal));
  }
  auto* stream = new MailboxStream(*this, **caller, *request);
  stream->Start();
  return stream;
}

grpc::ServerUnaryReactor* BrokerService::Acknowledge(
    grpc::CallbackServerContext* context, const safeguard::v1::AcknowledgeRequest* request,
    safeguard::v1::AcknowledgeResponse* response) {
  auto caller = Authenticate(context);
  if (!caller.ok()) return FinishNow(context, caller.status());
  if (request->cursor() == 0) {
    return FinishNow(context, absl::InvalidArgumentError(
                                  "cursor: is 0; give the cursor of the delivery to acknowledge"));
  }
  auto acknowledged = AcknowledgedEntry(**caller, request->acknowledged_by(), "delivery");
  if (!acknowledged.ok()) return FinishNow(context, acknowledged.status());
  auto* reactor = context->DefaultReactor();
  store_.Acknowledge((*caller)->id, request->cursor(), request->acknowledged_by(),
                     *std::move(acknowledged),
                     [this, reactor, response](absl::StatusOr<storage::Acknowledged> ack) {
                       // Completing the RPC is gRPC work: keep it off the store's committer.
                       workers_.Post([reactor, response, ack = std::move(ack)] {
                         if (!ack.ok()) {
                           reactor->Finish(ToGrpcStatus(ack.status()));
                           return;
                         }
                         ToAcknowledgeResponse(*ack, response);
                         reactor->Finish(grpc::Status::OK);
                       });
                     });
  return reactor;
}

grpc::ServerUnaryReactor* BrokerService::AcknowledgeMany(
    grpc::CallbackServerContext* context, const safeguard::v1::AcknowledgeManyRequest* request,
    safeguard::v1::AcknowledgeManyResponse* response) {
  auto caller = Authenticate(context);
  if (!caller.ok()) return FinishNow(context, caller.status());
  const int n = request->cursors_size();
  if (n == 0 || n > kMaxAcknowledgeMany) {
    return FinishNow(context, absl::InvalidArgumentError(absl::StrCat(
                                  "cursors: give 1 to ", kMaxAcknowledgeMany,
                                  " cursors of deliveries to acknowledge (got ", n, ")")));
  }
  absl::flat_hash_set<uint64_t> seen;
  for (uint64_t cursor : request->cursors()) {
    if (cursor == 0) {
      return FinishNow(context, absl::InvalidArgumentError(
                                    "cursors: 0 is not a cursor; give the cursors of deliveries"));
    }
    if (!seen.insert(cursor).second) {
      return FinishNow(context, absl::InvalidArgumentError(absl::StrCat(
                                    "cursors: ", cursor, " is given twice; give each once")));
    }
  }
  auto acknowledged = AcknowledgedEntry(**caller, request->acknowledged_by(), "deliveries");
  if (!acknowledged.ok()) return FinishNow(context, acknowledged.status());
  auto* reactor = context->DefaultReactor();
  // Each cursor is its own store operation (they usually share one group commit); the answer
  // goes once the last of them is durable.
  struct Pending {
    explicit Pending(int n) : results(n, absl::UnknownError("not run")), remaining(n) {}
    std::vector<absl::StatusOr<storage::Acknowledged>> results;
    std::atomic<int> remaining;
  };
  auto pending = std::make_shared<Pending>(n);
  for (int i = 0; i < n; ++i) {
    store_.Acknowledge(
        (*caller)->id, request->cursors(i), request->acknowledged_by(), *acknowledged,
        [this, reactor, request, response, pending, i](absl::StatusOr<storage::Acknowledged> ack) {
          pending->results[i] = std::move(ack);
          if (pending->remaining.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
          // The request lives until the reactor finishes.
          workers_.Post([reactor, request, response, pending] {
            for (auto& result : pending->results) {
              // A refusal of one cursor is its answer; a storage failure fails the request
              // (the client sends the same cursors again: acknowledging is idempotent).
              if (!result.ok() && result.status().code() != absl::StatusCode::kNotFound) {
                reactor->Finish(ToGrpcStatus(result.status()));
                return;
              }
            }
            for (size_t j = 0; j < pending->results.size(); ++j) {
              auto& result = pending->results[j];
              auto* out = response->add_results();
              out->set_cursor(request->cursors(static_cast<int>(j)));
              if (!result.ok()) {
                out->set_refused(std::string(result.status().message()));
                continue;
              }
              ToAcknowledgeResponse(*result, out->mutable_acknowledged());
            }
            reactor->Finish(grpc::Status::OK);
          });
        });
  }
  return reactor;
}

grpc::ServerUnaryReactor* BrokerService::GetStatus(grpc::CallbackServerContext* context,
                                                   const safeguard::v1::GetStatusRequest* request,
                                                   safeguard::v1::NotificationStatus* response) {
  auto caller = Authenticate(context);
  if (!caller.ok()) return FinishNow(context, caller.status());
  if (request->notification_id().size() != 32) {
    return FinishNow(context, absl::InvalidArgumentError(
                                  "notification_id: must be the 32-character id Submit returned"));
  }
  auto status = store_.GetStatus(request->notification_id());
  if (!status.ok()) return FinishNow(context, status.status());
  if (status->sender != (*caller)->id) {
    return FinishNow(context, absl::PermissionDeniedError(
                                  "only the node that sent a notification may ask its status"));
  }
  response->set_notification_id(status->notification_id);
  response->set_sequence(status->sequence);
  response->set_type(status->type);
  *response->mutable_accepted_at() = ToProto(status->accepted_at);
  response->set_child_match(status->child_match);
  for (const auto& r : status->recipients) {
    auto* out = response->add_recipients();
    out->set_node_id(r.node_id);
    if (const auto* info = registry_.FindById(r.node_id)) {
      out->set_node_type(std::string(protocol::NodeTypeName(info->type)));
    }
    if (r.acknowledged_at) {
      out->set_state(safeguard::v1::DELIVERY_STATE_ACKNOWLEDGED);
      *out->mutable_acknowledged_at() = ToProto(*r.acknowledged_at);
      out->set_acknowledged_by(r.acknowledged_by);
    } else if (r.delivered_at) {
      out->set_state(safeguard::v1::DELIVERY_STATE_DELIVERED);
    } else {
      out->set_state(safeguard::v1::DELIVERY_STATE_QUEUED);
    }
    if (r.delivered_at) *out->mutable_delivered_at() = ToProto(*r.delivered_at);
    out->set_role(r.role);
    out->set_route(r.route);
    if (r.outcome) *out->mutable_outcome() = ToOutcome(*r.outcome);
    if (r.due_at) *out->mutable_due_at() = ToProto(*r.due_at);
    out->set_deadline(r.deadline_class);
    for (const auto& e : r.escalations) {
      auto* step = out->add_escalations();
      step->set_step(e.step);
      step->set_node_id(e.node_id);
      step->set_role(e.role);
      step->set_route(e.route);
      *step->mutable_sent_at() = ToProto(e.sent_at);
      if (e.acknowledged_at) *step->mutable_acknowledged_at() = ToProto(*e.acknowledged_at);
    }
  }
  return FinishNow(context, absl::OkStatus());
}

std::optional<absl::Time> BrokerService::DueAt(const std::string& deadline_class,
                                              const std::string& area, absl::Time from) const {
  if (deadline_class.empty() || options_.deadlines == nullptr) return std::nullopt;
  auto due = options_.deadlines(deadline_class, area, from);
  if (!due.ok()) {
    SAFEGUARD_LOG_ERROR("no due time for deadline class '", deadline_class, "': ",
                        due.status().message());
    return std::nullopt;
  }
  return *due;
}

absl::StatusOr<std::string> BrokerService::DefaultChallengeRoute(const std::string& mailbox,
                                                                 uint64_t cursor) {
  auto found = store_.ReadMailbox(mailbox, cursor - 1, /*include_acknowledged=*/true, 1);
  if (!found.ok()) return found.status();
  if (found->empty() || found->front().cursor != cursor) {
    return absl::NotFoundError(absl::StrCat("there is no delivery with cursor ", cursor,
                                            " in mailbox '", mailbox, "'"));
  }
  safeguard::v1::SignedPayload payload;
  payload.ParseFromString(found->front().envelope.payload());
  auto assembled = protocol::AssembleDisclosures(found->front().envelope, payload);
  if (!assembled.ok()) return assembled.status();
  std::string area;
  for (const auto& subject : assembled->notification.subjects()) {
    if (area.empty()) area = subject.area();
    if (options_.children == nullptr) continue;
    auto match = options_.children->MatchChild(subject.identifiers());
    if (!match.ok() || match->kind != registry::ChildMatch::Kind::kMatched) continue;
    auto open = options_.children->OpenInvolvements(match->subject_ids.front());
    if (!open.ok()) continue;
    for (const auto& inv : *open) {
      const auto& c = inv.escalation_contact();
      if (c.name().empty() && c.role().empty()) continue;
      return absl::StrCat("the plan's named escalation contact: ",
                          c.name().empty() ? c.role() : c.name(),
                          c.name().empty() || c.role().empty() ? "" : absl::StrCat(" (", c.role(), ")"),
                          c.contact().empty() ? "" : absl::StrCat(", ", c.contact()),
                          " (", routing::PlanTypeName(inv.plan_type()), " plan ", inv.reference(),
                          ")");
    }
  }
  if (area.empty()) {
    if (const auto* node = registry_.FindById(mailbox)) area = node->area;
  }
  if (auto it = options_.resolution_routes.find(area); it != options_.resolution_routes.end()) {
    return it->second;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "challenge_route: give the referrer a route to challenge this decision (a named person or "
      "role and a contact): the child has no open plan with an escalation contact and no "
      "resolution route is configured for area '", area, "'"));
}

grpc::ServerUnaryReactor* BrokerService::RecordOutcome(
    grpc::CallbackServerContext* context, const safeguard::v1::RecordOutcomeRequest* request,
    safeguard::v1::Outcome* response) {
  auto caller = Authenticate(context);
  if (!caller.ok()) return FinishNow(context, caller.status());
  if (request->cursor() == 0) {
    return FinishNow(context, absl::InvalidArgumentError(
                                  "cursor: is 0; give the cursor of the delivery decided on"));
  }
  if (request->kind() == safeguard::v1::OUTCOME_KIND_UNSPECIFIED ||
      !safeguard::v1::OutcomeKind_IsValid(request->kind())) {
    return FinishNow(context, absl::InvalidArgumentError(
                                  "kind: say what was decided (e.g. no-further-action, "
                                  "assessment-started)"));
  }
  if (request->rationale().empty() || request->rationale().size() > 2000) {
    return FinishNow(context, absl::InvalidArgumentError(
                                  "rationale: give the reason for the decision (1 to 2000 "
                                  "characters); the referrer reads it"));
  }
  if (request->recorded_by().empty() || request->recorded_by().size() > 200) {
    return FinishNow(context, absl::InvalidArgumentError(
                                  "recorded_by: give the person deciding (1 to 200 characters)"));
  }
  if (request->challenge_route().size() > 500) {
    return FinishNow(context, absl::InvalidArgumentError(
                                  "challenge_route: at most 500 characters"));
  }
  auto* reactor = context->DefaultReactor();
  const identity::NodeInfo& node = **caller;
  // Reading the delivery and the registry for the default challenge route may wait on disk.
  workers_.Post([this, reactor, response, request, &node] {
    storage::OutcomeRecord record;
    record.kind = request->kind();
    record.rationale = request->rationale();
    record.recorded_by = request->recorded_by();
    record.challenge_route = request->challenge_route();
    if (record.challenge_route.empty()) {
      auto route = DefaultChallengeRoute(node.id, request->cursor());
      if (!route.ok()) {
        reactor->Finish(ToGrpcStatus(route.status()));
        return;
      }
      record.challenge_route = *std::move(route);
    }
    safeguard::v1::AuditEntry audit;
    audit.set_event(safeguard::v1::AUDIT_EVENT_OUTCOME_RECORDED);
    audit.set_actor(node.id);
    audit.set_actor_type(std::string(protocol::NodeTypeName(node.type)));
    audit.set_reason(absl::StrCat("outcome ", safeguard::v1::OutcomeKind_Name(record.kind),
                                  " recorded by ", record.recorded_by));
    store_.RecordOutcome(node.id, request->cursor(), std::move(record), std::move(audit),
                         [this, reactor, response](absl::StatusOr<storage::StoredOutcome> o) {
                           workers_.Post([reactor, response, o = std::move(o)] {
                             if (!o.ok()) {
                               reactor->Finish(ToGrpcStatus(o.status()));
                               return;
                             }
                             *response = ToOutcome(*o);
                             reactor->Finish(grpc::Status::OK);
                           });
                         });
  });
  return reactor;
}

}  // namespace safeguard::server
