#include "broker/registry/sqlite_registry_store.h"

#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"

namespace safeguard::registry {
namespace {

using safeguard::v1::IdentifierScheme;
using safeguard::v1::Involvement;
using safeguard::v1::PlanType;
using safeguard::v1::SubjectIdentifier;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// Valid by modulus 11.
constexpr char kNhsA[] = "9434765919";
constexpr char kNhsB[] = "9434765927";
constexpr char kNhsC[] = "9434765935";
constexpr char kNhsMother[] = "9434765943";
constexpr char kUpnA[] = "H801200001001";

using testing::FakeClock;

SubjectIdentifier Id(IdentifierScheme scheme, const std::string& value,
                     const std::string& issuer = "") {
  SubjectIdentifier id;
  id.set_scheme(scheme);
  id.set_value(value);
  id.set_issuer(issuer);
  return id;
}
SubjectIdentifier Nhs(const std::string& value) {
  return Id(safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER, value);
}
SubjectIdentifier Upn(const std::string& value) {
  return Id(safeguard::v1::IDENTIFIER_SCHEME_SCHOOL_UPN, value);
}

Involvement Plan(const std::string& reference, PlanType type,
                 std::vector<SubjectIdentifier> child, const std::string& lead = "Sam Lead") {
  Involvement inv;
  inv.set_reference(reference);
  inv.set_plan_type(type);
  for (auto& id : child) *inv.add_child() = id;
  inv.mutable_lead_worker()->set_worker_id("w-1");
  inv.mutable_lead_worker()->set_name(lead);
  inv.mutable_lead_worker()->set_contact("01234 567890");
  inv.mutable_escalation_contact()->set_role("team manager, Safeguarding Hub");
  inv.mutable_escalation_contact()->set_contact("hub@example.gov.uk");
  return inv;
}

google::protobuf::RepeatedPtrField<SubjectIdentifier> Ids(std::vector<SubjectIdentifier> ids) {
  google::protobuf::RepeatedPtrField<SubjectIdentifier> out;
  for (auto& id : ids) *out.Add() = id;
  return out;
}

safeguard::v1::UpdateServedChildrenRequest Serve(std::vector<SubjectIdentifier> add,
                                                 std::vector<SubjectIdentifier> remove = {},
                                                 bool replace = false) {
  safeguard::v1::UpdateServedChildrenRequest request;
  request.set_replace(replace);
  for (auto& id : add) *request.add_add()->mutable_identifier() = id;
  for (auto& id : remove) *request.add_remove()->mutable_identifier() = id;
  return request;
}

class RegistryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("registry-" + std::string(::testing::UnitTest::GetInstance()
                                          ->current_test_info()
                                          ->name()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    store_.reset();
    auto store = RegistryStore::Open((dir_ / "registry.db").string(), clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    store_->SetFlagListener([this](const std::vector<std::string>& nodes) {
      absl::MutexLock lock(&told_mu_);
      told_.push_back(nodes);
    });
  }
  std::vector<std::vector<std::string>> TakeTold() {
    absl::MutexLock lock(&told_mu_);
    return std::exchange(told_, {});
  }

  std::filesystem::path dir_;
  FakeClock clock_;
  std::unique_ptr<RegistryStore> store_;
  absl::Mutex told_mu_;
  std::vector<std::vector<std::string>> told_ ABSL_GUARDED_BY(told_mu_);
};

TEST_F(RegistryStoreTest, ChildProtectionPlanWithoutEscalationContactIsRefusedAndNotStored) {
  Involvement inv = Plan("CP-1", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION, {Nhs(kNhsA)});
  inv.clear_escalation_contact();
  auto put = store_->PutInvolvement("csc-1", "swindon", inv);
  EXPECT_EQ(put.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(put.status().message(), HasSubstr("involvement.escalation_contact"));
  EXPECT_THAT(put.status().message(), HasSubstr("child-protection plan"));
  EXPECT_EQ(store_->GetChild(Nhs(kNhsA)).status().code(), absl::StatusCode::kNotFound);

  // An early-help plan needs none.
  Involvement eh = Plan("EH-1", safeguard::v1::PLAN_TYPE_EARLY_HELP, {Nhs(kNhsA)});
  eh.clear_escalation_contact();
  EXPECT_TRUE(store_->PutInvolvement("eh-1", "swindon", eh).ok());
}

TEST_F(RegistryStoreTest, BadFieldsAreNamed) {
  Involvement inv = Plan("CP-1", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION, {Nhs("9434765918")});
  auto put = store_->PutInvolvement("csc-1", "swindon", inv);
  EXPECT_EQ(put.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(put.status().message(), HasSubstr("involvement.child[0].value"));

  inv = Plan("CP-1", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION, {Nhs(kNhsA)});
  inv.mutable_lead_worker()->clear_contact();
  put = store_->PutInvolvement("csc-1", "swindon", inv);
  EXPECT_THAT(put.status().message(), HasSubstr("involvement.lead_worker.contact"));

  inv = Plan("", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION, {Nhs(kNhsA)});
  put = store_->PutInvolvement("csc-1", "swindon", inv);
  EXPECT_THAT(put.status().message(), HasSubstr("involvement.reference"));

  inv = Plan("CP-1", safeguard::v1::PLAN_TYPE_CHILD_IN_NEED, {Nhs(kNhsA)});
  inv.mutable_escalation_contact()->clear_contact();
  put = store_->PutInvolvement("csc-1", "swindon", inv);
  EXPECT_THAT(put.status().message(), HasSubstr("involvement.escalation_contact.contact"));
}

TEST_F(RegistryStoreTest, ChildIsFoundByAnyIdentifierAndNewIdentifiersAreLinked) {
  auto first = store_->PutInvolvement(
      "csc-1", "swindon", Plan("CP-1", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION, {Nhs(kNhsA)}));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->match(), "created");
  EXPECT_EQ(first->involvement().version(), 1u);
  EXPECT_EQ(first->involvement().area(), "swindon");
  EXPECT_EQ(first->involvement().lead_worker().node_id(), "csc-1");
  const std::string subject = first->involvement().subject_id();
  EXPECT_FALSE(subject.empty());

  // Early help knows the NHS number (written with spaces) and the UPN.
  auto second = store_->PutInvolvement(
      "eh-1", "swindon",
      Plan("TAF-9", safeguard::v1::PLAN_TYPE_EARLY_HELP, {Nhs("943 476 5919"), Upn(kUpnA)}));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->match(), "matched on nhs-number");
  EXPECT_EQ(second->involvement().subject_id(), subject);

  auto by_upn = store_->MatchChild(Ids({Upn(kUpnA)}));
  ASSERT_TRUE(by_upn.ok());
  EXPECT_EQ(by_upn->kind, ChildMatch::Kind::kMatched);
  EXPECT_THAT(by_upn->subject_ids, ElementsAre(subject));
  EXPECT_EQ(store_->MatchChild(Ids({Nhs(kNhsA), Upn(kUpnA)}))->description,
            "matched on nhs-number and school-upn");
  EXPECT_EQ(store_->MatchChild(Ids({Nhs(kNhsB)}))->kind, ChildMatch::Kind::kUnmatched);

  // Most protective first.
  auto open = store_->OpenInvolvements(subject);
  ASSERT_TRUE(open.ok());
  ASSERT_THAT(*open, SizeIs(2));
  EXPECT_EQ((*open)[0].plan_type(), safeguard::v1::PLAN_TYPE_CHILD_PROTECTION);
  EXPECT_EQ((*open)[1].plan_type(), safeguard::v1::PLAN_TYPE_EARLY_HELP);
}

TEST_F(RegistryStoreTest, AChildUnknownAMomentAgoIsFoundOnceAPlanOrHouseholdNamesThem) {
  // Unmatched look-ups are remembered (most notifications are about children with no plan);
  // any registry write must make the next look-up see it.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(store_->MatchChild(Ids({Nhs(kNhsA)}))->kind, ChildMatch::Kind::kUnmatched);
    EXPECT_EQ(store_->MatchChild(Ids({Nhs(kNhsB), Upn(kUpnA)}))->description, "unmatched");
  }
  ASSERT_TRUE(store_
                  ->PutInvolvement("csc-1", "swindon",
                                   Plan("CP-1", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION,
                                        {Nhs(kNhsA)}))
                  .ok());
  EXPECT_EQ(store_->MatchChild(Ids({Nhs(kNhsA)}))->kind, ChildMatch::Kind::kMatched);
  EXPECT_EQ(store_->MatchChild(Ids({Nhs(kNhsB), Upn(kUpnA)}))->kind,
            ChildMatch::Kind::kUnmatched);

  safeguard::v1::Household household;
  household.set_reference("HH-2");
  auto* child = household.add_members();
  child->set_role(safeguard::v1::HOUSEHOLD_ROLE_CHILD);
  *child->add_identifiers() = Nhs(kNhsB);
  ASSERT_TRUE(store_->PutHousehold("csc-1", "swindon", household).ok());
  EXPECT_EQ(store_->MatchChild(Ids({Nhs(kNhsB), Upn(kUpnA)}))->kind, ChildMatch::Kind::kMatched);
}

TEST_F(RegistryStoreTest, IdentifiersOfTwoChildrenAreRefusedNeverMerged) {
  auto a = store_->PutInvolvement(
      "csc-1", "swindon", Plan("CP-A", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION, {Nhs(kNhsA)}));
  auto b = store_->PutInvolvement(
      "csc-1", "swindon", Plan("CP-B", safeguard::v1::PLAN_TYPE_CHILD_IN_NEED, {Nhs(kNhsB)}));
  ASSERT_TRUE(a.ok() && b.ok());

  auto both = store_->PutInvolvement(
      "eh-1", "swindon",
      Plan("TAF-1", safeguard::v1::PLAN_TYPE_EARLY_HELP, {Nhs(kNhsA), Nhs(kNhsB), Upn(kUpnA)}));
  EXPECT_EQ(both.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(both.status().message(), HasSubstr(a->involvement().subject_id()));
  EXPECT_THAT(both.status().message(), HasSubstr(b->involvement().subject_id()));

  auto match = store_->MatchChild(Ids({Nhs(kNhsA), Nhs(kNhsB)}));
  EXPECT_EQ(match->kind, ChildMatch::Kind::kConflicting);
  EXPECT_THAT(match->subject_ids, SizeIs(2));
  // Nothing of the refused write was kept: the UPN is still unknown, each child has one plan.
  EXPECT_EQ(store_->MatchChild(Ids({Upn(kUpnA)}))->kind, ChildMatch::Kind::kUnmatched);
  EXPECT_THAT(*store_->OpenInvolvements(a->involvement().subject_id()), SizeIs(1));

  // A reference already about child A cannot be moved to child B.
  auto moved = store_->PutInvolvement(
      "csc-1", "swindon", Plan("CP-A", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION, {Nhs(kNhsB)}));
  EXPECT_EQ(moved.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(*store_->OpenInvolvements(b->involvement().subject_id()), SizeIs(1));
}

TEST_F(RegistryStoreTest, ChangesAndClosureAreKeptAsHistory) {
  ASSERT_TRUE(store_
                  ->PutInvolvement("csc-1", "swindon",
                                   Plan("CP-1", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION,
                                        {Nhs(kNhsA)}, "First Worker"))
                  .ok());
  clock_.Advance(absl::Hours(24));
  ASSERT_TRUE(store_
                  ->PutInvolvement("csc-1", "swindon",
                                   Plan("CP-1", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION,
                                        {Nhs(kNhsA)}, "Second Worker"))
                  .ok());
  clock_.Advance(absl::Hours(24));
  safeguard::v1::CloseInvolvementRequest close;
  close.set_reference("CP-1");
  close.set_reason("stepped down to early help");
  auto closed = store_->CloseInvolvement("csc-1", close);
  ASSERT_TRUE(closed.ok()) << closed.status();
  EXPECT_FALSE(closed->involvement().open());
  EXPECT_EQ(closed->involvement().version(), 3u);
  EXPECT_EQ(closed->involvement().closure_reason(), "stepped down to early help");
  // A retried close answers the same and changes nothing.
  auto again = store_->CloseInvolvement("csc-1", close);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->involvement().version(), 3u);

  auto record = store_->GetChild(Nhs(kNhsA));
  ASSERT_TRUE(record.ok()) << record.status();
  ASSERT_THAT(record->involvements(), SizeIs(1));
  EXPECT_FALSE(record->involvements(0).open());
  ASSERT_THAT(record->history(), SizeIs(2));
  EXPECT_EQ(record->history(0).lead_worker().name(), "First Worker");
  EXPECT_EQ(record->history(1).lead_worker().name(), "Second Worker");
  // Re-published without a start, the plan keeps the one it began with.
  EXPECT_EQ(record->involvements(0).start().seconds(), record->history(0).start().seconds());
  EXPECT_EQ(record->involvements(0).end().seconds(), absl::ToUnixSeconds(clock_.Now()));
  EXPECT_THAT(*store_->OpenInvolvements(record->subject_id()), IsEmpty());

  // Closing someone else's reference, or an unknown one.
  EXPECT_EQ(store_->CloseInvolvement("csc-2", close).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(RegistryStoreTest, ServedChildIsFlaggedWhenAPlanOpensChangesAndEnds) {
  // The GP registers the child before any plan exists.
  auto served = store_->UpdateServedChildren("gp-1", Serve({Nhs(kNhsA), Nhs(kNhsC)}));
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->served(), 2u);
  EXPECT_EQ(served->flagged(), 0u);
  EXPECT_THAT(*store_->ReadFlags("gp-1", 0, 100), IsEmpty());
  EXPECT_THAT(TakeTold(), IsEmpty());

  ASSERT_TRUE(store_
                  ->PutInvolvement("csc-1", "swindon",
                                   Plan("CP-1", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION,
                                        {Nhs(kNhsA)}, "First Worker"))
                  .ok());
  EXPECT_THAT(TakeTold(), ElementsAre(ElementsAre("gp-1")));
  auto flags = store_->ReadFlags("gp-1", 0, 100);
  ASSERT_TRUE(flags.ok());
  ASSERT_THAT(*flags, SizeIs(1));
  EXPECT_TRUE((*flags)[0].flagged);
  EXPECT_EQ((*flags)[0].identifier.value(), kNhsA);
  EXPECT_EQ((*flags)[0].involvement.plan_type(), safeguard::v1::PLAN_TYPE_CHILD_PROTECTION);
  EXPECT_EQ((*flags)[0].involvement.lead_worker().name(), "First Worker");
  EXPECT_EQ((*flags)[0].involvement.escalation_contact().contact(), "hub@example.gov.uk");
  EXPECT_THAT((*flags)[0].involvement.child(), IsEmpty());
  const uint64_t first_cursor = (*flags)[0].cursor;

  // The same content again: nothing new for the GP.
  clock_.Advance(absl::Minutes(5));
  ASSERT_TRUE(store_
                  ->PutInvolvement("csc-1", "swindon",
                                   Plan("CP-1", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION,
                                        {Nhs(kNhsA)}, "First Worker"))
                  .ok());
  EXPECT_THAT(*store_->ReadFlags("gp-1", first_cursor, 100), IsEmpty());
  EXPECT_THAT(TakeTold(), IsEmpty());

  // A new lead worker: the GP is told.
  ASSERT_TRUE(store_
                  ->PutInvolvement("csc-1", "swindon",
                                   Plan("CP-1", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION,
                                        {Nhs(kNhsA)}, "Second Worker"))
                  .ok());
  flags = store_->ReadFlags("gp-1", first_cursor, 100);
  ASSERT_THAT(*flags, SizeIs(1));
  EXPECT_EQ((*flags)[0].involvement.lead_worker().name(), "Second Worker");
  EXPECT_GT((*flags)[0].cursor, first_cursor);

  // Closed: not flagged any more.
  safeguard::v1::CloseInvolvementRequest close;
  close.set_reference("CP-1");
  ASSERT_TRUE(store_->CloseInvolvement("csc-1", close).ok());
  flags = store_->ReadFlags("gp-1", 0, 100);
  ASSERT_THAT(*flags, SizeIs(3));
  EXPECT_FALSE((*flags)[2].flagged);
  EXPECT_EQ((*flags)[2].changed_at, clock_.Now());
  EXPECT_FALSE(store_->CurrentFlag(Nhs(kNhsA))->flagged);

  // Another node's stream is its own.
  EXPECT_THAT(*store_->ReadFlags("gp-2", 0, 100), IsEmpty());
}

TEST_F(RegistryStoreTest, AddingAFlaggedChildFlagsAtOnceAndRemovingUnflags) {
  ASSERT_TRUE(store_
                  ->PutInvolvement("csc-1", "swindon",
                                   Plan("CIN-1", safeguard::v1::PLAN_TYPE_CHILD_IN_NEED,
                                        {Nhs(kNhsA), Upn(kUpnA)}))
                  .ok());
  TakeTold();
  // The school knows the child by UPN only.
  auto served = store_->UpdateServedChildren("school-1", Serve({Upn(kUpnA), Nhs(kNhsC)}));
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->served(), 2u);
  EXPECT_EQ(served->flagged(), 1u);
  EXPECT_GT(served->flag_cursor(), 0u);
  EXPECT_THAT(TakeTold(), ElementsAre(ElementsAre("school-1")));
  EXPECT_THAT(*store_->ServingNodes(*store_->MatchChild(Ids({Nhs(kNhsA)}))->subject_ids.begin()),
              ElementsAre("school-1"));

  // A full upload without the child: the school is told it is no longer flagged.
  served = store_->UpdateServedChildren("school-1", Serve({Nhs(kNhsC)}, {}, /*replace=*/true));
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->served(), 1u);
  EXPECT_EQ(served->flagged(), 0u);
  auto flags = store_->ReadFlags("school-1", 0, 100);
  ASSERT_THAT(*flags, SizeIs(2));
  EXPECT_TRUE((*flags)[0].flagged);
  EXPECT_FALSE((*flags)[1].flagged);
  EXPECT_EQ((*flags)[1].identifier.value(), kUpnA);
  EXPECT_EQ(served->flag_cursor(), (*flags)[1].cursor);
  EXPECT_THAT(*store_->ServingNodes(*store_->MatchChild(Ids({Nhs(kNhsA)}))->subject_ids.begin()),
              IsEmpty());

  // Reading from a cursor honours the limit and the order.
  auto first = store_->ReadFlags("school-1", 0, 1);
  ASSERT_THAT(*first, SizeIs(1));
  EXPECT_TRUE((*first)[0].flagged);
}

TEST_F(RegistryStoreTest, HouseholdLinksChildrenForAdultsAndAddresses) {
  safeguard::v1::Household household;
  household.set_reference("HH-1");
  household.mutable_address()->set_uprn("100121212121");
  auto* child_a = household.add_members();
  child_a->set_role(safeguard::v1::HOUSEHOLD_ROLE_CHILD);
  *child_a->add_identifiers() = Nhs(kNhsA);
  auto* child_b = household.add_members();
  child_b->set_role(safeguard::v1::HOUSEHOLD_ROLE_CHILD);
  *child_b->add_identifiers() = Nhs(kNhsB);
  auto* mother = household.add_members();
  mother->set_role(safeguard::v1::HOUSEHOLD_ROLE_PARENT);
  *mother->add_identifiers() = Nhs(kNhsMother);
  auto put = store_->PutHousehold("csc-1", "swindon", household);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->household().version(), 1u);
  EXPECT_EQ(put->household().area(), "swindon");

  const std::string a = store_->MatchChild(Ids({Nhs(kNhsA)}))->subject_ids.at(0);
  const std::string b = store_->MatchChild(Ids({Nhs(kNhsB)}))->subject_ids.at(0);
  const std::string m = store_->MatchChild(Ids({Nhs(kNhsMother)}))->subject_ids.at(0);
  std::vector<std::string> children = {a, b};
  std::sort(children.begin(), children.end());
  EXPECT_EQ(*store_->HouseholdChildren(m), children);
  EXPECT_EQ(*store_->HouseholdChildren(a), children);
  EXPECT_EQ(*store_->ChildrenAtUprn("100121212121"), children);
  EXPECT_THAT(*store_->ChildrenAtUprn("999"), IsEmpty());

  // Child B moves out: replaced, the old version kept.
  household.mutable_members()->DeleteSubrange(1, 1);
  put = store_->PutHousehold("csc-1", "swindon", household);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->household().version(), 2u);
  EXPECT_THAT(*store_->HouseholdChildren(m), ElementsAre(a));
  EXPECT_THAT(*store_->HouseholdChildren(b), IsEmpty());
  auto record = store_->GetChild(Nhs(kNhsA));
  ASSERT_THAT(record->households(), SizeIs(1));

  // The same person twice is refused.
  *household.add_members() = household.members(0);
  EXPECT_EQ(store_->PutHousehold("csc-1", "swindon", household).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RegistryStoreTest, EverythingSurvivesReopening) {
  auto put = store_->PutInvolvement(
      "csc-1", "swindon", Plan("CP-1", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION, {Nhs(kNhsA)}));
  ASSERT_TRUE(put.ok());
  ASSERT_TRUE(store_->UpdateServedChildren("gp-1", Serve({Nhs(kNhsA)})).ok());
  Reopen();
  auto match = store_->MatchChild(Ids({Nhs(kNhsA)}));
  EXPECT_THAT(match->subject_ids, ElementsAre(put->involvement().subject_id()));
  EXPECT_THAT(*store_->ReadFlags("gp-1", 0, 100), SizeIs(1));
  auto again = store_->PutInvolvement(
      "csc-1", "swindon",
      Plan("CP-1", safeguard::v1::PLAN_TYPE_CHILD_PROTECTION, {Nhs(kNhsA)}, "Other"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->involvement().version(), 2u);
  EXPECT_TRUE(store_->CurrentFlag(Nhs(kNhsA))->flagged);
}

TEST_F(RegistryStoreTest, RefusesAFileThatIsNotARegistry) {
  const std::string garbage = (dir_ / "garbage.db").string();
  std::ofstream(garbage) << "this is not a database, it is a text file of some length......";
  auto opened = RegistryStore::Open(garbage, clock_);
  EXPECT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(), HasSubstr(garbage));

  // Another SQLite database (say, broker.db) is not taken over.
  const std::string other = (dir_ / "broker.db").string();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(other.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE notifications (seq INTEGER)", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  opened = RegistryStore::Open(other, clock_);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(opened.status().message(), HasSubstr("not a registry database"));
}

}  // namespace
}  // namespace safeguard::registry
