#include "broker/audit/audit_keys.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace safeguard::audit_log {
namespace {

absl::StatusOr<std::string> ReadSecret(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Writes a new secret file atomically with mode 0600 and syncs it before it is used.
absl::Status WriteSecret(const std::string& path, absl::string_view bytes) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::FailedPreconditionError(absl::StrCat("cannot create ", tmp));
  bool ok = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<AuditKeys>> AuditKeys::LoadOrCreate(const std::string& dir,
                                                                   const std::string& origin) {
  std::string signer_path = dir + "/checkpoint.key";
  auto signer_key = ReadSecret(signer_path);
  if (!signer_key.ok()) {
    auto generated = audit::GenerateNoteKey(origin);
    if (!generated.ok()) return generated.status();
    if (auto s = WriteSecret(signer_path, generated->signer_key); !s.ok()) return s;
    signer_key = generated->signer_key;
  }
  auto signer = audit::NoteSigner::FromKey(absl::StripAsciiWhitespace(*signer_key));
  if (!signer.ok()) {
    return absl::DataLossError(absl::StrCat(signer_path, ": not a checkpoint signing key: ",
                                            signer.status().message()));
  }
  if (signer->name() != origin) {
    return absl::FailedPreconditionError(absl::StrCat(
        signer_path, " signs for log '", signer->name(), "' but this broker's log is '", origin,
        "'; was the partnership renamed?"));
  }
  std::string pub = dir + "/checkpoint.pub";
  std::ofstream(pub) << signer->verifier_key() << "\n";

  std::string hmac_path = dir + "/pseudonym.key";
  auto hmac_key = ReadSecret(hmac_path);
  if (!hmac_key.ok()) {
    std::string key(32, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), 32) != 1) {
      return absl::InternalError("no randomness for the pseudonym key");
    }
    if (auto s = WriteSecret(hmac_path, key); !s.ok()) return s;
    hmac_key = key;
  }
  if (hmac_key->size() != 32) {
    return absl::DataLossError(absl::StrCat(hmac_path, ": must hold 32 bytes"));
  }
  return std::unique_ptr<AuditKeys>(new AuditKeys(
      origin, std::make_unique<audit::NoteSigner>(*std::move(signer)), *std::move(hmac_key)));
}

AuditKeys::AuditKeys(std::string origin, std::unique_ptr<audit::NoteSigner> signer,
                     std::string hmac_key)
    : origin_(std::move(origin)), signer_(std::move(signer)), hmac_key_(std::move(hmac_key)) {
  // Fetched and keyed once (HMAC() looks the algorithms up and derives the pads on every call).
  static EVP_MAC* const hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = hmac != nullptr ? EVP_MAC_CTX_new(hmac) : nullptr;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (ctx != nullptr &&
      EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(hmac_key_.data()),
                   hmac_key_.size(), params) == 1) {
    hmac_template_.reset(ctx, &EVP_MAC_CTX_free);
  } else {
    EVP_MAC_CTX_free(ctx);  // ChildReference reports it
  }
}

std::string AuditKeys::ChildReference(const safeguard::v1::SubjectIdentifier& identifier) const {
  // National identifiers name the child whoever issued them; local ones only with their issuer.
  bool national = identifier.scheme() == safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER ||
                  identifier.scheme() == safeguard::v1::IDENTIFIER_SCHEME_SCHOOL_UPN;
  std::string message = absl::StrCat(static_cast<int>(identifier.scheme()), ":",
                                     national ? "" : identifier.issuer(), ":", identifier.value());
  std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> ctx(
      hmac_template_ ? EVP_MAC_CTX_dup(hmac_template_.get()) : nullptr, &EVP_MAC_CTX_free);
  unsigned char mac[32];
  size_t length = 0;
  if (ctx == nullptr ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1 ||
      EVP_MAC_final(ctx.get(), mac, &length, sizeof mac) != 1 || length != sizeof mac) {
    // Only out of memory: no input can cause it, and an entry without its reference would
    // break the auditors' searches, so stop rather than log something else.
    std::fputs("safeguard-broker: OpenSSL cannot compute HMAC-SHA-256 (out of memory?)\n", stderr);
    std::abort();
  }
  return std::string(reinterpret_cast<char*>(mac), length);
}

}  // namespace safeguard::audit_log
