// Checks the broker's TLS files at start-up so that a mistake is reported in plain words
// instead of as failed handshakes later.
#ifndef SAFEGUARD_BROKER_SERVER_TLS_FILES_H_
#define SAFEGUARD_BROKER_SERVER_TLS_FILES_H_

#include "absl/status/status.h"
#include "broker/config/broker_config.pb.h"

namespace safeguard::server {

// FAILED_PRECONDITION naming the file and the problem: unreadable, not PEM, key does not match
// the certificate, certificate not issued by the CA, expired or not yet valid.
absl::Status CheckTlsFiles(const config::Tls& tls);

}  // namespace safeguard::server

#endif  // SAFEGUARD_BROKER_SERVER_TLS_FILES_H_
