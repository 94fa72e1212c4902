// The C++ SDK for agencies' systems: a typed, mutually authenticated connection to the broker.
//
//   auto client = BrokerClient::Connect({.broker_address = "broker.example:7443",
//                                        .identity = *LoadIdentityDirectory("/etc/gp-node")});
//   auto sent = (*client)->Submit(notification);     // retried safely with one idempotency key
//   (*client)->Subscribe({.follow = true}, [](const Delivery& d) { ...; return true; });
#ifndef SAFEGUARD_CLIENTS_SDK_BROKER_CLIENT_H_
#define SAFEGUARD_CLIENTS_SDK_BROKER_CLIENT_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clients/protocol/envelope.h"
#include "safeguard/v1/broker.grpc.pb.h"

namespace safeguard::client {

// A node's TLS material, PEM text.
struct NodeIdentity {
  std::string ca_certificate;  // the partnership CA
  std::string certificate;     // this node's certificate (URI SAN names the node)
  std::string private_key;
};

// Reads ca.crt, node.crt and node.key from `directory` (as certs/safeguard-certs writes them).
absl::StatusOr<NodeIdentity> LoadIdentityDirectory(const std::string& directory);

struct ConnectionOptions {
  std::string broker_address;  // host:port
  NodeIdentity identity;
  // Name to check the broker's certificate against when it differs from the address's host.
  std::string server_name_override;
  absl::Duration call_timeout = absl::Seconds(15);
  // Attempts per unary call on UNAVAILABLE / DEADLINE_EXCEEDED (Submit keeps its key).
  int max_attempts = 5;
  absl::Duration initial_backoff = absl::Milliseconds(100);
};

// Thread-safe.
class BrokerClient {
 public:
  static absl::StatusOr<std::unique_ptr<BrokerClient>> Connect(ConnectionOptions options);

  // Checks the notification locally (same rules as the broker), fills idempotency_key with a
  // random one if empty, seals it in an envelope signed with this node's key, and submits it,
  // retrying transient failures with the same envelope so a retry can never create a second
  // notification. Returns once the broker's signed receipt has been verified.
  absl::StatusOr<safeguard::v1::SubmitResponse> Submit(safeguard::v1::Notification notification);

  // Submits many notifications on one SubmitStream: what a system sending in bulk (a nightly
  // attendance run, a list of missed appointments) uses instead of calling Submit for each.
  // Each is checked, sealed and signed as Submit does, and gets its own result, in the same
  // order; a refused one does not stop the others. Those answered UNAVAILABLE, or unanswered
  // when the stream breaks, are sent again with the same envelope (up to max_attempts rounds,
  // with back-off), so none is ever accepted twice. Every acceptance's receipt is verified.
  // The stream's deadline is call_timeout plus 1 s per 1,000 notifications. Every envelope is
  // held until answered: send very large runs in chunks of, say, 10,000.
  std::vector<absl::StatusOr<safeguard::v1::SubmitResponse>> SubmitMany(
      std::vector<safeguard::v1::Notification> notifications);

  // Verifies a delivery end to end, whichever broker delivered it: the sender's signature over
  // the original payload, the sender's certificate against the partnership CA (as it was when it
  // signed), every disclosure against its signed digest, and that the broker's assembled
  // `notification` is exactly what the envelope discloses.
  absl::StatusOr<protocol::OpenedEnvelope> Verify(const safeguard::v1::Delivery& delivery) const;

  // Streams this node's mailbox, calling `on_delivery` for each delivery in cursor order until
  // it returns false, the stream ends (follow=false: backlog sent) or Cancel() is called. With
  // follow=true a broken connection is re-opened from the last cursor, with back-off.
  absl::Status Subscribe(safeguard::v1::SubscribeRequest request,
                         const std::function<bool(const safeguard::v1::Delivery&)>& on_delivery);
  // Ends a Subscribe running on another thread.
  void Cancel();

  absl::StatusOr<safeguard::v1::AcknowledgeResponse> Acknowledge(uint64_t cursor,
                                                                 std::string acknowledged_by);
  // Acknowledges up to 1,000 deliveries in one call; each cursor gets its own result (a cursor
  // not in this node's mailbox is refused without affecting the others). Retried as a whole on
  // UNAVAILABLE: acknowledging is idempotent.
  absl::StatusOr<safeguard::v1::AcknowledgeManyResponse> AcknowledgeMany(
      std::vector<uint64_t> cursors, std::string acknowledged_by);

  // Records this node's outcome for the delivery at `cursor` (e.g. no further action, with the
  // rationale), which the sender then sees in GetStatus with the route to challenge it.
  absl::StatusOr<safeguard::v1::Outcome> RecordOutcome(safeguard::v1::RecordOutcomeRequest request);
  absl::StatusOr<safeguard::v1::NotificationStatus> GetStatus(std::string notification_id);

  // For tests and advanced callers: the raw stub, with no local checks or retries.
  safeguard::v1::Broker::Stub& stub() { return *stub_; }
  // The mutually authenticated channel, for the partnership's other services (Audit).
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

 private:
  BrokerClient(ConnectionOptions options, std::shared_ptr<grpc::Channel> channel,
               std::unique_ptr<safeguard::v1::Broker::Stub> stub,
               std::shared_ptr<const protocol::Signer> signer,
               std::shared_ptr<const protocol::TrustAnchor> trust)
      : options_(std::move(options)),
        channel_(std::move(channel)),
        stub_(std::move(stub)),
        signer_(std::move(signer)),
        trust_(std::move(trust)) {}

  template <typename Call>
  absl::Status WithRetries(const Call& call);
  // Checks locally, fills a missing idempotency key, seals and signs.
  absl::StatusOr<safeguard::v1::SubmitRequest> Seal(safeguard::v1::Notification& notification);
  // That `response` is proved by its signed receipt to answer `request`.
  absl::Status CheckReceipt(const safeguard::v1::SubmitRequest& request,
                            const std::string& idempotency_key,
                            const safeguard::v1::SubmitResponse& response) const;

  const ConnectionOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<safeguard::v1::Broker::Stub> stub_;
  const std::shared_ptr<const protocol::Signer> signer_;
  const std::shared_ptr<const protocol::TrustAnchor> trust_;
  absl::Mutex mu_;
  grpc::ClientContext* streaming_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

// What BrokerClient::Verify does, for a delivery read from elsewhere (a file, another broker).
absl::StatusOr<protocol::OpenedEnvelope> VerifyDelivery(const safeguard::v1::Delivery& delivery,
                                                        const protocol::TrustAnchor& trust);

// grpc::Status → absl::Status (the codes line up numerically).
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace safeguard::client

#endif  // SAFEGUARD_CLIENTS_SDK_BROKER_CLIENT_H_
