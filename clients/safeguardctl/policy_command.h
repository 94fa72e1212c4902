// `safeguardctl policy lint|explain|test`: offline tools for the sharing policy. They read
// policy files only and never connect to a broker.
#ifndef SAFEGUARD_CLIENTS_SAFEGUARDCTL_POLICY_COMMAND_H_
#define SAFEGUARD_CLIENTS_SAFEGUARDCTL_POLICY_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "clients/safeguardctl/command_line.h"

namespace safeguard::ctl {

// The flags `safeguardctl policy` accepts (for ParseCommandLine).
std::vector<FlagSpec> PolicyCommandFlags();

// Help for `policy` (subcommand empty) or one of lint, explain, test; "" if unknown.
std::string PolicyHelp(absl::string_view subcommand);

// Runs `safeguardctl policy SUBCOMMAND ARGS...` (cl.command == "policy"). Writes results to
// `out`, problems to `err`; returns the exit status: 0 done and clean, 1 findings or failed
// cases, 2 bad usage or an unreadable file.
int RunPolicyCommand(const CommandLine& cl, std::ostream& out, std::ostream& err);

}  // namespace safeguard::ctl

#endif  // SAFEGUARD_CLIENTS_SAFEGUARDCTL_POLICY_COMMAND_H_
