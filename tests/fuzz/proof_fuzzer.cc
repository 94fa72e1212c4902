// libFuzzer target: Merkle proof verification and tree-state parsing must never crash, and must
// never accept a proof other than the one honest proof.
//
// The first byte picks a mode:
//   0  arbitrary inclusion proof: index, size, leaf, root and hashes straight from the input;
//   1  arbitrary consistency proof, likewise;
//   2  inclusion against a real tree: an honest proof, altered by the input, checked against the
//      real root of the claimed size; accepted only if it is exactly the honest proof for the
//      claimed index and size;
//   3  consistency against a real tree, with the same oracle, sometimes with the old root of
//      another size (a forked log);
//   4  TreeState::Parse: accepted bytes must re-serialise identically and stay appendable.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "clients/protocol/audit/merkle.h"
#include "tests/fuzz/fuzz_input.h"

namespace safeguard::fuzz {
namespace {

using audit::Hash;

constexpr uint64_t kTreeSize = 1024;

Hash ReadHash(FuzzInput& in) {
  Hash h;
  for (auto& b : h) b = in.Byte();
  return h;
}

std::vector<Hash> ReadProof(FuzzInput& in) {
  // Deliberately allows far more hashes than any valid proof (at most 65).
  std::vector<Hash> proof;
  while (in.remaining() >= audit::kHashSize && proof.size() < 200) proof.push_back(ReadHash(in));
  return proof;
}

// One real tree, built once: distinct leaves, so no two subtrees share a hash by accident.
audit::InMemoryTree& Tree() {
  static audit::InMemoryTree* const tree = [] {
    auto* t = new audit::InMemoryTree;
    for (uint64_t i = 0; i < kTreeSize; ++i) {
      FUZZ_CHECK(t->AppendLeaf(audit::LeafHash(absl::StrCat("leaf ", i))).ok());
    }
    return t;
  }();
  return *tree;
}

Hash RealRoot(uint64_t size) {
  absl::StatusOr<Hash> root = audit::RootAtSize(size, Tree());
  FUZZ_CHECK(root.ok());
  return *root;
}

Hash RealLeaf(uint64_t index) { return *Tree().GetNode(0, index); }

// Alters the proof as the input says: flip bits, drop, duplicate or swap hashes.
void Tamper(FuzzInput& in, std::vector<Hash>& proof) {
  const int edits = in.Byte() % 4;
  for (int e = 0; e < edits; ++e) {
    const uint8_t op = in.Byte() % 4;
    const size_t at = proof.empty() ? 0 : in.Byte() % proof.size();
    switch (op) {
      case 0:
        if (!proof.empty()) proof[at][in.Byte() % audit::kHashSize] ^= in.Byte() | 1;
        break;
      case 1:
        if (!proof.empty()) proof.erase(proof.begin() + at);
        break;
      case 2:
        proof.insert(proof.begin() + at, proof.empty() ? ReadHash(in) : proof[at]);
        break;
      case 3:
        if (proof.size() > 1) std::swap(proof[at], proof[(at + 1) % proof.size()]);
        break;
    }
  }
}

void ArbitraryInclusion(FuzzInput& in) {
  const uint64_t index = in.U64();
  const uint64_t size = in.U64();
  const Hash leaf = ReadHash(in);
  const Hash root = ReadHash(in);
  const std::vector<Hash> proof = ReadProof(in);
  const absl::Status verified = audit::VerifyInclusion(leaf, index, size, proof, root);
  const absl::StatusOr<Hash> computed = audit::RootFromInclusionProof(leaf, index, size, proof);
  FUZZ_CHECK(verified.ok() == (computed.ok() && *computed == root));
  if (computed.ok()) FUZZ_CHECK(proof.size() == audit::InclusionProofSize(index, size));
}

void ArbitraryConsistency(FuzzInput& in) {
  const uint64_t size1 = in.U64();
  const uint64_t size2 = in.U64();
  const Hash root1 = ReadHash(in);
  const Hash root2 = ReadHash(in);
  const std::vector<Hash> proof = ReadProof(in);
  const absl::Status verified = audit::VerifyConsistency(size1, size2, proof, root1, root2);
  if (verified.ok() && size1 != 0 && size1 != size2) {
    FUZZ_CHECK(proof.size() == audit::ConsistencyProofSize(size1, size2));
  }
}

void RealInclusion(FuzzInput& in) {
  const uint64_t size = 1 + in.U16() % kTreeSize;
  const uint64_t index = in.U16() % size;
  absl::StatusOr<std::vector<Hash>> honest = audit::InclusionProof(index, size, Tree());
  FUZZ_CHECK(honest.ok());
  FUZZ_CHECK(audit::VerifyInclusion(RealLeaf(index), index, size, *honest, RealRoot(size)).ok());

  std::vector<Hash> proof = *honest;
  Tamper(in, proof);
  const uint64_t claimed_size = 1 + in.U16() % kTreeSize;
  const uint64_t claimed_index = in.U16() % claimed_size;
  const uint64_t leaf_of = in.Byte() % 2 == 0 ? claimed_index : in.U16() % kTreeSize;
  const absl::Status verified = audit::VerifyInclusion(RealLeaf(leaf_of), claimed_index,
                                                       claimed_size, proof, RealRoot(claimed_size));
  if (verified.ok()) {
    FUZZ_CHECK(leaf_of == claimed_index);
    FUZZ_CHECK(proof == *audit::InclusionProof(claimed_index, claimed_size, Tree()));
  }
}

void RealConsistency(FuzzInput& in) {
  const uint64_t size2 = 1 + in.U16() % kTreeSize;
  const uint64_t size1 = in.U16() % (size2 + 1);
  absl::StatusOr<std::vector<Hash>> honest = audit::ConsistencyProof(size1, size2, Tree());
  FUZZ_CHECK(honest.ok());
  FUZZ_CHECK(
      audit::VerifyConsistency(size1, size2, *honest, RealRoot(size1), RealRoot(size2)).ok());

  std::vector<Hash> proof = *honest;
  Tamper(in, proof);
  const uint64_t claimed2 = 1 + in.U16() % kTreeSize;
  const uint64_t claimed1 = in.U16() % (claimed2 + 1);
  // Usually the real roots of the claimed sizes; sometimes the old root of another size, which
  // is what a forked log (two different trees sharing a size) looks like to a verifier.
  const uint64_t root1_of = in.Byte() % 2 == 0 ? claimed1 : in.U16() % (kTreeSize + 1);
  const absl::Status verified =
      audit::VerifyConsistency(claimed1, claimed2, proof, RealRoot(root1_of), RealRoot(claimed2));
  if (verified.ok()) {
    FUZZ_CHECK(RealRoot(root1_of) == RealRoot(claimed1));
    FUZZ_CHECK(proof == *audit::ConsistencyProof(claimed1, claimed2, Tree()));
  }
}

void ParseTreeState(FuzzInput& in) {
  const std::string bytes(in.Rest());
  absl::StatusOr<audit::TreeState> state = audit::TreeState::Parse(bytes);
  if (!state.ok()) return;
  FUZZ_CHECK(state->Serialize() == bytes);
  (void)state->Root();
  if (state->size() < UINT64_MAX) {
    absl::StatusOr<std::vector<audit::MerkleNode>> created = state->Append(Hash{});
    FUZZ_CHECK(created.ok());
    FUZZ_CHECK(!created->empty() && created->front().level == 0);
  }
}

}  // namespace
}  // namespace safeguard::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  safeguard::fuzz::FuzzInput in(data, size);
  switch (in.Byte() % 5) {
    case 0:
      safeguard::fuzz::ArbitraryInclusion(in);
      break;
    case 1:
      safeguard::fuzz::ArbitraryConsistency(in);
      break;
    case 2:
      safeguard::fuzz::RealInclusion(in);
      break;
    case 3:
      safeguard::fuzz::RealConsistency(in);
      break;
    case 4:
      safeguard::fuzz::ParseTreeState(in);
      break;
  }
  return 0;
}
