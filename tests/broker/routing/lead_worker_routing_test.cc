// Routing with the plan registry: lead workers, households, Operation Encompass, networks.
// Uses the real SQLite registry in a temporary directory.
#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"
#include "broker/config/broker_config.h"
#include "broker/routing/recipient_resolver.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace safeguard::routing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;
using safeguard::v1::Notification;
using safeguard::v1::SubjectIdentifier;

class FixedClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::FromUnixSeconds(1'790'000'000); }
};

SubjectIdentifier Nhs(const std::string& value) {
  SubjectIdentifier id;
  id.set_scheme(safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER);
  id.set_value(value);
  return id;
}

// Valid NHS numbers (modulus 11).
constexpr char kLola[] = "9434765919";
constexpr char kBella[] = "9434765870";
constexpr char kBen[] = "9434765889";
constexpr char kMother[] = "4010232137";

class LeadWorkerRoutingTest : public ::testing::Test {
 protected:
  LeadWorkerRoutingTest()
      : dir_(std::filesystem::temp_directory_path() /
             absl::StrCat("routing-test-", ::getpid(), "-", counter_++)),
        nodes_(*config::ParseBrokerConfig(R"(
partnership: "demo.example" listen_address: "127.0.0.1:1" data_directory: "d" policy_file: "p"
tls { certificate: "c" private_key: "k" ca_certificate: "a" }
nodes { id: "gp-riverside" type: "gp" area: "swindon" }
nodes { id: "school-oakfield" type: "school" area: "swindon" }
nodes { id: "housing-swindon" type: "housing" area: "swindon" }
nodes { id: "police" type: "police" area: "swindon" }
nodes { id: "fd-swindon" type: "front-door" area: "swindon" }
nodes { id: "csc-north" type: "social-care" area: "swindon" }
nodes { id: "eh-swindon" type: "early-help" area: "swindon" }
)",
                                          "/b.conf")) {
    std::filesystem::create_directories(dir_);
    auto store = registry::RegistryStore::Open((dir_ / "registry.db").string(), clock_);
    EXPECT_TRUE(store.ok()) << store.status();
    children_ = *std::move(store);
    resolver_ = std::make_unique<RecipientResolver>(nodes_, children_.get());
  }
  ~LeadWorkerRoutingTest() override {
    resolver_.reset();
    children_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Plan(const std::string& publisher, const std::string& reference,
            safeguard::v1::PlanType plan, const std::string& nhs, const std::string& worker) {
    safeguard::v1::Involvement inv;
    inv.set_reference(reference);
    inv.set_plan_type(plan);
    *inv.add_child() = Nhs(nhs);
    inv.mutable_lead_worker()->set_worker_id(worker);
    inv.mutable_lead_worker()->set_name("Worker " + worker);
    inv.mutable_lead_worker()->set_contact("01793 111111");
    inv.mutable_escalation_contact()->set_name("Team manager");
    inv.mutable_escalation_contact()->set_contact("01793 000000");
    auto put = children_->PutInvolvement(publisher, "swindon", inv);
    ASSERT_TRUE(put.ok()) << put.status();
  }

  void Household(const std::string& reference, std::vector<std::string> child_nhs,
                 std::vector<std::string> adult_nhs, const std::string& uprn = "") {
    safeguard::v1::Household h;
    h.set_reference(reference);
    for (const auto& c : child_nhs) {
      auto* m = h.add_members();
      m->set_role(safeguard::v1::HOUSEHOLD_ROLE_CHILD);
      *m->add_identifiers() = Nhs(c);
    }
    for (const auto& a : adult_nhs) {
      auto* m = h.add_members();
      m->set_role(safeguard::v1::HOUSEHOLD_ROLE_PARENT);
      *m->add_identifiers() = Nhs(a);
    }
    if (!uprn.empty()) h.mutable_address()->set_uprn(uprn);
    auto put = children_->PutHousehold("csc-north", "swindon", h);
    ASSERT_TRUE(put.ok()) << put.status();
  }

  void Serve(const std::string& node, const std::string& nhs) {
    safeguard::v1::UpdateServedChildrenRequest r;
    *r.add_add()->mutable_identifier() = Nhs(nhs);
    auto up = children_->UpdateServedChildren(node, r);
    ASSERT_TRUE(up.ok()) << up.status();
  }

  Notification About(safeguard::v1::NotificationType type, const std::string& nhs) {
    Notification n;
    n.set_type(type);
    *n.add_subjects()->add_identifiers() = Nhs(nhs);
    return n;
  }

  // node id → reason, for what a user would check: who received it and why.
  std::map<std::string, std::string> Route(const std::string& sender, const Notification& n,
                                           Routing* out = nullptr) {
    auto r = resolver_->Resolve(*nodes_.FindById(sender), n);
    EXPECT_TRUE(r.ok()) << r.status();
    std::map<std::string, std::string> got;
    if (!r.ok()) return got;
    for (const auto& x : r->recipients) {
      got[x.node->id + (x.addressee.empty() ? "" : "/" + x.addressee)] = x.reason;
    }
    if (out != nullptr) *out = *r;
    return got;
  }

  static inline int counter_ = 0;
  FixedClock clock_;
  std::filesystem::path dir_;
  identity::NodeRegistry nodes_;
  std::unique_ptr<registry::RegistryStore> children_;
  std::unique_ptr<RecipientResolver> resolver_;
};

TEST_F(LeadWorkerRoutingTest, MissedContactReachesTheLeadWorkerNotTheFrontDoor) {
  Plan("csc-north", "CP-1", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION, kLola, "sw-17");
  Routing routing;
  auto got = Route("gp-riverside", About(safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT, kLola),
                   &routing);
  EXPECT_THAT(got, ElementsAre(Pair("csc-north/sw-17", "lead worker of child-protection plan CP-1")));
  ASSERT_EQ(routing.recipients.size(), 1u);
  EXPECT_TRUE(routing.recipients[0].as_lead_worker);
  EXPECT_EQ(routing.plan, safeguard::v1::PLAN_TYPE_CHILD_PROTECTION);
  EXPECT_THAT(routing.child_match, HasSubstr("matched on nhs-number"));
  // Whoever sends it: housing reaches the same worker.
  EXPECT_EQ(Route("housing-swindon",
                  About(safeguard::v1::NOTIFICATION_TYPE_NO_ACCESS_VISIT, kLola)),
            got);
}

TEST_F(LeadWorkerRoutingTest, EveryOpenInvolvementsLeadWorkerIsAddressed) {
  Plan("csc-north", "CIN-4", safeguard::v1::PLAN_TYPE_CHILD_IN_NEED, kLola, "sw-1");
  Plan("eh-swindon", "EH-9", safeguard::v1::PLAN_TYPE_EARLY_HELP, kLola, "ehw-2");
  auto got = Route("school-oakfield",
                   About(safeguard::v1::NOTIFICATION_TYPE_SCHOOL_ABSENCE, kLola));
  EXPECT_THAT(got, UnorderedElementsAre(Pair("csc-north/sw-1", HasSubstr("CIN-4")),
                                        Pair("eh-swindon/ehw-2", HasSubstr("EH-9"))));
}

TEST_F(LeadWorkerRoutingTest, AClosedPlanNoLongerRoutesAndTheFrontDoorStandsIn) {
  Plan("csc-north", "CP-1", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION, kLola, "sw-17");
  safeguard::v1::CloseInvolvementRequest close;
  close.set_reference("CP-1");
  close.set_reason("stepped down");
  ASSERT_TRUE(children_->CloseInvolvement("csc-north", close).ok());
  EXPECT_THAT(Route("gp-riverside",
                    About(safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT, kLola)),
              ElementsAre(Pair("fd-swindon", "front door for area swindon (no open plan)")));
}

TEST_F(LeadWorkerRoutingTest, AnUnknownChildStillReachesTheFrontDoorMarkedUnmatched) {
  Routing routing;
  EXPECT_THAT(Route("gp-riverside",
                    About(safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT, kLola), &routing),
              ElementsAre(Pair("fd-swindon", HasSubstr("not known to the registry"))));
  EXPECT_THAT(routing.child_match, HasSubstr("unmatched"));
  EXPECT_FALSE(routing.plan.has_value());
}

TEST_F(LeadWorkerRoutingTest, IdentifiersOfTwoChildrenGoToTheFrontDoorNeverAWorker) {
  Plan("csc-north", "CP-1", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION, kBella, "sw-1");
  Plan("csc-north", "CP-2", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION, kBen, "sw-2");
  Notification n = About(safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT, kBella);
  *n.mutable_subjects(0)->add_identifiers() = Nhs(kBen);  // the GP mixed two records up
  Routing routing;
  EXPECT_THAT(Route("gp-riverside", n, &routing),
              ElementsAre(Pair("fd-swindon", HasSubstr("not routed to their workers"))));
  EXPECT_THAT(routing.child_match, HasSubstr("2 different children"));
}

TEST_F(LeadWorkerRoutingTest, HouseholdEventsReachEveryChildsLeadWorker) {
  Plan("csc-north", "CP-1", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION, kBella, "sw-1");
  Plan("eh-swindon", "EH-2", safeguard::v1::PLAN_TYPE_EARLY_HELP, kBen, "ehw-2");
  Household("H-1", {kBella, kBen}, {kMother}, "100121234567");
  // A utility cut-off reported about Bella concerns Ben too.
  EXPECT_THAT(Route("housing-swindon",
                    About(safeguard::v1::NOTIFICATION_TYPE_UTILITY_DISCONNECTION, kBella)),
              UnorderedElementsAre(Pair("csc-north/sw-1", HasSubstr("CP-1")),
                                   Pair("eh-swindon/ehw-2",
                                        HasSubstr("of a child in the household"))));
  // A missed appointment is about Bella alone.
  EXPECT_THAT(Route("gp-riverside",
                    About(safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT, kBella)),
              ElementsAre(Pair("csc-north/sw-1", HasSubstr("CP-1"))));
  // A concern about the mother reaches her children's workers.
  EXPECT_THAT(Route("police",
                    About(safeguard::v1::NOTIFICATION_TYPE_NEW_ADULT_IN_HOUSEHOLD, kMother)),
              UnorderedElementsAre(Pair("csc-north/sw-1", testing::_),
                                   Pair("eh-swindon/ehw-2", testing::_)));
  // An event at the address, with nobody identified, finds the household by its UPRN.
  Notification at_address;
  at_address.set_type(safeguard::v1::NOTIFICATION_TYPE_UTILITY_DISCONNECTION);
  at_address.add_subjects();
  at_address.mutable_address()->set_uprn("100121234567");
  auto got = Route("housing-swindon", at_address);
  EXPECT_TRUE(got.count("csc-north/sw-1")) << testing::PrintToString(got);
  EXPECT_TRUE(got.count("eh-swindon/ehw-2")) << testing::PrintToString(got);
}

TEST_F(LeadWorkerRoutingTest, ARiskOfHarmToOneChildReachesTheSiblingsWorkers) {
  Plan("csc-north", "CP-1", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION, kBella, "sw-1");
  Household("H-1", {kBella, kBen}, {kMother});
  Notification n = About(safeguard::v1::NOTIFICATION_TYPE_HOSPITAL_ATTENDANCE_CONCERN, kBella);
  n.mutable_sharing()->set_risk_of_harm(true);
  // Ben has no plan: the front door hears about him.
  EXPECT_THAT(Route("gp-riverside", n),
              UnorderedElementsAre(Pair("csc-north/sw-1", HasSubstr("CP-1")),
                                   Pair("fd-swindon", HasSubstr("has no open plan"))));
}

TEST_F(LeadWorkerRoutingTest, DomesticAbuseIncidentReachesTheChildsSchool) {
  Serve("school-oakfield", kLola);
  Serve("gp-riverside", kLola);
  EXPECT_THAT(
      Route("police",
            About(safeguard::v1::NOTIFICATION_TYPE_POLICE_DOMESTIC_ABUSE_INCIDENT, kLola)),
      UnorderedElementsAre(Pair("fd-swindon", testing::_),
                           Pair("school-oakfield", HasSubstr("Operation Encompass"))));
}

TEST_F(LeadWorkerRoutingTest, AStatutoryPlansNetworkIsOfferedToThePolicy) {
  Plan("csc-north", "CIN-1", safeguard::v1::PLAN_TYPE_CHILD_IN_NEED, kLola, "sw-1");
  Serve("gp-riverside", kLola);
  Serve("school-oakfield", kLola);
  auto got =
      Route("school-oakfield", About(safeguard::v1::NOTIFICATION_TYPE_PART_TIME_TIMETABLE, kLola));
  EXPECT_THAT(got, UnorderedElementsAre(Pair("csc-north/sw-1", testing::_),
                                        Pair("gp-riverside", HasSubstr("statutory plan"))));
}

TEST_F(LeadWorkerRoutingTest, TheLeadWorkersOwnNodeIsNotSentItsOwnNotification) {
  Plan("csc-north", "CP-1", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION, kLola, "sw-17");
  Routing routing;
  auto got = Route("csc-north", About(safeguard::v1::NOTIFICATION_TYPE_CONSENT_REFUSED, kLola),
                   &routing);
  EXPECT_THAT(got, IsEmpty());
}

}  // namespace
}  // namespace safeguard::routing
