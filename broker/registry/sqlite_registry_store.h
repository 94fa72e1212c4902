// The plan registry kept in its own SQLite database (registry.db): people known by identifiers,
// involvements with their history, households, the children each node serves and the flag
// stream of every such node. See registry_store.h for the contract.
#ifndef SAFEGUARD_BROKER_REGISTRY_SQLITE_REGISTRY_STORE_H_
#define SAFEGUARD_BROKER_REGISTRY_SQLITE_REGISTRY_STORE_H_

#include <sqlite3.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "broker/registry/registry_store.h"
#include "broker/storage/internal/sqlite_statement.h"

namespace safeguard::registry {

// Thread-safe. Writes are serialised by `write_mu_` on the writer connection and fsync before
// they return (WAL, synchronous=FULL); reads use a second connection under `read_mu_`, so a
// routing look-up never waits for a write's fsync.
//
// Invariants:
//  * an identifier (scheme, issuer, value) belongs to at most one person; nothing ever moves an
//    identifier from one person to another (no silent merges);
//  * every involvement's and household's current version is in its table and every earlier
//    version in the matching *_history table;
//  * served.last_flag holds the flag state last appended to that node's stream for that
//    identifier (NULL: not flagged), so a row is appended exactly when the flag changes.
class SqliteRegistryStore final : public RegistryStore {
 public:
  // Opens or creates the registry database at `path`.
  static absl::StatusOr<std::unique_ptr<SqliteRegistryStore>> OpenSqlite(const std::string& path,
                                                                         const Clock& clock);
  ~SqliteRegistryStore() override;

  absl::StatusOr<safeguard::v1::PutInvolvementResponse> PutInvolvement(
      const std::string& publisher, const std::string& publisher_area,
      safeguard::v1::Involvement involvement) override;
  absl::StatusOr<safeguard::v1::PutInvolvementResponse> CloseInvolvement(
      const std::string& publisher, const safeguard::v1::CloseInvolvementRequest& request) override;
  absl::StatusOr<safeguard::v1::PutHouseholdResponse> PutHousehold(
      const std::string& publisher, const std::string& publisher_area,
      safeguard::v1::Household household) override;
  absl::StatusOr<safeguard::v1::UpdateServedChildrenResponse> UpdateServedChildren(
      const std::string& node, const safeguard::v1::UpdateServedChildrenRequest& request) override;

  absl::StatusOr<ChildMatch> MatchChild(
      const google::protobuf::RepeatedPtrField<safeguard::v1::SubjectIdentifier>& ids) override;
  absl::StatusOr<std::vector<safeguard::v1::Involvement>> OpenInvolvements(
      const std::string& subject_id) override;
  absl::StatusOr<std::vector<std::string>> HouseholdChildren(
      const std::string& subject_id) override;
  absl::StatusOr<std::vector<std::string>> ChildrenAtUprn(const std::string& uprn) override;
  absl::StatusOr<std::vector<std::string>> ServingNodes(const std::string& subject_id) override;
  absl::StatusOr<std::vector<std::string>> ServingNodesOf(
      const google::protobuf::RepeatedPtrField<safeguard::v1::SubjectIdentifier>& ids) override;

  absl::StatusOr<std::vector<safeguard::v1::Involvement>> AllOpenInvolvements() override;

  absl::StatusOr<safeguard::v1::ChildRecord> GetChild(
      const safeguard::v1::SubjectIdentifier& identifier) override;
  absl::StatusOr<std::vector<FlagRow>> ReadFlags(const std::string& node, uint64_t after_cursor,
                                                 int limit) override;
  absl::StatusOr<FlagRow> CurrentFlag(const safeguard::v1::SubjectIdentifier& identifier) override;

  void SetFlagListener(FlagListener listener) override;

 private:
  using StatementCache = storage::internal::StatementCache;

  SqliteRegistryStore(const Clock& clock, sqlite3* writer, sqlite3* reader);

  // Runs `body` in one IMMEDIATE transaction on the writer and commits (fsync) if it succeeds;
  // rolls back otherwise. Returns the nodes whose flag streams gained rows.
  absl::Status InWriteTransaction(const std::function<absl::Status()>& body,
                                  std::vector<std::string>* flagged_nodes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  void NotifyListener(const std::vector<std::string>& nodes);

  const Clock& clock_;

  absl::Mutex write_mu_;
  sqlite3* const writer_;
  std::unique_ptr<StatementCache> writer_statements_ ABSL_GUARDED_BY(write_mu_);

  absl::Mutex read_mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  sqlite3* const reader_;
  std::unique_ptr<StatementCache> reader_statements_ ABSL_GUARDED_BY(read_mu_);

  // Most notifications are about children the registry does not know, and each is matched
  // once to route it and again by the cumulative-concern rules: identifier sets found unmatched
  // are remembered with the write generation they were read at, and forgotten by any write.
  std::atomic<uint64_t> write_generation_{0};  // incremented after every committed write
  absl::flat_hash_map<std::string, uint64_t> unmatched_ ABSL_GUARDED_BY(read_mu_);

  absl::Mutex listener_mu_;
  FlagListener listener_ ABSL_GUARDED_BY(listener_mu_);
};

}  // namespace safeguard::registry

#endif  // SAFEGUARD_BROKER_REGISTRY_SQLITE_REGISTRY_STORE_H_
