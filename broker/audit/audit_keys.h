// The broker's audit-log keys, created on first start in the data directory: the Ed25519 key
// that signs checkpoints (C2SP signed note) and the HMAC key that turns child identifiers into
// pseudonymous references for the log.
#ifndef SAFEGUARD_BROKER_AUDIT_AUDIT_KEYS_H_
#define SAFEGUARD_BROKER_AUDIT_AUDIT_KEYS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "clients/protocol/audit/checkpoint.h"
#include "safeguard/v1/notification.pb.h"

struct evp_mac_ctx_st;

namespace safeguard::audit_log {

// Immutable after loading; thread-safe.
class AuditKeys {
 public:
  // Reads <dir>/checkpoint.key and <dir>/pseudonym.key, creating them (mode 0600) if missing,
  // and writes the public verifier key to <dir>/checkpoint.pub for auditors to pin.
  // `origin` names the log, e.g. "demo.safeguarding.example/audit".
  static absl::StatusOr<std::unique_ptr<AuditKeys>> LoadOrCreate(const std::string& dir,
                                                                 const std::string& origin);

  const audit::NoteSigner& checkpoint_signer() const { return *signer_; }
  const std::string& origin() const { return origin_; }
  // HMAC-SHA-256(pseudonym key, "<scheme number>:<value>"): the same child always gets the same
  // reference, and the reference reveals nothing without the key.
  std::string ChildReference(const safeguard::v1::SubjectIdentifier& identifier) const;

 private:
  AuditKeys(std::string origin, std::unique_ptr<audit::NoteSigner> signer, std::string hmac_key);
  std::string origin_;
  std::unique_ptr<audit::NoteSigner> signer_;
  std::string hmac_key_;
  // HMAC-SHA-256 keyed once; each reference works on a copy (never written after construction,
  // so copies may be taken from several threads).
  std::shared_ptr<evp_mac_ctx_st> hmac_template_;
};

}  // namespace safeguard::audit_log

#endif  // SAFEGUARD_BROKER_AUDIT_AUDIT_KEYS_H_
