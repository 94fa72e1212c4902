// Reads the audit log from the store's database on a connection of its own: checkpoints,
// entries, proofs at any committed size, search and reports. Appends happen in SqliteStore.
#ifndef SAFEGUARD_BROKER_STORAGE_SQLITE_AUDIT_READER_H_
#define SAFEGUARD_BROKER_STORAGE_SQLITE_AUDIT_READER_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clients/protocol/audit/merkle.h"
#include "safeguard/v1/audit.pb.h"

struct sqlite3;

namespace safeguard::storage {
namespace internal {
class StatementCache;
}

struct StoredCheckpoint {
  uint64_t size = 0;
  std::string note;
};

struct AuditQuery {
  std::optional<std::string> child_ref;
  std::string agency;
  std::optional<absl::Time> from, to;
  int notification_type = 0;
  int event = 0;
  int limit = 100;
};

// Thread-safe (one connection behind a mutex).
class SqliteAuditReader {
 public:
  static absl::StatusOr<std::unique_ptr<SqliteAuditReader>> Open(const std::string& data_directory);
  ~SqliteAuditReader();

  absl::StatusOr<std::optional<StoredCheckpoint>> LatestCheckpoint();
  // Leaf bytes of entries [start, end).
  absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> Entries(uint64_t start,
                                                                        uint64_t end);
  absl::StatusOr<std::vector<audit::Hash>> InclusionProof(uint64_t leaf, uint64_t tree_size);
  // The inclusion proofs of `leaves` at one size, in that order, reading each node they share
  // once (an export's page of consecutive entries shares most of them).
  absl::StatusOr<std::vector<std::vector<audit::Hash>>> InclusionProofs(
      const std::vector<uint64_t>& leaves, uint64_t tree_size);
  absl::StatusOr<std::vector<audit::Hash>> ConsistencyProof(uint64_t old_size, uint64_t new_size);
  // Matching entries, newest last, at most query.limit.
  absl::StatusOr<std::vector<std::pair<uint64_t, std::string>>> Search(const AuditQuery& query);
  absl::StatusOr<safeguard::v1::Report> Report(std::optional<absl::Time> from,
                                               std::optional<absl::Time> to);

 private:
  explicit SqliteAuditReader(sqlite3* db);
  absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<internal::StatementCache> statements_ ABSL_GUARDED_BY(mu_);
};

}  // namespace safeguard::storage

#endif  // SAFEGUARD_BROKER_STORAGE_SQLITE_AUDIT_READER_H_
