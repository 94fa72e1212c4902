#include "broker/storage/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "broker/storage/internal/audit_appender.h"
#include "broker/storage/internal/buffered_wal_vfs.h"
#include "broker/storage/internal/sqlite_statement.h"
#include "clients/protocol/status_macros.h"

namespace safeguard::storage {
namespace {

using internal::Statement;
using internal::StatementCache;

constexpr int kSchemaVersion = 8;

// The committer never checkpoints (its wal hook replaces SQLite's auto-checkpoint): a PASSIVE
// checkpoint runs on the checkpointer's own connection at this interval, concurrently with
// commits. If the log still outgrows the cap (commits outpacing checkpoints, so the log never
// restarts), the committer runs a FULL checkpoint between two batches, after which the next
// commit restarts the log from its beginning.
constexpr absl::Duration kCheckpointInterval = absl::Milliseconds(100);
constexpr int kWalFramesCap = 32768;  // 128 MiB of 4 KiB pages
// How long operations nobody waits for may wait for an awaited one to share its commit.
constexpr absl::Duration kUnawaitedDelay = absl::Milliseconds(5);
// How long an acknowledgement or outcome may wait for an acceptance to share its commit: its
// caller waits, but a case system does not notice 2 ms, and at a few hundred notifications a
// second it halves the commits (and fsyncs) per notification. Acceptances never wait.
constexpr absl::Duration kPatientDelay = absl::Milliseconds(2);

// Version 4 → 5: routing facts on deliveries (role, route, addressee), the registry match on
// notifications, and recipients' outcomes for referrers.
constexpr const char* kMigrateFrom4 = R"sql(
ALTER TABLE notifications ADD COLUMN child_match TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN role TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN route TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN addressee TEXT NOT NULL DEFAULT '';
)sql";

// Version 5 → 6: acknowledgement deadlines and escalation ladders on deliveries, and the index
// of notifications by subject for chronologies.
constexpr const char* kMigrateFrom5 = R"sql(
ALTER TABLE deliveries ADD COLUMN due_at_us INTEGER;
ALTER TABLE deliveries ADD COLUMN deadline_class TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN escalation_step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN escalation_of INTEGER NOT NULL DEFAULT 0;
)sql";

// Version 6 → 7: two audit-log indexes no query used (the audit reader filters by time and
// notification only inside scans in index order), each written with every audit entry.
constexpr const char* kMigrateFrom6 = R"sql(
DROP INDEX IF EXISTS audit_by_time;
DROP INDEX IF EXISTS audit_by_notification;
)sql";

// Version 7 → 8, no SQL: the store keeps leaf hashes and one interior Merkle level in four, and
// recomputes the others (internal/merkle_nodes.h). The rows of other levels a version 7 store
// holds are the same hashes and are never read again (deleting them would rewrite the table at
// start-up). The raised version makes an older broker, which reads every level, refuse the store.

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS notifications (
  seq             INTEGER PRIMARY KEY,
  id              TEXT    NOT NULL UNIQUE,
  sender          TEXT    NOT NULL,
  idempotency_key TEXT    NOT NULL,
  content_digest  BLOB    NOT NULL,
  type            INTEGER NOT NULL,
  accepted_at_us  INTEGER NOT NULL,
  envelope_digest BLOB    NOT NULL,
  envelope        BLOB    NOT NULL,
  child_match     TEXT    NOT NULL DEFAULT '',
  UNIQUE (sender, idempotency_key)
);
CREATE TABLE IF NOT EXISTS deliveries (
  cursor             INTEGER PRIMARY KEY,
  mailbox            TEXT    NOT NULL,
  notification_seq   INTEGER NOT NULL REFERENCES notifications (seq),
  disclosed          INTEGER NOT NULL,
  delivered_at_us    INTEGER,
  acknowledged_at_us INTEGER,
  acknowledged_by    TEXT,
  role               TEXT    NOT NULL DEFAULT '',
  route              TEXT    NOT NULL DEFAULT '',
  addressee          TEXT    NOT NULL DEFAULT '',
  due_at_us          INTEGER,
  deadline_class     TEXT    NOT NULL DEFAULT '',
  escalation_step    INTEGER NOT NULL DEFAULT 0,
  escalation_of      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (due_at_us)
  WHERE acknowledged_at_us IS NULL AND due_at_us IS NOT NULL;
CREATE INDEX IF NOT EXISTS deliveries_escalating ON deliveries (escalation_of)
  WHERE escalation_of != 0;
CREATE TABLE IF NOT EXISTS notification_subjects (
  subject_key TEXT    NOT NULL,
  seq         INTEGER NOT NULL,
  PRIMARY KEY (subject_key, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outcomes (
  cursor          INTEGER PRIMARY KEY REFERENCES deliveries (cursor),
  kind            INTEGER NOT NULL,
  rationale       TEXT    NOT NULL,
  recorded_by     TEXT    NOT NULL,
  challenge_route TEXT    NOT NULL,
  recorded_at_us  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_by_mailbox ON deliveries (mailbox, cursor);
CREATE INDEX IF NOT EXISTS deliveries_by_notification ON deliveries (notification_seq);
CREATE TABLE IF NOT EXISTS audit_entries (
  idx               INTEGER PRIMARY KEY,
  leaf              BLOB    NOT NULL,
  time_us           INTEGER NOT NULL,
  event             INTEGER NOT NULL,
  actor             TEXT    NOT NULL,
  counterpart       TEXT    NOT NULL,
  notification_id   TEXT    NOT NULL,
  notification_type INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_child_refs (
  ref BLOB    NOT NULL,
  idx INTEGER NOT NULL,
  PRIMARY KEY (ref, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS merkle_nodes (
  level INTEGER NOT NULL,
  idx   INTEGER NOT NULL,
  hash  BLOB    NOT NULL,
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_state (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  frontier BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
  size    INTEGER PRIMARY KEY,
  note    TEXT    NOT NULL,
  time_us INTEGER NOT NULL
);
)sql";

int64_t ToMicros(absl::Time t) { return absl::ToUnixMicros(t); }
absl::Time FromMicros(int64_t us) { return absl::FromUnixMicros(us); }

absl::Status SqlError(sqlite3* db, int rc, absl::string_view what) {
  std::string message = absl::StrCat(what, ": ", sqlite3_errstr(rc), " (", sqlite3_errmsg(db), ")");
  if (rc == SQLITE_FULL) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the broker's disk is full; nothing was stored (", message, ")"));
  }
  return absl::UnavailableError(absl::StrCat("storage failure: ", message));
}

absl::Status Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string message = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    if (rc == SQLITE_FULL) return SqlError(db, rc, sql);
    return absl::UnavailableError(absl::StrCat("storage failure running '", sql, "': ", message));
  }
  return absl::OkStatus();
}

absl::StatusOr<sqlite3*> OpenConnection(const std::string& path) {
  sqlite3* db = nullptr;
  // The WAL written in few large writes instead of two per page (internal/buffered_wal_vfs.h).
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           internal::BufferedWalVfs());
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat("cannot open store ", path, ": ", message));
  }
  sqlite3_busy_timeout(db, 10000);
  sqlite3_extended_result_codes(db, 0);
  // WAL with synchronous=FULL: every COMMIT fsyncs the write-ahead log before returning.
  absl::Status s = Exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
  if (!s.ok()) {
    sqlite3_close(db);
    return s;
  }
  return db;
}

}  // namespace

void SqliteStore::ConfigureProcess() {
  // SQLITE_MISUSE once SQLite is initialised: then the defaults stay, which is only slower.
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const SqliteStoreOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(options.data_directory, ec);
  if (ec) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot create data directory ", options.data_directory, ": ", ec.message()));
  }
  std::string lock_path = options.data_directory + "/LOCK";
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open ", lock_path, ": ", std::strerror(errno)));
  }
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd);
    return absl::FailedPreconditionError(absl::StrCat(
        "data directory ", options.data_directory,
        " is in use by another broker process; stop it first or use another directory"));
  }
  std::string db_path = options.data_directory + "/broker.db";
  auto writer = OpenConnection(db_path);
  if (!writer.ok()) {
    ::close(lock_fd);
    return writer.status();
  }
  absl::Status schema = absl::OkStatus();
  int64_t found_version = 0;
  {
    StatementCache cache(*writer);
    Statement version(cache, "PRAGMA user_version");
    if (version.Step() == SQLITE_ROW) found_version = version.Int(0);
  }
  if (found_version >= 4 && found_version < kSchemaVersion) {
    schema = Exec(*writer, absl::StrCat("BEGIN IMMEDIATE;", found_version <= 4 ? kMigrateFrom4 : "",
                                        found_version <= 5 ? kMigrateFrom5 : "",
                                        found_version <= 6 ? kMigrateFrom6 : "", kSchema,
                                        "PRAGMA user_version=", kSchemaVersion, "; COMMIT;")
                               .c_str());
    if (!schema.ok()) sqlite3_exec(*writer, "ROLLBACK", nullptr, nullptr, nullptr);
  } else {
    schema = Exec(*writer, kSchema);
  }
  if (schema.ok()) {
    StatementCache cache(*writer);
    Statement version(cache, "PRAGMA user_version");
    if (version.Step() == SQLITE_ROW) {
      int64_t v = version.Int(0);
      if (v == 0) {
        schema = Exec(*writer, absl::StrCat("PRAGMA user_version=", kSchemaVersion).c_str());
      } else if (v != kSchemaVersion) {
        schema = absl::FailedPreconditionError(
            absl::StrCat("store ", db_path, " has schema version ", v, "; this broker reads ",
                         kSchemaVersion));
      }
    }
  }
  if (schema.ok() && options.max_page_count > 0) {
    schema = Exec(*writer,
                  absl::StrCat("PRAGMA max_page_count=", options.max_page_count).c_str());
  }
  if (!schema.ok()) {
    sqlite3_close(*writer);
    ::close(lock_fd);
    return schema;
  }
  auto reader = OpenConnection(db_path);
  if (!reader.ok()) {
    sqlite3_close(*writer);
    ::close(lock_fd);
    return reader.status();
  }
  auto checkpointer = OpenConnection(db_path);
  if (!checkpointer.ok()) {
    sqlite3_close(*reader);
    sqlite3_close(*writer);
    ::close(lock_fd);
    return checkpointer.status();
  }
  return std::unique_ptr<SqliteStore>(
      new SqliteStore(options, *writer, *reader, *checkpointer, lock_fd));
}

SqliteStore::SqliteStore(const SqliteStoreOptions& options, sqlite3* writer, sqlite3* reader,
                         sqlite3* checkpointer, int lock_fd)
    : options_(options),
      writer_(writer),
      writer_statements_(std::make_unique<StatementCache>(writer)),
      lock_fd_(lock_fd),
      checkpointer_db_(checkpointer),
      reader_(reader),
      reader_statements_(std::make_unique<StatementCache>(reader)) {
  auto audit = internal::AuditAppender::Load(*writer_statements_);
  if (audit.ok()) {
    audit_ = std::make_unique<internal::AuditAppender>(*std::move(audit));
    absl::MutexLock lock(&mu_);
    tree_head_ = {audit_->size(), std::string(audit::AsBytes(audit_->root()))};
  } else {
    absl::MutexLock lock(&mu_);
    failed_ = audit.status();  // refuse writes: the audit log cannot be extended safely
  }
  sqlite3_wal_hook(writer_, &SqliteStore::OnWalCommit, this);  // replaces auto-checkpoint
  committer_ = std::thread([this] { CommitterLoop(); });
  checkpointer_ = std::thread([this] { CheckpointerLoop(); });
}

SqliteStore::~SqliteStore() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  committer_.join();
  checkpointer_.join();
  sqlite3_close(checkpointer_db_);
  {
    absl::MutexLock lock(&reader_mu_);
    reader_statements_.reset();
    sqlite3_close(reader_);
  }
  audit_.reset();
  writer_statements_.reset();
  sqlite3_close(writer_);
  ::close(lock_fd_);
}

void SqliteStore::SetCommitListener(CommitListener listener) { listener_ = std::move(listener); }

SqliteStore::Stats SqliteStore::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void SqliteStore::Accept(AcceptRequest request, AcceptCallback done) {
  Enqueue(AcceptOp{std::move(request), std::move(done)});
}

void SqliteStore::Acknowledge(std::string mailbox, uint64_t cursor, std::string acknowledged_by,
                              safeguard::v1::AuditEntry audit, AcknowledgeCallback done) {
  Enqueue(AckOp{std::move(mailbox), cursor, std::move(acknowledged_by), std::move(audit),
                std::move(done)});
}

void SqliteStore::RecordOutcome(std::string mailbox, uint64_t cursor, OutcomeRecord outcome,
                                safeguard::v1::AuditEntry audit, OutcomeCallback done) {
  Enqueue(OutcomeOp{std::move(mailbox), cursor, std::move(outcome), std::move(audit),
                    std::move(done)});
}

void SqliteStore::MarkDelivered(std::string mailbox, uint64_t cursor,
                                safeguard::v1::AuditEntry audit) {
  Enqueue(DeliveredOp{std::move(mailbox), cursor, std::move(audit)});
}

void SqliteStore::AppendAudit(safeguard::v1::AuditEntry entry) {
  Enqueue(AuditOp{std::move(entry)});
}

void SqliteStore::SaveCheckpoint(uint64_t size, std::string note) {
  Enqueue(CheckpointOp{size, std::move(note)});
}

TreeHead SqliteStore::CommittedTreeHead() const {
  absl::MutexLock lock(&mu_);
  return tree_head_;
}

void SqliteStore::Enqueue(Op op) {
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      refused = absl::UnavailableError("the broker is shutting down; retry with the same key");
    } else if (!failed_.ok()) {
      refused = failed_;
    } else {
      if (IsAwaited(op)) ++awaited_;
      if (std::holds_alternative<AcceptOp>(op)) ++accepts_;
      queue_.push_back(std::move(op));
      return;
    }
  }
  Fail(op, refused);
}

bool SqliteStore::IsAwaited(const Op& op) {
  return std::holds_alternative<AcceptOp>(op) || std::holds_alternative<AckOp>(op) ||
         std::holds_alternative<OutcomeOp>(op);
}

void SqliteStore::Fail(Op& op, const absl::Status& status) {
  if (auto* a = std::get_if<AcceptOp>(&op)) {
    std::move(a->done)(status);
  } else if (auto* k = std::get_if<AckOp>(&op)) {
    std::move(k->done)(status);
  } else if (auto* o = std::get_if<OutcomeOp>(&op)) {
    std::move(o->done)(status);
  }
}

void SqliteStore::Complete(Op& op) {
  if (auto* a = std::get_if<AcceptOp>(&op)) {
    std::move(a->done)(std::move(a->result));
  } else if (auto* k = std::get_if<AckOp>(&op)) {
    std::move(k->done)(std::move(k->result));
  } else if (auto* o = std::get_if<OutcomeOp>(&op)) {
    std::move(o->done)(std::move(o->result));
  }
}

void SqliteStore::CommitterLoop() {
  for (;;) {
    std::deque<Op> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](SqliteStore* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
            return s->stopping_ || !s->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping, and everything queued has been committed
      // Only marks nobody waits for ("delivered", refusals, checkpoints): let them ride with the
      // next accept or acknowledgement, or go after a few milliseconds, rather than paying a
      // commit and an fsync of their own.
      if (awaited_ == 0) AwaitCompanyLocked(&SqliteStore::awaited_, kUnawaitedDelay);
      // Acknowledgements and outcomes only: wait a little for an acceptance to ride with.
      if (accepts_ == 0 && awaited_ > 0) {
        AwaitCompanyLocked(&SqliteStore::accepts_, kPatientDelay);
      }
      size_t n = std::min<size_t>(queue_.size(), options_.max_commit_batch);
      for (size_t i = 0; i < n; ++i) {
        if (IsAwaited(queue_.front())) --awaited_;
        if (std::holds_alternative<AcceptOp>(queue_.front())) --accepts_;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    CommitBatch(batch);
    if (wal_frames_.load(std::memory_order_relaxed) > kWalFramesCap) {
      // Between transactions: nothing of ours is in flight. A failure only leaves the log long.
      sqlite3_wal_checkpoint_v2(writer_, nullptr, SQLITE_CHECKPOINT_FULL, nullptr, nullptr);
      wal_frames_.store(0, std::memory_order_relaxed);
    }
  }
}

void SqliteStore::AwaitCompanyLocked(int SqliteStore::*count, absl::Duration delay) {
  struct Waiting {
    SqliteStore* store;
    int SqliteStore::*count;
  } waiting{this, count};
  auto arrived = +[](Waiting* w) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    SqliteStore& s = *w->store;  // mu_ is held: Await evaluates conditions under it
    return s.stopping_ || s.*(w->count) > 0 ||
           s.queue_.size() >= static_cast<size_t>(s.options_.max_commit_batch);
  };
  if (arrived(&waiting)) return;
  mu_.AwaitWithTimeout(absl::Condition(arrived, &waiting), delay);
}

int SqliteStore::OnWalCommit(void* self, sqlite3*, const char*, int frames) {
  auto* store = static_cast<SqliteStore*>(self);
  store->wal_frames_.store(frames, std::memory_order_relaxed);
  store->wal_commits_.fetch_add(1, std::memory_order_relaxed);
  return SQLITE_OK;
}

void SqliteStore::CheckpointerLoop() {
  uint64_t checkpointed_commits = 0;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), kCheckpointInterval);
      if (stopping_) return;  // closing the last connection checkpoints what is left
    }
    uint64_t commits = wal_commits_.load(std::memory_order_relaxed);
    if (commits == checkpointed_commits) continue;
    // PASSIVE: copies what it can without waiting for or blocking the committer or readers.
    int rc = sqlite3_wal_checkpoint_v2(checkpointer_db_, nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                       nullptr, nullptr);
    if (rc == SQLITE_OK) checkpointed_commits = commits;
  }
}

void SqliteStore::CommitBatch(std::deque<Op>& batch) {
  absl::Time now = options_.clock->Now();
  std::vector<std::string> touched;
  absl::Status status = Exec(writer_, "BEGIN IMMEDIATE");
  audit_->BeginBatch();
  for (size_t i = 0; status.ok() && i < batch.size(); ++i) {
    status = std::visit([&](auto& op) { return Apply(op, now, touched); }, batch[i]);
  }
  if (status.ok()) status = audit_->EndBatch();
  if (status.ok()) status = Exec(writer_, "COMMIT");
  if (!status.ok()) {
    // Nothing in this batch is durable. Roll back (ignoring a failure: the transaction may
    // already be gone) and tell every waiter.
    sqlite3_exec(writer_, "ROLLBACK", nullptr, nullptr, nullptr);
    audit_->AbortBatch();
    if (!absl::IsResourceExhausted(status)) {
      absl::MutexLock lock(&mu_);
      failed_ = absl::UnavailableError(absl::StrCat(
          status.message(), "; the broker stopped accepting writes and must be restarted"));
      status = failed_;
    }
    for (Op& op : batch) Fail(op, status);
    return;
  }
  // Each accepted notification's place in the log, proven at the size just committed.
  const std::string root(audit::AsBytes(audit_->root()));
  for (Op& op : batch) {
    auto* accept = std::get_if<AcceptOp>(&op);
    if (accept == nullptr || !accept->submitted_leaf || !accept->result.ok()) continue;
    safeguard::v1::AuditInclusion inclusion;
    inclusion.set_leaf_index(*accept->submitted_leaf);
    inclusion.set_entry(std::move(accept->submitted_entry));
    inclusion.set_tree_size(audit_->size());
    inclusion.set_root(root);
    auto proof = audit_->ProofInBatch(*accept->submitted_leaf);
    if (!proof.ok()) continue;  // the receipt then carries no proof; the entry is still logged
    for (const audit::Hash& h : *proof) {
      inclusion.add_proof(std::string(audit::AsBytes(h)));
    }
    accept->result->audit = std::move(inclusion);
  }
  {
    absl::MutexLock lock(&mu_);
    stats_.commits++;
    stats_.operations += batch.size();
    tree_head_ = {audit_->size(), root};
  }
  for (Op& op : batch) Complete(op);
  if (listener_ && !touched.empty()) {
    std::set<std::string> unique(touched.begin(), touched.end());
    listener_(std::vector<std::string>(unique.begin(), unique.end()));
  }
}

absl::Status SqliteStore::Apply(AcceptOp& op, absl::Time now, std::vector<std::string>& touched) {
  const AcceptRequest& req = op.request;
  // A retry of an earlier submit: answer with what was accepted then.
  {
    Statement find(*writer_statements_,
                   "SELECT id, seq, accepted_at_us, content_digest, envelope_digest "
                   "FROM notifications WHERE sender = ?1 AND idempotency_key = ?2");
    RETURN_IF_ERROR(find.status());
    find.Bind(1, req.sender);
    find.Bind(2, req.idempotency_key);
    int rc = find.Step();
    if (rc == SQLITE_ROW) {
      if (find.Blob(3) != req.content_digest) {
        op.result = absl::AlreadyExistsError(absl::StrCat(
            "idempotency_key '", req.idempotency_key, "' was already used for notification ",
            find.Text(0), " with different content; use a new key for a new notification"));
        return absl::OkStatus();
      }
      Accepted accepted;
      accepted.notification_id = find.Text(0);
      accepted.sequence = static_cast<uint64_t>(find.Int(1));
      accepted.accepted_at = FromMicros(find.Int(2));
      accepted.envelope_digest = find.Blob(4);
      accepted.duplicate = true;
      Statement recipients(*writer_statements_,
                           "SELECT mailbox FROM deliveries WHERE notification_seq = ?1 "
                           "ORDER BY cursor");
      RETURN_IF_ERROR(recipients.status());
      recipients.Bind(1, static_cast<int64_t>(accepted.sequence));
      while ((rc = recipients.Step()) == SQLITE_ROW) {
        accepted.recipients.push_back(recipients.Text(0));
      }
      if (rc != SQLITE_DONE) return SqlError(writer_, rc, "reading recipients");
      op.result = std::move(accepted);
      return absl::OkStatus();
    }
    if (rc != SQLITE_DONE) return SqlError(writer_, rc, "checking idempotency key");
  }
  if (req.escalates) {
    // The step is taken only once, and only while the delivery still waits: checked and taken
    // in this transaction (the committer is the only writer).
    Statement check(*writer_statements_,
                    "SELECT escalation_step, acknowledged_at_us IS NOT NULL FROM deliveries "
                    "WHERE cursor = ?1");
    RETURN_IF_ERROR(check.status());
    check.Bind(1, static_cast<int64_t>(req.escalates->cursor));
    int rc = check.Step();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqlError(writer_, rc, "reading delivery");
    if (rc == SQLITE_DONE || check.Int(0) != req.escalates->step - 1 || check.Int(1) != 0) {
      op.result = absl::FailedPreconditionError(absl::StrCat(
          "delivery ", req.escalates->cursor, " is no longer waiting for escalation step ",
          req.escalates->step));
      return absl::OkStatus();
    }
    Statement step(*writer_statements_,
                   "UPDATE deliveries SET escalation_step = ?1, due_at_us = ?2 WHERE cursor = ?3");
    RETURN_IF_ERROR(step.status());
    step.Bind(1, static_cast<int64_t>(req.escalates->step));
    if (req.escalates->next_due) {
      step.Bind(2, ToMicros(*req.escalates->next_due));
    } else {
      step.BindNull(2);
    }
    step.Bind(3, static_cast<int64_t>(req.escalates->cursor));
    rc = step.Step();
    if (rc != SQLITE_DONE) return SqlError(writer_, rc, "recording an escalation step");
  }
  Statement insert(*writer_statements_,
                   "INSERT INTO notifications (id, sender, idempotency_key, content_digest, "
                   "type, accepted_at_us, envelope_digest, envelope, child_match) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  RETURN_IF_ERROR(insert.status());
  insert.Bind(1, req.notification_id);
  insert.Bind(2, req.sender);
  insert.Bind(3, req.idempotency_key);
  insert.BindBlob(4, req.content_digest);
  insert.Bind(5, static_cast<int64_t>(req.type));
  insert.Bind(6, ToMicros(now));
  insert.BindBlob(7, req.envelope_digest);
  insert.BindBlob(8, req.envelope);
  insert.Bind(9, req.child_match);
  int rc = insert.Step();
  if (rc == SQLITE_CONSTRAINT) {
    // Only the statement is undone (ON CONFLICT ABORT); the batch and the store carry on.
    op.result = absl::AbortedError(absl::StrCat(
        "notification id ", req.notification_id, " is already taken; retry with the same key"));
    return absl::OkStatus();
  }
  if (rc != SQLITE_DONE) return SqlError(writer_, rc, "storing notification");
  int64_t seq = sqlite3_last_insert_rowid(writer_);

  Statement deliver(*writer_statements_,
                    "INSERT INTO deliveries (mailbox, notification_seq, disclosed, role, route, "
                    "addressee, due_at_us, deadline_class, escalation_of) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  RETURN_IF_ERROR(deliver.status());
  for (const auto& delivery : req.deliveries) {
    deliver.Reset();
    deliver.Bind(1, delivery.node_id);
    deliver.Bind(2, seq);
    deliver.Bind(3, static_cast<int64_t>(delivery.disclosed));
    deliver.Bind(4, delivery.role);
    deliver.Bind(5, delivery.route);
    deliver.Bind(6, delivery.addressee);
    if (delivery.due_at) {
      deliver.Bind(7, ToMicros(*delivery.due_at));
    } else {
      deliver.BindNull(7);
    }
    deliver.Bind(8, delivery.deadline_class);
    deliver.Bind(9, static_cast<int64_t>(delivery.escalation_of));
    rc = deliver.Step();
    if (rc != SQLITE_DONE) return SqlError(writer_, rc, "queueing delivery");
    touched.push_back(delivery.node_id);
  }
  if (!req.subject_keys.empty()) {
    Statement index(*writer_statements_,
                    "INSERT OR IGNORE INTO notification_subjects (subject_key, seq) VALUES (?1, ?2)");
    RETURN_IF_ERROR(index.status());
    for (const auto& key : req.subject_keys) {
      index.Reset();
      index.Bind(1, key);
      index.Bind(2, seq);
      rc = index.Step();
      if (rc != SQLITE_DONE) return SqlError(writer_, rc, "indexing the notification's subjects");
    }
  }
  for (size_t i = 0; i < req.audit_entries.size(); ++i) {
    // Moved, not copied: an operation is applied once (a failed batch fails its operations).
    safeguard::v1::AuditEntry entry = std::move(op.request.audit_entries[i]);
    entry.set_notification_id(req.notification_id);
    auto appended = audit_->Append(std::move(entry), now);
    if (!appended.ok()) return appended.status();
    if (i == 0) {
      op.submitted_leaf = appended->first;
      op.submitted_entry = std::move(appended->second);
    }
  }
  Accepted accepted;
  accepted.notification_id = req.notification_id;
  accepted.sequence = static_cast<uint64_t>(seq);
  accepted.accepted_at = now;
  for (const auto& delivery : req.deliveries) accepted.recipients.push_back(delivery.node_id);
  accepted.envelope_digest = req.envelope_digest;
  op.result = std::move(accepted);
  return absl::OkStatus();
}

absl::Status SqliteStore::Apply(AckOp& op, absl::Time now, std::vector<std::string>&) {
  Statement find(*writer_statements_,
                 "SELECT n.id, d.acknowledged_at_us, d.acknowledged_by, n.sender, n.type, "
                 "d.delivered_at_us, d.disclosed "
                 "FROM deliveries d "
                 "JOIN notifications n ON n.seq = d.notification_seq "
                 "WHERE d.cursor = ?1 AND d.mailbox = ?2");
  RETURN_IF_ERROR(find.status());
  find.Bind(1, static_cast<int64_t>(op.cursor));
  find.Bind(2, op.mailbox);
  int rc = find.Step();
  if (rc == SQLITE_DONE) {
    op.result = absl::NotFoundError(
        absl::StrCat("there is no delivery with cursor ", op.cursor, " in mailbox '", op.mailbox,
                     "'"));
    return absl::OkStatus();
  }
  if (rc != SQLITE_ROW) return SqlError(writer_, rc, "reading delivery");
  Acknowledged ack;
  ack.cursor = op.cursor;
  ack.notification_id = find.Text(0);
  op.audit.set_counterpart(find.Text(3));
  op.audit.set_notification_type(static_cast<safeguard::v1::NotificationType>(find.Int(4)));
  const bool delivery_logged = !find.IsNull(5);
  const auto disclosed = static_cast<uint32_t>(find.Int(6));
  if (!find.IsNull(1)) {
    ack.acknowledged_at = FromMicros(find.Int(1));
    ack.acknowledged_by = find.Text(2);
    ack.already_acknowledged = true;
    op.result = std::move(ack);
    return absl::OkStatus();
  }
  Statement update(*writer_statements_,
                   "UPDATE deliveries SET acknowledged_at_us = ?1, acknowledged_by = ?2, "
                   "delivered_at_us = COALESCE(delivered_at_us, ?1) WHERE cursor = ?3");
  RETURN_IF_ERROR(update.status());
  update.Bind(1, ToMicros(now));
  update.Bind(2, op.acknowledged_by);
  update.Bind(3, static_cast<int64_t>(op.cursor));
  rc = update.Step();
  if (rc != SQLITE_DONE) return SqlError(writer_, rc, "recording acknowledgement");
  if (!delivery_logged) {
    // The acknowledgement overtook the stream's "delivered" mark (it rides a later commit and
    // will find the delivery already marked): log the delivery here, before its acknowledgement.
    safeguard::v1::AuditEntry delivered;
    delivered.set_event(safeguard::v1::AUDIT_EVENT_DELIVERED);
    delivered.set_actor(op.audit.actor());
    delivered.set_actor_type(op.audit.actor_type());
    delivered.set_counterpart(op.audit.counterpart());
    delivered.set_notification_id(ack.notification_id);
    delivered.set_notification_type(op.audit.notification_type());
    for (int f = 1; f < 32; ++f) {
      if (disclosed >> f & 1) {
        delivered.add_fields_shared(static_cast<safeguard::v1::DisclosableField>(f));
      }
    }
    if (auto appended = audit_->Append(std::move(delivered), now); !appended.ok()) {
      return appended.status();
    }
  }
  op.audit.set_notification_id(ack.notification_id);
  op.audit.set_acknowledged_by(op.acknowledged_by);
  if (auto appended = audit_->Append(std::move(op.audit), now); !appended.ok()) {
    return appended.status();
  }
  ack.acknowledged_at = now;
  ack.acknowledged_by = op.acknowledged_by;
  op.result = std::move(ack);
  return absl::OkStatus();
}

absl::Status SqliteStore::Apply(OutcomeOp& op, absl::Time now, std::vector<std::string>&) {
  Statement find(*writer_statements_,
                 "SELECT n.id, n.sender, n.type, d.role FROM deliveries d "
                 "JOIN notifications n ON n.seq = d.notification_seq "
                 "WHERE d.cursor = ?1 AND d.mailbox = ?2");
  RETURN_IF_ERROR(find.status());
  find.Bind(1, static_cast<int64_t>(op.cursor));
  find.Bind(2, op.mailbox);
  int rc = find.Step();
  if (rc == SQLITE_DONE) {
    op.result = absl::NotFoundError(absl::StrCat("there is no delivery with cursor ", op.cursor,
                                                 " in mailbox '", op.mailbox, "'"));
    return absl::OkStatus();
  }
  if (rc != SQLITE_ROW) return SqlError(writer_, rc, "reading delivery");
  StoredOutcome outcome;
  outcome.notification_id = find.Text(0);
  outcome.mailbox = op.mailbox;
  outcome.role = find.Text(3);
  outcome.recorded_at = now;
  op.audit.set_counterpart(find.Text(1));
  op.audit.set_notification_type(static_cast<safeguard::v1::NotificationType>(find.Int(2)));
  Statement save(*writer_statements_,
                 "INSERT OR REPLACE INTO outcomes (cursor, kind, rationale, recorded_by, "
                 "challenge_route, recorded_at_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  RETURN_IF_ERROR(save.status());
  save.Bind(1, static_cast<int64_t>(op.cursor));
  save.Bind(2, static_cast<int64_t>(op.outcome.kind));
  save.Bind(3, op.outcome.rationale);
  save.Bind(4, op.outcome.recorded_by);
  save.Bind(5, op.outcome.challenge_route);
  save.Bind(6, ToMicros(now));
  rc = save.Step();
  if (rc != SQLITE_DONE) return SqlError(writer_, rc, "recording outcome");
  op.audit.set_notification_id(outcome.notification_id);
  if (auto appended = audit_->Append(std::move(op.audit), now); !appended.ok()) {
    return appended.status();
  }
  outcome.record = std::move(op.outcome);
  op.result = std::move(outcome);
  return absl::OkStatus();
}

absl::Status SqliteStore::Apply(DeliveredOp& op, absl::Time now, std::vector<std::string>&) {
  Statement update(*writer_statements_,
                   "UPDATE deliveries SET delivered_at_us = ?1 "
                   "WHERE cursor = ?2 AND mailbox = ?3 AND delivered_at_us IS NULL");
  RETURN_IF_ERROR(update.status());
  update.Bind(1, ToMicros(now));
  update.Bind(2, static_cast<int64_t>(op.cursor));
  update.Bind(3, op.mailbox);
  int rc = update.Step();
  if (rc != SQLITE_DONE) return SqlError(writer_, rc, "recording delivery");
  if (sqlite3_changes(writer_) == 0) return absl::OkStatus();  // delivered before: logged then
  return audit_->Append(std::move(op.audit), now).status();
}

absl::Status SqliteStore::Apply(AuditOp& op, absl::Time now, std::vector<std::string>&) {
  return audit_->Append(std::move(op.entry), now).status();
}

absl::Status SqliteStore::Apply(CheckpointOp& op, absl::Time now, std::vector<std::string>&) {
  Statement save(*writer_statements_,
                 "INSERT OR IGNORE INTO checkpoints (size, note, time_us) VALUES (?1, ?2, ?3)");
  RETURN_IF_ERROR(save.status());
  save.Bind(1, static_cast<int64_t>(op.size));
  save.Bind(2, op.note);
  save.Bind(3, ToMicros(now));
  int rc = save.Step();
  if (rc != SQLITE_DONE) return SqlError(writer_, rc, "storing a checkpoint");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<StoredDelivery>> SqliteStore::ReadMailbox(const std::string& mailbox,
                                                                     uint64_t after_cursor,
                                                                     bool include_acknowledged,
                                                                     int limit) {
  absl::MutexLock lock(&reader_mu_);
  Statement read(*reader_statements_,
                 "SELECT d.cursor, n.id, n.sender, n.accepted_at_us, n.envelope, d.disclosed, "
                 "d.acknowledged_at_us, d.acknowledged_by, d.role, d.route, d.addressee "
                 "FROM deliveries d "
                 "JOIN notifications n ON n.seq = d.notification_seq "
                 "WHERE d.mailbox = ?1 AND d.cursor > ?2 "
                 "AND (?3 OR d.acknowledged_at_us IS NULL) ORDER BY d.cursor LIMIT ?4");
  RETURN_IF_ERROR(read.status());
  read.Bind(1, mailbox);
  read.Bind(2, static_cast<int64_t>(after_cursor));
  read.Bind(3, static_cast<int64_t>(include_acknowledged ? 1 : 0));
  read.Bind(4, static_cast<int64_t>(limit));
  std::vector<StoredDelivery> out;
  int rc;
  while ((rc = read.Step()) == SQLITE_ROW) {
    StoredDelivery d;
    d.cursor = static_cast<uint64_t>(read.Int(0));
    d.notification_id = read.Text(1);
    d.sender = read.Text(2);
    d.accepted_at = FromMicros(read.Int(3));
    if (!d.envelope.ParseFromString(read.Blob(4))) {
      return absl::DataLossError(absl::StrCat("stored notification ", d.notification_id,
                                              " cannot be parsed; the store is damaged"));
    }
    d.disclosed = static_cast<uint32_t>(read.Int(5));
    if (!read.IsNull(6)) {
      d.acknowledged_at = FromMicros(read.Int(6));
      d.acknowledged_by = read.Text(7);
    }
    d.role = read.Text(8);
    d.route = read.Text(9);
    d.addressee = read.Text(10);
    out.push_back(std::move(d));
  }
  if (rc != SQLITE_DONE) return SqlError(reader_, rc, "reading mailbox");
  return out;
}

absl::StatusOr<StoredStatus> SqliteStore::GetStatus(const std::string& notification_id) {
  absl::MutexLock lock(&reader_mu_);
  Statement find(*reader_statements_,
                 "SELECT seq, sender, type, accepted_at_us, child_match FROM notifications "
                 "WHERE id = ?1");
  RETURN_IF_ERROR(find.status());
  find.Bind(1, notification_id);
  int rc = find.Step();
  if (rc == SQLITE_DONE) {
    return absl::NotFoundError(absl::StrCat("no notification with id '", notification_id, "'"));
  }
  if (rc != SQLITE_ROW) return SqlError(reader_, rc, "reading notification");
  StoredStatus status;
  status.notification_id = notification_id;
  status.sequence = static_cast<uint64_t>(find.Int(0));
  status.sender = find.Text(1);
  status.type = static_cast<safeguard::v1::NotificationType>(find.Int(2));
  status.accepted_at = FromMicros(find.Int(3));
  status.child_match = find.Text(4);
  Statement deliveries(*reader_statements_,
                       "SELECT d.mailbox, d.delivered_at_us, d.acknowledged_at_us, "
                       "d.acknowledged_by, d.role, d.route, o.kind, o.rationale, o.recorded_by, "
                       "o.challenge_route, o.recorded_at_us, d.cursor, d.due_at_us, "
                       "d.deadline_class "
                       "FROM deliveries d LEFT JOIN outcomes o ON o.cursor = d.cursor "
                       "WHERE d.notification_seq = ?1 ORDER BY d.cursor");
  RETURN_IF_ERROR(deliveries.status());
  deliveries.Bind(1, static_cast<int64_t>(status.sequence));
  while ((rc = deliveries.Step()) == SQLITE_ROW) {
    RecipientState r;
    r.node_id = deliveries.Text(0);
    if (!deliveries.IsNull(1)) r.delivered_at = FromMicros(deliveries.Int(1));
    if (!deliveries.IsNull(2)) {
      r.acknowledged_at = FromMicros(deliveries.Int(2));
      r.acknowledged_by = deliveries.Text(3);
    }
    r.role = deliveries.Text(4);
    r.route = deliveries.Text(5);
    if (!deliveries.IsNull(6)) {
      StoredOutcome& o = r.outcome.emplace();
      o.notification_id = notification_id;
      o.mailbox = r.node_id;
      o.role = r.role;
      o.record.kind = static_cast<safeguard::v1::OutcomeKind>(deliveries.Int(6));
      o.record.rationale = deliveries.Text(7);
      o.record.recorded_by = deliveries.Text(8);
      o.record.challenge_route = deliveries.Text(9);
      o.recorded_at = FromMicros(deliveries.Int(10));
    }
    if (!deliveries.IsNull(12)) r.due_at = FromMicros(deliveries.Int(12));
    r.deadline_class = deliveries.Text(13);
    Statement escalations(*reader_statements_,
                          "SELECT e.escalation_step_taken, e.mailbox, e.role, e.route, "
                          "n.accepted_at_us, e.acknowledged_at_us FROM ("
                          "  SELECT mailbox, role, route, acknowledged_at_us, notification_seq, "
                          "  (SELECT escalation_step FROM deliveries x WHERE x.cursor = ?1) "
                          "    AS escalation_step_taken FROM deliveries WHERE escalation_of = ?1"
                          ") e JOIN notifications n ON n.seq = e.notification_seq "
                          "ORDER BY n.seq");
    RETURN_IF_ERROR(escalations.status());
    escalations.Bind(1, deliveries.Int(11));
    int erc;
    int step = 0;
    int64_t last_seq_time = -1;
    while ((erc = escalations.Step()) == SQLITE_ROW) {
      EscalationState e;
      // Notices of one step share its notification; steps are in acceptance order.
      int64_t at = escalations.Int(4);
      if (at != last_seq_time) ++step;
      last_seq_time = at;
      e.step = step;
      e.node_id = escalations.Text(1);
      e.role = escalations.Text(2);
      e.route = escalations.Text(3);
      e.sent_at = FromMicros(at);
      if (!escalations.IsNull(5)) e.acknowledged_at = FromMicros(escalations.Int(5));
      r.escalations.push_back(std::move(e));
    }
    if (erc != SQLITE_DONE) return SqlError(reader_, erc, "reading escalations");
    status.recipients.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return SqlError(reader_, rc, "reading deliveries");
  return status;
}

absl::StatusOr<std::vector<OverdueDelivery>> SqliteStore::OverdueDeliveries(absl::Time now,
                                                                           int limit) {
  absl::MutexLock lock(&reader_mu_);
  Statement read(*reader_statements_,
                 "SELECT d.cursor, d.mailbox, n.id, n.sender, n.type, d.role, d.route, "
                 "d.addressee, d.deadline_class, n.accepted_at_us, d.due_at_us, "
                 "d.escalation_step, d.delivered_at_us IS NOT NULL, n.envelope "
                 "FROM deliveries d JOIN notifications n ON n.seq = d.notification_seq "
                 "WHERE d.due_at_us IS NOT NULL AND d.acknowledged_at_us IS NULL "
                 "AND d.due_at_us <= ?1 AND NOT EXISTS (SELECT 1 FROM deliveries e "
                 "WHERE e.escalation_of = d.cursor AND e.escalation_of != 0 "
                 "AND e.acknowledged_at_us IS NOT NULL) ORDER BY d.due_at_us LIMIT ?2");
  RETURN_IF_ERROR(read.status());
  read.Bind(1, ToMicros(now));
  read.Bind(2, static_cast<int64_t>(limit));
  std::vector<OverdueDelivery> out;
  int rc;
  while ((rc = read.Step()) == SQLITE_ROW) {
    OverdueDelivery d;
    d.cursor = static_cast<uint64_t>(read.Int(0));
    d.mailbox = read.Text(1);
    d.notification_id = read.Text(2);
    d.sender = read.Text(3);
    d.type = static_cast<safeguard::v1::NotificationType>(read.Int(4));
    d.role = read.Text(5);
    d.route = read.Text(6);
    d.addressee = read.Text(7);
    d.deadline_class = read.Text(8);
    d.accepted_at = FromMicros(read.Int(9));
    d.due_at = FromMicros(read.Int(10));
    d.escalation_step = static_cast<int>(read.Int(11));
    d.delivered = read.Int(12) != 0;
    if (!d.envelope.ParseFromString(read.Blob(13))) {
      return absl::DataLossError(absl::StrCat("stored notification ", d.notification_id,
                                              " cannot be parsed; the store is damaged"));
    }
    out.push_back(std::move(d));
  }
  if (rc != SQLITE_DONE) return SqlError(reader_, rc, "reading overdue deliveries");
  return out;
}

absl::StatusOr<std::vector<ChronologyEntry>> SqliteStore::ReadChronology(
    const std::vector<std::string>& subject_keys, absl::Time from, absl::Time to,
    uint64_t after_sequence, int limit, TypeFilter envelope_wanted, Keep keep) {
  std::vector<ChronologyEntry> out;
  if (subject_keys.empty() || limit <= 0) return out;
  const int64_t from_us = from == absl::InfinitePast() ? INT64_MIN : ToMicros(from);
  const int64_t to_us = to == absl::InfiniteFuture() ? INT64_MAX : ToMicros(to);
  absl::MutexLock lock(&reader_mu_);
  // One indexed range per key (a child has a handful of identifiers), the time window checked
  // on the notification row without reading its envelope, merged by sequence.
  std::set<int64_t> seqs;
  const bool newest = keep == Keep::kNewest;
  Statement keys(*reader_statements_,
                 newest ? "SELECT s.seq FROM notification_subjects s "
                          "JOIN notifications n ON n.seq = s.seq "
                          "WHERE s.subject_key = ?1 AND s.seq > ?2 AND n.accepted_at_us >= ?3 "
                          "AND n.accepted_at_us < ?4 ORDER BY s.seq DESC LIMIT ?5"
                        : "SELECT s.seq FROM notification_subjects s "
                          "JOIN notifications n ON n.seq = s.seq "
                          "WHERE s.subject_key = ?1 AND s.seq > ?2 AND n.accepted_at_us >= ?3 "
                          "AND n.accepted_at_us < ?4 ORDER BY s.seq LIMIT ?5");
  RETURN_IF_ERROR(keys.status());
  for (const auto& key : subject_keys) {
    keys.Reset();
    keys.Bind(1, key);
    keys.Bind(2, static_cast<int64_t>(after_sequence));
    keys.Bind(3, from_us);
    keys.Bind(4, to_us);
    keys.Bind(5, static_cast<int64_t>(limit));
    int rc;
    while ((rc = keys.Step()) == SQLITE_ROW) seqs.insert(keys.Int(0));
    if (rc != SQLITE_DONE) return SqlError(reader_, rc, "reading the chronology index");
  }
  Statement head(*reader_statements_,
                 "SELECT id, sender, type, accepted_at_us FROM notifications WHERE seq = ?1");
  RETURN_IF_ERROR(head.status());
  Statement body(*reader_statements_, "SELECT envelope FROM notifications WHERE seq = ?1");
  RETURN_IF_ERROR(body.status());
  // Merged over the keys: keep the `limit` oldest or newest, then read them in order.
  while (static_cast<int>(seqs.size()) > limit) {
    seqs.erase(newest ? seqs.begin() : std::prev(seqs.end()));
  }
  for (int64_t seq : seqs) {
    head.Reset();
    head.Bind(1, seq);
    int rc = head.Step();
    if (rc != SQLITE_ROW) return SqlError(reader_, rc, "reading a chronology entry");
    ChronologyEntry& e = out.emplace_back();
    e.sequence = static_cast<uint64_t>(seq);
    e.notification_id = head.Text(0);
    e.sender = head.Text(1);
    e.type = static_cast<safeguard::v1::NotificationType>(head.Int(2));
    e.accepted_at = FromMicros(head.Int(3));
    if (envelope_wanted != nullptr && !envelope_wanted(e.type)) continue;
    body.Reset();
    body.Bind(1, seq);
    rc = body.Step();
    if (rc != SQLITE_ROW) return SqlError(reader_, rc, "reading a chronology entry");
    if (!e.envelope.ParseFromString(body.Blob(0))) {
      return absl::DataLossError(absl::StrCat("stored notification ", e.notification_id,
                                              " cannot be parsed; the store is damaged"));
    }
  }
  return out;
}

std::string SubjectKey(const safeguard::v1::SubjectIdentifier& id) {
  // National numbers are the same whoever quotes them (the registry keeps them without issuer).
  const bool national = id.scheme() == safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER ||
                        id.scheme() == safeguard::v1::IDENTIFIER_SCHEME_SCHOOL_UPN;
  return absl::StrCat(static_cast<int>(id.scheme()), ":", national ? "" : id.issuer(), ":",
                      id.value());
}

}  // namespace safeguard::storage
