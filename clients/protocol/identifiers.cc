#include "clients/protocol/identifiers.h"

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace safeguard::protocol {

std::optional<int> NhsCheckDigit(absl::string_view first_nine) {
  int sum = 0;
  for (int i = 0; i < 9; ++i) sum += (first_nine[i] - '0') * (10 - i);
  int check = 11 - (sum % 11);
  if (check == 11) return 0;
  if (check == 10) return std::nullopt;
  return check;
}

absl::StatusOr<std::string> NormaliseNhsNumber(absl::string_view value) {
  std::string digits;
  for (char c : value) {
    if (c == ' ' || c == '-') continue;
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          "NHS number must contain only digits (spaces and hyphens are allowed)");
    }
    digits.push_back(c);
  }
  if (digits.size() != 10) {
    return absl::InvalidArgumentError(
        absl::StrCat("NHS number must have 10 digits, got ", digits.size()));
  }
  std::optional<int> check = NhsCheckDigit(absl::string_view(digits).substr(0, 9));
  if (!check) {
    return absl::InvalidArgumentError(
        "NHS number is not valid: its first nine digits give no possible check digit "
        "(modulus 11 remainder 1)");
  }
  if (*check != digits[9] - '0') {
    return absl::InvalidArgumentError(absl::StrCat(
        "NHS number fails its modulus-11 check: the check digit should be ", *check, ", not ",
        digits[9] - '0', " (check the number was copied correctly)"));
  }
  return digits;
}

absl::StatusOr<std::string> NormaliseSchoolUpn(absl::string_view value) {
  std::string upn = absl::AsciiStrToUpper(value);
  bool ok = upn.size() == 13 && absl::ascii_isupper(static_cast<unsigned char>(upn[0])) &&
            absl::ascii_isalnum(static_cast<unsigned char>(upn[12]));
  for (size_t i = 1; ok && i < 12; ++i) {
    ok = absl::ascii_isdigit(static_cast<unsigned char>(upn[i]));
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        "school UPN must be 13 characters: a letter, 11 digits, then a digit or letter");
  }
  return upn;
}

}  // namespace safeguard::protocol
