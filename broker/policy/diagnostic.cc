#include "broker/policy/diagnostic.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace safeguard::policy {
namespace {
constexpr int kErrorsInStatus = 8;
}  // namespace

const char* KindName(Diagnostic::Kind kind) {
  switch (kind) {
    case Diagnostic::Kind::kSyntax:
      return "syntax";
    case Diagnostic::Kind::kUnknownName:
      return "unknown-name";
    case Diagnostic::Kind::kMissing:
      return "missing";
    case Diagnostic::Kind::kDuplicate:
      return "duplicate";
    case Diagnostic::Kind::kNoCitation:
      return "no-citation";
    case Diagnostic::Kind::kUnlawful:
      return "unlawful";
    case Diagnostic::Kind::kConflict:
      return "conflict";
    case Diagnostic::Kind::kNeverFires:
      return "never-fires";
    case Diagnostic::Kind::kShadowed:
      return "shadowed";
    case Diagnostic::Kind::kUnusedOverride:
      return "unused-override";
  }
  return "unknown";
}

std::string Diagnostic::ToString() const {
  std::string where = file;
  if (line > 0) absl::StrAppend(&where, ":", line);
  if (line > 0 && column > 0) absl::StrAppend(&where, ":", column);
  return absl::StrCat(where, ": ", error() ? "error" : "warning", ": ", message, " [",
                      KindName(kind), "]");
}

absl::Status ErrorsToStatus(const std::vector<Diagnostic>& diagnostics) {
  std::vector<std::string> errors;
  int total = 0;
  for (const Diagnostic& d : diagnostics) {
    if (!d.error()) continue;
    if (++total <= kErrorsInStatus) errors.push_back(d.ToString());
  }
  if (total == 0) return absl::OkStatus();
  std::string message = absl::StrJoin(errors, "\n");
  if (total > kErrorsInStatus) {
    absl::StrAppend(&message, "\n... and ", total - kErrorsInStatus,
                    " more errors ('safeguardctl policy lint' lists them all)");
  }
  return absl::InvalidArgumentError(message);
}

}  // namespace safeguard::policy
