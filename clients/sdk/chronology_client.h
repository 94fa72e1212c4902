// The C++ SDK for the Chronology service (proto/safeguard/v1/chronology.proto): a child's
// multi-agency chronology, as the calling node is entitled to see it. Social-care, early-help and
// front-door nodes only; every call is recorded in the audit log with its purpose.
//
//   client::ChronologyClient chronology(broker->channel(), options);
//   auto view = chronology.Get({.child = *ParseIdentifier("nhs:9434765919"),
//                               .household = true, .purpose = "core group 12 May"});
//   for (const auto& e : view->events) Show(e);
#ifndef SAFEGUARD_CLIENTS_SDK_CHRONOLOGY_CLIENT_H_
#define SAFEGUARD_CLIENTS_SDK_CHRONOLOGY_CLIENT_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/sdk/broker_client.h"
#include "safeguard/v1/chronology.grpc.pb.h"

namespace safeguard::client {

struct ChronologyQuery {
  safeguard::v1::SubjectIdentifier child;
  bool household = false;            // include the children of the child's households
  std::optional<absl::Time> from;    // accepted at or after
  std::optional<absl::Time> to;      // accepted before
  std::string purpose;               // required: why it is viewed (recorded in the audit log)
};

// A whole chronology: the header of the first page, every event shown, and the counts summed
// over the pages (next_cursor 0).
struct ChronologyView {
  safeguard::v1::ChronologyHeader header;
  std::vector<safeguard::v1::ChronologyEvent> events;
  safeguard::v1::ChronologySummary summary;
  int pages = 0;  // each page is one call, and one view in the audit log
};

// Thread-safe.
class ChronologyClient {
 public:
  // Shares an open channel (e.g. BrokerClient::channel()).
  ChronologyClient(std::shared_ptr<grpc::Channel> channel, ConnectionOptions options);

  // Reads every page. Checks the purpose locally (INVALID_ARGUMENT). Retried only when the
  // broker could not be reached before anything was received: a view is recorded once read.
  absl::StatusOr<ChronologyView> Get(const ChronologyQuery& query);

  // For tests and advanced callers.
  safeguard::v1::Chronology::Stub& stub() { return *stub_; }

 private:
  const ConnectionOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<safeguard::v1::Chronology::Stub> stub_;
};

}  // namespace safeguard::client

#endif  // SAFEGUARD_CLIENTS_SDK_CHRONOLOGY_CLIENT_H_
