#include "clients/safeguardctl/command_line.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace safeguard::ctl {

std::string CommandLine::Get(const std::string& name, const std::string& fallback) const {
  auto it = flags.find(name);
  return it == flags.end() || it->second.empty() ? fallback : it->second.back();
}

const std::vector<std::string>& CommandLine::All(const std::string& name) const {
  static const std::vector<std::string> kEmpty;
  auto it = flags.find(name);
  return it == flags.end() ? kEmpty : it->second;
}

absl::StatusOr<CommandLine> ParseCommandLine(
    const std::vector<std::string>& argv, const std::vector<FlagSpec>& global_flags,
    const std::map<std::string, std::vector<FlagSpec>>& commands) {
  CommandLine out;
  auto find_spec = [&](const std::string& name) -> const FlagSpec* {
    for (const auto& f : global_flags) {
      if (f.name == name) return &f;
    }
    if (!out.command.empty()) {
      for (const auto& f : commands.at(out.command)) {
        if (f.name == name) return &f;
      }
    }
    return nullptr;
  };
  bool only_positional = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (only_positional || !absl::StartsWith(arg, "--") || arg == "--") {
      if (arg == "--" && !only_positional) {
        only_positional = true;
        continue;
      }
      if (out.command.empty()) {
        if (!commands.count(arg)) {
          return absl::InvalidArgumentError(
              absl::StrCat("unknown command '", arg, "'; run 'safeguardctl help' for the list"));
        }
        out.command = arg;
      } else {
        out.arguments.push_back(arg);
      }
      continue;
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_inline_value = true;
    }
    if (name == "help") {
      out.flags["help"].push_back("");
      continue;
    }
    const FlagSpec* spec = find_spec(name);
    if (spec == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown flag --", name,
          out.command.empty() ? std::string()
                              : absl::StrCat(" for '", out.command, "'"),
          "; run 'safeguardctl help", out.command.empty() ? "" : " " + out.command,
          "' to see the flags"));
    }
    if (spec->takes_value && !has_inline_value) {
      if (i + 1 >= argv.size()) {
        return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
      }
      value = argv[++i];
    } else if (!spec->takes_value && has_inline_value) {
      return absl::InvalidArgumentError(absl::StrCat("flag --", name, " takes no value"));
    }
    auto& values = out.flags[name];
    if (!values.empty() && !spec->repeatable) {
      return absl::InvalidArgumentError(absl::StrCat("flag --", name, " given more than once"));
    }
    values.push_back(value);
  }
  return out;
}

}  // namespace safeguard::ctl
