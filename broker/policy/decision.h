// A question to the sharing policy and its answer: a decision record complete enough to say,
// from the record alone, what was shared with whom, under which law, or why it was not
// (golden rule 7 of the information-sharing advice: record the decision and the reasons for
// it, whether it is to share or not).
#ifndef SAFEGUARD_BROKER_POLICY_DECISION_H_
#define SAFEGUARD_BROKER_POLICY_DECISION_H_

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "broker/policy/vocabulary.h"
#include "clients/protocol/node_type.h"
#include "safeguard/v1/notification.pb.h"

namespace safeguard::policy {

// One question: may this notification go to this recipient? A value type.
struct SharingRequest {
  protocol::NodeType sender = protocol::NodeType::kGp;
  safeguard::v1::NotificationType type = safeguard::v1::NOTIFICATION_TYPE_UNSPECIFIED;
  ChildStatus child_status = ChildStatus::kNoPlan;
  ConsentState consent = ConsentState::kNotSought;
  NotSoughtReason not_sought_reason = NotSoughtReason::kUnspecified;  // when consent not-sought
  bool risk_of_harm = false;  // the sender indicates a perceived or possible risk of harm
  RecipientRole recipient = RecipientRole::kFrontDoor;
};

// "sender=gp type=was-not-brought status=child-protection consent=refused risk=yes
//  recipient=school"
std::string FormatRequest(const SharingRequest& request);

// Which data-protection regime the sender processes under.
enum class Regime : uint8_t {
  kUkGdpr,          // "uk-gdpr": UK GDPR with DPA 2018 Part 2
  kLawEnforcement,  // "law-enforcement": DPA 2018 Part 3 (competent authorities: police)
};
absl::string_view RegimeName(Regime regime);

// The lawful basis a share relies on, as structured data. Strings are the policy's wording.
struct LawfulBasis {
  std::string name;         // the policy's name for it, e.g. "SG-RISK", "SG-CP", "CONSENT"
  std::string description;  // e.g. "Safeguarding: perceived or possible risk of harm"
  Regime regime = Regime::kUkGdpr;
  // Regime kUkGdpr.
  std::string article6;   // UK GDPR Art 6(1) condition, e.g. "6(1)(e) public task"
  std::string article9;   // Art 9(2) condition, "" when none is relied on
  std::string schedule1;  // the DPA 2018 Sch 1 condition that goes with Art 9(2)(g)/(h)
  // Regime kLawEnforcement.
  std::string lawful_processing;     // DPA 2018 s.35(2) condition
  std::string sensitive_processing;  // s.35(4)/(5) condition with its Sch 8 paragraph
  // Both.
  std::string statutory_gateway;  // the law that gives the power or duty to share
  // "consent given", or the condition relied on to share without consent (for example
  // "DPA 2018 Sch 1 para 18(c): ...") when consent was not sought, refused or withdrawn.
  std::string consent;
};

struct Citation {
  std::string id;     // the policy's reference id, e.g. "isa-2024"
  std::string title;  // e.g. "HM Government, Information sharing advice ... (May 2024)"
  std::string url;    // may be empty
};

enum class Outcome : uint8_t { kShare, kWithhold };
absl::string_view OutcomeName(Outcome outcome);  // "share" / "withhold"

// The rule id recorded when no rule decided: nothing matched, so the policy withholds.
inline constexpr char kDefaultWithholdRuleId[] = "default-withhold";

// A decision record. A value type: it owns its data and outlives the policy that made it.
// Invariants: outcome == kShare <=> basis is set; disclosed and withheld partition the six
// disclosable fields; a withholding discloses nothing; reason and rule_id are never empty.
struct Decision {
  Outcome outcome = Outcome::kWithhold;
  SharingRequest request;

  std::string rule_id;  // the rule that decided, or kDefaultWithholdRuleId
  int rule_line = 0;    // its line in the policy file (0 for the default)

  std::string policy_name;
  std::string policy_version;  // the file's own version string
  std::string policy_digest;   // lowercase hex SHA-256 of the policy file's bytes

  std::optional<LawfulBasis> basis;  // shares only
  std::string purpose;               // shares only
  std::string deadline;              // shares only: a deadline class, e.g. "same-day"
  FieldSet disclosed;                // empty for a withholding
  FieldSet withheld;                 // the rest of the six fields

  std::vector<Citation> citations;  // the deciding rule's (or the default's), then the basis's
  std::string reason;               // why, in a sentence a practitioner can read
  // Rules that also matched this request and recipient but did not decide (explainability).
  std::vector<std::string> also_matched;

  bool shared() const { return outcome == Outcome::kShare; }
};

// A multi-line description for people (safeguardctl policy explain).
std::string FormatDecision(const Decision& decision);
// The basis in one line, as recipients, senders and the audit log see it: "SG-RISK: UK GDPR
// 6(1)(e) public task; 9(2)(g) … + DPA 2018 Sch 1 para 18; gateway …; consent: …".
std::string FormatLawfulBasis(const LawfulBasis& basis);
// One JSON object, keys in snake_case, for logs and scripts.
std::string DecisionToJson(const Decision& decision);

// One question about flags (registry.proto `Flag`): what may a node of this role, which serves
// the child, be told about the child's plan of this status? A value type.
struct FlagRequest {
  RecipientRole recipient = RecipientRole::kGp;  // gp, health or school; any other is told nothing
  ChildStatus status = ChildStatus::kNoPlan;     // the plan's status (the most protective open one)
};

// "flag to=gp status=child-protection"
std::string FormatFlagRequest(const FlagRequest& request);

// The rule id recorded when no flag rule decided.
inline constexpr char kDefaultFlagRuleId[] = "default-no-flag";

// A flag decision record. A value type.
// Invariants: shared <=> basis is set <=> fields is not empty; shared => fields contains
// kPlanType; !shared => silent_look_ups is empty; reason and policy_digest are never empty.
struct FlagDecision {
  bool shared =
      false;  // false: this role is told nothing about this plan (not even that it exists)
  FlagRequest request;
  std::string rule_id;  // the flag rule that decided; kDefaultFlagRuleId when none matched
  int rule_line = 0;    // its line in the policy file (0 for the default)
  std::optional<LawfulBasis> basis;        // shares only
  std::set<FlagField> fields;              // shares only; always holds kPlanType
  std::set<LookupReason> silent_look_ups;  // look-ups that do NOT notify the lead worker
  std::vector<Citation> citations;         // the rule's (or the default's), then the basis's
  std::string reason;                      // a sentence, shares and withholdings alike
  std::string policy_name;
  std::string policy_version;
  std::string policy_digest;  // lowercase hex SHA-256 of the policy file's bytes

  bool Shares(FlagField f) const { return fields.count(f) != 0; }
  // The fields of a shared flag this role does not see, in FlagField order (Flag.withheld).
  std::vector<FlagField> Withheld() const;
  // True when a look-up for `r` by this role must NOT notify the lead worker. A look-up of a
  // plan that is not shared with the role notifies nobody either: the role was told nothing.
  bool SilentLookUp(LookupReason r) const { return silent_look_ups.count(r) != 0; }
};

// A multi-line description for people, and one JSON object (as for Decision).
std::string FormatFlagDecision(const FlagDecision& decision);
std::string FlagDecisionToJson(const FlagDecision& decision);

}  // namespace safeguard::policy

#endif  // SAFEGUARD_BROKER_POLICY_DECISION_H_
