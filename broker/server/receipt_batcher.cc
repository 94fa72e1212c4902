#include "broker/server/receipt_batcher.h"

#include <algorithm>
#include <iterator>

#include "clients/protocol/envelope.h"

namespace safeguard::server {

ReceiptBatcher::ReceiptBatcher(std::shared_ptr<const protocol::Signer> signer, Post post,
                               size_t max_batch)
    : signer_(std::move(signer)),
      post_(std::move(post)),
      max_batch_(std::clamp<size_t>(max_batch, 1, protocol::kMaxReceiptBatch)) {}

void ReceiptBatcher::Sign(safeguard::v1::ReceiptBody body, Done done) {
  {
    absl::MutexLock lock(&mu_);
    waiting_.push_back(Waiting{std::move(body), std::move(done)});
    if (signing_) return;  // the task posted (or running) takes it
    signing_ = true;
  }
  post_([this] { SignWaiting(); });
}

void ReceiptBatcher::SignWaiting() {
  for (;;) {
    std::vector<Waiting> batch;
    {
      absl::MutexLock lock(&mu_);
      if (waiting_.empty()) {
        signing_ = false;
        return;
      }
      if (waiting_.size() <= max_batch_) {
        batch.swap(waiting_);
      } else {
        auto end = waiting_.begin() + static_cast<std::ptrdiff_t>(max_batch_);
        batch.assign(std::make_move_iterator(waiting_.begin()), std::make_move_iterator(end));
        waiting_.erase(waiting_.begin(), end);
      }
      ++counts_.signatures;
      counts_.receipts += batch.size();
    }
    std::vector<safeguard::v1::ReceiptBody> bodies;
    bodies.reserve(batch.size());
    for (Waiting& w : batch) bodies.push_back(std::move(w.body));
    auto receipts = protocol::SignReceipts(bodies, *signer_);
    for (size_t i = 0; i < batch.size(); ++i) {
      if (receipts.ok()) {
        std::move(batch[i].done)(std::move((*receipts)[i]));
      } else {
        std::move(batch[i].done)(receipts.status());
      }
    }
  }
}

ReceiptBatcher::Counts ReceiptBatcher::counts() const {
  absl::MutexLock lock(&mu_);
  return counts_;
}

}  // namespace safeguard::server
