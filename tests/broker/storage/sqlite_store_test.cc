#include "broker/storage/sqlite_store.h"

#include "broker/storage/sqlite_audit_reader.h"
#include "clients/protocol/audit/merkle.h"

#include <sqlite3.h>

#include <filesystem>
#include <atomic>
#include <future>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace safeguard::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class FakeClock final : public Clock {
 public:
  absl::Time Now() const override { return now_; }
  void Advance(absl::Duration d) { now_ += d; }

 private:
  absl::Time now_ = absl::FromCivil(absl::CivilSecond(2026, 11, 23, 9, 0, 0), absl::UTCTimeZone());
};

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/store-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Open(int64_t max_page_count = 0) {
    store_.reset();
    auto s = SqliteStore::Open(
        {.data_directory = dir_, .max_page_count = max_page_count, .clock = &clock_});
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }

  AcceptRequest Request(std::string key, std::vector<std::string> to = {"fd-swindon"},
                        std::string id = "") {
    static std::atomic<int> counter = 0;
    AcceptRequest r;
    r.notification_id = id.empty() ? absl::StrCat("id-", ++counter) : id;
    r.sender = "gp-riverside";
    r.idempotency_key = key;
    r.content_digest = "digest-of-" + key;
    r.type = safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT;
    safeguard::v1::SignedEnvelope envelope;
    envelope.set_payload("payload of " + key);
    r.envelope = envelope.SerializeAsString();
    r.envelope_digest = "envelope-digest-of-" + key;
    safeguard::v1::AuditEntry submitted;
    submitted.set_event(safeguard::v1::AUDIT_EVENT_SUBMITTED);
    submitted.set_actor(r.sender);
    r.audit_entries.push_back(submitted);
    for (auto& node : to) r.deliveries.push_back({std::move(node), 0x7e});
    return r;
  }

  absl::StatusOr<Accepted> AcceptSync(AcceptRequest r) {
    std::promise<absl::StatusOr<Accepted>> p;
    store_->Accept(std::move(r), [&](absl::StatusOr<Accepted> a) { p.set_value(std::move(a)); });
    return p.get_future().get();
  }
  absl::StatusOr<Acknowledged> AckSync(std::string mailbox, uint64_t cursor, std::string by) {
    std::promise<absl::StatusOr<Acknowledged>> p;
    safeguard::v1::AuditEntry audit;
    audit.set_event(safeguard::v1::AUDIT_EVENT_ACKNOWLEDGED);
    audit.set_actor(mailbox);
    store_->Acknowledge(mailbox, cursor, by, std::move(audit),
                        [&](absl::StatusOr<Acknowledged> a) { p.set_value(std::move(a)); });
    return p.get_future().get();
  }

  // SQL on the store's database behind the store's back, as an intruder or an old broker would.
  void ExecBehindTheStore(const char* sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ + "/broker.db").c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }
  // The first row of a query's integer columns.
  std::vector<int64_t> QueryBehindTheStore(const char* sql) {
    sqlite3* db = nullptr;
    std::vector<int64_t> row;
    if (sqlite3_open((dir_ + "/broker.db").c_str(), &db) != SQLITE_OK) return row;
    sqlite3_stmt* q = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &q, nullptr) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW) {
      for (int i = 0; i < sqlite3_column_count(q); ++i) row.push_back(sqlite3_column_int64(q, i));
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return row;
  }

  std::string dir_;
  FakeClock clock_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteStoreTest, AcceptedNotificationIsInEachRecipientsMailbox) {
  Open();
  auto a = AcceptSync(Request("k1", {"fd-swindon", "csc-team-north"}));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->sequence, 1u);
  EXPECT_EQ(a->accepted_at, clock_.Now());
  EXPECT_FALSE(a->duplicate);
  for (const char* mailbox : {"fd-swindon", "csc-team-north"}) {
    auto inbox = store_->ReadMailbox(mailbox, 0, false, 10);
    ASSERT_TRUE(inbox.ok());
    ASSERT_EQ(inbox->size(), 1u);
    EXPECT_EQ((*inbox)[0].notification_id, a->notification_id);
    EXPECT_EQ((*inbox)[0].envelope.payload(), "payload of k1");
  }
  EXPECT_TRUE(store_->ReadMailbox("school-oakfield", 0, false, 10)->empty());
}

TEST_F(SqliteStoreTest, RetryReturnsOriginalAndConflictingContentIsRefused) {
  Open();
  auto first = AcceptSync(Request("k1", {"fd-swindon"}, "first-id"));
  clock_.Advance(absl::Minutes(5));
  auto retry = AcceptSync(Request("k1", {"fd-swindon"}, "second-id"));
  ASSERT_TRUE(first.ok() && retry.ok());
  EXPECT_EQ(retry->notification_id, "first-id");
  EXPECT_EQ(retry->accepted_at, first->accepted_at);
  EXPECT_EQ(retry->envelope_digest, "envelope-digest-of-k1");
  EXPECT_TRUE(retry->duplicate);
  EXPECT_THAT(retry->recipients, ElementsAre("fd-swindon"));
  EXPECT_EQ(store_->ReadMailbox("fd-swindon", 0, false, 10)->size(), 1u);

  auto changed = Request("k1");
  changed.content_digest = "other";
  auto conflict = AcceptSync(changed);
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(conflict.status().message(), HasSubstr("first-id"));
}

TEST_F(SqliteStoreTest, RetriesRacingInOneBatchStillMakeOneNotification) {
  Open();
  std::vector<std::promise<absl::StatusOr<Accepted>>> results(20);
  for (int i = 0; i < 20; ++i) {
    store_->Accept(Request("same-key"),
                   [&, i](absl::StatusOr<Accepted> a) { results[i].set_value(std::move(a)); });
  }
  std::set<std::string> ids;
  for (auto& r : results) {
    auto a = r.get_future().get();
    ASSERT_TRUE(a.ok());
    ids.insert(a->notification_id);
  }
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(store_->ReadMailbox("fd-swindon", 0, false, 100)->size(), 1u);
}

TEST_F(SqliteStoreTest, ConcurrentAcceptsShareCommits) {
  Open();
  constexpr int kThreads = 8, kEach = 100;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        ASSERT_TRUE(AcceptSync(Request(absl::StrCat("t", t, "-", i))).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  auto stats = store_->stats();
  EXPECT_EQ(stats.operations, static_cast<uint64_t>(kThreads * kEach));
  EXPECT_LT(stats.commits, stats.operations) << "every accept paid its own fsync";
  EXPECT_EQ(store_->ReadMailbox("fd-swindon", 0, false, 10000)->size(),
            static_cast<size_t>(kThreads * kEach));
}

TEST_F(SqliteStoreTest, IdCollisionFailsOnlyThatSubmitAndTheStoreCarriesOn) {
  Open();
  ASSERT_TRUE(AcceptSync(Request("k1", {"fd-swindon"}, "same-id")).ok());
  auto collision = AcceptSync(Request("k2", {"fd-swindon"}, "same-id"));
  EXPECT_EQ(collision.status().code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(AcceptSync(Request("k3")).ok());
  EXPECT_EQ(store_->ReadMailbox("fd-swindon", 0, false, 10)->size(), 2u);
}

TEST_F(SqliteStoreTest, AcknowledgeIsIdempotentAndConfinedToTheMailbox) {
  Open();
  ASSERT_TRUE(AcceptSync(Request("k1")).ok());
  auto inbox = store_->ReadMailbox("fd-swindon", 0, false, 10);
  uint64_t cursor = (*inbox)[0].cursor;
  EXPECT_EQ(AckSync("school-oakfield", cursor, "x").status().code(),
            absl::StatusCode::kNotFound);
  auto ack = AckSync("fd-swindon", cursor, "Jo");
  ASSERT_TRUE(ack.ok());
  EXPECT_FALSE(ack->already_acknowledged);
  clock_.Advance(absl::Hours(1));
  auto again = AckSync("fd-swindon", cursor, "Sam");
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->already_acknowledged);
  EXPECT_EQ(again->acknowledged_by, "Jo");
  EXPECT_EQ(again->acknowledged_at, ack->acknowledged_at);
  EXPECT_TRUE(store_->ReadMailbox("fd-swindon", 0, false, 10)->empty());
  EXPECT_EQ(store_->ReadMailbox("fd-swindon", 0, true, 10)->size(), 1u);
}

TEST_F(SqliteStoreTest, StatusShowsEachRecipientsProgress) {
  Open();
  auto a = AcceptSync(Request("k1", {"fd-swindon", "csc-team-north"}));
  auto fd = store_->ReadMailbox("fd-swindon", 0, false, 10);
  store_->MarkDelivered("csc-team-north",
                        (*store_->ReadMailbox("csc-team-north", 0, false, 10))[0].cursor,
                        safeguard::v1::AuditEntry());
  ASSERT_TRUE(AckSync("fd-swindon", (*fd)[0].cursor, "Jo").ok());  // commits after MarkDelivered
  auto status = store_->GetStatus(a->notification_id);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->sender, "gp-riverside");
  ASSERT_EQ(status->recipients.size(), 2u);
  EXPECT_TRUE(status->recipients[0].acknowledged_at.has_value());
  EXPECT_TRUE(status->recipients[1].delivered_at.has_value());
  EXPECT_FALSE(status->recipients[1].acknowledged_at.has_value());
  EXPECT_EQ(store_->GetStatus("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SqliteStoreTest, DataSurvivesReopenAndDirectoryIsExclusive) {
  Open();
  ASSERT_TRUE(AcceptSync(Request("k1")).ok());
  auto second = SqliteStore::Open({.data_directory = dir_});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("in use by another broker"));
  Open();  // closes the first, opens again
  EXPECT_EQ(store_->ReadMailbox("fd-swindon", 0, false, 10)->size(), 1u);
  auto next = AcceptSync(Request("k2"));
  EXPECT_EQ(next->sequence, 2u);
}

TEST_F(SqliteStoreTest, FullDiskRefusesNewWritesAndKeepsWhatWasAccepted) {
  Open(/*max_page_count=*/16);
  std::vector<std::string> accepted;
  absl::Status refusal;
  for (int i = 0; i < 10000; ++i) {
    auto r = Request(absl::StrCat("k", i));
    safeguard::v1::SignedEnvelope big;
    big.set_payload(std::string(2000, 'x'));
    r.envelope = big.SerializeAsString();
    auto a = AcceptSync(std::move(r));
    if (!a.ok()) {
      refusal = a.status();
      break;
    }
    accepted.push_back(a->notification_id);
  }
  EXPECT_EQ(refusal.code(), absl::StatusCode::kResourceExhausted) << refusal;
  EXPECT_THAT(refusal.message(), HasSubstr("disk is full"));
  ASSERT_FALSE(accepted.empty());
  auto inbox = store_->ReadMailbox("fd-swindon", 0, false, 100000);
  ASSERT_TRUE(inbox.ok());
  EXPECT_EQ(inbox->size(), accepted.size());
  // Nothing accepted was damaged, and once there is space again the store carries on.
  Open(/*max_page_count=*/0);
  EXPECT_EQ(store_->ReadMailbox("fd-swindon", 0, false, 100000)->size(), accepted.size());
  EXPECT_TRUE(AcceptSync(Request("after-space-freed")).ok());
}

audit::Hash RootOfEntries(const std::string& dir) {
  auto reader = SqliteAuditReader::Open(dir);
  EXPECT_TRUE(reader.ok());
  auto rows = (*reader)->Entries(0, 1u << 30);
  audit::TreeState tree;
  for (const auto& [index, leaf] : *rows) EXPECT_TRUE(tree.Append(audit::LeafHash(leaf)).ok());
  return tree.Root();
}

TEST_F(SqliteStoreTest, AcceptanceIsInTheAuditLogWithAProofInTheSameCommit) {
  Open();
  auto a = AcceptSync(Request("k1"));
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a->audit.has_value());
  EXPECT_EQ(a->audit->leaf_index(), 0u);
  EXPECT_EQ(a->audit->tree_size(), store_->CommittedTreeHead().size);
  safeguard::v1::AuditEntry entry;
  ASSERT_TRUE(entry.ParseFromString(a->audit->entry()));
  EXPECT_EQ(entry.notification_id(), a->notification_id);
  EXPECT_EQ(entry.event(), safeguard::v1::AUDIT_EVENT_SUBMITTED);
  // Many in one batch: every proof verifies against the committed root.
  std::vector<std::promise<absl::StatusOr<Accepted>>> results(50);
  for (int i = 0; i < 50; ++i) {
    store_->Accept(Request(absl::StrCat("b", i)),
                   [&, i](absl::StatusOr<Accepted> r) { results[i].set_value(std::move(r)); });
  }
  for (auto& r : results) {
    auto got = r.get_future().get();
    ASSERT_TRUE(got.ok() && got->audit.has_value());
    std::vector<audit::Hash> proof;
    for (const auto& p : got->audit->proof()) proof.push_back(*audit::HashFromBytes(p));
    EXPECT_TRUE(audit::VerifyInclusion(audit::LeafHash(got->audit->entry()),
                                       got->audit->leaf_index(), got->audit->tree_size(), proof,
                                       *audit::HashFromBytes(got->audit->root()))
                    .ok());
  }
  // A retry adds nothing to the log.
  uint64_t size = store_->CommittedTreeHead().size;
  EXPECT_TRUE(AcceptSync(Request("k1"))->duplicate);
  EXPECT_EQ(store_->CommittedTreeHead().size, size);
}

TEST_F(SqliteStoreTest, TreeResumesFromItsFrontierAfterReopenAndMatchesTheEntries) {
  Open();
  for (int i = 0; i < 37; ++i) ASSERT_TRUE(AcceptSync(Request(absl::StrCat("k", i))).ok());
  TreeHead before = store_->CommittedTreeHead();
  EXPECT_EQ(before.size, 37u);
  Open();
  TreeHead after = store_->CommittedTreeHead();
  EXPECT_EQ(after.size, before.size);
  EXPECT_EQ(after.root, before.root);
  ASSERT_TRUE(AcceptSync(Request("after-reopen")).ok());
  auto root = RootOfEntries(dir_);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(root.data()), 32),
            store_->CommittedTreeHead().root);
}

TEST_F(SqliteStoreTest, DeliveryIsLoggedOnceEvenWhenTheAcknowledgementOvertakesIt) {
  Open();
  ASSERT_TRUE(AcceptSync(Request("k1")).ok());
  uint64_t cursor = (*store_->ReadMailbox("fd-swindon", 0, false, 10))[0].cursor;
  ASSERT_TRUE(AckSync("fd-swindon", cursor, "Jo").ok());  // before the stream's mark
  safeguard::v1::AuditEntry delivered;
  delivered.set_event(safeguard::v1::AUDIT_EVENT_DELIVERED);
  store_->MarkDelivered("fd-swindon", cursor, delivered);
  ASSERT_TRUE(AcceptSync(Request("k2")).ok());  // a commit after the mark
  auto reader = SqliteAuditReader::Open(dir_);
  ASSERT_TRUE(reader.ok());
  AuditQuery query;
  query.event = safeguard::v1::AUDIT_EVENT_DELIVERED;
  auto found = (*reader)->Search(query);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->size(), 1u);
  query.event = safeguard::v1::AUDIT_EVENT_ACKNOWLEDGED;
  auto acks = (*reader)->Search(query);
  ASSERT_EQ(acks->size(), 1u);
  EXPECT_LT((*found)[0].first, (*acks)[0].first);  // delivered, then acknowledged
}

TEST_F(SqliteStoreTest, RefusedBatchLeavesTheLogAsItWas) {
  Open(/*max_page_count=*/24);
  absl::Status refusal;
  for (int i = 0; i < 10000 && refusal.ok(); ++i) {
    auto r = Request(absl::StrCat("k", i));
    safeguard::v1::SignedEnvelope big;
    big.set_payload(std::string(1500, 'x'));
    r.envelope = big.SerializeAsString();
    refusal = AcceptSync(std::move(r)).status();
  }
  ASSERT_TRUE(absl::IsResourceExhausted(refusal)) << refusal;
  Open(/*max_page_count=*/0);
  ASSERT_TRUE(AcceptSync(Request("after")).ok());
  auto root = RootOfEntries(dir_);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(root.data()), 32),
            store_->CommittedTreeHead().root);
}

// The store keeps one Merkle level in four and recomputes the rest (internal/merkle_nodes.h):
// an auditor must get exactly the proofs a store of every node would give, at every size.
TEST_F(SqliteStoreTest, AuditProofsAtEverySizeAreThoseOfTheWholeTree) {
  Open();
  constexpr int kAccepts = 300;  // > 256 leaves: kept levels 0, 4 and 8, recomputed ones between
  std::vector<std::promise<absl::StatusOr<Accepted>>> results(kAccepts);
  for (int i = 0; i < kAccepts; ++i) {
    store_->Accept(Request(absl::StrCat("p", i)),
                   [&, i](absl::StatusOr<Accepted> r) { results[i].set_value(std::move(r)); });
  }
  for (auto& r : results) ASSERT_TRUE(r.get_future().get().ok());
  auto reader = SqliteAuditReader::Open(dir_);
  ASSERT_TRUE(reader.ok());
  auto rows = (*reader)->Entries(0, 1u << 30);
  ASSERT_TRUE(rows.ok());
  const uint64_t n = rows->size();
  ASSERT_GE(n, 300u);

  audit::InMemoryTree whole;  // every node, as RFC 6962's own vectors check it (merkle_test)
  for (const auto& [index, leaf] : *rows) {
    ASSERT_TRUE(whole.AppendLeaf(audit::LeafHash(leaf)).ok());
    const uint64_t size = whole.size();
    for (uint64_t i : {uint64_t{0}, size / 2, size - 1}) {
      auto from_store = (*reader)->InclusionProof(i, size);
      ASSERT_TRUE(from_store.ok()) << from_store.status();
      EXPECT_EQ(*from_store, *audit::InclusionProof(i, size, whole)) << i << " in " << size;
    }
    for (uint64_t m : {uint64_t{1}, size / 3, size - 1}) {
      auto from_store = (*reader)->ConsistencyProof(m, size);
      ASSERT_TRUE(from_store.ok()) << from_store.status();
      EXPECT_EQ(*from_store, *audit::ConsistencyProof(m, size, whole)) << m << " to " << size;
    }
  }
  EXPECT_EQ(whole.Root(), *audit::HashFromBytes(store_->CommittedTreeHead().root));

  // What is on disk: the leaf hashes, and of the interior levels only 4 and 8.
  EXPECT_THAT(QueryBehindTheStore("SELECT COUNT(*), MIN(level), MAX(level) FROM merkle_nodes"),
              ElementsAre(static_cast<int64_t>(n + n / 16 + n / 256), 0, 8));
  // A kept node that goes missing is named, not papered over.
  ExecBehindTheStore("DELETE FROM merkle_nodes WHERE level = 4 AND idx = 1");
  auto broken = (*reader)->InclusionProof(0, n);
  ASSERT_FALSE(broken.ok());
  EXPECT_TRUE(absl::IsNotFound(broken.status())) << broken.status();
  EXPECT_THAT(broken.status().message(), HasSubstr("Merkle node 4/1 is missing"));
}

TEST_F(SqliteStoreTest, Version7StoreMigratesToVersion8AndItsProofsStillVerify) {
  Open();
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(AcceptSync(Request(absl::StrCat("k", i))).ok());
  store_.reset();
  // Make it a version 7 store, which kept every level. Its level 1 is zeros here: a proof that
  // still read a level no longer kept would not verify.
  ExecBehindTheStore(
      "INSERT INTO merkle_nodes (level, idx, hash) "
      "SELECT 1, idx / 2, zeroblob(32) FROM audit_entries WHERE idx % 2 = 0;"
      "PRAGMA user_version=7;");

  Open();
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(AcceptSync(Request(absl::StrCat("after", i))).ok());
  TreeHead head = store_->CommittedTreeHead();
  EXPECT_EQ(RootOfEntries(dir_), *audit::HashFromBytes(head.root));
  auto reader = SqliteAuditReader::Open(dir_);
  ASSERT_TRUE(reader.ok());
  auto rows = (*reader)->Entries(0, head.size);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), head.size);
  for (const auto& [index, leaf] : *rows) {  // entries from before the migration and after
    auto proof = (*reader)->InclusionProof(index, head.size);
    ASSERT_TRUE(proof.ok()) << proof.status();
    EXPECT_TRUE(audit::VerifyInclusion(audit::LeafHash(leaf), index, head.size, *proof,
                                       *audit::HashFromBytes(head.root))
                    .ok())
        << "entry " << index;
  }
  store_.reset();
  EXPECT_THAT(QueryBehindTheStore("SELECT user_version FROM pragma_user_version"),
              ElementsAre(8));
}

TEST_F(SqliteStoreTest, Version6StoreMigratesToVersion8AndKeepsItsLog) {
  Open();
  ASSERT_TRUE(AcceptSync(Request("k1")).ok());
  store_.reset();
  // Make it a version 6 store: the two audit indexes version 7 no longer has.
  ExecBehindTheStore(
      "CREATE INDEX audit_by_time ON audit_entries (time_us);"
      "CREATE INDEX audit_by_notification ON audit_entries (notification_id);"
      "PRAGMA user_version=6;");
  Open();
  ASSERT_TRUE(AcceptSync(Request("k2")).ok());
  EXPECT_EQ(store_->ReadMailbox("fd-swindon", 0, false, 10)->size(), 2u);
  auto root = RootOfEntries(dir_);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(root.data()), 32),
            store_->CommittedTreeHead().root);
  store_.reset();
  EXPECT_THAT(QueryBehindTheStore("SELECT (SELECT COUNT(*) FROM sqlite_master WHERE name IN "
                                  "('audit_by_time', 'audit_by_notification')), "
                                  "(SELECT user_version FROM pragma_user_version)"),
              ElementsAre(0, 8));
}

TEST(SubjectKeyTest, NationalNumbersIgnoreWhoQuotesThemLocalReferencesDoNot) {
  safeguard::v1::SubjectIdentifier a;
  a.set_scheme(safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER);
  a.set_value("9434765919");
  safeguard::v1::SubjectIdentifier b = a;
  b.set_issuer("gp-riverside");  // the registry keeps NHS numbers without an issuer
  EXPECT_EQ(SubjectKey(a), SubjectKey(b));
  safeguard::v1::SubjectIdentifier police;
  police.set_scheme(safeguard::v1::IDENTIFIER_SCHEME_POLICE_REFERENCE);
  police.set_value("WPC-1");
  police.set_issuer("wiltshire");
  safeguard::v1::SubjectIdentifier other = police;
  other.set_issuer("thames-valley");
  EXPECT_NE(SubjectKey(police), SubjectKey(other));
}

}  // namespace
}  // namespace safeguard::storage
