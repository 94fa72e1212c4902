// The embedded default store: one SQLite database in WAL mode with synchronous=FULL, written by
// a single committer thread that groups concurrent writes into one transaction and one fsync.
#ifndef SAFEGUARD_BROKER_STORAGE_SQLITE_STORE_H_
#define SAFEGUARD_BROKER_STORAGE_SQLITE_STORE_H_

#include <atomic>
#include <deque>
#include <optional>
#include <memory>
#include <string>
#include <thread>
#include <variant>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "broker/common/clock.h"
#include "broker/storage/store.h"

struct sqlite3;

namespace safeguard::storage {
namespace internal {
class AuditAppender;
class StatementCache;
}

struct SqliteStoreOptions {
  std::string data_directory;
  int max_commit_batch = 512;
  // Caps the database's size in pages (0: no cap). A store that reaches it refuses new writes
  // with RESOURCE_EXHAUSTED, exactly as on a full disk; tests use it to simulate one.
  int64_t max_page_count = 0;
  const Clock* clock = &SystemClock::Get();
};

// Thread-safe.
//
// Invariants: only the committer thread writes; a callback runs only after the COMMIT that
// holds its write returned SQLITE_OK; after a failed COMMIT (other than disk full) every later
// write fails UNAVAILABLE — as PostgreSQL learnt, a failed fsync is not retried and trusted.
class SqliteStore final : public Store {
 public:
  // Opens (creating if needed) <data_directory>/broker.db and takes an exclusive lock on the
  // directory, so two brokers can never share one store.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const SqliteStoreOptions& options);

  // Process-wide SQLite settings for a server: no memory-usage statistics (each of SQLite's
  // allocations otherwise takes a global mutex to count itself). Call once, before the first
  // connection of any store in the process; later calls, or calls after a connection was
  // opened, change nothing.
  static void ConfigureProcess();
  ~SqliteStore() override;

  void Accept(AcceptRequest request, AcceptCallback done) override;
  void Acknowledge(std::string mailbox, uint64_t cursor, std::string acknowledged_by,
                   safeguard::v1::AuditEntry audit, AcknowledgeCallback done) override;
  void RecordOutcome(std::string mailbox, uint64_t cursor, OutcomeRecord outcome,
                     safeguard::v1::AuditEntry audit, OutcomeCallback done) override;
  void MarkDelivered(std::string mailbox, uint64_t cursor,
                     safeguard::v1::AuditEntry audit) override;
  void AppendAudit(safeguard::v1::AuditEntry entry) override;
  void SaveCheckpoint(uint64_t size, std::string note) override;
  TreeHead CommittedTreeHead() const override;
  absl::StatusOr<std::vector<StoredDelivery>> ReadMailbox(const std::string& mailbox,
                                                          uint64_t after_cursor,
                                                          bool include_acknowledged,
                                                          int limit) override;
  absl::StatusOr<StoredStatus> GetStatus(const std::string& notification_id) override;
  absl::StatusOr<std::vector<OverdueDelivery>> OverdueDeliveries(absl::Time now,
                                                                 int limit) override;
  absl::StatusOr<std::vector<ChronologyEntry>> ReadChronology(
      const std::vector<std::string>& subject_keys, absl::Time from, absl::Time to,
      uint64_t after_sequence, int limit, TypeFilter envelope_wanted = nullptr,
      Keep keep = Keep::kOldest) override;
  void SetCommitListener(CommitListener listener) override;

  // Counters for benchmarks and logs.
  struct Stats {
    uint64_t commits = 0;
    uint64_t operations = 0;
  };
  Stats stats() const;

 private:
  struct AcceptOp {
    AcceptRequest request;
    AcceptCallback done;
    absl::StatusOr<Accepted> result = absl::UnknownError("not run");
    std::optional<uint64_t> submitted_leaf;  // set when this op appended its SUBMITTED entry
    std::string submitted_entry;
  };
  struct AckOp {
    std::string mailbox;
    uint64_t cursor;
    std::string acknowledged_by;
    safeguard::v1::AuditEntry audit;
    AcknowledgeCallback done;
    absl::StatusOr<Acknowledged> result = absl::UnknownError("not run");
  };
  struct OutcomeOp {
    std::string mailbox;
    uint64_t cursor;
    OutcomeRecord outcome;
    safeguard::v1::AuditEntry audit;
    OutcomeCallback done;
    absl::StatusOr<StoredOutcome> result = absl::UnknownError("not run");
  };
  struct DeliveredOp {
    std::string mailbox;
    uint64_t cursor;
    safeguard::v1::AuditEntry audit;
  };
  struct AuditOp {
    safeguard::v1::AuditEntry entry;
  };
  struct CheckpointOp {
    uint64_t size;
    std::string note;
  };
  using Op = std::variant<AcceptOp, AckOp, OutcomeOp, DeliveredOp, AuditOp, CheckpointOp>;

  SqliteStore(const SqliteStoreOptions& options, sqlite3* writer, sqlite3* reader,
              sqlite3* checkpointer, int lock_fd);
  void Enqueue(Op op);
  void CommitterLoop();
  // Waits up to `delay` until the queue holds an op counted by `count` (awaited_, accepts_), or
  // a full batch, or the store is stopping; returns at once if it already does.
  void AwaitCompanyLocked(int SqliteStore::*count, absl::Duration delay)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Copies the write-ahead log into the database (PASSIVE checkpoints on its own connection)
  // so that the committer never does: its commits only append to the log and fsync it.
  void CheckpointerLoop();
  static int OnWalCommit(void* self, sqlite3* db, const char* name, int frames);
  void CommitBatch(std::deque<Op>& batch);
  // Applies one operation inside the open transaction. A returned error is a storage failure
  // (the whole batch rolls back); per-operation refusals are stored in the op's result.
  absl::Status Apply(AcceptOp& op, absl::Time now, std::vector<std::string>& touched);
  absl::Status Apply(AckOp& op, absl::Time now, std::vector<std::string>& touched);
  absl::Status Apply(OutcomeOp& op, absl::Time now, std::vector<std::string>& touched);
  absl::Status Apply(DeliveredOp& op, absl::Time now, std::vector<std::string>& touched);
  absl::Status Apply(AuditOp& op, absl::Time now, std::vector<std::string>& touched);
  absl::Status Apply(CheckpointOp& op, absl::Time now, std::vector<std::string>& touched);
  // Whether someone waits for the op's commit (a callback), or it may wait for company.
  static bool IsAwaited(const Op& op);
  static void Fail(Op& op, const absl::Status& status);
  static void Complete(Op& op);

  const SqliteStoreOptions options_;
  sqlite3* const writer_;  // confined to the committer thread after construction
  std::unique_ptr<internal::StatementCache> writer_statements_;  // committer thread only
  std::unique_ptr<internal::AuditAppender> audit_;                // committer thread only
  const int lock_fd_;
  sqlite3* const checkpointer_db_;  // confined to the checkpointer thread after construction
  std::atomic<int> wal_frames_{0};     // frames in the log after the last commit
  std::atomic<uint64_t> wal_commits_{0};

  absl::Mutex reader_mu_;
  sqlite3* const reader_ ABSL_GUARDED_BY(reader_mu_);
  std::unique_ptr<internal::StatementCache> reader_statements_ ABSL_GUARDED_BY(reader_mu_);

  mutable absl::Mutex mu_;
  std::deque<Op> queue_ ABSL_GUARDED_BY(mu_);
  int awaited_ ABSL_GUARDED_BY(mu_) = 0;  // ops in queue_ whose caller waits for the commit
  int accepts_ ABSL_GUARDED_BY(mu_) = 0;  // AcceptOps in queue_ (they never wait)
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status failed_ ABSL_GUARDED_BY(mu_);  // non-OK once a commit failed fatally
  Stats stats_ ABSL_GUARDED_BY(mu_);
  TreeHead tree_head_ ABSL_GUARDED_BY(mu_);
  CommitListener listener_;  // set before the first write, then read-only

  std::thread committer_;
  std::thread checkpointer_;
};

}  // namespace safeguard::storage

#endif  // SAFEGUARD_BROKER_STORAGE_SQLITE_STORE_H_
