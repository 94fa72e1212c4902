#include "clients/protocol/crypto.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "clients/protocol/audit/internal/sha256.h"
#include "absl/strings/str_cat.h"

namespace safeguard::protocol {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace

std::string Sha256(absl::string_view bytes) {
  const std::array<uint8_t, 32> digest = audit::internal::Sha256({bytes});
  return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

std::string HexSha256(absl::string_view bytes) { return absl::BytesToHexString(Sha256(bytes)); }

std::string PreAuthEncoding(absl::string_view payload_type, absl::string_view body) {
  return absl::StrCat("DSSEv1 ", payload_type.size(), " ", payload_type, " ", body.size(), " ",
                      body);
}

void Certificate::X509Deleter::operator()(x509_st* x) const { X509_free(x); }

namespace {
constexpr size_t kCertificateCacheSize = 4096;
absl::Mutex g_certificate_cache_mu;
std::map<std::string, Certificate>& CertificateCache()
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_certificate_cache_mu) {
  static auto* cache = new std::map<std::string, Certificate>();
  return *cache;
}

absl::Time Asn1ToTime(const ASN1_TIME* t) {
  struct tm tm = {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return absl::InfinitePast();
  return absl::FromTM(tm, absl::UTCTimeZone());
}
}  // namespace

absl::StatusOr<Certificate> Certificate::FromDer(absl::string_view der) {
  std::string key(der);
  {
    absl::MutexLock lock(&g_certificate_cache_mu);
    auto it = CertificateCache().find(key);
    if (it != CertificateCache().end()) return it->second;
  }
  auto parsed = ParseDer(der);
  if (parsed.ok()) {
    absl::MutexLock lock(&g_certificate_cache_mu);
    auto& cache = CertificateCache();
    if (cache.size() >= kCertificateCacheSize) cache.clear();
    cache.emplace(std::move(key), *parsed);
  }
  return parsed;
}

absl::StatusOr<Certificate> Certificate::ParseDer(absl::string_view der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  X509* x = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (x == nullptr || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    X509_free(x);
    ERR_clear_error();
    return absl::InvalidArgumentError("not a DER X.509 certificate");
  }
  Certificate c;
  c.x509_.reset(x, X509Deleter());
  c.der_ = std::string(der);
  unsigned char* spki = nullptr;
  int spki_len = i2d_PUBKEY(X509_get0_pubkey(x), &spki);
  if (spki_len <= 0) return absl::InvalidArgumentError("certificate has no usable public key");
  c.keyid_ = HexSha256(absl::string_view(reinterpret_cast<char*>(spki), spki_len));
  OPENSSL_free(spki);
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_URI) {
      const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
      c.uris_.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                           ASN1_STRING_length(uri));
    }
  }
  GENERAL_NAMES_free(names);
  return c;
}

absl::StatusOr<Certificate> Certificate::FromPem(absl::string_view pem) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  if (x == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("not a PEM certificate");
  }
  unsigned char* der = nullptr;
  int len = i2d_X509(x, &der);
  X509_free(x);
  if (len <= 0) return absl::InvalidArgumentError("certificate cannot be encoded");
  std::string bytes(reinterpret_cast<char*>(der), len);
  OPENSSL_free(der);
  return FromDer(bytes);
}

evp_pkey_st* Certificate::public_key() const { return X509_get0_pubkey(x509_.get()); }

absl::StatusOr<std::shared_ptr<const Signer>> Signer::FromPem(absl::string_view certificate_pem,
                                                            absl::string_view private_key_pem) {
  auto cert = Certificate::FromPem(certificate_pem);
  if (!cert.ok()) return cert.status();
  if (cert->uris().size() != 1) {
    return absl::InvalidArgumentError("the certificate must carry exactly one URI SAN");
  }
  std::unique_ptr<BIO, BioFree> bio(
      BIO_new_mem_buf(private_key_pem.data(), static_cast<int>(private_key_pem.size())));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("not an unencrypted PEM private key");
  }
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC || EVP_PKEY_get_bits(key) != 256) {
    EVP_PKEY_free(key);
    return absl::InvalidArgumentError("the signing key must be ECDSA P-256");
  }
  if (X509_check_private_key(cert->get(), key) != 1) {
    EVP_PKEY_free(key);
    ERR_clear_error();
    return absl::InvalidArgumentError("the private key does not match the certificate");
  }
  return std::shared_ptr<const Signer>(new Signer(*std::move(cert), key));
}

Signer::~Signer() { EVP_PKEY_free(key_); }

absl::StatusOr<std::string> Signer::Sign(absl::string_view message) const {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  size_t length = 0;
  if (EVP_DigestSignInit(ctx.get(), nullptr, audit::internal::FetchedSha256(), nullptr, key_) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    return absl::InternalError(absl::StrCat("signing failed: ", OpenSslError()));
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1) {
    return absl::InternalError(absl::StrCat("signing failed: ", OpenSslError()));
  }
  signature.resize(length);
  return signature;
}

bool VerifySignature(const Certificate& certificate, absl::string_view message,
                     absl::string_view signature) {
  EVP_PKEY* key = certificate.public_key();
  if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return false;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  bool ok = EVP_DigestVerifyInit(ctx.get(), nullptr, audit::internal::FetchedSha256(), nullptr, key) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(),
                             reinterpret_cast<const unsigned char*>(message.data()),
                             message.size()) == 1;
  ERR_clear_error();
  return ok;
}

absl::StatusOr<std::shared_ptr<const TrustAnchor>> TrustAnchor::FromPem(
    absl::string_view ca_pem, const std::vector<std::string>& crl_pems) {
  X509_STORE* store = X509_STORE_new();
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size())));
  int cas = 0;
  while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, ca);
    X509_free(ca);
    ++cas;
  }
  ERR_clear_error();
  if (cas == 0) {
    X509_STORE_free(store);
    return absl::InvalidArgumentError("the partnership CA file holds no PEM certificate");
  }
  for (const std::string& pem : crl_pems) {
    std::unique_ptr<BIO, BioFree> crl_bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    X509_CRL* crl = PEM_read_bio_X509_CRL(crl_bio.get(), nullptr, nullptr, nullptr);
    if (crl == nullptr) {
      ERR_clear_error();
      X509_STORE_free(store);
      return absl::InvalidArgumentError("a CRL file is not a PEM CRL");
    }
    X509_STORE_add_crl(store, crl);
    X509_CRL_free(crl);
  }
  return std::shared_ptr<const TrustAnchor>(new TrustAnchor(store, !crl_pems.empty()));
}

absl::StatusOr<std::vector<std::string>> TrustAnchor::ReadCrlDirectory(
    const std::string& directory) {
  std::vector<std::string> crls;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(directory, ec)) {
    std::string ext = entry.path().extension().string();
    if (ext.size() != 3 || ext[1] != 'r' || !isdigit(static_cast<unsigned char>(ext[2]))) continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    crls.push_back(text.str());
  }
  if (ec) {
    return absl::NotFoundError(absl::StrCat("cannot read CRL directory ", directory, ": ",
                                            ec.message()));
  }
  return crls;
}

TrustAnchor::~TrustAnchor() { X509_STORE_free(store_); }

absl::Status TrustAnchor::Verify(const Certificate& certificate, absl::Time at) const {
  {
    absl::MutexLock lock(&mu_);
    auto it = verified_.find(certificate.der());
    if (it != verified_.end()) {
      if (at < it->second.not_before) return absl::PermissionDeniedError("certificate is not yet valid");
      if (at > it->second.not_after) return absl::PermissionDeniedError("certificate has expired");
      return absl::OkStatus();
    }
  }
  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store_, certificate.get(), nullptr);
  X509_STORE_CTX_set_time(ctx.get(), 0, absl::ToTimeT(at));
  if (check_crls_) X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_CRL_CHECK);
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return absl::PermissionDeniedError(X509_verify_cert_error_string(err));
  }
  // The chain verified at `at`; remember the leaf's window (the CA outlives its leaves).
  Validity validity{Asn1ToTime(X509_get0_notBefore(certificate.get())),
                    Asn1ToTime(X509_get0_notAfter(certificate.get()))};
  absl::MutexLock lock(&mu_);
  if (verified_.size() >= 4096) verified_.clear();
  verified_.emplace(certificate.der(), validity);
  return absl::OkStatus();
}

}  // namespace safeguard::protocol
