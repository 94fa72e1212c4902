#include "broker/policy/decision.h"

#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "clients/protocol/envelope.h"

namespace safeguard::policy {
namespace {

void AppendJsonString(std::string* out, absl::string_view s) {
  out->push_back('"');
  size_t run = 0;  // start of the current run of characters that need no escaping
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default: {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out->append(buf);
      }
    }
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

// Builds a JSON object with keys in insertion order.
class JsonObject {
 public:
  JsonObject& Str(absl::string_view key, absl::string_view value) {
    Key(key);
    AppendJsonString(&out_, value);
    return *this;
  }
  JsonObject& Raw(absl::string_view key, absl::string_view json) {
    Key(key);
    out_.append(json.data(), json.size());
    return *this;
  }
  JsonObject& Int(absl::string_view key, int value) { return Raw(key, absl::StrCat(value)); }
  JsonObject& Bool(absl::string_view key, bool value) { return Raw(key, value ? "true" : "false"); }
  std::string Done() {
    out_.push_back('}');
    return std::move(out_);
  }
  void Reserve(size_t n) { out_.reserve(n); }

 private:
  void Key(absl::string_view key) {
    if (out_.size() > 1) out_.push_back(',');
    AppendJsonString(&out_, key);
    out_.push_back(':');
  }
  std::string out_ = "{";
};

std::string JsonStrings(const std::vector<std::string>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out.push_back(',');
    AppendJsonString(&out, values[i]);
  }
  out.push_back(']');
  return out;
}

std::string JsonFields(FieldSet fields) {
  std::string out = "[";
  for (auto f : fields.ToVector()) {
    if (out.size() > 1) out.push_back(',');
    AppendJsonString(&out, FieldName(f));
  }
  out.push_back(']');
  return out;
}

}  // namespace

std::string FormatRequest(const SharingRequest& r) {
  std::string consent(ConsentStateName(r.consent));
  if (r.consent == ConsentState::kNotSought &&
      r.not_sought_reason != NotSoughtReason::kUnspecified) {
    absl::StrAppend(&consent, " (", NotSoughtReasonName(r.not_sought_reason), ")");
  }
  return absl::StrCat(
      "sender=", protocol::NodeTypeName(r.sender), " type=", NotificationTypeName(r.type),
      " status=", ChildStatusName(r.child_status), " consent=", consent,
      " risk=", r.risk_of_harm ? "yes" : "no", " recipient=", RecipientRoleName(r.recipient));
}

absl::string_view RegimeName(Regime regime) {
  return regime == Regime::kUkGdpr ? "uk-gdpr" : "law-enforcement";
}

absl::string_view OutcomeName(Outcome outcome) {
  return outcome == Outcome::kShare ? "share" : "withhold";
}

std::string FormatDecision(const Decision& d) {
  std::string out =
      absl::StrCat(absl::AsciiStrToUpper(OutcomeName(d.outcome)), " to ",
                   RecipientRoleName(d.request.recipient), " under rule ", d.rule_id,
                   d.rule_line > 0 ? absl::StrCat(" (line ", d.rule_line, ")") : "", "\n");
  absl::StrAppend(&out, "  reason:    ", d.reason, "\n");
  if (d.basis) {
    const LawfulBasis& b = *d.basis;
    absl::StrAppend(&out, "  basis:     ", b.name,
                    b.description.empty() ? "" : absl::StrCat(" - ", b.description), "\n");
    if (b.regime == Regime::kUkGdpr) {
      absl::StrAppend(&out, "  regime:    UK GDPR: Art ", b.article6);
      if (!b.article9.empty()) absl::StrAppend(&out, "; Art ", b.article9);
      if (!b.schedule1.empty()) absl::StrAppend(&out, "; ", b.schedule1);
    } else {
      absl::StrAppend(&out,
                      "  regime:    DPA 2018 Part 3 (law enforcement): ", b.lawful_processing);
      if (!b.sensitive_processing.empty()) absl::StrAppend(&out, "; ", b.sensitive_processing);
    }
    absl::StrAppend(&out, "\n  consent:   ", b.consent, "\n");
    absl::StrAppend(&out, "  gateway:   ", b.statutory_gateway, "\n");
    absl::StrAppend(&out, "  purpose:   ", d.purpose, "\n");
    absl::StrAppend(&out, "  deadline:  ", d.deadline, "\n");
  }
  absl::StrAppend(&out, "  disclosed: ", d.disclosed.ToString(), "\n");
  absl::StrAppend(&out, "  withheld:  ", d.withheld.ToString(), "\n");
  for (const Citation& c : d.citations) {
    absl::StrAppend(&out, "  cites:     ", c.id, ": ", c.title,
                    c.url.empty() ? "" : absl::StrCat(" <", c.url, ">"), "\n");
  }
  if (!d.also_matched.empty()) {
    absl::StrAppend(&out, "  also matched, did not decide: ", absl::StrJoin(d.also_matched, ", "),
                    "\n");
  }
  return out;
}

std::string DecisionToJson(const Decision& d) {
  const SharingRequest& r = d.request;
  std::string request = JsonObject()
                            .Str("sender", protocol::NodeTypeName(r.sender))
                            .Str("type", NotificationTypeName(r.type))
                            .Str("child_status", ChildStatusName(r.child_status))
                            .Str("consent", ConsentStateName(r.consent))
                            .Str("not_sought_reason", NotSoughtReasonName(r.not_sought_reason))
                            .Bool("risk_of_harm", r.risk_of_harm)
                            .Str("recipient", RecipientRoleName(r.recipient))
                            .Done();
  JsonObject o;
  o.Reserve(2048);
  o.Str("decision", OutcomeName(d.outcome))
      .Raw("request", request)
      .Str("rule", d.rule_id)
      .Int("rule_line", d.rule_line)
      .Raw("policy", JsonObject()
                         .Str("name", d.policy_name)
                         .Str("version", d.policy_version)
                         .Str("sha256", d.policy_digest)
                         .Done());
  if (d.basis) {
    const LawfulBasis& b = *d.basis;
    JsonObject basis;
    basis.Str("name", b.name).Str("description", b.description).Str("regime", RegimeName(b.regime));
    if (b.regime == Regime::kUkGdpr) {
      basis.Str("article6", b.article6).Str("article9", b.article9).Str("schedule1", b.schedule1);
    } else {
      basis.Str("lawful_processing", b.lawful_processing)
          .Str("sensitive_processing", b.sensitive_processing);
    }
    basis.Str("statutory_gateway", b.statutory_gateway).Str("consent", b.consent);
    o.Raw("basis", basis.Done()).Str("purpose", d.purpose).Str("deadline", d.deadline);
  }
  o.Raw("disclosed", JsonFields(d.disclosed)).Raw("withheld", JsonFields(d.withheld));
  std::string citations = "[";
  for (size_t i = 0; i < d.citations.size(); ++i) {
    if (i) citations.push_back(',');
    citations += JsonObject()
                     .Str("id", d.citations[i].id)
                     .Str("title", d.citations[i].title)
                     .Str("url", d.citations[i].url)
                     .Done();
  }
  citations.push_back(']');
  o.Raw("citations", citations)
      .Str("reason", d.reason)
      .Raw("also_matched", JsonStrings(d.also_matched));
  return o.Done();
}

std::string FormatFlagRequest(const FlagRequest& r) {
  return absl::StrCat("flag to=", RecipientRoleName(r.recipient),
                      " status=", ChildStatusName(r.status));
}

std::vector<FlagField> FlagDecision::Withheld() const {
  std::vector<FlagField> out;
  if (!shared) return out;
  for (int f = 0; f < kFlagFieldCount; ++f) {
    if (!fields.count(static_cast<FlagField>(f))) out.push_back(static_cast<FlagField>(f));
  }
  return out;
}

namespace {

template <typename Set, typename NameOf>
std::vector<std::string> NamesOf(const Set& set, NameOf name_of) {
  std::vector<std::string> out;
  for (const auto& v : set) out.emplace_back(name_of(v));
  return out;
}

std::string OrNone(const std::vector<std::string>& names) {
  return names.empty() ? "none" : absl::StrJoin(names, ", ");
}

}  // namespace

std::string FormatFlagDecision(const FlagDecision& d) {
  std::string out = absl::StrCat(
      d.shared ? "SHARE" : "NO FLAG", " of ", ChildStatusName(d.request.status), " plans to ",
      RecipientRoleName(d.request.recipient), " under flag rule ", d.rule_id,
      d.rule_line > 0 ? absl::StrCat(" (line ", d.rule_line, ")") : "", "\n");
  absl::StrAppend(&out, "  reason:    ", d.reason, "\n");
  if (d.basis) {
    const LawfulBasis& b = *d.basis;
    absl::StrAppend(&out, "  basis:     ", b.name,
                    b.description.empty() ? "" : absl::StrCat(" - ", b.description), "\n");
    absl::StrAppend(&out, "  regime:    UK GDPR: Art ", b.article6);
    if (!b.article9.empty()) absl::StrAppend(&out, "; Art ", b.article9);
    if (!b.schedule1.empty()) absl::StrAppend(&out, "; ", b.schedule1);
    absl::StrAppend(&out, "\n  consent:   ", b.consent, "\n");
    absl::StrAppend(&out, "  gateway:   ", b.statutory_gateway, "\n");
  }
  absl::StrAppend(&out, "  fields:    ", OrNone(NamesOf(d.fields, FlagFieldName)), "\n");
  absl::StrAppend(&out, "  withheld:  ", OrNone(NamesOf(d.Withheld(), FlagFieldName)), "\n");
  if (d.shared) {
    std::vector<std::string> notify;
    for (int r = 0; r < kLookupReasonCount; ++r) {
      if (!d.SilentLookUp(static_cast<LookupReason>(r))) {
        notify.emplace_back(LookupReasonName(static_cast<LookupReason>(r)));
      }
    }
    absl::StrAppend(&out, "  look-ups that notify the lead worker: ", OrNone(notify),
                    "; silent: ", OrNone(NamesOf(d.silent_look_ups, LookupReasonName)), "\n");
  }
  for (const Citation& c : d.citations) {
    absl::StrAppend(&out, "  cites:     ", c.id, ": ", c.title,
                    c.url.empty() ? "" : absl::StrCat(" <", c.url, ">"), "\n");
  }
  return out;
}

std::string FlagDecisionToJson(const FlagDecision& d) {
  JsonObject o;
  o.Reserve(1024);
  o.Str("flag", d.shared ? "share" : "withhold")
      .Raw("request", JsonObject()
                          .Str("recipient", RecipientRoleName(d.request.recipient))
                          .Str("status", ChildStatusName(d.request.status))
                          .Done())
      .Str("rule", d.rule_id)
      .Int("rule_line", d.rule_line)
      .Raw("policy", JsonObject()
                         .Str("name", d.policy_name)
                         .Str("version", d.policy_version)
                         .Str("sha256", d.policy_digest)
                         .Done());
  if (d.basis) {
    const LawfulBasis& b = *d.basis;
    o.Raw("basis", JsonObject()
                       .Str("name", b.name)
                       .Str("description", b.description)
                       .Str("regime", RegimeName(b.regime))
                       .Str("article6", b.article6)
                       .Str("article9", b.article9)
                       .Str("schedule1", b.schedule1)
                       .Str("statutory_gateway", b.statutory_gateway)
                       .Str("consent", b.consent)
                       .Done());
  }
  o.Raw("fields", JsonStrings(NamesOf(d.fields, FlagFieldName)))
      .Raw("withheld", JsonStrings(NamesOf(d.Withheld(), FlagFieldName)))
      .Raw("silent_look_ups", JsonStrings(NamesOf(d.silent_look_ups, LookupReasonName)));
  std::string citations = "[";
  for (size_t i = 0; i < d.citations.size(); ++i) {
    if (i) citations.push_back(',');
    citations += JsonObject()
                     .Str("id", d.citations[i].id)
                     .Str("title", d.citations[i].title)
                     .Str("url", d.citations[i].url)
                     .Done();
  }
  citations.push_back(']');
  o.Raw("citations", citations).Str("reason", d.reason);
  return o.Done();
}

std::string FormatLawfulBasis(const LawfulBasis& b) {
  std::vector<std::string> parts;
  if (b.regime == Regime::kLawEnforcement) {
    if (!b.lawful_processing.empty()) parts.push_back("DPA 2018 Part 3 " + b.lawful_processing);
    if (!b.sensitive_processing.empty()) parts.push_back(b.sensitive_processing);
  } else {
    if (!b.article6.empty()) parts.push_back("UK GDPR " + b.article6);
    if (!b.article9.empty()) {
      parts.push_back(b.article9 + (b.schedule1.empty() ? "" : " + " + b.schedule1));
    }
  }
  if (!b.statutory_gateway.empty()) parts.push_back("gateway " + b.statutory_gateway);
  if (!b.consent.empty()) parts.push_back("consent: " + b.consent);
  return absl::StrCat(b.name, ": ", absl::StrJoin(parts, "; "));
}

}  // namespace safeguard::policy
