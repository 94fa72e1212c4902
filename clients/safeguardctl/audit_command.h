// `safeguardctl audit ...`: an auditor's tools for the tamper-evident audit log — fetch and
// verify checkpoints, check that the log was never rewritten or forked, export and verify
// entries offline, verify a sender's receipt, search and report.
#ifndef SAFEGUARD_CLIENTS_SAFEGUARDCTL_AUDIT_COMMAND_H_
#define SAFEGUARD_CLIENTS_SAFEGUARDCTL_AUDIT_COMMAND_H_

#include <string>
#include <vector>

namespace safeguard::ctl {

// `args` are the words after "audit" (global flags may be among them). Returns the exit status.
int RunAuditCommand(const std::vector<std::string>& args);

}  // namespace safeguard::ctl

#endif  // SAFEGUARD_CLIENTS_SAFEGUARDCTL_AUDIT_COMMAND_H_
