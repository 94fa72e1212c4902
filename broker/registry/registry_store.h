// The plan registry: children known by several identifiers, their involvements (plans with a
// lead worker and escalation contact), households, and the children each GP, health or school
// node serves, with the flag stream those nodes read.
//
// Its own SQLite database (registry.db in the data directory, WAL, synchronous=FULL): a write
// returns only after it is durable. Registry writes are rare next to notifications, so they are
// serialised by one mutex rather than group-committed.
#ifndef SAFEGUARD_BROKER_REGISTRY_REGISTRY_STORE_H_
#define SAFEGUARD_BROKER_REGISTRY_REGISTRY_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "broker/common/clock.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "safeguard/v1/notification.pb.h"
#include "safeguard/v1/registry.pb.h"

namespace safeguard::registry {

// How a notification's subject was found in the registry. Matching is on identifiers only
// (scheme + value, and issuer for local references), never on names or dates of birth, and
// never merges two children silently.
struct ChildMatch {
  enum class Kind {
    kUnmatched,    // no identifier is known to the registry
    kMatched,      // every known identifier belongs to one child
    kConflicting,  // the identifiers belong to two or more different children
  };
  Kind kind = Kind::kUnmatched;
  std::vector<std::string> subject_ids;  // kMatched: one; kConflicting: each child found
  // For people: "matched on nhs-number", "matched on nhs-number and school-upn",
  // "unmatched", "identifiers belong to 2 different children in the registry".
  std::string description;
};

// One change in a GP, health or school node's flag stream (stored as it was when it changed;
// the service minimises it by policy when it is read).
struct FlagRow {
  uint64_t cursor = 0;
  safeguard::v1::SubjectIdentifier identifier;  // as the node registered it
  bool flagged = false;
  // The most protective open involvement when flagged (plan_type, workers, dates); empty if not.
  safeguard::v1::Involvement involvement;
  absl::Time changed_at;
};

// Thread-safe.
class RegistryStore {
 public:
  // Opens or creates the database at `path` (schema created or migrated). Fails with a message
  // naming the file when it cannot be opened or is not a registry database.
  static absl::StatusOr<std::unique_ptr<RegistryStore>> Open(const std::string& path,
                                                             const Clock& clock);
  virtual ~RegistryStore() = default;

  // --- Writes (durable on return). `publisher` is the caller's node id; `publisher_area` its
  // area (the default for the involvement's area). Authorisation by node type is the service's
  // job; validation of content is the store's: INVALID_ARGUMENT naming the field (e.g.
  // "involvement.escalation_contact: is required for a child-protection plan (requirements
  // §4.9): give a named person or role and a contact"), FAILED_PRECONDITION when the
  // identifiers belong to different children (names both, merges nothing), NOT_FOUND for an
  // unknown reference. Each write keeps the previous version in history and appends flag rows
  // for every served child whose flag it changes.

  virtual absl::StatusOr<safeguard::v1::PutInvolvementResponse> PutInvolvement(
      const std::string& publisher, const std::string& publisher_area,
      safeguard::v1::Involvement involvement) = 0;
  virtual absl::StatusOr<safeguard::v1::PutInvolvementResponse> CloseInvolvement(
      const std::string& publisher, const safeguard::v1::CloseInvolvementRequest& request) = 0;
  virtual absl::StatusOr<safeguard::v1::PutHouseholdResponse> PutHousehold(
      const std::string& publisher, const std::string& publisher_area,
      safeguard::v1::Household household) = 0;
  // `node` is a GP, health or school node id.
  virtual absl::StatusOr<safeguard::v1::UpdateServedChildrenResponse> UpdateServedChildren(
      const std::string& node, const safeguard::v1::UpdateServedChildrenRequest& request) = 0;

  // --- Reads for routing (fast: indexed look-ups, called on every Submit).

  virtual absl::StatusOr<ChildMatch> MatchChild(
      const google::protobuf::RepeatedPtrField<safeguard::v1::SubjectIdentifier>& ids) = 0;
  // The child's open involvements, most protective plan first (LA > CP > CIN > EH).
  virtual absl::StatusOr<std::vector<safeguard::v1::Involvement>> OpenInvolvements(
      const std::string& subject_id) = 0;
  // The subject ids of the children in every household the person (child or adult) belongs to,
  // the person included if a child; empty if in no household. A person only linked to a
  // household (HOUSEHOLD_ROLE_LINKED_ADULT: not living there) does not bring its children.
  virtual absl::StatusOr<std::vector<std::string>> HouseholdChildren(
      const std::string& subject_id) = 0;
  // The children of the households registered at this UPRN.
  virtual absl::StatusOr<std::vector<std::string>> ChildrenAtUprn(const std::string& uprn) = 0;
  // The nodes that registered any of the child's identifiers as served, in id order.
  virtual absl::StatusOr<std::vector<std::string>> ServingNodes(const std::string& subject_id) = 0;
  // The nodes that registered any of these identifiers as served, whether or not the registry
  // knows the child (Operation Encompass reaches a school for a child without a plan).
  virtual absl::StatusOr<std::vector<std::string>> ServingNodesOf(
      const google::protobuf::RepeatedPtrField<safeguard::v1::SubjectIdentifier>& ids) = 0;

  // Every open involvement of every child, in (publisher, reference) order: the plan-drift
  // check (broker/concern). A full scan; called every few minutes, not per notification.
  virtual absl::StatusOr<std::vector<safeguard::v1::Involvement>> AllOpenInvolvements() = 0;

  // --- Reads for the Registry service.

  // NOT_FOUND if no child has this identifier.
  virtual absl::StatusOr<safeguard::v1::ChildRecord> GetChild(
      const safeguard::v1::SubjectIdentifier& identifier) = 0;
  // The node's flag rows with cursor > after_cursor, in cursor order, at most `limit`.
  virtual absl::StatusOr<std::vector<FlagRow>> ReadFlags(const std::string& node,
                                                         uint64_t after_cursor, int limit) = 0;
  // The flag for one identifier now (cursor 0), whether or not the node serves the child.
  virtual absl::StatusOr<FlagRow> CurrentFlag(
      const safeguard::v1::SubjectIdentifier& identifier) = 0;

  // Told, after each write, which nodes' flag streams gained rows. Called on the writing thread
  // after the commit; must not block. REQUIRES: set before the first write.
  using FlagListener = std::function<void(const std::vector<std::string>& nodes)>;
  virtual void SetFlagListener(FlagListener listener) = 0;
};

}  // namespace safeguard::registry

#endif  // SAFEGUARD_BROKER_REGISTRY_REGISTRY_STORE_H_
