// Child identifiers that carry their own checks: the NHS number (modulus 11) and the school UPN.
#ifndef SAFEGUARD_CLIENTS_PROTOCOL_IDENTIFIERS_H_
#define SAFEGUARD_CLIENTS_PROTOCOL_IDENTIFIERS_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace safeguard::protocol {

// Returns the 10-digit NHS number with spaces and hyphens removed, or INVALID_ARGUMENT saying
// what is wrong (length, non-digit, or the modulus-11 check digit, with the expected digit).
absl::StatusOr<std::string> NormaliseNhsNumber(absl::string_view value);

// The modulus-11 check digit of an NHS number's first nine digits, or nothing when no digit is
// possible (remainder 1). REQUIRES: nine ASCII digits.
std::optional<int> NhsCheckDigit(absl::string_view first_nine);

// Returns the unique pupil number upper-cased, or INVALID_ARGUMENT. Checks the shape only
// (a letter, 11 digits, a final digit or letter); the check letter is not verified.
absl::StatusOr<std::string> NormaliseSchoolUpn(absl::string_view value);

}  // namespace safeguard::protocol

#endif  // SAFEGUARD_CLIENTS_PROTOCOL_IDENTIFIERS_H_
