// Holds the sharing policy in force and replaces it only with one that loaded and validated
// completely: a broken file is refused with file:line:column and the old policy stays in force.
//
//   ASSIGN_OR_RETURN(auto store, PolicyStore::Open("/etc/safeguard/policy.yaml"));
//   std::shared_ptr<const SharingPolicy> policy = store->Current();  // per notification
//   absl::Status s = store->Reload();  // e.g. on SIGHUP; on error keep serving, log s
//
// A caller keeps the shared_ptr it got for as long as it needs one consistent policy (one
// notification's recipients), so a reload never changes a decision half-way.
#ifndef SAFEGUARD_BROKER_POLICY_POLICY_STORE_H_
#define SAFEGUARD_BROKER_POLICY_POLICY_STORE_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "broker/policy/sharing_policy.h"

namespace safeguard::policy {

// Thread-safe.
class PolicyStore {
 public:
  // Loads `path`; fails (as SharingPolicy::LoadFile does) if the first policy is not valid.
  static absl::StatusOr<std::unique_ptr<PolicyStore>> Open(std::string path);
  // Starts with a policy already loaded (tests, or a policy built from text).
  explicit PolicyStore(std::shared_ptr<const SharingPolicy> initial, std::string path = "");

  // The policy in force. Never null. Cheap: a reader lock and a shared_ptr copy.
  std::shared_ptr<const SharingPolicy> Current() const ABSL_LOCKS_EXCLUDED(mu_);

  // Loads and validates `path` (or the path given at Open when empty) completely, then swaps
  // it in atomically. On any error returns it and leaves the policy in force unchanged.
  // Returns the newly current policy. Reloads are serialised; Current() never waits for the
  // file to be read or compiled.
  absl::StatusOr<std::shared_ptr<const SharingPolicy>> Reload(const std::string& path = "")
      ABSL_LOCKS_EXCLUDED(reload_mu_, mu_);

 private:
  absl::Mutex reload_mu_ ABSL_ACQUIRED_BEFORE(mu_);  // one reload at a time
  std::string path_ ABSL_GUARDED_BY(reload_mu_);
  mutable absl::Mutex mu_;
  std::shared_ptr<const SharingPolicy> current_ ABSL_GUARDED_BY(mu_);
};

}  // namespace safeguard::policy

#endif  // SAFEGUARD_BROKER_POLICY_POLICY_STORE_H_
