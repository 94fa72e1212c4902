#include "broker/policy/internal/policy_compiler.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace safeguard::policy::internal {
namespace {

using Kind = Diagnostic::Kind;
using Severity = Diagnostic::Severity;

constexpr int kMaxExamples = 3;

bool Declares(const RuleModel& rule, const std::string& id) {
  for (const auto& [target, mark] : rule.overrides) {
    if (target == id) return true;
  }
  return false;
}

const std::string& EffectiveGateway(const PolicyModel& m, const RuleModel& r) {
  if (!r.gateway.empty()) return r.gateway;
  static const std::string kNone;
  auto it = m.bases.find(r.basis);
  return it == m.bases.end() ? kNone : it->second.gateway;
}

std::string SenderName(int i) {
  return std::string(protocol::NodeTypeName(static_cast<protocol::NodeType>(i)));
}

template <typename Bits, typename NameOf>
std::string Names(Bits bits, int count, NameOf name_of) {
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) {
    if ((bits >> i) & 1) names.push_back(name_of(i));
  }
  return names.empty() ? "nothing" : absl::StrJoin(names, ", ");
}

std::string TypeNameAt(int i) { return NotificationTypeName(AllNotificationTypes()[i]); }
std::string StatusNameAt(int i) {
  return std::string(ChildStatusName(static_cast<ChildStatus>(i)));
}
std::string ConsentNameAt(int i) {
  return std::string(ConsentStateName(static_cast<ConsentState>(i)));
}

struct PairStat {
  int64_t count = 0;
  Cell example;
};

std::vector<Citation> CitationsOf(const PolicyModel& m, const std::vector<std::string>& ids) {
  std::vector<Citation> out;
  for (const std::string& id : ids) {
    bool seen = false;
    for (const Citation& c : out) seen = seen || c.id == id;
    if (seen) continue;
    auto it = m.references.find(id);
    if (it == m.references.end()) continue;
    out.push_back({id, it->second.title, it->second.url});
  }
  return out;
}

}  // namespace

size_t CompiledPolicy::CellCount() const {
  return static_cast<size_t>(kRecipientRoleCount) * type_count * kNodeTypeCount *
         kChildStatusCount * kConsentStateCount * 2;
}

size_t CompiledPolicy::CellIndex(const Cell& c) const {
  size_t i = static_cast<size_t>(c.role);
  i = i * type_count + c.type;
  i = i * kNodeTypeCount + c.sender;
  i = i * kChildStatusCount + c.status;
  i = i * kConsentStateCount + c.consent;
  return i * 2 + c.risk;
}

bool CompiledPolicy::Matches(const Entry& e, const Cell& c) const {
  const MatchSet& m = model.rules[e.rule].match;
  return ((m.senders >> c.sender) & 1) && ((m.types >> c.type) & 1) &&
         ((m.statuses >> c.status) & 1) && ((m.consents >> c.consent) & 1) &&
         ((m.risks >> c.risk) & 1);
}

bool CompiledPolicy::Beats(int a, int b) const { return beats[a * entries.size() + b] != 0; }

bool CompiledPolicy::SameOutcome(int a, int b) const {
  const RuleModel& ra = model.rules[entries[a].rule];
  const RuleModel& rb = model.rules[entries[b].rule];
  if (ra.outcome != rb.outcome) return false;
  if (ra.outcome == Outcome::kWithhold) return true;
  return ra.basis == rb.basis && entries[a].fields == entries[b].fields &&
         ra.deadline == rb.deadline && EffectiveGateway(model, ra) == EffectiveGateway(model, rb);
}

Resolution CompiledPolicy::Resolve(const Cell& c) const {
  Resolution r;
  std::vector<int> withholds, shares;
  for (int e : entries_by_role[c.role]) {
    if (!Matches(entries[e], c)) continue;
    r.matched.push_back(e);
    (model.rules[entries[e].rule].outcome == Outcome::kWithhold ? withholds : shares).push_back(e);
  }
  if (!withholds.empty()) {
    // A withholding always wins over a share (forbid overrides permit). Among withholdings the
    // one no other beats, earliest first, gives the reason.
    r.winner = withholds.front();
    for (int w : withholds) {
      bool beaten = false;
      for (int v : withholds) beaten = beaten || (v != w && Beats(v, w));
      if (!beaten) {
        r.winner = w;
        break;
      }
    }
    return r;
  }
  for (int s : shares) {
    bool wins = true;
    for (int t : shares) {
      if (t == s) continue;
      if (!(Beats(s, t) || (SameOutcome(s, t) && !Beats(t, s)))) {
        wins = false;
        break;
      }
    }
    if (wins) {
      r.winner = s;
      return r;
    }
  }
  if (shares.empty()) return r;
  r.conflict = true;
  for (size_t i = 0; i < shares.size(); ++i) {
    for (size_t j = i + 1; j < shares.size(); ++j) {
      int a = shares[i], b = shares[j];
      if (!Beats(a, b) && !Beats(b, a) && !SameOutcome(a, b)) r.conflicting.emplace_back(a, b);
    }
  }
  if (r.conflicting.empty()) {
    // No pair is unordered, yet nobody wins: the overrides and the specificity order form a
    // cycle. Report the first two.
    r.conflicting.emplace_back(shares[0], shares[1]);
  }
  return r;
}

std::string DescribeCell(const Cell& c) {
  return absl::StrCat("sender ", SenderName(c.sender), ", type ", TypeNameAt(c.type), ", status ",
                      StatusNameAt(c.status), ", consent ", ConsentNameAt(c.consent), ", risk ",
                      c.risk ? "indicated" : "not indicated", ", recipient ",
                      RecipientRoleName(static_cast<RecipientRole>(c.role)));
}

std::string WhyNotMatched(const CompiledPolicy& p, const Entry& e, const Cell& c) {
  const MatchSet& m = p.model.rules[e.rule].match;
  if (!((m.senders >> c.sender) & 1)) {
    return absl::StrCat("sender ", SenderName(c.sender),
                        " is not among: ", Names(m.senders, kNodeTypeCount, SenderName));
  }
  if (!((m.types >> c.type) & 1)) {
    return absl::StrCat("type ", TypeNameAt(c.type),
                        " is not among: ", Names(m.types, p.type_count, TypeNameAt));
  }
  if (!((m.statuses >> c.status) & 1)) {
    return absl::StrCat("status ", StatusNameAt(c.status),
                        " is not among: ", Names(m.statuses, kChildStatusCount, StatusNameAt));
  }
  if (!((m.consents >> c.consent) & 1)) {
    return absl::StrCat("consent ", ConsentNameAt(c.consent),
                        " is not among: ", Names(m.consents, kConsentStateCount, ConsentNameAt));
  }
  return c.risk ? "it applies only when no risk of harm is indicated"
                : "it applies only when a risk of harm is indicated";
}

namespace {

class Compiler {
 public:
  Compiler(CompiledPolicy& p, std::vector<Diagnostic>* out) : p_(p), out_(out) {}

  void Run() {
    BuildEntries();
    BuildVerdictsAndTable();
    ReportConflicts();
    ReportNeverFires();
    ReportShadows();
    ReportUnusedOverrides();
    BuildFlags();
  }

 private:
  void BuildEntries() {
    const PolicyModel& m = p_.model;
    p_.type_count = static_cast<int>(AllNotificationTypes().size());
    p_.entries_by_role.assign(kRecipientRoleCount, {});
    for (size_t r = 0; r < m.rules.size(); ++r) {
      if (!m.rules[r].valid) continue;
      for (const RuleTarget& t : m.rules[r].to) {
        p_.entries_by_role[Index(t.role)].push_back(static_cast<int>(p_.entries.size()));
        p_.entries.push_back({static_cast<int>(r), t.role, t.fields});
      }
    }
    size_t n = p_.entries.size();
    p_.beats.assign(n * n, 0);
    for (size_t a = 0; a < n; ++a) {
      for (size_t b = 0; b < n; ++b) {
        if (a == b || p_.entries[a].role != p_.entries[b].role) continue;
        const RuleModel& ra = m.rules[p_.entries[a].rule];
        const RuleModel& rb = m.rules[p_.entries[b].rule];
        bool beats;
        if (Declares(ra, rb.id)) {
          beats = true;
        } else if (Declares(rb, ra.id)) {
          beats = false;
        } else {
          beats = rb.match.Contains(ra.match) && !(ra.match == rb.match);
        }
        p_.beats[a * n + b] = beats;
      }
    }
    wins_.assign(n, 0);
    deciders_.assign(n, {});
  }

  Decision Template() const {
    Decision d;
    d.policy_name = p_.model.name;
    d.policy_version = p_.model.version;
    d.policy_digest = p_.digest;
    return d;
  }

  Decision DefaultVerdict(std::string reason) const {
    Decision d = Template();
    d.outcome = Outcome::kWithhold;
    d.rule_id = kDefaultWithholdRuleId;
    d.withheld = FieldSet::All();
    d.citations = CitationsOf(p_.model, p_.model.default_citations);
    d.reason = std::move(reason);
    return d;
  }

  std::string DefaultReason() const {
    return p_.model.default_reason.empty()
               ? "No rule of this policy allows sharing this notification with this recipient, "
                 "so it is withheld (sharing is denied unless a rule allows it)."
               : p_.model.default_reason;
  }

  Decision Verdict(int winner, const std::vector<int>& matched, int consent, Regime regime) const {
    const PolicyModel& m = p_.model;
    if (winner < 0) return DefaultVerdict(DefaultReason());
    const Entry& e = p_.entries[winner];
    const RuleModel& rule = m.rules[e.rule];
    Decision d = Template();
    d.outcome = rule.outcome;
    d.rule_id = rule.id;
    d.rule_line = rule.mark.line;
    for (int x : matched) {
      if (x != winner) d.also_matched.push_back(m.rules[p_.entries[x].rule].id);
    }
    std::vector<std::string> cites = rule.citations;
    if (rule.outcome == Outcome::kWithhold) {
      d.withheld = FieldSet::All();
      d.reason = rule.reason;
      d.citations = CitationsOf(m, cites);
      return d;
    }
    const BasisModel& b = m.bases.at(rule.basis);
    LawfulBasis basis;
    basis.name = b.name;
    basis.description = b.description;
    basis.regime = regime;
    bool given = consent == Index(ConsentState::kGiven);
    if (regime == Regime::kUkGdpr) {
      basis.article6 = b.article6;
      basis.article9 = b.article9;
      basis.schedule1 = b.schedule1;
      basis.consent = given ? "given" : b.uk_without_consent;
    } else {
      basis.lawful_processing = b.lawful_processing;
      basis.sensitive_processing = b.sensitive_processing;
      basis.consent = given ? "given" : b.le_without_consent;
    }
    basis.statutory_gateway = EffectiveGateway(m, rule);
    d.basis = std::move(basis);
    d.purpose = rule.purpose;
    d.deadline = rule.deadline;
    d.disclosed = e.fields;
    d.withheld = FieldSet::All().Minus(e.fields);
    cites.insert(cites.end(), b.citations.begin(), b.citations.end());
    d.citations = CitationsOf(m, cites);
    d.reason =
        absl::StrCat("Shared under ", b.name, " for: ", rule.purpose,
                     given ? ""
                           : absl::StrCat(" Consent ", ConsentNameAt(consent),
                                          ": shared without it under ", d.basis->consent, "."));
    return d;
  }

  uint16_t Intern(int winner, const std::vector<int>& matched, int consent, Regime regime) {
    std::string key = absl::StrCat(winner, "|");
    bool is_share =
        winner >= 0 && p_.model.rules[p_.entries[winner].rule].outcome == Outcome::kShare;
    if (is_share) absl::StrAppend(&key, consent, "|", static_cast<int>(regime), "|");
    for (int x : matched) absl::StrAppend(&key, x, ",");
    auto [it, inserted] = interned_.try_emplace(key, 0);
    if (inserted) {
      if (p_.verdicts.size() >= std::numeric_limits<uint16_t>::max()) {
        overflow_ = true;
        return 0;
      }
      it->second = static_cast<uint16_t>(p_.verdicts.size());
      p_.verdicts.push_back(Verdict(winner, matched, consent, regime));
    }
    return it->second;
  }

  void BuildVerdictsAndTable() {
    p_.table.assign(p_.CellCount(), 0);
    Intern(-1, {}, 0, Regime::kUkGdpr);  // verdict 0: the default withholding
    p_.unknown_type_verdict = static_cast<uint16_t>(p_.verdicts.size());
    p_.verdicts.push_back(DefaultVerdict(
        "The notification type is not one this policy knows (the sender's software may be newer "
        "than the broker's), so nothing is shared until the policy covers it."));
    Cell c;
    for (c.role = 0; c.role < kRecipientRoleCount; ++c.role) {
      for (c.type = 0; c.type < p_.type_count; ++c.type) {
        for (c.sender = 0; c.sender < kNodeTypeCount; ++c.sender) {
          Regime regime = p_.model.regime[c.sender];
          for (c.status = 0; c.status < kChildStatusCount; ++c.status) {
            for (c.consent = 0; c.consent < kConsentStateCount; ++c.consent) {
              for (c.risk = 0; c.risk < 2; ++c.risk) {
                Resolution r = p_.Resolve(c);
                Account(c, r);
                p_.table[p_.CellIndex(c)] =
                    r.conflict ? 0 : Intern(r.winner, r.matched, c.consent, regime);
              }
            }
          }
        }
      }
    }
    if (overflow_) {
      Report(Severity::kError, Kind::kConflict, SourceMark{1, 1}, "",
             "the policy has more distinct decisions than the engine can index (65535); split "
             "it or simplify its overlaps");
    }
  }

  void Account(const Cell& c, const Resolution& r) {
    const PolicyModel& m = p_.model;
    if (r.conflict) {
      for (const auto& [a, b] : r.conflicting) {
        auto key = std::make_pair(std::min(p_.entries[a].rule, p_.entries[b].rule),
                                  std::max(p_.entries[a].rule, p_.entries[b].rule));
        PairStat& s = conflicts_[key];
        if (s.count++ == 0) s.example = c;
      }
      return;
    }
    if (r.winner >= 0) {
      ++wins_[r.winner];
      for (int x : r.matched) {
        if (x != r.winner && deciders_[x].size() < kMaxExamples) {
          deciders_[x].insert(p_.entries[r.winner].rule);
        }
      }
    }
    // Which declared overrides ever meet, and which shares a withholding silently overrides.
    std::vector<int> withholds;
    for (int x : r.matched) {
      if (m.rules[p_.entries[x].rule].outcome == Outcome::kWithhold) withholds.push_back(x);
    }
    for (int x : r.matched) {
      const RuleModel& rx = m.rules[p_.entries[x].rule];
      for (int y : r.matched) {
        if (x != y && Declares(rx, m.rules[p_.entries[y].rule].id)) {
          used_overrides_.insert({p_.entries[x].rule, p_.entries[y].rule});
        }
      }
      if (rx.outcome != Outcome::kShare || withholds.empty()) continue;
      bool acknowledged = false;
      for (int w : withholds)
        acknowledged = acknowledged || Declares(m.rules[p_.entries[w].rule], rx.id);
      if (!acknowledged) {
        PairStat& s = shadows_[{p_.entries[r.winner].rule, p_.entries[x].rule}];
        if (s.count++ == 0) s.example = c;
      }
    }
  }

  void Report(Severity severity, Kind kind, SourceMark at, const std::string& rule_id,
              std::string message) {
    Diagnostic d;
    d.severity = severity;
    d.kind = kind;
    d.file = p_.model.file;
    d.line = at.line;
    d.column = at.column;
    d.rule_id = rule_id;
    d.message = std::move(message);
    out_->push_back(std::move(d));
  }

  std::string RuleRef(int rule) const {
    const RuleModel& r = p_.model.rules[rule];
    return absl::StrCat("'", r.id, "' (line ", r.mark.line, ")");
  }

  void ReportConflicts() {
    const PolicyModel& m = p_.model;
    for (const auto& [key, stat] : conflicts_) {
      const RuleModel& a = m.rules[key.first];
      const RuleModel& b = m.rules[key.second];
      std::vector<std::string> differ;
      if (a.basis != b.basis) differ.push_back(absl::StrCat("basis ", a.basis, " vs ", b.basis));
      if (a.deadline != b.deadline) {
        differ.push_back(absl::StrCat("deadline ", a.deadline, " vs ", b.deadline));
      }
      if (EffectiveGateway(m, a) != EffectiveGateway(m, b)) differ.push_back("gateway");
      if (differ.empty()) differ.push_back("fields disclosed");
      Report(Severity::kError, Kind::kConflict, b.mark, b.id,
             absl::StrCat("rules ", RuleRef(key.first), " and ", RuleRef(key.second),
                          " both share with the same recipient in ", stat.count,
                          " cases but with different outcomes (", absl::StrJoin(differ, "; "),
                          ") and neither is more specific, e.g. ", DescribeCell(stat.example),
                          "; narrow one of them, or say which wins with 'overrides: [", a.id,
                          "]' on '", b.id, "' (or the reverse)"));
    }
  }

  void ReportNeverFires() {
    const PolicyModel& m = p_.model;
    std::vector<std::vector<int>> by_rule(m.rules.size());
    for (size_t e = 0; e < p_.entries.size(); ++e) by_rule[p_.entries[e].rule].push_back(e);
    auto decided_by = [&](int e) {
      std::vector<std::string> names;
      for (int r : deciders_[e]) names.push_back(RuleRef(r));
      return names.empty() ? std::string("conflicting rules") : absl::StrJoin(names, ", ");
    };
    for (size_t r = 0; r < m.rules.size(); ++r) {
      const RuleModel& rule = m.rules[r];
      if (!rule.valid) continue;
      int64_t total = 0;
      for (int e : by_rule[r]) total += wins_[e];
      if (rule.match.Empty()) {
        Report(Severity::kWarning, Kind::kNeverFires, rule.match_mark, rule.id,
               absl::StrCat("rule '", rule.id,
                            "' can never fire: its match leaves nothing (an except removes all "
                            "of a list, or only auditors send)"));
        continue;
      }
      if (total == 0) {
        std::set<std::string> names;
        for (int e : by_rule[r]) names.insert(decided_by(e));
        Report(Severity::kWarning, Kind::kNeverFires, rule.mark, rule.id,
               absl::StrCat("rule '", rule.id,
                            "' can never fire: every request it matches is decided by ",
                            absl::StrJoin(names, "; ")));
        continue;
      }
      for (int e : by_rule[r]) {
        if (wins_[e] > 0) continue;
        Report(Severity::kWarning, Kind::kNeverFires, rule.mark, rule.id,
               absl::StrCat("rule '", rule.id, "' never decides for ",
                            RecipientRoleName(p_.entries[e].role), ": always decided by ",
                            decided_by(e)));
      }
    }
  }

  void ReportShadows() {
    const PolicyModel& m = p_.model;
    for (const auto& [key, stat] : shadows_) {
      const RuleModel& w = m.rules[key.first];
      const RuleModel& s = m.rules[key.second];
      Report(Severity::kWarning, Kind::kShadowed, s.mark, s.id,
             absl::StrCat("withhold rule ", RuleRef(key.first), " overrides share rule ",
                          RuleRef(key.second), " in ", stat.count, " cases, e.g. ",
                          DescribeCell(stat.example),
                          "; a withholding always wins. If that is meant, say so with "
                          "'overrides: [",
                          s.id, "]' on '", w.id, "'; if not, narrow '", w.id, "'"));
    }
  }

  void ReportUnusedOverrides() {
    const PolicyModel& m = p_.model;
    std::map<std::string, int> index;
    for (size_t r = 0; r < m.rules.size(); ++r) index[m.rules[r].id] = static_cast<int>(r);
    for (size_t r = 0; r < m.rules.size(); ++r) {
      const RuleModel& rule = m.rules[r];
      if (!rule.valid) continue;
      for (const auto& [id, mark] : rule.overrides) {
        auto it = index.find(id);
        if (it == index.end() || !m.rules[it->second].valid) continue;
        if (used_overrides_.count({static_cast<int>(r), it->second})) continue;
        Report(Severity::kWarning, Kind::kUnusedOverride, mark, rule.id,
               absl::StrCat("rule '", rule.id, "' overrides '", id,
                            "', but the two never match the same request for the same "
                            "recipient; remove it"));
      }
    }
  }

  FlagDecision FlagTemplate(RecipientRole role, ChildStatus status) const {
    FlagDecision d;
    d.request = {role, status};
    d.policy_name = p_.model.name;
    d.policy_version = p_.model.version;
    d.policy_digest = p_.digest;
    return d;
  }

  FlagDecision DefaultFlag(RecipientRole role, ChildStatus status) const {
    FlagDecision d = FlagTemplate(role, status);
    d.rule_id = kDefaultFlagRuleId;
    d.citations = CitationsOf(p_.model, p_.model.default_citations);
    std::string r(RecipientRoleName(role));
    if (status == ChildStatus::kNoPlan) {
      d.reason = "The child has no plan, so there is nothing to flag.";
    } else if (!IsFlagRecipient(role)) {
      d.reason = absl::StrCat("Flags go only to the nodes that register the children they serve (",
                              AllFlagRecipientNames(), "); ", r,
                              " is told nothing about this plan by a flag.");
    } else {
      d.reason = absl::StrCat("No flag rule of this policy tells ", r, " about ",
                              ChildStatusName(status), " plans, so ", r,
                              " is told nothing about this plan (share only what is necessary, "
                              "with those who need to know).");
    }
    return d;
  }

  FlagDecision FlagVerdict(int index, RecipientRole role, ChildStatus status) const {
    const PolicyModel& m = p_.model;
    const FlagRuleModel& f = m.flags[index];
    const BasisModel& b = m.bases.at(f.basis);
    FlagDecision d = FlagTemplate(role, status);
    d.shared = true;
    d.rule_id = f.id;
    d.rule_line = f.mark.line;
    LawfulBasis basis;
    basis.name = b.name;
    basis.description = b.description;
    basis.regime = Regime::kUkGdpr;
    basis.article6 = b.article6;
    basis.article9 = b.article9;
    basis.schedule1 = b.schedule1;
    basis.consent = b.RestsOnConsent()
                        ? "given: the plan, and so its flag, rests on the family's agreement"
                        : b.uk_without_consent;
    basis.statutory_gateway = b.gateway;
    d.basis = std::move(basis);
    for (int i = 0; i < kFlagFieldCount; ++i) {
      if ((f.fields >> i) & 1) d.fields.insert(static_cast<FlagField>(i));
    }
    std::vector<std::string> silent, notify, shown;
    for (int i = 0; i < kLookupReasonCount; ++i) {
      auto reason = static_cast<LookupReason>(i);
      if ((f.silent_look_ups >> i) & 1) {
        d.silent_look_ups.insert(reason);
        silent.emplace_back(LookupReasonName(reason));
      } else {
        notify.emplace_back(LookupReasonName(reason));
      }
    }
    for (FlagField field : d.fields) shown.emplace_back(FlagFieldName(field));
    std::vector<std::string> cites = f.citations;
    cites.insert(cites.end(), b.citations.begin(), b.citations.end());
    d.citations = CitationsOf(m, cites);
    std::string look_ups;
    if (notify.empty()) {
      look_ups = "No look-up notifies the lead worker.";
    } else if (silent.empty()) {
      look_ups = "Every look-up notifies the lead worker.";
    } else {
      look_ups = absl::StrCat("A look-up for ", absl::StrJoin(notify, " or "),
                              " notifies the lead worker; one for ", absl::StrJoin(silent, " or "),
                              " does not.");
    }
    d.reason = absl::StrCat("Flag shared with ", RecipientRoleName(role), " under ", b.name, " (",
                            ChildStatusName(status), " plan): ", absl::StrJoin(shown, ", "), ". ",
                            look_ups);
    return d;
  }

  // First match in file order decides. A valid flag rule every (role, status) of which an
  // earlier rule already decides can never decide anything: a warning, like a share rule that
  // never fires.
  void BuildFlags() {
    const PolicyModel& m = p_.model;
    p_.flag_table.clear();
    p_.flag_winner.assign(static_cast<size_t>(kRecipientRoleCount) * kChildStatusCount, -1);
    std::vector<int> wins(m.flags.size(), 0);
    for (int role = 0; role < kRecipientRoleCount; ++role) {
      for (int status = 0; status < kChildStatusCount; ++status) {
        auto r = static_cast<RecipientRole>(role);
        auto s = static_cast<ChildStatus>(status);
        int winner = -1;
        for (size_t i = 0; i < m.flags.size() && winner < 0; ++i) {
          if (m.flags[i].valid && m.flags[i].Matches(r, s)) winner = static_cast<int>(i);
        }
        p_.flag_winner[FlagCellIndex(r, s)] = winner;
        if (winner >= 0) ++wins[winner];
        p_.flag_table.push_back(winner < 0 ? DefaultFlag(r, s) : FlagVerdict(winner, r, s));
      }
    }
    for (size_t i = 0; i < m.flags.size(); ++i) {
      const FlagRuleModel& f = m.flags[i];
      if (!f.valid || wins[i] > 0 || f.to.empty() || f.statuses == 0) continue;
      std::set<std::string> by;
      for (const auto& [role, mark] : f.to) {
        for (int s = 0; s < kChildStatusCount; ++s) {
          if (!((f.statuses >> s) & 1)) continue;
          int w = p_.flag_winner[FlagCellIndex(role, static_cast<ChildStatus>(s))];
          if (w >= 0) {
            by.insert(absl::StrCat("'", m.flags[w].id, "' (line ", m.flags[w].mark.line, ")"));
          }
        }
      }
      Report(Severity::kWarning, Kind::kShadowed, f.mark, f.id,
             absl::StrCat("flag rule '", f.id,
                          "' can never decide: every role and status it names is decided "
                          "first by ",
                          absl::StrJoin(by, ", "),
                          " (the first matching flag rule decides); remove it, or move it "
                          "above and narrow it"));
    }
  }

  CompiledPolicy& p_;
  std::vector<Diagnostic>* out_;
  absl::flat_hash_map<std::string, uint16_t> interned_;
  bool overflow_ = false;
  std::vector<int64_t> wins_;
  std::vector<std::set<int>> deciders_;  // entry -> rules that decided where it matched
  std::map<std::pair<int, int>, PairStat> conflicts_;  // (rule, rule)
  std::map<std::pair<int, int>, PairStat> shadows_;    // (withhold rule, share rule)
  std::set<std::pair<int, int>> used_overrides_;       // (rule, overridden rule)
};

}  // namespace

std::unique_ptr<CompiledPolicy> Compile(PolicyModel model, std::string digest,
                                        std::vector<Diagnostic>* diagnostics) {
  auto p = std::make_unique<CompiledPolicy>();
  p->model = std::move(model);
  p->digest = std::move(digest);
  Compiler(*p, diagnostics).Run();
  return p;
}

}  // namespace safeguard::policy::internal
