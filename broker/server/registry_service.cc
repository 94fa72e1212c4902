#include "broker/server/registry_service.h"

#include <openssl/rand.h>

#include <deque>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "broker/policy/sharing_policy.h"
#include "broker/policy/wire_vocabulary.h"
#include "broker/routing/recipient_resolver.h"
#include "broker/policy/vocabulary.h"
#include "broker/server/authentication.h"
#include "broker/server/grpc_status.h"
#include "broker/server/log.h"
#include "clients/protocol/identifiers.h"
#include "clients/protocol/node_type.h"
#include "clients/protocol/notification_validator.h"
#include "google/protobuf/util/time_util.h"

namespace safeguard::server {
namespace {

using google::protobuf::util::TimeUtil;
using protocol::NodeType;
using safeguard::v1::Flag;

constexpr int kFlagReadBatch = 64;

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

bool IsRegistryWriter(NodeType t) {
  return t == NodeType::kSocialCare || t == NodeType::kEarlyHelp || t == NodeType::kFrontDoor;
}

bool ServesChildren(NodeType t) {
  return t == NodeType::kGp || t == NodeType::kHealth || t == NodeType::kSchool;
}

safeguard::v1::ChildStatus WireStatusOf(safeguard::v1::PlanType t) {
  switch (t) {
    case safeguard::v1::PLAN_TYPE_EARLY_HELP: return safeguard::v1::CHILD_STATUS_EARLY_HELP;
    case safeguard::v1::PLAN_TYPE_CHILD_IN_NEED: return safeguard::v1::CHILD_STATUS_CHILD_IN_NEED;
    case safeguard::v1::PLAN_TYPE_CHILD_PROTECTION:
      return safeguard::v1::CHILD_STATUS_CHILD_PROTECTION;
    case safeguard::v1::PLAN_TYPE_LOOKED_AFTER: return safeguard::v1::CHILD_STATUS_LOOKED_AFTER;
    default: return safeguard::v1::CHILD_STATUS_NO_PLAN;
  }
}

std::optional<policy::LookupReason> ToLookupReason(safeguard::v1::LookupReason r) {
  switch (r) {
    case safeguard::v1::LOOKUP_REASON_ATTENDANCE: return policy::LookupReason::kAttendance;
    case safeguard::v1::LOOKUP_REASON_REGISTRATION: return policy::LookupReason::kRegistration;
    case safeguard::v1::LOOKUP_REASON_RECORD_CHECK: return policy::LookupReason::kRecordCheck;
    default: return std::nullopt;
  }
}

const char* LookupReasonWord(safeguard::v1::LookupReason r) {
  switch (r) {
    case safeguard::v1::LOOKUP_REASON_ATTENDANCE: return "attendance";
    case safeguard::v1::LOOKUP_REASON_REGISTRATION: return "registration";
    case safeguard::v1::LOOKUP_REASON_RECORD_CHECK: return "record check";
    default: return "unspecified";
  }
}

// The flag fields in the order they appear in Flag, with the policy's spelling.
struct FlagFieldInfo {
  policy::FlagField field;
  const char* name;
};
constexpr FlagFieldInfo kFlagFields[] = {
    {policy::FlagField::kPlanType, "plan-type"},
    {policy::FlagField::kLeadWorker, "lead-worker"},
    {policy::FlagField::kEscalationContact, "escalation-contact"},
    {policy::FlagField::kPlanDates, "plan-dates"},
};

// A worker as a GP, health or school node may see it: the social-care system's own id for the
// worker stays in the registry.
safeguard::v1::Worker ForReader(const safeguard::v1::Worker& w) {
  safeguard::v1::Worker out = w;
  out.clear_worker_id();
  return out;
}

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* context,
                                    const absl::Status& status) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// NHS numbers and UPNs in normal form, so look-ups and pseudonyms agree with the store's.
absl::Status NormaliseIdentifier(absl::string_view field, safeguard::v1::SubjectIdentifier& id) {
  if (id.scheme() != safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER &&
      id.scheme() != safeguard::v1::IDENTIFIER_SCHEME_SCHOOL_UPN) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".scheme: look a child up by NHS number or school UPN"));
  }
  return protocol::NormaliseIdentifier(id, field);
}

std::string RandomHex(int bytes) {
  unsigned char buf[32];
  if (RAND_bytes(buf, bytes) != 1) return "";
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(buf), bytes));
}

}  // namespace

// A flag row as a reader may see it, with what the audit log records about it.
struct RegistryService::Minimised {
  Flag flag;
  std::optional<policy::FlagDecision> decision;  // set when the row is flagged
  std::string publisher;                         // whose involvement the flag comes from
  std::vector<std::string> shared;               // flag field names sent
  std::vector<std::string> withheld;             // flag field names withheld
};

// One open SubscribeFlags call: sends the node's flag rows in cursor order, minimised, one
// write in flight. The same shape as BrokerService's MailboxStream.
//
// Thread-safe: gRPC callbacks, the hub's notifications and reads on the work queue all take
// mu_. The object deletes itself once gRPC is done with it (OnDone) and no read is scheduled
// (holds_ == 0).
class RegistryService::FlagStream final : public grpc::ServerWriteReactor<Flag>,
                                          public delivery::MailboxListener {
 public:
  FlagStream(RegistryService& service, const identity::NodeInfo& node,
             const safeguard::v1::SubscribeFlagsRequest& request)
      : service_(service),
        node_(node),
        cursor_(request.after_cursor()),
        follow_(request.follow()) {}

  void Start() {
    if (follow_) {
      absl::Status registered = service_.flags_hub_.Register(node_.id, this);
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

  // Called on the registry store's writing thread (a work-queue thread): must not block.
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
                        "the broker is restarting; resume from your last flag cursor"));
  }

  void OnWriteDone(bool ok) override {
    safeguard::v1::AuditEntry shared;
    {
      absl::MutexLock lock(&mu_);
      write_in_flight_ = false;
      if (!ok || finished_) {
        if (!finished_) FinishLocked(grpc::Status::CANCELLED);
        return;
      }
      cursor_ = pending_.front().minimised.flag.cursor();
      shared = std::move(pending_.front().audit);
      pending_.pop_front();
      if (!pending_.empty()) {
        StartWriteLocked();
      } else {
        ScheduleReadLocked();
      }
    }
    service_.store_.AppendAudit(std::move(shared));
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    if (!finished_) FinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    if (registered_) service_.flags_hub_.Unregister(node_.id, this);
    bool destroy;
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
      destroy = holds_ == 0;
    }
    if (destroy) delete this;
  }

 private:
  struct Pending {
    Minimised minimised;
    safeguard::v1::AuditEntry audit;  // FLAG_SHARED, appended once the write succeeded
  };

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
    auto rows = service_.children_.ReadFlags(node_.id, cursor_, kFlagReadBatch);
    if (!rows.ok()) {
      SAFEGUARD_LOG_ERROR("reading the flag stream of ", node_.id, ": ",
                          rows.status().ToString());
      FinishLocked(ToGrpcStatus(rows.status()));
      return;
    }
    for (const registry::FlagRow& row : *rows) {
      Pending& p = pending_.emplace_back();
      p.minimised = service_.Minimise(row, node_);
      p.audit = service_.FlagAudit(safeguard::v1::AUDIT_EVENT_FLAG_SHARED, p.minimised, row, node_);
    }
    if (!pending_.empty()) {
      StartWriteLocked();
    } else if (more_) {
      ScheduleReadLocked();
    } else if (!follow_) {
      FinishLocked(grpc::Status::OK);  // caught up
    }
    // else: caught up; OnMailboxChanged schedules the next read.
  }

  void StartWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    write_in_flight_ = true;
    StartWrite(&pending_.front().minimised.flag);
  }

  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    finished_ = true;
    Finish(std::move(status));
  }

  RegistryService& service_;
  const identity::NodeInfo& node_;  // owned by the NodeRegistry, which outlives the service
  bool registered_ = false;         // written in Start before any callback can run

  absl::Mutex mu_;
  uint64_t cursor_ ABSL_GUARDED_BY(mu_);  // last cursor sent
  const bool follow_;
  std::deque<Pending> pending_ ABSL_GUARDED_BY(mu_);  // front() is being written when in flight
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool read_scheduled_ ABSL_GUARDED_BY(mu_) = false;
  bool more_ ABSL_GUARDED_BY(mu_) = false;  // the stream grew since the last read began
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  int holds_ ABSL_GUARDED_BY(mu_) = 0;  // scheduled reads that still reference this object
};

RegistryService::RegistryService(const identity::NodeRegistry& registry,
                                 registry::RegistryStore& children, policy::PolicyStore* policy,
                                 storage::Store& store, const audit_log::AuditKeys* audit_keys,
                                 BrokerService& broker, delivery::MailboxHub& flags_hub,
                                 const Clock& clock)
    : registry_(registry),
      children_(children),
      policy_(policy),
      store_(store),
      audit_keys_(audit_keys),
      broker_(broker),
      flags_hub_(flags_hub),
      clock_(clock) {}

RegistryService::~RegistryService() = default;

absl::StatusOr<const identity::NodeInfo*> RegistryService::AdmitWriter(
    grpc::CallbackServerContext* context, absl::string_view what) {
  auto caller = AuthenticateCall(registry_, context);
  if (!caller.ok()) return caller.status();
  if (!IsRegistryWriter((*caller)->type)) {
    SAFEGUARD_LOG_WARN("node ", (*caller)->id, " (", protocol::NodeTypeName((*caller)->type),
                       ") refused ", what);
    return absl::PermissionDeniedError(absl::StrCat(
        "node '", (*caller)->id, "' is a ", protocol::NodeTypeName((*caller)->type),
        " node; only social-care, early-help and front-door nodes may write or read the "
        "registry"));
  }
  return caller;
}

absl::StatusOr<const identity::NodeInfo*> RegistryService::AdmitServer(
    grpc::CallbackServerContext* context, absl::string_view what) {
  auto caller = AuthenticateCall(registry_, context);
  if (!caller.ok()) return caller.status();
  if (!ServesChildren((*caller)->type)) {
    SAFEGUARD_LOG_WARN("node ", (*caller)->id, " (", protocol::NodeTypeName((*caller)->type),
                       ") refused ", what);
    return absl::PermissionDeniedError(absl::StrCat(
        "node '", (*caller)->id, "' is a ", protocol::NodeTypeName((*caller)->type),
        " node; only gp, health and school nodes may register the children they serve, read "
        "flags or look a child up"));
  }
  return caller;
}

absl::Status RegistryService::CheckWorkers(const identity::NodeInfo& caller,
                                           safeguard::v1::Involvement& involvement) const {
  struct Named {
    const char* field;
    const char* role;
    bool present;
    safeguard::v1::Worker* worker;
  };
  const Named named[] = {
      {"lead_worker", "a lead worker's", involvement.has_lead_worker(),
       involvement.mutable_lead_worker()},
      {"deputy", "a deputy's", involvement.has_deputy(), involvement.mutable_deputy()},
      {"team_manager", "a team manager's", involvement.has_team_manager(),
       involvement.mutable_team_manager()},
      {"escalation_contact", "an escalation contact's", involvement.has_escalation_contact(),
       involvement.mutable_escalation_contact()},
  };
  for (const Named& n : named) {
    if (!n.present) {
      // mutable_*() above created an empty message: leave absent what the caller left absent.
      continue;
    }
    if (n.worker->node_id().empty()) n.worker->set_node_id(caller.id);
    const identity::NodeInfo* node = registry_.FindById(n.worker->node_id());
    if (node == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "involvement.", n.field, ".node_id: '", n.worker->node_id(),
          "' is not a node of this partnership; give the node whose mailbox receives what is "
          "addressed to this worker (default: your own node)"));
    }
    if (!IsRegistryWriter(node->type)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "involvement.", n.field, ".node_id: '", node->id, "' is a ",
          protocol::NodeTypeName(node->type), " node; ", n.role,
          " mailbox must be a social-care, early-help or front-door node"));
    }
  }
  // Undo the empty sub-messages mutable_*() created for absent workers.
  if (!named[1].present) involvement.clear_deputy();
  if (!named[2].present) involvement.clear_team_manager();
  if (!named[3].present) involvement.clear_escalation_contact();
  if (!named[0].present) involvement.clear_lead_worker();
  return absl::OkStatus();
}

void RegistryService::AddChildRefs(
    const google::protobuf::RepeatedPtrField<safeguard::v1::SubjectIdentifier>& ids,
    safeguard::v1::AuditEntry& entry) const {
  if (audit_keys_ == nullptr) return;
  for (const auto& id : ids) entry.add_child_refs(audit_keys_->ChildReference(id));
}

RegistryService::Minimised RegistryService::Minimise(const registry::FlagRow& row,
                                                     const identity::NodeInfo& reader) const {
  Minimised out;
  Flag& flag = out.flag;
  flag.set_cursor(row.cursor);
  *flag.mutable_identifier() = row.identifier;
  flag.set_flagged(row.flagged);
  *flag.mutable_changed_at() = ToProto(row.changed_at);
  if (!row.flagged) return out;  // a flag that ended says only that

  const safeguard::v1::Involvement& inv = row.involvement;
  out.publisher = inv.publisher();
  std::shared_ptr<const policy::SharingPolicy> sharing = policy_->Current();
  policy::FlagDecision decision =
      sharing->EvaluateFlag({.recipient = policy::RoleOf(reader.type),
                             .status = policy::ChildStatusOf(inv.plan_type())});
  if (decision.shared) {
    flag.set_rule_id(decision.rule_id);
    if (decision.basis) flag.set_lawful_basis(policy::FormatLawfulBasis(*decision.basis));
  } else {
    // A plan the policy does not flag to this role is not revealed, not even that it exists:
    // the reader sees what it would see for a child with no plan.
    flag.set_flagged(false);
  }
  for (const FlagFieldInfo& f : kFlagFields) {
    bool allowed = decision.shared && decision.fields.count(f.field) > 0;
    (allowed ? out.shared : out.withheld).push_back(f.name);
    if (!allowed) {
      flag.add_withheld(f.name);
      continue;
    }
    switch (f.field) {
      case policy::FlagField::kPlanType:
        flag.set_plan_type(inv.plan_type());
        break;
      case policy::FlagField::kLeadWorker:
        if (inv.has_lead_worker()) *flag.mutable_lead_worker() = ForReader(inv.lead_worker());
        break;
      case policy::FlagField::kEscalationContact:
        if (inv.has_escalation_contact()) {
          *flag.mutable_escalation_contact() = ForReader(inv.escalation_contact());
        }
        break;
      case policy::FlagField::kPlanDates:
        if (inv.has_start()) *flag.mutable_plan_start() = inv.start();
        if (inv.has_next_review()) *flag.mutable_next_review() = inv.next_review();
        break;
    }
  }
  out.decision = std::move(decision);
  return out;
}

safeguard::v1::AuditEntry RegistryService::FlagAudit(safeguard::v1::AuditEvent event,
                                                     const Minimised& flag,
                                                     const registry::FlagRow& row,
                                                     const identity::NodeInfo& reader) const {
  safeguard::v1::AuditEntry entry;
  entry.set_event(event);
  if (event == safeguard::v1::AUDIT_EVENT_FLAG_SHARED) {
    // Whose record was shared, with whom.
    const identity::NodeInfo* publisher = registry_.FindById(flag.publisher);
    entry.set_actor(publisher ? publisher->id : "broker");
    entry.set_actor_type(publisher ? std::string(protocol::NodeTypeName(publisher->type))
                                   : "broker");
    entry.set_counterpart(reader.id);
  } else {
    // Who read it, from whose record.
    entry.set_actor(reader.id);
    entry.set_actor_type(std::string(protocol::NodeTypeName(reader.type)));
    entry.set_counterpart(flag.publisher);
  }
  google::protobuf::RepeatedPtrField<safeguard::v1::SubjectIdentifier> ids;
  *ids.Add() = row.identifier;
  AddChildRefs(ids, entry);
  if (!flag.flag.flagged()) {
    entry.set_reason("not flagged: no open plan");
    return entry;
  }
  const policy::FlagDecision& d = *flag.decision;
  entry.set_rule_id(d.rule_id);
  entry.set_policy_digest(d.policy_digest);
  if (d.basis) entry.set_basis(policy::FormatLawfulBasis(*d.basis));
  entry.set_reason(absl::StrCat(
      routing::PlanTypeName(row.involvement.plan_type()), " flag; shared: ",
      flag.shared.empty() ? "that a plan exists only" : absl::StrJoin(flag.shared, ", "),
      "; withheld: ", flag.withheld.empty() ? "none" : absl::StrJoin(flag.withheld, ", "),
      d.shared ? "" : absl::StrCat(" (", d.reason, ")")));
  return entry;
}

grpc::ServerUnaryReactor* RegistryService::PutInvolvement(
    grpc::CallbackServerContext* context, const safeguard::v1::PutInvolvementRequest* request,
    safeguard::v1::PutInvolvementResponse* response) {
  auto caller = AdmitWriter(context, "PutInvolvement");
  if (!caller.ok()) return FinishNow(context, caller.status());
  const identity::NodeInfo& node = **caller;
  if (!request->has_involvement()) {
    return FinishNow(context, absl::InvalidArgumentError(
                                  "involvement: is missing; give the plan to publish"));
  }
  safeguard::v1::Involvement involvement = request->involvement();
  if (absl::Status workers = CheckWorkers(node, involvement); !workers.ok()) {
    return FinishNow(context, workers);
  }
  auto* reactor = context->DefaultReactor();
  workers_.Post([this, reactor, response, &node, involvement = std::move(involvement)]() mutable {
    auto stored = children_.PutInvolvement(node.id, node.area, std::move(involvement));
    if (!stored.ok()) {
      reactor->Finish(ToGrpcStatus(stored.status()));
      return;
    }
    const safeguard::v1::Involvement& inv = stored->involvement();
    safeguard::v1::AuditEntry entry;
    entry.set_event(safeguard::v1::AUDIT_EVENT_REGISTRY_CHANGED);
    entry.set_actor(node.id);
    entry.set_actor_type(std::string(protocol::NodeTypeName(node.type)));
    entry.set_reason(absl::StrCat("involvement ", inv.reference(), " v", inv.version(), " ",
                                  routing::PlanTypeName(inv.plan_type()), inv.open() ? " open" : " closed",
                                  "; child ", stored->match()));
    AddChildRefs(inv.child(), entry);
    store_.AppendAudit(std::move(entry));
    *response = *std::move(stored);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* RegistryService::CloseInvolvement(
    grpc::CallbackServerContext* context, const safeguard::v1::CloseInvolvementRequest* request,
    safeguard::v1::PutInvolvementResponse* response) {
  auto caller = AdmitWriter(context, "CloseInvolvement");
  if (!caller.ok()) return FinishNow(context, caller.status());
  const identity::NodeInfo& node = **caller;
  if (request->reference().empty() || request->reference().size() > 64) {
    return FinishNow(context, absl::InvalidArgumentError(
                                  "reference: give your reference for the involvement to close "
                                  "(1 to 64 characters)"));
  }
  auto* reactor = context->DefaultReactor();
  workers_.Post([this, reactor, request, response, &node] {
    auto closed = children_.CloseInvolvement(node.id, *request);
    if (!closed.ok()) {
      reactor->Finish(ToGrpcStatus(closed.status()));
      return;
    }
    const safeguard::v1::Involvement& inv = closed->involvement();
    safeguard::v1::AuditEntry entry;
    entry.set_event(safeguard::v1::AUDIT_EVENT_REGISTRY_CHANGED);
    entry.set_actor(node.id);
    entry.set_actor_type(std::string(protocol::NodeTypeName(node.type)));
    entry.set_reason(absl::StrCat("involvement ", inv.reference(), " v", inv.version(), " ",
                                  routing::PlanTypeName(inv.plan_type()), " closed",
                                  inv.closure_reason().empty() ? "" : ": ",
                                  inv.closure_reason().substr(0, 200)));
    AddChildRefs(inv.child(), entry);
    store_.AppendAudit(std::move(entry));
    *response = *std::move(closed);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* RegistryService::PutHousehold(
    grpc::CallbackServerContext* context, const safeguard::v1::PutHouseholdRequest* request,
    safeguard::v1::PutHouseholdResponse* response) {
  auto caller = AdmitWriter(context, "PutHousehold");
  if (!caller.ok()) return FinishNow(context, caller.status());
  const identity::NodeInfo& node = **caller;
  if (!request->has_household()) {
    return FinishNow(context, absl::InvalidArgumentError(
                                  "household: is missing; give the household to publish"));
  }
  auto* reactor = context->DefaultReactor();
  workers_.Post([this, reactor, request, response, &node] {
    auto stored = children_.PutHousehold(node.id, node.area, request->household());
    if (!stored.ok()) {
      reactor->Finish(ToGrpcStatus(stored.status()));
      return;
    }
    const safeguard::v1::Household& h = stored->household();
    safeguard::v1::AuditEntry entry;
    entry.set_event(safeguard::v1::AUDIT_EVENT_REGISTRY_CHANGED);
    entry.set_actor(node.id);
    entry.set_actor_type(std::string(protocol::NodeTypeName(node.type)));
    int children = 0;
    for (const auto& m : h.members()) {
      if (m.role() != safeguard::v1::HOUSEHOLD_ROLE_CHILD) continue;
      ++children;
      AddChildRefs(m.identifiers(), entry);  // children only: the log is about children
    }
    entry.set_reason(absl::StrCat("household ", h.reference(), " v", h.version(), ": ",
                                  children, " children, ", h.members_size() - children,
                                  " adults"));
    store_.AppendAudit(std::move(entry));
    *response = *std::move(stored);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* RegistryService::GetChild(grpc::CallbackServerContext* context,
                                                    const safeguard::v1::GetChildRequest* request,
                                                    safeguard::v1::ChildRecord* response) {
  auto caller = AdmitWriter(context, "GetChild");
  if (!caller.ok()) return FinishNow(context, caller.status());
  safeguard::v1::SubjectIdentifier identifier = request->identifier();
  if (identifier.scheme() == safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER ||
      identifier.scheme() == safeguard::v1::IDENTIFIER_SCHEME_SCHOOL_UPN) {
    if (absl::Status s = NormaliseIdentifier("identifier", identifier); !s.ok()) {
      return FinishNow(context, s);
    }
  } else if (identifier.value().empty()) {
    return FinishNow(context, absl::InvalidArgumentError(
                                  "identifier: give the child's NHS number, UPN or a reference"));
  }
  auto* reactor = context->DefaultReactor();
  const identity::NodeInfo& node = **caller;
  workers_.Post([this, reactor, response, &node, identifier = std::move(identifier)] {
    auto record = children_.GetChild(identifier);
    // Reading a child's record is recorded, found or not.
    safeguard::v1::AuditEntry read;
    read.set_event(safeguard::v1::AUDIT_EVENT_REGISTRY_READ);
    read.set_actor(node.id);
    read.set_actor_type(std::string(protocol::NodeTypeName(node.type)));
    if (record.ok()) {
      AddChildRefs(record->identifiers(), read);
      read.set_reason(absl::StrCat("child record read: ", record->involvements_size(),
                                   " involvements, ", record->households_size(),
                                   " households"));
    } else {
      google::protobuf::RepeatedPtrField<safeguard::v1::SubjectIdentifier> asked;
      *asked.Add() = identifier;
      AddChildRefs(asked, read);
      read.set_reason(absl::StrCat("child record read: ",
                                   absl::StatusCodeToString(record.status().code())));
    }
    store_.AppendAudit(std::move(read));
    if (!record.ok()) {
      reactor->Finish(ToGrpcStatus(record.status()));
      return;
    }
    *response = *std::move(record);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* RegistryService::UpdateServedChildren(
    grpc::CallbackServerContext* context,
    const safeguard::v1::UpdateServedChildrenRequest* request,
    safeguard::v1::UpdateServedChildrenResponse* response) {
  auto caller = AdmitServer(context, "UpdateServedChildren");
  if (!caller.ok()) return FinishNow(context, caller.status());
  const identity::NodeInfo& node = **caller;
  auto* reactor = context->DefaultReactor();
  workers_.Post([this, reactor, request, response, &node] {
    auto updated = children_.UpdateServedChildren(node.id, *request);
    if (!updated.ok()) {
      reactor->Finish(ToGrpcStatus(updated.status()));
      return;
    }
    safeguard::v1::AuditEntry entry;
    entry.set_event(safeguard::v1::AUDIT_EVENT_REGISTRY_CHANGED);
    entry.set_actor(node.id);
    entry.set_actor_type(std::string(protocol::NodeTypeName(node.type)));
    // Counts only: a practice list is thousands of children, and who is on it is not a
    // sharing event; the flags shared because of it are logged one by one.
    entry.set_reason(absl::StrCat(
        "served list", request->replace() ? " replaced" : "",
        request->replace() ? std::string()
                           : absl::StrCat(" +", request->add_size(), " -", request->remove_size()),
        ": ", updated->served(), " children, ", updated->flagged(), " flagged"));
    store_.AppendAudit(std::move(entry));
    *response = *std::move(updated);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerWriteReactor<Flag>* RegistryService::SubscribeFlags(
    grpc::CallbackServerContext* context, const safeguard::v1::SubscribeFlagsRequest* request) {
  auto caller = AdmitServer(context, "SubscribeFlags");
  if (!caller.ok()) {
    class Refused final : public grpc::ServerWriteReactor<Flag> {
     public:
      explicit Refused(grpc::Status s) { Finish(std::move(s)); }
      void OnDone() override { delete this; }
    };
    return new Refused(ToGrpcStatus(caller.status()));
  }
  auto* stream = new FlagStream(*this, **caller, *request);
  stream->Start();
  return stream;
}

grpc::ServerUnaryReactor* RegistryService::LookupChild(
    grpc::CallbackServerContext* context, const safeguard::v1::LookupChildRequest* request,
    safeguard::v1::LookupChildResponse* response) {
  auto caller = AdmitServer(context, "LookupChild");
  if (!caller.ok()) return FinishNow(context, caller.status());
  const identity::NodeInfo& node = **caller;
  if (!request->has_identifier()) {
    return FinishNow(context, absl::InvalidArgumentError(
                                  "identifier: give the child's NHS number or school UPN"));
  }
  safeguard::v1::SubjectIdentifier identifier = request->identifier();
  if (absl::Status s = NormaliseIdentifier("identifier", identifier); !s.ok()) {
    return FinishNow(context, s);
  }
  std::optional<policy::LookupReason> reason = ToLookupReason(request->reason());
  if (!reason) {
    return FinishNow(context, absl::InvalidArgumentError(
                                  "reason: say why you look the child up: attendance, "
                                  "registration or record check"));
  }
  if (request->looked_up_by().empty() || request->looked_up_by().size() > 200) {
    return FinishNow(context, absl::InvalidArgumentError(
                                  "looked_up_by: give the person or system looking the child up "
                                  "(1 to 200 characters)"));
  }
  auto* reactor = context->DefaultReactor();
  workers_.Post([this, reactor, request, response, &node, reason = *reason,
                 identifier = std::move(identifier)] {
    auto row = children_.CurrentFlag(identifier);
    if (!row.ok()) {
      reactor->Finish(ToGrpcStatus(row.status()));
      return;
    }
    row->cursor = 0;
    Minimised minimised = Minimise(*row, node);
    safeguard::v1::AuditEntry read =
        FlagAudit(safeguard::v1::AUDIT_EVENT_FLAG_READ, minimised, *row, node);
    const std::string why = LookupReasonWord(request->reason());
    read.set_reason(absl::StrCat("look-up for ", why, " by ", request->looked_up_by(), "; ",
                                 read.reason()));
    *response->mutable_flag() = minimised.flag;
    if (!row->flagged) {
      store_.AppendAudit(std::move(read));
      response->set_lead_worker_notified(false);
      response->set_notice("not on a plan; the look-up is recorded");
      reactor->Finish(grpc::Status::OK);
      return;
    }
    const policy::FlagDecision& decision = *minimised.decision;
    if (!decision.shared) {
      // The role is told nothing of this plan, so its look-up tells the lead worker nothing.
      read.set_reason(absl::StrCat(read.reason(), "; not shared with this role"));
      store_.AppendAudit(std::move(read));
      response->set_lead_worker_notified(false);
      response->set_notice(absl::StrCat(
          "the sharing policy does not share this child's plan with ",
          protocol::NodeTypeName(node.type), " nodes (rule ", decision.rule_id,
          "); the look-up is recorded and the lead worker was not told"));
      reactor->Finish(grpc::Status::OK);
      return;
    }
    if (decision.SilentLookUp(reason)) {
      read.set_reason(absl::StrCat(read.reason(), "; silent read (rule ", decision.rule_id, ")"));
      store_.AppendAudit(std::move(read));
      response->set_lead_worker_notified(false);
      response->set_notice(absl::StrCat("recorded as a silent read (policy rule ",
                                        decision.rule_id, "): the lead worker was not told"));
      reactor->Finish(grpc::Status::OK);
      return;
    }
    store_.AppendAudit(std::move(read));

    // Tell the lead worker: a notification from the broker itself, routed like any other (to
    // the lead worker of the child's open plan) and decided by the sharing policy.
    const safeguard::v1::Involvement& inv = row->involvement;
    safeguard::v1::Notification notice;
    notice.set_idempotency_key(absl::StrCat("flag-lookup-", RandomHex(16)));
    notice.set_type(safeguard::v1::NOTIFICATION_TYPE_FLAG_LOOKED_UP);
    notice.set_severity(safeguard::v1::SEVERITY_INFORMATION);
    auto* subject = notice.add_subjects();
    *subject->add_identifiers() = identifier;
    subject->set_area(inv.area());
    notice.set_summary(absl::StrCat(node.display_name.empty() ? node.id : node.display_name, " (",
                                    protocol::NodeTypeName(node.type),
                                    ") looked up this child: ", why, ", by ",
                                    request->looked_up_by()));
    *notice.mutable_occurred_at() = ToProto(clock_.Now());
    notice.mutable_sharing()->set_child_status(WireStatusOf(inv.plan_type()));
    if (inv.plan_type() == safeguard::v1::PLAN_TYPE_EARLY_HELP) {
      // Early help rests on the family's consent, given when the plan was agreed.
      notice.mutable_sharing()->set_consent(safeguard::v1::CONSENT_STATE_GIVEN);
    } else {
      notice.mutable_sharing()->set_consent(safeguard::v1::CONSENT_STATE_NOT_SOUGHT);
      notice.mutable_sharing()->set_not_sought_reason(
          safeguard::v1::NOT_SOUGHT_REASON_NOT_THE_LAWFUL_BASIS);
    }
    broker_.SubmitFromBroker(
        std::move(notice), node.type,
        [reactor, response](absl::StatusOr<safeguard::v1::SubmitResponse> sent) {
          if (!sent.ok()) {
            // The reader still gets the flag: withholding it would help nobody.
            SAFEGUARD_LOG_ERROR("a flag look-up notice could not be sent: ",
                                sent.status().ToString());
            response->set_lead_worker_notified(false);
            response->set_notice(absl::StrCat(
                "the look-up is recorded, but the broker could not tell the lead worker (",
                sent.status().message(), "); contact the lead worker directly"));
            reactor->Finish(grpc::Status::OK);
            return;
          }
          std::vector<std::string> told;
          for (const auto& r : sent->recipients()) {
            if (r.shared()) told.push_back(r.role().empty() ? r.node_type() : r.role());
          }
          response->set_lead_worker_notified(!told.empty());
          response->set_notice(
              told.empty()
                  ? absl::StrCat("the look-up is recorded; the sharing policy sent the notice to "
                                 "nobody (notification ", sent->notification_id(), ")")
                  : absl::StrCat("the lead worker has been told of this look-up (notification ",
                                 sent->notification_id(), ", to ", absl::StrJoin(told, ", "),
                                 ")"));
          reactor->Finish(grpc::Status::OK);
        });
  });
  return reactor;
}

}  // namespace safeguard::server
