#include "clients/protocol/audit/internal/sha256.h"

#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace safeguard::audit::internal {
namespace {

// OpenSSL 3 looks the algorithm up in its provider tables on every EVP_sha256() digest unless
// the caller fetches it once; for 65-byte node hashes that lookup costs as much as the hash.
// Fetched once, never freed: it lives as long as the process.
const EVP_MD* Sha256Md() {
  static const EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

[[noreturn]] void DieOpenSslCannotHash() {
  std::fputs("safeguard::audit: OpenSSL cannot compute SHA-256 (out of memory?)\n", stderr);
  std::abort();
}

}  // namespace

const evp_md_st* FetchedSha256() {
  const EVP_MD* md = Sha256Md();
  if (md == nullptr) DieOpenSslCannotHash();
  return md;
}

std::array<uint8_t, 32> Sha256(std::initializer_list<absl::string_view> parts) {
  // One context per thread, reset by each EVP_DigestInit_ex2, saves an allocation per hash.
  thread_local std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  const EVP_MD* md = Sha256Md();
  if (ctx == nullptr || md == nullptr || EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1) {
    DieOpenSslCannotHash();
  }
  for (absl::string_view part : parts) {
    if (EVP_DigestUpdate(ctx.get(), part.data(), part.size()) != 1) DieOpenSslCannotHash();
  }
  std::array<uint8_t, 32> out;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1 || len != out.size()) {
    DieOpenSslCannotHash();
  }
  return out;
}

}  // namespace safeguard::audit::internal
