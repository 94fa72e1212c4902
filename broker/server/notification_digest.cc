#include "broker/server/notification_digest.h"

#include "clients/protocol/crypto.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace safeguard::server {

std::string DeterministicBytes(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  message.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

std::string ContentDigest(safeguard::v1::Notification& notification) {
  google::protobuf::Timestamp* reported_at =
      notification.has_reported_at() ? notification.release_reported_at() : nullptr;
  std::string digest = protocol::Sha256(DeterministicBytes(notification));
  if (reported_at != nullptr) notification.set_allocated_reported_at(reported_at);
  return digest;
}

}  // namespace safeguard::server
