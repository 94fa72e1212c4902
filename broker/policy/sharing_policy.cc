#include "broker/policy/sharing_policy.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "broker/policy/internal/policy_compiler.h"
#include "broker/policy/internal/policy_parser.h"
#include "clients/protocol/crypto.h"

namespace safeguard::policy {
namespace {

using internal::Cell;
using internal::CompiledPolicy;

// The cell of a request, or false when a value lies outside the policy's space.
bool CellOf(const CompiledPolicy& p, const SharingRequest& r, Cell* c) {
  c->type = TypeIndex(r.type);
  c->role = Index(r.recipient);
  c->sender = Index(r.sender);
  c->status = Index(r.child_status);
  c->consent = Index(r.consent);
  c->risk = r.risk_of_harm ? 1 : 0;
  return c->type >= 0 && c->type < p.type_count && c->role >= 0 && c->role < kRecipientRoleCount &&
         c->sender >= 0 && c->sender < kNodeTypeCount && c->status >= 0 &&
         c->status < kChildStatusCount && c->consent >= 0 && c->consent < kConsentStateCount;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the policy file ", path));
  std::stringstream s;
  s << in.rdbuf();
  if (in.bad()) return absl::NotFoundError(absl::StrCat("error reading the policy file ", path));
  return s.str();
}

}  // namespace

SharingPolicy::SharingPolicy(std::unique_ptr<internal::CompiledPolicy> compiled,
                             std::vector<Diagnostic> warnings)
    : compiled_(std::move(compiled)), warnings_(std::move(warnings)) {}

SharingPolicy::~SharingPolicy() = default;

absl::StatusOr<std::shared_ptr<const SharingPolicy>> SharingPolicy::LoadFile(
    const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  return FromText(path, *text);
}

absl::StatusOr<std::shared_ptr<const SharingPolicy>> SharingPolicy::FromText(
    absl::string_view file_name, const std::string& text) {
  std::vector<Diagnostic> diagnostics;
  internal::PolicyModel model = internal::ParsePolicy(file_name, text, &diagnostics);
  if (absl::Status s = ErrorsToStatus(diagnostics); !s.ok()) return s;
  auto compiled = internal::Compile(std::move(model), protocol::HexSha256(text), &diagnostics);
  if (absl::Status s = ErrorsToStatus(diagnostics); !s.ok()) return s;
  return std::shared_ptr<const SharingPolicy>(
      new SharingPolicy(std::move(compiled), std::move(diagnostics)));
}

std::vector<Diagnostic> SharingPolicy::Check(absl::string_view file_name, const std::string& text) {
  std::vector<Diagnostic> diagnostics;
  internal::PolicyModel model = internal::ParsePolicy(file_name, text, &diagnostics);
  // Rules with errors of their own are left out of the analysis, so that one mistake is not
  // reported again as a rule that never fires.
  internal::Compile(std::move(model), "", &diagnostics);
  std::stable_sort(diagnostics.begin(), diagnostics.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     return std::tie(a.line, a.column) < std::tie(b.line, b.column);
                   });
  return diagnostics;
}

Decision SharingPolicy::Evaluate(const SharingRequest& request) const {
  const CompiledPolicy& p = *compiled_;
  Cell c;
  uint16_t verdict = CellOf(p, request, &c) ? p.table[p.CellIndex(c)] : p.unknown_type_verdict;
  Decision d = p.verdicts[verdict];
  d.request = request;
  return d;
}

std::vector<Decision> SharingPolicy::EvaluateAll(const SharingRequest& request) const {
  std::vector<Decision> out;
  out.reserve(kRecipientRoleCount);
  SharingRequest r = request;
  for (int role = 0; role < kRecipientRoleCount; ++role) {
    r.recipient = static_cast<RecipientRole>(role);
    out.push_back(Evaluate(r));
  }
  return out;
}

Explanation SharingPolicy::Explain(const SharingRequest& request) const {
  const CompiledPolicy& p = *compiled_;
  Explanation out;
  out.decision = Evaluate(request);
  Cell c;
  if (!CellOf(p, request, &c)) return out;
  internal::Resolution res = p.Resolve(c);
  const auto& rules = p.model.rules;
  for (size_t r = 0; r < rules.size(); ++r) {
    const internal::RuleModel& rule = rules[r];
    RuleTrace t;
    t.rule_id = rule.id;
    t.line = rule.mark.line;
    t.outcome = rule.outcome;
    int entry = -1;
    for (int e : p.entries_by_role[c.role]) {
      if (p.entries[e].rule == static_cast<int>(r)) entry = e;
    }
    if (entry < 0) {
      std::vector<std::string> roles;
      for (const auto& target : rule.to) roles.emplace_back(RecipientRoleName(target.role));
      t.verdict = RuleTrace::Verdict::kNotForRecipient;
      t.detail = absl::StrCat("speaks only about ", absl::StrJoin(roles, ", "));
    } else if (!p.Matches(p.entries[entry], c)) {
      t.verdict = RuleTrace::Verdict::kNotMatched;
      t.detail = internal::WhyNotMatched(p, p.entries[entry], c);
    } else if (entry == res.winner) {
      t.verdict = RuleTrace::Verdict::kDecided;
      t.detail = rule.outcome == Outcome::kShare ? "matches and decides: share"
                                                 : "matches and decides: withhold";
    } else {
      t.verdict = RuleTrace::Verdict::kOverridden;
      if (res.winner < 0) {
        t.detail = "matches, but conflicts with another rule";
      } else {
        const internal::RuleModel& w = rules[p.entries[res.winner].rule];
        std::string by = absl::StrCat("'", w.id, "' (line ", w.mark.line, ")");
        bool declared = false;
        for (const auto& o : w.overrides) declared = declared || o.first == rule.id;
        if (w.outcome == Outcome::kWithhold && rule.outcome == Outcome::kShare) {
          t.detail = absl::StrCat("matches, but withhold rule ", by,
                                  " decides: a withholding always wins over a share");
        } else if (declared) {
          t.detail = absl::StrCat("matches, but ", by, " overrides it");
        } else if (p.Beats(res.winner, entry)) {
          t.detail = absl::StrCat("matches, but ", by, " is more specific");
        } else {
          t.detail = absl::StrCat("matches with the same outcome as ", by,
                                  ", which comes first and decides");
        }
      }
    }
    out.rules.push_back(std::move(t));
  }
  return out;
}

FlagDecision SharingPolicy::EvaluateFlag(const FlagRequest& request) const {
  const CompiledPolicy& p = *compiled_;
  int role = Index(request.recipient);
  int status = Index(request.status);
  if (role < 0 || role >= kRecipientRoleCount || status < 0 || status >= kChildStatusCount) {
    // Values outside the enums (a cast from untrusted input): told nothing.
    FlagDecision d =
        p.flag_table[internal::FlagCellIndex(RecipientRole::kAuditor, ChildStatus::kNoPlan)];
    d.request = request;
    return d;
  }
  return p.flag_table[internal::FlagCellIndex(request.recipient, request.status)];
}

FlagExplanation SharingPolicy::ExplainFlag(const FlagRequest& request) const {
  const CompiledPolicy& p = *compiled_;
  FlagExplanation out;
  out.decision = EvaluateFlag(request);
  int winner = -1;
  const auto& flags = p.model.flags;
  for (size_t i = 0; i < flags.size(); ++i) {
    const internal::FlagRuleModel& f = flags[i];
    RuleTrace t;
    t.rule_id = f.id;
    t.line = f.mark.line;
    t.outcome = Outcome::kShare;
    bool for_role = false;
    std::vector<std::string> roles;
    for (const auto& [r, mark] : f.to) {
      for_role = for_role || r == request.recipient;
      roles.emplace_back(RecipientRoleName(r));
    }
    if (!f.valid) {
      t.verdict = RuleTrace::Verdict::kNotMatched;
      t.detail = "has errors: left out";
    } else if (!for_role) {
      t.verdict = RuleTrace::Verdict::kNotForRecipient;
      t.detail = absl::StrCat("flags only to ", absl::StrJoin(roles, ", "));
    } else if (!f.Matches(request.recipient, request.status)) {
      std::vector<std::string> statuses;
      for (int s = 0; s < kChildStatusCount; ++s) {
        if ((f.statuses >> s) & 1)
          statuses.emplace_back(ChildStatusName(static_cast<ChildStatus>(s)));
      }
      t.verdict = RuleTrace::Verdict::kNotMatched;
      t.detail = absl::StrCat("status ", ChildStatusName(request.status),
                              " is not among: ", absl::StrJoin(statuses, ", "));
    } else if (winner < 0) {
      winner = static_cast<int>(i);
      t.verdict = RuleTrace::Verdict::kDecided;
      t.detail = "the first flag rule that matches: decides";
    } else {
      t.verdict = RuleTrace::Verdict::kOverridden;
      t.detail = absl::StrCat("matches, but '", flags[winner].id, "' (line ",
                              flags[winner].mark.line, ") comes first and decides");
    }
    out.rules.push_back(std::move(t));
  }
  return out;
}

const std::map<std::string, DeadlineRule>& SharingPolicy::deadline_rules() const {
  return compiled_->model.deadline_rules;
}

const std::vector<CumulativeRule>& SharingPolicy::cumulative_rules() const {
  return compiled_->model.cumulative;
}

const DriftSettings& SharingPolicy::drift() const { return compiled_->model.drift; }

const DeadlineRule* SharingPolicy::FindDeadlineRule(absl::string_view deadline_class) const {
  auto it = compiled_->model.deadline_rules.find(std::string(deadline_class));
  return it == compiled_->model.deadline_rules.end() ? nullptr : &it->second;
}

const std::string& SharingPolicy::name() const { return compiled_->model.name; }
const std::string& SharingPolicy::version() const { return compiled_->model.version; }
const std::string& SharingPolicy::digest() const { return compiled_->digest; }
const std::string& SharingPolicy::file() const { return compiled_->model.file; }
int SharingPolicy::rule_count() const { return static_cast<int>(compiled_->model.rules.size()); }
int SharingPolicy::flag_rule_count() const {
  return static_cast<int>(compiled_->model.flags.size());
}

}  // namespace safeguard::policy
