// Small checks on text fields that the broker and clients apply alike.
#ifndef SAFEGUARD_CLIENTS_PROTOCOL_TEXT_CHECKS_H_
#define SAFEGUARD_CLIENTS_PROTOCOL_TEXT_CHECKS_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace safeguard::protocol {

// INVALID_ARGUMENT "<field>: <problem>": every error a caller can fix names its field.
inline absl::Status FieldError(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

// Printable ASCII without spaces (identifiers, references).
inline bool IsPrintableAscii(absl::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

// Counts code points; protobuf has already checked that strings are valid UTF-8.
inline size_t Utf8Length(absl::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace safeguard::protocol

#endif  // SAFEGUARD_CLIENTS_PROTOCOL_TEXT_CHECKS_H_
