// The Audit gRPC service: checkpoints, proofs, entries, search and reports, for auditor nodes
// only. Every call is itself appended to the audit log.
#ifndef SAFEGUARD_BROKER_SERVER_AUDIT_SERVICE_H_
#define SAFEGUARD_BROKER_SERVER_AUDIT_SERVICE_H_

#include "broker/audit/audit_keys.h"
#include "broker/audit/checkpointer.h"
#include "broker/identity/node_registry.h"
#include "broker/storage/sqlite_audit_reader.h"
#include "broker/storage/store.h"
#include "safeguard/v1/audit.grpc.pb.h"

namespace safeguard::server {

// Thread-safe. Reads run on gRPC's callback threads: they are small indexed queries, and audit
// traffic is light; a report scans the entries of its period.
class AuditService final : public safeguard::v1::Audit::CallbackService {
 public:
  AuditService(const identity::NodeRegistry& registry, const audit_log::AuditKeys& keys,
               audit_log::Checkpointer& checkpointer, storage::SqliteAuditReader& reader,
               storage::Store& store)
      : registry_(registry), keys_(keys), checkpointer_(checkpointer), reader_(reader),
        store_(store) {}

  grpc::ServerUnaryReactor* GetCheckpoint(grpc::CallbackServerContext* context,
                                          const safeguard::v1::GetCheckpointRequest* request,
                                          safeguard::v1::Checkpoint* response) override;
  grpc::ServerUnaryReactor* GetInclusionProof(
      grpc::CallbackServerContext* context, const safeguard::v1::GetInclusionProofRequest* request,
      safeguard::v1::InclusionProof* response) override;
  grpc::ServerUnaryReactor* GetConsistencyProof(
      grpc::CallbackServerContext* context,
      const safeguard::v1::GetConsistencyProofRequest* request,
      safeguard::v1::ConsistencyProof* response) override;
  grpc::ServerUnaryReactor* GetEntries(grpc::CallbackServerContext* context,
                                       const safeguard::v1::GetEntriesRequest* request,
                                       safeguard::v1::GetEntriesResponse* response) override;
  grpc::ServerUnaryReactor* Search(grpc::CallbackServerContext* context,
                                   const safeguard::v1::SearchRequest* request,
                                   safeguard::v1::GetEntriesResponse* response) override;
  grpc::ServerUnaryReactor* GetReport(grpc::CallbackServerContext* context,
                                      const safeguard::v1::ReportRequest* request,
                                      safeguard::v1::Report* response) override;

 private:
  // Authenticates, allows auditors only, and logs the call as an AUDIT_QUERY entry.
  absl::Status Admit(grpc::CallbackServerContext* context, std::string what);
  // The size proofs default to: the latest checkpoint's.
  absl::StatusOr<uint64_t> DefaultSize(uint64_t requested);
  absl::Status FillEntries(const std::vector<std::pair<uint64_t, std::string>>& rows,
                           uint64_t tree_size, safeguard::v1::GetEntriesResponse* response);

  const identity::NodeRegistry& registry_;
  const audit_log::AuditKeys& keys_;
  audit_log::Checkpointer& checkpointer_;
  storage::SqliteAuditReader& reader_;
  storage::Store& store_;
};

}  // namespace safeguard::server

#endif  // SAFEGUARD_BROKER_SERVER_AUDIT_SERVICE_H_
