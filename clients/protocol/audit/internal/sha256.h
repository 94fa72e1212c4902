// SHA-256 through OpenSSL's EVP interface, shared by the Merkle hashing and the note key IDs.
#ifndef SAFEGUARD_CLIENTS_PROTOCOL_AUDIT_INTERNAL_SHA256_H_
#define SAFEGUARD_CLIENTS_PROTOCOL_AUDIT_INTERNAL_SHA256_H_

#include <array>
#include <cstdint>
#include <initializer_list>

#include "absl/strings/string_view.h"

struct evp_md_st;

namespace safeguard::audit::internal {

// SHA-256 of the concatenation of `parts`, without building the concatenation.
// Thread-safe: each thread reuses its own digest context.
// Aborts only if OpenSSL cannot hash at all (no memory, no SHA-256 provider): no input can cause
// that, and no caller could do anything useful with an error from a hash function.
std::array<uint8_t, 32> Sha256(std::initializer_list<absl::string_view> parts);

// SHA-256 fetched from OpenSSL's default provider once for the process: pass it wherever
// OpenSSL takes an EVP_MD (signing, verifying, HMAC). EVP_sha256() makes OpenSSL 3 look the
// algorithm up again on every use, which costs as much as hashing a short message.
// Never null (aborts if OpenSSL has no SHA-256).
const evp_md_st* FetchedSha256();

}  // namespace safeguard::audit::internal

#endif  // SAFEGUARD_CLIENTS_PROTOCOL_AUDIT_INTERNAL_SHA256_H_
