#include "broker/policy/policy_lint.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "broker/policy/sharing_policy.h"

namespace safeguard::policy {

int LintReport::errors() const {
  int n = 0;
  for (const Diagnostic& d : diagnostics) n += d.error();
  return n;
}

int LintReport::warnings() const { return static_cast<int>(diagnostics.size()) - errors(); }

LintReport LintPolicyText(absl::string_view file_name, const std::string& text) {
  return {std::string(file_name), SharingPolicy::Check(file_name, text)};
}

LintReport LintPolicyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    Diagnostic d;
    d.kind = Diagnostic::Kind::kSyntax;
    d.file = path;
    d.message = "cannot read the file";
    return {path, {d}};
  }
  std::stringstream s;
  s << in.rdbuf();
  return LintPolicyText(path, s.str());
}

}  // namespace safeguard::policy
