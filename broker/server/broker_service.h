// The Broker gRPC service: authenticates every call against the caller's certificate, checks
// what the caller may do, and hands the work to routing, storage and delivery.
#ifndef SAFEGUARD_BROKER_SERVER_BROKER_SERVICE_H_
#define SAFEGUARD_BROKER_SERVER_BROKER_SERVICE_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "broker/audit/audit_keys.h"
#include "broker/common/clock.h"
#include "broker/delivery/mailbox_hub.h"
#include "broker/policy/policy_store.h"
#include "broker/registry/registry_store.h"
#include "broker/identity/node_registry.h"
#include "broker/identity/trust_store.h"
#include "broker/routing/recipient_resolver.h"
#include "broker/server/receipt_batcher.h"
#include "broker/server/work_queue.h"
#include "clients/protocol/envelope.h"
#include "broker/storage/store.h"
#include "safeguard/v1/broker.grpc.pb.h"

namespace safeguard::server {

// A notification an agency sent, just accepted (durable): what BrokerService::Options::
// on_accepted is told, e.g. for the cumulative-concern rules (broker/concern).
struct AcceptedNotification {
  std::string notification_id;
  uint64_t sequence = 0;
  absl::Time accepted_at;
  std::string sender;  // node id
  protocol::NodeType sender_type = protocol::NodeType::kGp;
  std::string sender_area;
  // Every field, as the sender wrote it; shared (not copied) with whoever keeps it.
  std::shared_ptr<const safeguard::v1::Notification> notification;
};

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
    // Who is responsible for each child: routing to lead workers, households, schools.
    // May be null (tests of the spine): then everything goes to named nodes or front doors.
    registry::RegistryStore* children = nullptr;
    // Area code → how to challenge a decision there (BrokerConfig.areas).
    std::map<std::string, std::string> resolution_routes;
    // When a delivery of a deadline class, for a recipient in an area, accepted at a time, must
    // be acknowledged (the area's working calendar). Null: deliveries have no deadline.
    std::function<absl::StatusOr<absl::Time>(const std::string& deadline_class,
                                             const std::string& area, absl::Time from)>
        deadlines;
    // Told of every notification accepted from an agency (not the broker's own notices, not
    // retries), on a worker thread after the commit. Must not block: queue the work.
    std::function<void(const AcceptedNotification&)> on_accepted;
    // Admission control: the most agencies' Submits being verified, decided, stored and
    // receipted at once. Above it Submit is refused with UNAVAILABLE before any work is done,
    // and the sender retries with the same envelope (the SDK does, with back-off), so the
    // broker's memory and the wait for a commit stay bounded however much is offered.
    // 0: unbounded. The broker's own notices are never refused.
    int max_submits_in_flight = 0;
  };

  BrokerService(const identity::NodeRegistry& registry, identity::TrustStore& trust,
                storage::Store& store, delivery::MailboxHub& hub, const Clock& clock,
                Options options);
  ~BrokerService() override;

  grpc::ServerUnaryReactor* Submit(grpc::CallbackServerContext* context,
                                   const safeguard::v1::SubmitRequest* request,
                                   safeguard::v1::SubmitResponse* response) override;
  grpc::ServerBidiReactor<safeguard::v1::SubmitRequest, safeguard::v1::SubmitStreamResponse>*
  SubmitStream(grpc::CallbackServerContext* context) override;
  grpc::ServerWriteReactor<safeguard::v1::Delivery>* Subscribe(
      grpc::CallbackServerContext* context,
      const safeguard::v1::SubscribeRequest* request) override;
  grpc::ServerUnaryReactor* Acknowledge(grpc::CallbackServerContext* context,
                                        const safeguard::v1::AcknowledgeRequest* request,
                                        safeguard::v1::AcknowledgeResponse* response) override;
  grpc::ServerUnaryReactor* AcknowledgeMany(grpc::CallbackServerContext* context,
                                            const safeguard::v1::AcknowledgeManyRequest* request,
                                            safeguard::v1::AcknowledgeManyResponse* response) override;
  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* context,
                                      const safeguard::v1::GetStatusRequest* request,
                                      safeguard::v1::NotificationStatus* response) override;
  grpc::ServerUnaryReactor* RecordOutcome(grpc::CallbackServerContext* context,
                                          const safeguard::v1::RecordOutcomeRequest* request,
                                          safeguard::v1::Outcome* response) override;

  // Sends a notification from the broker itself, sealed with the broker's own key (sender id
  // and type "broker"), routed and decided by the sharing policy like any other: e.g. telling a
  // lead worker that a GP looked up a flagged child. `done` runs once it is durable, with the
  // recipients and decisions (or the error), on a worker thread.
  // `reported_by` is the kind of node whose action it reports (the policy's sender).
  using SubmitDone = absl::AnyInvocable<void(absl::StatusOr<safeguard::v1::SubmitResponse>) &&>;
  // With `targets`, it goes to exactly those recipients (e.g. a plan's deputy or team manager,
  // addressed to the worker) instead of being routed; each is still decided by the policy.
  // `escalates`: for an escalation notice, the step it takes on the escalated delivery.
  void SubmitFromBroker(safeguard::v1::Notification notification, protocol::NodeType reported_by,
                        SubmitDone done, std::vector<routing::ResolvedRecipient> targets = {},
                        std::optional<storage::AcceptRequest::EscalationStep> escalates = {});

 private:
  class MailboxStream;
  class BulkSubmission;  // one SubmitStream call (submit_stream.cc)

  // Everything Submit does once the caller is authenticated: checks what `node` may send,
  // takes an admission place, verifies the envelope, then routes, decides, stores and receipts
  // it (Admit). `done` runs exactly once: with a refusal before this returns, or on a worker
  // thread after the commit. `request` need outlive only this call.
  void AcceptFrom(const identity::NodeInfo& node, const safeguard::v1::SubmitRequest& request,
                  SubmitDone done);
  // AcceptFrom once `node` may send and a place has been taken for `request` (given back when
  // `done` runs).
  void AcceptAdmitted(const identity::NodeInfo& node, const safeguard::v1::SubmitRequest& request,
                      SubmitDone done);

  // A verified notification on its way in: routed, decided by policy, stored, receipted.
  struct Admission {
    identity::NodeInfo sender;  // for the broker itself: id and URI from its certificate
    std::string sender_type;    // "gp", ..., or "broker"
    const safeguard::v1::SignedEnvelope* envelope;  // REQUIRES: outlives Admit's synchronous part
    protocol::OpenedEnvelope opened;
    std::vector<routing::ResolvedRecipient> targets;  // empty: routed
    std::optional<storage::AcceptRequest::EscalationStep> escalates;
  };
  // Fails (synchronously, through `done`) when routing refuses; otherwise `done` runs on a
  // worker thread after the commit.
  void Admit(Admission admission, SubmitDone done);
  std::optional<absl::Time> DueAt(const std::string& deadline_class, const std::string& area,
                                  absl::Time from) const;
  // The route to challenge a recipient's decision when it gives none: the child's plan's
  // escalation contact, else the area's configured resolution route.
  absl::StatusOr<std::string> DefaultChallengeRoute(const std::string& mailbox, uint64_t cursor);
  // Records a refused sharing attempt in the audit log.
  void RecordRefusal(const identity::NodeInfo* sender, const std::string& envelope_digest,
                     const absl::Status& status);

  // The caller's node, or UNAUTHENTICATED (details go to the log, not to the caller).
  absl::StatusOr<const identity::NodeInfo*> Authenticate(grpc::CallbackServerContext* context);

  // Takes one of the max_submits_in_flight places (always, when unbounded), or returns false
  // when none is free; every place taken is given back with ReleaseSubmitPlace.
  bool TakeSubmitPlace();
  void ReleaseSubmitPlace();
  // TakeSubmitPlace without counting or logging a refusal: for a SubmitStream, which waits.
  bool TryTakeSubmitPlace();
  // A SubmitStream's request found no place and waits for one: counted in the warning.
  void NoteStreamWaiting();
  // Logs (at most once per 10 s) how many were refused or held back at capacity.
  void WarnAtCapacity();

  const identity::NodeRegistry& registry_;
  identity::TrustStore& trust_;
  storage::Store& store_;
  delivery::MailboxHub& hub_;
  const Clock& clock_;
  const Options options_;
  routing::RecipientResolver resolver_;
  // The broker's own node id (the last part of its certificate URI): sender of its notices.
  std::string broker_id_;
  // Signs receipts, several at once under load (null without options_.receipt_signer).
  std::unique_ptr<ReceiptBatcher> receipts_;
  // Agencies' Submits admitted and not yet answered (counted even when unbounded); refusals
  // at capacity not yet logged, and when the last warning was (clock_, Unix ns).
  std::atomic<int> submits_in_flight_{0};
  std::atomic<uint64_t> refused_at_capacity_{0};
  std::atomic<uint64_t> held_at_capacity_{0};  // SubmitStream requests that waited for a place
  std::atomic<int64_t> capacity_logged_ns_{0};
  // Mailbox reads and receipt signing: work that must not run on gRPC's or the store's threads.
  // Declared last: its threads stop before anything they use goes.
  WorkQueue workers_{2};
};

}  // namespace safeguard::server

#endif  // SAFEGUARD_BROKER_SERVER_BROKER_SERVICE_H_
