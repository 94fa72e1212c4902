// How the broker recognises a retry of a notification. Shared by BrokerService and the
// Submit-path benchmark (tests/bench/submit_path_bench.cc).
#ifndef SAFEGUARD_BROKER_SERVER_NOTIFICATION_DIGEST_H_
#define SAFEGUARD_BROKER_SERVER_NOTIFICATION_DIGEST_H_

#include <string>

#include "google/protobuf/message.h"
#include "safeguard/v1/notification.pb.h"

namespace safeguard::server {

// Deterministic bytes, so a retry of the same notification always has the same digest.
std::string DeterministicBytes(const google::protobuf::Message& message);

// The retry-detection digest: SHA-256 of the deterministic bytes of the notification without
// reported_at (a retry is the same notification even if reported_at was stamped afresh).
// reported_at is taken out for the serialisation and put back, instead of copying the whole
// notification (its Structs included): the bytes are those of a copy with reported_at cleared.
std::string ContentDigest(safeguard::v1::Notification& notification);

}  // namespace safeguard::server

#endif  // SAFEGUARD_BROKER_SERVER_NOTIFICATION_DIGEST_H_
