#include "broker/identity/trust_store.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace safeguard::identity {

absl::StatusOr<std::unique_ptr<TrustStore>> TrustStore::Load(std::string ca_file,
                                                             std::string crl_directory,
                                                             absl::Duration reload_interval,
                                                             const Clock& clock) {
  std::unique_ptr<TrustStore> store(
      new TrustStore(std::move(ca_file), std::move(crl_directory), reload_interval, clock));
  auto anchor = store->Read();
  if (!anchor.ok()) return anchor.status();
  absl::MutexLock lock(&store->mu_);
  store->current_ = *std::move(anchor);
  store->loaded_at_ = clock.Now();
  return store;
}

absl::StatusOr<std::shared_ptr<const protocol::TrustAnchor>> TrustStore::Read() const {
  std::ifstream in(ca_file_);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the partnership CA ", ca_file_));
  std::stringstream ca;
  ca << in.rdbuf();
  std::vector<std::string> crls;
  if (!crl_directory_.empty()) {
    auto read = protocol::TrustAnchor::ReadCrlDirectory(crl_directory_);
    if (!read.ok()) return read.status();
    crls = *std::move(read);
  }
  auto anchor = protocol::TrustAnchor::FromPem(ca.str(), crls);
  if (!anchor.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(ca_file_, ": ", anchor.status().message()));
  }
  return anchor;
}

std::shared_ptr<const protocol::TrustAnchor> TrustStore::Current() {
  absl::MutexLock lock(&mu_);
  if (clock_.Now() - loaded_at_ >= reload_interval_) {
    loaded_at_ = clock_.Now();
    auto anchor = Read();
    if (anchor.ok()) current_ = *std::move(anchor);  // else: keep the last good one
  }
  return current_;
}

}  // namespace safeguard::identity
