// The words of the sharing-rule language: who sends, what happened, the child's status, the
// state of consent, who receives and which parts of a notification they see. Each has one
// spelling in policy files, on safeguardctl's command line and in decision records
// ("was-not-brought", "child-protection", "lead-worker", "health-details").
//
// Notification types come from the proto descriptor, so a type added to
// proto/safeguard/v1/notification.proto is known here at once (and the default policy's
// coverage test fails until a rule covers it): NOTIFICATION_TYPE_HEALTH_ATTENDANCE is
// "health-attendance", NOTIFICATION_TYPE_FLAG_LOOKED_UP (sent by the broker itself) is
// "flag-looked-up".
//
// Flags (registry.proto `Flag`) have words of their own: the parts of a flag a role may see
// ("plan-type", "lead-worker", "escalation-contact", "plan-dates") and why a node looked a child
// up ("attendance", "registration", "record-check").
#ifndef SAFEGUARD_BROKER_POLICY_VOCABULARY_H_
#define SAFEGUARD_BROKER_POLICY_VOCABULARY_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "clients/protocol/node_type.h"
#include "safeguard/v1/envelope.pb.h"
#include "safeguard/v1/notification.pb.h"

namespace safeguard::policy {

// Where the child stands with children's services when the notification is sent.
enum class ChildStatus : uint8_t {
  kNoPlan,           // "no-plan"
  kEarlyHelp,        // "early-help": an early help / team-around-the-family plan
  kChildInNeed,      // "child-in-need": Children Act 1989 s.17 plan
  kChildProtection,  // "child-protection": a child protection plan (s.47 / ICPC)
  kLookedAfter,      // "looked-after": in the care of the local authority
};
inline constexpr int kChildStatusCount = 5;

enum class ConsentState : uint8_t {
  kGiven,      // "given"
  kNotSought,  // "not-sought" (with a NotSoughtReason)
  kRefused,    // "refused"
  kWithdrawn,  // "withdrawn"
};
inline constexpr int kConsentStateCount = 4;

// Why consent was not sought: the reasons of DPA 2018 Sch 1 para 18(2) / Sch 8 para 4(2), plus
// the ordinary safeguarding case where consent is not the lawful basis relied on.
enum class NotSoughtReason : uint8_t {
  kUnspecified,               // "" (a request with consent not-sought should say why)
  kCannotBeGiven,             // "cannot-be-given"
  kCannotReasonablyObtain,    // "cannot-reasonably-obtain"
  kWouldPrejudiceProtection,  // "would-prejudice-protection"
  kNotTheLawfulBasis,         // "not-the-lawful-basis"
};

// Who receives: a kind of node, or the child's lead worker (a role any agency's worker may hold).
// The first nine mirror protocol::NodeType in order.
enum class RecipientRole : uint8_t {
  kGp,
  kSchool,
  kHousing,
  kPolice,
  kFrontDoor,
  kSocialCare,
  kHealth,
  kEarlyHelp,
  kAuditor,
  kLeadWorker,  // "lead-worker"
};
inline constexpr int kRecipientRoleCount = 10;
inline constexpr int kNodeTypeCount = 9;

inline int Index(protocol::NodeType t) { return static_cast<int>(t); }
inline int Index(RecipientRole r) { return static_cast<int>(r); }
inline int Index(ChildStatus s) { return static_cast<int>(s); }
inline int Index(ConsentState c) { return static_cast<int>(c); }

RecipientRole RoleOf(protocol::NodeType type);
// The node type a role is, or nullopt for kLeadWorker.
std::optional<protocol::NodeType> NodeTypeOf(RecipientRole role);

absl::string_view ChildStatusName(ChildStatus s);
std::optional<ChildStatus> ParseChildStatus(absl::string_view name);
absl::string_view ConsentStateName(ConsentState c);
std::optional<ConsentState> ParseConsentState(absl::string_view name);
absl::string_view NotSoughtReasonName(NotSoughtReason r);
std::optional<NotSoughtReason> ParseNotSoughtReason(absl::string_view name);
absl::string_view RecipientRoleName(RecipientRole r);
std::optional<RecipientRole> ParseRecipientRole(absl::string_view name);

// "was-not-brought" for NOTIFICATION_TYPE_WAS_NOT_BROUGHT.
std::string NotificationTypeName(safeguard::v1::NotificationType type);
std::optional<safeguard::v1::NotificationType> ParseNotificationType(absl::string_view name);

// The notification types a policy speaks about: every value of the enum but UNSPECIFIED, in
// declaration order. TypeIndex() is the position in this list, or -1 for any other value.
const std::vector<safeguard::v1::NotificationType>& AllNotificationTypes();
int TypeIndex(safeguard::v1::NotificationType type);

// Comma-separated lists of every valid word, for error messages.
std::string AllChildStatusNames();
std::string AllConsentStateNames();
std::string AllNotSoughtReasonNames();
std::string AllRecipientRoleNames();
std::string AllFieldNames();

// The parts of a flag (registry.proto `Flag`) a flag rule may share with a role. plan-type is
// the flag itself and is always shared when anything is.
enum class FlagField : uint8_t {
  kPlanType,           // "plan-type": Flag.plan_type
  kLeadWorker,         // "lead-worker": Flag.lead_worker
  kEscalationContact,  // "escalation-contact": Flag.escalation_contact
  kPlanDates,          // "plan-dates": Flag.plan_start and Flag.next_review
};
inline constexpr int kFlagFieldCount = 4;

// Why a GP, health or school node looked a child up (registry.proto `LookupReason`, same order
// from 1: LOOKUP_REASON_ATTENDANCE = 1 is kAttendance).
enum class LookupReason : uint8_t {
  kAttendance,    // "attendance": the child is attending now (appointment, A&E, admission)
  kRegistration,  // "registration": registering the child
  kRecordCheck,   // "record-check": a routine check of the record
};
inline constexpr int kLookupReasonCount = 3;

absl::string_view FlagFieldName(FlagField f);
std::optional<FlagField> ParseFlagField(absl::string_view name);
absl::string_view LookupReasonName(LookupReason r);
std::optional<LookupReason> ParseLookupReason(absl::string_view name);
std::string AllFlagFieldNames();
std::string AllLookupReasonNames();

// The roles that register the children they serve and may receive flags: gp, health, school.
bool IsFlagRecipient(RecipientRole role);
std::string AllFlagRecipientNames();  // "gp, health, school"

// A set of disclosable fields as a bitmask (bit n = DisclosableField n). A value type.
class FieldSet {
 public:
  constexpr FieldSet() = default;
  static FieldSet All();  // the six fields of DisclosableField
  // For storage: bits() of a FieldSet; bits that are no field are dropped.
  static FieldSet FromBits(uint8_t bits) { return FieldSet(bits & All().bits_); }

  void Insert(safeguard::v1::DisclosableField f) { bits_ |= Bit(f); }
  bool Contains(safeguard::v1::DisclosableField f) const { return (bits_ & Bit(f)) != 0; }
  bool ContainsAll(FieldSet other) const { return (other.bits_ & ~bits_) == 0; }
  bool empty() const { return bits_ == 0; }
  FieldSet Minus(FieldSet other) const { return FieldSet(bits_ & ~other.bits_); }
  uint8_t bits() const { return bits_; }
  bool operator==(const FieldSet& o) const = default;

  // In field-number order.
  std::vector<safeguard::v1::DisclosableField> ToVector() const;
  std::set<safeguard::v1::DisclosableField> ToSet() const;
  // "child-identity, summary" or "none".
  std::string ToString() const;

 private:
  explicit constexpr FieldSet(uint8_t bits) : bits_(bits) {}
  static constexpr uint8_t Bit(safeguard::v1::DisclosableField f) {
    return static_cast<uint8_t>(1u << static_cast<int>(f));
  }
  uint8_t bits_ = 0;
};

// "child-identity", ... (protocol::DisclosableFieldName's spelling, from a table: no allocation).
absl::string_view FieldName(safeguard::v1::DisclosableField field);
std::optional<safeguard::v1::DisclosableField> ParseField(absl::string_view name);

}  // namespace safeguard::policy

#endif  // SAFEGUARD_BROKER_POLICY_VOCABULARY_H_
