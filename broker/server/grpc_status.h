// The one place where absl::Status becomes grpc::Status (the codes line up numerically).
#ifndef SAFEGUARD_BROKER_SERVER_GRPC_STATUS_H_
#define SAFEGUARD_BROKER_SERVER_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace safeguard::server {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

}  // namespace safeguard::server

#endif  // SAFEGUARD_BROKER_SERVER_GRPC_STATUS_H_
