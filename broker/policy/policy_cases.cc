#include "broker/policy/policy_cases.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "broker/policy/internal/yaml_reader.h"

namespace safeguard::policy {
namespace {

using internal::MapEntries;
using internal::MapEntry;
using internal::YamlReader;
using Kind = Diagnostic::Kind;

constexpr char kCasesFormat[] = "safeguard-policy-cases/v1";

class CaseParser {
 public:
  CaseParser(absl::string_view file, std::vector<Diagnostic>* d) : r_(std::string(file), d) {
    out_.file = std::string(file);
  }

  CaseFile Parse(const std::string& text) {
    YAML::Node root;
    if (!r_.Load(text, &root)) return out_;
    try {
      ParseRoot(root);
    } catch (const YAML::Exception& e) {
      r_.Error(Kind::kSyntax, internal::SourceMark{e.mark.line + 1, e.mark.column + 1},
               absl::StrCat("could not read the cases: ", e.msg));
    }
    return out_;
  }

 private:
  void ParseRoot(const YAML::Node& root) {
    MapEntries top;
    if (!r_.Map(root, "the cases file", {"format", "policy", "cases"}, &top)) return;
    if (const MapEntry* e = r_.Require(top, "format", root, "the cases file")) {
      auto format = r_.String(e->value, "format");
      if (format && *format != kCasesFormat) {
        r_.Error(Kind::kSyntax, e->value,
                 absl::StrCat("format '", *format, "' is not known; use format: ", kCasesFormat));
      }
    }
    const MapEntry* cases = r_.Require(top, "cases", root, "the cases file");
    if (cases == nullptr) return;
    if (!cases->value.IsSequence()) {
      r_.Error(Kind::kSyntax, cases->value, "cases must be a list, each item starting '- name:'");
      return;
    }
    for (const YAML::Node& item : cases->value) ParseCase(item);
  }

  void ParseCase(const YAML::Node& node) {
    PolicyCase c;
    c.line = r_.MarkOf(node).line;
    MapEntries keys;
    if (!r_.Map(node, "a case", {"name", "given", "flag", "expect"}, &keys)) return;
    if (const MapEntry* e = r_.Require(keys, "name", node, "every case")) {
      c.name = r_.String(e->value, "case name").value_or("");
    }
    std::string what = absl::StrCat("case '", c.name, "'");
    if (const MapEntry* f = keys.Find("flag")) {
      if (keys.Find("given")) {
        r_.Error(Kind::kSyntax, f->key_node,
                 absl::StrCat(what,
                              " has both 'given' and 'flag': a case asks about a "
                              "notification or about a flag, not both"));
        return;
      }
      ParseFlagCase(*f, keys, node, what, &c);
      out_.cases.push_back(std::move(c));
      return;
    }
    if (const MapEntry* e = r_.Require(keys, "given", node, what)) ParseGiven(e->value, what, &c);
    if (const MapEntry* e = r_.Require(keys, "expect", node, what)) {
      MapEntries roles;
      if (r_.AnyKeyMap(e->value, absl::StrCat(what, " expect"), &roles)) {
        for (const MapEntry& role : roles.all()) ParseExpectation(role, what, &c);
        if (roles.all().empty()) {
          r_.Error(Kind::kMissing, e->value, absl::StrCat(what, " expects nothing"));
        }
      }
    }
    out_.cases.push_back(std::move(c));
  }

  template <typename T, typename ParseFn>
  void Name(const MapEntries& keys, absl::string_view key, const YAML::Node& parent,
            const std::string& what, ParseFn parse, absl::string_view known, T* out) {
    const MapEntry* e = r_.Require(keys, key, parent, what);
    if (e == nullptr) return;
    auto s = r_.String(e->value, absl::StrCat(what, " ", key));
    if (!s) return;
    auto v = parse(*s);
    if (!v) {
      r_.Error(Kind::kUnknownName, e->value,
               absl::StrCat("unknown ", key, " '", *s, "' in ", what, "; known: ", known));
      return;
    }
    *out = *v;
  }

  void ParseGiven(const YAML::Node& node, const std::string& case_what, PolicyCase* c) {
    std::string what = absl::StrCat(case_what, " given");
    MapEntries keys;
    if (!r_.Map(node, what, {"sender", "type", "status", "consent", "consent_reason", "risk"},
                &keys)) {
      return;
    }
    SharingRequest& q = c->request;
    Name(keys, "sender", node, what, protocol::ParseNodeType, protocol::AllNodeTypeNames(),
         &q.sender);
    Name(keys, "type", node, what, ParseNotificationType, "see 'safeguardctl types'", &q.type);
    Name(keys, "status", node, what, ParseChildStatus, AllChildStatusNames(), &q.child_status);
    Name(keys, "consent", node, what, ParseConsentState, AllConsentStateNames(), &q.consent);
    if (keys.Find("consent_reason")) {
      Name(keys, "consent_reason", node, what, ParseNotSoughtReason, AllNotSoughtReasonNames(),
           &q.not_sought_reason);
    }
    if (const MapEntry* e = r_.Require(keys, "risk", node, what)) {
      auto s = r_.String(e->value, absl::StrCat(what, " risk"));
      if (s && (*s == "true" || *s == "false")) {
        q.risk_of_harm = *s == "true";
      } else if (s) {
        r_.Error(Kind::kUnknownName, e->value, absl::StrCat(what, " risk must be true or false"));
      }
    }
  }

  void ParseExpectation(const MapEntry& e, const std::string& case_what, PolicyCase* c) {
    Expectation x;
    x.line = r_.MarkOf(e.key_node).line;
    auto role = ParseRecipientRole(e.key);
    if (!role) {
      r_.Error(Kind::kUnknownName, e.key_node,
               absl::StrCat("unknown recipient role '", e.key, "' in ", case_what,
                            "; the roles are: ", AllRecipientRoleNames()));
      return;
    }
    x.recipient = *role;
    std::string what = absl::StrCat(case_what, " expect ", e.key);
    auto outcome = [&](const YAML::Node& n) {
      auto s = r_.String(n, what);
      if (s && (*s == "share" || *s == "withhold")) {
        x.outcome = *s == "share" ? Outcome::kShare : Outcome::kWithhold;
        return true;
      }
      if (s) r_.Error(Kind::kUnknownName, n, absl::StrCat(what, " must be share or withhold"));
      return false;
    };
    if (e.value.IsScalar()) {
      if (outcome(e.value)) c->expect.push_back(std::move(x));
      return;
    }
    MapEntries keys;
    if (!r_.Map(e.value, what,
                {"decision", "rule", "basis", "regime", "deadline", "fields", "consent", "reason"},
                &keys)) {
      return;
    }
    const MapEntry* d = r_.Require(keys, "decision", e.value, what);
    if (d == nullptr || !outcome(d->value)) return;
    auto text = [&](absl::string_view key, std::optional<std::string>* out) {
      if (const MapEntry* k = keys.Find(key))
        *out = r_.String(k->value, absl::StrCat(what, " ", key));
    };
    text("rule", &x.rule);
    text("basis", &x.basis);
    text("deadline", &x.deadline);
    text("consent", &x.consent);
    text("reason", &x.reason);
    if (const MapEntry* k = keys.Find("regime")) {
      auto s = r_.String(k->value, absl::StrCat(what, " regime"));
      if (s && (*s == "uk-gdpr" || *s == "law-enforcement")) {
        x.regime = *s == "uk-gdpr" ? Regime::kUkGdpr : Regime::kLawEnforcement;
      } else if (s) {
        r_.Error(Kind::kUnknownName, k->value,
                 absl::StrCat(what, " regime must be uk-gdpr or law-enforcement"));
      }
    }
    if (const MapEntry* k = keys.Find("fields")) {
      if (auto items = r_.ScalarList(k->value, absl::StrCat(what, " fields"))) {
        FieldSet fields;
        for (const YAML::Node& item : *items) {
          auto f = ParseField(item.Scalar());
          if (!f) {
            r_.Error(Kind::kUnknownName, item,
                     absl::StrCat("unknown field '", item.Scalar(),
                                  "'; the fields are: ", AllFieldNames()));
            continue;
          }
          fields.Insert(*f);
        }
        x.fields = fields;
      }
    }
    c->expect.push_back(std::move(x));
  }

  // flag: {to: ROLE, status: STATUS}; expect: share | withhold | {decision, rule, basis,
  // fields, silent-look-ups, reason}.
  void ParseFlagCase(const MapEntry& flag, const MapEntries& keys, const YAML::Node& node,
                     const std::string& case_what, PolicyCase* c) {
    std::string what = absl::StrCat(case_what, " flag");
    FlagRequest q;
    MapEntries fk;
    if (r_.Map(flag.value, what, {"to", "status"}, &fk)) {
      Name(fk, "to", flag.value, what, ParseRecipientRole, AllRecipientRoleNames(), &q.recipient);
      Name(fk, "status", flag.value, what, ParseChildStatus, AllChildStatusNames(), &q.status);
    }
    c->flag = q;
    const MapEntry* e = r_.Require(keys, "expect", node, case_what);
    if (e == nullptr) return;
    FlagExpectation x;
    x.line = r_.MarkOf(e->key_node).line;
    std::string w = absl::StrCat(case_what, " expect");
    auto outcome = [&](const YAML::Node& n) {
      auto s = r_.String(n, w);
      if (s && (*s == "share" || *s == "withhold")) {
        x.shared = *s == "share";
        return true;
      }
      if (s) r_.Error(Kind::kUnknownName, n, absl::StrCat(w, " must be share or withhold"));
      return false;
    };
    if (e->value.IsScalar()) {
      if (outcome(e->value)) c->flag_expect = x;
      return;
    }
    MapEntries xk;
    if (!r_.Map(e->value, w, {"decision", "rule", "basis", "fields", "silent-look-ups", "reason"},
                &xk)) {
      return;
    }
    const MapEntry* d = r_.Require(xk, "decision", e->value, w);
    if (d == nullptr || !outcome(d->value)) return;
    auto text = [&](absl::string_view key, std::optional<std::string>* out) {
      if (const MapEntry* k = xk.Find(key)) *out = r_.String(k->value, absl::StrCat(w, " ", key));
    };
    text("rule", &x.rule);
    text("basis", &x.basis);
    text("reason", &x.reason);
    if (const MapEntry* k = xk.Find("fields")) {
      x.fields = NameSet<FlagField>(k->value, absl::StrCat(w, " fields"), ParseFlagField,
                                    AllFlagFieldNames());
    }
    if (const MapEntry* k = xk.Find("silent-look-ups")) {
      x.silent_look_ups = NameSet<LookupReason>(k->value, absl::StrCat(w, " silent-look-ups"),
                                                ParseLookupReason, AllLookupReasonNames());
    }
    c->flag_expect = x;
  }

  // A list of names as a set; `[]` is the empty set.
  template <typename T, typename ParseFn>
  std::set<T> NameSet(const YAML::Node& node, const std::string& what, ParseFn parse,
                      absl::string_view known) {
    std::set<T> out;
    if (node.IsSequence() && node.size() == 0) return out;
    auto items = r_.ScalarList(node, what);
    if (!items) return out;
    for (const YAML::Node& item : *items) {
      auto v = parse(item.Scalar());
      if (!v) {
        r_.Error(Kind::kUnknownName, item,
                 absl::StrCat("unknown name '", item.Scalar(), "' in ", what, "; known: ", known));
        continue;
      }
      out.insert(*v);
    }
    return out;
  }

  YamlReader r_;
  CaseFile out_;
};

}  // namespace

absl::StatusOr<CaseFile> ParseCases(absl::string_view file_name, const std::string& text) {
  std::vector<Diagnostic> diagnostics;
  CaseFile cases = CaseParser(file_name, &diagnostics).Parse(text);
  if (absl::Status s = ErrorsToStatus(diagnostics); !s.ok()) return s;
  return cases;
}

absl::StatusOr<CaseFile> LoadCaseFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the cases file ", path));
  std::stringstream s;
  s << in.rdbuf();
  return ParseCases(path, s.str());
}

namespace {

template <typename Set, typename NameOf>
std::string SetString(const Set& set, NameOf name_of) {
  std::vector<std::string> names;
  for (const auto& v : set) names.emplace_back(name_of(v));
  return names.empty() ? "none" : absl::StrJoin(names, ", ");
}

// The failures of one flag case.
std::vector<std::string> CheckFlag(const SharingPolicy& policy, const FlagRequest& q,
                                   const FlagExpectation& x) {
  FlagDecision d = policy.EvaluateFlag(q);
  std::vector<std::string> wrong;
  if (d.shared != x.shared) {
    wrong.push_back(absl::StrCat("expected ", x.shared ? "share" : "withhold", ", got ",
                                 d.shared ? "share" : "withhold", " (", d.reason, ")"));
  }
  if (x.rule && d.rule_id != *x.rule) {
    wrong.push_back(absl::StrCat("expected flag rule ", *x.rule, ", decided by ", d.rule_id));
  }
  std::string basis = d.basis ? d.basis->name : "none";
  if (x.basis && basis != *x.basis) {
    wrong.push_back(absl::StrCat("expected basis ", *x.basis, ", got ", basis));
  }
  if (x.fields && d.fields != *x.fields) {
    wrong.push_back(absl::StrCat("expected fields ", SetString(*x.fields, FlagFieldName),
                                 ", shared ", SetString(d.fields, FlagFieldName)));
  }
  if (x.silent_look_ups && d.silent_look_ups != *x.silent_look_ups) {
    wrong.push_back(absl::StrCat("expected silent look-ups ",
                                 SetString(*x.silent_look_ups, LookupReasonName), ", got ",
                                 SetString(d.silent_look_ups, LookupReasonName)));
  }
  if (x.reason && !absl::StrContains(d.reason, *x.reason)) {
    wrong.push_back(
        absl::StrCat("expected the reason to mention '", *x.reason, "', got '", d.reason, "'"));
  }
  return wrong;
}

}  // namespace

CaseResults RunCases(const SharingPolicy& policy, const CaseFile& cases) {
  CaseResults results;
  for (const PolicyCase& c : cases.cases) {
    bool ok = true;
    if (c.flag && c.flag_expect) {
      for (std::string& w : CheckFlag(policy, *c.flag, *c.flag_expect)) {
        ok = false;
        results.failures.push_back({c.name, cases.file, c.flag_expect->line,
                                    absl::StrCat(FormatFlagRequest(*c.flag), ": ", std::move(w))});
      }
    }
    for (const Expectation& x : c.expect) {
      SharingRequest q = c.request;
      q.recipient = x.recipient;
      Decision d = policy.Evaluate(q);
      std::vector<std::string> wrong;
      if (d.outcome != x.outcome) {
        wrong.push_back(absl::StrCat("expected ", OutcomeName(x.outcome), ", got ",
                                     OutcomeName(d.outcome), " (", d.reason, ")"));
      }
      if (x.rule && d.rule_id != *x.rule) {
        wrong.push_back(absl::StrCat("expected rule ", *x.rule, ", decided by ", d.rule_id));
      }
      std::string basis = d.basis ? d.basis->name : "none";
      if (x.basis && basis != *x.basis) {
        wrong.push_back(absl::StrCat("expected basis ", *x.basis, ", got ", basis));
      }
      if (x.regime && (!d.basis || d.basis->regime != *x.regime)) {
        wrong.push_back(absl::StrCat("expected regime ", RegimeName(*x.regime), ", got ",
                                     d.basis ? RegimeName(d.basis->regime) : "none"));
      }
      if (x.deadline && d.deadline != *x.deadline) {
        wrong.push_back(absl::StrCat("expected deadline ", *x.deadline, ", got ",
                                     d.deadline.empty() ? "none" : d.deadline));
      }
      if (x.fields && !(d.disclosed == *x.fields)) {
        wrong.push_back(absl::StrCat("expected fields ", x.fields->ToString(), ", disclosed ",
                                     d.disclosed.ToString()));
      }
      if (x.consent && (!d.basis || !absl::StrContains(d.basis->consent, *x.consent))) {
        wrong.push_back(absl::StrCat("expected the consent record to mention '", *x.consent,
                                     "', got '", d.basis ? d.basis->consent : "", "'"));
      }
      if (x.reason && !absl::StrContains(d.reason, *x.reason)) {
        wrong.push_back(
            absl::StrCat("expected the reason to mention '", *x.reason, "', got '", d.reason, "'"));
      }
      for (std::string& w : wrong) {
        ok = false;
        results.failures.push_back(
            {c.name, cases.file, x.line,
             absl::StrCat(RecipientRoleName(x.recipient), ": ", std::move(w))});
      }
    }
    ++(ok ? results.passed : results.failed);
  }
  return results;
}

}  // namespace safeguard::policy
