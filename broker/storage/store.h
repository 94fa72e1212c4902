// The broker's durable state behind one interface: accepted notifications, mailboxes,
// acknowledgements. The embedded SQLite store is the default; a PostgreSQL one can follow.
#ifndef SAFEGUARD_BROKER_STORAGE_STORE_H_
#define SAFEGUARD_BROKER_STORAGE_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "safeguard/v1/audit.pb.h"
#include "safeguard/v1/broker.pb.h"
#include "safeguard/v1/envelope.pb.h"
#include "safeguard/v1/notification.pb.h"

namespace safeguard::storage {

struct AcceptRequest {
  std::string notification_id;   // fresh random id; kept only if this is not a retry
  std::string sender;            // node id, from the caller's certificate
  std::string idempotency_key;
  std::string content_digest;    // SHA-256 of the notification's content (retry detection)
  safeguard::v1::NotificationType type = safeguard::v1::NOTIFICATION_TYPE_UNSPECIFIED;
  std::string envelope;          // the sender's SignedEnvelope as received, every disclosure
  std::string envelope_digest;   // SHA-256 of the envelope's signed payload
  // Where it is delivered, and which disclosable fields each recipient may see (a bitmask of
  // DisclosableField numbers, as the policy decided). May be empty: every share was withheld.
  struct Delivery {
    std::string node_id;
    uint32_t disclosed = 0;
    std::string role;       // the policy role it was decided for: "lead-worker", "front-door", ...
    std::string route;      // why this node: "lead worker of child-protection plan CP-1"
    std::string addressee;  // for a lead worker: the worker's id in the node's system
    // When the recipient must acknowledge by (from the policy's deadline class and the area's
    // working calendar); none: no deadline, never escalated.
    std::optional<absl::Time> due_at;
    std::string deadline_class;
    // For an escalation notice: the cursor of the delivery it escalates (0 otherwise).
    // Acknowledging the notice ends that delivery's escalation ladder.
    uint64_t escalation_of = 0;
  };
  std::vector<Delivery> deliveries;
  // Appended to the audit log in the same transaction (not for a retry): first the SUBMITTED
  // entry, then e.g. one POLICY_DECISION per recipient. The store fills in notification_id.
  std::vector<safeguard::v1::AuditEntry> audit_entries;
  // How the child was found in the registry ("matched on nhs-number", "unmatched", ...).
  std::string child_match;
  // The subjects' identifiers in normal form ("<scheme>:<issuer>:<value>", SubjectKey()),
  // indexed for the chronology and cumulative-concern rules.
  std::vector<std::string> subject_keys;
  // For an escalation notice: the step it takes on the escalated delivery, applied in the same
  // transaction only if that delivery is still unacknowledged at step - 1 (otherwise the accept
  // fails FAILED_PRECONDITION and nothing is stored): a restart never fires a step twice.
  struct EscalationStep {
    uint64_t cursor = 0;
    int step = 0;
    std::optional<absl::Time> next_due;  // none: the ladder is exhausted
  };
  std::optional<EscalationStep> escalates;
};

// "<scheme number>:<issuer>:<value>" for an identifier already in normal form.
std::string SubjectKey(const safeguard::v1::SubjectIdentifier& id);

struct Accepted {
  std::string notification_id;
  uint64_t sequence = 0;
  absl::Time accepted_at;
  std::vector<std::string> recipients;
  bool duplicate = false;  // an earlier submit with the same key was accepted
  std::string envelope_digest;  // of the envelope accepted (the first one, for a retry)
  // Where the SUBMITTED entry sits in the audit log, with its inclusion proof at the size the
  // log had right after this commit. Absent for a retry.
  std::optional<safeguard::v1::AuditInclusion> audit;
};

struct TreeHead {
  uint64_t size = 0;
  std::string root;  // 32 bytes, RFC 6962
};

struct Acknowledged {
  uint64_t cursor = 0;
  std::string notification_id;
  absl::Time acknowledged_at;
  std::string acknowledged_by;
  bool already_acknowledged = false;
};

struct StoredDelivery {
  uint64_t cursor = 0;
  std::string notification_id;
  std::string sender;
  absl::Time accepted_at;
  safeguard::v1::SignedEnvelope envelope;  // as the sender sent it, every disclosure
  uint32_t disclosed = 0;  // the fields this recipient may see (bitmask of DisclosableField)
  std::optional<absl::Time> acknowledged_at;
  std::string acknowledged_by;
  std::string role;
  std::string route;
  std::string addressee;
};

// A recipient's decision on a delivery, for the referrer.
struct OutcomeRecord {
  safeguard::v1::OutcomeKind kind = safeguard::v1::OUTCOME_KIND_UNSPECIFIED;
  std::string rationale;
  std::string recorded_by;
  std::string challenge_route;
};

struct StoredOutcome {
  std::string notification_id;
  std::string mailbox;
  std::string role;
  OutcomeRecord record;
  absl::Time recorded_at;
};

// An escalation notice sent because a delivery was not acknowledged in time.
struct EscalationState {
  int step = 0;
  std::string node_id;     // who it went to
  std::string role;
  std::string route;       // e.g. "escalation step 1: deputy of child-protection plan CP-1"
  absl::Time sent_at;
  std::optional<absl::Time> acknowledged_at;
};

// A delivery past its acknowledgement deadline, for the escalation ladder.
struct OverdueDelivery {
  uint64_t cursor = 0;
  std::string mailbox;
  std::string notification_id;
  std::string sender;
  safeguard::v1::NotificationType type = safeguard::v1::NOTIFICATION_TYPE_UNSPECIFIED;
  std::string role;
  std::string route;
  std::string addressee;
  std::string deadline_class;
  absl::Time accepted_at;
  absl::Time due_at;
  int escalation_step = 0;  // steps already taken
  bool delivered = false;   // sent on a stream at least once
  safeguard::v1::SignedEnvelope envelope;  // as the sender sent it
};

// One accepted notification in a chronology.
struct ChronologyEntry {
  uint64_t sequence = 0;
  std::string notification_id;
  std::string sender;
  safeguard::v1::NotificationType type = safeguard::v1::NOTIFICATION_TYPE_UNSPECIFIED;
  absl::Time accepted_at;
  safeguard::v1::SignedEnvelope envelope;  // as the sender sent it, every disclosure
};

struct RecipientState {
  std::string node_id;
  std::optional<absl::Time> delivered_at;
  std::optional<absl::Time> acknowledged_at;
  std::string acknowledged_by;
  std::string role;
  std::string route;
  std::optional<StoredOutcome> outcome;
  std::optional<absl::Time> due_at;
  std::string deadline_class;
  std::vector<EscalationState> escalations;
};

struct StoredStatus {
  std::string notification_id;
  std::string sender;
  uint64_t sequence = 0;
  safeguard::v1::NotificationType type = safeguard::v1::NOTIFICATION_TYPE_UNSPECIFIED;
  absl::Time accepted_at;
  std::vector<RecipientState> recipients;
  std::string child_match;
};

// Thread-safe. Write operations are queued and committed in groups: each callback runs after
// the commit that made its operation durable (fsync), on the store's committer thread, and must
// not block.
class Store {
 public:
  using AcceptCallback = absl::AnyInvocable<void(absl::StatusOr<Accepted>) &&>;
  using AcknowledgeCallback = absl::AnyInvocable<void(absl::StatusOr<Acknowledged>) &&>;
  using OutcomeCallback = absl::AnyInvocable<void(absl::StatusOr<StoredOutcome>) &&>;
  // Told, after each commit, which mailboxes gained deliveries.
  using CommitListener = std::function<void(const std::vector<std::string>& mailboxes)>;

  virtual ~Store() = default;

  // Accepts a notification durably. A retry (same sender and idempotency key, same content)
  // answers with the original result and duplicate=true; the same key with different content
  // fails ALREADY_EXISTS. Disk full: RESOURCE_EXHAUSTED, nothing stored. Any other storage
  // failure: UNAVAILABLE, and the store refuses further writes until restarted.
  virtual void Accept(AcceptRequest request, AcceptCallback done) = 0;

  // Acknowledges the delivery at `cursor` in `mailbox`. NOT_FOUND if there is none. The first
  // acknowledgement appends `audit` (the store fills in notification_id and acknowledged_by).
  virtual void Acknowledge(std::string mailbox, uint64_t cursor, std::string acknowledged_by,
                           safeguard::v1::AuditEntry audit, AcknowledgeCallback done) = 0;

  // Records the recipient's outcome for the delivery at `cursor` in `mailbox` (replacing an
  // earlier one) and appends `audit` (the store fills in notification_id and counterpart).
  // NOT_FOUND if there is no such delivery.
  virtual void RecordOutcome(std::string mailbox, uint64_t cursor, OutcomeRecord outcome,
                             safeguard::v1::AuditEntry audit, OutcomeCallback done) = 0;

  // Records that a delivery was sent on a stream and, the first time only, appends `audit` (a
  // DELIVERED entry). Rides in the next group commit; nobody waits for it.
  virtual void MarkDelivered(std::string mailbox, uint64_t cursor,
                             safeguard::v1::AuditEntry audit) = 0;

  // Appends an entry that records no other change (a refusal, an auditor's query). Rides in the
  // next group commit.
  virtual void AppendAudit(safeguard::v1::AuditEntry entry) = 0;

  // Stores a signed checkpoint of the audit log. REQUIRES: size ≤ CommittedTreeHead().size.
  virtual void SaveCheckpoint(uint64_t size, std::string note) = 0;

  // The audit log's size and root as of the last commit.
  virtual TreeHead CommittedTreeHead() const = 0;

  // Deliveries in `mailbox` with cursor > after_cursor, in cursor order, at most `limit`.
  virtual absl::StatusOr<std::vector<StoredDelivery>> ReadMailbox(const std::string& mailbox,
                                                                  uint64_t after_cursor,
                                                                  bool include_acknowledged,
                                                                  int limit) = 0;

  virtual absl::StatusOr<StoredStatus> GetStatus(const std::string& notification_id) = 0;

  // Unacknowledged deliveries due at or before `now` whose ladder is not exhausted and none of
  // whose escalation notices was acknowledged, earliest first, at most `limit`.
  virtual absl::StatusOr<std::vector<OverdueDelivery>> OverdueDeliveries(absl::Time now,
                                                                         int limit) = 0;

  // Notifications about any of `subject_keys` accepted in [from, to), in sequence order after
  // `after_sequence`, at most `limit`. With `envelope_wanted`, only entries of the types it
  // accepts carry their envelope (reading envelopes is most of the cost; rules that count events
  // need only sequence, sender, type and time).
  using TypeFilter = bool (*)(safeguard::v1::NotificationType);
  // Which entries `limit` keeps when more match: the oldest (a reader paging forward with
  // `after_sequence`) or the newest (rules that look at what happened most recently). Either
  // way the entries come in sequence order.
  enum class Keep { kOldest, kNewest };
  virtual absl::StatusOr<std::vector<ChronologyEntry>> ReadChronology(
      const std::vector<std::string>& subject_keys, absl::Time from, absl::Time to,
      uint64_t after_sequence, int limit, TypeFilter envelope_wanted = nullptr,
      Keep keep = Keep::kOldest) = 0;

  // REQUIRES: called before the first write.
  virtual void SetCommitListener(CommitListener listener) = 0;
};

}  // namespace safeguard::storage

#endif  // SAFEGUARD_BROKER_STORAGE_STORE_H_
