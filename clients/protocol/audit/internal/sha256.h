// SHA-256 through OpenSSL's EVP interface, shared by the Merkle hashing and the note key IDs.
#ifndef SAFEGUARD_CLIENTS_PROTOCOL_AUDIT_INTERNAL_SHA256_H_
#define SAFEGUARD_CLIENTS_PROTOCOL_AUDIT_INTERNAL_SHA256_H_

#include <array>
#include <cstdint>
#include <initializer_list>

#include "absl/strings/string_view.h"

namespace safeguard::audit::internal {

// SHA-256 of the concatenation of `parts`, without building the concatenation.
// Thread-safe: each thread reuses its own digest context.
// Aborts only if OpenSSL cannot hash at all (no memory, no SHA-256 provider): no input can cause
// that, and no caller could do anything useful with an error from a hash function.
std::array<uint8_t, 32> Sha256(std::initializer_list<absl::string_view> parts);

}  // namespace safeguard::audit::internal

#endif  // SAFEGUARD_CLIENTS_PROTOCOL_AUDIT_INTERNAL_SHA256_H_
