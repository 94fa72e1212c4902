// Publishes signed checkpoints of the audit log: at most every `interval`, when the log has
// grown, signs "<origin>\n<size>\n<root>\n" as a C2SP signed note and stores it durably.
#ifndef SAFEGUARD_BROKER_AUDIT_CHECKPOINTER_H_
#define SAFEGUARD_BROKER_AUDIT_CHECKPOINTER_H_

#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/audit/audit_keys.h"
#include "broker/storage/sqlite_audit_reader.h"
#include "broker/storage/store.h"

namespace safeguard::audit_log {

struct PublishedCheckpoint {
  uint64_t size = 0;
  std::string root;  // 32 bytes
  std::string note;
};

// Thread-safe. Runs one thread of its own.
//
// Invariants: checkpoints only grow; each covers a size the store had committed, so a crash
// between a commit and a checkpoint leaves the last checkpoint consistent with the log.
class Checkpointer {
 public:
  Checkpointer(const AuditKeys& keys, storage::Store& store, storage::SqliteAuditReader& reader,
               absl::Duration interval);
  ~Checkpointer();

  // Signs and stores a checkpoint now if the log grew since the last one.
  void PublishNow();
  std::optional<PublishedCheckpoint> Latest() const;

 private:
  void Run();

  const AuditKeys& keys_;
  storage::Store& store_;
  const absl::Duration interval_;
  mutable absl::Mutex mu_;
  std::optional<PublishedCheckpoint> latest_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace safeguard::audit_log

#endif  // SAFEGUARD_BROKER_AUDIT_CHECKPOINTER_H_
