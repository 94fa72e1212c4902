// `safeguardctl registry ...` (social-care, early-help and front-door nodes: publish and read
// who is responsible for a child) and `safeguardctl flags ...` (GP, health and school nodes:
// register the children served, watch their flags, look one child up). Both talk to the
// Registry service (proto/safeguard/v1/registry.proto).
#ifndef SAFEGUARD_CLIENTS_SAFEGUARDCTL_REGISTRY_COMMAND_H_
#define SAFEGUARD_CLIENTS_SAFEGUARDCTL_REGISTRY_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "clients/safeguardctl/command_line.h"

namespace safeguard::ctl {

// The flags each command accepts (for ParseCommandLine).
std::vector<FlagSpec> RegistryCommandFlags();
std::vector<FlagSpec> FlagsCommandFlags();

// Help for `registry` / `flags` (subcommand empty) or one of their subcommands; "" if unknown.
std::string RegistryHelp(absl::string_view subcommand);
std::string FlagsHelp(absl::string_view subcommand);

// Run `safeguardctl registry|flags SUBCOMMAND ARGS...` (cl.command is "registry" or "flags").
// Results go to `out`, problems to `err`. Exit status: 0 done, 1 the broker or network
// refused, 2 bad usage.
int RunRegistryCommand(const CommandLine& cl, std::ostream& out, std::ostream& err);
int RunFlagsCommand(const CommandLine& cl, std::ostream& out, std::ostream& err);

}  // namespace safeguard::ctl

#endif  // SAFEGUARD_CLIENTS_SAFEGUARDCTL_REGISTRY_COMMAND_H_
