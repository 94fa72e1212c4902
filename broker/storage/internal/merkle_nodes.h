// Which Merkle-tree nodes the store keeps, and how any node is read back.
//
// The audit log's proofs need the hash of any complete subtree (level, index). Storing every
// node costs two rows per audit entry (its leaf hash and, on average, one interior node), each
// a B-tree insert in the commit that makes the entry durable. The store keeps the leaf hashes
// and one interior level in four — levels 4, 8, 12, … — as C2SP tlog-tiles keeps one level in
// eight: 1 + 1/15 rows per entry. Any other node is recomputed from the at most 8 hashes below
// it on the next level kept, read with one range query. Proofs are byte for byte those of the
// whole tree.
//
// Leaf hashes are kept apart from the entries (never recomputed from them), so an entry altered
// or deleted behind the broker's back fails its own proof and no other, and every other entry
// can still be proven: what `safeguardctl audit verify` then names.
#ifndef SAFEGUARD_BROKER_STORAGE_INTERNAL_MERKLE_NODES_H_
#define SAFEGUARD_BROKER_STORAGE_INTERNAL_MERKLE_NODES_H_

#include <cstdint>
#include <map>
#include <utility>

#include "absl/status/statusor.h"
#include "broker/storage/internal/sqlite_statement.h"
#include "clients/protocol/audit/merkle.h"

namespace safeguard::storage::internal {

// Levels kept in `merkle_nodes` are the multiples of this (0, the leaf hashes, included).
inline constexpr int kStoredMerkleLevelStride = 4;

// Whether the store keeps the nodes of `level`.
constexpr bool IsStoredMerkleLevel(int level) { return level % kStoredMerkleLevelStride == 0; }

// Any complete subtree's hash, from the `merkle_nodes` table of one connection (what that
// connection's transaction sees). NOT_FOUND naming the missing row when the subtree is not
// complete in the store or a row it needs is gone; DATA_LOSS when a stored hash is not 32 bytes;
// UNAVAILABLE when SQLite fails. Remembers every node it returned, so the proofs of many entries
// made with one object (an export's page) read each shared node once: make one per call, not
// per connection. Thread-compatible; confined to the connection's thread like its
// StatementCache.
class StoredMerkleNodes final : public audit::NodeReader {
 public:
  explicit StoredMerkleNodes(StatementCache& statements) : statements_(statements) {}

  absl::StatusOr<audit::Hash> GetNode(int level, uint64_t index) override;

 private:
  absl::StatusOr<audit::Hash> Read(int level, uint64_t index);

  StatementCache& statements_;
  std::map<std::pair<int, uint64_t>, audit::Hash> returned_;
};

}  // namespace safeguard::storage::internal

#endif  // SAFEGUARD_BROKER_STORAGE_INTERNAL_MERKLE_NODES_H_
