#include "clients/protocol/audit/merkle.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <bit>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace safeguard::audit {
namespace {

using ::testing::HasSubstr;

Hash H(absl::string_view hex) {
  absl::StatusOr<Hash> hash = HashFromHex(hex);
  EXPECT_TRUE(hash.ok()) << hash.status();
  return hash.value_or(Hash{});
}

// ---------------------------------------------------------------------------------------------
// The RFC 6962 §2.1 definitions, written recursively and naively, as the reference the library's
// O(log n) code is held to. Only LeafHash/NodeHash are shared, and those are pinned to published
// values below.

uint64_t K(uint64_t n) { return std::bit_floor(n - 1); }

Hash RefMth(const std::vector<Hash>& leaves, uint64_t lo, uint64_t hi) {
  if (hi == lo) return EmptyRoot();
  if (hi - lo == 1) return leaves[lo];
  const uint64_t k = K(hi - lo);
  return NodeHash(RefMth(leaves, lo, lo + k), RefMth(leaves, lo + k, hi));
}

std::vector<Hash> RefPath(const std::vector<Hash>& leaves, uint64_t m, uint64_t lo, uint64_t hi) {
  if (hi - lo <= 1) return {};
  const uint64_t k = K(hi - lo);
  std::vector<Hash> path;
  if (m < k) {
    path = RefPath(leaves, m, lo, lo + k);
    path.push_back(RefMth(leaves, lo + k, hi));
  } else {
    path = RefPath(leaves, m - k, lo + k, hi);
    path.push_back(RefMth(leaves, lo, lo + k));
  }
  return path;
}

std::vector<Hash> RefSubproof(const std::vector<Hash>& leaves, uint64_t m, uint64_t lo, uint64_t hi,
                              bool b) {
  const uint64_t n = hi - lo;
  if (m == n) return b ? std::vector<Hash>{} : std::vector<Hash>{RefMth(leaves, lo, hi)};
  const uint64_t k = K(n);
  std::vector<Hash> proof;
  if (m <= k) {
    proof = RefSubproof(leaves, m, lo, lo + k, b);
    proof.push_back(RefMth(leaves, lo + k, hi));
  } else {
    proof = RefSubproof(leaves, m - k, lo + k, hi, false);
    proof.push_back(RefMth(leaves, lo, lo + k));
  }
  return proof;
}

std::vector<Hash> RandomLeaves(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Hash> leaves;
  for (size_t i = 0; i < n; ++i) leaves.push_back(LeafHash(absl::StrCat("entry ", rng())));
  return leaves;
}

InMemoryTree TreeOf(const std::vector<Hash>& leaves) {
  InMemoryTree tree;
  for (const Hash& leaf : leaves) EXPECT_TRUE(tree.AppendLeaf(leaf).ok());
  return tree;
}

// ---------------------------------------------------------------------------------------------
// Hashing

TEST(MerkleHashTest, MatchesPublishedValues) {
  // SHA-256("") and the RFC 6962 leaf hash of the empty entry, as published with the CT vectors.
  EXPECT_EQ(HashToHex(EmptyRoot()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HashToHex(LeafHash("")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  EXPECT_EQ(NodeHash(LeafHash(""), LeafHash(std::string(1, '\0'))),
            H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"));
  // Domain separation: a leaf whose data is two hashes is not the node over them.
  const Hash a = LeafHash("a");
  const Hash b = LeafHash("b");
  std::string concatenated(a.begin(), a.end());
  concatenated.append(b.begin(), b.end());
  EXPECT_NE(LeafHash(concatenated), NodeHash(a, b));
}

TEST(MerkleHashTest, HexAndBytesConversionRejectWrongLengths) {
  EXPECT_THAT(HashFromHex("abc").status().message(), HasSubstr("64 hex digits, got 3"));
  EXPECT_THAT(HashFromHex(std::string(64, 'g')).status().message(), HasSubstr("0-9 and a-f"));
  EXPECT_THAT(HashFromBytes("short").status().message(), HasSubstr("32 bytes, got 5"));
  const Hash h = LeafHash("x");
  EXPECT_EQ(*HashFromHex(HashToHex(h)), h);
}

// ---------------------------------------------------------------------------------------------
// The published vectors

class Rfc6962VectorsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::ifstream in(SAFEGUARD_RFC6962_VECTORS);
    ASSERT_TRUE(in) << "cannot open " << SAFEGUARD_RFC6962_VECTORS
                    << " (a copy of shared/testdata/rfc6962-vectors.json)";
    std::stringstream text;
    text << in.rdbuf();
    vectors_ = new google::protobuf::Struct;
    const auto status = google::protobuf::util::JsonStringToMessage(text.str(), vectors_);
    ASSERT_TRUE(status.ok()) << status.ToString();
  }
  static void TearDownTestSuite() {
    delete vectors_;
    vectors_ = nullptr;
  }

  void SetUp() override { ASSERT_NE(vectors_, nullptr); }

  static const google::protobuf::ListValue& List(absl::string_view key) {
    return vectors_->fields().at(std::string(key)).list_value();
  }
  static const google::protobuf::Struct& Entry(absl::string_view list, int i) {
    return List(list).values(i).struct_value();
  }
  static uint64_t Number(const google::protobuf::Struct& s, absl::string_view key) {
    return static_cast<uint64_t>(s.fields().at(std::string(key)).number_value());
  }
  static Hash HashField(const google::protobuf::Struct& s, absl::string_view key) {
    return H(s.fields().at(std::string(key)).string_value());
  }
  static std::vector<Hash> Proof(const google::protobuf::Struct& s) {
    std::vector<Hash> proof;
    for (const auto& v : s.fields().at("proof").list_value().values()) {
      proof.push_back(H(v.string_value()));
    }
    return proof;
  }
  static std::vector<Hash> LeafHashes() {
    std::vector<Hash> leaves;
    for (const auto& v : List("leaf_inputs_hex").values()) {
      leaves.push_back(LeafHash(absl::HexStringToBytes(v.string_value())));
    }
    return leaves;
  }

  static google::protobuf::Struct* vectors_;
};
google::protobuf::Struct* Rfc6962VectorsTest::vectors_ = nullptr;

TEST_F(Rfc6962VectorsTest, RootsOfEverySizeMatch) {
  const std::vector<Hash> leaves = LeafHashes();
  ASSERT_EQ(leaves.size(), 8u);
  const auto& roots = List("roots_by_size");
  ASSERT_EQ(roots.values_size(), 9);

  InMemoryTree tree;
  TreeState state;
  for (int size = 0; size <= 8; ++size) {
    const Hash want = H(roots.values(size).string_value());
    EXPECT_EQ(state.Root(), want) << "size " << size;
    EXPECT_EQ(tree.Root(), want) << "size " << size;
    EXPECT_EQ(RefMth(leaves, 0, size), want) << "size " << size;
    if (size < 8) {
      ASSERT_TRUE(state.Append(leaves[size]).ok());
      ASSERT_TRUE(tree.AppendLeaf(leaves[size]).ok());
    }
  }
  // Past roots come back from the stored nodes of the full tree.
  for (int size = 0; size <= 8; ++size) {
    EXPECT_EQ(*RootAtSize(size, tree), H(roots.values(size).string_value())) << "size " << size;
  }
}

TEST_F(Rfc6962VectorsTest, EveryInclusionProofVerifiesAndIsWhatWeGenerate) {
  const std::vector<Hash> leaves = LeafHashes();
  InMemoryTree tree = TreeOf(leaves);
  const int count = List("inclusion").values_size();
  ASSERT_EQ(count, 36);  // every leaf of every size 1..8
  for (int i = 0; i < count; ++i) {
    const auto& e = Entry("inclusion", i);
    const uint64_t index = Number(e, "leaf_index");
    const uint64_t size = Number(e, "tree_size");
    SCOPED_TRACE(absl::StrCat("leaf ", index, " of ", size));
    const Hash leaf = HashField(e, "leaf_hash");
    const Hash root = HashField(e, "root");
    const std::vector<Hash> proof = Proof(e);
    EXPECT_EQ(leaf, leaves[index]);
    EXPECT_EQ(proof.size(), InclusionProofSize(index, size));
    EXPECT_TRUE(VerifyInclusion(leaf, index, size, proof, root).ok());
    absl::StatusOr<Hash> computed = RootFromInclusionProof(leaf, index, size, proof);
    ASSERT_TRUE(computed.ok()) << computed.status();
    EXPECT_EQ(*computed, root);
    absl::StatusOr<std::vector<Hash>> generated = InclusionProof(index, size, tree);
    ASSERT_TRUE(generated.ok()) << generated.status();
    EXPECT_EQ(*generated, proof);
  }
}

TEST_F(Rfc6962VectorsTest, EveryConsistencyProofVerifiesAndIsWhatWeGenerate) {
  InMemoryTree tree = TreeOf(LeafHashes());
  const int count = List("consistency").values_size();
  ASSERT_EQ(count, 36);  // every pair 1 <= size1 <= size2 <= 8
  for (int i = 0; i < count; ++i) {
    const auto& e = Entry("consistency", i);
    const uint64_t size1 = Number(e, "size1");
    const uint64_t size2 = Number(e, "size2");
    SCOPED_TRACE(absl::StrCat("from ", size1, " to ", size2));
    const Hash root1 = HashField(e, "root1");
    const Hash root2 = HashField(e, "root2");
    const std::vector<Hash> proof = Proof(e);
    EXPECT_EQ(proof.size(), ConsistencyProofSize(size1, size2));
    EXPECT_TRUE(VerifyConsistency(size1, size2, proof, root1, root2).ok());
    absl::StatusOr<std::vector<Hash>> generated = ConsistencyProof(size1, size2, tree);
    ASSERT_TRUE(generated.ok()) << generated.status();
    EXPECT_EQ(*generated, proof);
  }
}

TEST_F(Rfc6962VectorsTest, C2spSevenLeafExamplesHaveTheDocumentedShape) {
  // C2SP merkle-tree.md: in the 7-leaf tree the inclusion proof of d3 is [c, h, l] and the
  // consistency proof from 3 to 7 is [c, d, h, l] (c, d leaves; h = MTH(d0,d1); l = MTH(d4..d6)).
  const std::vector<Hash> d = LeafHashes();
  const Hash c = d[2], dd = d[3];
  const Hash h = NodeHash(d[0], d[1]);
  const Hash l = NodeHash(NodeHash(d[4], d[5]), d[6]);
  InMemoryTree tree = TreeOf(d);
  EXPECT_EQ(*InclusionProof(3, 7, tree), (std::vector<Hash>{c, h, l}));
  EXPECT_EQ(*ConsistencyProof(3, 7, tree), (std::vector<Hash>{c, dd, h, l}));
}

// ---------------------------------------------------------------------------------------------
// Frontier: appending, resuming, storing

TEST(TreeStateTest, AppendReturnsEveryCompletedSubtree) {
  const std::vector<Hash> leaves = RandomLeaves(8, 1);
  TreeState state;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(state.Append(leaves[i]).ok());
  // Leaf 3 completes [2,4) and [0,4).
  absl::StatusOr<std::vector<MerkleNode>> created = state.Append(leaves[3]);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(*created,
            (std::vector<MerkleNode>{
                {0, 3, leaves[3]}, {1, 1, RefMth(leaves, 2, 4)}, {2, 0, RefMth(leaves, 0, 4)}}));
  // Leaf 4 completes nothing but itself.
  created = state.Append(leaves[4]);
  EXPECT_EQ(*created, (std::vector<MerkleNode>{{0, 4, leaves[4]}}));
  EXPECT_EQ(state.frontier(), (std::vector<Hash>{RefMth(leaves, 0, 4), leaves[4]}));
}

TEST(TreeStateTest, ResumedFromBytesGivesTheSameRootsAsAFullRebuild) {
  std::mt19937_64 rng(20240601);
  for (int round = 0; round < 40; ++round) {
    const uint64_t total = 1 + rng() % 1000;
    const uint64_t resume_at = rng() % (total + 1);
    SCOPED_TRACE(absl::StrCat("total ", total, ", resumed at ", resume_at));
    const std::vector<Hash> leaves = RandomLeaves(total, rng());

    TreeState first;
    for (uint64_t i = 0; i < resume_at; ++i) ASSERT_TRUE(first.Append(leaves[i]).ok());
    const std::string bytes = first.Serialize();
    EXPECT_EQ(bytes.size(), 9 + 32 * static_cast<size_t>(std::popcount(resume_at)));

    absl::StatusOr<TreeState> resumed = TreeState::Parse(bytes);
    ASSERT_TRUE(resumed.ok()) << resumed.status();
    EXPECT_EQ(resumed->size(), resume_at);
    EXPECT_EQ(resumed->Root(), RefMth(leaves, 0, resume_at));
    for (uint64_t i = resume_at; i < total; ++i) {
      ASSERT_TRUE(resumed->Append(leaves[i]).ok());
      // Checking every size against the naive definition is quadratic; sample it.
      if (i % 97 == 0 || i + 1 == total) {
        EXPECT_EQ(resumed->Root(), RefMth(leaves, 0, i + 1)) << "size " << i + 1;
      }
    }
    InMemoryTree rebuilt = TreeOf(leaves);
    EXPECT_EQ(resumed->Root(), rebuilt.Root());
    EXPECT_EQ(resumed->frontier(), rebuilt.state().frontier());

    // The frontier can also be recovered from the stored nodes alone.
    absl::StatusOr<TreeState> from_nodes = TreeState::FromNodes(resume_at, rebuilt);
    ASSERT_TRUE(from_nodes.ok()) << from_nodes.status();
    EXPECT_EQ(from_nodes->frontier(), first.frontier());
  }
}

TEST(TreeStateTest, RejectsMalformedSerialisations) {
  TreeState state;
  for (const Hash& leaf : RandomLeaves(5, 2)) ASSERT_TRUE(state.Append(leaf).ok());
  const std::string good = state.Serialize();
  ASSERT_TRUE(TreeState::Parse(good).ok());

  EXPECT_THAT(TreeState::Parse("").status().message(), HasSubstr("at least 9"));
  std::string wrong_version = good;
  wrong_version[0] = 2;
  EXPECT_THAT(TreeState::Parse(wrong_version).status().message(), HasSubstr("version 2"));
  EXPECT_THAT(TreeState::Parse(good.substr(0, good.size() - 1)).status().message(),
              HasSubstr("must carry 64 bytes"));
  EXPECT_FALSE(TreeState::Parse(good + "x").ok());
  // Size 7 needs three frontier hashes, not two.
  std::string wrong_size = good;
  wrong_size[8] = 7;
  EXPECT_EQ(TreeState::Parse(wrong_size).status().code(), absl::StatusCode::kInvalidArgument);
  // A size of 2^64 - 1 needs 64 hashes: a 9-byte header must not be taken at its word.
  EXPECT_FALSE(TreeState::Parse(std::string("\x01") + std::string(8, '\xff')).ok());

  EXPECT_THAT(TreeState::FromFrontier(3, {Hash{}}).status().message(),
              HasSubstr("frontier of 2 hashes"));
}

TEST(TreeStateTest, AFullTreeRefusesAnotherLeaf) {
  absl::StatusOr<TreeState> full = TreeState::FromFrontier(UINT64_MAX, std::vector<Hash>(64));
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->Append(Hash{}).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(full->size(), UINT64_MAX);
}

// ---------------------------------------------------------------------------------------------
// Proof generation from stored nodes

TEST(ProofGenerationTest, AllProofsOfSmallTreesMatchTheRfcDefinitions) {
  const std::vector<Hash> leaves = RandomLeaves(70, 3);
  InMemoryTree tree = TreeOf(leaves);
  for (uint64_t n = 1; n <= leaves.size(); ++n) {
    const Hash root = RefMth(leaves, 0, n);
    for (uint64_t m = 0; m < n; ++m) {
      SCOPED_TRACE(absl::StrCat("leaf ", m, " of ", n));
      absl::StatusOr<std::vector<Hash>> proof = InclusionProof(m, n, tree);
      ASSERT_TRUE(proof.ok()) << proof.status();
      EXPECT_EQ(*proof, RefPath(leaves, m, 0, n));
      EXPECT_TRUE(VerifyInclusion(leaves[m], m, n, *proof, root).ok());
    }
    for (uint64_t m = 1; m <= n; ++m) {
      SCOPED_TRACE(absl::StrCat("consistency ", m, " to ", n));
      absl::StatusOr<std::vector<Hash>> proof = ConsistencyProof(m, n, tree);
      ASSERT_TRUE(proof.ok()) << proof.status();
      EXPECT_EQ(*proof, m == n ? std::vector<Hash>{} : RefSubproof(leaves, m, 0, n, true));
      EXPECT_TRUE(VerifyConsistency(m, n, *proof, RefMth(leaves, 0, m), root).ok());
    }
  }
}

TEST(ProofGenerationTest, RandomProofsInLargerTreesReadLogarithmicallyManyNodes) {
  std::mt19937_64 rng(7);
  const std::vector<Hash> leaves = RandomLeaves(1000, 4);
  InMemoryTree tree = TreeOf(leaves);
  for (int round = 0; round < 200; ++round) {
    const uint64_t n = 1 + rng() % leaves.size();
    const uint64_t m = rng() % n;
    const uint64_t old_size = 1 + rng() % n;
    SCOPED_TRACE(absl::StrCat("leaf ", m, ", sizes ", old_size, " and ", n));
    // A proof for a size the log had in the past must come out right from today's nodes.
    const uint64_t max_reads = 2 * std::bit_width(n);
    uint64_t before = tree.node_reads();
    absl::StatusOr<std::vector<Hash>> inclusion = InclusionProof(m, n, tree);
    ASSERT_TRUE(inclusion.ok()) << inclusion.status();
    EXPECT_LE(tree.node_reads() - before, max_reads);
    EXPECT_EQ(*inclusion, RefPath(leaves, m, 0, n));

    before = tree.node_reads();
    absl::StatusOr<std::vector<Hash>> consistency = ConsistencyProof(old_size, n, tree);
    ASSERT_TRUE(consistency.ok()) << consistency.status();
    EXPECT_LE(tree.node_reads() - before, max_reads);
    EXPECT_TRUE(VerifyConsistency(old_size, n, *consistency, *RootAtSize(old_size, tree),
                                  RefMth(leaves, 0, n))
                    .ok());
  }
}

TEST(ProofGenerationTest, RejectsImpossibleRequestsAndReportsMissingNodes) {
  InMemoryTree tree = TreeOf(RandomLeaves(5, 5));
  EXPECT_THAT(InclusionProof(5, 5, tree).status().message(),
              HasSubstr("leaf 5 in a tree of 5 leaves"));
  EXPECT_EQ(InclusionProof(0, 0, tree).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ConsistencyProof(4, 3, tree).status().message(), HasSubstr("smaller size 3"));
  EXPECT_TRUE(ConsistencyProof(0, 5, tree)->empty());
  EXPECT_TRUE(ConsistencyProof(5, 5, tree)->empty());
  // The store holds 5 leaves; a proof in a tree of 9 needs nodes it does not have.
  absl::Status missing = InclusionProof(0, 9, tree).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.message(), HasSubstr("cannot read Merkle node"));
}

// ---------------------------------------------------------------------------------------------
// Tampering and malformed proofs

class TamperTest : public ::testing::Test {
 protected:
  TamperTest() : leaves_(RandomLeaves(300, 6)), tree_(TreeOf(leaves_)) {
    for (uint64_t n = 0; n <= leaves_.size(); ++n) roots_.push_back(RefMth(leaves_, 0, n));
  }

  Hash Root(uint64_t n) { return roots_.at(n); }

  std::vector<Hash> leaves_;
  InMemoryTree tree_;
  std::vector<Hash> roots_;
};

TEST_F(TamperTest, AnyFlippedBitInAnInclusionProofFails) {
  for (const auto& [m, n] : std::vector<std::pair<uint64_t, uint64_t>>{
           {0, 300}, {123, 300}, {299, 300}, {255, 256}, {6, 7}}) {
    const std::vector<Hash> proof = *InclusionProof(m, n, tree_);
    ASSERT_TRUE(VerifyInclusion(leaves_[m], m, n, proof, Root(n)).ok());
    for (size_t i = 0; i < proof.size(); ++i) {
      for (int bit = 0; bit < 256; bit += 37) {
        std::vector<Hash> bad = proof;
        bad[i][bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
        const absl::Status s = VerifyInclusion(leaves_[m], m, n, bad, Root(n));
        EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated)
            << "hash " << i << " bit " << bit << " of leaf " << m << " in " << n;
      }
    }
    Hash other_leaf = leaves_[m];
    other_leaf[31] ^= 1;
    EXPECT_FALSE(VerifyInclusion(other_leaf, m, n, proof, Root(n)).ok());
    Hash other_root = Root(n);
    other_root[0] ^= 0x80;
    EXPECT_FALSE(VerifyInclusion(leaves_[m], m, n, proof, other_root).ok());
  }
}

TEST_F(TamperTest, TheProofOfOneIndexProvesNoOtherIndex) {
  const uint64_t n = 300;
  for (uint64_t m : {0u, 1u, 150u, 255u, 256u, 299u}) {
    const std::vector<Hash> proof = *InclusionProof(m, n, tree_);
    for (uint64_t other = 0; other < n; ++other) {
      if (other == m) continue;
      // The claim "leaves_[m] sits at `other`", and the honest leaf at `other` with m's proof.
      EXPECT_FALSE(VerifyInclusion(leaves_[m], other, n, proof, Root(n)).ok())
          << m << "->" << other;
      EXPECT_FALSE(VerifyInclusion(leaves_[other], other, n, proof, Root(n)).ok())
          << m << "->" << other;
    }
  }
}

TEST_F(TamperTest, AProofAgainstAnotherSizeFailsAgainstThatSizesRoot) {
  // The realistic attack: the proof of one tree size presented with the signed checkpoint of
  // another. The root of the claimed size never matches.
  for (uint64_t n : {7u, 8u, 100u, 256u, 300u}) {
    for (uint64_t m : {0u, 3u, 6u}) {
      const std::vector<Hash> proof = *InclusionProof(m, n, tree_);
      for (uint64_t other = m + 1; other <= leaves_.size(); ++other) {
        if (other == n) continue;
        EXPECT_FALSE(VerifyInclusion(leaves_[m], m, other, proof, Root(other)).ok())
            << "leaf " << m << " proof for " << n << " checked as size " << other;
      }
    }
  }
}

TEST_F(TamperTest, TheInclusionProofAloneDoesNotBindTheTreeSize) {
  // RFC 6962 property, pinned so nobody relies on the opposite: leaf 0's path has the same shape
  // (three right siblings) in trees of 5 to 8 leaves, so the proof for size 8 also "verifies" as
  // size 7 against the size-8 root. The signed checkpoint is what binds a size to a root.
  const std::vector<Hash> proof = *InclusionProof(0, 8, tree_);
  EXPECT_TRUE(VerifyInclusion(leaves_[0], 0, 7, proof, Root(8)).ok());
  EXPECT_FALSE(VerifyInclusion(leaves_[0], 0, 7, proof, Root(7)).ok());
}

TEST_F(TamperTest, AnyFlippedBitOrWrongSizeInAConsistencyProofFails) {
  for (const auto& [m, n] : std::vector<std::pair<uint64_t, uint64_t>>{
           {1, 300}, {3, 7}, {4, 8}, {100, 300}, {256, 300}, {299, 300}}) {
    const std::vector<Hash> proof = *ConsistencyProof(m, n, tree_);
    ASSERT_TRUE(VerifyConsistency(m, n, proof, Root(m), Root(n)).ok());
    for (size_t i = 0; i < proof.size(); ++i) {
      for (int bit = 0; bit < 256; bit += 41) {
        std::vector<Hash> bad = proof;
        bad[i][bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
        EXPECT_EQ(VerifyConsistency(m, n, bad, Root(m), Root(n)).code(),
                  absl::StatusCode::kUnauthenticated)
            << "hash " << i << " bit " << bit << " from " << m << " to " << n;
      }
    }
    // Other sizes, with the roots those sizes really have.
    for (uint64_t other = 1; other <= leaves_.size(); ++other) {
      if (other != m && other < n) {
        EXPECT_FALSE(VerifyConsistency(other, n, proof, Root(other), Root(n)).ok())
            << m << "->" << n << " as " << other << "->" << n;
      }
      if (other != n && other > m) {
        EXPECT_FALSE(VerifyConsistency(m, other, proof, Root(m), Root(other)).ok())
            << m << "->" << n << " as " << m << "->" << other;
      }
    }
    // A forked log: a different old root at the same size.
    Hash forked = Root(m);
    forked[5] ^= 4;
    EXPECT_EQ(VerifyConsistency(m, n, proof, forked, Root(n)).code(),
              absl::StatusCode::kUnauthenticated);
    EXPECT_FALSE(VerifyConsistency(m, n, proof, Root(n), Root(m)).ok());
  }
}

TEST(MalformedProofTest, WrongLengthsAndImpossibleIndicesAreInvalidArguments) {
  const std::vector<Hash> leaves = RandomLeaves(10, 8);
  InMemoryTree tree = TreeOf(leaves);
  const Hash root = tree.Root();
  std::vector<Hash> proof = *InclusionProof(3, 10, tree);

  std::vector<Hash> longer = proof;
  longer.push_back(Hash{});
  EXPECT_THAT(VerifyInclusion(leaves[3], 3, 10, longer, root).message(),
              HasSubstr("has 5 hashes; leaf 3 of a tree of 10 leaves needs exactly 4"));
  EXPECT_EQ(VerifyInclusion(leaves[3], 3, 10, absl::MakeConstSpan(proof).subspan(1), root).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(VerifyInclusion(leaves[3], 10, 10, proof, root).message(),
              HasSubstr("outside a tree of 10 leaves"));
  EXPECT_EQ(VerifyInclusion(leaves[3], 0, 0, {}, EmptyRoot()).code(),
            absl::StatusCode::kInvalidArgument);

  std::vector<Hash> cons = *ConsistencyProof(3, 10, tree);
  EXPECT_THAT(VerifyConsistency(10, 3, cons, root, root).message(), HasSubstr("a log only grows"));
  EXPECT_THAT(VerifyConsistency(3, 10, {}, *RootAtSize(3, tree), root).message(),
              HasSubstr("has 0 hashes"));
  EXPECT_THAT(VerifyConsistency(10, 10, cons, root, root).message(), HasSubstr("must be empty"));
  EXPECT_THAT(VerifyConsistency(0, 10, cons, EmptyRoot(), root).message(),
              HasSubstr("must be empty"));
  EXPECT_TRUE(VerifyConsistency(0, 10, {}, EmptyRoot(), root).ok());
  EXPECT_EQ(VerifyConsistency(0, 10, {}, root, root).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(VerifyConsistency(10, 10, {}, root, root).ok());
  EXPECT_TRUE(VerifyConsistency(0, 0, {}, EmptyRoot(), EmptyRoot()).ok());
  EXPECT_EQ(VerifyConsistency(0, 0, {}, root, root).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(VerifyConsistency(10, 10, {}, root, EmptyRoot()).message(),
              HasSubstr("the log forked"));
}

TEST(MalformedProofTest, HugeSizesAreHandledWithoutOverflow) {
  // 2^64 - 1 leaves: leaf 0 sits 64 levels deep (63 inside the left 2^63 subtree, plus the rest
  // of the tree), the last leaf 63 (it is a subtree of one on the far right). Garbage of the
  // right length is well-formed and simply wrong.
  const std::vector<Hash> garbage(64, LeafHash("g"));
  EXPECT_EQ(InclusionProofSize(0, UINT64_MAX), 64u);
  EXPECT_EQ(InclusionProofSize(UINT64_MAX - 1, UINT64_MAX), 63u);
  EXPECT_EQ(VerifyInclusion(LeafHash("x"), 0, UINT64_MAX, garbage, EmptyRoot()).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(VerifyInclusion(LeafHash("x"), UINT64_MAX - 1, UINT64_MAX, garbage, EmptyRoot()).code(),
            absl::StatusCode::kInvalidArgument);
  const size_t cons = ConsistencyProofSize(UINT64_MAX - 1, UINT64_MAX);
  EXPECT_GT(cons, 0u);
  EXPECT_LE(cons, 65u);
  const std::vector<Hash> cons_garbage(cons, LeafHash("g"));
  EXPECT_EQ(
      VerifyConsistency(UINT64_MAX - 1, UINT64_MAX, cons_garbage, EmptyRoot(), EmptyRoot()).code(),
      absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(
      VerifyConsistency(1, UINT64_MAX, std::vector<Hash>(200), EmptyRoot(), EmptyRoot()).code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace safeguard::audit
