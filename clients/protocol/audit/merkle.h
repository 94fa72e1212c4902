// RFC 6962 / RFC 9162 Merkle tree hashing for the tamper-evident audit log: leaf and node hashes,
// the append-only tree state kept as its O(log n) frontier, inclusion and consistency proof
// generation from stored subtree roots, and proof verification exactly as RFC 9162 §2.1.3.2 and
// §2.1.4.2 describe it. Bit-exact with Certificate Transparency, Trillian, Tessera and Sigstore,
// so that an auditor can check our proofs with any of their verifiers, and we can check theirs.
//
// Errors: INVALID_ARGUMENT when a proof or its parameters are malformed (wrong length, index
// outside the tree, old size larger than new size); UNAUTHENTICATED when a well-formed proof does
// not prove the claim (the computed root differs), which is what tampering looks like.
#ifndef SAFEGUARD_CLIENTS_PROTOCOL_AUDIT_MERKLE_H_
#define SAFEGUARD_CLIENTS_PROTOCOL_AUDIT_MERKLE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace safeguard::audit {

inline constexpr size_t kHashSize = 32;  // SHA-256
using Hash = std::array<uint8_t, kHashSize>;

// SHA-256(0x00 || data): the RFC 6962 hash of one log entry.
Hash LeafHash(absl::string_view data);
// SHA-256(0x01 || left || right). The prefixes keep leaves and interior nodes apart, so an
// interior node can never be passed off as a leaf (second-preimage attack).
Hash NodeHash(const Hash& left, const Hash& right);
// SHA-256(""), the root of the tree with no leaves.
Hash EmptyRoot();

// The 32 raw bytes, as stored and sent (valid while `hash` lives).
absl::string_view AsBytes(const Hash& hash);
// Lower-case hex, for messages and tools.
std::string HashToHex(const Hash& hash);
// Exactly 32 raw bytes, or INVALID_ARGUMENT saying how many there were.
absl::StatusOr<Hash> HashFromBytes(absl::string_view bytes);
// Exactly 64 hex digits (either case), or INVALID_ARGUMENT.
absl::StatusOr<Hash> HashFromHex(absl::string_view hex);

// The root of a perfect subtree: 2^level leaves starting at leaf index << level. Only complete
// subtrees have such a node; their hashes never change once the last leaf under them arrives,
// which is what makes them safe to store.
struct MerkleNode {
  int level = 0;
  uint64_t index = 0;
  Hash hash{};

  friend bool operator==(const MerkleNode&, const MerkleNode&) = default;
};

// Read access to the stored complete-subtree nodes of one log. Proof generation asks for
// O(log n) nodes per proof and computes the incomplete right-edge subtrees itself, so a store
// only ever persists what TreeState::Append hands it.
// Thread-safety: up to the implementation; the functions below call it from the calling thread.
class NodeReader {
 public:
  virtual ~NodeReader() = default;

  // Returns the hash of the complete subtree (level, index), NOT_FOUND if the store does not hold
  // it, or another error if the store cannot be read.
  virtual absl::StatusOr<Hash> GetNode(int level, uint64_t index) = 0;
};

// The state of an append-only tree kept as its frontier: the roots of the perfect subtrees that
// make up [0, size), left to right, largest first. That is all that is needed to append and to
// compute the root, so a log of any size resumes from a stored frontier without replaying
// entries.
//
// Invariants: frontier_.size() == popcount(size_); frontier_[i] is the root of the perfect
// subtree whose height is the i-th set bit of size_ counted from the most significant.
//
// Thread-compatible.
class TreeState {
 public:
  // The empty tree.
  TreeState() = default;

  // Resumes from a frontier held elsewhere, e.g. read back from a store. INVALID_ARGUMENT unless
  // frontier has one hash per set bit of size.
  static absl::StatusOr<TreeState> FromFrontier(uint64_t size, std::vector<Hash> frontier);
  // Rebuilds the frontier of a tree of `size` leaves from its stored nodes (popcount(size) reads).
  static absl::StatusOr<TreeState> FromNodes(uint64_t size, NodeReader& reader);
  // Parses what Serialize() produced.
  static absl::StatusOr<TreeState> Parse(absl::string_view bytes);

  // Format, version 1: 0x01 || uint64 big-endian size || the frontier hashes (32 bytes each).
  std::string Serialize() const;

  uint64_t size() const { return size_; }
  const std::vector<Hash>& frontier() const { return frontier_; }

  // Appends one leaf (already hashed with LeafHash) and returns every node this completes,
  // bottom-up: the leaf itself at level 0, then each perfect subtree it closes. A store that
  // persists all of them can serve any proof for any size up to the new size.
  // OUT_OF_RANGE only when the tree already holds 2^64 - 1 leaves.
  [[nodiscard]] absl::StatusOr<std::vector<MerkleNode>> Append(const Hash& leaf_hash);

  // MTH of the first size() leaves.
  Hash Root() const;

 private:
  TreeState(uint64_t size, std::vector<Hash> frontier)
      : size_(size), frontier_(std::move(frontier)) {}

  uint64_t size_ = 0;
  std::vector<Hash> frontier_;
};

// PATH(leaf_index, D[tree_size]) from RFC 6962 §2.1.1, bottom-up, reading at most about
// 2*log2(tree_size) nodes. INVALID_ARGUMENT if leaf_index >= tree_size; the reader's error
// (with the node named) if a node is missing.
absl::StatusOr<std::vector<Hash>> InclusionProof(uint64_t leaf_index, uint64_t tree_size,
                                                 NodeReader& reader);

// PROOF(old_size, D[new_size]) from RFC 6962 §2.1.2. Empty when old_size is 0 or equals
// new_size (every tree is consistent with the empty tree and with itself), as in Trillian and
// transparency-dev/merkle. INVALID_ARGUMENT if old_size > new_size.
absl::StatusOr<std::vector<Hash>> ConsistencyProof(uint64_t old_size, uint64_t new_size,
                                                   NodeReader& reader);

// MTH(D[tree_size]) from stored nodes, for a size the log had in the past (popcount reads).
absl::StatusOr<Hash> RootAtSize(uint64_t tree_size, NodeReader& reader);

// The root that `proof` leads to from leaf_hash at leaf_index in a tree of tree_size leaves
// (RFC 9162 §2.1.3.2 steps 1-5). INVALID_ARGUMENT if the proof has the wrong number of hashes or
// the index is outside the tree.
absl::StatusOr<Hash> RootFromInclusionProof(const Hash& leaf_hash, uint64_t leaf_index,
                                            uint64_t tree_size, absl::Span<const Hash> proof);

// OK iff `proof` shows that leaf_hash is the leaf at leaf_index of the tree of tree_size leaves
// whose root is `root`.
[[nodiscard]] absl::Status VerifyInclusion(const Hash& leaf_hash, uint64_t leaf_index,
                                           uint64_t tree_size, absl::Span<const Hash> proof,
                                           const Hash& root);

// OK iff `proof` shows that the tree of size1 leaves with root1 is a prefix of the tree of size2
// leaves with root2 (RFC 9162 §2.1.4.2). size1 == size2 needs an empty proof and equal roots;
// size1 == 0 needs an empty proof and root1 == EmptyRoot().
[[nodiscard]] absl::Status VerifyConsistency(uint64_t size1, uint64_t size2,
                                             absl::Span<const Hash> proof, const Hash& root1,
                                             const Hash& root2);

// Number of hashes in a valid inclusion proof (0 if leaf_index >= tree_size).
size_t InclusionProofSize(uint64_t leaf_index, uint64_t tree_size);
// Number of hashes in a valid consistency proof (0 if size1 is 0, size1 >= size2).
size_t ConsistencyProofSize(uint64_t size1, uint64_t size2);

// Every node stored in memory: for tests, tools and small trees. Appending goes through a
// TreeState, so the nodes held are exactly those a persistent store would hold.
// Thread-compatible (GetNode counts reads, so even reads need external synchronisation).
class InMemoryTree : public NodeReader {
 public:
  // OUT_OF_RANGE only when full (see TreeState::Append).
  [[nodiscard]] absl::Status AppendLeaf(const Hash& leaf_hash);

  uint64_t size() const { return state_.size(); }
  Hash Root() const { return state_.Root(); }
  const TreeState& state() const { return state_; }

  absl::StatusOr<Hash> GetNode(int level, uint64_t index) override;

  // GetNode calls so far: lets tests hold proof generation to O(log n) reads.
  uint64_t node_reads() const { return node_reads_; }

 private:
  TreeState state_;
  std::vector<std::vector<Hash>> levels_;  // levels_[level][index]
  uint64_t node_reads_ = 0;
};

}  // namespace safeguard::audit

#endif  // SAFEGUARD_CLIENTS_PROTOCOL_AUDIT_MERKLE_H_
