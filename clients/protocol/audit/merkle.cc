#include "clients/protocol/audit/merkle.h"

#include <algorithm>
#include <bit>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "clients/protocol/audit/internal/sha256.h"
#include "clients/protocol/status_macros.h"

namespace safeguard::audit {
namespace {

constexpr char kLeafPrefix = 0x00;
constexpr char kNodePrefix = 0x01;
constexpr char kTreeStateVersion = 0x01;

// Largest power of two strictly smaller than n. REQUIRES: n >= 2.
uint64_t SplitPoint(uint64_t n) { return std::bit_floor(n - 1); }

// The perfect subtrees that make up the leaves [begin, end), left to right, as (level, index).
// Each is the largest aligned one that fits, so for a range that is itself an RFC 6962 subtree
// (begin a multiple of a power of two >= end - begin), these are the subtrees its MTH splits
// into, largest first.
std::vector<std::pair<int, uint64_t>> PerfectSubtrees(uint64_t begin, uint64_t end) {
  std::vector<std::pair<int, uint64_t>> out;
  while (begin < end) {
    int level = std::bit_width(end - begin) - 1;
    if (begin != 0) level = std::min(level, std::countr_zero(begin));
    out.emplace_back(level, begin >> level);
    begin += uint64_t{1} << level;
  }
  return out;
}

absl::StatusOr<Hash> ReadNode(NodeReader& reader, int level, uint64_t index) {
  absl::StatusOr<Hash> hash = reader.GetNode(level, index);
  if (!hash.ok()) {
    return absl::Status(hash.status().code(),
                        absl::StrCat("cannot read Merkle node (level ", level, ", index ", index,
                                     "): ", hash.status().message()));
  }
  return hash;
}

// MTH(D[begin:end]) for a range that is an RFC 6962 subtree, from its stored perfect subtrees:
// one read if the range is itself perfect, otherwise one per set bit of end - begin.
absl::StatusOr<Hash> SubtreeRoot(uint64_t begin, uint64_t end, NodeReader& reader) {
  std::vector<Hash> parts;
  for (const auto& [level, index] : PerfectSubtrees(begin, end)) {
    ASSIGN_OR_RETURN(Hash hash, ReadNode(reader, level, index));
    parts.push_back(hash);
  }
  // The left-balanced tree over these parts hashes them right to left.
  Hash root = parts.back();
  for (size_t i = parts.size() - 1; i-- > 0;) root = NodeHash(parts[i], root);
  return root;
}

// One step of the RFC 9162 verification loops (§2.1.3.2 step 5b-c, §2.1.4.2 step 6b-c) applied
// to the indices alone. Returns whether the proof hash goes on the left.
bool AdvanceIndices(uint64_t& fn, uint64_t& sn) {
  const bool proof_on_left = (fn & 1) != 0 || fn == sn;
  if (proof_on_left && (fn & 1) == 0) {
    while ((fn & 1) == 0 && fn != 0) {
      fn >>= 1;
      sn >>= 1;
    }
  }
  fn >>= 1;
  sn >>= 1;
  return proof_on_left;
}

}  // namespace

Hash LeafHash(absl::string_view data) {
  return internal::Sha256({absl::string_view(&kLeafPrefix, 1), data});
}

Hash NodeHash(const Hash& left, const Hash& right) {
  return internal::Sha256({absl::string_view(&kNodePrefix, 1), AsBytes(left), AsBytes(right)});
}

Hash EmptyRoot() { return internal::Sha256({}); }

absl::string_view AsBytes(const Hash& hash) {
  return absl::string_view(reinterpret_cast<const char*>(hash.data()), hash.size());
}

std::string HashToHex(const Hash& hash) { return absl::BytesToHexString(AsBytes(hash)); }

absl::StatusOr<Hash> HashFromBytes(absl::string_view bytes) {
  if (bytes.size() != kHashSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("a SHA-256 hash is 32 bytes, got ", bytes.size()));
  }
  Hash hash;
  std::copy(bytes.begin(), bytes.end(), hash.begin());
  return hash;
}

absl::StatusOr<Hash> HashFromHex(absl::string_view hex) {
  if (hex.size() != 2 * kHashSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("a SHA-256 hash is 64 hex digits, got ", hex.size(), " characters"));
  }
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          absl::StrCat("a SHA-256 hash in hex may hold only 0-9 and a-f, found '",
                       absl::CHexEscape(absl::string_view(&c, 1)), "'"));
    }
  }
  return HashFromBytes(absl::HexStringToBytes(hex));
}

// ---------------------------------------------------------------------------------------------
// TreeState

absl::StatusOr<TreeState> TreeState::FromFrontier(uint64_t size, std::vector<Hash> frontier) {
  const int want = std::popcount(size);
  if (frontier.size() != static_cast<size_t>(want)) {
    return absl::InvalidArgumentError(
        absl::StrCat("a tree of size ", size, " has a frontier of ", want,
                     " hashes (one per set bit of the size), got ", frontier.size()));
  }
  return TreeState(size, std::move(frontier));
}

absl::StatusOr<TreeState> TreeState::FromNodes(uint64_t size, NodeReader& reader) {
  std::vector<Hash> frontier;
  for (const auto& [level, index] : PerfectSubtrees(0, size)) {
    ASSIGN_OR_RETURN(Hash hash, ReadNode(reader, level, index));
    frontier.push_back(hash);
  }
  return TreeState(size, std::move(frontier));
}

std::string TreeState::Serialize() const {
  std::string out;
  out.reserve(1 + 8 + frontier_.size() * kHashSize);
  out.push_back(kTreeStateVersion);
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((size_ >> shift) & 0xff));
  }
  for (const Hash& hash : frontier_) absl::StrAppend(&out, AsBytes(hash));
  return out;
}

absl::StatusOr<TreeState> TreeState::Parse(absl::string_view bytes) {
  if (bytes.size() < 9) {
    return absl::InvalidArgumentError(absl::StrCat("serialised tree state is ", bytes.size(),
                                                   " bytes; it needs at least 9 (version, size)"));
  }
  if (bytes[0] != kTreeStateVersion) {
    return absl::InvalidArgumentError(absl::StrCat(
        "serialised tree state has version ", static_cast<int>(static_cast<uint8_t>(bytes[0])),
        "; this code reads version ", static_cast<int>(kTreeStateVersion)));
  }
  uint64_t size = 0;
  for (int i = 1; i <= 8; ++i) size = (size << 8) | static_cast<uint8_t>(bytes[i]);
  absl::string_view hashes = bytes.substr(9);
  const size_t want = static_cast<size_t>(std::popcount(size)) * kHashSize;
  if (hashes.size() != want) {
    return absl::InvalidArgumentError(
        absl::StrCat("serialised tree state of size ", size, " must carry ", want,
                     " bytes of frontier hashes, got ", hashes.size()));
  }
  std::vector<Hash> frontier(hashes.size() / kHashSize);
  for (size_t i = 0; i < frontier.size(); ++i) {
    std::copy_n(hashes.data() + i * kHashSize, kHashSize, frontier[i].begin());
  }
  return TreeState(size, std::move(frontier));
}

absl::StatusOr<std::vector<MerkleNode>> TreeState::Append(const Hash& leaf_hash) {
  if (size_ == UINT64_MAX) {
    return absl::OutOfRangeError("the tree is full: it already holds 2^64 - 1 leaves");
  }
  std::vector<MerkleNode> created;
  created.reserve(1 + std::countr_one(size_));
  Hash hash = leaf_hash;
  int level = 0;
  uint64_t index = size_;
  created.push_back({level, index, hash});
  // Each trailing one bit of the old size is a perfect subtree of the same height as the one
  // just completed, immediately to its left: merge them, like a carry in binary addition.
  for (uint64_t s = size_; (s & 1) != 0; s >>= 1) {
    hash = NodeHash(frontier_.back(), hash);
    frontier_.pop_back();
    ++level;
    index >>= 1;
    created.push_back({level, index, hash});
  }
  frontier_.push_back(hash);
  ++size_;
  return created;
}

Hash TreeState::Root() const {
  if (frontier_.empty()) return EmptyRoot();
  Hash root = frontier_.back();
  for (size_t i = frontier_.size() - 1; i-- > 0;) root = NodeHash(frontier_[i], root);
  return root;
}

// ---------------------------------------------------------------------------------------------
// Proof generation. Both follow the recursive RFC 6962 definitions top-down over [lo, hi) and
// reverse at the end, since the proofs list hashes bottom-up. Only the first right-hand sibling
// can be an incomplete subtree (after it, the walk stays inside a perfect subtree), so a proof
// costs at most log2(n) + popcount(n) reads.

absl::StatusOr<std::vector<Hash>> InclusionProof(uint64_t leaf_index, uint64_t tree_size,
                                                 NodeReader& reader) {
  if (leaf_index >= tree_size) {
    return absl::InvalidArgumentError(absl::StrCat("cannot prove inclusion of leaf ", leaf_index,
                                                   " in a tree of ", tree_size, " leaves"));
  }
  std::vector<Hash> proof;
  uint64_t lo = 0;
  uint64_t hi = tree_size;
  while (hi - lo > 1) {
    const uint64_t k = SplitPoint(hi - lo);
    if (leaf_index < lo + k) {
      ASSIGN_OR_RETURN(Hash right, SubtreeRoot(lo + k, hi, reader));
      proof.push_back(right);
      hi = lo + k;
    } else {
      ASSIGN_OR_RETURN(Hash left, SubtreeRoot(lo, lo + k, reader));
      proof.push_back(left);
      lo += k;
    }
  }
  std::reverse(proof.begin(), proof.end());
  return proof;
}

absl::StatusOr<std::vector<Hash>> ConsistencyProof(uint64_t old_size, uint64_t new_size,
                                                   NodeReader& reader) {
  if (old_size > new_size) {
    return absl::InvalidArgumentError(absl::StrCat("cannot prove consistency from size ", old_size,
                                                   " to the smaller size ", new_size));
  }
  std::vector<Hash> proof;
  if (old_size == 0 || old_size == new_size) return proof;
  // SUBPROOF(m, D[lo:hi], b), with m counted from lo.
  uint64_t m = old_size;
  uint64_t lo = 0;
  uint64_t hi = new_size;
  bool whole_old_tree = true;  // b: the old tree's root is known to the verifier
  while (true) {
    if (m == hi - lo) {
      if (!whole_old_tree) {
        ASSIGN_OR_RETURN(Hash node, SubtreeRoot(lo, hi, reader));
        proof.push_back(node);
      }
      break;
    }
    const uint64_t k = SplitPoint(hi - lo);
    if (m <= k) {
      ASSIGN_OR_RETURN(Hash right, SubtreeRoot(lo + k, hi, reader));
      proof.push_back(right);
      hi = lo + k;
    } else {
      ASSIGN_OR_RETURN(Hash left, SubtreeRoot(lo, lo + k, reader));
      proof.push_back(left);
      m -= k;
      lo += k;
      whole_old_tree = false;
    }
  }
  std::reverse(proof.begin(), proof.end());
  return proof;
}

absl::StatusOr<Hash> RootAtSize(uint64_t tree_size, NodeReader& reader) {
  if (tree_size == 0) return EmptyRoot();
  return SubtreeRoot(0, tree_size, reader);
}

// ---------------------------------------------------------------------------------------------
// Verification, RFC 9162 §2.1.3.2 and §2.1.4.2 step by step. The proof length is checked first,
// by running the same index arithmetic without hashing, so that a wrong length is reported as
// such instead of as a root mismatch; the loops keep the RFC's own checks as well.

size_t InclusionProofSize(uint64_t leaf_index, uint64_t tree_size) {
  if (leaf_index >= tree_size) return 0;
  uint64_t fn = leaf_index;
  uint64_t sn = tree_size - 1;
  size_t count = 0;
  while (sn != 0) {
    AdvanceIndices(fn, sn);
    ++count;
  }
  return count;
}

size_t ConsistencyProofSize(uint64_t size1, uint64_t size2) {
  if (size1 == 0 || size1 >= size2) return 0;
  uint64_t fn = size1 - 1;
  uint64_t sn = size2 - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  size_t count = 1;  // the first element, which the verifier supplies itself when size1 = 2^k
  while (sn != 0) {
    AdvanceIndices(fn, sn);
    ++count;
  }
  return std::has_single_bit(size1) ? count - 1 : count;
}

absl::StatusOr<Hash> RootFromInclusionProof(const Hash& leaf_hash, uint64_t leaf_index,
                                            uint64_t tree_size, absl::Span<const Hash> proof) {
  if (leaf_index >= tree_size) {
    return absl::InvalidArgumentError(absl::StrCat("inclusion proof names leaf ", leaf_index,
                                                   ", outside a tree of ", tree_size, " leaves"));
  }
  const size_t want = InclusionProofSize(leaf_index, tree_size);
  if (proof.size() != want) {
    return absl::InvalidArgumentError(absl::StrCat("inclusion proof has ", proof.size(),
                                                   " hashes; leaf ", leaf_index, " of a tree of ",
                                                   tree_size, " leaves needs exactly ", want));
  }
  uint64_t fn = leaf_index;
  uint64_t sn = tree_size - 1;
  Hash r = leaf_hash;
  for (const Hash& p : proof) {
    if (sn == 0) return absl::InvalidArgumentError("inclusion proof is too long");
    r = AdvanceIndices(fn, sn) ? NodeHash(p, r) : NodeHash(r, p);
  }
  if (sn != 0) return absl::InvalidArgumentError("inclusion proof is too short");
  return r;
}

absl::Status VerifyInclusion(const Hash& leaf_hash, uint64_t leaf_index, uint64_t tree_size,
                             absl::Span<const Hash> proof, const Hash& root) {
  ASSIGN_OR_RETURN(Hash computed, RootFromInclusionProof(leaf_hash, leaf_index, tree_size, proof));
  if (computed != root) {
    return absl::UnauthenticatedError(absl::StrCat(
        "inclusion proof for leaf ", leaf_index, " of a tree of ", tree_size,
        " leaves leads to root ", HashToHex(computed), ", not the expected ", HashToHex(root)));
  }
  return absl::OkStatus();
}

absl::Status VerifyConsistency(uint64_t size1, uint64_t size2, absl::Span<const Hash> proof,
                               const Hash& root1, const Hash& root2) {
  if (size1 > size2) {
    return absl::InvalidArgumentError(absl::StrCat("consistency proof from size ", size1,
                                                   " to the smaller size ", size2,
                                                   ": a log only grows"));
  }
  const auto empty_tree_root_mismatch = [](const Hash& root) {
    return absl::UnauthenticatedError(
        absl::StrCat("the root of the empty tree is SHA-256(\"\") = ", HashToHex(EmptyRoot()),
                     ", not ", HashToHex(root)));
  };
  if (size1 == size2) {
    if (!proof.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "consistency proof between equal sizes must be empty, got ", proof.size(), " hashes"));
    }
    if (root1 != root2) {
      return absl::UnauthenticatedError(absl::StrCat("two roots for the same tree size ", size1,
                                                     " differ: ", HashToHex(root1), " and ",
                                                     HashToHex(root2), " (the log forked)"));
    }
    if (size1 == 0 && root1 != EmptyRoot()) return empty_tree_root_mismatch(root1);
    return absl::OkStatus();
  }
  if (size1 == 0) {
    if (!proof.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "consistency proof from the empty tree must be empty, got ", proof.size(), " hashes"));
    }
    if (root1 != EmptyRoot()) return empty_tree_root_mismatch(root1);
    return absl::OkStatus();
  }
  const size_t want = ConsistencyProofSize(size1, size2);
  if (proof.size() != want) {
    return absl::InvalidArgumentError(absl::StrCat("consistency proof has ", proof.size(),
                                                   " hashes; from size ", size1, " to size ", size2,
                                                   " it needs exactly ", want));
  }

  // Step 2: when size1 is a power of two the old root is a node of the new tree, and the proof
  // leaves it out because the verifier already has it.
  std::vector<Hash> path;
  path.reserve(proof.size() + 1);
  if (std::has_single_bit(size1)) path.push_back(root1);
  path.insert(path.end(), proof.begin(), proof.end());
  if (path.empty()) return absl::InvalidArgumentError("consistency proof is empty");

  uint64_t fn = size1 - 1;  // step 3
  uint64_t sn = size2 - 1;
  while ((fn & 1) != 0) {  // step 4
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0];  // step 5
  Hash sr = path[0];
  for (size_t i = 1; i < path.size(); ++i) {  // step 6
    const Hash& c = path[i];
    if (sn == 0) return absl::InvalidArgumentError("consistency proof is too long");
    if (AdvanceIndices(fn, sn)) {
      fr = NodeHash(c, fr);
      sr = NodeHash(c, sr);
    } else {
      sr = NodeHash(sr, c);
    }
  }
  if (sn != 0) return absl::InvalidArgumentError("consistency proof is too short");  // step 7
  if (fr != root1) {
    return absl::UnauthenticatedError(absl::StrCat("consistency proof from size ", size1, " to ",
                                                   size2, " leads to old root ", HashToHex(fr),
                                                   ", not the expected ", HashToHex(root1)));
  }
  if (sr != root2) {
    return absl::UnauthenticatedError(absl::StrCat("consistency proof from size ", size1, " to ",
                                                   size2, " leads to new root ", HashToHex(sr),
                                                   ", not the expected ", HashToHex(root2)));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// InMemoryTree

absl::Status InMemoryTree::AppendLeaf(const Hash& leaf_hash) {
  ASSIGN_OR_RETURN(std::vector<MerkleNode> created, state_.Append(leaf_hash));
  for (const MerkleNode& node : created) {
    if (levels_.size() <= static_cast<size_t>(node.level)) levels_.resize(node.level + 1);
    // Nodes arrive in index order at each level, so this is always an append.
    levels_[node.level].push_back(node.hash);
  }
  return absl::OkStatus();
}

absl::StatusOr<Hash> InMemoryTree::GetNode(int level, uint64_t index) {
  ++node_reads_;
  if (level < 0 || static_cast<size_t>(level) >= levels_.size() || index >= levels_[level].size()) {
    return absl::NotFoundError(absl::StrCat("no complete subtree at level ", level, ", index ",
                                            index, " in a tree of ", size(), " leaves"));
  }
  return levels_[level][index];
}

}  // namespace safeguard::audit
