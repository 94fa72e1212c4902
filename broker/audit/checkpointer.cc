#include "broker/audit/checkpointer.h"

#include "clients/protocol/audit/checkpoint.h"

namespace safeguard::audit_log {

Checkpointer::Checkpointer(const AuditKeys& keys, storage::Store& store,
                           storage::SqliteAuditReader& reader, absl::Duration interval)
    : keys_(keys), store_(store), interval_(interval) {
  // Resume from the last stored checkpoint, so the first new one is consistent with it.
  if (auto stored = reader.LatestCheckpoint(); stored.ok() && stored->has_value()) {
    auto parsed = audit::VerifyCheckpoint((*stored)->note, keys_.checkpoint_signer().verifier());
    if (parsed.ok()) {
      absl::MutexLock lock(&mu_);
      latest_ = PublishedCheckpoint{
          parsed->size, std::string(audit::AsBytes(parsed->root)),
          (*stored)->note};
    }
  }
  thread_ = std::thread([this] { Run(); });
}

Checkpointer::~Checkpointer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void Checkpointer::PublishNow() {
  storage::TreeHead head = store_.CommittedTreeHead();
  {
    absl::MutexLock lock(&mu_);
    if (head.size == 0 || (latest_ && latest_->size >= head.size)) return;
  }
  audit::Checkpoint checkpoint;
  checkpoint.origin = keys_.origin();
  checkpoint.size = head.size;
  std::copy(head.root.begin(), head.root.end(), checkpoint.root.begin());
  auto note = audit::SignCheckpoint(checkpoint, keys_.checkpoint_signer());
  if (!note.ok()) return;
  store_.SaveCheckpoint(head.size, *note);
  absl::MutexLock lock(&mu_);
  latest_ = PublishedCheckpoint{head.size, head.root, *std::move(note)};
}

std::optional<PublishedCheckpoint> Checkpointer::Latest() const {
  absl::MutexLock lock(&mu_);
  return latest_;
}

void Checkpointer::Run() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval_)) return;
    }
    PublishNow();
  }
}

}  // namespace safeguard::audit_log
