// The policy file as parsed: what the YAML said, with where it said it. Produced by
// policy_parser, consumed by policy_compiler; not part of the engine's interface.
#ifndef SAFEGUARD_BROKER_POLICY_INTERNAL_POLICY_MODEL_H_
#define SAFEGUARD_BROKER_POLICY_INTERNAL_POLICY_MODEL_H_

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "broker/policy/cumulative_rule.h"
#include "broker/policy/deadline_rule.h"
#include "broker/policy/decision.h"
#include "broker/policy/vocabulary.h"

namespace safeguard::policy::internal {

struct SourceMark {
  int line = 0;  // 1-based; 0 unknown
  int column = 0;
};

// The set of requests a rule matches, one bitmask per dimension. Value type.
// Bits: senders by protocol::NodeType, types by TypeIndex(), statuses by ChildStatus, consents
// by ConsentState, risks: bit 0 = no risk indicated, bit 1 = risk indicated.
struct MatchSet {
  uint16_t senders = 0;
  uint64_t types = 0;
  uint8_t statuses = 0;
  uint8_t consents = 0;
  uint8_t risks = 0;

  static MatchSet Everything();  // every sender but auditors, every type, status, ...
  bool Empty() const {
    return senders == 0 || types == 0 || statuses == 0 || consents == 0 || risks == 0;
  }
  bool Contains(const MatchSet& o) const {
    return (o.senders & ~senders) == 0 && (o.types & ~types) == 0 &&
           (o.statuses & ~statuses) == 0 && (o.consents & ~consents) == 0 &&
           (o.risks & ~risks) == 0;
  }
  bool Intersects(const MatchSet& o) const {
    return (senders & o.senders) && (types & o.types) && (statuses & o.statuses) &&
           (consents & o.consents) && (risks & o.risks);
  }
  bool operator==(const MatchSet&) const = default;
  // How many (sender, type, status, consent, risk) combinations it holds.
  uint64_t Size() const;
};

struct Reference {
  std::string id;
  std::string title;
  std::string url;
  std::string note;
  SourceMark mark;
};

struct BasisModel {
  std::string name;
  SourceMark mark;
  std::string description;
  bool has_uk_gdpr = false;
  std::string article6, article9, schedule1, uk_without_consent;
  bool has_law_enforcement = false;
  std::string lawful_processing, sensitive_processing, le_without_consent;
  std::string gateway;
  std::vector<std::string> citations;
  std::optional<MatchSet> requires_match;  // every rule using this basis must lie inside it
  SourceMark requires_mark;

  // True when the basis applies only with consent given (CONSENT): what it shares rests on the
  // family's agreement.
  bool RestsOnConsent() const {
    return requires_match && requires_match->consents == 1u << Index(ConsentState::kGiven);
  }
};

struct RuleTarget {
  RecipientRole role;
  FieldSet fields;  // share: what this recipient sees; withhold: empty
  SourceMark mark;
};

struct RuleModel {
  std::string id;
  SourceMark mark;
  int index = 0;      // position in the file
  bool valid = true;  // false when the rule itself had an error: left out of the analysis
  std::string description;
  std::vector<std::string> citations;
  MatchSet match;
  SourceMark match_mark;
  Outcome outcome = Outcome::kWithhold;
  std::vector<RuleTarget> to;
  // Share.
  std::string basis;
  SourceMark basis_mark;
  std::string purpose;
  std::string deadline;
  std::string gateway;  // overrides the basis's gateway when set
  // Withhold.
  std::string reason;
  std::vector<std::pair<std::string, SourceMark>> overrides;
};

// A flag rule (`flags:`): which plans the roles that serve a child are told of, and how much.
struct FlagRuleModel {
  std::string id;
  SourceMark mark;
  bool valid = true;  // false when the rule itself had an error: left out of the table
  std::string description;
  std::vector<std::string> citations;
  std::vector<std::pair<RecipientRole, SourceMark>> to;  // gp, health or school
  uint8_t statuses = 0;                                  // bits by ChildStatus; never kNoPlan
  SourceMark status_mark;
  uint8_t fields = 0;  // bits by FlagField; kPlanType always set once parsed
  std::string basis;
  SourceMark basis_mark;
  uint8_t silent_look_ups = 0;  // bits by LookupReason

  bool Matches(RecipientRole role, ChildStatus status) const {
    if (!((statuses >> static_cast<int>(status)) & 1)) return false;
    for (const auto& [r, m] : to) {
      if (r == role) return true;
    }
    return false;
  }
};

struct PolicyModel {
  std::string file;
  std::string name;
  std::string version;
  std::string description;
  std::map<std::string, Reference> references;
  std::array<Regime, kNodeTypeCount> regime{};   // by sending node type
  std::map<std::string, std::string> deadlines;  // class name -> description
  // class name -> how its due time is computed (kind kNone for a plain description).
  std::map<std::string, DeadlineRule> deadline_rules;
  std::array<std::optional<FieldSet>, kRecipientRoleCount> datasets;
  std::map<std::string, BasisModel> bases;
  std::string default_reason;
  std::vector<std::string> default_citations;
  std::vector<RuleModel> rules;
  std::vector<FlagRuleModel> flags;  // file order: the first matching one decides
  std::vector<CumulativeRule> cumulative;  // `cumulative:`, file order
  DriftSettings drift;                     // `drift:` (defaults when absent)
};

}  // namespace safeguard::policy::internal

#endif  // SAFEGUARD_BROKER_POLICY_INTERNAL_POLICY_MODEL_H_
