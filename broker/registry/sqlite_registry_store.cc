#include "broker/registry/sqlite_registry_store.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "broker/registry/internal/registry_validation.h"
#include "clients/protocol/status_macros.h"

namespace safeguard::registry {
namespace {

using safeguard::v1::Household;
using safeguard::v1::Involvement;
using safeguard::v1::SubjectIdentifier;
using storage::internal::Statement;
using storage::internal::StatementCache;

using internal::FromTimestamp;
using internal::ToTimestamp;

// PRAGMA application_id of a registry database ("SGRG"): tells it apart from broker.db.
constexpr int64_t kApplicationId = 0x53475247;
constexpr int kSchemaVersion = 1;
constexpr int kMaxFlagRowsPerRead = 1000;

constexpr const char* kSchema = R"sql(
CREATE TABLE people (
  subject_id    TEXT    PRIMARY KEY,
  created_at_us INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE identifiers (
  scheme     INTEGER NOT NULL,
  issuer     TEXT    NOT NULL,
  value      TEXT    NOT NULL,
  subject_id TEXT    NOT NULL REFERENCES people (subject_id),
  PRIMARY KEY (scheme, issuer, value)
) WITHOUT ROWID;
CREATE INDEX identifiers_by_subject ON identifiers (subject_id);
CREATE TABLE involvements (
  publisher     TEXT    NOT NULL,
  reference     TEXT    NOT NULL,
  subject_id    TEXT    NOT NULL REFERENCES people (subject_id),
  open          INTEGER NOT NULL,
  plan_type     INTEGER NOT NULL,
  start_us      INTEGER NOT NULL,
  version       INTEGER NOT NULL,
  body          BLOB    NOT NULL,
  PRIMARY KEY (publisher, reference)
) WITHOUT ROWID;
CREATE INDEX involvements_by_subject ON involvements (subject_id, open);
CREATE TABLE involvement_history (
  publisher     TEXT    NOT NULL,
  reference     TEXT    NOT NULL,
  version       INTEGER NOT NULL,
  subject_id    TEXT    NOT NULL,
  updated_at_us INTEGER NOT NULL,
  body          BLOB    NOT NULL,
  PRIMARY KEY (publisher, reference, version)
) WITHOUT ROWID;
CREATE INDEX involvement_history_by_subject ON involvement_history (subject_id, updated_at_us);
CREATE TABLE households (
  publisher TEXT    NOT NULL,
  reference TEXT    NOT NULL,
  uprn      TEXT    NOT NULL,
  version   INTEGER NOT NULL,
  body      BLOB    NOT NULL,
  PRIMARY KEY (publisher, reference)
) WITHOUT ROWID;
CREATE INDEX households_by_uprn ON households (uprn) WHERE uprn <> '';
CREATE TABLE household_members (
  publisher  TEXT    NOT NULL,
  reference  TEXT    NOT NULL,
  subject_id TEXT    NOT NULL REFERENCES people (subject_id),
  role       INTEGER NOT NULL,
  PRIMARY KEY (publisher, reference, subject_id)
) WITHOUT ROWID;
CREATE INDEX household_members_by_subject ON household_members (subject_id);
CREATE TABLE household_history (
  publisher TEXT    NOT NULL,
  reference TEXT    NOT NULL,
  version   INTEGER NOT NULL,
  body      BLOB    NOT NULL,
  PRIMARY KEY (publisher, reference, version)
) WITHOUT ROWID;
CREATE TABLE served (
  node      TEXT    NOT NULL,
  scheme    INTEGER NOT NULL,
  issuer    TEXT    NOT NULL,
  value     TEXT    NOT NULL,
  last_flag BLOB,
  PRIMARY KEY (node, scheme, issuer, value)
) WITHOUT ROWID;
CREATE INDEX served_by_identifier ON served (scheme, issuer, value);
CREATE TABLE flags (
  cursor        INTEGER PRIMARY KEY AUTOINCREMENT,
  node          TEXT    NOT NULL,
  scheme        INTEGER NOT NULL,
  issuer        TEXT    NOT NULL,
  value         TEXT    NOT NULL,
  flagged       INTEGER NOT NULL,
  involvement   BLOB,
  changed_at_us INTEGER NOT NULL
);
CREATE INDEX flags_by_node ON flags (node, cursor);
)sql";

int64_t ToMicros(absl::Time t) { return absl::ToUnixMicros(t); }

absl::Status SqlError(sqlite3* db, int rc, absl::string_view what) {
  std::string message =
      absl::StrCat(what, ": ", sqlite3_errstr(rc), " (", sqlite3_errmsg(db), ")");
  if (rc == SQLITE_FULL) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the registry's disk is full; nothing was stored (", message, ")"));
  }
  return absl::UnavailableError(absl::StrCat("registry storage failure: ", message));
}

absl::Status Exec(sqlite3* db, const std::string& sql, absl::string_view what) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  sqlite3_free(err);
  if (rc != SQLITE_OK) return SqlError(db, rc, what);
  return absl::OkStatus();
}

absl::Status Done(Statement& st, sqlite3* db, absl::string_view what) {
  RETURN_IF_ERROR(st.status());
  int rc = st.Step();
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return SqlError(db, rc, what);
  return absl::OkStatus();
}

// The identity of an identifier in the registry. NHS numbers and UPNs have an empty issuer
// (normalisation clears it), so whoever quotes them, they find the same person.
using IdKey = std::tuple<int64_t, std::string, std::string>;

IdKey KeyOf(const SubjectIdentifier& id) {
  return {static_cast<int64_t>(id.scheme()), id.issuer(), id.value()};
}

SubjectIdentifier IdentifierOf(const IdKey& key) {
  SubjectIdentifier id;
  id.set_scheme(static_cast<safeguard::v1::IdentifierScheme>(std::get<0>(key)));
  id.set_issuer(std::get<1>(key));
  id.set_value(std::get<2>(key));
  return id;
}

void BindKey(Statement& st, int first, const IdKey& key) {
  st.Bind(first, std::get<0>(key));
  st.Bind(first + 1, std::get<1>(key));
  st.Bind(first + 2, std::get<2>(key));
}

absl::StatusOr<std::optional<std::string>> SubjectOf(StatementCache& cache, const IdKey& key) {
  Statement st(cache,
               "SELECT subject_id FROM identifiers WHERE scheme = ?1 AND issuer = ?2 AND "
               "value = ?3");
  RETURN_IF_ERROR(st.status());
  BindKey(st, 1, key);
  int rc = st.Step();
  if (rc == SQLITE_ROW) return std::optional<std::string>(st.Text(0));
  if (rc != SQLITE_DONE) return SqlError(cache.db(), rc, "looking up an identifier");
  return std::optional<std::string>();
}

// Per identifier (in order): the person it belongs to, if any.
struct MatchDetail {
  ChildMatch match;
  std::vector<std::optional<std::string>> owners;
};

absl::StatusOr<MatchDetail> Match(
    StatementCache& cache,
    const google::protobuf::RepeatedPtrField<SubjectIdentifier>& ids) {
  MatchDetail detail;
  std::vector<std::string> schemes;
  for (const auto& id : ids) {
    ASSIGN_OR_RETURN(std::optional<std::string> owner, SubjectOf(cache, KeyOf(id)));
    if (owner.has_value()) {
      if (std::find(detail.match.subject_ids.begin(), detail.match.subject_ids.end(), *owner) ==
          detail.match.subject_ids.end()) {
        detail.match.subject_ids.push_back(*owner);
      }
      std::string scheme = internal::SchemeName(id.scheme());
      if (std::find(schemes.begin(), schemes.end(), scheme) == schemes.end()) {
        schemes.push_back(scheme);
      }
    }
    detail.owners.push_back(std::move(owner));
  }
  ChildMatch& m = detail.match;
  if (m.subject_ids.empty()) {
    m.kind = ChildMatch::Kind::kUnmatched;
    m.description = "unmatched";
  } else if (m.subject_ids.size() == 1) {
    m.kind = ChildMatch::Kind::kMatched;
    std::string list = schemes.back();
    if (schemes.size() > 1) {
      list = absl::StrCat(
          absl::StrJoin(schemes.begin(), schemes.end() - 1, ", "), " and ", schemes.back());
    }
    m.description = absl::StrCat("matched on ", list);
  } else {
    m.kind = ChildMatch::Kind::kConflicting;
    m.description = absl::StrCat("identifiers belong to ", m.subject_ids.size(),
                                 " different children in the registry");
  }
  return detail;
}

// FAILED_PRECONDITION naming which identifier belongs to which person; merges nothing.
absl::Status ConflictError(absl::string_view path,
                           const google::protobuf::RepeatedPtrField<SubjectIdentifier>& ids,
                           const MatchDetail& detail) {
  std::vector<std::string> parts;
  for (int i = 0; i < ids.size(); ++i) {
    if (!detail.owners[i].has_value()) continue;
    parts.push_back(absl::StrCat(path, "[", i, "] (", internal::SchemeName(ids[i].scheme()),
                                 ") is person ", *detail.owners[i]));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      path, ": ", detail.match.description, ": ", absl::StrJoin(parts, ", "),
      ". Nothing was stored and nothing was merged: check the identifiers against your records; "
      "if they really are one child, the registry's administrators must correct the records"));
}

absl::StatusOr<std::string> NewPerson(StatementCache& cache, absl::Time now) {
  Statement id(cache, "SELECT 'p-' || lower(hex(randomblob(8)))");
  RETURN_IF_ERROR(id.status());
  if (id.Step() != SQLITE_ROW) return SqlError(cache.db(), SQLITE_ERROR, "choosing a subject id");
  std::string subject_id = id.Text(0);
  Statement insert(cache, "INSERT INTO people (subject_id, created_at_us) VALUES (?1, ?2)");
  insert.Bind(1, subject_id);
  insert.Bind(2, ToMicros(now));
  RETURN_IF_ERROR(Done(insert, cache.db(), "adding a person"));
  return subject_id;
}

// Gives `subject_id` every identifier in `ids` it does not have yet. REQUIRES: none of them
// belongs to anybody else (checked by Match).
absl::Status LinkIdentifiers(StatementCache& cache, const std::string& subject_id,
                             const google::protobuf::RepeatedPtrField<SubjectIdentifier>& ids) {
  for (const auto& id : ids) {
    Statement st(cache,
                 "INSERT OR IGNORE INTO identifiers (scheme, issuer, value, subject_id) "
                 "VALUES (?1, ?2, ?3, ?4)");
    BindKey(st, 1, KeyOf(id));
    st.Bind(4, subject_id);
    RETURN_IF_ERROR(Done(st, cache.db(), "linking an identifier"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Involvement>> ReadOpenInvolvements(StatementCache& cache,
                                                              const std::string& subject_id) {
  // Most protective first: plan types are numbered in order of protection (LA > CP > CIN > EH);
  // among equals the most recently started, then a fixed order.
  Statement st(cache,
               "SELECT body FROM involvements WHERE subject_id = ?1 AND open = 1 "
               "ORDER BY plan_type DESC, start_us DESC, publisher, reference");
  RETURN_IF_ERROR(st.status());
  st.Bind(1, subject_id);
  std::vector<Involvement> out;
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) {
    if (!out.emplace_back().ParseFromString(st.Blob(0))) {
      return absl::DataLossError("registry: a stored involvement cannot be parsed");
    }
  }
  if (rc != SQLITE_DONE) return SqlError(cache.db(), rc, "reading involvements");
  return out;
}

// What a flag carries of an involvement: nothing about the child, nothing that changes without
// the flag's content changing (version, updated_at).
Involvement FlagProjection(const Involvement& inv) {
  Involvement p;
  p.set_reference(inv.reference());
  p.set_publisher(inv.publisher());
  p.set_area(inv.area());
  p.set_plan_type(inv.plan_type());
  if (inv.has_lead_worker()) *p.mutable_lead_worker() = inv.lead_worker();
  if (inv.has_deputy()) *p.mutable_deputy() = inv.deputy();
  if (inv.has_team_manager()) *p.mutable_team_manager() = inv.team_manager();
  if (inv.has_escalation_contact()) *p.mutable_escalation_contact() = inv.escalation_contact();
  if (inv.has_start()) *p.mutable_start() = inv.start();
  if (inv.has_next_review()) *p.mutable_next_review() = inv.next_review();
  p.set_open(true);
  return p;
}

// The flag state of a person now: the serialised projection of the most protective open
// involvement, or nullopt when not on a plan.
absl::StatusOr<std::optional<std::string>> FlagStateOf(StatementCache& cache,
                                                        const std::optional<std::string>& subject) {
  if (!subject.has_value()) return std::optional<std::string>();
  ASSIGN_OR_RETURN(std::vector<Involvement> open, ReadOpenInvolvements(cache, *subject));
  if (open.empty()) return std::optional<std::string>();
  std::string bytes;
  FlagProjection(open.front()).SerializeToString(&bytes);
  return std::optional<std::string>(std::move(bytes));
}

// Brings one served row's flag up to `state`: appends a row to the node's stream and records
// it when it differs from what the node was last sent.
absl::Status SyncServedFlag(StatementCache& cache, const std::string& node, const IdKey& key,
                            const std::optional<std::string>& last,
                            const std::optional<std::string>& state, absl::Time now,
                            std::set<std::string>* nodes) {
  if (last == state) return absl::OkStatus();
  Statement append(cache,
                   "INSERT INTO flags (node, scheme, issuer, value, flagged, involvement, "
                   "changed_at_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  append.Bind(1, node);
  BindKey(append, 2, key);
  append.Bind(5, int64_t{state.has_value()});
  if (state.has_value()) {
    append.BindBlob(6, *state);
  } else {
    append.BindNull(6);
  }
  append.Bind(7, ToMicros(now));
  RETURN_IF_ERROR(Done(append, cache.db(), "appending a flag"));
  Statement record(cache,
                   "UPDATE served SET last_flag = ?5 WHERE node = ?1 AND scheme = ?2 AND "
                   "issuer = ?3 AND value = ?4");
  record.Bind(1, node);
  BindKey(record, 2, key);
  if (state.has_value()) {
    record.BindBlob(5, *state);
  } else {
    record.BindNull(5);
  }
  RETURN_IF_ERROR(Done(record, cache.db(), "recording a flag"));
  nodes->insert(node);
  return absl::OkStatus();
}

// Appends flag rows for every node serving `subject_id` whose flag for it changed.
absl::Status RecomputeFlags(StatementCache& cache, const std::string& subject_id, absl::Time now,
                            std::set<std::string>* nodes) {
  ASSIGN_OR_RETURN(std::optional<std::string> state,
                   FlagStateOf(cache, std::optional<std::string>(subject_id)));
  struct Row {
    std::string node;
    IdKey key;
    std::optional<std::string> last;
  };
  std::vector<Row> rows;
  {
    Statement st(cache,
                 "SELECT s.node, s.scheme, s.issuer, s.value, s.last_flag FROM identifiers i "
                 "JOIN served s ON s.scheme = i.scheme AND s.issuer = i.issuer AND "
                 "s.value = i.value WHERE i.subject_id = ?1");
    RETURN_IF_ERROR(st.status());
    st.Bind(1, subject_id);
    int rc;
    while ((rc = st.Step()) == SQLITE_ROW) {
      rows.push_back({st.Text(0), IdKey{st.Int(1), st.Text(2), st.Text(3)},
                      st.IsNull(4) ? std::nullopt : std::optional<std::string>(st.Blob(4))});
    }
    if (rc != SQLITE_DONE) return SqlError(cache.db(), rc, "finding the nodes serving a child");
  }
  for (const Row& row : rows) {
    RETURN_IF_ERROR(SyncServedFlag(cache, row.node, row.key, row.last, state, now, nodes));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Involvement>> ReadInvolvement(StatementCache& cache,
                                                           const std::string& publisher,
                                                           const std::string& reference) {
  Statement st(cache, "SELECT body FROM involvements WHERE publisher = ?1 AND reference = ?2");
  RETURN_IF_ERROR(st.status());
  st.Bind(1, publisher);
  st.Bind(2, reference);
  int rc = st.Step();
  if (rc == SQLITE_DONE) return std::optional<Involvement>();
  if (rc != SQLITE_ROW) return SqlError(cache.db(), rc, "reading an involvement");
  Involvement inv;
  if (!inv.ParseFromString(st.Blob(0))) {
    return absl::DataLossError("registry: a stored involvement cannot be parsed");
  }
  return std::optional<Involvement>(std::move(inv));
}

// Moves the current version to history and stores `inv` as current.
absl::Status WriteInvolvement(StatementCache& cache, const std::optional<Involvement>& previous,
                              const Involvement& inv) {
  if (previous.has_value()) {
    Statement history(cache,
                      "INSERT INTO involvement_history (publisher, reference, version, "
                      "subject_id, updated_at_us, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    history.Bind(1, previous->publisher());
    history.Bind(2, previous->reference());
    history.Bind(3, static_cast<int64_t>(previous->version()));
    history.Bind(4, previous->subject_id());
    history.Bind(5, ToMicros(FromTimestamp(previous->updated_at())));
    history.BindBlob(6, previous->SerializeAsString());
    RETURN_IF_ERROR(Done(history, cache.db(), "keeping an involvement's history"));
  }
  Statement st(cache,
               "INSERT OR REPLACE INTO involvements (publisher, reference, subject_id, open, "
               "plan_type, start_us, version, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  st.Bind(1, inv.publisher());
  st.Bind(2, inv.reference());
  st.Bind(3, inv.subject_id());
  st.Bind(4, int64_t{inv.open()});
  st.Bind(5, static_cast<int64_t>(inv.plan_type()));
  st.Bind(6, ToMicros(FromTimestamp(inv.start())));
  st.Bind(7, static_cast<int64_t>(inv.version()));
  st.BindBlob(8, inv.SerializeAsString());
  return Done(st, cache.db(), "storing an involvement");
}

absl::StatusOr<std::vector<std::string>> Strings(StatementCache& cache, const char* sql,
                                                 absl::string_view arg, absl::string_view what) {
  Statement st(cache, sql);
  RETURN_IF_ERROR(st.status());
  st.Bind(1, arg);
  std::vector<std::string> out;
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) out.push_back(st.Text(0));
  if (rc != SQLITE_DONE) return SqlError(cache.db(), rc, what);
  return out;
}

absl::StatusOr<uint64_t> Count(StatementCache& cache, const char* sql, absl::string_view node) {
  Statement st(cache, sql);
  RETURN_IF_ERROR(st.status());
  st.Bind(1, node);
  int rc = st.Step();
  if (rc != SQLITE_ROW) return SqlError(cache.db(), rc, "counting served children");
  return static_cast<uint64_t>(st.Int(0));
}

absl::StatusOr<sqlite3*> OpenConnection(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open registry database ", path, ": ", message,
                     "; check that its directory exists and the broker may write there"));
  }
  sqlite3_busy_timeout(db, 10000);
  // WAL with synchronous=FULL: every COMMIT fsyncs the write-ahead log before returning.
  rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
                    nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = sqlite3_errmsg(db);
    sqlite3_close(db);
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open registry database ", path, ": ", message,
        rc == SQLITE_NOTADB ? "; the file is not a registry database: move it aside" : ""));
  }
  return db;
}

absl::StatusOr<int64_t> PragmaInt(sqlite3* db, const char* sql) {
  StatementCache cache(db);
  Statement st(cache, sql);
  RETURN_IF_ERROR(st.status());
  int rc = st.Step();
  if (rc != SQLITE_ROW) return SqlError(db, rc, sql);
  return st.Int(0);
}

// Creates the schema in a new file, or checks that an existing file is a registry database of
// this version.
absl::Status PrepareSchema(sqlite3* db, const std::string& path) {
  RETURN_IF_ERROR(Exec(db, "BEGIN IMMEDIATE", "starting the schema check"));
  absl::Status status = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(int64_t app_id, PragmaInt(db, "PRAGMA application_id"));
    ASSIGN_OR_RETURN(int64_t tables, PragmaInt(db, "SELECT count(*) FROM sqlite_master"));
    if (app_id == 0 && tables == 0) {
      RETURN_IF_ERROR(Exec(db, kSchema, "creating the registry schema"));
      RETURN_IF_ERROR(Exec(db, absl::StrCat("PRAGMA application_id=", kApplicationId),
                           "marking the registry database"));
      return Exec(db, absl::StrCat("PRAGMA user_version=", kSchemaVersion),
                  "marking the registry schema version");
    }
    if (app_id != kApplicationId) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, " is not a registry database (it holds other data); the registry keeps its own "
          "file, registry.db in the data directory: move this file aside or point at that one"));
    }
    ASSIGN_OR_RETURN(int64_t version, PragmaInt(db, "PRAGMA user_version"));
    if (version != kSchemaVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat("registry database ", path, " has schema version ", version,
                       "; this broker reads version ", kSchemaVersion));
    }
    return absl::OkStatus();
  }();
  if (!status.ok()) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return status;
  }
  return Exec(db, "COMMIT", "committing the registry schema");
}

}  // namespace

absl::StatusOr<std::unique_ptr<RegistryStore>> RegistryStore::Open(const std::string& path,
                                                                   const Clock& clock) {
  ASSIGN_OR_RETURN(std::unique_ptr<SqliteRegistryStore> store,
                   SqliteRegistryStore::OpenSqlite(path, clock));
  return std::unique_ptr<RegistryStore>(std::move(store));
}

absl::StatusOr<std::unique_ptr<SqliteRegistryStore>> SqliteRegistryStore::OpenSqlite(
    const std::string& path, const Clock& clock) {
  ASSIGN_OR_RETURN(sqlite3 * writer, OpenConnection(path));
  if (absl::Status s = PrepareSchema(writer, path); !s.ok()) {
    sqlite3_close(writer);
    return s;
  }
  auto reader = OpenConnection(path);
  if (!reader.ok()) {
    sqlite3_close(writer);
    return reader.status();
  }
  return std::unique_ptr<SqliteRegistryStore>(new SqliteRegistryStore(clock, writer, *reader));
}

SqliteRegistryStore::SqliteRegistryStore(const Clock& clock, sqlite3* writer, sqlite3* reader)
    : clock_(clock),
      writer_(writer),
      writer_statements_(std::make_unique<StatementCache>(writer)),
      reader_(reader),
      reader_statements_(std::make_unique<StatementCache>(reader)) {}

SqliteRegistryStore::~SqliteRegistryStore() {
  {
    absl::MutexLock lock(&write_mu_);
    writer_statements_.reset();
  }
  {
    absl::MutexLock lock(&read_mu_);
    reader_statements_.reset();
  }
  sqlite3_close(reader_);
  sqlite3_close(writer_);
}

void SqliteRegistryStore::SetFlagListener(FlagListener listener) {
  absl::MutexLock lock(&listener_mu_);
  listener_ = std::move(listener);
}

void SqliteRegistryStore::NotifyListener(const std::vector<std::string>& nodes) {
  if (nodes.empty()) return;
  FlagListener listener;
  {
    absl::MutexLock lock(&listener_mu_);
    listener = listener_;
  }
  if (listener) listener(nodes);
}

absl::Status SqliteRegistryStore::InWriteTransaction(const std::function<absl::Status()>& body,
                                                     std::vector<std::string>* flagged_nodes) {
  RETURN_IF_ERROR(Exec(writer_, "BEGIN IMMEDIATE", "starting a registry write"));
  absl::Status status = body();
  if (status.ok()) status = Exec(writer_, "COMMIT", "committing a registry write");
  // After the commit (and after a failed one: harmless): a match read before this moment may
  // be out of date.
  write_generation_.fetch_add(1, std::memory_order_acq_rel);
  if (!status.ok()) {
    sqlite3_exec(writer_, "ROLLBACK", nullptr, nullptr, nullptr);
    flagged_nodes->clear();
  }
  return status;
}

absl::StatusOr<safeguard::v1::PutInvolvementResponse> SqliteRegistryStore::PutInvolvement(
    const std::string& publisher, const std::string& publisher_area, Involvement involvement) {
  const absl::Time now = clock_.Now();
  RETURN_IF_ERROR(internal::NormaliseInvolvement(involvement, publisher, publisher_area, now));
  safeguard::v1::PutInvolvementResponse response;
  std::vector<std::string> flagged_nodes;
  absl::Status status;
  {
    absl::MutexLock lock(&write_mu_);
    StatementCache& cache = *writer_statements_;
    status = InWriteTransaction(
        [&]() -> absl::Status {
          ASSIGN_OR_RETURN(MatchDetail detail, Match(cache, involvement.child()));
          if (detail.match.kind == ChildMatch::Kind::kConflicting) {
            return ConflictError("involvement.child", involvement.child(), detail);
          }
          ASSIGN_OR_RETURN(std::optional<Involvement> previous,
                           ReadInvolvement(cache, publisher, involvement.reference()));
          std::string subject_id;
          std::string match = detail.match.description;
          if (previous.has_value()) {
            // The reference already names a child: it stays that child's. Identifiers that
            // belong to someone else are refused rather than moving the plan between children.
            if (detail.match.kind == ChildMatch::Kind::kMatched &&
                detail.match.subject_ids.front() != previous->subject_id()) {
              return absl::FailedPreconditionError(absl::StrCat(
                  "involvement.child: the identifiers belong to person ",
                  detail.match.subject_ids.front(), " but involvement ", involvement.reference(),
                  " is already about person ", previous->subject_id(),
                  ". Nothing was stored: check the identifiers; if the plan was recorded "
                  "against the wrong child, close it and publish it under a new reference"));
            }
            subject_id = previous->subject_id();
            if (detail.match.kind == ChildMatch::Kind::kUnmatched) {
              match = "matched on the involvement's reference";
            }
          } else if (detail.match.kind == ChildMatch::Kind::kMatched) {
            subject_id = detail.match.subject_ids.front();
          } else {
            ASSIGN_OR_RETURN(subject_id, NewPerson(cache, now));
            match = "created";
          }
          if (!involvement.has_start()) {
            *involvement.mutable_start() = previous.has_value() && previous->has_start()
                                               ? previous->start()
                                               : ToTimestamp(now);
          }
          if (involvement.has_next_review() &&
              FromTimestamp(involvement.next_review()) < FromTimestamp(involvement.start())) {
            return absl::InvalidArgumentError(
                "involvement.next_review: is before the plan's start; give the next review date");
          }
          RETURN_IF_ERROR(LinkIdentifiers(cache, subject_id, involvement.child()));

          involvement.set_subject_id(subject_id);
          involvement.set_version(previous.has_value() ? previous->version() + 1 : 1);
          *involvement.mutable_updated_at() = ToTimestamp(now);
          RETURN_IF_ERROR(WriteInvolvement(cache, previous, involvement));

          std::set<std::string> nodes;
          RETURN_IF_ERROR(RecomputeFlags(cache, subject_id, now, &nodes));
          flagged_nodes.assign(nodes.begin(), nodes.end());
          *response.mutable_involvement() = involvement;
          response.set_match(match);
          return absl::OkStatus();
        },
        &flagged_nodes);
  }
  if (!status.ok()) return status;
  NotifyListener(flagged_nodes);
  return response;
}

absl::StatusOr<safeguard::v1::PutInvolvementResponse> SqliteRegistryStore::CloseInvolvement(
    const std::string& publisher, const safeguard::v1::CloseInvolvementRequest& request) {
  const absl::Time now = clock_.Now();
  RETURN_IF_ERROR(internal::ValidateClose(request, now));
  safeguard::v1::PutInvolvementResponse response;
  std::vector<std::string> flagged_nodes;
  absl::Status status;
  {
    absl::MutexLock lock(&write_mu_);
    StatementCache& cache = *writer_statements_;
    status = InWriteTransaction(
        [&]() -> absl::Status {
          ASSIGN_OR_RETURN(std::optional<Involvement> previous,
                           ReadInvolvement(cache, publisher, request.reference()));
          if (!previous.has_value()) {
            return absl::NotFoundError(absl::StrCat(
                "reference: this node has published no involvement with reference ",
                request.reference(), "; check the reference (it is the one given to "
                "PutInvolvement by this node)"));
          }
          response.set_match("matched on the involvement's reference");
          if (!previous->open()) {
            // Already closed: a retried close answers the same.
            *response.mutable_involvement() = *previous;
            return absl::OkStatus();
          }
          const google::protobuf::Timestamp end =
              request.has_end() ? request.end() : ToTimestamp(now);
          if (FromTimestamp(end) < FromTimestamp(previous->start())) {
            return absl::InvalidArgumentError(
                "end: is before the plan's start; give the date the plan ended");
          }
          Involvement closed = *previous;
          closed.set_open(false);
          *closed.mutable_end() = end;
          closed.set_closure_reason(request.reason());
          closed.set_version(previous->version() + 1);
          *closed.mutable_updated_at() = ToTimestamp(now);
          RETURN_IF_ERROR(WriteInvolvement(cache, previous, closed));
          std::set<std::string> nodes;
          RETURN_IF_ERROR(RecomputeFlags(cache, closed.subject_id(), now, &nodes));
          flagged_nodes.assign(nodes.begin(), nodes.end());
          *response.mutable_involvement() = std::move(closed);
          return absl::OkStatus();
        },
        &flagged_nodes);
  }
  if (!status.ok()) return status;
  NotifyListener(flagged_nodes);
  return response;
}

absl::StatusOr<safeguard::v1::PutHouseholdResponse> SqliteRegistryStore::PutHousehold(
    const std::string& publisher, const std::string& publisher_area, Household household) {
  const absl::Time now = clock_.Now();
  RETURN_IF_ERROR(internal::NormaliseHousehold(household, publisher_area));
  safeguard::v1::PutHouseholdResponse response;
  std::vector<std::string> flagged_nodes;
  absl::Status status;
  {
    absl::MutexLock lock(&write_mu_);
    StatementCache& cache = *writer_statements_;
    status = InWriteTransaction(
        [&]() -> absl::Status {
          // Resolve every member first, so a conflict stores nothing.
          std::vector<MatchDetail> matches;
          for (int i = 0; i < household.members_size(); ++i) {
            ASSIGN_OR_RETURN(MatchDetail detail,
                             Match(cache, household.members(i).identifiers()));
            if (detail.match.kind == ChildMatch::Kind::kConflicting) {
              return ConflictError(absl::StrCat("household.members[", i, "].identifiers"),
                                   household.members(i).identifiers(), detail);
            }
            for (int j = 0; j < i; ++j) {
              if (detail.match.kind == ChildMatch::Kind::kMatched &&
                  matches[j].match.kind == ChildMatch::Kind::kMatched &&
                  matches[j].match.subject_ids == detail.match.subject_ids) {
                return absl::InvalidArgumentError(absl::StrCat(
                    "household.members[", i, "]: is the same person as household.members[", j,
                    "] (their identifiers belong to one person); list each person once"));
              }
            }
            matches.push_back(std::move(detail));
          }
          // Two new members quoting the same identifier would be one person listed twice.
          std::map<IdKey, int> new_keys;
          for (int i = 0; i < household.members_size(); ++i) {
            for (const auto& id : household.members(i).identifiers()) {
              auto [it, inserted] = new_keys.emplace(KeyOf(id), i);
              if (!inserted && it->second != i) {
                return absl::InvalidArgumentError(absl::StrCat(
                    "household.members[", i, "]: shares an identifier (",
                    internal::SchemeName(id.scheme()), ") with household.members[", it->second,
                    "]; list each person once"));
              }
            }
          }

          Statement previous_st(cache,
                                "SELECT version, body FROM households WHERE publisher = ?1 AND "
                                "reference = ?2");
          RETURN_IF_ERROR(previous_st.status());
          previous_st.Bind(1, publisher);
          previous_st.Bind(2, household.reference());
          int64_t previous_version = 0;
          std::string previous_body;
          int rc = previous_st.Step();
          if (rc == SQLITE_ROW) {
            previous_version = previous_st.Int(0);
            previous_body = previous_st.Blob(1);
          } else if (rc != SQLITE_DONE) {
            return SqlError(cache.db(), rc, "reading a household");
          }
          previous_st.Reset();
          if (previous_version > 0) {
            Statement history(cache,
                              "INSERT INTO household_history (publisher, reference, version, "
                              "body) VALUES (?1, ?2, ?3, ?4)");
            history.Bind(1, publisher);
            history.Bind(2, household.reference());
            history.Bind(3, previous_version);
            history.BindBlob(4, previous_body);
            RETURN_IF_ERROR(Done(history, cache.db(), "keeping a household's history"));
            Statement clear(cache,
                            "DELETE FROM household_members WHERE publisher = ?1 AND "
                            "reference = ?2");
            clear.Bind(1, publisher);
            clear.Bind(2, household.reference());
            RETURN_IF_ERROR(Done(clear, cache.db(), "replacing a household's members"));
          }

          for (int i = 0; i < household.members_size(); ++i) {
            std::string subject_id;
            if (matches[i].match.kind == ChildMatch::Kind::kMatched) {
              subject_id = matches[i].match.subject_ids.front();
            } else {
              ASSIGN_OR_RETURN(subject_id, NewPerson(cache, now));
            }
            RETURN_IF_ERROR(
                LinkIdentifiers(cache, subject_id, household.members(i).identifiers()));
            Statement member(cache,
                             "INSERT INTO household_members (publisher, reference, subject_id, "
                             "role) VALUES (?1, ?2, ?3, ?4)");
            member.Bind(1, publisher);
            member.Bind(2, household.reference());
            member.Bind(3, subject_id);
            member.Bind(4, static_cast<int64_t>(household.members(i).role()));
            RETURN_IF_ERROR(Done(member, cache.db(), "storing a household member"));
          }

          household.set_publisher(publisher);
          household.set_version(static_cast<uint64_t>(previous_version + 1));
          *household.mutable_updated_at() = ToTimestamp(now);
          Statement st(cache,
                       "INSERT OR REPLACE INTO households (publisher, reference, uprn, version, "
                       "body) VALUES (?1, ?2, ?3, ?4, ?5)");
          st.Bind(1, publisher);
          st.Bind(2, household.reference());
          st.Bind(3, household.address().uprn());
          st.Bind(4, static_cast<int64_t>(household.version()));
          st.BindBlob(5, household.SerializeAsString());
          RETURN_IF_ERROR(Done(st, cache.db(), "storing a household"));
          // New identifiers may now resolve served identifiers to people on plans.
          std::set<std::string> nodes;
          for (const MatchDetail& m : matches) {
            if (m.match.kind == ChildMatch::Kind::kMatched) {
              RETURN_IF_ERROR(RecomputeFlags(cache, m.match.subject_ids.front(), now, &nodes));
            }
          }
          flagged_nodes.assign(nodes.begin(), nodes.end());
          *response.mutable_household() = household;
          return absl::OkStatus();
        },
        &flagged_nodes);
  }
  if (!status.ok()) return status;
  NotifyListener(flagged_nodes);
  return response;
}

absl::StatusOr<safeguard::v1::UpdateServedChildrenResponse>
SqliteRegistryStore::UpdateServedChildren(
    const std::string& node, const safeguard::v1::UpdateServedChildrenRequest& request) {
  const absl::Time now = clock_.Now();
  if (node.empty()) return absl::InvalidArgumentError("node: is empty");
  if (request.replace() && !request.remove().empty()) {
    return absl::InvalidArgumentError(
        "remove: must be empty when replace is true (add is then the whole list)");
  }
  std::vector<IdKey> add, remove;
  for (int i = 0; i < request.add_size(); ++i) {
    SubjectIdentifier id = request.add(i).identifier();
    RETURN_IF_ERROR(internal::NormaliseIdentifier(id, absl::StrCat("add[", i, "].identifier")));
    add.push_back(KeyOf(id));
  }
  for (int i = 0; i < request.remove_size(); ++i) {
    SubjectIdentifier id = request.remove(i).identifier();
    RETURN_IF_ERROR(
        internal::NormaliseIdentifier(id, absl::StrCat("remove[", i, "].identifier")));
    remove.push_back(KeyOf(id));
  }

  safeguard::v1::UpdateServedChildrenResponse response;
  std::vector<std::string> flagged_nodes;
  absl::Status status;
  {
    absl::MutexLock lock(&write_mu_);
    StatementCache& cache = *writer_statements_;
    status = InWriteTransaction(
        [&]() -> absl::Status {
          std::set<std::string> nodes;
          // Current list: identifier -> what the node was last sent.
          std::map<IdKey, std::optional<std::string>> current;
          {
            Statement st(cache,
                         "SELECT scheme, issuer, value, last_flag FROM served WHERE node = ?1");
            RETURN_IF_ERROR(st.status());
            st.Bind(1, node);
            int rc;
            while ((rc = st.Step()) == SQLITE_ROW) {
              current.emplace(IdKey{st.Int(0), st.Text(1), st.Text(2)},
                              st.IsNull(3) ? std::nullopt
                                           : std::optional<std::string>(st.Blob(3)));
            }
            if (rc != SQLITE_DONE) return SqlError(cache.db(), rc, "reading the served list");
          }
          if (request.replace()) {
            std::set<IdKey> keep(add.begin(), add.end());
            for (const auto& [key, last] : current) {
              if (!keep.count(key)) remove.push_back(key);
            }
          }
          // Removed children: told "not flagged" if they were flagged, then forgotten.
          for (const IdKey& key : remove) {
            auto it = current.find(key);
            if (it == current.end()) continue;
            RETURN_IF_ERROR(
                SyncServedFlag(cache, node, key, it->second, std::nullopt, now, &nodes));
            Statement del(cache,
                          "DELETE FROM served WHERE node = ?1 AND scheme = ?2 AND issuer = ?3 "
                          "AND value = ?4");
            del.Bind(1, node);
            BindKey(del, 2, key);
            RETURN_IF_ERROR(Done(del, cache.db(), "removing a served child"));
            current.erase(it);
          }
          // Added children: flagged at once if on a plan.
          for (const IdKey& key : add) {
            std::optional<std::string> last;
            if (auto it = current.find(key); it != current.end()) {
              last = it->second;
            } else {
              Statement ins(cache,
                            "INSERT INTO served (node, scheme, issuer, value, last_flag) "
                            "VALUES (?1, ?2, ?3, ?4, NULL)");
              ins.Bind(1, node);
              BindKey(ins, 2, key);
              RETURN_IF_ERROR(Done(ins, cache.db(), "adding a served child"));
            }
            ASSIGN_OR_RETURN(std::optional<std::string> subject, SubjectOf(cache, key));
            ASSIGN_OR_RETURN(std::optional<std::string> state, FlagStateOf(cache, subject));
            RETURN_IF_ERROR(SyncServedFlag(cache, node, key, last, state, now, &nodes));
            current[key] = state;
          }
          ASSIGN_OR_RETURN(uint64_t served,
                           Count(cache, "SELECT count(*) FROM served WHERE node = ?1", node));
          ASSIGN_OR_RETURN(uint64_t flagged,
                           Count(cache,
                                 "SELECT count(*) FROM served WHERE node = ?1 AND "
                                 "last_flag IS NOT NULL",
                                 node));
          ASSIGN_OR_RETURN(
              uint64_t cursor,
              Count(cache, "SELECT coalesce(max(cursor), 0) FROM flags WHERE node = ?1", node));
          response.set_served(served);
          response.set_flagged(flagged);
          response.set_flag_cursor(cursor);
          flagged_nodes.assign(nodes.begin(), nodes.end());
          return absl::OkStatus();
        },
        &flagged_nodes);
  }
  if (!status.ok()) return status;
  NotifyListener(flagged_nodes);
  return response;
}

constexpr size_t kUnmatchedCacheSize = 65536;

absl::StatusOr<ChildMatch> SqliteRegistryStore::MatchChild(
    const google::protobuf::RepeatedPtrField<SubjectIdentifier>& ids) {
  google::protobuf::RepeatedPtrField<SubjectIdentifier> normalised = ids;
  for (int i = 0; i < normalised.size(); ++i) {
    RETURN_IF_ERROR(
        internal::NormaliseIdentifier(normalised[i], absl::StrCat("identifiers[", i, "]")));
  }
  std::string key;
  for (const auto& id : normalised) {
    absl::StrAppend(&key, static_cast<int>(id.scheme()), ":", id.issuer(), ":", id.value(), "|");
  }
  const uint64_t generation = write_generation_.load(std::memory_order_acquire);
  absl::MutexLock lock(&read_mu_);
  if (auto it = unmatched_.find(key); it != unmatched_.end() && it->second == generation) {
    ChildMatch unmatched;
    unmatched.kind = ChildMatch::Kind::kUnmatched;
    unmatched.description = "unmatched";
    return unmatched;
  }
  ASSIGN_OR_RETURN(MatchDetail detail, Match(*reader_statements_, normalised));
  if (detail.match.kind == ChildMatch::Kind::kUnmatched) {
    if (unmatched_.size() >= kUnmatchedCacheSize) unmatched_.clear();
    unmatched_[key] = generation;
  }
  return std::move(detail.match);
}

absl::StatusOr<std::vector<Involvement>> SqliteRegistryStore::OpenInvolvements(
    const std::string& subject_id) {
  absl::MutexLock lock(&read_mu_);
  return ReadOpenInvolvements(*reader_statements_, subject_id);
}

absl::StatusOr<std::vector<Involvement>> SqliteRegistryStore::AllOpenInvolvements() {
  absl::MutexLock lock(&read_mu_);
  Statement st(*reader_statements_,
               "SELECT body FROM involvements WHERE open = 1 ORDER BY publisher, reference");
  RETURN_IF_ERROR(st.status());
  std::vector<Involvement> out;
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) {
    if (!out.emplace_back().ParseFromString(st.Blob(0))) {
      return absl::DataLossError("registry: a stored involvement cannot be parsed");
    }
  }
  if (rc != SQLITE_DONE) return SqlError(reader_statements_->db(), rc, "reading involvements");
  return out;
}

absl::StatusOr<std::vector<std::string>> SqliteRegistryStore::HouseholdChildren(
    const std::string& subject_id) {
  absl::MutexLock lock(&read_mu_);
  return Strings(*reader_statements_,
                 "SELECT DISTINCT c.subject_id FROM household_members p "
                 "JOIN household_members c ON c.publisher = p.publisher AND "
                 "c.reference = p.reference WHERE p.subject_id = ?1 AND p.role != 4 "
                 "AND c.role = 1 "
                 "ORDER BY c.subject_id",
                 subject_id, "reading households");
}

absl::StatusOr<std::vector<std::string>> SqliteRegistryStore::ChildrenAtUprn(
    const std::string& uprn) {
  if (uprn.empty()) return std::vector<std::string>();
  absl::MutexLock lock(&read_mu_);
  return Strings(*reader_statements_,
                 "SELECT DISTINCT m.subject_id FROM households h "
                 "JOIN household_members m ON m.publisher = h.publisher AND "
                 "m.reference = h.reference WHERE h.uprn = ?1 AND m.role = 1 "
                 "ORDER BY m.subject_id",
                 uprn, "reading households at an address");
}

absl::StatusOr<std::vector<std::string>> SqliteRegistryStore::ServingNodes(
    const std::string& subject_id) {
  absl::MutexLock lock(&read_mu_);
  return Strings(*reader_statements_,
                 "SELECT DISTINCT s.node FROM identifiers i JOIN served s ON "
                 "s.scheme = i.scheme AND s.issuer = i.issuer AND s.value = i.value "
                 "WHERE i.subject_id = ?1 ORDER BY s.node",
                 subject_id, "reading the nodes serving a child");
}

absl::StatusOr<std::vector<std::string>> SqliteRegistryStore::ServingNodesOf(
    const google::protobuf::RepeatedPtrField<SubjectIdentifier>& ids) {
  std::set<std::string> nodes;
  absl::MutexLock lock(&read_mu_);
  for (const SubjectIdentifier& given : ids) {
    SubjectIdentifier id = given;
    if (!internal::NormaliseIdentifier(id, "identifier").ok()) continue;
    Statement find(*reader_statements_,
                   "SELECT node FROM served WHERE scheme = ?1 AND issuer = ?2 AND value = ?3");
    RETURN_IF_ERROR(find.status());
    find.Bind(1, static_cast<int64_t>(id.scheme()));
    find.Bind(2, id.issuer());
    find.Bind(3, id.value());
    int rc;
    while ((rc = find.Step()) == SQLITE_ROW) nodes.insert(find.Text(0));
    if (rc != SQLITE_DONE) return absl::UnavailableError("reading the nodes serving a child");
  }
  return std::vector<std::string>(nodes.begin(), nodes.end());
}

absl::StatusOr<safeguard::v1::ChildRecord> SqliteRegistryStore::GetChild(
    const SubjectIdentifier& identifier) {
  SubjectIdentifier id = identifier;
  RETURN_IF_ERROR(internal::NormaliseIdentifier(id, "identifier"));
  absl::MutexLock lock(&read_mu_);
  StatementCache& cache = *reader_statements_;
  // One read transaction, so the record is a consistent snapshot.
  RETURN_IF_ERROR(Exec(reader_, "BEGIN", "reading a child's record"));
  absl::StatusOr<safeguard::v1::ChildRecord> result =
      [&]() -> absl::StatusOr<safeguard::v1::ChildRecord> {
    ASSIGN_OR_RETURN(std::optional<std::string> subject, SubjectOf(cache, KeyOf(id)));
    if (!subject.has_value()) {
      return absl::NotFoundError(absl::StrCat(
          "identifier: no child in the registry has this ", internal::SchemeName(id.scheme()),
          "; check it, or publish an involvement or household that names the child"));
    }
    safeguard::v1::ChildRecord record;
    record.set_subject_id(*subject);
    {
      Statement st(cache,
                   "SELECT scheme, issuer, value FROM identifiers WHERE subject_id = ?1 "
                   "ORDER BY scheme, issuer, value");
      RETURN_IF_ERROR(st.status());
      st.Bind(1, *subject);
      int rc;
      while ((rc = st.Step()) == SQLITE_ROW) {
        *record.add_identifiers() = IdentifierOf(IdKey{st.Int(0), st.Text(1), st.Text(2)});
      }
      if (rc != SQLITE_DONE) return SqlError(cache.db(), rc, "reading identifiers");
    }
    auto read_bodies = [&](const char* sql, auto* out) -> absl::Status {
      Statement st(cache, sql);
      RETURN_IF_ERROR(st.status());
      st.Bind(1, *subject);
      int rc;
      while ((rc = st.Step()) == SQLITE_ROW) {
        if (!out->Add()->ParseFromString(st.Blob(0))) {
          return absl::DataLossError("registry: a stored record cannot be parsed");
        }
      }
      if (rc != SQLITE_DONE) return SqlError(cache.db(), rc, "reading a child's record");
      return absl::OkStatus();
    };
    RETURN_IF_ERROR(read_bodies(
        "SELECT body FROM involvements WHERE subject_id = ?1 "
        "ORDER BY open DESC, plan_type DESC, start_us DESC, publisher, reference",
        record.mutable_involvements()));
    RETURN_IF_ERROR(read_bodies(
        "SELECT body FROM involvement_history WHERE subject_id = ?1 "
        "ORDER BY updated_at_us, publisher, reference, version",
        record.mutable_history()));
    RETURN_IF_ERROR(read_bodies(
        "SELECT h.body FROM household_members m JOIN households h ON "
        "h.publisher = m.publisher AND h.reference = m.reference WHERE m.subject_id = ?1 "
        "ORDER BY h.publisher, h.reference",
        record.mutable_households()));
    return record;
  }();
  sqlite3_exec(reader_, "COMMIT", nullptr, nullptr, nullptr);
  return result;
}

absl::StatusOr<std::vector<FlagRow>> SqliteRegistryStore::ReadFlags(const std::string& node,
                                                                    uint64_t after_cursor,
                                                                    int limit) {
  if (limit <= 0) return std::vector<FlagRow>();
  limit = std::min(limit, kMaxFlagRowsPerRead);
  absl::MutexLock lock(&read_mu_);
  StatementCache& cache = *reader_statements_;
  Statement st(cache,
               "SELECT cursor, scheme, issuer, value, flagged, involvement, changed_at_us "
               "FROM flags WHERE node = ?1 AND cursor > ?2 ORDER BY cursor LIMIT ?3");
  RETURN_IF_ERROR(st.status());
  st.Bind(1, node);
  st.Bind(2, static_cast<int64_t>(std::min<uint64_t>(after_cursor, INT64_MAX)));
  st.Bind(3, int64_t{limit});
  std::vector<FlagRow> rows;
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) {
    FlagRow& row = rows.emplace_back();
    row.cursor = static_cast<uint64_t>(st.Int(0));
    row.identifier = IdentifierOf(IdKey{st.Int(1), st.Text(2), st.Text(3)});
    row.flagged = st.Int(4) != 0;
    if (!st.IsNull(5) && !row.involvement.ParseFromString(st.Blob(5))) {
      return absl::DataLossError("registry: a stored flag cannot be parsed");
    }
    row.changed_at = absl::FromUnixMicros(st.Int(6));
  }
  if (rc != SQLITE_DONE) return SqlError(cache.db(), rc, "reading flags");
  return rows;
}

absl::StatusOr<FlagRow> SqliteRegistryStore::CurrentFlag(const SubjectIdentifier& identifier) {
  SubjectIdentifier id = identifier;
  RETURN_IF_ERROR(internal::NormaliseIdentifier(id, "identifier"));
  absl::MutexLock lock(&read_mu_);
  StatementCache& cache = *reader_statements_;
  FlagRow row;
  row.identifier = id;
  row.changed_at = clock_.Now();
  ASSIGN_OR_RETURN(std::optional<std::string> subject, SubjectOf(cache, KeyOf(id)));
  if (!subject.has_value()) return row;
  ASSIGN_OR_RETURN(std::vector<Involvement> open, ReadOpenInvolvements(cache, *subject));
  if (open.empty()) return row;
  row.flagged = true;
  row.involvement = FlagProjection(open.front());
  row.changed_at = FromTimestamp(open.front().updated_at());
  return row;
}

}  // namespace safeguard::registry
