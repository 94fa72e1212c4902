#include "broker/storage/sqlite_audit_reader.h"

#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "broker/storage/internal/merkle_nodes.h"
#include "broker/storage/internal/sqlite_statement.h"
#include "google/protobuf/util/time_util.h"

namespace safeguard::storage {

using internal::Statement;
using internal::StatementCache;

namespace {

absl::Status ReadError(sqlite3* db, int rc, absl::string_view what) {
  return absl::UnavailableError(absl::StrCat("reading the audit log (", what, "): ",
                                             sqlite3_errstr(rc), " ", sqlite3_errmsg(db)));
}

std::string TypeName(int type) {
  std::string name = safeguard::v1::NotificationType_Name(
      static_cast<safeguard::v1::NotificationType>(type));
  constexpr absl::string_view kPrefix = "NOTIFICATION_TYPE_";
  if (absl::string_view(name).substr(0, kPrefix.size()) == kPrefix) name = name.substr(kPrefix.size());
  std::transform(name.begin(), name.end(), name.begin(),
                 [](char c) { return c == '_' ? '-' : static_cast<char>(std::tolower(c)); });
  return name;
}

void AddCounts(const std::map<std::string, uint64_t>& counts,
               google::protobuf::RepeatedPtrField<safeguard::v1::Report::Count>* out) {
  for (const auto& [key, n] : counts) {
    auto* c = out->Add();
    c->set_key(key);
    c->set_count(n);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteAuditReader>> SqliteAuditReader::Open(
    const std::string& data_directory) {
  sqlite3* db = nullptr;
  std::string path = data_directory + "/broker.db";
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat("cannot open ", path, " to read the audit log"));
  }
  sqlite3_busy_timeout(db, 10000);
  return std::unique_ptr<SqliteAuditReader>(new SqliteAuditReader(db));
}

SqliteAuditReader::SqliteAuditReader(sqlite3* db)
    : db_(db), statements_(std::make_unique<StatementCache>(db)) {}

SqliteAuditReader::~SqliteAuditReader() {
  absl::MutexLock lock(&mu_);
  statements_.reset();
  sqlite3_close(db_);
}

absl::StatusOr<std::optional<StoredCheckpoint>> SqliteAuditReader::LatestCheckpoint() {
  absl::MutexLock lock(&mu_);
  Statement read(*statements_, "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1");
  int rc = read.Step();
  if (rc == SQLITE_DONE) return std::optional<StoredCheckpoint>();
  if (rc != SQLITE_ROW) return ReadError(db_, rc, "checkpoint");
  return std::optional<StoredCheckpoint>(
      StoredCheckpoint{static_cast<uint64_t>(read.Int(0)), read.Text(1)});
}

absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> SqliteAuditReader::Entries(
    uint64_t start, uint64_t end) {
  absl::MutexLock lock(&mu_);
  Statement read(*statements_,
                 "SELECT idx, leaf FROM audit_entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx");
  read.Bind(1, static_cast<int64_t>(start));
  read.Bind(2, static_cast<int64_t>(end));
  std::vector<std::pair<uint64_t, std::string>> out;
  int rc;
  while ((rc = read.Step()) == SQLITE_ROW) out.emplace_back(read.Int(0), read.Blob(1));
  if (rc != SQLITE_DONE) return ReadError(db_, rc, "entries");
  return out;
}

absl::StatusOr<std::vector<audit::Hash>> SqliteAuditReader::InclusionProof(uint64_t leaf,
                                                                           uint64_t tree_size) {
  absl::StatusOr<std::vector<std::vector<audit::Hash>>> proofs = InclusionProofs({leaf}, tree_size);
  if (!proofs.ok()) return proofs.status();
  return std::move(proofs->front());
}

absl::StatusOr<std::vector<std::vector<audit::Hash>>> SqliteAuditReader::InclusionProofs(
    const std::vector<uint64_t>& leaves, uint64_t tree_size) {
  absl::MutexLock lock(&mu_);
  internal::StoredMerkleNodes nodes(*statements_);
  std::vector<std::vector<audit::Hash>> proofs;
  proofs.reserve(leaves.size());
  for (uint64_t leaf : leaves) {
    absl::StatusOr<std::vector<audit::Hash>> proof = audit::InclusionProof(leaf, tree_size, nodes);
    if (!proof.ok()) return proof.status();
    proofs.push_back(*std::move(proof));
  }
  return proofs;
}

absl::StatusOr<std::vector<audit::Hash>> SqliteAuditReader::ConsistencyProof(uint64_t old_size,
                                                                             uint64_t new_size) {
  absl::MutexLock lock(&mu_);
  internal::StoredMerkleNodes nodes(*statements_);
  return audit::ConsistencyProof(old_size, new_size, nodes);
}

absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> SqliteAuditReader::Search(
    const AuditQuery& q) {
  absl::MutexLock lock(&mu_);
  Statement read(*statements_,
                 "SELECT e.idx, e.leaf FROM audit_entries e WHERE "
                 "(?1 IS NULL OR e.idx IN (SELECT idx FROM audit_child_refs WHERE ref = ?1)) AND "
                 "(?2 = '' OR e.actor = ?2 OR e.counterpart = ?2) AND "
                 "(?3 IS NULL OR e.time_us >= ?3) AND (?4 IS NULL OR e.time_us < ?4) AND "
                 "(?5 = 0 OR e.notification_type = ?5) AND (?6 = 0 OR e.event = ?6) "
                 "ORDER BY e.idx LIMIT ?7");
  if (q.child_ref) {
    read.BindBlob(1, *q.child_ref);
  } else {
    read.BindNull(1);
  }
  read.Bind(2, q.agency);
  if (q.from) read.Bind(3, absl::ToUnixMicros(*q.from)); else read.BindNull(3);
  if (q.to) read.Bind(4, absl::ToUnixMicros(*q.to)); else read.BindNull(4);
  read.Bind(5, static_cast<int64_t>(q.notification_type));
  read.Bind(6, static_cast<int64_t>(q.event));
  read.Bind(7, static_cast<int64_t>(q.limit));
  std::vector<std::pair<uint64_t, std::string>> out;
  int rc;
  while ((rc = read.Step()) == SQLITE_ROW) out.emplace_back(read.Int(0), read.Blob(1));
  if (rc != SQLITE_DONE) return ReadError(db_, rc, "search");
  return out;
}

absl::StatusOr<safeguard::v1::Report> SqliteAuditReader::Report(std::optional<absl::Time> from,
                                                                std::optional<absl::Time> to) {
  absl::MutexLock lock(&mu_);
  Statement read(*statements_,
                 "SELECT leaf FROM audit_entries WHERE (?1 IS NULL OR time_us >= ?1) AND "
                 "(?2 IS NULL OR time_us < ?2) ORDER BY idx");
  if (from) read.Bind(1, absl::ToUnixMicros(*from)); else read.BindNull(1);
  if (to) read.Bind(2, absl::ToUnixMicros(*to)); else read.BindNull(2);

  std::map<std::string, uint64_t> by_type, by_agency, by_month, withheld, refused;
  std::map<std::string, std::pair<std::string, absl::Time>> submitted;  // id -> (sender, time)
  std::set<std::pair<std::string, std::string>> shared;                 // (id, recipient)
  std::set<std::string> acked_ids;
  std::vector<double> seconds_to_ack;
  uint64_t deliveries = 0, acknowledged = 0, escalated = 0;
  int rc;
  while ((rc = read.Step()) == SQLITE_ROW) {
    safeguard::v1::AuditEntry e;
    if (!e.ParseFromString(read.Blob(0))) continue;
    absl::Time t = absl::FromUnixMicros(
        google::protobuf::util::TimeUtil::TimestampToMicroseconds(e.time()));
    switch (e.event()) {
      case safeguard::v1::AUDIT_EVENT_SUBMITTED:
        by_type[TypeName(e.notification_type())]++;
        by_agency[e.actor()]++;
        by_month[absl::FormatTime("%Y-%m", t, absl::UTCTimeZone())]++;
        submitted[e.notification_id()] = {e.actor(), t};
        break;
      case safeguard::v1::AUDIT_EVENT_POLICY_DECISION:
        if (e.fields_withheld_size() > 0) withheld[e.reason()]++;
        if (e.fields_shared_size() > 0) shared.insert({e.notification_id(), e.counterpart()});
        break;
      case safeguard::v1::AUDIT_EVENT_REFUSED:
        refused[e.reason().substr(0, 120)]++;
        break;
      case safeguard::v1::AUDIT_EVENT_DELIVERED:
        deliveries++;
        break;
      case safeguard::v1::AUDIT_EVENT_ACKNOWLEDGED: {
        acknowledged++;
        acked_ids.insert(e.notification_id());
        auto it = submitted.find(e.notification_id());
        if (it != submitted.end()) {
          seconds_to_ack.push_back(absl::ToDoubleSeconds(t - it->second.second));
        }
        break;
      }
      case safeguard::v1::AUDIT_EVENT_ESCALATED:
        escalated++;
        break;
      default:
        break;
    }
  }
  if (rc != SQLITE_DONE) return ReadError(db_, rc, "report");
  safeguard::v1::Report report;
  AddCounts(by_type, report.mutable_submitted_by_type());
  AddCounts(by_agency, report.mutable_submitted_by_agency());
  AddCounts(by_month, report.mutable_submitted_by_month());
  AddCounts(withheld, report.mutable_withheld_by_reason());
  AddCounts(refused, report.mutable_refused_by_reason());
  report.set_deliveries(deliveries);
  report.set_acknowledged(acknowledged);
  report.set_unacknowledged(shared.size() > acknowledged ? shared.size() - acknowledged : 0);
  std::sort(seconds_to_ack.begin(), seconds_to_ack.end());
  if (!seconds_to_ack.empty()) {
    report.set_median_seconds_to_acknowledge(seconds_to_ack[seconds_to_ack.size() / 2]);
    report.set_p90_seconds_to_acknowledge(seconds_to_ack[seconds_to_ack.size() * 9 / 10]);
  }
  std::map<std::string, uint64_t> acked_by_source, unacked_by_source;
  for (const auto& [id, sender_time] : submitted) {
    (acked_ids.count(id) ? acked_by_source : unacked_by_source)[sender_time.first]++;
  }
  AddCounts(acked_by_source, report.mutable_acknowledged_by_source());
  AddCounts(unacked_by_source, report.mutable_unacknowledged_by_source());
  report.set_escalated(escalated);
  return report;
}

}  // namespace safeguard::storage
