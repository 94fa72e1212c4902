#include "broker/policy/internal/policy_parser.h"

#include <algorithm>
#include <functional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "broker/policy/internal/yaml_reader.h"
#include "clients/protocol/notification_validator.h"

namespace safeguard::policy::internal {
namespace {

using Kind = Diagnostic::Kind;

constexpr uint8_t kAllStatuses = (1u << kChildStatusCount) - 1;
constexpr uint8_t kAllConsents = (1u << kConsentStateCount) - 1;
constexpr uint8_t kBothRisks = 0x3;
constexpr uint8_t kConsentGivenBit = 1u << static_cast<int>(ConsentState::kGiven);
constexpr uint8_t kRiskBit = 0x2;  // bit 1: risk of harm indicated
constexpr uint16_t kAuditorBit = 1u << static_cast<int>(protocol::NodeType::kAuditor);
constexpr uint16_t kSendingTypes = ((1u << kNodeTypeCount) - 1) & ~kAuditorBit;

uint64_t AllTypeBits() {
  size_t n = AllNotificationTypes().size();
  return n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1;
}

bool IsName(absl::string_view s, bool allow_upper) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == '_' || (allow_upper && c >= 'A' && c <= 'Z');
    if (!ok) return false;
  }
  return true;
}

// The senders of a match that process under `regime`.
uint16_t SendersUnder(const PolicyModel& m, uint16_t senders, Regime regime) {
  uint16_t out = 0;
  for (int t = 0; t < kNodeTypeCount; ++t) {
    if ((senders & (1u << t)) && m.regime[t] == regime) out |= 1u << t;
  }
  return out;
}

std::string DescribeOutside(const MatchSet& rule, const MatchSet& allowed) {
  std::vector<std::string> parts;
  for (int t = 0; t < kNodeTypeCount; ++t) {
    if ((rule.senders & (1u << t)) && !(allowed.senders & (1u << t))) {
      parts.push_back(
          absl::StrCat("sender ", protocol::NodeTypeName(static_cast<protocol::NodeType>(t))));
      break;
    }
  }
  const auto& types = AllNotificationTypes();
  for (size_t i = 0; i < types.size(); ++i) {
    if ((rule.types >> i & 1) && !(allowed.types >> i & 1)) {
      parts.push_back(absl::StrCat("type ", NotificationTypeName(types[i])));
      break;
    }
  }
  for (int s = 0; s < kChildStatusCount; ++s) {
    if ((rule.statuses >> s & 1) && !(allowed.statuses >> s & 1)) {
      parts.push_back(absl::StrCat("status ", ChildStatusName(static_cast<ChildStatus>(s))));
      break;
    }
  }
  for (int c = 0; c < kConsentStateCount; ++c) {
    if ((rule.consents >> c & 1) && !(allowed.consents >> c & 1)) {
      parts.push_back(absl::StrCat("consent ", ConsentStateName(static_cast<ConsentState>(c))));
      break;
    }
  }
  if ((rule.risks & ~allowed.risks) & 1) parts.push_back("no risk of harm indicated");
  if ((rule.risks & ~allowed.risks) & 2) parts.push_back("risk of harm indicated");
  return absl::StrJoin(parts, ", ");
}

// Levenshtein distance, for "did you mean" on typing mistakes.
size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// " (did you mean 'school-absence'?)" when one of `known` (comma-separated) is close to `name`.
std::string DidYouMean(absl::string_view name, absl::string_view known) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, name.size() / 4) + 1;
  for (absl::string_view candidate : absl::StrSplit(known, ", ")) {
    size_t d = EditDistance(name, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = std::string(candidate);
    }
  }
  return best.empty() ? "" : absl::StrCat(" (did you mean '", best, "'?)");
}

std::string AllTypeNames() {
  std::vector<std::string> names;
  for (auto t : AllNotificationTypes()) names.push_back(NotificationTypeName(t));
  return absl::StrJoin(names, ", ");
}

class PolicyParser {
 public:
  PolicyParser(absl::string_view file, std::vector<Diagnostic>* diagnostics)
      : r_(std::string(file), diagnostics) {
    m_.file = std::string(file);
  }

  PolicyModel Parse(const std::string& text) {
    YAML::Node root;
    if (!r_.Load(text, &root)) return std::move(m_);
    try {
      ParseRoot(root);
    } catch (const YAML::Exception& e) {
      // yaml-cpp throws only on misuse; report rather than crash on a file we did not foresee.
      r_.set_rule("");
      r_.Error(Kind::kSyntax, SourceMark{e.mark.line + 1, e.mark.column + 1},
               absl::StrCat("could not read the policy: ", e.msg));
    }
    return std::move(m_);
  }

 private:
  void ParseRoot(const YAML::Node& root) {
    MapEntries top;
    if (!r_.Map(root, "the policy file",
                {"format", "name", "version", "description", "references", "regimes", "deadlines",
                 "datasets", "bases", "default", "rules", "flags", "cumulative", "drift"},
                &top)) {
      return;
    }
    if (const MapEntry* e = r_.Require(top, "format", root, "the policy file")) {
      auto format = r_.String(e->value, "format");
      if (format && *format != kPolicyFormat) {
        r_.Error(Kind::kSyntax, e->value,
                 absl::StrCat("format '", *format,
                              "' is not one this broker reads; use format: ", kPolicyFormat));
      }
    }
    if (const MapEntry* e = r_.Require(top, "name", root, "the policy file")) {
      m_.name = r_.String(e->value, "name").value_or("");
    }
    if (const MapEntry* e = r_.Require(top, "version", root, "the policy file")) {
      m_.version = r_.String(e->value, "version").value_or("");
    }
    if (const MapEntry* e = top.Find("description")) {
      m_.description = r_.String(e->value, "description").value_or("");
    }
    if (const MapEntry* e = r_.Require(top, "references", root, "the policy file")) {
      ParseReferences(e->value);
    }
    if (const MapEntry* e = r_.Require(top, "regimes", root, "the policy file")) {
      ParseRegimes(e->value);
    }
    if (const MapEntry* e = r_.Require(top, "deadlines", root, "the policy file")) {
      ParseDeadlines(e->value);
    }
    if (const MapEntry* e = r_.Require(top, "datasets", root, "the policy file")) {
      ParseDatasets(e->value);
    }
    if (const MapEntry* e = r_.Require(top, "bases", root, "the policy file")) {
      ParseBases(e->value);
    }
    if (const MapEntry* e = top.Find("default")) ParseDefault(e->value);
    if (const MapEntry* e = r_.Require(top, "rules", root, "the policy file")) {
      ParseRules(e->value);
    }
    if (const MapEntry* e = top.Find("flags")) ParseFlags(e->value);
    if (const MapEntry* e = top.Find("cumulative")) ParseCumulative(e->value);
    if (const MapEntry* e = top.Find("drift")) ParseDrift(e->value);
    ValidateBases();
    for (RuleModel& rule : m_.rules) ValidateRule(rule);
    ValidateOverrideCycles();
  }

  // flags: a list of flag rules; the first whose `to` and `status` match decides.
  void ParseFlags(const YAML::Node& node) {
    if (node.IsNull()) return;  // `flags:` with nothing under it: no flags are shared
    if (!node.IsSequence()) {
      r_.Error(Kind::kSyntax, node, "flags must be a list, each item starting with '- id:'");
      return;
    }
    std::set<std::string> ids;
    for (const RuleModel& rule : m_.rules) ids.insert(rule.id);
    for (const YAML::Node& item : node) {
      FlagRuleModel flag;
      flag.mark = r_.MarkOf(item);
      int errors_before = r_.error_count();
      ParseFlag(item, &flag);
      if (!flag.id.empty() && !ids.insert(flag.id).second) {
        r_.Error(Kind::kDuplicate, flag.mark,
                 absl::StrCat("flag rule id '", flag.id,
                              "' is used by an earlier rule or flag rule; ids must be unique: "
                              "decisions and flags record them"));
      }
      flag.valid = r_.error_count() == errors_before;
      r_.set_rule("");
      m_.flags.push_back(std::move(flag));
    }
  }

  void ParseFlag(const YAML::Node& node, FlagRuleModel* flag) {
    r_.set_rule("");
    MapEntries keys;
    if (!r_.Map(node, "a flag rule",
                {"id", "description", "citations", "to", "status", "fields", "basis",
                 "silent-look-ups"},
                &keys)) {
      return;
    }
    if (const MapEntry* e = r_.Require(keys, "id", node, "every flag rule")) {
      if (auto id = r_.String(e->value, "flag rule id")) {
        flag->id = *id;
        r_.set_rule(flag->id);
        if (!IsName(*id, false)) {
          r_.Error(Kind::kSyntax, e->value,
                   absl::StrCat("flag rule id '", *id,
                                "' must be lower-case letters, digits, '-', '.' or '_'"));
        } else if (*id == kDefaultFlagRuleId || *id == kDefaultWithholdRuleId) {
          r_.Error(Kind::kSyntax, e->value,
                   absl::StrCat("'", *id, "' is reserved for decisions no rule made"));
        }
      }
    }
    std::string what = absl::StrCat("flag rule '", flag->id, "'");
    if (const MapEntry* e = keys.Find("description")) {
      flag->description = r_.String(e->value, absl::StrCat(what, " description")).value_or("");
    }
    const MapEntry* citations = keys.Find("citations");
    if (citations == nullptr) {
      r_.Error(Kind::kNoCitation, node,
               absl::StrCat(what,
                            " has no citations: every flag rule must cite at least one "
                            "reference (law or guidance) for what it shares"));
    } else {
      flag->citations = ParseCitations(citations->value, what);
      if (flag->citations.empty() && citations->value.IsSequence() &&
          citations->value.size() == 0) {
        r_.Error(Kind::kNoCitation, citations->value,
                 absl::StrCat(what, " has an empty citations list: cite at least one reference"));
      }
    }
    if (const MapEntry* e = r_.Require(keys, "to", node, what)) {
      std::string w = absl::StrCat(what, " to");
      if (auto items = r_.ScalarList(e->value, w)) {
        if (items->empty()) r_.Error(Kind::kMissing, e->value, absl::StrCat(w, " names nobody"));
        for (const YAML::Node& item : *items) {
          auto role = Role(item, w);
          if (!role) continue;
          if (!IsFlagRecipient(*role)) {
            r_.Error(Kind::kUnlawful, item,
                     absl::StrCat(w, " names '", item.Scalar(),
                                  "': flags go only to the nodes that register the children "
                                  "they serve (",
                                  AllFlagRecipientNames(), ")"));
            continue;
          }
          bool twice = false;
          for (const auto& [r, m] : flag->to) twice = twice || r == *role;
          if (twice) {
            r_.Error(Kind::kDuplicate, item, absl::StrCat(w, " names '", item.Scalar(), "' twice"));
            continue;
          }
          flag->to.emplace_back(*role, r_.MarkOf(item));
        }
      }
    }
    if (const MapEntry* e = r_.Require(keys, "status", node, what)) {
      std::string w = absl::StrCat(what, " status");
      flag->status_mark = r_.MarkOf(e->value);
      if (auto items = r_.ScalarList(e->value, w)) {
        if (items->empty()) r_.Error(Kind::kMissing, e->value, absl::StrCat(w, " lists nothing"));
        for (const YAML::Node& item : *items) {
          auto status = ParseChildStatus(item.Scalar());
          if (!status) {
            r_.Error(Kind::kUnknownName, item,
                     absl::StrCat("unknown child status '", item.Scalar(), "'",
                                  DidYouMean(item.Scalar(), AllChildStatusNames()), " in ", w,
                                  "; known: ", AllChildStatusNames()));
          } else if (*status == ChildStatus::kNoPlan) {
            r_.Error(Kind::kUnlawful, item,
                     absl::StrCat(w,
                                  " names no-plan: a child without a plan has nothing to flag, "
                                  "and flagging them would tell others about a child "
                                  "children's services do not work with"));
          } else {
            flag->statuses |= 1u << Index(*status);
          }
        }
      }
    }
    if (const MapEntry* e = r_.Require(keys, "fields", node, what)) {
      std::string w = absl::StrCat(what, " fields");
      if (auto items = r_.ScalarList(e->value, w)) {
        if (items->empty()) r_.Error(Kind::kMissing, e->value, absl::StrCat(w, " lists nothing"));
        for (const YAML::Node& item : *items) {
          auto field = ParseFlagField(item.Scalar());
          if (!field) {
            r_.Error(Kind::kUnknownName, item,
                     absl::StrCat("unknown flag field '", item.Scalar(), "'",
                                  DidYouMean(item.Scalar(), AllFlagFieldNames()), " in ", w,
                                  "; the flag fields are: ", AllFlagFieldNames()));
            continue;
          }
          flag->fields |= 1u << static_cast<int>(*field);
        }
      }
      // plan-type is the flag itself: a flag without it would say nothing.
      flag->fields |= 1u << static_cast<int>(FlagField::kPlanType);
    }
    if (const MapEntry* e = r_.Require(keys, "basis", node, what)) {
      flag->basis = r_.String(e->value, absl::StrCat(what, " basis")).value_or("");
      flag->basis_mark = r_.MarkOf(e->value);
      auto it = m_.bases.find(flag->basis);
      if (!flag->basis.empty() && it == m_.bases.end()) {
        std::vector<std::string> names;
        for (const auto& [name, b] : m_.bases) names.push_back(name);
        r_.Error(
            Kind::kUnknownName, e->value,
            absl::StrCat(what, " names basis '", flag->basis,
                         "', which is not under bases; defined: ", absl::StrJoin(names, ", ")));
      } else if (it != m_.bases.end()) {
        ValidateFlagBasis(*flag, it->second, what);
      }
    }
    if (const MapEntry* e = keys.Find("silent-look-ups")) {
      std::string w = absl::StrCat(what, " silent-look-ups");
      // `silent-look-ups: []` is allowed: every look-up notifies the lead worker.
      if (!(e->value.IsSequence() && e->value.size() == 0)) {
        if (auto items = r_.ScalarList(e->value, w)) {
          for (const YAML::Node& item : *items) {
            auto reason = ParseLookupReason(item.Scalar());
            if (!reason) {
              r_.Error(Kind::kUnknownName, item,
                       absl::StrCat("unknown look-up reason '", item.Scalar(), "'",
                                    DidYouMean(item.Scalar(), AllLookupReasonNames()), " in ", w,
                                    "; the reasons are: ", AllLookupReasonNames()));
              continue;
            }
            flag->silent_look_ups |= 1u << static_cast<int>(*reason);
          }
        }
      }
    }
  }

  // Flags are published by social-care, early-help and front-door nodes and shared by the broker
  // on their behalf, under UK GDPR; the basis must say so, apply to the statuses flagged, and
  // say under which condition it shares without consent unless it is consent itself.
  void ValidateFlagBasis(const FlagRuleModel& flag, const BasisModel& b, const std::string& what) {
    if (!b.has_uk_gdpr) {
      r_.Error(Kind::kUnlawful, flag.basis_mark,
               absl::StrCat(what, " uses basis '", b.name,
                            "', which has no uk_gdpr conditions; flags are shared on behalf of "
                            "the local authority and early help, under UK GDPR"));
      return;
    }
    if (b.requires_match && flag.statuses != 0 &&
        (flag.statuses & ~b.requires_match->statuses) != 0) {
      std::vector<std::string> outside;
      for (int s = 0; s < kChildStatusCount; ++s) {
        if ((flag.statuses >> s & 1) && !(b.requires_match->statuses >> s & 1)) {
          outside.emplace_back(ChildStatusName(static_cast<ChildStatus>(s)));
        }
      }
      r_.Error(Kind::kUnlawful, flag.basis_mark,
               absl::StrCat(what, " uses basis '", b.name, "' (line ", b.requires_mark.line,
                            " says when it applies) for plans it does not cover: ",
                            absl::StrJoin(outside, ", ")));
    }
    if (!b.RestsOnConsent() && b.uk_without_consent.empty()) {
      r_.Error(Kind::kUnlawful, flag.basis_mark,
               absl::StrCat(what, " uses basis '", b.name,
                            "', which does not say under which condition it shares without "
                            "consent (uk_gdpr without_consent), so the flag's record could not "
                            "say"));
    }
  }

  // references: {id: {title, url, note}}
  void ParseReferences(const YAML::Node& node) {
    MapEntries refs;
    if (!r_.AnyKeyMap(node, "references", &refs)) return;
    for (const MapEntry& e : refs.all()) {
      if (!IsName(e.key, false)) {
        r_.Error(Kind::kSyntax, e.key_node,
                 absl::StrCat("reference id '", e.key,
                              "' must be lower-case letters, digits, '-', '.' or '_'"));
        continue;
      }
      std::string what = absl::StrCat("reference '", e.key, "'");
      MapEntries fields;
      if (!r_.Map(e.value, what, {"title", "url", "note"}, &fields)) continue;
      Reference ref;
      ref.id = e.key;
      ref.mark = r_.MarkOf(e.key_node);
      if (const MapEntry* t = r_.Require(fields, "title", e.value, what)) {
        ref.title = r_.String(t->value, absl::StrCat(what, " title")).value_or("");
      }
      if (const MapEntry* u = fields.Find("url")) {
        ref.url = r_.String(u->value, absl::StrCat(what, " url")).value_or("");
      }
      if (const MapEntry* n = fields.Find("note")) {
        ref.note = r_.String(n->value, absl::StrCat(what, " note")).value_or("");
      }
      m_.references[e.key] = std::move(ref);
    }
  }

  // regimes: {uk-gdpr: [types], law-enforcement: [types]}
  void ParseRegimes(const YAML::Node& node) {
    MapEntries regimes;
    if (!r_.Map(node, "regimes", {"uk-gdpr", "law-enforcement"}, &regimes)) return;
    std::array<int, kNodeTypeCount> seen{};
    for (const MapEntry& e : regimes.all()) {
      Regime regime = e.key == "uk-gdpr" ? Regime::kUkGdpr : Regime::kLawEnforcement;
      auto items = r_.ScalarList(e.value, absl::StrCat("regimes ", e.key));
      if (!items) continue;
      for (const YAML::Node& item : *items) {
        auto type = protocol::ParseNodeType(item.Scalar());
        if (!type) {
          r_.Error(Kind::kUnknownName, item,
                   absl::StrCat("unknown node type '", item.Scalar(),
                                "'; known: ", protocol::AllNodeTypeNames()));
          continue;
        }
        if (*type == protocol::NodeType::kAuditor) {
          r_.Error(Kind::kUnlawful, item, "auditor nodes never send notifications; leave them out");
          continue;
        }
        if (seen[Index(*type)]++) {
          r_.Error(Kind::kDuplicate, item,
                   absl::StrCat("node type '", item.Scalar(), "' is given a regime twice"));
          continue;
        }
        m_.regime[Index(*type)] = regime;
      }
    }
    std::vector<std::string> missing;
    for (int t = 0; t < kNodeTypeCount; ++t) {
      if (!seen[t] && t != Index(protocol::NodeType::kAuditor)) {
        missing.emplace_back(protocol::NodeTypeName(static_cast<protocol::NodeType>(t)));
      }
    }
    if (!missing.empty()) {
      r_.Error(Kind::kMissing, node,
               absl::StrCat("regimes must place every sending node type under uk-gdpr or "
                            "law-enforcement; missing: ",
                            absl::StrJoin(missing, ", ")));
    }
  }

  void ParseDeadlines(const YAML::Node& node) {
    MapEntries deadlines;
    if (!r_.AnyKeyMap(node, "deadlines", &deadlines)) return;
    for (const MapEntry& e : deadlines.all()) {
      if (!IsName(e.key, false)) {
        r_.Error(Kind::kSyntax, e.key_node,
                 absl::StrCat("deadline class '", e.key, "' must be a lower-case name"));
        continue;
      }
      std::string what = absl::StrCat("deadline class '", e.key, "'");
      DeadlineRule rule;
      rule.line = r_.MarkOf(e.key_node).line;
      if (e.value.IsMap()) {
        // {description: "...", due: <rule>} (docs/deadlines.md).
        MapEntries keys;
        if (!r_.Map(e.value, what, {"description", "due"}, &keys)) continue;
        if (const MapEntry* d = r_.Require(keys, "description", e.value, what)) {
          rule.description = r_.String(d->value, absl::StrCat(what, " description")).value_or("");
        }
        if (const MapEntry* d = r_.Require(keys, "due", e.value, what)) {
          ParseDue(d->value, what, &rule);
        }
      } else {
        auto description = r_.String(e.value, what);
        if (!description) continue;
        rule.description = *description;
      }
      m_.deadlines[e.key] = rule.description;
      m_.deadline_rules[e.key] = std::move(rule);
    }
  }

  // due: {within: 4h} | {end-of-working-day: N} | {start-of-next-school-day: true} |
  // {working-hours: H}. Exactly one key.
  void ParseDue(const YAML::Node& node, const std::string& what, DeadlineRule* rule) {
    std::string w = absl::StrCat(what, " due");
    constexpr absl::string_view kRules =
        "within: 4h, end-of-working-day: 0 or 1, start-of-next-school-day: true, or "
        "working-hours: 8";
    MapEntries keys;
    if (!node.IsMap()) {
      r_.Error(Kind::kSyntax, node, absl::StrCat(w, " must be a mapping of one rule: ", kRules));
      return;
    }
    if (!r_.Map(node, w,
                {"within", "end-of-working-day", "start-of-next-school-day", "working-hours"},
                &keys)) {
      return;
    }
    if (keys.all().size() != 1) {
      r_.Error(Kind::kSyntax, node,
               absl::StrCat(w, " must give exactly one rule, not ", keys.all().size(), ": ",
                            kRules));
      return;
    }
    const MapEntry& e = keys.all().front();
    auto value = r_.String(e.value, absl::StrCat(w, " ", e.key));
    if (!value) return;
    std::string v = std::string(absl::StripAsciiWhitespace(*value));
    if (e.key == "within") {
      absl::Duration d;
      if (!absl::ParseDuration(v, &d) || d <= absl::ZeroDuration() || d > absl::Hours(24 * 31)) {
        r_.Error(Kind::kSyntax, e.value,
                 absl::StrCat(w, " within: '", v,
                              "' is not a wall-clock duration between 1s and 744h; write e.g. "
                              "4h, 90m or 1h30m"));
        return;
      }
      rule->kind = DeadlineRule::Kind::kWithin;
      rule->duration = d;
    } else if (e.key == "end-of-working-day") {
      int n = -1;
      if (!absl::SimpleAtoi(v, &n) || n < 0 || n > 30) {
        r_.Error(Kind::kSyntax, e.value,
                 absl::StrCat(w, " end-of-working-day: '", v,
                              "' must be a whole number of working days from 0 to 30 (0: the end "
                              "of the working day it arrives in, 1: of the next working day)"));
        return;
      }
      rule->kind = DeadlineRule::Kind::kEndOfWorkingDay;
      rule->working_days = n;
    } else if (e.key == "start-of-next-school-day") {
      if (v != "true") {
        r_.Error(Kind::kSyntax, e.value,
                 absl::StrCat(w, " start-of-next-school-day: '", v,
                              "' must be true (leave the rule out otherwise)"));
        return;
      }
      rule->kind = DeadlineRule::Kind::kStartOfNextSchoolDay;
    } else {  // working-hours
      double hours = 0;
      if (!absl::SimpleAtod(v, &hours) || !(hours > 0) || hours > 1000) {
        r_.Error(Kind::kSyntax, e.value,
                 absl::StrCat(w, " working-hours: '", v,
                              "' must be a number of office hours above 0 and at most 1000, "
                              "e.g. 8 or 2.5"));
        return;
      }
      rule->kind = DeadlineRule::Kind::kWorkingHours;
      rule->duration = absl::Seconds(static_cast<int64_t>(hours * 3600 + 0.5));
    }
  }

  std::optional<FieldSet> ParseFields(const YAML::Node& node, absl::string_view what) {
    auto items = r_.ScalarList(node, what);
    if (!items) return std::nullopt;
    FieldSet fields;
    bool ok = true;
    for (const YAML::Node& item : *items) {
      auto field = ParseField(item.Scalar());
      if (!field) {
        r_.Error(Kind::kUnknownName, item,
                 absl::StrCat("unknown field '", item.Scalar(), "'",
                              DidYouMean(item.Scalar(), AllFieldNames()), " in ", what,
                              "; the fields are: ", AllFieldNames()));
        ok = false;
        continue;
      }
      fields.Insert(*field);
    }
    if (!ok) return std::nullopt;
    if (fields.empty()) {
      r_.Error(Kind::kMissing, node, absl::StrCat(what, " lists no fields"));
      return std::nullopt;
    }
    return fields;
  }

  void ParseDatasets(const YAML::Node& node) {
    MapEntries datasets;
    if (!r_.AnyKeyMap(node, "datasets", &datasets)) return;
    for (const MapEntry& e : datasets.all()) {
      auto role = ParseRecipientRole(e.key);
      if (!role) {
        r_.Error(Kind::kUnknownName, e.key_node,
                 absl::StrCat("unknown recipient role '", e.key, "'",
                              DidYouMean(e.key, AllRecipientRoleNames()),
                              " in datasets; the roles are: ", AllRecipientRoleNames()));
        continue;
      }
      if (*role == RecipientRole::kAuditor) {
        r_.Error(Kind::kUnlawful, e.key_node,
                 "auditors read the audit log, never notifications: they have no dataset");
        continue;
      }
      auto fields = ParseFields(e.value, absl::StrCat("the dataset of ", e.key));
      if (fields) m_.datasets[Index(*role)] = *fields;
    }
  }

  std::vector<std::string> ParseCitations(const YAML::Node& node, absl::string_view what) {
    std::vector<std::string> out;
    auto items = r_.ScalarList(node, what);
    if (!items) return out;
    for (const YAML::Node& item : *items) {
      if (!m_.references.count(item.Scalar())) {
        r_.Error(Kind::kNoCitation, item,
                 absl::StrCat(what, " cites '", item.Scalar(), "', which is not under references"));
        continue;
      }
      out.push_back(item.Scalar());
    }
    return out;
  }

  // A match block: which requests a rule (or a basis's `requires`) covers.
  bool ParseMatch(const YAML::Node& node, absl::string_view what, MatchSet* out) {
    *out = MatchSet::Everything();
    if (node.IsNull()) return true;  // `match:` with nothing under it: everything
    MapEntries keys;
    if (!r_.Map(node, what, {"senders", "types", "status", "consent", "risk", "except"}, &keys)) {
      return false;
    }
    bool ok = true;
    for (const MapEntry& e : keys.all()) {
      if (e.key == "risk") {
        ok = ParseRisk(e.value, what, &out->risks) && ok;
      } else if (e.key == "except") {
        MapEntries ex;
        if (!r_.Map(e.value, absl::StrCat(what, " except"),
                    {"senders", "types", "status", "consent"}, &ex)) {
          ok = false;
          continue;
        }
        for (const MapEntry& x : ex.all()) {
          MatchSet one;  // all zero
          if (!ParseDimension(x.key, x.value, absl::StrCat(what, " except"), &one, false)) {
            ok = false;
            continue;
          }
          out->senders &= ~one.senders;
          out->types &= ~one.types;
          out->statuses &= ~one.statuses;
          out->consents &= ~one.consents;
        }
      }
    }
    // Positive lists after `except` is known (order of keys in the file does not matter).
    for (const MapEntry& e : keys.all()) {
      if (e.key == "risk" || e.key == "except") continue;
      MatchSet listed;
      if (!ParseDimension(e.key, e.value, what, &listed, true)) {
        ok = false;
        continue;
      }
      if (e.key == "senders") out->senders &= listed.senders;
      if (e.key == "types") out->types &= listed.types;
      if (e.key == "status") out->statuses &= listed.statuses;
      if (e.key == "consent") out->consents &= listed.consents;
    }
    return ok;
  }

  bool ParseRisk(const YAML::Node& node, absl::string_view what, uint8_t* risks) {
    auto value = r_.String(node, absl::StrCat(what, " risk"));
    if (!value) return false;
    std::string v = absl::AsciiStrToLower(*value);
    if (v == "true" || v == "yes") {
      *risks = kRiskBit;
    } else if (v == "false" || v == "no") {
      *risks = 0x1;
    } else if (v == "any") {
      *risks = kBothRisks;
    } else {
      r_.Error(Kind::kUnknownName, node,
               absl::StrCat(what, " risk must be true, false or any, not '", *value, "'"));
      return false;
    }
    return true;
  }

  // Sets the bits of one dimension of `out` from a list of names. `positive`: a list of what
  // matches (may be `any`; may not name auditors as senders), not an `except` list.
  bool ParseDimension(const std::string& key, const YAML::Node& node, absl::string_view what,
                      MatchSet* out, bool positive) {
    std::string where = absl::StrCat(what, " ", key);
    if (positive && node.IsScalar() && node.Scalar() == "any") {
      MatchSet all = MatchSet::Everything();
      out->senders = all.senders;
      out->types = all.types;
      out->statuses = all.statuses;
      out->consents = all.consents;
      return true;
    }
    auto items = r_.ScalarList(node, where);
    if (!items) return false;
    if (items->empty()) {
      r_.Error(Kind::kMissing, node,
               absl::StrCat(where,
                            " is an empty list, so the rule could never match; write "
                            "'any' or list at least one"));
      return false;
    }
    bool ok = true;
    for (const YAML::Node& item : *items) {
      const std::string& name = item.Scalar();
      if (key == "senders") {
        auto type = protocol::ParseNodeType(name);
        if (!type) {
          r_.Error(Kind::kUnknownName, item,
                   absl::StrCat("unknown sender type '", name, "'",
                                DidYouMean(name, protocol::AllNodeTypeNames()), " in ", where,
                                "; known: ", protocol::AllNodeTypeNames()));
          ok = false;
        } else if (*type == protocol::NodeType::kAuditor && positive) {
          r_.Error(Kind::kUnlawful, item,
                   absl::StrCat(where,
                                " names auditor, but auditor nodes never send "
                                "notifications"));
          ok = false;
        } else {
          out->senders |= 1u << Index(*type);
        }
      } else if (key == "types") {
        auto type = ParseNotificationType(name);
        if (!type) {
          r_.Error(Kind::kUnknownName, item,
                   absl::StrCat("unknown notification type '", name, "'",
                                DidYouMean(name, AllTypeNames()), " in ", where,
                                "; 'safeguardctl types' lists them"));
          ok = false;
        } else {
          out->types |= uint64_t{1} << TypeIndex(*type);
        }
      } else if (key == "status") {
        auto status = ParseChildStatus(name);
        if (!status) {
          r_.Error(Kind::kUnknownName, item,
                   absl::StrCat("unknown child status '", name, "'",
                                DidYouMean(name, AllChildStatusNames()), " in ", where,
                                "; known: ", AllChildStatusNames()));
          ok = false;
        } else {
          out->statuses |= 1u << Index(*status);
        }
      } else if (key == "consent") {
        auto consent = ParseConsentState(name);
        if (!consent) {
          r_.Error(Kind::kUnknownName, item,
                   absl::StrCat("unknown consent state '", name, "'",
                                DidYouMean(name, AllConsentStateNames()), " in ", where,
                                "; known: ", AllConsentStateNames()));
          ok = false;
        } else {
          out->consents |= 1u << Index(*consent);
        }
      }
    }
    return ok;
  }

  void ParseBases(const YAML::Node& node) {
    MapEntries bases;
    if (!r_.AnyKeyMap(node, "bases", &bases)) return;
    for (const MapEntry& e : bases.all()) {
      if (!IsName(e.key, true)) {
        r_.Error(Kind::kSyntax, e.key_node,
                 absl::StrCat("basis name '", e.key, "' must be letters, digits or '-'"));
        continue;
      }
      std::string what = absl::StrCat("basis '", e.key, "'");
      MapEntries keys;
      if (!r_.Map(e.value, what,
                  {"description", "uk_gdpr", "law_enforcement", "gateway", "citations", "requires"},
                  &keys)) {
        continue;
      }
      BasisModel b;
      b.name = e.key;
      b.mark = r_.MarkOf(e.key_node);
      if (const MapEntry* d = keys.Find("description")) {
        b.description = r_.String(d->value, absl::StrCat(what, " description")).value_or("");
      }
      if (const MapEntry* g = r_.Require(keys, "gateway", e.value, what)) {
        b.gateway = r_.String(g->value, absl::StrCat(what, " gateway")).value_or("");
      }
      if (const MapEntry* c = r_.Require(keys, "citations", e.value, what)) {
        b.citations = ParseCitations(c->value, what);
      }
      if (const MapEntry* u = keys.Find("uk_gdpr")) {
        MapEntries g;
        std::string w = absl::StrCat(what, " uk_gdpr");
        if (r_.Map(u->value, w, {"article6", "article9", "schedule1", "without_consent"}, &g)) {
          b.has_uk_gdpr = true;
          if (const MapEntry* a = r_.Require(g, "article6", u->value, w)) {
            b.article6 = r_.String(a->value, absl::StrCat(w, " article6")).value_or("");
          }
          if (const MapEntry* a = g.Find("article9")) {
            b.article9 = r_.String(a->value, absl::StrCat(w, " article9")).value_or("");
          }
          if (const MapEntry* a = g.Find("schedule1")) {
            b.schedule1 = r_.String(a->value, absl::StrCat(w, " schedule1")).value_or("");
          }
          if (const MapEntry* a = g.Find("without_consent")) {
            b.uk_without_consent =
                r_.String(a->value, absl::StrCat(w, " without_consent")).value_or("");
          }
          // DPA 2018 s.10: Art 9(2)(b), (g), (h), (i) and (j) are met only with a Sch 1 condition.
          for (const char* needs : {"9(2)(b)", "9(2)(g)", "9(2)(h)", "9(2)(i)", "9(2)(j)"}) {
            if (absl::StrContains(b.article9, needs) && b.schedule1.empty()) {
              r_.Error(Kind::kUnlawful, u->value,
                       absl::StrCat(w, " relies on Art ", needs,
                                    ", which DPA 2018 s.10 allows only with a Schedule 1 "
                                    "condition: add schedule1"));
            }
          }
        }
      }
      if (const MapEntry* l = keys.Find("law_enforcement")) {
        MapEntries g;
        std::string w = absl::StrCat(what, " law_enforcement");
        if (r_.Map(l->value, w, {"lawful_processing", "sensitive_processing", "without_consent"},
                   &g)) {
          b.has_law_enforcement = true;
          if (const MapEntry* a = r_.Require(g, "lawful_processing", l->value, w)) {
            b.lawful_processing =
                r_.String(a->value, absl::StrCat(w, " lawful_processing")).value_or("");
          }
          if (const MapEntry* a = g.Find("sensitive_processing")) {
            b.sensitive_processing =
                r_.String(a->value, absl::StrCat(w, " sensitive_processing")).value_or("");
          }
          if (const MapEntry* a = g.Find("without_consent")) {
            b.le_without_consent =
                r_.String(a->value, absl::StrCat(w, " without_consent")).value_or("");
          }
        }
      }
      if (!b.has_uk_gdpr && !b.has_law_enforcement) {
        r_.Error(Kind::kMissing, e.value,
                 absl::StrCat(what,
                              " needs uk_gdpr, law_enforcement or both: the conditions "
                              "it relies on under each regime"));
      }
      if (const MapEntry* q = keys.Find("requires")) {
        MatchSet req;
        if (ParseMatch(q->value, absl::StrCat(what, " requires"), &req)) {
          b.requires_match = req;
          b.requires_mark = r_.MarkOf(q->key_node);
        }
      }
      m_.bases[e.key] = std::move(b);
    }
  }

  void ParseDefault(const YAML::Node& node) {
    MapEntries keys;
    if (!r_.Map(node, "default", {"reason", "citations"}, &keys)) return;
    if (const MapEntry* e = r_.Require(keys, "reason", node, "default")) {
      m_.default_reason = r_.String(e->value, "default reason").value_or("");
    }
    if (const MapEntry* e = r_.Require(keys, "citations", node, "default")) {
      m_.default_citations = ParseCitations(e->value, "default");
    }
  }

  void ParseRules(const YAML::Node& node) {
    if (!node.IsSequence()) {
      r_.Error(Kind::kSyntax, node, "rules must be a list, each item starting with '- id:'");
      return;
    }
    std::set<std::string> ids;
    int index = 0;
    for (const YAML::Node& item : node) {
      RuleModel rule;
      rule.index = index++;
      rule.mark = r_.MarkOf(item);
      int errors_before = r_.error_count();
      ParseRule(item, &rule);
      if (!rule.id.empty() && !ids.insert(rule.id).second) {
        r_.Error(Kind::kDuplicate, rule.mark,
                 absl::StrCat("rule id '", rule.id,
                              "' is used by an earlier rule; ids must be "
                              "unique: decisions record them"));
      }
      rule.valid = r_.error_count() == errors_before;
      r_.set_rule("");
      m_.rules.push_back(std::move(rule));
    }
  }

  void ParseRule(const YAML::Node& node, RuleModel* rule) {
    r_.set_rule("");
    MapEntries keys;
    if (!r_.Map(node, "a rule",
                {"id", "description", "citations", "match", "share", "withhold", "overrides"},
                &keys)) {
      return;
    }
    if (const MapEntry* e = r_.Require(keys, "id", node, "every rule")) {
      if (auto id = r_.String(e->value, "rule id")) {
        rule->id = *id;
        r_.set_rule(rule->id);
        if (!IsName(*id, false)) {
          r_.Error(Kind::kSyntax, e->value,
                   absl::StrCat("rule id '", *id,
                                "' must be lower-case letters, digits, '-', '.' or '_'"));
        } else if (*id == kDefaultWithholdRuleId) {
          r_.Error(Kind::kSyntax, e->value,
                   absl::StrCat("'", kDefaultWithholdRuleId,
                                "' is reserved for decisions no rule made"));
        }
      }
    }
    std::string what = absl::StrCat("rule '", rule->id, "'");
    if (const MapEntry* e = keys.Find("description")) {
      rule->description = r_.String(e->value, absl::StrCat(what, " description")).value_or("");
    }
    const MapEntry* citations = keys.Find("citations");
    if (citations == nullptr) {
      r_.Error(Kind::kNoCitation, node,
               absl::StrCat(what,
                            " has no citations: every rule must cite at least one "
                            "reference (law or guidance) for what it decides"));
    } else {
      rule->citations = ParseCitations(citations->value, what);
      if (rule->citations.empty() && citations->value.IsSequence() &&
          citations->value.size() == 0) {
        r_.Error(Kind::kNoCitation, citations->value,
                 absl::StrCat(what, " has an empty citations list: cite at least one reference"));
      }
    }
    if (const MapEntry* e = r_.Require(keys, "match", node, what)) {
      rule->match_mark = r_.MarkOf(e->key_node);
      ParseMatch(e->value, absl::StrCat(what, " match"), &rule->match);
    }
    const MapEntry* share = keys.Find("share");
    const MapEntry* withhold = keys.Find("withhold");
    if ((share == nullptr) == (withhold == nullptr)) {
      r_.Error(Kind::kMissing, node,
               absl::StrCat(what, " needs exactly one of 'share' or 'withhold'"));
    } else if (share != nullptr) {
      rule->outcome = Outcome::kShare;
      ParseShare(share->value, what, rule);
    } else {
      rule->outcome = Outcome::kWithhold;
      ParseWithhold(withhold->value, what, rule);
    }
    if (const MapEntry* e = keys.Find("overrides")) {
      if (auto items = r_.ScalarList(e->value, absl::StrCat(what, " overrides"))) {
        for (const YAML::Node& item : *items) {
          rule->overrides.emplace_back(item.Scalar(), r_.MarkOf(item));
        }
      }
    }
  }

  void ParseShare(const YAML::Node& node, const std::string& what, RuleModel* rule) {
    std::string w = absl::StrCat(what, " share");
    MapEntries keys;
    if (!r_.Map(node, w, {"to", "basis", "purpose", "deadline", "gateway"}, &keys)) return;
    if (const MapEntry* e = r_.Require(keys, "to", node, w)) ParseShareTargets(e->value, w, rule);
    if (const MapEntry* e = r_.Require(keys, "basis", node, w)) {
      rule->basis = r_.String(e->value, absl::StrCat(w, " basis")).value_or("");
      rule->basis_mark = r_.MarkOf(e->value);
      if (!rule->basis.empty() && !m_.bases.count(rule->basis)) {
        std::vector<std::string> names;
        for (const auto& [name, b] : m_.bases) names.push_back(name);
        r_.Error(
            Kind::kUnknownName, e->value,
            absl::StrCat(w, " names basis '", rule->basis,
                         "', which is not under bases; defined: ", absl::StrJoin(names, ", ")));
      }
    }
    if (const MapEntry* e = r_.Require(keys, "purpose", node, w)) {
      rule->purpose = r_.String(e->value, absl::StrCat(w, " purpose")).value_or("");
    }
    if (const MapEntry* e = r_.Require(keys, "deadline", node, w)) {
      rule->deadline = r_.String(e->value, absl::StrCat(w, " deadline")).value_or("");
      if (!rule->deadline.empty() && !m_.deadlines.count(rule->deadline)) {
        std::vector<std::string> names;
        for (const auto& [name, d] : m_.deadlines) names.push_back(name);
        r_.Error(
            Kind::kUnknownName, e->value,
            absl::StrCat(w, " names deadline class '", rule->deadline,
                         "', which is not under deadlines; defined: ", absl::StrJoin(names, ", ")));
      }
    }
    if (const MapEntry* e = keys.Find("gateway")) {
      rule->gateway = r_.String(e->value, absl::StrCat(w, " gateway")).value_or("");
    }
  }

  std::optional<RecipientRole> Role(const YAML::Node& node, absl::string_view what) {
    auto role = ParseRecipientRole(node.Scalar());
    if (!role) {
      r_.Error(Kind::kUnknownName, node,
               absl::StrCat("unknown recipient role '", node.Scalar(), "'",
                            DidYouMean(node.Scalar(), AllRecipientRoleNames()), " in ", what,
                            "; the roles are: ", AllRecipientRoleNames()));
    }
    return role;
  }

  void AddTarget(RuleModel* rule, RecipientRole role, FieldSet fields, SourceMark mark,
                 absl::string_view what) {
    for (const RuleTarget& t : rule->to) {
      if (t.role == role) {
        r_.Error(Kind::kDuplicate, mark,
                 absl::StrCat(what, " names recipient '", RecipientRoleName(role), "' twice"));
        return;
      }
    }
    rule->to.push_back({role, fields, mark});
  }

  // to: [roles] (each gets its dataset) or {role: [fields]}.
  void ParseShareTargets(const YAML::Node& node, const std::string& w, RuleModel* rule) {
    std::string what = absl::StrCat(w, " to");
    auto check = [&](RecipientRole role, FieldSet fields, const YAML::Node& at) {
      if (role == RecipientRole::kAuditor) {
        r_.Error(Kind::kUnlawful, at,
                 absl::StrCat(what,
                              " names auditor: auditors read the audit log, never "
                              "notifications"));
        return;
      }
      const auto& dataset = m_.datasets[Index(role)];
      if (!dataset) {
        r_.Error(Kind::kMissing, at,
                 absl::StrCat(what, " names '", RecipientRoleName(role),
                              "', which has no dataset: add it under datasets"));
        return;
      }
      if (!dataset->ContainsAll(fields)) {
        r_.Error(
            Kind::kUnlawful, at,
            absl::StrCat("rule '", rule->id, "' would disclose ", fields.Minus(*dataset).ToString(),
                         " to ", RecipientRoleName(role), ", beyond its dataset (",
                         dataset->ToString(), "); widen the dataset or disclose less"));
        return;
      }
      AddTarget(rule, role, fields, r_.MarkOf(at), what);
    };
    if (node.IsMap()) {
      MapEntries roles;
      r_.AnyKeyMap(node, what, &roles);
      for (const MapEntry& e : roles.all()) {
        auto role = Role(e.key_node, what);
        if (!role) continue;
        auto fields = ParseFields(e.value, absl::StrCat(what, " ", e.key));
        if (fields) check(*role, *fields, e.key_node);
      }
    } else if (auto items = r_.ScalarList(node, what)) {
      if (items->empty()) r_.Error(Kind::kMissing, node, absl::StrCat(what, " names nobody"));
      for (const YAML::Node& item : *items) {
        auto role = Role(item, what);
        if (!role) continue;
        const auto& dataset = m_.datasets[Index(*role)];
        check(*role, dataset.value_or(FieldSet()), item);
      }
    }
  }

  void ParseWithhold(const YAML::Node& node, const std::string& what, RuleModel* rule) {
    std::string w = absl::StrCat(what, " withhold");
    MapEntries keys;
    if (!r_.Map(node, w, {"to", "reason"}, &keys)) return;
    if (const MapEntry* e = r_.Require(keys, "to", node, w)) {
      std::string to = absl::StrCat(w, " to");
      if (e->value.IsScalar() && e->value.Scalar() == "any") {
        for (int r = 0; r < kRecipientRoleCount; ++r) {
          rule->to.push_back({static_cast<RecipientRole>(r), FieldSet(), r_.MarkOf(e->value)});
        }
      } else if (auto items = r_.ScalarList(e->value, to)) {
        if (items->empty()) r_.Error(Kind::kMissing, e->value, absl::StrCat(to, " names nobody"));
        for (const YAML::Node& item : *items) {
          if (auto role = Role(item, to)) AddTarget(rule, *role, FieldSet(), r_.MarkOf(item), to);
        }
      }
    }
    if (const MapEntry* e = r_.Require(keys, "reason", node, w)) {
      rule->reason = r_.String(e->value, absl::StrCat(w, " reason")).value_or("");
    }
  }

  void ValidateBases() {
    for (auto& [name, b] : m_.bases) {
      if (b.citations.empty()) {
        r_.Error(Kind::kNoCitation, b.mark,
                 absl::StrCat("basis '", name, "' cites nothing: cite the law it rests on"));
      }
    }
  }

  // Checks a rule against the rest of the policy: its basis, the consent rules of the language,
  // and its overrides.
  void ValidateRule(RuleModel& rule) {
    r_.set_rule(rule.id);
    int errors_before = r_.error_count();
    std::string what = absl::StrCat("rule '", rule.id, "'");
    if (rule.outcome == Outcome::kShare) {
      auto it = m_.bases.find(rule.basis);
      if (it != m_.bases.end()) {
        const BasisModel& b = it->second;
        uint16_t uk = SendersUnder(m_, rule.match.senders, Regime::kUkGdpr);
        uint16_t le = SendersUnder(m_, rule.match.senders, Regime::kLawEnforcement);
        bool without_consent = (rule.match.consents & ~kConsentGivenBit) != 0;
        if (uk && !b.has_uk_gdpr) {
          r_.Error(Kind::kUnlawful, rule.basis_mark,
                   absl::StrCat(what, " matches senders under UK GDPR, but basis '", b.name,
                                "' has no uk_gdpr conditions"));
        }
        if (le && !b.has_law_enforcement) {
          r_.Error(Kind::kUnlawful, rule.basis_mark,
                   absl::StrCat(what,
                                " matches senders under DPA 2018 Part 3 (police), but "
                                "basis '",
                                b.name, "' has no law_enforcement conditions"));
        }
        if (without_consent && ((uk && b.has_uk_gdpr && b.uk_without_consent.empty()) ||
                                (le && b.has_law_enforcement && b.le_without_consent.empty()))) {
          r_.Error(Kind::kUnlawful, rule.basis_mark,
                   absl::StrCat(what, " shares when consent is not given, but basis '", b.name,
                                "' does not say under which condition it shares without consent "
                                "(without_consent), so the decision record could not say"));
        }
        if (b.requires_match && !b.requires_match->Contains(rule.match)) {
          r_.Error(Kind::kUnlawful, rule.match_mark,
                   absl::StrCat(what, " uses basis '", b.name, "' (line ", b.requires_mark.line,
                                " says when it applies) for requests it does not cover, e.g. ",
                                DescribeOutside(rule.match, *b.requires_match)));
        }
      }
    } else {
      // REQ-LB-2: consent may gate only consent-based sharing, never sharing where a risk of harm
      // is indicated (Information sharing advice 2024; DPA 2018 Sch 1 para 18).
      bool depends_on_consent = rule.match.consents != kAllConsents;
      if (depends_on_consent && (rule.match.risks & kRiskBit)) {
        r_.Error(Kind::kUnlawful, rule.match_mark,
                 absl::StrCat(what,
                              " withholds depending on consent even when a risk of harm is "
                              "indicated; refusal or withdrawal of consent is no barrier to "
                              "sharing to protect a child: add 'risk: false'"));
      }
    }
    for (const auto& [id, mark] : rule.overrides) {
      const RuleModel* target = nullptr;
      for (const RuleModel& other : m_.rules) {
        if (other.id == id) target = &other;
      }
      if (target == nullptr) {
        r_.Error(Kind::kUnknownName, mark,
                 absl::StrCat(what, " overrides '", id, "', which is not a rule"));
      } else if (target == &rule) {
        r_.Error(Kind::kSyntax, mark, absl::StrCat(what, " overrides itself"));
      } else if (rule.outcome == Outcome::kShare && target->outcome == Outcome::kWithhold) {
        r_.Error(Kind::kUnlawful, mark,
                 absl::StrCat(what, " is a share and cannot override withhold rule '", id,
                              "': a withholding always wins; narrow the withhold rule instead"));
      }
    }
    if (r_.error_count() != errors_before) rule.valid = false;
    r_.set_rule("");
  }

  void ValidateOverrideCycles() {
    // Depth-first search over `overrides`; a cycle makes "more specific" meaningless.
    std::map<std::string, const RuleModel*> by_id;
    for (const RuleModel& r : m_.rules) by_id[r.id] = &r;
    std::map<std::string, int> state;  // 0 new, 1 on stack, 2 done
    std::function<bool(const RuleModel&)> visit = [&](const RuleModel& r) {
      state[r.id] = 1;
      for (const auto& [id, mark] : r.overrides) {
        auto it = by_id.find(id);
        if (it == by_id.end() || it->second == &r) continue;
        if (state[id] == 1) {
          r_.set_rule(r.id);
          r_.Error(Kind::kConflict, mark,
                   absl::StrCat("rule '", r.id, "' overrides '", id,
                                "', which (directly or not) overrides it: a cycle"));
          r_.set_rule("");
          return false;
        }
        if (state[id] == 0 && !visit(*it->second)) return false;
      }
      state[r.id] = 2;
      return true;
    };
    for (const RuleModel& r : m_.rules) {
      if (state[r.id] == 0) visit(r);
    }
  }

  // --- Cumulative-concern rules and drift thresholds (docs/concern.md). ---

  // "90d", "26w", or an absl duration ("36h", "10m"); from 1m to 3660d.
  std::optional<absl::Duration> LongDuration(const YAML::Node& node, absl::string_view what) {
    auto value = r_.String(node, what);
    if (!value) return std::nullopt;
    std::string v = std::string(absl::StripAsciiWhitespace(*value));
    absl::Duration d;
    int n = 0;
    bool ok = false;
    if (v.size() > 1 && (v.back() == 'd' || v.back() == 'w') &&
        absl::SimpleAtoi(absl::string_view(v).substr(0, v.size() - 1), &n)) {
      d = absl::Hours(24) * n * (v.back() == 'w' ? 7 : 1);
      ok = n > 0;
    } else {
      ok = absl::ParseDuration(v, &d);
    }
    if (!ok || d < absl::Minutes(1) || d > absl::Hours(24 * 3660)) {
      r_.Error(Kind::kSyntax, node,
               absl::StrCat(what, ": '", v,
                            "' is not a duration between 1m and 3660d; write e.g. 90d, 26w or "
                            "36h"));
      return std::nullopt;
    }
    return d;
  }

  std::optional<int> PositiveInt(const YAML::Node& node, absl::string_view what) {
    auto value = r_.String(node, what);
    if (!value) return std::nullopt;
    int n = 0;
    if (!absl::SimpleAtoi(*value, &n) || n < 1 || n > 1000) {
      r_.Error(Kind::kSyntax, node,
               absl::StrCat(what, " must be a whole number from 1 to 1000, not '", *value, "'"));
      return std::nullopt;
    }
    return n;
  }

  // cumulative: a list of rules, each raising a cumulative-concern notice when met.
  void ParseCumulative(const YAML::Node& node) {
    if (node.IsNull()) return;
    if (!node.IsSequence()) {
      r_.Error(Kind::kSyntax, node, "cumulative must be a list, each item starting with '- id:'");
      return;
    }
    std::set<std::string> ids;
    for (const YAML::Node& item : node) {
      CumulativeRule rule;
      rule.line = r_.MarkOf(item).line;
      int errors_before = r_.error_count();
      ParseCumulativeRule(item, &rule);
      if (!rule.id.empty() && !ids.insert(rule.id).second) {
        r_.Error(Kind::kDuplicate, item,
                 absl::StrCat("cumulative rule id '", rule.id,
                              "' is used by an earlier cumulative rule; ids must be unique: "
                              "notices and their idempotency keys name them"));
      }
      r_.set_rule("");
      if (r_.error_count() == errors_before) m_.cumulative.push_back(std::move(rule));
    }
  }

  void ParseCumulativeRule(const YAML::Node& node, CumulativeRule* rule) {
    r_.set_rule("");
    MapEntries keys;
    if (!r_.Map(node, "a cumulative rule",
                {"id", "description", "citations", "types", "scope", "within", "at-least",
                 "agencies-at-least", "after-outcome"},
                &keys)) {
      return;
    }
    if (const MapEntry* e = r_.Require(keys, "id", node, "every cumulative rule")) {
      if (auto id = r_.String(e->value, "cumulative rule id")) {
        rule->id = *id;
        r_.set_rule(rule->id);
        if (!IsName(*id, false)) {
          r_.Error(Kind::kSyntax, e->value,
                   absl::StrCat("cumulative rule id '", *id,
                                "' must be lower-case letters, digits, '-', '.' or '_'"));
        }
      }
    }
    std::string what = absl::StrCat("cumulative rule '", rule->id, "'");
    if (const MapEntry* e = keys.Find("description")) {
      rule->description = r_.String(e->value, absl::StrCat(what, " description")).value_or("");
    }
    const MapEntry* citations = keys.Find("citations");
    if (citations == nullptr) {
      r_.Error(Kind::kNoCitation, node,
               absl::StrCat(what,
                            " has no citations: every cumulative rule must cite at least one "
                            "reference (guidance or review) for why the events add up"));
    } else {
      rule->citations = ParseCitations(citations->value, what);
      if (rule->citations.empty() && citations->value.IsSequence() &&
          citations->value.size() == 0) {
        r_.Error(Kind::kNoCitation, citations->value,
                 absl::StrCat(what, " has an empty citations list: cite at least one reference"));
      }
    }
    if (const MapEntry* e = r_.Require(keys, "types", node, what)) {
      std::string w = absl::StrCat(what, " types");
      if (auto items = r_.ScalarList(e->value, w)) {
        if (items->empty()) r_.Error(Kind::kMissing, e->value, absl::StrCat(w, " lists nothing"));
        for (const YAML::Node& item : *items) {
          auto type = ParseNotificationType(item.Scalar());
          if (!type) {
            r_.Error(Kind::kUnknownName, item,
                     absl::StrCat("unknown notification type '", item.Scalar(), "'",
                                  DidYouMean(item.Scalar(), AllTypeNames()), " in ", w,
                                  "; 'safeguardctl types' lists them"));
          } else if (protocol::IsBrokerNotice(*type)) {
            r_.Error(Kind::kUnknownName, item,
                     absl::StrCat(w, " names '", item.Scalar(),
                                  "', which the broker sends itself: only agencies' events count"));
          } else if (rule->Counts(*type)) {
            r_.Error(Kind::kDuplicate, item, absl::StrCat(w, " names '", item.Scalar(), "' twice"));
          } else {
            rule->types.push_back(*type);
          }
        }
      }
    }
    if (const MapEntry* e = keys.Find("scope")) {
      auto scope = r_.String(e->value, absl::StrCat(what, " scope"));
      if (scope && *scope == "child") {
        rule->scope = CumulativeRule::Scope::kChild;
      } else if (scope && *scope == "household") {
        rule->scope = CumulativeRule::Scope::kHousehold;
      } else if (scope) {
        r_.Error(Kind::kUnknownName, e->value,
                 absl::StrCat("unknown scope '", *scope, "' in ", what,
                              "; the scopes are: child, household"));
      }
    }
    if (const MapEntry* e = r_.Require(keys, "within", node, what)) {
      if (auto d = LongDuration(e->value, absl::StrCat(what, " within"))) rule->within = *d;
    }
    if (const MapEntry* e = r_.Require(keys, "at-least", node, what)) {
      if (auto n = PositiveInt(e->value, absl::StrCat(what, " at-least"))) rule->at_least = *n;
    }
    if (const MapEntry* e = keys.Find("agencies-at-least")) {
      if (auto n = PositiveInt(e->value, absl::StrCat(what, " agencies-at-least"))) {
        rule->agencies_at_least = *n;
        if (*n > rule->at_least) {
          r_.Error(Kind::kSyntax, e->value,
                   absl::StrCat(what, " agencies-at-least (", *n, ") exceeds at-least (",
                                rule->at_least, "): the rule could never be met"));
        }
      }
    }
    if (const MapEntry* e = keys.Find("after-outcome")) {
      auto outcome = r_.String(e->value, absl::StrCat(what, " after-outcome"));
      if (outcome && *outcome == "no-further-action") {
        rule->after_no_further_action = true;
      } else if (outcome) {
        r_.Error(Kind::kUnknownName, e->value,
                 absl::StrCat("unknown outcome '", *outcome, "' in ", what,
                              " after-outcome; the only one is: no-further-action"));
      }
    }
  }

  // drift: thresholds for plan-drift alerts; each optional.
  void ParseDrift(const YAML::Node& node) {
    if (node.IsNull()) return;
    MapEntries keys;
    if (!r_.Map(node, "drift",
                {"plan-length", "progress-window", "core-group-interval", "check-every"},
                &keys)) {
      return;
    }
    DriftSettings& d = m_.drift;
    d.line = r_.MarkOf(node).line;
    for (const MapEntry& e : keys.all()) {
      auto value = LongDuration(e.value, absl::StrCat("drift ", e.key));
      if (!value) continue;
      if (e.key == "plan-length") d.plan_length = *value;
      if (e.key == "progress-window") d.progress_window = *value;
      if (e.key == "core-group-interval") d.core_group_interval = *value;
      if (e.key == "check-every") d.check_every = *value;
    }
  }

  YamlReader r_;
  PolicyModel m_;
};

}  // namespace

MatchSet MatchSet::Everything() {
  MatchSet m;
  m.senders = kSendingTypes;
  m.types = AllTypeBits();
  m.statuses = kAllStatuses;
  m.consents = kAllConsents;
  m.risks = kBothRisks;
  return m;
}

uint64_t MatchSet::Size() const {
  return static_cast<uint64_t>(__builtin_popcount(senders)) * __builtin_popcountll(types) *
         __builtin_popcount(statuses) * __builtin_popcount(consents) * __builtin_popcount(risks);
}

PolicyModel ParsePolicy(absl::string_view file, const std::string& text,
                        std::vector<Diagnostic>* diagnostics) {
  return PolicyParser(file, diagnostics).Parse(text);
}

}  // namespace safeguard::policy::internal
