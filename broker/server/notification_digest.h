// How the broker recognises a retry of a notification, and how Submit compares what was signed
// with its normal form without copying the notification's free-form Structs. Shared by
// BrokerService and the Submit-path benchmark (tests/bench/submit_path_bench.cc).
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

// Takes the Structs (details, health_details, police_details) out of a notification for the
// scope and puts them back: NormaliseAndValidate neither reads nor changes them, so the copy it
// works on, and the comparison with what was signed, can leave them out.
class DetailsSetAside {
 public:
  explicit DetailsSetAside(safeguard::v1::Notification& n);
  ~DetailsSetAside();
  DetailsSetAside(const DetailsSetAside&) = delete;
  DetailsSetAside& operator=(const DetailsSetAside&) = delete;

 private:
  safeguard::v1::Notification& n_;
  google::protobuf::Struct* details_ = nullptr;
  google::protobuf::Struct* health_ = nullptr;
  google::protobuf::Struct* police_ = nullptr;
};

}  // namespace safeguard::server

#endif  // SAFEGUARD_BROKER_SERVER_NOTIFICATION_DIGEST_H_
