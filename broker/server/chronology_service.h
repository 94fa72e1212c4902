// The Chronology gRPC service (proto/safeguard/v1/chronology.proto): a child's multi-agency
// chronology, and optionally their household's, as the requester is entitled to see it.
//
// Entitlement, deny by default: only social-care, early-help and front-door nodes may ask. The
// requester's role is "lead-worker" when its node holds (published, or leads) an involvement of
// the child, open or closed, else its node type's role. Each stored notification about the
// children is decided by the sharing policy in force for that role, with the notification's own
// sender, type, consent and risk and the child's plan status from the registry, and minimised to
// the fields the decision allows; withheld events are counted, never sent. Every view appends one
// AUDIT_EVENT_CHRONOLOGY_VIEWED entry (who, the children's pseudonyms, the purpose, the counts).
#ifndef SAFEGUARD_BROKER_SERVER_CHRONOLOGY_SERVICE_H_
#define SAFEGUARD_BROKER_SERVER_CHRONOLOGY_SERVICE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "broker/audit/audit_keys.h"
#include "broker/common/clock.h"
#include "broker/identity/node_registry.h"
#include "broker/policy/policy_store.h"
#include "broker/policy/sharing_policy.h"
#include "broker/registry/registry_store.h"
#include "broker/server/work_queue.h"
#include "broker/storage/store.h"
#include "safeguard/v1/chronology.grpc.pb.h"

namespace safeguard::server {

// One child of a chronology, as the requester's view is decided for it.
struct ChronologySubject {
  std::string label;              // "the child", "sibling 1", ...
  std::vector<std::string> keys;  // storage::SubjectKey of each of the child's identifiers
  policy::ChildStatus status = policy::ChildStatus::kNoPlan;  // the most protective open plan
  // lead-worker when the requester's node holds an involvement of this child, else its type's.
  policy::RecipientRole role = policy::RecipientRole::kFrontDoor;
};

// What the requester may see of one stored notification: the event, or nullopt when the policy
// withholds it from the requester's role (or its sender is not a registered node, e.g. the
// broker's own notices: `sender_type` nullopt). The subject is the first of `subjects` whose
// key the notification carries. DATA_LOSS if the stored envelope no longer assembles.
// Used by the service and by tests/bench/chronology_bench.cc.
absl::StatusOr<std::optional<safeguard::v1::ChronologyEvent>> DecideChronologyEvent(
    const storage::ChronologyEntry& entry, std::optional<protocol::NodeType> sender_type,
    const std::vector<ChronologySubject>& subjects, const policy::SharingPolicy& policy);

// Thread-safe.
class ChronologyService final : public safeguard::v1::Chronology::CallbackService {
 public:
  // `audit_keys` may be null (no child references recorded). All must outlive the service.
  ChronologyService(const identity::NodeRegistry& registry, registry::RegistryStore& children,
                    policy::PolicyStore* policy, storage::Store& store,
                    const audit_log::AuditKeys* audit_keys, const Clock& clock);
  ~ChronologyService() override;

  grpc::ServerWriteReactor<safeguard::v1::ChronologyMessage>* GetChronology(
      grpc::CallbackServerContext* context,
      const safeguard::v1::GetChronologyRequest* request) override;

 private:
  class Stream;

  const identity::NodeRegistry& registry_;
  registry::RegistryStore& children_;
  policy::PolicyStore* const policy_;
  storage::Store& store_;
  const audit_log::AuditKeys* const audit_keys_;
  const Clock& clock_;
  // Registry and store reads: never on gRPC's callback threads.
  WorkQueue workers_{2};
};

}  // namespace safeguard::server

#endif  // SAFEGUARD_BROKER_SERVER_CHRONOLOGY_SERVICE_H_
