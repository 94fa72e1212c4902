#include "broker/server/audit_service.h"

#include "absl/strings/str_cat.h"
#include "broker/server/authentication.h"
#include "broker/server/grpc_status.h"
#include "clients/protocol/identifiers.h"
#include "clients/protocol/status_macros.h"
#include "google/protobuf/util/time_util.h"

namespace safeguard::server {
namespace {

constexpr uint64_t kMaxEntriesPerCall = 1000;

grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context, const absl::Status& s) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(s));
  return reactor;
}

std::string Bytes(const audit::Hash& h) {
  return std::string(audit::AsBytes(h));
}

std::optional<absl::Time> TimeOf(bool has, const google::protobuf::Timestamp& t) {
  if (!has) return std::nullopt;
  return absl::FromUnixMicros(google::protobuf::util::TimeUtil::TimestampToMicroseconds(t));
}

}  // namespace

absl::Status AuditService::Admit(grpc::CallbackServerContext* context, std::string what) {
  auto caller = AuthenticateCall(registry_, context);
  if (!caller.ok()) return caller.status();
  if ((*caller)->type != protocol::NodeType::kAuditor) {
    SAFEGUARD_LOG_WARN("node ", (*caller)->id, " tried the Audit service");
    return absl::PermissionDeniedError(
        "only auditor nodes may read the audit log; ask the partnership for auditor access");
  }
  safeguard::v1::AuditEntry entry;
  entry.set_event(safeguard::v1::AUDIT_EVENT_AUDIT_QUERY);
  entry.set_actor((*caller)->id);
  entry.set_actor_type("auditor");
  entry.set_reason(std::move(what));
  store_.AppendAudit(std::move(entry));
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> AuditService::DefaultSize(uint64_t requested) {
  if (requested != 0) {
    if (requested > store_.CommittedTreeHead().size) {
      return absl::OutOfRangeError(absl::StrCat("the log has only ",
                                                store_.CommittedTreeHead().size, " entries"));
    }
    return requested;
  }
  auto latest = checkpointer_.Latest();
  if (!latest) {
    checkpointer_.PublishNow();
    latest = checkpointer_.Latest();
  }
  if (!latest) return absl::NotFoundError("the audit log is empty: no checkpoint yet");
  return latest->size;
}

absl::Status AuditService::FillEntries(const std::vector<std::pair<uint64_t, std::string>>& rows,
                                       uint64_t tree_size,
                                       safeguard::v1::GetEntriesResponse* response) {
  response->set_tree_size(tree_size);
  std::vector<uint64_t> provable;
  for (const auto& [index, leaf] : rows) {
    if (index < tree_size) provable.push_back(index);
  }
  ASSIGN_OR_RETURN(auto proofs, reader_.InclusionProofs(provable, tree_size));
  size_t next_proof = 0;
  for (const auto& [index, leaf] : rows) {
    auto* e = response->add_entries();
    e->set_index(index);
    e->set_entry(leaf);
    e->mutable_decoded()->ParseFromString(leaf);
    if (index < tree_size) {
      for (const auto& h : proofs[next_proof++]) e->add_proof(Bytes(h));
    }
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* AuditService::GetCheckpoint(
    grpc::CallbackServerContext* context, const safeguard::v1::GetCheckpointRequest*,
    safeguard::v1::Checkpoint* response) {
  if (auto s = Admit(context, "GetCheckpoint"); !s.ok()) return Done(context, s);
  auto size = DefaultSize(0);
  if (!size.ok()) return Done(context, size.status());
  auto latest = checkpointer_.Latest();
  response->set_note(latest->note);
  response->set_size(latest->size);
  response->set_root(latest->root);
  return Done(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* AuditService::GetInclusionProof(
    grpc::CallbackServerContext* context, const safeguard::v1::GetInclusionProofRequest* request,
    safeguard::v1::InclusionProof* response) {
  if (auto s = Admit(context, absl::StrCat("GetInclusionProof leaf=", request->leaf_index(),
                                           " size=", request->tree_size()));
      !s.ok()) {
    return Done(context, s);
  }
  auto size = DefaultSize(request->tree_size());
  if (!size.ok()) return Done(context, size.status());
  auto proof = reader_.InclusionProof(request->leaf_index(), *size);
  if (!proof.ok()) return Done(context, proof.status());
  response->set_leaf_index(request->leaf_index());
  response->set_tree_size(*size);
  for (const auto& h : *proof) response->add_proof(Bytes(h));
  return Done(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* AuditService::GetConsistencyProof(
    grpc::CallbackServerContext* context,
    const safeguard::v1::GetConsistencyProofRequest* request,
    safeguard::v1::ConsistencyProof* response) {
  if (auto s = Admit(context, absl::StrCat("GetConsistencyProof old=", request->old_size(),
                                           " new=", request->new_size()));
      !s.ok()) {
    return Done(context, s);
  }
  auto size = DefaultSize(request->new_size());
  if (!size.ok()) return Done(context, size.status());
  auto proof = reader_.ConsistencyProof(request->old_size(), *size);
  if (!proof.ok()) return Done(context, proof.status());
  response->set_old_size(request->old_size());
  response->set_new_size(*size);
  for (const auto& h : *proof) response->add_proof(Bytes(h));
  return Done(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* AuditService::GetEntries(grpc::CallbackServerContext* context,
                                                   const safeguard::v1::GetEntriesRequest* request,
                                                   safeguard::v1::GetEntriesResponse* response) {
  if (auto s = Admit(context, absl::StrCat("GetEntries [", request->start(), ", ", request->end(),
                                           ")"));
      !s.ok()) {
    return Done(context, s);
  }
  auto size = DefaultSize(request->tree_size());
  if (!size.ok()) return Done(context, size.status());
  if (request->start() >= request->end() || request->end() > *size) {
    return Done(context, absl::InvalidArgumentError(absl::StrCat(
                             "need start < end <= tree size ", *size, "; got [",
                             request->start(), ", ", request->end(), ")")));
  }
  uint64_t end = std::min(request->end(), request->start() + kMaxEntriesPerCall);
  auto rows = reader_.Entries(request->start(), end);
  if (!rows.ok()) return Done(context, rows.status());
  return Done(context, FillEntries(*rows, *size, response));
}

grpc::ServerUnaryReactor* AuditService::Search(grpc::CallbackServerContext* context,
                                               const safeguard::v1::SearchRequest* request,
                                               safeguard::v1::GetEntriesResponse* response) {
  storage::AuditQuery query;
  std::string terms = "Search";
  if (request->has_child()) {
    safeguard::v1::SubjectIdentifier child = request->child();
    if (child.scheme() == safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER) {
      auto nhs = protocol::NormaliseNhsNumber(child.value());
      if (!nhs.ok()) return Done(context, nhs.status());
      child.set_value(*nhs);
    }
    query.child_ref = keys_.ChildReference(child);
    absl::StrAppend(&terms, " child-ref");  // never the identifier itself
  }
  query.agency = request->agency();
  query.from = TimeOf(request->has_from(), request->from());
  query.to = TimeOf(request->has_to(), request->to());
  query.notification_type = request->notification_type();
  query.event = request->event();
  query.limit = request->limit() == 0 ? 100 : static_cast<int>(std::min<uint32_t>(request->limit(), 1000));
  if (!query.agency.empty()) absl::StrAppend(&terms, " agency=", query.agency);
  if (query.notification_type) absl::StrAppend(&terms, " type=", query.notification_type);
  if (query.event) absl::StrAppend(&terms, " event=", query.event);
  if (auto s = Admit(context, terms); !s.ok()) return Done(context, s);
  auto rows = reader_.Search(query);
  if (!rows.ok()) return Done(context, rows.status());
  auto size = DefaultSize(0);
  return Done(context, FillEntries(*rows, size.ok() ? *size : 0, response));
}

grpc::ServerUnaryReactor* AuditService::GetReport(grpc::CallbackServerContext* context,
                                                  const safeguard::v1::ReportRequest* request,
                                                  safeguard::v1::Report* response) {
  if (auto s = Admit(context, "GetReport"); !s.ok()) return Done(context, s);
  auto report = reader_.Report(TimeOf(request->has_from(), request->from()),
                               TimeOf(request->has_to(), request->to()));
  if (!report.ok()) return Done(context, report.status());
  *response = *std::move(report);
  return Done(context, absl::OkStatus());
}

}  // namespace safeguard::server
