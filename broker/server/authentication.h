// Identifies the caller of an RPC from its verified client certificate. Used by every service.
#ifndef SAFEGUARD_BROKER_SERVER_AUTHENTICATION_H_
#define SAFEGUARD_BROKER_SERVER_AUTHENTICATION_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "broker/identity/node_registry.h"
#include "broker/server/log.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/grpcpp.h"

namespace safeguard::server {

// The caller's node, or UNAUTHENTICATED: the details go to the broker's log, not the caller.
inline absl::StatusOr<const identity::NodeInfo*> AuthenticateCall(
    const identity::NodeRegistry& registry, grpc::CallbackServerContext* context) {
  auto auth = context->auth_context();
  std::vector<std::string> uris;
  if (auth && auth->IsPeerAuthenticated()) {
    for (const auto& value : auth->FindPropertyValues(GRPC_PEER_URI_PROPERTY_NAME)) {
      uris.emplace_back(value.data(), value.size());
    }
  }
  auto node = registry.Authenticate(uris);
  if (!node.ok()) {
    SAFEGUARD_LOG_WARN("refused call from ", context->peer(), ": ", node.status().message());
    return absl::UnauthenticatedError(
        "your client certificate does not identify a node of this partnership; ask the "
        "partnership's administrator to check your certificate and registration");
  }
  return node;
}

}  // namespace safeguard::server

#endif  // SAFEGUARD_BROKER_SERVER_AUTHENTICATION_H_
