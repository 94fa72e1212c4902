#include "clients/safeguardctl/chronology_command.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "clients/safeguardctl/connection.h"
#include "clients/sdk/registry_client.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace safeguard::ctl {
namespace {

using google::protobuf::util::TimeUtil;
using safeguard::v1::ChronologyEvent;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

int Usage(std::ostream& err, absl::string_view message) {
  err << "safeguardctl chronology: " << message << "\n";
  return kExitUsage;
}

int Refused(std::ostream& err, const absl::Status& status) {
  err << "safeguardctl: " << absl::StatusCodeToString(status.code()) << ": " << status.message()
      << "\n";
  return kExitFailed;
}

// WAS_NOT_BROUGHT (prefix NOTIFICATION_TYPE_) -> "was-not-brought".
std::string Word(absl::string_view name, absl::string_view prefix) {
  std::string s(absl::StripPrefix(name, prefix));
  absl::AsciiStrToLower(&s);
  absl::StrReplaceAll({{"_", "-"}}, &s);
  return s;
}

std::string TypeWord(safeguard::v1::NotificationType t) {
  return Word(safeguard::v1::NotificationType_Name(t), "NOTIFICATION_TYPE_");
}
std::string SeverityWord(safeguard::v1::Severity s) {
  return Word(safeguard::v1::Severity_Name(s), "SEVERITY_");
}
std::string FieldWord(int f) {
  return Word(safeguard::v1::DisclosableField_Name(static_cast<safeguard::v1::DisclosableField>(f)),
              "DISCLOSABLE_FIELD_");
}

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(t));
}

// When it happened: the sender's occurred_at, else when the broker accepted it.
absl::Time When(const ChronologyEvent& e) {
  return ToTime(e.has_occurred_at() ? e.occurred_at() : e.accepted_at());
}

std::string Day(absl::Time t) { return absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone()); }
std::string Day(const google::protobuf::Timestamp& t) { return Day(ToTime(t)); }
std::string Stamp(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M UTC", t, absl::UTCTimeZone());
}

std::vector<const ChronologyEvent*> InOrder(const client::ChronologyView& view) {
  std::vector<const ChronologyEvent*> events;
  for (const auto& e : view.events) events.push_back(&e);
  std::stable_sort(events.begin(), events.end(),
                   [](const ChronologyEvent* a, const ChronologyEvent* b) {
                     absl::Time ta = When(*a), tb = When(*b);
                     return ta != tb ? ta < tb : a->sequence() < b->sequence();
                   });
  return events;
}

std::string Agency(const ChronologyEvent& e) {
  return e.sender_node_type().empty() ? e.sender_node_id()
                                      : absl::StrCat(e.sender_node_id(), " (",
                                                     e.sender_node_type(), ")");
}

std::string Withheld(const ChronologyEvent& e) {
  std::vector<std::string> names;
  for (int f : e.withheld()) names.push_back(FieldWord(f));
  return absl::StrJoin(names, " ");
}

std::string EpisodeLine(const safeguard::v1::ChronologyEpisode& ep) {
  std::string dates = absl::StrCat(ep.has_start() ? Day(ep.start()) : "?", " to ",
                                   ep.open() ? "open" : (ep.has_end() ? Day(ep.end()) : "?"));
  std::string out = absl::StrCat(dates, "  ", client::PlanTypeWord(ep.plan_type()), " ",
                                 ep.reference(), " (", ep.publisher(), ")");
  if (ep.child_label() != "the child") absl::StrAppend(&out, " [", ep.child_label(), "]");
  if (!ep.lead_worker().empty()) absl::StrAppend(&out, ", lead worker ", ep.lead_worker());
  if (!ep.open() && !ep.closure_reason().empty()) {
    absl::StrAppend(&out, "; closed: ", ep.closure_reason());
  }
  return out;
}

std::string ChildName(const client::ChronologyView& view) {
  std::vector<std::string> ids;
  for (const auto& id : view.header.child().identifiers()) {
    ids.push_back(client::FormatIdentifier(id));
  }
  return absl::StrJoin(ids, ", ");
}

std::string SummaryText(const client::ChronologyView& view) {
  return absl::StrCat(view.summary.shown(), " event(s) shown; ", view.summary.withheld(),
                      " withheld (the sharing policy does not share them with you as ",
                      view.header.requester_role(), ")");
}

// RFC 4180: quoted when it holds a comma, quote or line break; quotes doubled. A cell that a
// spreadsheet would run as a formula (= + - @ first) is prefixed with an apostrophe.
std::string CsvCell(absl::string_view in) {
  std::string s(in);
  if (!s.empty() && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@')) s = "'" + s;
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  return absl::StrCat("\"", absl::StrReplaceAll(s, {{"\"", "\"\""}}), "\"");
}

std::string Html(absl::string_view in) {
  return absl::StrReplaceAll(in, {{"&", "&amp;"},
                                  {"<", "&lt;"},
                                  {">", "&gt;"},
                                  {"\"", "&quot;"},
                                  {"'", "&#39;"}});
}

std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

absl::StatusOr<absl::Time> ParseDay(absl::string_view flag, const std::string& text) {
  absl::Time t;
  std::string error;
  if (absl::ParseTime("%Y-%m-%d", text, absl::UTCTimeZone(), &t, &error)) return t;
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &error)) return t;
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, ": '", text, "' is not a date (YYYY-MM-DD or RFC 3339)"));
}

constexpr char kHtmlStyle[] = R"(
body { font-family: "Segoe UI", Arial, sans-serif; font-size: 11pt; margin: 2em; color: #111; }
h1 { font-size: 16pt; margin-bottom: 0.2em; }
h2 { font-size: 13pt; margin-top: 1.4em; border-bottom: 1px solid #999; }
.meta { color: #444; }
.notice { border: 1px solid #a33; padding: 0.5em; background: #fdf3f3; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.4em; vertical-align: top; text-align: left; }
th { background: #eee; }
tr { page-break-inside: avoid; }
tr.year td { background: #f4f4f4; font-weight: bold; }
.sev-urgent, .sev-emergency { font-weight: bold; color: #a00; }
footer { margin-top: 2em; font-size: 9pt; color: #444; border-top: 1px solid #999; }
@media print { body { margin: 1cm; } a { color: inherit; } }
)";

}  // namespace

std::vector<FlagSpec> ChronologyCommandFlags() {
  return {{"purpose"}, {"household", false}, {"from"}, {"to"}, {"format"}, {"out"}};
}

std::string ChronologyHelp() {
  return R"(safeguardctl chronology - a child's multi-agency chronology

Usage: safeguardctl chronology ID --purpose=TEXT [--household] [--from DATE] [--to DATE]
                               [--format text|json|csv|html] [--out FILE]

For social-care, early-help and front-door nodes. Lists what every agency has sent the broker
about the child (ID: nhs:NUMBER, upn:UPN, or a reference as for 'registry child'), across years
and earlier closed episodes, as the sharing policy lets your node see it: as the lead worker if
your node holds one of the child's involvements (open or closed), else as your node type.
Events the policy does not share with you are counted, never shown. Every view is recorded in
the audit log with its purpose.

  --purpose=TEXT     why you view it, e.g. "core group 12 May" (required; recorded)
  --household        include the other children of the child's households ("sibling 1", ...)
  --from DATE        events the broker accepted on or after DATE (YYYY-MM-DD)
  --to DATE          ... before DATE
  --format=FORMAT    text (default; --json means json), json (one object per line: the header,
                     each event, the summary), csv (RFC 4180, header row), html (one printable
                     page to bring to a meeting: no scripts, nothing fetched)
  --out FILE         write to FILE instead of standard output

Example:
  safeguardctl chronology nhs:9434765919 --purpose="core group 12 May" --household \
      --format=html --out=chronology.html
)";
}

std::string ChronologyText(const client::ChronologyView& view) {
  std::ostringstream out;
  const auto& h = view.header;
  out << "Chronology of " << ChildName(view) << "  (as " << h.requester_role() << ", for \""
      << h.purpose() << "\")\n";
  if (h.household_size() > 0) {
    out << "With household: " << h.household_size() << " other child(ren)\n";
  }
  out << "Episodes:\n";
  if (h.episodes().empty()) out << "  none in the registry\n";
  for (const auto& ep : h.episodes()) out << "  " << EpisodeLine(ep) << "\n";
  std::string year;
  for (const ChronologyEvent* e : InOrder(view)) {
    std::string y = absl::FormatTime("%Y", When(*e), absl::UTCTimeZone());
    if (y != year) {
      out << y << "\n";
      year = y;
    }
    out << "  " << Day(When(*e)) << "  " << Agency(*e) << "  " << TypeWord(e->type());
    if (e->child_label() != "the child") out << "  [" << e->child_label() << "]";
    std::string summary = e->summary();
    absl::StrReplaceAll({{"\n", " "}, {"\r", " "}}, &summary);
    out << "  " << (summary.empty() ? "(summary withheld)" : summary) << "\n";
  }
  out << SummaryText(view) << "\n";
  out << "Viewed by " << h.requester() << " at " << Stamp(ToTime(h.produced_at()))
      << "; this view is recorded in the audit log.\n";
  return out.str();
}

std::string ChronologyJsonLines(const client::ChronologyView& view) {
  std::string out;
  safeguard::v1::ChronologyMessage m;
  *m.mutable_header() = view.header;
  absl::StrAppend(&out, ToJson(m), "\n");
  for (const ChronologyEvent* e : InOrder(view)) {
    *m.mutable_event() = *e;
    absl::StrAppend(&out, ToJson(m), "\n");
  }
  *m.mutable_summary() = view.summary;
  absl::StrAppend(&out, ToJson(m), "\n");
  return out;
}

std::string ChronologyCsv(const client::ChronologyView& view) {
  std::string out =
      "date,accepted_at,agency,agency_type,type,severity,child,summary,withheld_fields,"
      "notification_id,sequence\r\n";
  for (const ChronologyEvent* e : InOrder(view)) {
    std::vector<std::string> cells = {
        Day(When(*e)),
        TimeUtil::ToString(e->accepted_at()),
        e->sender_node_id(),
        e->sender_node_type(),
        TypeWord(e->type()),
        SeverityWord(e->severity()),
        e->child_label(),
        e->summary(),
        Withheld(*e),
        e->notification_id(),
        absl::StrCat(e->sequence()),
    };
    for (auto& c : cells) c = CsvCell(c);
    absl::StrAppend(&out, absl::StrJoin(cells, ","), "\r\n");
  }
  return out;
}

std::string ChronologyHtml(const client::ChronologyView& view) {
  const auto& h = view.header;
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      << "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
         "style-src 'unsafe-inline'\">\n"
      << "<title>Chronology of " << Html(ChildName(view)) << "</title>\n<style>" << kHtmlStyle
      << "</style>\n</head>\n<body>\n";
  out << "<h1>Multi-agency chronology: " << Html(ChildName(view)) << "</h1>\n";
  out << "<p class=\"meta\">Purpose: <strong>" << Html(h.purpose()) << "</strong><br>\n"
      << "Seen as: " << Html(h.requester_role()) << " (node " << Html(h.requester()) << ")";
  if (h.household_size() > 0) {
    out << "<br>\nIncludes the household: " << h.household_size()
        << " other child(ren), shown as ";
    std::vector<std::string> labels;
    for (const auto& c : h.household()) labels.push_back(Html(c.label()));
    out << absl::StrJoin(labels, ", ");
  }
  out << "</p>\n<p class=\"notice\">OFFICIAL-SENSITIVE. Shared for the purpose above only; do "
         "not copy or pass on. The chronology holds only what the partnership's sharing policy "
         "lets your role see.</p>\n";

  out << "<h2>Episodes</h2>\n";
  if (h.episodes().empty()) {
    out << "<p>None in the registry.</p>\n";
  } else {
    out << "<table>\n<tr><th>From</th><th>To</th><th>Plan</th><th>Reference</th><th>Child</th>"
           "<th>Lead worker</th><th>Closure</th></tr>\n";
    for (const auto& ep : h.episodes()) {
      out << "<tr><td>" << (ep.has_start() ? Day(ep.start()) : "") << "</td><td>"
          << (ep.open() ? std::string("open") : (ep.has_end() ? Day(ep.end()) : "")) << "</td><td>"
          << Html(client::PlanTypeWord(ep.plan_type())) << "</td><td>" << Html(ep.reference())
          << " (" << Html(ep.publisher()) << ")</td><td>" << Html(ep.child_label())
          << "</td><td>" << Html(ep.lead_worker()) << "</td><td>" << Html(ep.closure_reason())
          << "</td></tr>\n";
    }
    out << "</table>\n";
  }

  out << "<h2>Events</h2>\n";
  if (view.events.empty()) {
    out << "<p>No events you may see.</p>\n";
  } else {
    out << "<table>\n<tr><th>Date</th><th>Agency</th><th>Type</th><th>Severity</th>"
           "<th>Child</th><th>Summary</th><th>Not shared with you</th></tr>\n";
    std::string year;
    for (const ChronologyEvent* e : InOrder(view)) {
      std::string y = absl::FormatTime("%Y", When(*e), absl::UTCTimeZone());
      if (y != year) {
        out << "<tr class=\"year\"><td colspan=\"7\">" << y << "</td></tr>\n";
        year = y;
      }
      std::string sev = SeverityWord(e->severity());
      out << "<tr><td>" << Day(When(*e)) << "</td><td>" << Html(Agency(*e)) << "</td><td>"
          << Html(TypeWord(e->type())) << "</td><td class=\"sev-" << Html(sev) << "\">"
          << Html(sev) << "</td><td>" << Html(e->child_label()) << "</td><td>"
          << (e->summary().empty() ? std::string("<em>withheld</em>") : Html(e->summary()))
          << "</td><td>" << Html(Withheld(*e)) << "</td></tr>\n";
    }
    out << "</table>\n";
  }
  out << "<h2>Counts</h2>\n<p>" << Html(SummaryText(view)) << ".</p>\n";
  if (view.summary.by_agency_size() > 0) {
    out << "<p>By agency: ";
    std::vector<std::string> parts;
    for (const auto& c : view.summary.by_agency()) {
      parts.push_back(absl::StrCat(Html(c.key()), " ", c.count()));
    }
    out << absl::StrJoin(parts, "; ") << "</p>\n";
  }
  out << "<footer>Produced by node " << Html(h.requester()) << " at "
      << Html(Stamp(ToTime(h.produced_at()))) << " for the purpose \"" << Html(h.purpose())
      << "\". This view was recorded in the partnership's audit log. Sharing policy "
      << Html(h.policy_version()) << " (sha256 " << Html(h.policy_digest().substr(0, 16))
      << "&hellip;).</footer>\n</body>\n</html>\n";
  return out.str();
}

int RunChronologyCommand(const CommandLine& cl, std::ostream& out, std::ostream& err) {
  if (cl.Has("help") || (!cl.arguments.empty() && cl.arguments[0] == "help")) {
    out << ChronologyHelp();
    return kExitOk;
  }
  if (cl.arguments.size() != 1) {
    return Usage(err, "give one child ID, e.g. nhs:9434765919 (safeguardctl help chronology)");
  }
  auto id = client::ParseIdentifier(cl.arguments[0]);
  if (!id.ok()) return Usage(err, id.status().message());
  client::ChronologyQuery query;
  query.child = *std::move(id);
  query.household = cl.Has("household");
  query.purpose = cl.Get("purpose");
  if (query.purpose.empty()) {
    return Usage(err, "--purpose: say why you view the chronology, e.g. --purpose=\"core group "
                      "12 May\"; it is recorded in the audit log");
  }
  for (const char* flag : {"from", "to"}) {
    if (!cl.Has(flag)) continue;
    auto t = ParseDay(flag, cl.Get(flag));
    if (!t.ok()) return Usage(err, t.status().message());
    (std::string(flag) == "from" ? query.from : query.to) = *t;
  }
  std::string format = cl.Get("format", cl.Has("json") ? "json" : "text");
  if (format != "text" && format != "json" && format != "csv" && format != "html") {
    return Usage(err, absl::StrCat("--format: '", format, "' is not text, json, csv or html"));
  }
  auto broker = ConnectFrom(cl);
  if (!broker.ok()) return Usage(err, broker.status().message());
  client::ChronologyClient chronology((*broker)->channel(), client::ConnectionOptions{});
  auto view = chronology.Get(query);
  if (!view.ok()) return Refused(err, view.status());
  std::string text = format == "json"  ? ChronologyJsonLines(*view)
                     : format == "csv" ? ChronologyCsv(*view)
                     : format == "html" ? ChronologyHtml(*view)
                                        : ChronologyText(*view);
  if (!cl.Has("out") || cl.Get("out") == "-") {
    out << text;
    return kExitOk;
  }
  std::ofstream file(cl.Get("out"), std::ios::binary | std::ios::trunc);
  file << text;
  file.close();
  if (!file) {
    err << "safeguardctl chronology: could not write " << cl.Get("out") << "\n";
    return kExitFailed;
  }
  err << "wrote " << view->summary.shown() << " event(s) (" << view->summary.withheld()
      << " withheld) to " << cl.Get("out") << "; the view is recorded in the audit log\n";
  return kExitOk;
}

}  // namespace safeguard::ctl
