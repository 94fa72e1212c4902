#include "clients/safeguardctl/policy_command.h"

#include <fstream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "broker/policy/policy_cases.h"
#include "broker/policy/policy_lint.h"
#include "broker/policy/sharing_policy.h"

namespace safeguard::ctl {
namespace {

using policy::Decision;
using policy::RecipientRole;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr const char* kPolicyOverview =
    R"(safeguardctl policy - check, explain and test lawful-basis sharing policies (offline)

Usage: safeguardctl policy lint FILE
       safeguardctl policy explain FILE --sender=TYPE --type=TYPE [--status=STATUS]
           [--consent=STATE] [--consent-reason=REASON] [--risk] [--recipient=ROLE]
       safeguardctl policy explain FILE --flag [--status=STATUS] [--recipient=ROLE]
       safeguardctl policy test FILE CASES

  lint     report every problem in a policy file, each with FILE:LINE:COLUMN
  explain  show what the policy decides about one notification for each recipient, and why;
           with --flag, what GP, health and school nodes are told about a child's plan
  test     run a file of cases (expected decisions) against a policy; 'N passed, M failed'

The policy language is described in docs/policy.md; the default policy is
deploy/policy/england.yaml. These commands read files only and need no broker.
Details: safeguardctl help policy lint (or explain, test).
)";

const std::map<std::string, std::string>& SubcommandHelp() {
  static const auto* help = new std::map<std::string, std::string>{
      {"lint", R"(safeguardctl policy lint - report problems in a sharing policy

Usage: safeguardctl policy lint FILE

Prints each finding as FILE:LINE:COLUMN: error|warning: what is wrong [kind].
Errors (the broker refuses such a policy and keeps the one in force):
  syntax         not YAML, or a key or value where the format has none
  unknown-name   an unknown sender type, notification type, child status, consent state,
                 recipient role, field, basis, deadline class or rule; in flags, an unknown
                 flag field or look-up reason
  missing        a required key (id, match, share/withhold, basis, purpose, deadline, ...)
  duplicate      a rule id or key given twice
  no-citation    a rule with no citation, or citing a reference not under 'references'
  unlawful       the language's legal checks: a basis used where it does not apply (its
                 'requires'), a share without consent whose basis cannot say why, a withholding
                 that lets consent block sharing when a risk of harm is indicated, fields beyond
                 a role's dataset, anything shared with auditors; a flag rule naming a role
                 other than gp, health or school, or status no-plan
  conflict       overlapping share rules with different outcomes and neither more specific
Warnings:
  never-fires    a rule (or one of its recipients) that can never decide anything
  shadowed       a withhold rule overriding part of a share rule without saying so, or a
                 flag rule every role and status of which an earlier flag rule decides
  unused-override an 'overrides' entry for rules that never meet

Exit status: 0 no findings, 1 any finding, 2 the file cannot be read.
)"},
      {"explain",
       R"(safeguardctl policy explain - what a policy decides about one notification, and why

Usage: safeguardctl policy explain FILE --sender=TYPE --type=TYPE [--status=STATUS]
           [--consent=STATE] [--consent-reason=REASON] [--risk] [--recipient=ROLE]
       safeguardctl policy explain FILE --flag [--status=STATUS] [--recipient=ROLE]

  --sender=TYPE          the sending node's type: gp, school, housing, police, front-door,
                         social-care, health, early-help
  --type=TYPE            the notification type, e.g. was-not-brought ('safeguardctl types')
  --status=STATUS        the child's status: no-plan (default), early-help, child-in-need,
                         child-protection, looked-after
  --consent=STATE        given, not-sought (default), refused, withdrawn
  --consent-reason=WHY   why consent was not sought: cannot-be-given, cannot-reasonably-obtain,
                         would-prejudice-protection, not-the-lawful-basis
  --risk                 the sender indicates a perceived or possible risk of harm
  --recipient=ROLE       one recipient role (a node type, or lead-worker): print its whole
                         decision record and how each rule bore on it
  --json                 print decision records as JSON, one per line

  --flag                 explain flags instead: what a gp, health or school node serving the
                         child is told about a plan of --status (default: every plan status),
                         and which look-ups notify the lead worker. With --recipient and
                         --status, the whole flag record and how each flag rule bore on it.

Without --recipient, prints one line per recipient role: share or withhold, the deciding rule
and line, the basis, deadline class and fields disclosed.

Examples:
  safeguardctl policy explain deploy/policy/england.yaml --sender=gp --type=was-not-brought \
      --status=child-protection --consent=refused --risk
  safeguardctl policy explain deploy/policy/england.yaml --flag --recipient=school
)"},
      {"test", R"(safeguardctl policy test - run expected decisions against a policy

Usage: safeguardctl policy test FILE CASES

CASES is a YAML file (format: safeguard-policy-cases/v1, see docs/policy.md) of requests and
the decisions expected for named recipients: share or withhold, and optionally the rule, basis,
regime, deadline class, fields, and text the consent record or reason must contain. A case may
instead ask about a flag: 'flag: {to: gp, status: child-protection}' with 'expect:' share or
withhold and optionally rule, basis, fields and silent-look-ups.
Prints each failed expectation as CASES:LINE: case name: what differed, then a final line
'N passed, M failed'.

Exit status: 0 every case passed, 1 any failed, 2 a file cannot be read or is not valid.
)"},
  };
  return *help;
}

int Usage(std::ostream& err, absl::string_view message) {
  err << "safeguardctl policy: " << message << "\n";
  return kExitUsage;
}

template <typename T, typename Parse>
bool FlagValue(const CommandLine& cl, const std::string& flag, Parse parse, absl::string_view known,
               T* out, std::string* error) {
  if (!cl.Has(flag)) return true;
  auto v = parse(cl.Get(flag));
  if (!v) {
    *error = absl::StrCat("--", flag, ": unknown value '", cl.Get(flag), "'; use one of: ", known);
    return false;
  }
  *out = *v;
  return true;
}

void PrintHeader(const policy::SharingPolicy& p, const policy::SharingRequest& r,
                 std::ostream& out) {
  out << "policy " << p.name() << " version " << p.version() << " (sha256 " << p.digest() << ")\n";
  std::string request = policy::FormatRequest(r);
  request = request.substr(0, request.rfind(" recipient="));
  out << "request: " << request << "\n\n";
}

int Lint(const CommandLine& cl, std::ostream& out, std::ostream& err) {
  if (cl.arguments.size() != 2) return Usage(err, "lint needs one FILE");
  if (!std::ifstream(cl.arguments[1])) {
    return Usage(err, absl::StrCat("cannot read ", cl.arguments[1]));
  }
  policy::LintReport report = policy::LintPolicyFile(cl.arguments[1]);
  for (const auto& d : report.diagnostics) out << d.ToString() << "\n";
  if (report.clean()) {
    out << cl.arguments[1] << ": no problems found\n";
    return kExitOk;
  }
  out << report.errors() << (report.errors() == 1 ? " error, " : " errors, ") << report.warnings()
      << (report.warnings() == 1 ? " warning" : " warnings") << "\n";
  return kExitFailed;
}

const char* VerdictName(policy::RuleTrace::Verdict v) {
  switch (v) {
    case policy::RuleTrace::Verdict::kDecided:
      return "DECIDED";
    case policy::RuleTrace::Verdict::kOverridden:
      return "overridden";
    case policy::RuleTrace::Verdict::kNotMatched:
      return "no match";
    case policy::RuleTrace::Verdict::kNotForRecipient:
      return "not for it";
  }
  return "";
}

std::string Names(const std::set<policy::FlagField>& fields) {
  std::vector<std::string> n;
  for (auto f : fields) n.emplace_back(policy::FlagFieldName(f));
  return n.empty() ? "-" : absl::StrJoin(n, ", ");
}

std::string Names(const std::set<policy::LookupReason>& reasons) {
  std::vector<std::string> n;
  for (auto r : reasons) n.emplace_back(policy::LookupReasonName(r));
  return n.empty() ? "none" : absl::StrJoin(n, ", ");
}

// policy explain FILE --flag [--status=S] [--recipient=R]
int ExplainFlag(const CommandLine& cl, std::ostream& out, std::ostream& err) {
  for (const char* f : {"sender", "type", "consent", "consent-reason", "risk"}) {
    if (cl.Has(f)) return Usage(err, absl::StrCat("--", f, " is for notifications, not --flag"));
  }
  std::vector<RecipientRole> roles = {RecipientRole::kGp, RecipientRole::kHealth,
                                      RecipientRole::kSchool};
  std::vector<policy::ChildStatus> statuses = {
      policy::ChildStatus::kEarlyHelp, policy::ChildStatus::kChildInNeed,
      policy::ChildStatus::kChildProtection, policy::ChildStatus::kLookedAfter};
  if (cl.Has("recipient")) {
    auto role = policy::ParseRecipientRole(cl.Get("recipient"));
    if (!role) {
      return Usage(err, absl::StrCat("--recipient: unknown role '", cl.Get("recipient"),
                                     "'; use one of: ", policy::AllFlagRecipientNames()));
    }
    roles = {*role};
  }
  if (cl.Has("status")) {
    auto status = policy::ParseChildStatus(cl.Get("status"));
    if (!status) {
      return Usage(err, absl::StrCat("--status: unknown value '", cl.Get("status"),
                                     "'; use one of: ", policy::AllChildStatusNames()));
    }
    statuses = {*status};
  }
  auto loaded = policy::SharingPolicy::LoadFile(cl.arguments[1]);
  if (!loaded.ok()) {
    err << "safeguardctl policy: the policy is not valid:\n" << loaded.status().message() << "\n";
    return kExitUsage;
  }
  const policy::SharingPolicy& p = **loaded;
  bool json = cl.Has("json");
  if (roles.size() == 1 && statuses.size() == 1) {
    policy::FlagExplanation e = p.ExplainFlag({roles[0], statuses[0]});
    if (json) {
      out << policy::FlagDecisionToJson(e.decision) << "\n";
      return kExitOk;
    }
    out << "policy " << p.name() << " version " << p.version() << " (sha256 " << p.digest()
        << ")\nrequest: " << policy::FormatFlagRequest(e.decision.request) << "\n\n"
        << policy::FormatFlagDecision(e.decision) << "\nHow each flag rule bore on it:\n";
    for (const policy::RuleTrace& t : e.rules) {
      out << absl::StrFormat("  line %-4d %-38s %-10s %s\n", t.line, t.rule_id,
                             VerdictName(t.verdict), t.detail);
    }
    if (e.decision.rule_id == policy::kDefaultFlagRuleId) {
      out << "No flag rule matched: told nothing.\n";
    }
    return kExitOk;
  }
  if (!json) {
    out << "policy " << p.name() << " version " << p.version() << " (sha256 " << p.digest()
        << ")\nflags\n\n";
  }
  for (RecipientRole role : roles) {
    for (policy::ChildStatus status : statuses) {
      policy::FlagDecision d = p.EvaluateFlag({role, status});
      if (json) {
        out << policy::FlagDecisionToJson(d) << "\n";
        continue;
      }
      std::string rule = d.rule_line > 0 ? absl::StrCat(d.rule_id, ":", d.rule_line) : d.rule_id;
      if (d.shared) {
        out << absl::StrFormat("  %-7s %-17s SHARE     %-36s %-8s %s; silent look-ups: %s\n",
                               policy::RecipientRoleName(role), policy::ChildStatusName(status),
                               rule, d.basis->name, Names(d.fields), Names(d.silent_look_ups));
      } else {
        out << absl::StrFormat("  %-7s %-17s no flag   %s\n", policy::RecipientRoleName(role),
                               policy::ChildStatusName(status), rule);
      }
    }
  }
  if (!json) {
    out << "\nAdd --recipient=ROLE --status=STATUS for the full flag record and how each flag "
           "rule bore on it.\n";
  }
  return kExitOk;
}

int Explain(const CommandLine& cl, std::ostream& out, std::ostream& err) {
  if (cl.arguments.size() != 2) return Usage(err, "explain needs one FILE");
  if (cl.Has("flag")) return ExplainFlag(cl, out, err);
  if (!cl.Has("sender") || !cl.Has("type")) {
    return Usage(err, "explain needs --sender=TYPE and --type=TYPE (see --help)");
  }
  policy::SharingRequest r;
  r.consent = policy::ConsentState::kNotSought;
  std::string error;
  bool ok = FlagValue(cl, "sender", protocol::ParseNodeType, protocol::AllNodeTypeNames(),
                      &r.sender, &error) &&
            FlagValue(cl, "type", policy::ParseNotificationType, "see 'safeguardctl types'",
                      &r.type, &error) &&
            FlagValue(cl, "status", policy::ParseChildStatus, policy::AllChildStatusNames(),
                      &r.child_status, &error) &&
            FlagValue(cl, "consent", policy::ParseConsentState, policy::AllConsentStateNames(),
                      &r.consent, &error) &&
            FlagValue(cl, "consent-reason", policy::ParseNotSoughtReason,
                      policy::AllNotSoughtReasonNames(), &r.not_sought_reason, &error);
  if (!ok) return Usage(err, error);
  if (cl.Has("consent-reason") && r.consent != policy::ConsentState::kNotSought) {
    return Usage(err, "--consent-reason is for --consent=not-sought");
  }
  r.risk_of_harm = cl.Has("risk");
  std::optional<RecipientRole> one;
  if (cl.Has("recipient")) {
    one = policy::ParseRecipientRole(cl.Get("recipient"));
    if (!one) {
      return Usage(err, absl::StrCat("--recipient: unknown role '", cl.Get("recipient"),
                                     "'; use one of: ", policy::AllRecipientRoleNames()));
    }
  }
  auto loaded = policy::SharingPolicy::LoadFile(cl.arguments[1]);
  if (!loaded.ok()) {
    err << "safeguardctl policy: the policy is not valid:\n" << loaded.status().message() << "\n";
    return kExitUsage;
  }
  const policy::SharingPolicy& p = **loaded;
  bool json = cl.Has("json");
  if (one) {
    r.recipient = *one;
    policy::Explanation e = p.Explain(r);
    if (json) {
      out << policy::DecisionToJson(e.decision) << "\n";
      return kExitOk;
    }
    PrintHeader(p, r, out);
    out << policy::FormatDecision(e.decision) << "\nHow each rule bore on it:\n";
    for (const policy::RuleTrace& t : e.rules) {
      out << absl::StrFormat("  line %-4d %-38s %-9s %-10s %s\n", t.line, t.rule_id,
                             policy::OutcomeName(t.outcome), VerdictName(t.verdict), t.detail);
    }
    if (e.decision.rule_id == policy::kDefaultWithholdRuleId) {
      out << "No rule matched: withheld by default.\n";
    }
    return kExitOk;
  }
  std::vector<Decision> all = p.EvaluateAll(r);
  if (json) {
    for (const Decision& d : all) out << policy::DecisionToJson(d) << "\n";
    return kExitOk;
  }
  PrintHeader(p, r, out);
  int shared = 0;
  for (const Decision& d : all) {
    std::string rule = d.rule_line > 0 ? absl::StrCat(d.rule_id, ":", d.rule_line) : d.rule_id;
    if (d.shared()) {
      ++shared;
      out << absl::StrFormat("  %-12s SHARE     %-40s %-10s %-16s %s\n",
                             policy::RecipientRoleName(d.request.recipient), rule, d.basis->name,
                             d.deadline, d.disclosed.ToString());
    } else {
      out << absl::StrFormat("  %-12s withhold  %s\n",
                             policy::RecipientRoleName(d.request.recipient), rule);
    }
  }
  out << "\nShared with " << shared << " of " << all.size()
      << " recipient roles. Add --recipient=ROLE for the full decision record and how each rule "
         "bore on it.\n";
  return kExitOk;
}

int Test(const CommandLine& cl, std::ostream& out, std::ostream& err) {
  if (cl.arguments.size() != 3) return Usage(err, "test needs FILE and CASES");
  auto loaded = policy::SharingPolicy::LoadFile(cl.arguments[1]);
  if (!loaded.ok()) {
    err << "safeguardctl policy: the policy is not valid:\n" << loaded.status().message() << "\n";
    return kExitUsage;
  }
  auto cases = policy::LoadCaseFile(cl.arguments[2]);
  if (!cases.ok()) {
    err << "safeguardctl policy: the cases are not valid:\n" << cases.status().message() << "\n";
    return kExitUsage;
  }
  policy::CaseResults results = policy::RunCases(**loaded, *cases);
  for (const policy::CaseFailure& f : results.failures) {
    out << f.file << ":" << f.line << ": FAIL " << f.case_name << ": " << f.message << "\n";
  }
  out << results.passed << " passed, " << results.failed << " failed\n";
  return results.failed == 0 ? kExitOk : kExitFailed;
}

}  // namespace

std::vector<FlagSpec> PolicyCommandFlags() {
  return {{"sender"},         {"type"},        {"status"},    {"consent"},
          {"consent-reason"}, {"risk", false}, {"recipient"}, {"flag", false}};
}

std::string PolicyHelp(absl::string_view subcommand) {
  if (subcommand.empty()) return kPolicyOverview;
  auto it = SubcommandHelp().find(std::string(subcommand));
  return it == SubcommandHelp().end() ? "" : it->second;
}

int RunPolicyCommand(const CommandLine& cl, std::ostream& out, std::ostream& err) {
  std::string sub = cl.arguments.empty() ? "" : cl.arguments[0];
  if (cl.Has("help") || sub.empty() || sub == "help") {
    std::string topic = sub == "help" && cl.arguments.size() > 1 ? cl.arguments[1] : sub;
    if (topic == "help") topic.clear();
    std::string help = PolicyHelp(topic);
    if (help.empty()) return Usage(err, absl::StrCat("no help for 'policy ", topic, "'"));
    out << help;
    return sub.empty() && !cl.Has("help") ? kExitUsage : kExitOk;
  }
  if (sub == "lint" || sub == "test") {
    for (const FlagSpec& f : PolicyCommandFlags()) {
      if (cl.Has(f.name)) {
        return Usage(err, absl::StrCat("--", f.name, " is for 'policy explain', not '", sub, "'"));
      }
    }
  }
  if (sub == "lint") return Lint(cl, out, err);
  if (sub == "explain") return Explain(cl, out, err);
  if (sub == "test") return Test(cl, out, err);
  return Usage(err, absl::StrCat("unknown subcommand '", sub,
                                 "'; use lint, explain or test (safeguardctl help policy)"));
}

}  // namespace safeguard::ctl
