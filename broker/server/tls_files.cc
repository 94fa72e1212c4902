#include "broker/server/tls_files.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"

namespace safeguard::server {
namespace {

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct StoreFree {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};

absl::Status Problem(const std::string& path, absl::string_view what) {
  return absl::FailedPreconditionError(absl::StrCat(path, ": ", what));
}

}  // namespace

absl::Status CheckTlsFiles(const config::Tls& tls) {
  auto open = [](const std::string& path) {
    return std::unique_ptr<FILE, FileCloser>(std::fopen(path.c_str(), "r"));
  };
  auto cert_file = open(tls.certificate());
  if (!cert_file) return Problem(tls.certificate(), "cannot read the broker's certificate");
  std::unique_ptr<X509, X509Free> cert(PEM_read_X509(cert_file.get(), nullptr, nullptr, nullptr));
  if (!cert) return Problem(tls.certificate(), "is not a PEM certificate");

  auto key_file = open(tls.private_key());
  if (!key_file) return Problem(tls.private_key(), "cannot read the broker's private key");
  std::unique_ptr<EVP_PKEY, KeyFree> key(
      PEM_read_PrivateKey(key_file.get(), nullptr, nullptr, nullptr));
  if (!key) return Problem(tls.private_key(), "is not an unencrypted PEM private key");
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return Problem(tls.private_key(),
                   absl::StrCat("does not match the certificate ", tls.certificate()));
  }

  auto ca_file = open(tls.ca_certificate());
  if (!ca_file) return Problem(tls.ca_certificate(), "cannot read the partnership CA");
  std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
  int cas = 0;
  while (X509* ca = PEM_read_X509(ca_file.get(), nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store.get(), ca);
    X509_free(ca);
    ++cas;
  }
  ERR_clear_error();
  if (cas == 0) return Problem(tls.ca_certificate(), "holds no PEM certificate");

  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr);
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    return Problem(tls.certificate(),
                   absl::StrCat("does not verify against ", tls.ca_certificate(), ": ",
                                X509_verify_cert_error_string(err)));
  }
  return absl::OkStatus();
}

}  // namespace safeguard::server
