// `safeguardctl chronology ID --purpose=TEXT [--household] [--from DATE] [--to DATE]
// [--format text|json|csv|html] [--out FILE]`: a child's multi-agency chronology from the
// Chronology service (proto/safeguard/v1/chronology.proto), as text, JSON lines, CSV (RFC 4180)
// or one self-contained printable HTML page for a meeting.
#ifndef SAFEGUARD_CLIENTS_SAFEGUARDCTL_CHRONOLOGY_COMMAND_H_
#define SAFEGUARD_CLIENTS_SAFEGUARDCTL_CHRONOLOGY_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "clients/safeguardctl/command_line.h"
#include "clients/sdk/chronology_client.h"

namespace safeguard::ctl {

std::vector<FlagSpec> ChronologyCommandFlags();
std::string ChronologyHelp();

// The formats, from a view as the SDK returns it. Events are listed by the date they happened
// (occurred_at, else accepted_at), then in the order the broker accepted them.
std::string ChronologyText(const client::ChronologyView& view);
std::string ChronologyJsonLines(const client::ChronologyView& view);
std::string ChronologyCsv(const client::ChronologyView& view);
std::string ChronologyHtml(const client::ChronologyView& view);

// Run `safeguardctl chronology ...`. Exit status: 0 done, 1 refused, 2 bad usage.
int RunChronologyCommand(const CommandLine& cl, std::ostream& out, std::ostream& err);

}  // namespace safeguard::ctl

#endif  // SAFEGUARD_CLIENTS_SAFEGUARDCTL_CHRONOLOGY_COMMAND_H_
