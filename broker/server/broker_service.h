// The Broker gRPC service: authenticates every call against the caller's certificate, checks
// what the caller may do, and hands the work to routing, storage and delivery.
#ifndef SAFEGUARD_BROKER_SERVER_BROKER_SERVICE_H_
#define SAFEGUARD_BROKER_SERVER_BROKER_SERVICE_H_

#include "absl/status/statusor.h"
#include "broker/audit/audit_keys.h"
#include "broker/common/clock.h"
#include "broker/delivery/mailbox_hub.h"
#include "broker/policy/policy_store.h"
#include "broker/identity/node_registry.h"
#include "broker/identity/trust_store.h"
#include "broker/routing/recipient_resolver.h"
#include "broker/server/work_queue.h"
#include "broker/storage/store.h"
#include "safeguard/v1/broker.grpc.pb.h"

namespace safeguard::server {

// Thread-safe. Every RPC is denied unless the caller's certificate names a registered node.
class BrokerService final : public safeguard::v1::Broker::CallbackService {
 public:
  struct Options {
    // The broker's own certificate and key: it signs receipts with them.
    std::shared_ptr<const protocol::Signer> receipt_signer;
    // How far a sender's signed_at may be from the broker's clock.
    absl::Duration max_clock_skew = absl::Minutes(5);
    // Turns child identifiers into the audit log's pseudonymous references.
    const audit_log::AuditKeys* audit_keys = nullptr;
    // The lawful-basis sharing policy in force. REQUIRES: not null.
    policy::PolicyStore* policy = nullptr;
  };

  BrokerService(const identity::NodeRegistry& registry, identity::TrustStore& trust,
                storage::Store& store, delivery::MailboxHub& hub, const Clock& clock,
                Options options);
  ~BrokerService() override;

  grpc::ServerUnaryReactor* Submit(grpc::CallbackServerContext* context,
                                   const safeguard::v1::SubmitRequest* request,
                                   safeguard::v1::SubmitResponse* response) override;
  grpc::ServerWriteReactor<safeguard::v1::Delivery>* Subscribe(
      grpc::CallbackServerContext* context,
      const safeguard::v1::SubscribeRequest* request) override;
  grpc::ServerUnaryReactor* Acknowledge(grpc::CallbackServerContext* context,
                                        const safeguard::v1::AcknowledgeRequest* request,
                                        safeguard::v1::AcknowledgeResponse* response) override;
  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* context,
                                      const safeguard::v1::GetStatusRequest* request,
                                      safeguard::v1::NotificationStatus* response) override;

 private:
  class MailboxStream;

  // The caller's node, or UNAUTHENTICATED (details go to the log, not to the caller).
  absl::StatusOr<const identity::NodeInfo*> Authenticate(grpc::CallbackServerContext* context);

  const identity::NodeRegistry& registry_;
  identity::TrustStore& trust_;
  storage::Store& store_;
  delivery::MailboxHub& hub_;
  const Clock& clock_;
  const Options options_;
  routing::RecipientResolver resolver_;
  // Mailbox reads and receipt signing: work that must not run on gRPC's or the store's threads.
  WorkQueue workers_{2};
};

}  // namespace safeguard::server

#endif  // SAFEGUARD_BROKER_SERVER_BROKER_SERVICE_H_
