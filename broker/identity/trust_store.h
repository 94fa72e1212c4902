// The partnership CA and CRLs the broker checks signatures against, re-read from disk
// periodically so that a new CRL takes effect without a restart.
#ifndef SAFEGUARD_BROKER_IDENTITY_TRUST_STORE_H_
#define SAFEGUARD_BROKER_IDENTITY_TRUST_STORE_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/common/clock.h"
#include "clients/protocol/crypto.h"

namespace safeguard::identity {

// Thread-safe.
class TrustStore {
 public:
  // Loads the CA file and (if `crl_directory` is not empty) every CRL in it; fails with what is
  // wrong. Reloads at most every `reload_interval`.
  static absl::StatusOr<std::unique_ptr<TrustStore>> Load(std::string ca_file,
                                                          std::string crl_directory,
                                                          absl::Duration reload_interval,
                                                          const Clock& clock);

  // The current trust anchor. If a periodic reload fails, the last good one stays in force.
  std::shared_ptr<const protocol::TrustAnchor> Current();

 private:
  TrustStore(std::string ca_file, std::string crl_directory, absl::Duration reload_interval,
             const Clock& clock)
      : ca_file_(std::move(ca_file)),
        crl_directory_(std::move(crl_directory)),
        reload_interval_(reload_interval),
        clock_(clock) {}
  absl::StatusOr<std::shared_ptr<const protocol::TrustAnchor>> Read() const;

  const std::string ca_file_;
  const std::string crl_directory_;
  const absl::Duration reload_interval_;
  const Clock& clock_;
  absl::Mutex mu_;
  std::shared_ptr<const protocol::TrustAnchor> current_ ABSL_GUARDED_BY(mu_);
  absl::Time loaded_at_ ABSL_GUARDED_BY(mu_);
};

}  // namespace safeguard::identity

#endif  // SAFEGUARD_BROKER_IDENTITY_TRUST_STORE_H_
