// The Registry gRPC service: social care, early help and front-door nodes publish who is
// responsible for a child (involvements, households); GP, health and school nodes register the
// children they serve, follow a stream of flags minimised by the sharing policy, and look
// children up (which tells the lead worker unless the policy marks the look-up silent).
//
// Every call is authenticated against the caller's certificate and authorised by node type,
// deny by default. Registry store calls fsync, so they run on this service's work queue, never
// on gRPC's callback threads; every write and every flag shared or read is audited.
#ifndef SAFEGUARD_BROKER_SERVER_REGISTRY_SERVICE_H_
#define SAFEGUARD_BROKER_SERVER_REGISTRY_SERVICE_H_

#include <string>

#include "absl/status/statusor.h"
#include "broker/audit/audit_keys.h"
#include "broker/common/clock.h"
#include "broker/delivery/mailbox_hub.h"
#include "broker/identity/node_registry.h"
#include "broker/policy/policy_store.h"
#include "broker/registry/registry_store.h"
#include "broker/server/broker_service.h"
#include "broker/server/work_queue.h"
#include "broker/storage/store.h"
#include "safeguard/v1/registry.grpc.pb.h"

namespace safeguard::server {

// Thread-safe. Every RPC is denied unless the caller's certificate names a registered node of a
// type allowed that RPC:
//   PutInvolvement, CloseInvolvement, PutHousehold, GetChild:  social-care, early-help, front-door
//   UpdateServedChildren, SubscribeFlags, LookupChild:          gp, health, school
// Auditors and every other type are refused (PERMISSION_DENIED).
class RegistryService final : public safeguard::v1::Registry::CallbackService {
 public:
  // `flags_hub` is keyed by node id and fed by RegistryStore::SetFlagListener: it wakes the
  // node's open flag streams when its flag stream grows. `audit_keys` turns child identifiers
  // into the audit log's pseudonyms (null: no child references recorded). `broker` sends the
  // look-up notices to lead workers. All must outlive the service.
  RegistryService(const identity::NodeRegistry& registry, registry::RegistryStore& children,
                  policy::PolicyStore* policy, storage::Store& store,
                  const audit_log::AuditKeys* audit_keys, BrokerService& broker,
                  delivery::MailboxHub& flags_hub, const Clock& clock);
  ~RegistryService() override;

  grpc::ServerUnaryReactor* PutInvolvement(grpc::CallbackServerContext* context,
                                           const safeguard::v1::PutInvolvementRequest* request,
                                           safeguard::v1::PutInvolvementResponse* response) override;
  grpc::ServerUnaryReactor* CloseInvolvement(
      grpc::CallbackServerContext* context, const safeguard::v1::CloseInvolvementRequest* request,
      safeguard::v1::PutInvolvementResponse* response) override;
  grpc::ServerUnaryReactor* PutHousehold(grpc::CallbackServerContext* context,
                                         const safeguard::v1::PutHouseholdRequest* request,
                                         safeguard::v1::PutHouseholdResponse* response) override;
  grpc::ServerUnaryReactor* GetChild(grpc::CallbackServerContext* context,
                                     const safeguard::v1::GetChildRequest* request,
                                     safeguard::v1::ChildRecord* response) override;
  grpc::ServerUnaryReactor* UpdateServedChildren(
      grpc::CallbackServerContext* context,
      const safeguard::v1::UpdateServedChildrenRequest* request,
      safeguard::v1::UpdateServedChildrenResponse* response) override;
  grpc::ServerWriteReactor<safeguard::v1::Flag>* SubscribeFlags(
      grpc::CallbackServerContext* context,
      const safeguard::v1::SubscribeFlagsRequest* request) override;
  grpc::ServerUnaryReactor* LookupChild(grpc::CallbackServerContext* context,
                                        const safeguard::v1::LookupChildRequest* request,
                                        safeguard::v1::LookupChildResponse* response) override;

 private:
  class FlagStream;
  struct Minimised;

  // The caller if it may write the registry (or read a child's record), else the error.
  absl::StatusOr<const identity::NodeInfo*> AdmitWriter(grpc::CallbackServerContext* context,
                                                        absl::string_view what);
  // The caller if it is a GP, health or school node, else the error.
  absl::StatusOr<const identity::NodeInfo*> AdmitServer(grpc::CallbackServerContext* context,
                                                        absl::string_view what);
  // Defaults every named worker's node to the caller and checks it is a node whose mailbox can
  // take a lead worker's post.
  absl::Status CheckWorkers(const identity::NodeInfo& caller,
                            safeguard::v1::Involvement& involvement) const;
  // A flag row as the caller's role may see it, under the policy in force.
  Minimised Minimise(const registry::FlagRow& row, const identity::NodeInfo& reader) const;
  // Pseudonymous references of these identifiers, for audit entries.
  void AddChildRefs(const google::protobuf::RepeatedPtrField<safeguard::v1::SubjectIdentifier>& ids,
                    safeguard::v1::AuditEntry& entry) const;
  safeguard::v1::AuditEntry FlagAudit(safeguard::v1::AuditEvent event, const Minimised& flag,
                                      const registry::FlagRow& row,
                                      const identity::NodeInfo& reader) const;

  const identity::NodeRegistry& registry_;
  registry::RegistryStore& children_;
  policy::PolicyStore* const policy_;
  storage::Store& store_;
  const audit_log::AuditKeys* const audit_keys_;
  BrokerService& broker_;
  delivery::MailboxHub& flags_hub_;
  const Clock& clock_;
  // Registry store calls (each write fsyncs) and flag-stream reads: never on gRPC's threads.
  WorkQueue workers_{2};
};

}  // namespace safeguard::server

#endif  // SAFEGUARD_BROKER_SERVER_REGISTRY_SERVICE_H_
