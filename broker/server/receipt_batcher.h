// Signs the broker's receipts in batches. Receipts are asked for from any thread (the store's
// committer hands over a whole commit's acceptances in a row); the first one asked for while
// none is waiting posts one signing task, which signs everything waiting when it runs with one
// signature over the Merkle root of the bodies (protocol::SignReceipts), and goes on until
// nothing is left. A lone receipt is signed as before (no batch), so batching costs nothing at
// low load and saves a signature per receipt under load.
#ifndef SAFEGUARD_BROKER_SERVER_RECEIPT_BATCHER_H_
#define SAFEGUARD_BROKER_SERVER_RECEIPT_BATCHER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "clients/protocol/crypto.h"
#include "safeguard/v1/envelope.pb.h"

namespace safeguard::server {

// Thread-safe.
class ReceiptBatcher {
 public:
  using Done = absl::AnyInvocable<void(absl::StatusOr<safeguard::v1::Receipt>) &&>;

  // Runs work on another thread (BrokerService's WorkQueue).
  using Post = std::function<void(absl::AnyInvocable<void()>)>;

  // `max_batch` is at most protocol::kMaxReceiptBatch.
  ReceiptBatcher(std::shared_ptr<const protocol::Signer> signer, Post post,
                 size_t max_batch = 512);

  // Returns at once. `done` is called with the signed receipt (or the signing error) by the
  // posted signing task, after the others of its batch were signed; never under a lock.
  void Sign(safeguard::v1::ReceiptBody body, Done done);

  // Batches signed so far and receipts in them (for tests and figures).
  struct Counts {
    uint64_t signatures = 0;
    uint64_t receipts = 0;
  };
  Counts counts() const;

 private:
  // The signing task: signs batches until nothing waits.
  void SignWaiting();

  struct Waiting {
    safeguard::v1::ReceiptBody body;
    Done done;
  };

  const std::shared_ptr<const protocol::Signer> signer_;
  const Post post_;
  const size_t max_batch_;
  mutable absl::Mutex mu_;
  bool signing_ ABSL_GUARDED_BY(mu_) = false;  // a signing task is posted or running
  std::vector<Waiting> waiting_ ABSL_GUARDED_BY(mu_);
  Counts counts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace safeguard::server

#endif  // SAFEGUARD_BROKER_SERVER_RECEIPT_BATCHER_H_
