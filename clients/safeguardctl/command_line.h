// Parses safeguardctl's command lines: `safeguardctl [global flags] COMMAND [flags] [args]`.
//
// Abseil flags are process-global, so they cannot reject a flag that belongs to another command
// or give per-command help; this small parser does both, and nothing else.
#ifndef SAFEGUARD_CLIENTS_SAFEGUARDCTL_COMMAND_LINE_H_
#define SAFEGUARD_CLIENTS_SAFEGUARDCTL_COMMAND_LINE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace safeguard::ctl {

struct FlagSpec {
  std::string name;        // without dashes
  bool takes_value = true;
  bool repeatable = false;
};

struct CommandLine {
  std::string command;
  std::vector<std::string> arguments;                      // positional
  std::map<std::string, std::vector<std::string>> flags;   // name -> values ("" for switches)

  bool Has(const std::string& name) const { return flags.count(name) > 0; }
  // The last value given, or `fallback`.
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  const std::vector<std::string>& All(const std::string& name) const;
};

// `specs` maps a command name to the flags it accepts (global flags are accepted by all).
// Accepts --name=value, --name value, and switches (--follow). INVALID_ARGUMENT names the
// problem: an unknown command or flag, a missing value, a repeated non-repeatable flag.
absl::StatusOr<CommandLine> ParseCommandLine(
    const std::vector<std::string>& argv, const std::vector<FlagSpec>& global_flags,
    const std::map<std::string, std::vector<FlagSpec>>& commands);

}  // namespace safeguard::ctl

#endif  // SAFEGUARD_CLIENTS_SAFEGUARDCTL_COMMAND_LINE_H_
