#include "clients/safeguardctl/registry_command.h"

#include <csignal>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "clients/safeguardctl/connection.h"
#include "clients/sdk/registry_client.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace safeguard::ctl {
namespace {

using google::protobuf::util::TimeUtil;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr const char* kRegistryOverview =
    R"(safeguardctl registry - publish and read who is responsible for a child

Usage: safeguardctl registry put-involvement FILE.json
       safeguardctl registry put-involvement --reference=REF --plan=PLAN --child=ID [--child=ID]
           --lead-worker=SPEC [--escalation-contact=SPEC] [--deputy=SPEC] [--team-manager=SPEC]
           [--child-name=NAME] [--area=CODE] [--start=DATE] [--next-review=DATE]
       safeguardctl registry close REFERENCE --reason=TEXT [--end=DATE]
       safeguardctl registry household FILE.json
       safeguardctl registry child ID

For social-care, early-help and front-door nodes. Every change is kept as history and recorded
in the audit log. Details: safeguardctl help registry put-involvement (or close, household,
child). docs/registry.md describes the registry.
)";

constexpr const char* kFlagsOverview =
    R"(safeguardctl flags - the flags of the children this node serves

Usage: safeguardctl flags served --replace=FILE
       safeguardctl flags served [--add=ID[,ID...]]... [--remove=ID[,ID...]]...
       safeguardctl flags watch [--after=CURSOR] [--follow]
       safeguardctl flags lookup ID --reason=REASON --by=NAME

For GP, health and school nodes. Register the children you serve, then watch the flags of
those on a plan (child protection, child in need, looked after, early help), minimised by the
partnership's sharing policy. Looking a flagged child up tells the lead worker unless the
policy marks it a silent read; either way it is recorded.
Details: safeguardctl help flags served (or watch, lookup). docs/registry.md says more.
)";

const std::map<std::string, std::string>& RegistrySubcommandHelp() {
  static const auto* help = new std::map<std::string, std::string>{
      {"put-involvement", R"(safeguardctl registry put-involvement - publish or replace a plan

Usage: safeguardctl registry put-involvement FILE.json
       safeguardctl registry put-involvement --reference=REF --plan=PLAN --child=ID ...

FILE.json holds an Involvement (proto/safeguard/v1/registry.proto) in protobuf JSON. Or give
the fields as flags:
  --reference=REF            your reference for the case or plan (1-64 characters); putting the
                             same reference again replaces it and keeps the old version
  --plan=PLAN                early-help, child-in-need, child-protection or looked-after
  --child=ID                 the child's identifiers, each as nhs:NUMBER, upn:UPN, la:REF,
                             police:REF@ISSUER, housing:REF@ISSUER (repeat for each)
  --child-name=NAME          optional; shown only to registry writers
  --area=CODE                the area responsible (default: your node's)
  --lead-worker=SPEC         required: id=ID,name=NAME,team=TEAM,contact=PHONE-OR-EMAIL
                             [,node=NODE][,role=ROLE]   (node defaults to yours)
  --escalation-contact=SPEC  required for child-in-need and child-protection plans: the named
                             person or role to escalate to, name=...,contact=...
  --deputy=SPEC, --team-manager=SPEC
  --start=DATE, --next-review=DATE   2026-01-05 or RFC 3339

Identifiers that belong to two different children already in the registry are refused, never
merged: the error names both.

Example:
  safeguardctl registry put-involvement --reference=CP-1 --plan=child-protection \
      --child=nhs:9434765919 --child=upn:A123456789012 \
      --lead-worker="id=sw-17,name=Sam Jones,team=North,contact=01793 000000" \
      --escalation-contact="name=Team manager duty line,contact=01793 000001" \
      --start=2026-01-05 --next-review=2026-04-05
)"},
      {"close", R"(safeguardctl registry close - end a plan (kept in history)

Usage: safeguardctl registry close REFERENCE --reason=TEXT [--end=DATE]

  --reason=TEXT   why: "stepped down to early help", "no further action", ...
  --end=DATE      when it ended (default: now)

Example:
  safeguardctl registry close CP-1 --reason="stepped down to child in need"
)"},
      {"household", R"(safeguardctl registry household - publish or replace a household

Usage: safeguardctl registry household FILE.json

FILE.json holds a Household (proto/safeguard/v1/registry.proto) in protobuf JSON: your
reference, its members (role HOUSEHOLD_ROLE_CHILD, _PARENT or _OTHER_ADULT, identifiers,
relationship) and the address (a UPRN lets address-based events find it). Example:
  {"reference": "H-2",
   "members": [{"role": "HOUSEHOLD_ROLE_CHILD", "relationship": "sibling",
                "identifiers": [{"scheme": "IDENTIFIER_SCHEME_NHS_NUMBER",
                                 "value": "9434765919"}]}],
   "address": {"lines": ["1 Example Road"], "postcode": "SN1 1AA", "uprn": "100121"}}
)"},
      {"child", R"(safeguardctl registry child - a child's record

Usage: safeguardctl registry child ID [--json]

Prints the child's identifiers, open and closed involvements with their workers and dates,
how many earlier versions are kept, and the households. ID is nhs:NUMBER, upn:UPN, la:REF, ...

Example:
  safeguardctl registry child nhs:9434765919
)"},
  };
  return *help;
}

const std::map<std::string, std::string>& FlagsSubcommandHelp() {
  static const auto* help = new std::map<std::string, std::string>{
      {"served", R"(safeguardctl flags served - register the children this node serves

Usage: safeguardctl flags served --replace=FILE
       safeguardctl flags served [--add=ID[,ID...]]... [--remove=ID[,ID...]]...

  --replace=FILE   the whole list, one identifier per line (nhs:NUMBER or upn:UPN; blank
                   lines and lines starting with # are skipped; '-' reads standard input).
                   It replaces the previous list: children not on it stop being flagged to you
  --add=ID         add children (repeat the flag, or separate with commas)
  --remove=ID      remove children

Prints how many children are on the list and how many of them are flagged now.

Examples:
  safeguardctl flags served --replace=practice-list.txt
  safeguardctl flags served --add=nhs:9434765919 --remove=nhs:4010232137
)"},
      {"watch", R"(safeguardctl flags watch - the flags of the children this node serves

Usage: safeguardctl flags watch [--after=CURSOR] [--follow] [--json]

Prints each change in cursor order: a plan opened, changed or ended for a child on your list.
What you see of each plan is what the sharing policy allows your kind of node; the rest is
listed as withheld.

  --after=CURSOR  only changes after this cursor (save the last one you processed)
  --follow        keep watching (Ctrl-C ends); reconnects by itself if the broker restarts

Example:
  safeguardctl flags watch --after=41 --follow
)"},
      {"lookup", R"(safeguardctl flags lookup - look one child up

Usage: safeguardctl flags lookup ID --reason=REASON --by=NAME [--json]

  ID              nhs:NUMBER or upn:UPN
  --reason=WHY    attendance (the child is here now), registration, or record-check
  --by=NAME       who is looking (a person or system; recorded, 1-200 characters)

Answers whether the child is on a plan, with what the policy lets you see. Unless the policy
marks this look-up a silent read for your kind of node, the lead worker is told; the answer
says which. Either way the look-up is recorded in the audit log.

Example:
  safeguardctl flags lookup nhs:9434765919 --reason=attendance --by="Dr Patel"
)"},
  };
  return *help;
}

int Usage(std::ostream& err, absl::string_view command, absl::string_view message) {
  err << "safeguardctl " << command << ": " << message << "\n";
  return kExitUsage;
}

int Refused(std::ostream& err, const absl::Status& status) {
  err << "safeguardctl: " << absl::StatusCodeToString(status.code()) << ": " << status.message()
      << "\n";
  return kExitFailed;
}

std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

absl::StatusOr<std::string> ReadAll(const std::string& path) {
  if (path == "-") {
    std::stringstream s;
    s << std::cin.rdbuf();
    return s.str();
  }
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

template <typename Message>
absl::Status ReadJson(const std::string& path, absl::string_view what, Message* out) {
  auto text = ReadAll(path);
  if (!text.ok()) return text.status();
  auto parsed = google::protobuf::util::JsonStringToMessage(*text, out);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a valid ", what, " in JSON: ",
                                                   parsed.message().as_string()));
  }
  return absl::OkStatus();
}

absl::StatusOr<google::protobuf::Timestamp> ParseDate(absl::string_view flag,
                                                      const std::string& text) {
  google::protobuf::Timestamp ts;
  absl::Time t;
  std::string error;
  if (absl::ParseTime("%Y-%m-%d", text, absl::UTCTimeZone(), &t, &error)) {
    return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
  }
  if (TimeUtil::FromString(text, &ts)) return ts;
  return absl::InvalidArgumentError(absl::StrCat(
      "--", flag, ": '", text, "' is not a date such as 2026-01-05 or an RFC 3339 time"));
}

std::string Day(const google::protobuf::Timestamp& ts) {
  return absl::FormatTime("%Y-%m-%d", absl::FromUnixSeconds(ts.seconds()), absl::UTCTimeZone());
}

std::string When(const google::protobuf::Timestamp& ts) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixSeconds(ts.seconds()),
                          absl::UTCTimeZone());
}

// "id=sw-17,name=Sam Jones,team=North,contact=01793 000000": a comma starts a new key only
// when a known key= follows it, so a contact or name may contain commas.
absl::StatusOr<safeguard::v1::Worker> ParseWorker(absl::string_view flag, absl::string_view spec) {
  static const char* kKeys[] = {"id", "name", "team", "contact", "node", "role"};
  auto key_of = [](absl::string_view piece) -> std::string {
    size_t eq = piece.find('=');
    if (eq == absl::string_view::npos) return "";
    std::string key(absl::StripAsciiWhitespace(piece.substr(0, eq)));
    for (const char* k : kKeys) {
      if (key == k) return key;
    }
    return "";
  };
  std::vector<std::pair<std::string, std::string>> fields;
  for (absl::string_view piece : absl::StrSplit(spec, ',')) {
    std::string key = key_of(piece);
    if (key.empty()) {
      if (fields.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--", flag, ": expected KEY=VALUE pairs separated by commas, with keys id, name, "
            "team, contact, node, role; got '", spec, "'"));
      }
      absl::StrAppend(&fields.back().second, ",", piece);
      continue;
    }
    fields.emplace_back(key, std::string(piece.substr(piece.find('=') + 1)));
  }
  safeguard::v1::Worker w;
  for (auto& [key, raw] : fields) {
    std::string value(absl::StripAsciiWhitespace(raw));
    if (key == "id") w.set_worker_id(value);
    if (key == "name") w.set_name(value);
    if (key == "team") w.set_team(value);
    if (key == "contact") w.set_contact(value);
    if (key == "node") w.set_node_id(value);
    if (key == "role") w.set_role(value);
  }
  return w;
}

absl::StatusOr<std::vector<safeguard::v1::SubjectIdentifier>> ParseIdentifiers(
    const std::vector<std::string>& values) {
  std::vector<safeguard::v1::SubjectIdentifier> out;
  for (const std::string& value : values) {
    for (absl::string_view one : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
      auto id = client::ParseIdentifier(one);
      if (!id.ok()) return id.status();
      out.push_back(*std::move(id));
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<client::RegistryClient>> Connect(const CommandLine& cl) {
  auto broker = ConnectFrom(cl);
  if (!broker.ok()) return broker.status();
  // The registry client shares the broker client's channel; keep the channel, not the client.
  return std::make_unique<client::RegistryClient>((*broker)->channel(),
                                                  client::ConnectionOptions{});
}

absl::StatusOr<safeguard::v1::Involvement> BuildInvolvement(const CommandLine& cl) {
  safeguard::v1::Involvement inv;
  if (!cl.arguments.empty() && cl.arguments.size() > 1) {
    if (cl.arguments.size() > 2) {
      return absl::InvalidArgumentError("put-involvement takes at most one FILE.json");
    }
    absl::Status read = ReadJson(cl.arguments[1], "Involvement", &inv);
    if (!read.ok()) return read;
  }
  if (cl.Has("reference")) inv.set_reference(cl.Get("reference"));
  if (cl.Has("plan")) {
    auto plan = client::ParsePlanType(cl.Get("plan"));
    if (!plan) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--plan: unknown plan '", cl.Get("plan"),
          "'; use early-help, child-in-need, child-protection or looked-after"));
    }
    inv.set_plan_type(*plan);
  }
  auto children = ParseIdentifiers(cl.All("child"));
  if (!children.ok()) return absl::InvalidArgumentError(absl::StrCat("--child: ", children.status().message()));
  for (auto& id : *children) *inv.add_child() = std::move(id);
  if (cl.Has("child-name")) inv.set_child_display_name(cl.Get("child-name"));
  if (cl.Has("area")) inv.set_area(cl.Get("area"));
  struct WorkerFlag {
    const char* flag;
    safeguard::v1::Worker* (safeguard::v1::Involvement::*field)();
  };
  const WorkerFlag workers[] = {
      {"lead-worker", &safeguard::v1::Involvement::mutable_lead_worker},
      {"escalation-contact", &safeguard::v1::Involvement::mutable_escalation_contact},
      {"deputy", &safeguard::v1::Involvement::mutable_deputy},
      {"team-manager", &safeguard::v1::Involvement::mutable_team_manager},
  };
  for (const WorkerFlag& w : workers) {
    if (!cl.Has(w.flag)) continue;
    auto worker = ParseWorker(w.flag, cl.Get(w.flag));
    if (!worker.ok()) return worker.status();
    *(inv.*w.field)() = *std::move(worker);
  }
  for (const char* flag : {"start", "next-review"}) {
    if (!cl.Has(flag)) continue;
    auto date = ParseDate(flag, cl.Get(flag));
    if (!date.ok()) return date.status();
    *(std::string(flag) == "start" ? inv.mutable_start() : inv.mutable_next_review()) = *date;
  }
  if (inv.reference().empty()) {
    return absl::InvalidArgumentError("--reference is required (or give FILE.json)");
  }
  if (inv.plan_type() == safeguard::v1::PLAN_TYPE_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        "--plan is required: early-help, child-in-need, child-protection or looked-after");
  }
  if (inv.child_size() == 0) {
    return absl::InvalidArgumentError("--child is required: e.g. --child=nhs:9434765919");
  }
  if (!inv.has_lead_worker()) {
    return absl::InvalidArgumentError(
        "--lead-worker is required: id=ID,name=NAME,team=TEAM,contact=PHONE");
  }
  return inv;
}

void PrintWorker(std::ostream& out, absl::string_view label, const safeguard::v1::Worker& w) {
  out << "    " << label << ": " << client::DescribeWorker(w);
  if (!w.role().empty()) out << ", " << w.role();
  if (!w.worker_id().empty() || !w.node_id().empty()) {
    out << "  [" << w.worker_id() << (w.node_id().empty() ? "" : " @ " + w.node_id()) << "]";
  }
  out << "\n";
}

void PrintInvolvement(std::ostream& out, const safeguard::v1::Involvement& inv) {
  out << "  " << inv.reference() << "  " << client::PlanTypeWord(inv.plan_type()) << "  "
      << (inv.open() ? "open" : "closed") << "  v" << inv.version() << "  published by "
      << inv.publisher() << (inv.area().empty() ? "" : ", area " + inv.area()) << "\n";
  if (inv.has_lead_worker()) PrintWorker(out, "lead worker", inv.lead_worker());
  if (inv.has_deputy()) PrintWorker(out, "deputy", inv.deputy());
  if (inv.has_team_manager()) PrintWorker(out, "team manager", inv.team_manager());
  if (inv.has_escalation_contact()) PrintWorker(out, "escalation", inv.escalation_contact());
  std::vector<std::string> dates;
  if (inv.has_start()) dates.push_back("started " + Day(inv.start()));
  if (inv.has_next_review()) dates.push_back("next review " + Day(inv.next_review()));
  if (inv.has_end()) dates.push_back("ended " + Day(inv.end()));
  if (inv.has_updated_at()) dates.push_back("updated " + When(inv.updated_at()));
  if (!dates.empty()) out << "    " << absl::StrJoin(dates, "; ") << "\n";
  if (!inv.closure_reason().empty()) out << "    closed: " << inv.closure_reason() << "\n";
}

int PutInvolvement(const CommandLine& cl, std::ostream& out, std::ostream& err) {
  auto inv = BuildInvolvement(cl);
  if (!inv.ok()) return Usage(err, "registry put-involvement", inv.status().message());
  auto registry = Connect(cl);
  if (!registry.ok()) return Usage(err, "registry", registry.status().message());
  auto stored = (*registry)->PutInvolvement(*std::move(inv));
  if (!stored.ok()) return Refused(err, stored.status());
  if (cl.Has("json")) {
    out << ToJson(*stored) << "\n";
    return kExitOk;
  }
  const auto& i = stored->involvement();
  out << "stored involvement " << i.reference() << " version " << i.version() << " ("
      << client::PlanTypeWord(i.plan_type()) << ", " << (i.open() ? "open" : "closed")
      << "); child " << i.subject_id() << ": " << stored->match() << "\n";
  return kExitOk;
}

int Close(const CommandLine& cl, std::ostream& out, std::ostream& err) {
  if (cl.arguments.size() != 2) return Usage(err, "registry close", "give one REFERENCE");
  if (!cl.Has("reason")) {
    return Usage(err, "registry close",
                 "--reason=TEXT is required: e.g. \"stepped down to early help\"");
  }
  std::optional<absl::Time> end;
  if (cl.Has("end")) {
    auto date = ParseDate("end", cl.Get("end"));
    if (!date.ok()) return Usage(err, "registry close", date.status().message());
    end = absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(*date));
  }
  auto registry = Connect(cl);
  if (!registry.ok()) return Usage(err, "registry", registry.status().message());
  auto closed = (*registry)->CloseInvolvement(cl.arguments[1], cl.Get("reason"), end);
  if (!closed.ok()) return Refused(err, closed.status());
  if (cl.Has("json")) {
    out << ToJson(*closed) << "\n";
    return kExitOk;
  }
  out << "closed involvement " << closed->involvement().reference() << " (version "
      << closed->involvement().version() << "): " << closed->involvement().closure_reason()
      << "\n";
  return kExitOk;
}

int Household(const CommandLine& cl, std::ostream& out, std::ostream& err) {
  if (cl.arguments.size() != 2) return Usage(err, "registry household", "give one FILE.json");
  safeguard::v1::Household household;
  if (absl::Status read = ReadJson(cl.arguments[1], "Household", &household); !read.ok()) {
    return Usage(err, "registry household", read.message());
  }
  auto registry = Connect(cl);
  if (!registry.ok()) return Usage(err, "registry", registry.status().message());
  auto stored = (*registry)->PutHousehold(std::move(household));
  if (!stored.ok()) return Refused(err, stored.status());
  if (cl.Has("json")) {
    out << ToJson(*stored) << "\n";
    return kExitOk;
  }
  out << "stored household " << stored->household().reference() << " version "
      << stored->household().version() << " (" << stored->household().members_size()
      << " members)\n";
  return kExitOk;
}

int Child(const CommandLine& cl, std::ostream& out, std::ostream& err) {
  if (cl.arguments.size() != 2) return Usage(err, "registry child", "give one ID, e.g. nhs:9434765919");
  auto id = client::ParseIdentifier(cl.arguments[1]);
  if (!id.ok()) return Usage(err, "registry child", id.status().message());
  auto registry = Connect(cl);
  if (!registry.ok()) return Usage(err, "registry", registry.status().message());
  auto record = (*registry)->GetChild(*std::move(id));
  if (!record.ok()) return Refused(err, record.status());
  if (cl.Has("json")) {
    out << ToJson(*record) << "\n";
    return kExitOk;
  }
  std::vector<std::string> ids;
  for (const auto& i : record->identifiers()) ids.push_back(client::FormatIdentifier(i));
  out << "child " << record->subject_id() << "  " << absl::StrJoin(ids, ", ") << "\n";
  out << "Involvements:\n";
  if (record->involvements().empty()) out << "  none\n";
  for (const auto& inv : record->involvements()) PrintInvolvement(out, inv);
  if (record->history_size() > 0) {
    out << "History: " << record->history_size()
        << " earlier version(s) kept (--json shows them)\n";
  }
  out << "Households:\n";
  if (record->households().empty()) out << "  none\n";
  for (const auto& h : record->households()) {
    out << "  " << h.reference() << "  v" << h.version() << "  published by " << h.publisher()
        << "\n";
    for (const auto& m : h.members()) {
      std::vector<std::string> mids;
      for (const auto& i : m.identifiers()) mids.push_back(client::FormatIdentifier(i));
      std::string role(absl::StripPrefix(safeguard::v1::HouseholdRole_Name(m.role()),
                                         "HOUSEHOLD_ROLE_"));
      absl::AsciiStrToLower(&role);
      out << "    " << role << (m.relationship().empty() ? "" : " (" + m.relationship() + ")")
          << (m.display_name().empty() ? "" : ": " + m.display_name()) << "  "
          << absl::StrJoin(mids, ", ") << "\n";
    }
    if (h.has_address()) {
      out << "    address: " << absl::StrJoin(h.address().lines(), ", ")
          << (h.address().postcode().empty() ? "" : " " + h.address().postcode())
          << (h.address().uprn().empty() ? "" : " (UPRN " + h.address().uprn() + ")") << "\n";
    }
  }
  return kExitOk;
}

int Served(const CommandLine& cl, std::ostream& out, std::ostream& err) {
  safeguard::v1::UpdateServedChildrenRequest request;
  if (cl.Has("replace")) {
    if (cl.Has("add") || cl.Has("remove")) {
      return Usage(err, "flags served", "--replace gives the whole list: do not mix it with "
                                        "--add or --remove");
    }
    auto text = ReadAll(cl.Get("replace"));
    if (!text.ok()) return Usage(err, "flags served", text.status().message());
    request.set_replace(true);
    int line_number = 0;
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      ++line_number;
      line = absl::StripAsciiWhitespace(line);
      if (line.empty() || line[0] == '#') continue;
      auto id = client::ParseIdentifier(line);
      if (!id.ok()) {
        return Usage(err, "flags served",
                     absl::StrCat(cl.Get("replace"), ":", line_number, ": ", id.status().message()));
      }
      *request.add_add()->mutable_identifier() = *std::move(id);
    }
  } else {
    if (!cl.Has("add") && !cl.Has("remove")) {
      return Usage(err, "flags served", "give --replace=FILE, or --add/--remove identifiers");
    }
    auto add = ParseIdentifiers(cl.All("add"));
    if (!add.ok()) return Usage(err, "flags served", absl::StrCat("--add: ", add.status().message()));
    auto remove = ParseIdentifiers(cl.All("remove"));
    if (!remove.ok()) {
      return Usage(err, "flags served", absl::StrCat("--remove: ", remove.status().message()));
    }
    for (auto& id : *add) *request.add_add()->mutable_identifier() = std::move(id);
    for (auto& id : *remove) *request.add_remove()->mutable_identifier() = std::move(id);
  }
  auto registry = Connect(cl);
  if (!registry.ok()) return Usage(err, "flags", registry.status().message());
  auto updated = (*registry)->UpdateServedChildren(request);
  if (!updated.ok()) return Refused(err, updated.status());
  if (cl.Has("json")) {
    out << ToJson(*updated) << "\n";
    return kExitOk;
  }
  out << "served: " << updated->served() << " children, " << updated->flagged()
      << " flagged now; latest flag cursor " << updated->flag_cursor()
      << " (safeguardctl flags watch shows the flags)\n";
  return kExitOk;
}

client::RegistryClient* g_watching = nullptr;

int Watch(const CommandLine& cl, std::ostream& out, std::ostream& err) {
  if (cl.arguments.size() != 1) return Usage(err, "flags watch", "takes no arguments");
  safeguard::v1::SubscribeFlagsRequest request;
  request.set_follow(cl.Has("follow"));
  if (cl.Has("after")) {
    uint64_t after;
    if (!absl::SimpleAtoi(cl.Get("after"), &after)) {
      return Usage(err, "flags watch", "--after must be a cursor number");
    }
    request.set_after_cursor(after);
  }
  auto registry = Connect(cl);
  if (!registry.ok()) return Usage(err, "flags", registry.status().message());
  if (request.follow()) {
    g_watching = registry->get();
    std::signal(SIGINT, [](int) {
      if (g_watching) g_watching->Cancel();
    });
    std::signal(SIGTERM, [](int) {
      if (g_watching) g_watching->Cancel();
    });
  }
  int count = 0;
  uint64_t last = request.after_cursor();
  absl::Status status = (*registry)->SubscribeFlags(request, [&](const safeguard::v1::Flag& f) {
    ++count;
    last = f.cursor();
    if (cl.Has("json")) {
      out << ToJson(f) << std::endl;
    } else {
      out << "#" << f.cursor() << " " << client::FormatIdentifier(f.identifier()) << ": "
          << client::DescribeFlag(f) << "  (" << When(f.changed_at()) << ")" << std::endl;
    }
    return true;
  });
  g_watching = nullptr;
  if (!status.ok() && !absl::IsCancelled(status)) return Refused(err, status);
  if (!cl.Has("json") && !request.follow()) {
    out << (count == 0 ? "No flag changes" : absl::StrCat(count, count == 1 ? " change" : " changes"))
        << (request.after_cursor() ? absl::StrCat(" after cursor ", request.after_cursor()) : "")
        << ". Resume with: safeguardctl flags watch --after=" << last << "\n";
  }
  return kExitOk;
}

int Lookup(const CommandLine& cl, std::ostream& out, std::ostream& err) {
  if (cl.arguments.size() != 2) {
    return Usage(err, "flags lookup", "give one ID, e.g. nhs:9434765919");
  }
  auto id = client::ParseIdentifier(cl.arguments[1]);
  if (!id.ok()) return Usage(err, "flags lookup", id.status().message());
  const std::string word = cl.Get("reason");
  safeguard::v1::LookupReason reason;
  if (word == "attendance") {
    reason = safeguard::v1::LOOKUP_REASON_ATTENDANCE;
  } else if (word == "registration") {
    reason = safeguard::v1::LOOKUP_REASON_REGISTRATION;
  } else if (word == "record-check") {
    reason = safeguard::v1::LOOKUP_REASON_RECORD_CHECK;
  } else {
    return Usage(err, "flags lookup",
                 word.empty() ? "--reason is required: attendance, registration or record-check"
                              : absl::StrCat("--reason: unknown reason '", word,
                                             "'; use attendance, registration or record-check"));
  }
  if (!cl.Has("by")) return Usage(err, "flags lookup", "--by=NAME is required: who is looking");
  auto registry = Connect(cl);
  if (!registry.ok()) return Usage(err, "flags", registry.status().message());
  auto seen = (*registry)->LookupChild(*std::move(id), reason, cl.Get("by"));
  if (!seen.ok()) return Refused(err, seen.status());
  if (cl.Has("json")) {
    out << ToJson(*seen) << "\n";
    return kExitOk;
  }
  out << client::FormatIdentifier(seen->flag().identifier()) << ": "
      << client::DescribeFlag(seen->flag()) << "\n";
  if (!seen->flag().rule_id().empty()) {
    out << "  shared under rule " << seen->flag().rule_id() << " ("
        << seen->flag().lawful_basis() << ")\n";
  }
  out << "  " << seen->notice() << "\n";
  return kExitOk;
}

}  // namespace

std::vector<FlagSpec> RegistryCommandFlags() {
  return {{"reference"},     {"plan"},         {"child", true, true}, {"child-name"},
          {"area"},          {"lead-worker"},  {"escalation-contact"}, {"deputy"},
          {"team-manager"},  {"start"},        {"next-review"},       {"reason"},
          {"end"}};
}

std::vector<FlagSpec> FlagsCommandFlags() {
  return {{"replace"}, {"add", true, true}, {"remove", true, true}, {"after"},
          {"follow", false}, {"reason"}, {"by"}};
}

std::string RegistryHelp(absl::string_view subcommand) {
  if (subcommand.empty()) return kRegistryOverview;
  auto it = RegistrySubcommandHelp().find(std::string(subcommand));
  return it == RegistrySubcommandHelp().end() ? "" : it->second;
}

std::string FlagsHelp(absl::string_view subcommand) {
  if (subcommand.empty()) return kFlagsOverview;
  auto it = FlagsSubcommandHelp().find(std::string(subcommand));
  return it == FlagsSubcommandHelp().end() ? "" : it->second;
}

namespace {

// `help` handling shared by both commands; returns -1 when the command should run.
int MaybeHelp(const CommandLine& cl, absl::string_view command,
              std::string (*help_for)(absl::string_view), std::ostream& out,
              std::ostream& err) {
  std::string sub = cl.arguments.empty() ? "" : cl.arguments[0];
  if (!cl.Has("help") && !sub.empty() && sub != "help") return -1;
  std::string topic = sub == "help" && cl.arguments.size() > 1 ? cl.arguments[1] : sub;
  if (topic == "help") topic.clear();
  std::string help = help_for(topic);
  if (help.empty()) return Usage(err, command, absl::StrCat("no help for '", command, " ", topic, "'"));
  out << help;
  return sub.empty() && !cl.Has("help") ? kExitUsage : kExitOk;
}

}  // namespace

int RunRegistryCommand(const CommandLine& cl, std::ostream& out, std::ostream& err) {
  if (int h = MaybeHelp(cl, "registry", &RegistryHelp, out, err); h >= 0) return h;
  const std::string& sub = cl.arguments[0];
  if (sub == "put-involvement") return PutInvolvement(cl, out, err);
  if (sub == "close") return Close(cl, out, err);
  if (sub == "household") return Household(cl, out, err);
  if (sub == "child") return Child(cl, out, err);
  return Usage(err, "registry",
               absl::StrCat("unknown subcommand '", sub,
                            "'; use put-involvement, close, household or child "
                            "(safeguardctl help registry)"));
}

int RunFlagsCommand(const CommandLine& cl, std::ostream& out, std::ostream& err) {
  if (int h = MaybeHelp(cl, "flags", &FlagsHelp, out, err); h >= 0) return h;
  const std::string& sub = cl.arguments[0];
  if (sub == "served") return Served(cl, out, err);
  if (sub == "watch") return Watch(cl, out, err);
  if (sub == "lookup") return Lookup(cl, out, err);
  return Usage(err, "flags",
               absl::StrCat("unknown subcommand '", sub,
                            "'; use served, watch or lookup (safeguardctl help flags)"));
}

}  // namespace safeguard::ctl
