// Appends audit entries to the Merkle log inside the store's open write transaction, so an
// entry is durable exactly when the operation it records is. Keeps only the tree's frontier in
// memory (and persists it with each commit): start-up never replays the log.
#ifndef SAFEGUARD_BROKER_STORAGE_INTERNAL_AUDIT_APPENDER_H_
#define SAFEGUARD_BROKER_STORAGE_INTERNAL_AUDIT_APPENDER_H_

#include <map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "broker/storage/internal/sqlite_statement.h"
#include "clients/protocol/audit/merkle.h"
#include "safeguard/v1/audit.pb.h"

namespace safeguard::storage::internal {

// Confined to the store's committer thread.
//
// Invariants: between batches, state_ equals the tree of the committed audit_entries rows;
// inside a batch, batch_nodes_ holds the frontier nodes at the batch's start plus every node
// created since, which is every node an inclusion proof of a leaf of this batch needs.
class AuditAppender {
 public:
  // Reads the persisted frontier (or starts empty).
  static absl::StatusOr<AuditAppender> Load(StatementCache& statements);

  void BeginBatch();
  // Stamps `entry` with `now`, appends it, and returns its leaf index and bytes.
  absl::StatusOr<std::pair<uint64_t, std::string>> Append(safeguard::v1::AuditEntry entry,
                                                          absl::Time now);
  // Persists the frontier; call before COMMIT.
  absl::Status EndBatch();
  // The transaction rolled back: forget this batch.
  void AbortBatch();

  uint64_t size() const { return state_.size(); }
  audit::Hash root() const { return state_.Root(); }
  // Inclusion proof of a leaf appended in this batch, at the current size.
  absl::StatusOr<std::vector<audit::Hash>> ProofInBatch(uint64_t leaf_index);

 private:
  AuditAppender(StatementCache& statements, audit::TreeState state)
      : statements_(&statements), state_(std::move(state)) {}

  class BatchReader;

  StatementCache* statements_;
  audit::TreeState state_;
  audit::TreeState batch_start_;
  std::map<std::pair<int, uint64_t>, audit::Hash> batch_nodes_;
};

}  // namespace safeguard::storage::internal

#endif  // SAFEGUARD_BROKER_STORAGE_INTERNAL_AUDIT_APPENDER_H_
