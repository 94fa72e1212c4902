// Connecting safeguardctl to the broker from --broker / --identity (or the environment).
#ifndef SAFEGUARD_CLIENTS_SAFEGUARDCTL_CONNECTION_H_
#define SAFEGUARD_CLIENTS_SAFEGUARDCTL_CONNECTION_H_

#include <memory>

#include "absl/status/statusor.h"
#include "clients/safeguardctl/command_line.h"
#include "clients/sdk/broker_client.h"

namespace safeguard::ctl {

// --broker=HOST:PORT (or SAFEGUARD_BROKER) and --identity=DIR (or SAFEGUARD_IDENTITY), with
// --server-name when given. INVALID_ARGUMENT saying which is missing.
absl::StatusOr<std::unique_ptr<client::BrokerClient>> ConnectFrom(const CommandLine& cl);

}  // namespace safeguard::ctl

#endif  // SAFEGUARD_CLIENTS_SAFEGUARDCTL_CONNECTION_H_
