#include "broker/policy/policy_store.h"

#include <utility>

namespace safeguard::policy {

absl::StatusOr<std::unique_ptr<PolicyStore>> PolicyStore::Open(std::string path) {
  auto policy = SharingPolicy::LoadFile(path);
  if (!policy.ok()) return policy.status();
  return std::make_unique<PolicyStore>(*std::move(policy), std::move(path));
}

PolicyStore::PolicyStore(std::shared_ptr<const SharingPolicy> initial, std::string path)
    : path_(std::move(path)), current_(std::move(initial)) {}

std::shared_ptr<const SharingPolicy> PolicyStore::Current() const {
  absl::ReaderMutexLock lock(&mu_);
  return current_;
}

absl::StatusOr<std::shared_ptr<const SharingPolicy>> PolicyStore::Reload(const std::string& path) {
  absl::MutexLock reload(&reload_mu_);
  const std::string& from = path.empty() ? path_ : path;
  if (from.empty()) {
    return absl::FailedPreconditionError("no policy file to reload: the store was given none");
  }
  // Read, parse, validate and compile outside mu_: readers keep the old policy meanwhile.
  auto fresh = SharingPolicy::LoadFile(from);
  if (!fresh.ok()) return fresh.status();
  std::shared_ptr<const SharingPolicy> old;
  {
    absl::MutexLock lock(&mu_);
    old = std::exchange(current_, *fresh);
  }
  if (!path.empty()) path_ = path;
  return *std::move(fresh);
  // `old` is released here, outside the lock, after any reader that still holds it is done.
}

}  // namespace safeguard::policy
