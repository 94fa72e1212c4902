#include "clients/safeguardctl/connection.h"

#include <cstdlib>

namespace safeguard::ctl {

absl::StatusOr<std::unique_ptr<client::BrokerClient>> ConnectFrom(const CommandLine& cl) {
  const char* env_broker = std::getenv("SAFEGUARD_BROKER");
  const char* env_identity = std::getenv("SAFEGUARD_IDENTITY");
  std::string broker = cl.Get("broker", env_broker ? env_broker : "");
  std::string identity_dir = cl.Get("identity", env_identity ? env_identity : "");
  if (broker.empty()) {
    return absl::InvalidArgumentError(
        "no broker address: give --broker=HOST:PORT or set SAFEGUARD_BROKER");
  }
  if (identity_dir.empty()) {
    return absl::InvalidArgumentError(
        "no node identity: give --identity=DIR (holding ca.crt, node.crt, node.key) or set "
        "SAFEGUARD_IDENTITY");
  }
  auto identity = client::LoadIdentityDirectory(identity_dir);
  if (!identity.ok()) return identity.status();
  return client::BrokerClient::Connect({.broker_address = broker,
                                        .identity = *std::move(identity),
                                        .server_name_override = cl.Get("server-name")});
}

}  // namespace safeguard::ctl
