// The cryptography both ends of the protocol share: SHA-256, DSSE pre-authenticated encoding,
// ECDSA P-256 signing with a node's certificate key, and checking a certificate against the
// partnership CA. Thin wrappers over OpenSSL 3.
#ifndef SAFEGUARD_CLIENTS_PROTOCOL_CRYPTO_H_
#define SAFEGUARD_CLIENTS_PROTOCOL_CRYPTO_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

struct evp_pkey_st;
struct x509_st;
struct x509_store_st;

namespace safeguard::protocol {

std::string Sha256(absl::string_view bytes);
std::string HexSha256(absl::string_view bytes);

// DSSE v1 pre-authenticated encoding:
// "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in ASCII decimal.
std::string PreAuthEncoding(absl::string_view payload_type, absl::string_view body);

// A parsed X.509 certificate. Thread-compatible; immutable after construction.
class Certificate {
 public:
  // Parsing an EC certificate costs ~140 µs in OpenSSL 3.0 (its key decoders), and a broker
  // sees the same few node certificates again and again, so parsed certificates are kept in a
  // small process-wide cache keyed by the DER bytes.
  static absl::StatusOr<Certificate> FromDer(absl::string_view der);
  static absl::StatusOr<Certificate> FromPem(absl::string_view pem);

  const std::string& der() const { return der_; }
  // Lowercase hex SHA-256 of the SubjectPublicKeyInfo (DER): the key id in envelopes.
  const std::string& keyid() const { return keyid_; }
  // URI SANs, e.g. spiffe://demo.example/gp/gp-riverside.
  const std::vector<std::string>& uris() const { return uris_; }
  x509_st* get() const { return x509_.get(); }
  evp_pkey_st* public_key() const;

 private:
  static absl::StatusOr<Certificate> ParseDer(absl::string_view der);
  struct X509Deleter {
    void operator()(x509_st* x) const;
  };
  std::shared_ptr<x509_st> x509_;
  std::string der_;
  std::string keyid_;
  std::vector<std::string> uris_;
};

// A node's (or the broker's) certificate and private key. Thread-safe.
class Signer {
 public:
  // REQUIRES: an ECDSA P-256 key that matches the certificate.
  static absl::StatusOr<std::shared_ptr<const Signer>> FromPem(absl::string_view certificate_pem,
                                                              absl::string_view private_key_pem);
  ~Signer();
  // ECDSA P-256 / SHA-256 over `message`, DER-encoded.
  absl::StatusOr<std::string> Sign(absl::string_view message) const;
  const Certificate& certificate() const { return certificate_; }
  // The certificate's single URI SAN.
  const std::string& uri() const { return certificate_.uris().front(); }

 private:
  Signer(Certificate certificate, evp_pkey_st* key) : certificate_(std::move(certificate)), key_(key) {}
  Certificate certificate_;
  evp_pkey_st* key_;
};

// Verifies an ECDSA P-256 / SHA-256 DER signature with the certificate's public key.
bool VerifySignature(const Certificate& certificate, absl::string_view message,
                     absl::string_view signature);

// The partnership CA, and optionally its CRLs. Thread-safe; immutable after construction.
class TrustAnchor {
 public:
  // `ca_pem` may hold several certificates; `crl_pems` are PEM CRLs (none: no revocation check).
  static absl::StatusOr<std::shared_ptr<const TrustAnchor>> FromPem(
      absl::string_view ca_pem, const std::vector<std::string>& crl_pems = {});
  // Reads every *.r0 .. *.r9 file in `directory` as a CRL (the layout safeguard-certs writes).
  static absl::StatusOr<std::vector<std::string>> ReadCrlDirectory(const std::string& directory);
  ~TrustAnchor();

  // OK if the certificate was issued by the partnership CA and was valid (and, with CRLs, not
  // revoked) at `at`. Otherwise the reason in plain words ("certificate has expired", …).
  absl::Status Verify(const Certificate& certificate, absl::Time at) const;

 private:
  explicit TrustAnchor(x509_store_st* store, bool check_crls)
      : store_(store), check_crls_(check_crls) {}
  x509_store_st* store_;
  bool check_crls_;
  // Certificates already verified against this anchor (and its CRLs), with their validity
  // window: a chain is checked once per anchor, not once per notification. A reload makes a new
  // anchor, so a new CRL always takes effect.
  struct Validity {
    absl::Time not_before;
    absl::Time not_after;
  };
  mutable absl::Mutex mu_;
  mutable std::map<std::string, Validity> verified_ ABSL_GUARDED_BY(mu_);
};

}  // namespace safeguard::protocol

#endif  // SAFEGUARD_CLIENTS_PROTOCOL_CRYPTO_H_
