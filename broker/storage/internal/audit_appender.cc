#include "broker/storage/internal/audit_appender.h"

#include <bit>

#include "absl/strings/str_cat.h"
#include "broker/storage/internal/merkle_nodes.h"
#include "google/protobuf/util/time_util.h"

namespace safeguard::storage::internal {

// Nodes of this batch from memory; anything else (not expected) from the open transaction.
class AuditAppender::BatchReader final : public audit::NodeReader {
 public:
  BatchReader(const std::map<std::pair<int, uint64_t>, audit::Hash>& nodes,
              StatementCache& statements)
      : nodes_(nodes), stored_(statements) {}
  absl::StatusOr<audit::Hash> GetNode(int level, uint64_t index) override {
    auto it = nodes_.find({level, index});
    if (it != nodes_.end()) return it->second;
    return stored_.GetNode(level, index);
  }

 private:
  const std::map<std::pair<int, uint64_t>, audit::Hash>& nodes_;
  StoredMerkleNodes stored_;
};

absl::StatusOr<AuditAppender> AuditAppender::Load(StatementCache& statements) {
  Statement read(statements, "SELECT frontier FROM audit_state WHERE id = 1");
  if (!read.status().ok()) return read.status();
  int rc = read.Step();
  if (rc == SQLITE_DONE) return AuditAppender(statements, audit::TreeState());
  if (rc != SQLITE_ROW) {
    return absl::UnavailableError(absl::StrCat("reading the audit log's state: ",
                                               sqlite3_errstr(rc)));
  }
  auto state = audit::TreeState::Parse(read.Blob(0));
  if (!state.ok()) {
    return absl::DataLossError(absl::StrCat("the audit log's stored state is damaged: ",
                                            state.status().message()));
  }
  return AuditAppender(statements, *std::move(state));
}

void AuditAppender::BeginBatch() {
  batch_start_ = state_;
  batch_nodes_.clear();
  // The frontier's nodes, at their positions: the perfect subtrees of [0, size), largest first.
  uint64_t offset = 0;
  const auto& frontier = state_.frontier();
  size_t i = 0;
  for (int level = 63; level >= 0 && i < frontier.size(); --level) {
    if (!(state_.size() >> level & 1)) continue;
    batch_nodes_[{level, offset >> level}] = frontier[i++];
    offset += uint64_t{1} << level;
  }
}

absl::StatusOr<std::pair<uint64_t, std::string>> AuditAppender::Append(
    safeguard::v1::AuditEntry entry, absl::Time now) {
  *entry.mutable_time() =
      google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(now));
  std::string leaf = entry.SerializeAsString();
  uint64_t index = state_.size();
  auto nodes = state_.Append(audit::LeafHash(leaf));
  if (!nodes.ok()) return nodes.status();

  auto fail = [&](int rc, absl::string_view what) {
    return absl::UnavailableError(absl::StrCat("storage failure: ", what, ": ",
                                               sqlite3_errstr(rc)));
  };
  Statement insert(*statements_,
                   "INSERT INTO audit_entries (idx, leaf, time_us, event, actor, counterpart, "
                   "notification_id, notification_type) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  if (!insert.status().ok()) return insert.status();
  insert.Bind(1, static_cast<int64_t>(index));
  insert.BindBlob(2, leaf);
  insert.Bind(3, absl::ToUnixMicros(now));
  insert.Bind(4, static_cast<int64_t>(entry.event()));
  insert.Bind(5, entry.actor());
  insert.Bind(6, entry.counterpart());
  insert.Bind(7, entry.notification_id());
  insert.Bind(8, static_cast<int64_t>(entry.notification_type()));
  if (int rc = insert.Step(); rc != SQLITE_DONE) {
    if (rc == SQLITE_FULL) {
      return absl::ResourceExhaustedError("the broker's disk is full; nothing was stored");
    }
    return fail(rc, "appending to the audit log");
  }
  for (const std::string& ref : entry.child_refs()) {
    Statement child(*statements_,
                    "INSERT OR IGNORE INTO audit_child_refs (ref, idx) VALUES (?1, ?2)");
    child.BindBlob(1, ref);
    child.Bind(2, static_cast<int64_t>(index));
    if (int rc = child.Step(); rc != SQLITE_DONE) return fail(rc, "indexing a child reference");
  }
  for (const audit::MerkleNode& node : *nodes) {
    batch_nodes_[{node.level, node.index}] = node.hash;
    // Levels not kept are recomputed when read (merkle_nodes.h).
    if (!IsStoredMerkleLevel(node.level)) continue;
    Statement put(*statements_,
                  "INSERT INTO merkle_nodes (level, idx, hash) VALUES (?1, ?2, ?3)");
    put.Bind(1, static_cast<int64_t>(node.level));
    put.Bind(2, static_cast<int64_t>(node.index));
    put.BindBlob(3, audit::AsBytes(node.hash));
    if (int rc = put.Step(); rc != SQLITE_DONE) return fail(rc, "storing a Merkle node");
  }
  return std::make_pair(index, std::move(leaf));
}

absl::Status AuditAppender::EndBatch() {
  if (state_.size() == batch_start_.size()) return absl::OkStatus();
  Statement save(*statements_,
                 "INSERT INTO audit_state (id, frontier) VALUES (1, ?1) "
                 "ON CONFLICT (id) DO UPDATE SET frontier = excluded.frontier");
  save.BindBlob(1, state_.Serialize());
  if (int rc = save.Step(); rc != SQLITE_DONE) {
    return absl::UnavailableError(
        absl::StrCat("storage failure: saving the audit log's state: ", sqlite3_errstr(rc)));
  }
  return absl::OkStatus();
}

void AuditAppender::AbortBatch() { state_ = batch_start_; }

absl::StatusOr<std::vector<audit::Hash>> AuditAppender::ProofInBatch(uint64_t leaf_index) {
  BatchReader reader(batch_nodes_, *statements_);
  return audit::InclusionProof(leaf_index, state_.size(), reader);
}

}  // namespace safeguard::storage::internal
