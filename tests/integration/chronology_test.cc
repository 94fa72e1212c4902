// The Chronology service end to end against the real broker: events from several agencies over
// the years in order, earlier closed episodes, the household, who may ask, what a role the
// policy withholds from sees (counts only), every view in the audit log, and safeguardctl's CSV
// and HTML exports (escaping).

#include <sys/wait.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "clients/sdk/chronology_client.h"
#include "clients/sdk/registry_client.h"
#include "safeguard/v1/audit.grpc.pb.h"
#include "tests/integration/test_partnership.h"

namespace safeguard::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using google::protobuf::util::TimeUtil;

constexpr char kLola[] = "9434765919";
constexpr char kLiam[] = "9434765927";

std::vector<TestNode> Nodes() {
  return {
      {"gp-riverside", "gp", "swindon"},       {"school-oakfield", "school", "swindon"},
      {"housing-swindon", "housing", "swindon"}, {"police-wiltshire", "police", "swindon"},
      {"fd-swindon", "front-door", "swindon"}, {"csc-team-north", "social-care", "swindon"},
      {"eh-swindon", "early-help", "swindon"}, {"auditor-scp", "auditor", "swindon"},
  };
}

safeguard::v1::SubjectIdentifier Nhs(const std::string& value) {
  safeguard::v1::SubjectIdentifier id;
  id.set_scheme(safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER);
  id.set_value(value);
  return id;
}

google::protobuf::Timestamp Day(int y, int m, int d) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(
      absl::FromCivil(absl::CivilDay(y, m, d), absl::UTCTimeZone())));
}

safeguard::v1::Involvement Plan(const std::string& reference, safeguard::v1::PlanType type,
                                const std::string& nhs, google::protobuf::Timestamp start) {
  safeguard::v1::Involvement inv;
  inv.set_reference(reference);
  inv.set_plan_type(type);
  *inv.add_child() = Nhs(nhs);
  safeguard::v1::Worker lead;
  lead.set_worker_id("sw-17");
  lead.set_name("Sam Jones");
  lead.set_team("North");
  lead.set_contact("01793 000000");
  *inv.mutable_lead_worker() = lead;
  safeguard::v1::Worker escalation;
  escalation.set_worker_id("tm-duty");
  escalation.set_name("Team manager duty line");
  escalation.set_contact("01793 000001");
  escalation.set_role("named escalation contact");
  *inv.mutable_escalation_contact() = escalation;
  *inv.mutable_start() = start;
  return inv;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ChronologyTest : public ::testing::Test {
 protected:
  ChronologyTest() : partnership_(Nodes()) {}

  void SetUp() override {
    partnership_.StartBroker();
    auto csc = Registry("csc-team-north");
    // An earlier child-in-need episode, closed; then a child-protection plan, open.
    auto cin = csc->PutInvolvement(
        Plan("CIN-2023", safeguard::v1::PLAN_TYPE_CHILD_IN_NEED, kLola, Day(2023, 2, 1)));
    ASSERT_TRUE(cin.ok()) << cin.status();
    auto closed = csc->CloseInvolvement("CIN-2023", "stepped down to universal services",
                                        absl::FromCivil(absl::CivilDay(2023, 9, 1),
                                                        absl::UTCTimeZone()));
    ASSERT_TRUE(closed.ok()) << closed.status();
    auto cp = csc->PutInvolvement(
        Plan("CP-2025", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION, kLola, Day(2025, 3, 1)));
    ASSERT_TRUE(cp.ok()) << cp.status();
    auto liam = csc->PutInvolvement(
        Plan("CP-2025-L", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION, kLiam, Day(2025, 3, 1)));
    ASSERT_TRUE(liam.ok()) << liam.status();
    safeguard::v1::Household h;
    h.set_reference("HH-1");
    for (const char* nhs : {kLola, kLiam}) {
      auto* m = h.add_members();
      m->set_role(safeguard::v1::HOUSEHOLD_ROLE_CHILD);
      *m->add_identifiers() = Nhs(nhs);
    }
    auto* mother = h.add_members();
    mother->set_role(safeguard::v1::HOUSEHOLD_ROLE_PARENT);
    mother->set_relationship("mother");
    auto* mother_id = mother->add_identifiers();
    mother_id->set_scheme(safeguard::v1::IDENTIFIER_SCHEME_LOCAL_AUTHORITY_REFERENCE);
    mother_id->set_value("ADULT-77");
    mother_id->set_issuer("swindon");
    auto household = csc->PutHousehold(h);
    ASSERT_TRUE(household.ok()) << household.status();

    // Four agencies over three years, sent out of date order.
    Send("police-wiltshire", safeguard::v1::NOTIFICATION_TYPE_POLICE_DOMESTIC_ABUSE_INCIDENT,
         kLola, Day(2025, 6, 1),
         "Call-out: <script>alert(1)</script> shouting, \"door locked\", child present, later calm");
    Send("gp-riverside", safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT, kLola,
         Day(2023, 3, 14), "Not brought to the paediatric appointment");
    Send("school-oakfield", safeguard::v1::NOTIFICATION_TYPE_SCHOOL_ABSENCE, kLola,
         Day(2024, 11, 5), "Absent 6 of the last 10 days");
    Send("housing-swindon", safeguard::v1::NOTIFICATION_TYPE_NO_ACCESS_VISIT, kLiam,
         Day(2025, 2, 10), "No access at the planned visit (sibling)");
  }

  std::unique_ptr<client::RegistryClient> Registry(const std::string& node) {
    auto broker = partnership_.Client(node);
    return std::make_unique<client::RegistryClient>(
        broker->channel(), client::ConnectionOptions{.call_timeout = absl::Seconds(10),
                                                     .max_attempts = 1});
  }

  absl::StatusOr<client::ChronologyView> View(const std::string& node, bool household,
                                              const std::string& purpose = "core group") {
    auto broker = partnership_.Client(node);
    client::ChronologyClient chronology(broker->channel(),
                                        client::ConnectionOptions{.max_attempts = 1});
    return chronology.Get({.child = Nhs(kLola), .household = household, .purpose = purpose});
  }

  void Send(const std::string& node, safeguard::v1::NotificationType type, const std::string& nhs,
            google::protobuf::Timestamp occurred, const std::string& summary) {
    safeguard::v1::Notification n = ExampleNotification(type);
    n.mutable_subjects(0)->mutable_identifiers(0)->set_value(nhs);
    n.set_summary(summary);
    *n.mutable_occurred_at() = occurred;
    auto sent = partnership_.Client(node)->Submit(n);
    ASSERT_TRUE(sent.ok()) << node << ": " << sent.status();
  }

  std::vector<safeguard::v1::AuditEntry> Views(size_t at_least) {
    auto auditor = partnership_.Client("auditor-scp");
    auto stub = safeguard::v1::Audit::NewStub(auditor->channel());
    std::vector<safeguard::v1::AuditEntry> out;
    for (int i = 0; i < 50; ++i) {
      out.clear();
      grpc::ClientContext context;
      safeguard::v1::SearchRequest request;
      request.set_event(safeguard::v1::AUDIT_EVENT_CHRONOLOGY_VIEWED);
      safeguard::v1::GetEntriesResponse response;
      grpc::Status s = stub->Search(&context, request, &response);
      EXPECT_TRUE(s.ok()) << s.error_message();
      for (const auto& e : response.entries()) out.push_back(e.decoded());
      if (out.size() >= at_least) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return out;
  }

  std::pair<int, std::string> Ctl(const std::string& node, const std::string& args) {
    return RunCommand(absl::StrCat(SAFEGUARD_CTL_BINARY, " --broker=", partnership_.address(),
                                   " --identity=", partnership_.identity_dir(node), " ", args));
  }

  TestPartnership partnership_;
};

std::vector<std::string> Senders(const client::ChronologyView& view) {
  std::vector<std::string> out;
  for (const auto& e : view.events) out.push_back(e.sender_node_id());
  return out;
}

TEST_F(ChronologyTest, LeadWorkerSeesEveryAgencyInOrderWithEpisodes) {
  auto view = View("csc-team-north", /*household=*/false);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->header.requester_role(), "lead-worker");
  // In the order the broker accepted them; the exports sort by when they happened.
  EXPECT_THAT(Senders(*view), ElementsAre("police-wiltshire", "gp-riverside", "school-oakfield"));
  EXPECT_EQ(view->summary.shown(), 3u);
  EXPECT_EQ(view->summary.withheld(), 0u);
  EXPECT_EQ(view->events[1].summary(), "Not brought to the paediatric appointment");
  EXPECT_EQ(view->events[1].child_label(), "the child");
  EXPECT_EQ(TimeUtil::ToString(view->events[1].occurred_at()).substr(0, 10), "2023-03-14");
  // The earlier, closed child-in-need episode and the open plan, oldest first.
  ASSERT_EQ(view->header.episodes_size(), 2);
  EXPECT_EQ(view->header.episodes(0).reference(), "CIN-2023");
  EXPECT_FALSE(view->header.episodes(0).open());
  EXPECT_EQ(view->header.episodes(0).closure_reason(), "stepped down to universal services");
  EXPECT_EQ(view->header.episodes(1).reference(), "CP-2025");
  EXPECT_TRUE(view->header.episodes(1).open());

  auto [rc, text] = Ctl("csc-team-north",
                        absl::StrCat("chronology nhs:", kLola, " --purpose='core group 12 May'"));
  ASSERT_EQ(rc, 0) << text;
  // Grouped by year, in date order, episodes first.
  size_t episodes = text.find("CIN-2023"), y2023 = text.find("\n2023\n"),
         y2024 = text.find("\n2024\n"), y2025 = text.find("\n2025\n");
  ASSERT_NE(y2025, std::string::npos) << text;
  EXPECT_LT(episodes, y2023);
  EXPECT_LT(y2023, y2024);
  EXPECT_LT(y2024, y2025);
  EXPECT_THAT(text, HasSubstr("2023-03-14  gp-riverside (gp)  was-not-brought"));
  EXPECT_THAT(text, HasSubstr("3 event(s) shown; 0 withheld"));
}

TEST_F(ChronologyTest, SiblingEventsOnlyWithHousehold) {
  auto alone = View("csc-team-north", false);
  ASSERT_TRUE(alone.ok()) << alone.status();
  EXPECT_THAT(Senders(*alone), Not(::testing::Contains("housing-swindon")));
  auto with = View("csc-team-north", true);
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_EQ(with->summary.shown(), 4u);
  ASSERT_EQ(with->header.household_size(), 1);
  EXPECT_EQ(with->header.household(0).label(), "sibling 1");
  EXPECT_THAT(with->header.household(0).identifiers(), IsEmpty());
  bool found = false;
  for (const auto& e : with->events) {
    if (e.sender_node_id() != "housing-swindon") continue;
    found = true;
    EXPECT_EQ(e.child_label(), "sibling 1");
    EXPECT_EQ(e.summary(), "No access at the planned visit (sibling)");
  }
  EXPECT_TRUE(found);
}

TEST_F(ChronologyTest, OnlySocialCareEarlyHelpAndFrontDoorsMayAsk) {
  for (const char* node : {"gp-riverside", "school-oakfield", "police-wiltshire", "auditor-scp"}) {
    auto view = View(node, false);
    ASSERT_FALSE(view.ok()) << node;
    EXPECT_EQ(view.status().code(), absl::StatusCode::kPermissionDenied) << node;
    EXPECT_THAT(view.status().message(),
                HasSubstr("only social-care, early-help and front-door nodes"));
  }
  auto no_purpose = View("fd-swindon", false, "");
  EXPECT_EQ(no_purpose.status().code(), absl::StatusCode::kInvalidArgument);
  auto [rc, out] = Ctl("gp-riverside", absl::StrCat("chronology nhs:", kLola, " --purpose=x"));
  EXPECT_EQ(rc, 1) << out;
  EXPECT_THAT(out, HasSubstr("PERMISSION_DENIED"));
}

TEST_F(ChronologyTest, ARoleThePolicyWithholdsFromSeesCountsOnly) {
  // Without a risk of harm, a child-protection plan's network hears of events (cp-plan-network):
  // the lead worker and early help do, the front door does not.
  safeguard::v1::Notification n =
      ExampleNotification(safeguard::v1::NOTIFICATION_TYPE_PRESENTATION_CONCERN);
  n.set_summary("Core group only: came to school hungry");
  n.mutable_sharing()->set_risk_of_harm(false);
  n.mutable_sharing()->set_consent(safeguard::v1::CONSENT_STATE_GIVEN);
  auto sent = partnership_.Client("school-oakfield")->Submit(n);
  ASSERT_TRUE(sent.ok()) << sent.status();

  auto fd = View("fd-swindon", false);
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_EQ(fd->header.requester_role(), "front-door");
  EXPECT_EQ(fd->summary.shown(), 3u);
  EXPECT_EQ(fd->summary.withheld(), 1u);
  for (const auto& e : fd->events) {
    EXPECT_NE(e.notification_id(), sent->notification_id());
    EXPECT_NE(e.summary(), n.summary());
  }
  auto [rc, text] = Ctl("fd-swindon", absl::StrCat("chronology nhs:", kLola, " --purpose=triage"));
  ASSERT_EQ(rc, 0) << text;
  EXPECT_THAT(text, Not(HasSubstr("hungry")));
  EXPECT_THAT(text, HasSubstr("3 event(s) shown; 1 withheld"));

  auto eh = View("eh-swindon", false);
  ASSERT_TRUE(eh.ok()) << eh.status();
  EXPECT_EQ(eh->header.requester_role(), "early-help");
  EXPECT_EQ(eh->summary.shown(), 4u);
  EXPECT_EQ(eh->summary.withheld(), 0u);
  // Minimised to the role's fields: the plan network's early help sees no police details etc.
  auto lead = View("csc-team-north", false);
  ASSERT_TRUE(lead.ok()) << lead.status();
  EXPECT_EQ(lead->summary.shown(), 4u);
}

TEST_F(ChronologyTest, EveryViewIsInTheAuditLog) {
  ASSERT_TRUE(View("csc-team-north", false, "core group 12 May").ok());
  ASSERT_TRUE(View("fd-swindon", true, "team around the family").ok());
  ASSERT_FALSE(View("gp-riverside", false, "curious").ok());  // refused: not a view
  auto views = Views(2);
  ASSERT_EQ(views.size(), 2u);
  EXPECT_EQ(views[0].actor(), "csc-team-north");
  EXPECT_THAT(views[0].reason(), HasSubstr("core group 12 May"));
  EXPECT_THAT(views[0].reason(), HasSubstr("3 shown, 0 withheld"));
  EXPECT_THAT(views[0].child_refs(), Not(IsEmpty()));
  EXPECT_EQ(views[1].actor(), "fd-swindon");
  EXPECT_THAT(views[1].reason(), HasSubstr("team around the family"));
  EXPECT_THAT(views[1].reason(), HasSubstr("4 shown, 0 withheld; as front-door"));
  EXPECT_GE(views[1].child_refs_size(), 2);  // the household's children
}

TEST_F(ChronologyTest, CsvAndHtmlExportsEscape) {
  std::string csv_file = partnership_.dir() + "/chronology.csv";
  auto [rc, out] = Ctl("csc-team-north",
                       absl::StrCat("chronology nhs:", kLola,
                                    " --purpose='core group' --household --format=csv --out=",
                                    csv_file));
  ASSERT_EQ(rc, 0) << out;
  std::string csv = ReadFile(csv_file);
  std::vector<std::string> lines = absl::StrSplit(csv, "\r\n", absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 5u) << csv;
  EXPECT_EQ(lines[0],
            "date,accepted_at,agency,agency_type,type,severity,child,summary,withheld_fields,"
            "notification_id,sequence");
  EXPECT_THAT(lines[1], HasSubstr("2023-03-14,"));
  // Commas and quotes: quoted, quotes doubled (RFC 4180).
  EXPECT_THAT(csv, HasSubstr("\"Call-out: <script>alert(1)</script> shouting, \"\"door locked\"\", "
                             "child present, later calm\""));

  std::string html_file = partnership_.dir() + "/chronology.html";
  std::tie(rc, out) = Ctl("csc-team-north",
                          absl::StrCat("chronology nhs:", kLola,
                                       " --purpose='core group <b>12 May</b>' --format=html --out=",
                                       html_file));
  ASSERT_EQ(rc, 0) << out;
  std::string html = ReadFile(html_file);
  EXPECT_THAT(html, HasSubstr("<!DOCTYPE html>"));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, HasSubstr("&lt;script&gt;alert(1)&lt;/script&gt;"));
  EXPECT_THAT(html, HasSubstr("core group &lt;b&gt;12 May&lt;/b&gt;"));
  EXPECT_THAT(html, HasSubstr("CIN-2023"));
  EXPECT_THAT(html, HasSubstr("stepped down to universal services"));
  EXPECT_THAT(html, HasSubstr("Produced by node csc-team-north"));
  EXPECT_THAT(html, HasSubstr("This view was recorded in the partnership's audit log"));

  std::tie(rc, out) = Ctl("csc-team-north",
                          absl::StrCat("chronology nhs:", kLola, " --purpose=x --format=json"));
  ASSERT_EQ(rc, 0) << out;
  std::vector<std::string> json = absl::StrSplit(out, '\n', absl::SkipEmpty());
  ASSERT_EQ(json.size(), 5u) << out;  // header, 3 events, summary
  EXPECT_THAT(json[0], HasSubstr("\"header\""));
  EXPECT_THAT(json[4], HasSubstr("\"summary\""));
}

}  // namespace
}  // namespace safeguard::testing
