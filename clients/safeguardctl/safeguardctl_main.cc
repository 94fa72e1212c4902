// safeguardctl: the command-line client for agencies, practitioners' IT teams and scripts.
// Run `safeguardctl help` for the commands.

#include <csignal>
#include <fstream>
#include <set>
#include <sstream>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/protocol/envelope.h"
#include "clients/safeguardctl/audit_command.h"
#include "clients/safeguardctl/command_line.h"
#include "clients/safeguardctl/connection.h"
#include "clients/safeguardctl/policy_command.h"
#include "clients/safeguardctl/chronology_command.h"
#include "clients/safeguardctl/registry_command.h"
#include "clients/sdk/broker_client.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace safeguard::ctl {
namespace {

using google::protobuf::util::TimeUtil;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr const char* kOverview = R"(safeguardctl - talk to the partnership's safeguarding broker

Usage: safeguardctl [--broker=HOST:PORT] [--identity=DIR] [--json] COMMAND [flags]

Commands:
  send      send a notification about a child
  send-many send a file of notifications (JSON Lines) on one stream: for bulk senders
  inbox     read this node's mailbox (--follow to keep reading as new ones arrive)
  ack       acknowledge deliveries in this node's mailbox
  status    see where a notification this node sent has got to, and the outcome
  outcome   record your decision on a delivery, for the referrer (with the challenge route)
  verify    check deliveries saved with 'inbox --json' against the senders' signatures
  audit     auditors: verify the audit log, search it, report (safeguardctl audit --help)
  types     list the notification types and severities
  policy    lint, explain and test lawful-basis sharing policies (offline)
  registry  social care, early help, front doors: publish plans and households, read a child's
            record (safeguardctl help registry)
  flags     GPs, health, schools: register the children served, watch their plan flags, look
            a child up (safeguardctl help flags)
  chronology  social care, early help, front doors: a child's multi-agency chronology as text,
            JSON, CSV or a printable HTML page (safeguardctl help chronology)
  help      show help for a command: safeguardctl help send

Connection (every command):
  --broker=HOST:PORT  the broker's address            (or set SAFEGUARD_BROKER)
  --identity=DIR      this node's certificate folder:  (or set SAFEGUARD_IDENTITY)
                      ca.crt, node.crt and node.key, as certs/safeguard-certs writes them
  --json              print results as JSON, one object per line, for scripts

Exit status: 0 done, 1 the broker or network refused (the message says why), 2 bad usage.
)";

const std::map<std::string, std::string> kHelp = {
    {"send", R"(safeguardctl send - send a notification about a child

Usage: safeguardctl send --type=TYPE --nhs=NUMBER --summary=TEXT [flags]
       safeguardctl send --file=notification.json

  --type=TYPE           what happened, e.g. was-not-brought, school-absence, no-access-visit
                        (safeguardctl types lists them all)
  --severity=LEVEL      information, concern (default), urgent or emergency
  --nhs=NUMBER          the child's NHS number (checked: modulus-11 check digit); repeat the
                        flag for each child in a sibling group
  --upn=UPN             a child's school unique pupil number, instead of or as well as --nhs
  --child-name=NAME     how to refer to the child, for the reader (optional)
  --area=CODE           the child's local-authority area (default: this node's own area)
  --summary=TEXT        what happened, in a sentence or two (required, up to 4,000 characters)
  --details=JSON        structured facts, a JSON object, e.g. '{"clinic":"paediatrics"}'
  --health-details=JSON health information: only recipients allowed health data receive it
  --police-details=JSON police information: only recipients allowed police data receive it
  --address-line=TEXT   the address (repeat for each line); --postcode=CODE
  --occurred=TIME       when it happened: RFC 3339 (2026-11-23T09:30:00Z) or 'now' (default)
  --risk                you perceive a possible risk of harm to the child: the sharing policy
                        then shares with the front door whatever the state of consent
  --consent=STATE       given, not-sought (default), refused or withdrawn
  --consent-reason=WHY  when not sought: cannot-be-given, cannot-reasonably-obtain,
                        would-prejudice-protection or not-the-lawful-basis
  --child-status=S      as far as you know: no-plan (default), early-help, child-in-need,
                        child-protection or looked-after
  --to=NODE             send to this node; repeat for several. Default: the front door of the
                        child's area
  --idempotency-key=KEY reuse the key of an earlier attempt to retry it safely; a new random
                        key is used when omitted
  --file=FILE           read the whole notification from a JSON file (the Notification message
                        of proto/safeguard/v1/notification.proto); other flags then add to it

Example:
  safeguardctl send --type=was-not-brought --nhs="943 476 5919" \
      --summary="Not brought to third paediatric appointment" --severity=concern
)"},
    {"send-many", R"(safeguardctl send-many - send a file of notifications on one stream

Usage: safeguardctl send-many FILE        (FILE '-' reads standard input)

FILE holds one notification per line, each a JSON object (the Notification message of
proto/safeguard/v1/notification.proto, as 'send --file' takes); blank lines and lines starting
with '#' are skipped. Each is checked, sealed and signed as 'send' does, and all go to the broker
on one SubmitStream; each line gets its own answer, printed in file order (with --json, one
SubmitResponse or error object per line). A refused line does not stop the others.

Give every line an idempotency_key (e.g. the record's id in your system): then running the same
file again after a failure is safe, and lines already accepted are answered "already accepted".
A line without one gets a random key, printed with its answer. reported_at and occurred_at
default to now when missing.

Exit status: 0 every line accepted, 1 some line refused (each says why), 2 bad usage or a line
that is not a notification (nothing is sent then).

Example:
  safeguardctl send-many attendance-2026-12-07.jsonl
)"},
    {"inbox", R"(safeguardctl inbox - read this node's mailbox

Usage: safeguardctl inbox [--follow] [--after=CURSOR] [--all]

Shows unacknowledged deliveries, oldest first. Each has a cursor: acknowledge it with
'safeguardctl ack CURSOR --by=NAME'.

  --follow          keep the stream open and print new deliveries as they arrive (Ctrl-C ends);
                    reconnects by itself if the broker restarts
  --after=CURSOR    only deliveries after this cursor (resume where a script left off)
  --all             include deliveries already acknowledged
)"},
    {"ack", R"(safeguardctl ack - acknowledge deliveries in this node's mailbox

Usage: safeguardctl ack CURSOR [CURSOR...] --by=NAME

  --by=NAME   who took it on: a worker's name or id, or the receiving system (required)

Acknowledging twice is harmless: the first acknowledgement is kept and shown.
Several cursors go in one request per 1,000 (AcknowledgeMany); a cursor that is not in
this node's mailbox is reported and the others are still acknowledged.
)"},
    {"status", R"(safeguardctl status - see where a notification this node sent has got to

Usage: safeguardctl status NOTIFICATION_ID

Shows each recipient and whether the notification is queued, delivered or acknowledged, and
by whom. Only the node that sent a notification may ask.
)"},
    {"outcome", R"(safeguardctl outcome - record the decision on a delivery, for the referrer

Usage: safeguardctl outcome CURSOR --kind=KIND --rationale=TEXT --by=NAME [--challenge-route=TEXT]

  --kind=KIND              no-further-action, information-recorded, early-help-offered,
                           assessment-started, strategy-discussion, plan-reviewed,
                           referred-elsewhere
  --rationale=TEXT         why (required; the referrer reads it)
  --by=NAME                the person deciding (required)
  --challenge-route=TEXT   how the referrer can challenge it; default: the child's plan's
                           named escalation contact, else the area's resolution route

The sender sees it with 'safeguardctl status'. Recording again replaces the outcome.
Example:
  safeguardctl outcome 12 --kind=no-further-action --by="A. Duty, MASH" \
      --rationale="Family known to early help; worker visiting this week"
)"},
    {"verify", R"(safeguardctl verify - check saved deliveries against their senders' signatures

Usage: safeguardctl verify FILE [--ca=FILE]

FILE holds deliveries as 'safeguardctl inbox --json' prints them, one per line ('-' reads
standard input). For each, checks the sender's signature over what it originally signed, the
sender's certificate against the partnership CA as it was when it signed (so notifications stay
verifiable after certificates are renewed), every disclosed field against its signed digest, and
that the notification shown is exactly what the sender disclosed. Needs no connection.

  --ca=FILE   the partnership CA certificate (default: ca.crt in --identity's folder)

Exit status 0 when every delivery verifies, 1 otherwise.
)"},
    {"types", R"(safeguardctl types - list notification types and severities

Usage: safeguardctl types
)"},
};

const std::vector<FlagSpec> kGlobalFlags = {
    {"broker"}, {"identity"}, {"json", false}, {"server-name"}};

const std::map<std::string, std::vector<FlagSpec>> kCommands = {
    {"send",
     {{"type"}, {"severity"}, {"nhs", true, true}, {"upn", true, true}, {"child-name"},
      {"area"}, {"summary"}, {"details"}, {"health-details"}, {"police-details"},
      {"address-line", true, true}, {"postcode"}, {"occurred"}, {"to", true, true},
      {"risk", false}, {"consent"}, {"consent-reason"}, {"child-status"},
      {"idempotency-key"}, {"file"}}},
    {"send-many", {}},
    {"inbox", {{"follow", false}, {"after"}, {"all", false}}},
    {"ack", {{"by"}}},
    {"status", {}},
    {"outcome", {{"kind"}, {"rationale"}, {"by"}, {"challenge-route"}}},
    {"verify", {{"ca"}}},
    {"types", {}},
    {"policy", PolicyCommandFlags()},
    {"registry", RegistryCommandFlags()},
    {"flags", FlagsCommandFlags()},
    {"chronology", ChronologyCommandFlags()},
    {"help", {}},
};

// WAS_NOT_BROUGHT <-> was-not-brought
std::string EnumToFlag(absl::string_view name, absl::string_view prefix) {
  std::string s(name.substr(prefix.size()));
  absl::AsciiStrToLower(&s);
  absl::StrReplaceAll({{"_", "-"}}, &s);
  return s;
}

template <typename Enum>
bool FlagToEnum(const google::protobuf::EnumDescriptor* d, absl::string_view prefix,
                absl::string_view flag, Enum* out) {
  std::string name = absl::StrCat(prefix, flag);
  absl::AsciiStrToUpper(&name);
  absl::StrReplaceAll({{"-", "_"}}, &name);
  const auto* value = d->FindValueByName(name);
  if (value == nullptr || value->number() == 0) return false;
  *out = static_cast<Enum>(value->number());
  return true;
}

std::vector<std::string> EnumFlags(const google::protobuf::EnumDescriptor* d,
                                   absl::string_view prefix) {
  std::vector<std::string> out;
  for (int i = 0; i < d->value_count(); ++i) {
    if (d->value(i)->number() != 0) out.push_back(EnumToFlag(d->value(i)->name(), prefix));
  }
  return out;
}

constexpr absl::string_view kTypePrefix = "NOTIFICATION_TYPE_";
constexpr absl::string_view kSeverityPrefix = "SEVERITY_";

std::string TypeFlag(safeguard::v1::NotificationType t) {
  return EnumToFlag(safeguard::v1::NotificationType_Name(t), kTypePrefix);
}

std::string FormatTime(const google::protobuf::Timestamp& ts) {
  absl::Time t = absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(ts));
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

int Refused(const absl::Status& status) {
  std::cerr << "safeguardctl: " << absl::StatusCodeToString(status.code()) << ": "
            << status.message() << "\n";
  return kExitFailed;
}

int Usage(absl::string_view message) {
  std::cerr << "safeguardctl: " << message << "\n";
  return kExitUsage;
}

struct Context {
  const CommandLine& cl;
  bool json;
};

absl::StatusOr<safeguard::v1::Notification> BuildNotification(const CommandLine& cl) {
  safeguard::v1::Notification n;
  if (cl.Has("file")) {
    std::string path = cl.Get("file");
    FILE* f = std::fopen(path.c_str(), "r");
    if (f == nullptr) return absl::NotFoundError(absl::StrCat("cannot read ", path));
    std::string text;
    char buf[4096];
    size_t got;
    while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, got);
    std::fclose(f);
    auto parsed = google::protobuf::util::JsonStringToMessage(text, &n);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " is not a valid Notification in JSON: ", parsed.message().as_string()));
    }
  }
  if (cl.Has("type")) {
    safeguard::v1::NotificationType type;
    if (!FlagToEnum(safeguard::v1::NotificationType_descriptor(), kTypePrefix, cl.Get("type"),
                    &type)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--type: unknown type '", cl.Get("type"), "'; 'safeguardctl types' lists them"));
    }
    n.set_type(type);
  }
  if (n.type() == safeguard::v1::NOTIFICATION_TYPE_UNSPECIFIED) {
    return absl::InvalidArgumentError("--type is required ('safeguardctl types' lists them)");
  }
  if (cl.Has("severity") || n.severity() == safeguard::v1::SEVERITY_UNSPECIFIED) {
    safeguard::v1::Severity severity;
    std::string flag = cl.Get("severity", "concern");
    if (!FlagToEnum(safeguard::v1::Severity_descriptor(), kSeverityPrefix, flag, &severity)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--severity: unknown level '", flag, "'; use information, concern, urgent or emergency"));
    }
    n.set_severity(severity);
  }
  for (const std::string& nhs : cl.All("nhs")) {
    auto* s = n.add_subjects();
    auto* id = s->add_identifiers();
    id->set_scheme(safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER);
    id->set_value(nhs);
  }
  const auto& upns = cl.All("upn");
  for (size_t i = 0; i < upns.size(); ++i) {
    // A UPN joins the child at the same position given by --nhs, or is a child of its own.
    int existing = n.subjects_size() - static_cast<int>(cl.All("nhs").size()) + static_cast<int>(i);
    auto* s = (cl.Has("nhs") && existing < n.subjects_size()) ? n.mutable_subjects(existing)
                                                              : n.add_subjects();
    auto* id = s->add_identifiers();
    id->set_scheme(safeguard::v1::IDENTIFIER_SCHEME_SCHOOL_UPN);
    id->set_value(upns[i]);
  }
  for (auto& s : *n.mutable_subjects()) {
    if (cl.Has("area")) s.set_area(cl.Get("area"));
    if (cl.Has("child-name")) s.set_display_name(cl.Get("child-name"));
  }
  if (cl.Has("summary")) n.set_summary(cl.Get("summary"));
  if (cl.Has("details")) {
    auto parsed = google::protobuf::util::JsonStringToMessage(cl.Get("details"),
                                                              n.mutable_details());
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--details must be a JSON object: ", parsed.message().as_string()));
    }
  }
  for (const char* flag : {"health-details", "police-details"}) {
    if (!cl.Has(flag)) continue;  // never create an empty field: it would be disclosed as empty
    auto* target = std::string(flag) == "health-details" ? n.mutable_health_details()
                                                         : n.mutable_police_details();
    auto parsed = google::protobuf::util::JsonStringToMessage(cl.Get(flag), target);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, " must be a JSON object: ",
                                                     parsed.message().as_string()));
    }
  }
  for (const std::string& line : cl.All("address-line")) n.mutable_address()->add_lines(line);
  if (cl.Has("postcode")) n.mutable_address()->set_postcode(cl.Get("postcode"));
  std::string occurred = cl.Get("occurred", n.has_occurred_at() ? "" : "now");
  if (occurred == "now") {
    *n.mutable_occurred_at() = TimeUtil::GetCurrentTime();
  } else if (!occurred.empty()) {
    if (!TimeUtil::FromString(occurred, n.mutable_occurred_at())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--occurred: '", occurred, "' is not an RFC 3339 time such as 2026-11-23T09:30:00Z"));
    }
  }
  if (!n.has_reported_at()) *n.mutable_reported_at() = TimeUtil::GetCurrentTime();
  for (const std::string& to : cl.All("to")) n.add_recipients(to);
  auto* sharing = n.mutable_sharing();
  if (cl.Has("risk")) sharing->set_risk_of_harm(true);
  if (cl.Has("consent")) {
    safeguard::v1::ConsentState consent;
    if (!FlagToEnum(safeguard::v1::ConsentState_descriptor(), "CONSENT_STATE_", cl.Get("consent"),
                    &consent)) {
      return absl::InvalidArgumentError("--consent: use given, not-sought, refused or withdrawn");
    }
    sharing->set_consent(consent);
  }
  if (cl.Has("consent-reason")) {
    safeguard::v1::NotSoughtReason reason;
    if (!FlagToEnum(safeguard::v1::NotSoughtReason_descriptor(), "NOT_SOUGHT_REASON_",
                    cl.Get("consent-reason"), &reason)) {
      return absl::InvalidArgumentError(
          "--consent-reason: use cannot-be-given, cannot-reasonably-obtain, "
          "would-prejudice-protection or not-the-lawful-basis");
    }
    sharing->set_not_sought_reason(reason);
  }
  if (cl.Has("child-status")) {
    safeguard::v1::ChildStatus status;
    if (!FlagToEnum(safeguard::v1::ChildStatus_descriptor(), "CHILD_STATUS_",
                    cl.Get("child-status"), &status)) {
      return absl::InvalidArgumentError(
          "--child-status: use no-plan, early-help, child-in-need, child-protection or "
          "looked-after");
    }
    sharing->set_child_status(status);
  }
  if (cl.Has("idempotency-key")) n.set_idempotency_key(cl.Get("idempotency-key"));
  return n;
}

int Send(const Context& c) {
  auto n = BuildNotification(c.cl);
  if (!n.ok()) return Usage(n.status().message());
  auto client = ConnectFrom(c.cl);
  if (!client.ok()) return Usage(client.status().message());
  auto sent = (*client)->Submit(*std::move(n));
  if (!sent.ok()) return Refused(sent.status());
  if (c.json) {
    std::cout << ToJson(*sent) << "\n";
    return kExitOk;
  }
  std::cout << (sent->duplicate() ? "already accepted (this was a retry): " : "accepted: ")
            << "notification " << sent->notification_id() << " (sequence " << sent->sequence()
            << ") at " << FormatTime(sent->accepted_at()) << "\n";
  for (const auto& r : sent->recipients()) {
    std::cout << "  -> " << r.node_id() << " (" << r.node_type() << ") as " << r.role()
              << (r.addressed_to().empty() ? "" : " for " + r.addressed_to()) << ": "
              << r.reason() << "\n";
    if (r.shared()) {
      std::vector<std::string> fields;
      for (int f : r.disclosed()) {
        fields.push_back(
            protocol::DisclosableFieldName(static_cast<safeguard::v1::DisclosableField>(f)));
      }
      std::cout << "     SHARED under " << r.lawful_basis() << "\n     rule " << r.rule_id()
                << "; fields: " << absl::StrJoin(fields, ", ") << "; acknowledge by: "
                << r.deadline() << "\n";
    } else {
      std::cout << "     WITHHELD (rule " << r.rule_id() << "): " << r.decision_reason() << "\n";
    }
  }
  if (!sent->recipients().empty() && !sent->recipients(0).child_match().empty()) {
    std::cout << "  child in the registry: " << sent->recipients(0).child_match() << "\n";
  }
  std::cout << "  receipt signed by the broker and verified (sequence " << sent->sequence()
            << ")\n";
  std::cout << "Follow it with: safeguardctl status " << sent->notification_id() << "\n";
  return kExitOk;
}

int SendMany(const Context& c) {
  if (c.cl.arguments.size() != 1) {
    return Usage("send-many needs one FILE of notifications, one JSON object per line ('-': stdin)");
  }
  const std::string& path = c.cl.arguments[0];
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path);
    if (!file) return Usage(absl::StrCat("cannot read ", path));
    in = &file;
  }
  std::vector<safeguard::v1::Notification> notifications;
  std::vector<int> lines;  // the file line of each notification
  std::string text;
  for (int line = 1; std::getline(*in, text); ++line) {
    absl::string_view trimmed = absl::StripAsciiWhitespace(text);
    if (trimmed.empty() || trimmed[0] == '#') continue;
    safeguard::v1::Notification n;
    auto parsed = google::protobuf::util::JsonStringToMessage(std::string(trimmed), &n);
    if (!parsed.ok()) {
      return Usage(absl::StrCat(path, " line ", line, " is not a Notification in JSON: ",
                                parsed.message().as_string(), "; nothing was sent"));
    }
    if (!n.has_reported_at()) *n.mutable_reported_at() = TimeUtil::GetCurrentTime();
    if (!n.has_occurred_at()) *n.mutable_occurred_at() = TimeUtil::GetCurrentTime();
    notifications.push_back(std::move(n));
    lines.push_back(line);
  }
  if (notifications.empty()) return Usage(absl::StrCat(path, " holds no notifications"));
  auto client = ConnectFrom(c.cl);
  if (!client.ok()) return Usage(client.status().message());
  std::vector<bool> random_key;  // SubmitMany makes one: printed from the receipt
  for (auto& n : notifications) random_key.push_back(n.idempotency_key().empty());
  auto results = (*client)->SubmitMany(std::move(notifications));
  int accepted = 0, retries = 0, refused = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    if (r.ok()) {
      ++(r->duplicate() ? retries : accepted);
    } else {
      ++refused;
    }
    if (c.json) {
      if (r.ok()) {
        std::cout << ToJson(*r) << "\n";
      } else {
        google::protobuf::Value message;
        message.set_string_value(std::string(r.status().message()));
        std::cout << "{\"line\":" << lines[i] << ",\"code\":\""
                  << absl::StatusCodeToString(r.status().code())
                  << "\",\"message\":" << ToJson(message) << "}\n";
      }
      continue;
    }
    std::cout << "line " << lines[i] << ": ";
    if (!r.ok()) {
      std::cout << "REFUSED " << absl::StatusCodeToString(r.status().code()) << ": "
                << r.status().message() << "\n";
      continue;
    }
    std::cout << (r->duplicate() ? "already accepted: " : "accepted: ") << "notification "
              << r->notification_id();
    if (random_key[i]) {
      safeguard::v1::ReceiptBody body;  // verified by SubmitMany; names the key it used
      if (body.ParseFromString(r->receipt().body())) {
        std::cout << " (random key " << body.envelope_id() << ")";
      }
    }
    for (const auto& to : r->recipients()) {
      std::cout << (&to == &r->recipients(0) ? " -> " : ", ") << to.node_id()
                << (to.shared() ? "" : " (withheld)");
    }
    std::cout << "\n";
  }
  if (!c.json) {
    std::cout << accepted << " accepted, " << retries << " already accepted, " << refused
              << " refused; receipts signed by the broker and verified\n";
  }
  return refused == 0 ? kExitOk : kExitFailed;
}

std::string FieldList(const std::set<safeguard::v1::DisclosableField>& fields) {
  std::vector<std::string> names;
  for (auto f : fields) names.push_back(protocol::DisclosableFieldName(f));
  return names.empty() ? "none" : absl::StrJoin(names, ", ");
}

void PrintVerification(const absl::StatusOr<protocol::OpenedEnvelope>& opened) {
  if (opened.ok()) {
    std::cout << "    signature verified: signed by " << opened->signer_uri << " at "
              << FormatTime(opened->payload.signed_at())
              << "; withheld from you: " << FieldList(opened->withheld) << "\n";
  } else {
    std::cout << "    SIGNATURE NOT VERIFIED: " << opened.status().message()
              << "\n    Do not rely on this delivery; report it to the partnership.\n";
  }
}

void PrintDelivery(const safeguard::v1::Delivery& d) {
  const auto& n = d.notification();
  std::cout << "#" << d.cursor() << "  " << FormatTime(d.accepted_at()) << "  "
            << TypeFlag(n.type()) << "  ["
            << EnumToFlag(safeguard::v1::Severity_Name(n.severity()), kSeverityPrefix)
            << "]  from " << d.sender_node_id() << " (" << d.sender_node_type() << ")\n";
  for (const auto& s : n.subjects()) {
    std::vector<std::string> ids;
    for (const auto& id : s.identifiers()) {
      std::string scheme =
          EnumToFlag(safeguard::v1::IdentifierScheme_Name(id.scheme()), "IDENTIFIER_SCHEME_");
      ids.push_back(absl::StrCat(scheme, " ", id.value()));
    }
    std::cout << "    child: " << (s.display_name().empty() ? "" : s.display_name() + ", ")
              << absl::StrJoin(ids, ", ") << (s.area().empty() ? "" : " (area " + s.area() + ")")
              << "\n";
  }
  if (!d.route().empty()) {
    std::cout << "    to you as " << d.role()
              << (d.addressed_to().empty() ? "" : " for " + d.addressed_to()) << ": " << d.route()
              << "\n";
  }
  std::cout << "    \"" << n.summary() << "\"\n";
  std::cout << "    occurred " << FormatTime(n.occurred_at()) << "; notification "
            << d.notification_id();
  if (d.has_acknowledged_at()) {
    std::cout << "; acknowledged " << FormatTime(d.acknowledged_at()) << " by "
              << d.acknowledged_by();
  }
  std::cout << "\n";
}

client::BrokerClient* g_following = nullptr;

int Inbox(const Context& c) {
  safeguard::v1::SubscribeRequest request;
  request.set_follow(c.cl.Has("follow"));
  request.set_include_acknowledged(c.cl.Has("all"));
  if (c.cl.Has("after")) {
    uint64_t after;
    if (!absl::SimpleAtoi(c.cl.Get("after"), &after)) {
      return Usage("--after must be a cursor number");
    }
    request.set_after_cursor(after);
  }
  auto client = ConnectFrom(c.cl);
  if (!client.ok()) return Usage(client.status().message());
  if (request.follow()) {
    g_following = client->get();
    std::signal(SIGINT, [](int) {
      if (g_following) g_following->Cancel();
    });
    std::signal(SIGTERM, [](int) {
      if (g_following) g_following->Cancel();
    });
  }
  int count = 0;
  absl::Status status = (*client)->Subscribe(request, [&](const safeguard::v1::Delivery& d) {
    ++count;
    if (c.json) {
      std::cout << ToJson(d) << std::endl;
    } else {
      PrintDelivery(d);
      PrintVerification((*client)->Verify(d));
      std::cout.flush();
    }
    return true;
  });
  g_following = nullptr;
  if (!status.ok() && !absl::IsCancelled(status)) return Refused(status);
  if (!c.json && !request.follow()) {
    std::cout << (count == 0 ? "No deliveries waiting.\n"
                             : absl::StrCat(count, count == 1 ? " delivery" : " deliveries",
                                            ". Acknowledge with: safeguardctl ack CURSOR "
                                            "--by=NAME\n"));
  }
  return kExitOk;
}

int Ack(const Context& c) {
  if (c.cl.arguments.empty()) return Usage("ack needs at least one CURSOR (see 'inbox')");
  if (!c.cl.Has("by")) return Usage("ack needs --by=NAME: who took the delivery on");
  std::vector<uint64_t> cursors;
  for (const std::string& a : c.cl.arguments) {
    uint64_t cursor;
    if (!absl::SimpleAtoi(absl::StripPrefix(a, "#"), &cursor)) {
      return Usage(absl::StrCat("'", a, "' is not a cursor number"));
    }
    cursors.push_back(cursor);
  }
  auto client = ConnectFrom(c.cl);
  if (!client.ok()) return Usage(client.status().message());
  int result = kExitOk;
  auto show = [&](uint64_t cursor, const safeguard::v1::AcknowledgeResponse& ack) {
    if (c.json) {
      std::cout << ToJson(ack) << "\n";
    } else {
      std::cout << "#" << cursor << " "
                << (ack.already_acknowledged() ? "was already acknowledged" : "acknowledged")
                << " by " << ack.acknowledged_by() << " at " << FormatTime(ack.acknowledged_at())
                << " (notification " << ack.notification_id() << ")\n";
    }
  };
  if (cursors.size() == 1) {
    auto ack = (*client)->Acknowledge(cursors[0], c.cl.Get("by"));
    if (!ack.ok()) return Refused(ack.status());
    show(cursors[0], *ack);
    return result;
  }
  constexpr size_t kPerRequest = 1000;
  for (size_t from = 0; from < cursors.size(); from += kPerRequest) {
    std::vector<uint64_t> chunk(cursors.begin() + from,
                                cursors.begin() + std::min(cursors.size(), from + kPerRequest));
    auto acks = (*client)->AcknowledgeMany(chunk, c.cl.Get("by"));
    if (!acks.ok()) return Refused(acks.status());
    for (const auto& r : acks->results()) {
      if (r.has_acknowledged()) {
        show(r.cursor(), r.acknowledged());
      } else {
        std::cerr << "#" << r.cursor() << " not acknowledged: " << r.refused() << "\n";
        result = kExitFailed;
      }
    }
  }
  return result;
}

int Status(const Context& c) {
  if (c.cl.arguments.size() != 1) return Usage("status needs one NOTIFICATION_ID");
  auto client = ConnectFrom(c.cl);
  if (!client.ok()) return Usage(client.status().message());
  auto status = (*client)->GetStatus(c.cl.arguments[0]);
  if (!status.ok()) return Refused(status.status());
  if (c.json) {
    std::cout << ToJson(*status) << "\n";
    return kExitOk;
  }
  std::cout << "notification " << status->notification_id() << "  " << TypeFlag(status->type())
            << "  accepted " << FormatTime(status->accepted_at()) << "\n";
  if (!status->child_match().empty()) {
    std::cout << "  child in the registry: " << status->child_match() << "\n";
  }
  for (const auto& r : status->recipients()) {
    std::cout << "  " << r.node_id() << " (" << r.node_type() << ")"
              << (r.role().empty() ? "" : " as " + r.role()) << ": ";
    switch (r.state()) {
      case safeguard::v1::DELIVERY_STATE_ACKNOWLEDGED:
        std::cout << "acknowledged " << FormatTime(r.acknowledged_at()) << " by "
                  << r.acknowledged_by();
        break;
      case safeguard::v1::DELIVERY_STATE_DELIVERED:
        std::cout << "delivered " << FormatTime(r.delivered_at()) << ", not yet acknowledged";
        break;
      default:
        std::cout << "queued, not yet delivered";
    }
    std::cout << "\n";
    if (r.has_due_at() && r.state() != safeguard::v1::DELIVERY_STATE_ACKNOWLEDGED) {
      std::cout << (r.escalations().empty() ? "    due by " : "    next escalation step due by ")
                << FormatTime(r.due_at()) << " (" << r.deadline() << ")\n";
    }
    for (const auto& e : r.escalations()) {
      std::cout << "    escalated " << FormatTime(e.sent_at()) << " to " << e.node_id() << ": "
                << e.route()
                << (e.has_acknowledged_at()
                        ? absl::StrCat(" (acknowledged ", FormatTime(e.acknowledged_at()), ")")
                        : "")
                << "\n";
    }
    if (r.has_outcome()) {
      const auto& o = r.outcome();
      std::cout << "    outcome: "
                << EnumToFlag(safeguard::v1::OutcomeKind_Name(o.kind()), "OUTCOME_KIND_") << " ("
                << FormatTime(o.recorded_at()) << ", " << o.recorded_by() << "): "
                << o.rationale() << "\n    to challenge it: " << o.challenge_route() << "\n";
    }
  }
  return kExitOk;
}

int RecordOutcome(const Context& c) {
  if (c.cl.arguments.size() != 1) return Usage("outcome needs one CURSOR (see 'inbox')");
  safeguard::v1::RecordOutcomeRequest request;
  uint64_t cursor;
  if (!absl::SimpleAtoi(absl::StripPrefix(c.cl.arguments[0], "#"), &cursor)) {
    return Usage(absl::StrCat("'", c.cl.arguments[0], "' is not a cursor number"));
  }
  request.set_cursor(cursor);
  safeguard::v1::OutcomeKind kind;
  if (!c.cl.Has("kind") || !FlagToEnum(safeguard::v1::OutcomeKind_descriptor(), "OUTCOME_KIND_",
                                       c.cl.Get("kind"), &kind)) {
    return Usage("--kind: use no-further-action, information-recorded, early-help-offered, "
                 "assessment-started, strategy-discussion, plan-reviewed or referred-elsewhere");
  }
  request.set_kind(kind);
  if (!c.cl.Has("rationale")) return Usage("outcome needs --rationale=TEXT: why");
  if (!c.cl.Has("by")) return Usage("outcome needs --by=NAME: the person deciding");
  request.set_rationale(c.cl.Get("rationale"));
  request.set_recorded_by(c.cl.Get("by"));
  request.set_challenge_route(c.cl.Get("challenge-route"));
  auto client = ConnectFrom(c.cl);
  if (!client.ok()) return Usage(client.status().message());
  auto outcome = (*client)->RecordOutcome(request);
  if (!outcome.ok()) return Refused(outcome.status());
  if (c.json) {
    std::cout << ToJson(*outcome) << "\n";
    return kExitOk;
  }
  std::cout << "#" << cursor << " outcome recorded for notification " << outcome->notification_id()
            << ": " << EnumToFlag(safeguard::v1::OutcomeKind_Name(outcome->kind()), "OUTCOME_KIND_")
            << "\n  the referrer is told they can challenge it via: " << outcome->challenge_route()
            << "\n";
  return kExitOk;
}

int Verify(const Context& c) {
  if (c.cl.arguments.size() != 1) return Usage("verify needs one FILE (or - for standard input)");
  std::string ca_path = c.cl.Get("ca");
  if (ca_path.empty()) {
    const char* env_identity = std::getenv("SAFEGUARD_IDENTITY");
    std::string dir = c.cl.Get("identity", env_identity ? env_identity : "");
    if (dir.empty()) return Usage("verify needs --ca=FILE or --identity=DIR (for its ca.crt)");
    ca_path = dir + "/ca.crt";
  }
  std::ifstream ca_in(ca_path);
  if (!ca_in) return Usage(absl::StrCat("cannot read the partnership CA at ", ca_path));
  std::stringstream ca;
  ca << ca_in.rdbuf();
  auto trust = protocol::TrustAnchor::FromPem(ca.str());
  if (!trust.ok()) return Usage(absl::StrCat(ca_path, ": ", trust.status().message()));

  std::ifstream file;
  std::istream* in = &std::cin;
  if (c.cl.arguments[0] != "-") {
    file.open(c.cl.arguments[0]);
    if (!file) return Usage(absl::StrCat("cannot read ", c.cl.arguments[0]));
    in = &file;
  }
  int checked = 0, failed = 0;
  std::string line;
  while (std::getline(*in, line)) {
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    ++checked;
    safeguard::v1::Delivery d;
    auto parsed = google::protobuf::util::JsonStringToMessage(line, &d);
    if (!parsed.ok()) {
      ++failed;
      std::cout << "line " << checked << ": not a delivery in JSON: "
                << parsed.message().as_string() << "\n";
      continue;
    }
    auto opened = client::VerifyDelivery(d, **trust);
    if (c.json) {
      std::cout << "{\"cursor\":\"" << d.cursor() << "\",\"notification_id\":\""
                << d.notification_id() << "\",\"verified\":" << (opened.ok() ? "true" : "false")
                << "}\n";
    } else {
      std::cout << "#" << d.cursor() << " notification " << d.notification_id() << "\n";
      PrintVerification(opened);
    }
    failed += !opened.ok();
  }
  if (!c.json) {
    std::cout << checked - failed << " of " << checked << " deliveries verified\n";
  }
  return failed == 0 && checked > 0 ? kExitOk : kExitFailed;
}

int Types(const Context& c) {
  std::cout << "Notification types (--type):\n";
  for (const auto& t : EnumFlags(safeguard::v1::NotificationType_descriptor(), kTypePrefix)) {
    std::cout << "  " << t << "\n";
  }
  std::cout << "Severities (--severity):\n";
  for (const auto& s : EnumFlags(safeguard::v1::Severity_descriptor(), kSeverityPrefix)) {
    std::cout << "  " << s << "\n";
  }
  return kExitOk;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // `audit` has commands of its own: hand it everything but the word itself.
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind("--", 0) == 0) {
      if (args[i].find('=') == std::string::npos && i + 1 < args.size() &&
          (args[i] == "--broker" || args[i] == "--identity" || args[i] == "--server-name")) {
        ++i;  // the flag's value
      }
      continue;
    }
    if (args[i] == "audit") {
      args.erase(args.begin() + static_cast<long>(i));
      return RunAuditCommand(args);
    }
    break;
  }
  auto cl = ParseCommandLine(args, kGlobalFlags, kCommands);
  if (!cl.ok()) return Usage(cl.status().message());
  if (cl->command.empty() || cl->command == "help") {
    std::string topic = cl->arguments.empty() ? "" : cl->arguments[0];
    if (topic.empty()) {
      std::cout << kOverview;
      return cl->command.empty() && !cl->Has("help") ? kExitUsage : kExitOk;
    }
    if (topic == "policy") {
      std::string help = PolicyHelp(cl->arguments.size() > 1 ? cl->arguments[1] : "");
      if (help.empty()) return Usage(absl::StrCat("no help for 'policy ", cl->arguments[1], "'"));
      std::cout << help;
      return kExitOk;
    }
    if (topic == "registry" || topic == "flags") {
      std::string sub = cl->arguments.size() > 1 ? cl->arguments[1] : "";
      std::string help = topic == "registry" ? RegistryHelp(sub) : FlagsHelp(sub);
      if (help.empty()) return Usage(absl::StrCat("no help for '", topic, " ", sub, "'"));
      std::cout << help;
      return kExitOk;
    }
    if (topic == "chronology") {
      std::cout << ChronologyHelp();
      return kExitOk;
    }
    auto it = kHelp.find(topic);
    if (it == kHelp.end()) return Usage(absl::StrCat("no help for '", topic, "'"));
    std::cout << it->second;
    return kExitOk;
  }
  if (cl->command == "policy") return RunPolicyCommand(*cl, std::cout, std::cerr);
  if (cl->command == "registry") return RunRegistryCommand(*cl, std::cout, std::cerr);
  if (cl->command == "flags") return RunFlagsCommand(*cl, std::cout, std::cerr);
  if (cl->command == "chronology") return RunChronologyCommand(*cl, std::cout, std::cerr);
  if (cl->Has("help")) {
    std::cout << kHelp.at(cl->command);
    return kExitOk;
  }
  Context c{*cl, cl->Has("json")};
  if (cl->command == "send") return Send(c);
  if (cl->command == "send-many") return SendMany(c);
  if (cl->command == "inbox") return Inbox(c);
  if (cl->command == "ack") return Ack(c);
  if (cl->command == "status") return Status(c);
  if (cl->command == "outcome") return RecordOutcome(c);
  if (cl->command == "types") return Types(c);
  if (cl->command == "verify") return Verify(c);
  return Usage("unknown command");
}

}  // namespace
}  // namespace safeguard::ctl

int main(int argc, char** argv) { return safeguard::ctl::Main(argc, argv); }
