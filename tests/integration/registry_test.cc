// The Registry service end to end against the real broker: who may write and read, the store's
// refusals as a caller sees them, the flag stream minimised by the default policy (GP against
// school), follow mode, look-ups that tell the lead worker and silent ones, resuming the stream
// after a restart, the GP integration example, and safeguardctl's registry and flags commands.

#include <sys/wait.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "clients/sdk/registry_client.h"
#include "safeguard/v1/audit.grpc.pb.h"
#include "tests/integration/test_partnership.h"

namespace safeguard::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;
using safeguard::v1::Flag;

constexpr char kLola[] = "9434765919";
constexpr char kLiam[] = "9434765927";
constexpr char kBella[] = "9434765935";
constexpr char kLolaUpn[] = "A123456789012";

std::vector<TestNode> RegistryNodes() {
  return {
      {"gp-riverside", "gp", "swindon"},       {"school-oakfield", "school", "swindon"},
      {"health-gwh", "health", "swindon"},     {"police-wiltshire", "police", "swindon"},
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

safeguard::v1::SubjectIdentifier Upn(const std::string& value) {
  safeguard::v1::SubjectIdentifier id;
  id.set_scheme(safeguard::v1::IDENTIFIER_SCHEME_SCHOOL_UPN);
  id.set_value(value);
  return id;
}

safeguard::v1::Worker Worker(const std::string& id, const std::string& name,
                             const std::string& contact) {
  safeguard::v1::Worker w;
  w.set_worker_id(id);
  w.set_name(name);
  w.set_team("North");
  w.set_contact(contact);
  return w;
}

safeguard::v1::Involvement CpPlan(const std::string& reference,
                                  std::vector<safeguard::v1::SubjectIdentifier> child) {
  safeguard::v1::Involvement inv;
  inv.set_reference(reference);
  inv.set_plan_type(safeguard::v1::PLAN_TYPE_CHILD_PROTECTION);
  for (auto& id : child) *inv.add_child() = std::move(id);
  *inv.mutable_lead_worker() = Worker("sw-17", "Sam Jones", "01793 000000");
  auto escalation = Worker("tm-duty", "Team manager duty line", "01793 000001");
  escalation.set_role("named escalation contact");
  *inv.mutable_escalation_contact() = escalation;
  *inv.mutable_start() = google::protobuf::util::TimeUtil::SecondsToTimestamp(1767571200);  // 2026-01-05
  *inv.mutable_next_review() =
      google::protobuf::util::TimeUtil::SecondsToTimestamp(1775347200);  // 2026-04-05
  return inv;
}

class RegistryTest : public ::testing::Test {
 protected:
  RegistryTest() : partnership_(RegistryNodes()) {}
  void SetUp() override { partnership_.StartBroker(); }

  // A registry client for `node` over a fresh connection (after a restart the port changes).
  std::unique_ptr<client::RegistryClient> Registry(const std::string& node) {
    auto broker = partnership_.Client(node);
    return std::make_unique<client::RegistryClient>(
        broker->channel(), client::ConnectionOptions{.call_timeout = absl::Seconds(10),
                                                     .max_attempts = 1});
  }

  // Every flag in the node's stream after `after` (not following).
  std::vector<Flag> Flags(const std::string& node, uint64_t after = 0) {
    std::vector<Flag> flags;
    safeguard::v1::SubscribeFlagsRequest request;
    request.set_after_cursor(after);
    absl::Status s = Registry(node)->SubscribeFlags(request, [&](const Flag& f) {
      flags.push_back(f);
      return true;
    });
    EXPECT_TRUE(s.ok()) << s;
    return flags;
  }

  // The types of the deliveries waiting in `node`'s mailbox.
  std::vector<safeguard::v1::Delivery> Mailbox(const std::string& node) {
    std::vector<safeguard::v1::Delivery> out;
    absl::Status s = partnership_.Client(node)->Subscribe({}, [&](const safeguard::v1::Delivery& d) {
      out.push_back(d);
      return true;
    });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  // Audit entries of one event, waiting (up to 5 s) for the group commit that carries them.
  std::vector<safeguard::v1::AuditEntry> AuditEntries(safeguard::v1::AuditEvent event,
                                                      size_t at_least) {
    auto auditor = partnership_.Client("auditor-scp");
    auto stub = safeguard::v1::Audit::NewStub(auditor->channel());
    std::vector<safeguard::v1::AuditEntry> out;
    for (int i = 0; i < 50; ++i) {
      out.clear();
      grpc::ClientContext context;
      safeguard::v1::SearchRequest request;
      request.set_event(event);
      safeguard::v1::GetEntriesResponse response;
      grpc::Status s = stub->Search(&context, request, &response);
      EXPECT_TRUE(s.ok()) << s.error_message();
      for (const auto& e : response.entries()) out.push_back(e.decoded());
      if (out.size() >= at_least) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return out;
  }

  TestPartnership partnership_;
};

TEST_F(RegistryTest, OnlyWritersWriteAndOnlyServersReadFlags) {
  for (const char* node : {"gp-riverside", "school-oakfield", "police-wiltshire", "auditor-scp"}) {
    auto r = Registry(node);
    auto put = r->PutInvolvement(CpPlan("CP-1", {Nhs(kLola)}));
    EXPECT_TRUE(absl::IsPermissionDenied(put.status())) << node << ": " << put.status();
    EXPECT_THAT(put.status().message(),
                HasSubstr(absl::StrCat("node '", node, "' is a ")));
    EXPECT_THAT(put.status().message(),
                HasSubstr("only social-care, early-help and front-door nodes may write or read "
                          "the registry"));
    EXPECT_TRUE(absl::IsPermissionDenied(r->CloseInvolvement("CP-1", "x").status())) << node;
    EXPECT_TRUE(absl::IsPermissionDenied(r->GetChild(Nhs(kLola)).status())) << node;
    safeguard::v1::Household h;
    h.set_reference("H-1");
    EXPECT_TRUE(absl::IsPermissionDenied(r->PutHousehold(h).status())) << node;
  }
  for (const char* node : {"csc-team-north", "fd-swindon", "eh-swindon", "police-wiltshire",
                           "auditor-scp"}) {
    auto r = Registry(node);
    auto served = r->ReplaceServedChildren({Nhs(kLola)});
    EXPECT_TRUE(absl::IsPermissionDenied(served.status())) << node << ": " << served.status();
    EXPECT_THAT(served.status().message(), HasSubstr("only gp, health and school nodes"));
    auto look = r->LookupChild(Nhs(kLola), safeguard::v1::LOOKUP_REASON_ATTENDANCE, "someone");
    EXPECT_TRUE(absl::IsPermissionDenied(look.status())) << node;
    absl::Status stream = r->SubscribeFlags({}, [](const Flag&) { return true; });
    EXPECT_TRUE(absl::IsPermissionDenied(stream)) << node << ": " << stream;
  }
  // Writers may write.
  auto ok = Registry("csc-team-north")->PutInvolvement(CpPlan("CP-1", {Nhs(kLola)}));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->involvement().lead_worker().node_id(), "csc-team-north");  // defaulted
}

TEST_F(RegistryTest, WorkersMailboxMustBeARegistryWriter) {
  auto inv = CpPlan("CP-1", {Nhs(kLola)});
  inv.mutable_lead_worker()->set_node_id("gp-riverside");
  auto put = Registry("csc-team-north")->PutInvolvement(inv);
  EXPECT_TRUE(absl::IsInvalidArgument(put.status())) << put.status();
  EXPECT_THAT(put.status().message(),
              HasSubstr("involvement.lead_worker.node_id: 'gp-riverside' is a gp node"));
  inv = CpPlan("CP-1", {Nhs(kLola)});
  inv.mutable_escalation_contact()->set_node_id("nobody-here");
  put = Registry("csc-team-north")->PutInvolvement(inv);
  EXPECT_TRUE(absl::IsInvalidArgument(put.status())) << put.status();
  EXPECT_THAT(put.status().message(), HasSubstr("involvement.escalation_contact.node_id"));
  // Another writer's mailbox is fine: the front door holds the plan while it is allocated.
  inv = CpPlan("CP-1", {Nhs(kLola)});
  inv.mutable_lead_worker()->set_node_id("fd-swindon");
  EXPECT_TRUE(Registry("csc-team-north")->PutInvolvement(inv).ok());
}

TEST_F(RegistryTest, ChildProtectionPlanNeedsAnEscalationContact) {
  auto inv = CpPlan("CP-1", {Nhs(kLola)});
  inv.clear_escalation_contact();
  auto put = Registry("csc-team-north")->PutInvolvement(inv);
  EXPECT_TRUE(absl::IsInvalidArgument(put.status())) << put.status();
  EXPECT_THAT(put.status().message(), HasSubstr("escalation_contact"));
  EXPECT_TRUE(absl::IsNotFound(Registry("csc-team-north")->GetChild(Nhs(kLola)).status()));
}

TEST_F(RegistryTest, ConflictingIdentifiersAreRefusedAndNothingIsMerged) {
  auto csc = Registry("csc-team-north");
  ASSERT_TRUE(csc->PutInvolvement(CpPlan("CP-1", {Nhs(kLola)})).ok());
  ASSERT_TRUE(csc->PutInvolvement(CpPlan("CP-2", {Upn(kLolaUpn)})).ok());  // another child
  auto both = csc->PutInvolvement(CpPlan("CP-3", {Nhs(kLola), Upn(kLolaUpn)}));
  EXPECT_TRUE(absl::IsFailedPrecondition(both.status())) << both.status();
  EXPECT_THAT(both.status().message(), HasSubstr("merged"));
  auto lola = csc->GetChild(Nhs(kLola));
  ASSERT_TRUE(lola.ok()) << lola.status();
  ASSERT_EQ(lola->identifiers_size(), 1);
  EXPECT_EQ(lola->identifiers(0).value(), kLola);
  ASSERT_EQ(lola->involvements_size(), 1);
  EXPECT_EQ(lola->involvements(0).reference(), "CP-1");
  // Reading a child's record is itself on record, with the child as a pseudonym only.
  auto reads = AuditEntries(safeguard::v1::AUDIT_EVENT_REGISTRY_READ, 1);
  ASSERT_EQ(reads.size(), 1u);
  EXPECT_EQ(reads[0].actor(), "csc-team-north");
  EXPECT_EQ(reads[0].child_refs_size(), 1);
  EXPECT_THAT(reads[0].reason(), HasSubstr("1 involvements"));
  EXPECT_THAT(reads[0].reason(), Not(HasSubstr(kLola)));
}

TEST_F(RegistryTest, FlagOpensAndEndsOnTheGpStreamWithThePolicysFields) {
  auto gp = Registry("gp-riverside");
  auto served = gp->ReplaceServedChildren({Nhs(kLola), Nhs(kLiam)});
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->served(), 2u);
  EXPECT_EQ(served->flagged(), 0u);

  auto csc = Registry("csc-team-north");
  ASSERT_TRUE(csc->PutInvolvement(CpPlan("CP-1", {Nhs(kLola), Upn(kLolaUpn)})).ok());
  std::vector<Flag> flags = Flags("gp-riverside");
  ASSERT_EQ(flags.size(), 1u);
  const Flag f = flags[0];  // a copy: `flags` is read again below
  EXPECT_GT(f.cursor(), 0u);
  EXPECT_EQ(f.identifier().value(), kLola);
  EXPECT_TRUE(f.flagged());
  EXPECT_EQ(f.plan_type(), safeguard::v1::PLAN_TYPE_CHILD_PROTECTION);
  EXPECT_EQ(f.lead_worker().name(), "Sam Jones");
  EXPECT_EQ(f.lead_worker().contact(), "01793 000000");
  EXPECT_TRUE(f.lead_worker().worker_id().empty());  // the social-care system's own id stays
  EXPECT_EQ(f.escalation_contact().name(), "Team manager duty line");
  EXPECT_TRUE(f.has_plan_start());
  EXPECT_TRUE(f.has_next_review());
  EXPECT_EQ(f.rule_id(), "cp-flags-to-gp-and-health");
  EXPECT_THAT(f.lawful_basis(), HasSubstr("SG-CP"));
  EXPECT_THAT(f.withheld(), IsEmpty());

  ASSERT_TRUE(csc->CloseInvolvement("CP-1", "stepped down to child in need").ok());
  flags = Flags("gp-riverside", f.cursor());
  ASSERT_EQ(flags.size(), 1u);
  EXPECT_EQ(flags[0].identifier().value(), kLola);
  EXPECT_FALSE(flags[0].flagged());
  EXPECT_FALSE(flags[0].has_lead_worker());
  EXPECT_GT(flags[0].cursor(), f.cursor());

  // Each flag sent is in the audit log, with the policy rule and the fields shared.
  auto shared = AuditEntries(safeguard::v1::AUDIT_EVENT_FLAG_SHARED, 2);
  ASSERT_GE(shared.size(), 2u);
  EXPECT_EQ(shared[0].counterpart(), "gp-riverside");
  EXPECT_EQ(shared[0].actor(), "csc-team-north");
  EXPECT_EQ(shared[0].rule_id(), "cp-flags-to-gp-and-health");
  EXPECT_THAT(shared[0].reason(), HasSubstr("lead-worker"));
  EXPECT_EQ(shared[0].child_refs_size(), 1);
  auto changed = AuditEntries(safeguard::v1::AUDIT_EVENT_REGISTRY_CHANGED, 3);
  ASSERT_GE(changed.size(), 3u);
  std::string all;
  for (const auto& e : changed) absl::StrAppend(&all, e.reason(), "\n");
  EXPECT_THAT(all, HasSubstr("served list replaced: 2 children, 0 flagged"));
  EXPECT_THAT(all, HasSubstr("involvement CP-1 v1 child-protection open"));
  EXPECT_THAT(all, Not(HasSubstr(kLola)));  // never raw identifiers
}

TEST_F(RegistryTest, FollowModeReceivesFlagsLive) {
  auto gp = Registry("gp-riverside");
  ASSERT_TRUE(gp->ReplaceServedChildren({Nhs(kLola), Nhs(kBella)}).ok());
  std::vector<Flag> flags;
  absl::Mutex mu;
  absl::Notification two;
  std::thread follower([&] {
    safeguard::v1::SubscribeFlagsRequest request;
    request.set_follow(true);
    (void)gp->SubscribeFlags(request, [&](const Flag& f) {
      absl::MutexLock lock(&mu);
      flags.push_back(f);
      if (flags.size() == 2) two.Notify();
      return flags.size() < 2;
    });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the stream is open and idle
  auto csc = Registry("csc-team-north");
  ASSERT_TRUE(csc->PutInvolvement(CpPlan("CP-1", {Nhs(kLola)})).ok());
  ASSERT_TRUE(csc->PutInvolvement(CpPlan("CP-2", {Nhs(kBella)})).ok());
  bool got = two.WaitForNotificationWithTimeout(absl::Seconds(10));
  if (!got) gp->Cancel();
  follower.join();
  ASSERT_TRUE(got) << "follow mode did not deliver both flags";
  EXPECT_EQ(flags[0].identifier().value(), kLola);
  EXPECT_EQ(flags[1].identifier().value(), kBella);
  EXPECT_LT(flags[0].cursor(), flags[1].cursor());
}

TEST_F(RegistryTest, SchoolSeesLessThanTheGp) {
  ASSERT_TRUE(Registry("gp-riverside")->ReplaceServedChildren({Nhs(kLola)}).ok());
  ASSERT_TRUE(Registry("school-oakfield")->ReplaceServedChildren({Upn(kLolaUpn)}).ok());
  ASSERT_TRUE(
      Registry("csc-team-north")->PutInvolvement(CpPlan("CP-1", {Nhs(kLola), Upn(kLolaUpn)})).ok());
  auto gp = Flags("gp-riverside");
  auto school = Flags("school-oakfield");
  ASSERT_EQ(gp.size(), 1u);
  ASSERT_EQ(school.size(), 1u);
  EXPECT_TRUE(gp[0].has_plan_start());
  EXPECT_EQ(school[0].identifier().value(), kLolaUpn);  // as the school registered it
  EXPECT_TRUE(school[0].flagged());
  EXPECT_EQ(school[0].plan_type(), safeguard::v1::PLAN_TYPE_CHILD_PROTECTION);
  EXPECT_EQ(school[0].lead_worker().name(), "Sam Jones");
  EXPECT_FALSE(school[0].has_plan_start());
  EXPECT_FALSE(school[0].has_next_review());
  EXPECT_THAT(school[0].withheld(), ElementsAre("plan-dates"));
  EXPECT_EQ(school[0].rule_id(), "cp-flags-to-school");

  // No flag rule shares an early help plan with a school: the school learns only that the
  // child is flagged, everything else withheld, and a look-up tells nobody.
  ASSERT_TRUE(Registry("school-oakfield")
                  ->UpdateServedChildren([] {
                    safeguard::v1::UpdateServedChildrenRequest r;
                    *r.add_add()->mutable_identifier() = Upn("A123456789013");
                    return r;
                  }())
                  .ok());
  safeguard::v1::Involvement eh;
  eh.set_reference("EH-1");
  eh.set_plan_type(safeguard::v1::PLAN_TYPE_EARLY_HELP);
  *eh.add_child() = Upn("A123456789013");
  *eh.mutable_lead_worker() = Worker("eh-3", "Alex Green", "01793 000002");
  ASSERT_TRUE(Registry("eh-swindon")->PutInvolvement(eh).ok());
  school = Flags("school-oakfield", school[0].cursor());
  ASSERT_EQ(school.size(), 1u);
  // The policy flags no early-help plan to schools: the school is not told one exists.
  EXPECT_FALSE(school[0].flagged());
  EXPECT_EQ(school[0].plan_type(), safeguard::v1::PLAN_TYPE_UNSPECIFIED);
  EXPECT_FALSE(school[0].has_lead_worker());
  EXPECT_TRUE(school[0].rule_id().empty());
  EXPECT_THAT(school[0].withheld(),
              ElementsAre("plan-type", "lead-worker", "escalation-contact", "plan-dates"));
  auto look = Registry("school-oakfield")
                  ->LookupChild(Upn("A123456789013"), safeguard::v1::LOOKUP_REASON_ATTENDANCE,
                                "Mrs Hill (DSL)");
  ASSERT_TRUE(look.ok()) << look.status();
  EXPECT_FALSE(look->lead_worker_notified());
  EXPECT_THAT(look->notice(), HasSubstr("does not share this child's plan with school nodes"));
}

TEST_F(RegistryTest, AttendanceLookUpTellsTheLeadWorkerAndRecordCheckIsSilent) {
  ASSERT_TRUE(Registry("csc-team-north")->PutInvolvement(CpPlan("CP-1", {Nhs(kLola)})).ok());
  auto gp = Registry("gp-riverside");

  auto seen = gp->LookupChild(Nhs("943 476 5919"), safeguard::v1::LOOKUP_REASON_ATTENDANCE,
                              "Dr Patel");
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_TRUE(seen->flag().flagged());
  EXPECT_EQ(seen->flag().cursor(), 0u);
  EXPECT_EQ(seen->flag().lead_worker().name(), "Sam Jones");
  EXPECT_TRUE(seen->lead_worker_notified()) << seen->notice();
  EXPECT_THAT(seen->notice(), HasSubstr("lead worker has been told"));
  std::vector<std::string> summaries;
  for (const auto& d : Mailbox("csc-team-north")) {
    if (d.notification().type() == safeguard::v1::NOTIFICATION_TYPE_FLAG_LOOKED_UP) {
      summaries.push_back(d.notification().summary());
    }
  }
  ASSERT_EQ(summaries.size(), 1u);
  EXPECT_THAT(summaries[0], HasSubstr("(gp) looked up this child: attendance, by Dr Patel"));

  auto quiet = gp->LookupChild(Nhs(kLola), safeguard::v1::LOOKUP_REASON_RECORD_CHECK, "Dr Patel");
  ASSERT_TRUE(quiet.ok()) << quiet.status();
  EXPECT_TRUE(quiet->flag().flagged());
  EXPECT_FALSE(quiet->lead_worker_notified());
  EXPECT_THAT(quiet->notice(), HasSubstr("silent read (policy rule cp-flags-to-gp-and-health)"));
  int notices = 0;
  for (const auto& d : Mailbox("csc-team-north")) {
    notices += d.notification().type() == safeguard::v1::NOTIFICATION_TYPE_FLAG_LOOKED_UP;
  }
  EXPECT_EQ(notices, 1);  // still only the attendance

  // Both reads are recorded.
  auto reads = AuditEntries(safeguard::v1::AUDIT_EVENT_FLAG_READ, 2);
  ASSERT_EQ(reads.size(), 2u);
  EXPECT_EQ(reads[0].actor(), "gp-riverside");
  EXPECT_THAT(reads[0].reason(), HasSubstr("attendance by Dr Patel"));
  EXPECT_THAT(reads[1].reason(), HasSubstr("record check by Dr Patel"));
  EXPECT_THAT(reads[1].reason(), HasSubstr("silent read"));

  // A child on no plan: answered, recorded, nobody told.
  auto none = gp->LookupChild(Nhs(kLiam), safeguard::v1::LOOKUP_REASON_ATTENDANCE, "Dr Patel");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->flag().flagged());
  EXPECT_FALSE(none->lead_worker_notified());

  // Bad look-ups say what to fix.
  auto no_reason = gp->LookupChild(Nhs(kLola), safeguard::v1::LOOKUP_REASON_UNSPECIFIED, "x");
  EXPECT_TRUE(absl::IsInvalidArgument(no_reason.status()));
  EXPECT_THAT(no_reason.status().message(), HasSubstr("reason"));
  auto nobody = gp->LookupChild(Nhs(kLola), safeguard::v1::LOOKUP_REASON_ATTENDANCE, "");
  EXPECT_THAT(nobody.status().message(), HasSubstr("looked_up_by"));
  auto bad_nhs = gp->LookupChild(Nhs("9434765918"), safeguard::v1::LOOKUP_REASON_ATTENDANCE, "x");
  EXPECT_TRUE(absl::IsInvalidArgument(bad_nhs.status()));
}

TEST_F(RegistryTest, FlagStreamResumesFromTheCursorAfterARestart) {
  ASSERT_TRUE(Registry("gp-riverside")->ReplaceServedChildren({Nhs(kLola), Nhs(kLiam), Nhs(kBella)}).ok());
  auto csc = Registry("csc-team-north");
  ASSERT_TRUE(csc->PutInvolvement(CpPlan("CP-1", {Nhs(kLola)})).ok());
  ASSERT_TRUE(csc->PutInvolvement(CpPlan("CP-2", {Nhs(kLiam)})).ok());
  // The GP processes one flag, then the broker restarts.
  uint64_t cursor = 0;
  ASSERT_TRUE(Registry("gp-riverside")
                  ->SubscribeFlags({}, [&](const Flag& f) {
                    cursor = f.cursor();
                    return false;
                  })
                  .ok());
  ASSERT_GT(cursor, 0u);
  partnership_.StopBroker();
  partnership_.StartBroker();
  ASSERT_TRUE(Registry("csc-team-north")->PutInvolvement(CpPlan("CP-3", {Nhs(kBella)})).ok());
  std::vector<std::string> rest;
  for (const Flag& f : Flags("gp-riverside", cursor)) rest.push_back(f.identifier().value());
  EXPECT_THAT(rest, ElementsAre(kLiam, kBella));  // nothing lost, nothing repeated
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_F(RegistryTest, GpFlagSyncKeepsTheStateFileAndResumes) {
  const std::string list = partnership_.dir() + "/practice.txt";
  const std::string state = partnership_.dir() + "/flags.state";
  std::ofstream(list) << "# Riverside Surgery, children\n" << kLola << "\n943 476 5927\n\n"
                      << kBella << "\n";
  const std::string sync = absl::StrCat(
      SAFEGUARD_GP_FLAG_SYNC_BINARY, " --broker=", partnership_.address(),
      " --identity=", partnership_.identity_dir("gp-riverside"), " --practice_list=", list,
      " --state=", state, " --once");
  auto [rc, out] = RunCommand(sync);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("practice list uploaded: 3 children, 0 flagged"));

  auto csc = Registry("csc-team-north");
  ASSERT_TRUE(csc->PutInvolvement(CpPlan("CP-1", {Nhs(kLola)})).ok());
  ASSERT_TRUE(csc->PutInvolvement(CpPlan("CP-2", {Nhs(kLiam)})).ok());
  std::tie(rc, out) = RunCommand(sync);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr(absl::StrCat(
                       kLola, ": child-protection plan, lead worker Sam Jones (North) 01793 "
                              "000000; escalation: Team manager duty line (North) 01793 000001")));
  std::string saved = ReadFile(state);
  EXPECT_THAT(saved, HasSubstr(absl::StrCat("\n", kLola, "\t{")));
  EXPECT_THAT(saved, HasSubstr(absl::StrCat("\n", kLiam, "\t{")));
  EXPECT_THAT(saved, Not(HasSubstr(kBella)));
  EXPECT_THAT(saved, HasSubstr("PLAN_TYPE_CHILD_PROTECTION"));
  auto flags = Flags("gp-riverside");
  ASSERT_EQ(flags.size(), 2u);
  EXPECT_THAT(saved, HasSubstr(absl::StrCat("cursor ", flags[1].cursor(), "\n")));

  // A plan ends while the example is not running: the next run resumes from the saved cursor
  // and prints only that change.
  ASSERT_TRUE(csc->CloseInvolvement("CP-1", "no further action").ok());
  std::tie(rc, out) = RunCommand(sync);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr(absl::StrCat(kLola, ": not flagged")));
  EXPECT_THAT(out, Not(HasSubstr(absl::StrCat(kLiam, ":"))));
  saved = ReadFile(state);
  EXPECT_THAT(saved, Not(HasSubstr(absl::StrCat("\n", kLola, "\t"))));
  EXPECT_THAT(saved, HasSubstr(absl::StrCat("\n", kLiam, "\t{")));
}

TEST_F(RegistryTest, SafeguardctlRegistryAndFlagsCommands) {
  auto ctl = [&](const std::string& node, const std::string& args) {
    return RunCommand(absl::StrCat(SAFEGUARD_CTL_BINARY, " --broker=", partnership_.address(),
                            " --identity=", partnership_.identity_dir(node), " ", args));
  };
  auto [rc, out] = ctl("gp-riverside", absl::StrCat("flags served --add=nhs:", kLola, ",nhs:", kLiam));
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("served: 2 children, 0 flagged"));

  std::tie(rc, out) = ctl(
      "csc-team-north",
      absl::StrCat("registry put-involvement --reference=CP-1 --plan=child-protection "
                   "--child=nhs:",
                   kLola, " --child=upn:", kLolaUpn,
                   " --lead-worker='id=sw-17,name=Sam Jones,team=North,contact=01793 000000' "
                   "--start=2026-01-05 --next-review=2026-04-05"));
  EXPECT_EQ(rc, 1) << out;  // no escalation contact
  EXPECT_THAT(out, HasSubstr("escalation_contact"));
  std::tie(rc, out) = ctl(
      "csc-team-north",
      absl::StrCat("registry put-involvement --reference=CP-1 --plan=child-protection "
                   "--child=nhs:",
                   kLola, " --child=upn:", kLolaUpn,
                   " --lead-worker='id=sw-17,name=Sam Jones,team=North,contact=01793 000000' "
                   "--escalation-contact='name=Team manager duty line,contact=01793 000001' "
                   "--start=2026-01-05 --next-review=2026-04-05"));
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("stored involvement CP-1 version 1 (child-protection, open)"));

  std::tie(rc, out) = ctl("csc-team-north", absl::StrCat("registry child nhs:", kLola));
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr(absl::StrCat("nhs:", kLola, ", upn:", kLolaUpn)));
  EXPECT_THAT(out, HasSubstr("lead worker: Sam Jones (North) 01793 000000"));
  EXPECT_THAT(out, HasSubstr("started 2026-01-05; next review 2026-04-05"));

  std::tie(rc, out) = ctl("gp-riverside", "flags watch");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr(absl::StrCat(kLola, ": child-protection plan, lead worker Sam Jones")));
  EXPECT_THAT(out, HasSubstr("1 change. Resume with: safeguardctl flags watch --after="));

  std::tie(rc, out) =
      ctl("gp-riverside", absl::StrCat("flags lookup nhs:", kLola, " --reason=attendance --by='Dr Patel'"));
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("the lead worker has been told"));
  std::tie(rc, out) = ctl("gp-riverside", absl::StrCat("flags lookup nhs:", kLola, " --reason=sometime --by=x"));
  EXPECT_EQ(rc, 2) << out;
  EXPECT_THAT(out, HasSubstr("use attendance, registration or record-check"));

  std::tie(rc, out) = ctl("gp-riverside", absl::StrCat("registry child nhs:", kLola));
  EXPECT_EQ(rc, 1) << out;
  EXPECT_THAT(out, HasSubstr("PERMISSION_DENIED"));

  std::tie(rc, out) = ctl("csc-team-north", "registry close CP-1 --reason='stepped down'");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("closed involvement CP-1"));
  std::tie(rc, out) = ctl("gp-riverside", "--json flags watch");
  ASSERT_EQ(rc, 0) << out;
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << out;
  EXPECT_THAT(lines[0], HasSubstr("\"flagged\":true"));
  EXPECT_THAT(lines[1], Not(HasSubstr("\"flagged\"")));  // false: the plan ended
}

}  // namespace
}  // namespace safeguard::testing
