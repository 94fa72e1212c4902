// Cumulative-concern rules and plan-drift alerts over the real SQLite store and registry, the
// default England policy and a fake clock; a sink stores each notice as the broker would.
#include <atomic>
#include <filesystem>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "broker/concern/cumulative_concern_watcher.h"
#include "broker/concern/plan_drift_monitor.h"
#include "broker/config/broker_config.h"
#include "broker/storage/sqlite_store.h"
#include "clients/protocol/identifiers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"

namespace safeguard::concern {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using safeguard::v1::NotificationType;

using testing::FakeClock;

absl::Time Day(int month, int day) {  // 2026, 10:00 UTC
  return absl::FromCivil(absl::CivilHour(2026, month, day, 10), absl::UTCTimeZone());
}

constexpr char kChild[] = "9434765919";
constexpr char kSibling[] = "9434760003";
constexpr char kMother[] = "9434760011";

safeguard::v1::SubjectIdentifier Nhs(const std::string& n) {
  safeguard::v1::SubjectIdentifier id;
  id.set_scheme(safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER);
  id.set_value(n);
  return id;
}

// What BrokerService::SubmitFromBroker does with a notice, as far as these rules see it: one
// notification from "broker", indexed by its subjects, deduplicated by idempotency key.
class StoringSink final : public ConcernSink {
 public:
  explicit StoringSink(storage::Store*& store) : store_(store) {}
  void Raise(safeguard::v1::Notification notice, protocol::NodeType reported_by,
             std::vector<routing::ResolvedRecipient> targets, Done done) override {
    storage::AcceptRequest request;
    request.notification_id = absl::StrCat("notice", ++count_);
    request.notification_id.resize(32, '0');
    request.sender = "broker";
    request.idempotency_key = notice.idempotency_key();
    request.content_digest = notice.idempotency_key();
    request.type = notice.type();
    safeguard::v1::SignedPayload payload;
    payload.set_envelope_id(notice.idempotency_key());
    *payload.mutable_core() = notice;
    safeguard::v1::SignedEnvelope envelope;
    envelope.set_payload(payload.SerializeAsString());
    request.envelope = envelope.SerializeAsString();
    request.envelope_digest = "digest";
    for (const auto& s : notice.subjects()) {
      for (const auto& id : s.identifiers()) request.subject_keys.push_back(storage::SubjectKey(id));
    }
    for (const auto& t : targets) {
      storage::AcceptRequest::Delivery& d = request.deliveries.emplace_back();
      d.node_id = t.node->id;
      d.role = t.as_lead_worker ? "lead-worker" : "front-door";
      d.route = t.reason;
      d.addressee = t.addressee;
    }
    store_->Accept(std::move(request), [this, notice, targets, reported_by,
                                        done = std::move(done)](
                                           absl::StatusOr<storage::Accepted> a) mutable {
      if (!a.ok()) {
        std::move(done)(a.status());
        return;
      }
      if (!a->duplicate) {
        absl::MutexLock lock(&mu_);
        sent_.push_back({notice, targets, reported_by});
      }
      safeguard::v1::SubmitResponse r;
      r.set_notification_id(a->notification_id);
      r.set_duplicate(a->duplicate);
      std::move(done)(r);
    });
  }
  struct Sent {
    safeguard::v1::Notification notice;
    std::vector<routing::ResolvedRecipient> targets;
    protocol::NodeType reported_by;
  };
  std::vector<Sent> sent() {
    absl::MutexLock lock(&mu_);
    return sent_;
  }

 private:
  storage::Store*& store_;
  int count_ = 0;
  absl::Mutex mu_;
  std::vector<Sent> sent_ ABSL_GUARDED_BY(mu_);
};

class ConcernTest : public ::testing::Test {
 protected:
  ConcernTest()
      : dir_(std::filesystem::temp_directory_path() /
             absl::StrCat("concern-test-", ::getpid(), "-", counter_++)),
        nodes_(*config::ParseBrokerConfig(R"(
partnership: "demo.example" listen_address: "127.0.0.1:1" data_directory: "d" policy_file: "p"
tls { certificate: "c" private_key: "k" ca_certificate: "a" }
nodes { id: "gp-riverside" type: "gp" area: "swindon" }
nodes { id: "school-oakfield" type: "school" area: "swindon" }
nodes { id: "housing-swindon" type: "housing" area: "swindon" }
nodes { id: "police-wiltshire" type: "police" area: "swindon" }
nodes { id: "hv-swindon" type: "health" area: "swindon" }
nodes { id: "fd-swindon" type: "front-door" area: "swindon" }
nodes { id: "csc-north" type: "social-care" area: "swindon" }
)",
                                          "/b.conf")),
        sink_(store_ptr_) {
    std::filesystem::create_directories(dir_);
    auto policy = policy::SharingPolicy::LoadFile(SAFEGUARD_POLICY_DIR "/england.yaml");
    EXPECT_TRUE(policy.ok()) << policy.status();
    if (policy.ok()) policy_ = *policy;
    clock_.Set(Day(1, 5));
    OpenStores();
  }
  ~ConcernTest() override {
    watcher_.reset();
    drift_.reset();
    store_.reset();
    children_.reset();
    std::filesystem::remove_all(dir_);
  }

  // (Re)opens the store, registry, watcher and monitor on the same files: a broker restart.
  void OpenStores() {
    watcher_.reset();
    drift_.reset();
    store_.reset();
    children_.reset();
    auto store = storage::SqliteStore::Open(
        {.data_directory = (dir_ / "data").string(), .clock = &clock_});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    store_ptr_ = store_.get();
    auto children = registry::RegistryStore::Open((dir_ / "registry.db").string(), clock_);
    ASSERT_TRUE(children.ok()) << children.status();
    children_ = *std::move(children);
    watcher_ = std::make_unique<CumulativeConcernWatcher>(*store_, children_.get(), nodes_,
                                                          sink_, clock_, [this] { return policy_; });
    drift_ = std::make_unique<PlanDriftMonitor>(*children_, nodes_, sink_, clock_,
                                                [this] { return policy_->drift(); });
  }

  // What the broker stores for an agency's notification, with one delivery to the front door.
  storage::AcceptRequest Request(const std::string& sender, NotificationType type,
                                 const std::vector<std::string>& about,
                                 safeguard::v1::Notification* notification) {
    storage::AcceptRequest request;
    request.notification_id = absl::StrCat("event", absl::Dec(++events_, absl::kZeroPad20), "0000000");
    request.sender = sender;
    request.idempotency_key = request.notification_id;
    request.content_digest = request.notification_id;
    request.type = type;
    safeguard::v1::Notification& n = *notification;
    n.set_type(type);
    n.set_summary("an event");
    for (const auto& person : about) {
      auto* s = n.add_subjects();
      s->set_area("swindon");
      *s->add_identifiers() = Nhs(person);
      request.subject_keys.push_back(storage::SubjectKey(Nhs(person)));
    }
    safeguard::v1::SignedPayload payload;
    *payload.mutable_core() = n;
    safeguard::v1::SignedEnvelope envelope;
    envelope.set_payload(payload.SerializeAsString());
    request.envelope = envelope.SerializeAsString();
    request.envelope_digest = "digest";
    request.deliveries.push_back({.node_id = "fd-swindon", .role = "front-door"});
    return request;
  }

  // `count` notifications accepted at once (one group commit), not told to the watcher.
  void AcceptMany(const std::string& sender, NotificationType type, int count) {
    absl::Mutex mu;
    int left = count;
    for (int i = 0; i < count; ++i) {
      safeguard::v1::Notification n;
      store_->Accept(Request(sender, type, {kChild}, &n), [&](absl::StatusOr<storage::Accepted> a) {
        EXPECT_TRUE(a.ok()) << a.status();
        absl::MutexLock lock(&mu);
        --left;
      });
    }
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(+[](int* n) { return *n == 0; }, &left));
  }

  // An agency's notification accepted now (the store stamps the fake clock's time), with one
  // delivery to the front door; returns what the broker would tell the watcher.
  AcceptedEvent Accept(const std::string& sender, NotificationType type,
                       const std::vector<std::string>& about = {kChild}) {
    safeguard::v1::Notification n;
    storage::AcceptRequest request = Request(sender, type, about, &n);
    absl::Notification done;
    AcceptedEvent event;
    store_->Accept(std::move(request), [&](absl::StatusOr<storage::Accepted> a) {
      EXPECT_TRUE(a.ok()) << a.status();
      if (a.ok()) {
        event.sequence = a->sequence;
        event.accepted_at = a->accepted_at;
      }
      done.Notify();
    });
    done.WaitForNotification();
    event.sender = sender;
    event.sender_type = nodes_.FindById(sender)->type;
    event.sender_area = "swindon";
    event.notification = std::make_shared<const safeguard::v1::Notification>(n);
    return event;
  }

  // Accepts the event, then evaluates the rules for it; returns what was newly raised.
  std::vector<RaisedConcern> Send(const std::string& sender, NotificationType type,
                                  const std::vector<std::string>& about = {kChild}) {
    std::vector<RaisedConcern> out;
    for (auto& r : watcher_->Evaluate(Accept(sender, type, about))) {
      if (!r.duplicate) out.push_back(r);
    }
    return out;
  }

  // The front door records "no further action" on its delivery of the last event.
  void NoFurtherAction() {
    auto mailbox = store_->ReadMailbox("fd-swindon", 0, true, 1000);
    ASSERT_TRUE(mailbox.ok());
    ASSERT_FALSE(mailbox->empty());
    absl::Notification done;
    store_->RecordOutcome("fd-swindon", mailbox->back().cursor,
                          {.kind = safeguard::v1::OUTCOME_KIND_NO_FURTHER_ACTION,
                           .rationale = "threshold not met",
                           .recorded_by = "duty-sw"},
                          {}, [&](absl::StatusOr<storage::StoredOutcome> o) {
                            EXPECT_TRUE(o.ok()) << o.status();
                            done.Notify();
                          });
    done.WaitForNotification();
  }

  safeguard::v1::Involvement Plan(safeguard::v1::PlanType type, absl::Time start,
                                  bool with_manager = true) {
    safeguard::v1::Involvement inv;
    inv.set_reference("PLAN-1");
    inv.set_plan_type(type);
    *inv.add_child() = Nhs(kChild);
    auto worker = [](safeguard::v1::Worker* w, const std::string& id) {
      w->set_worker_id(id);
      w->set_name("Worker " + id);
      w->set_contact("01793 000000");
    };
    worker(inv.mutable_lead_worker(), "sw-1");
    if (with_manager) worker(inv.mutable_team_manager(), "tm-3");
    worker(inv.mutable_escalation_contact(), "tm-3");
    *inv.mutable_start() = ToTimestamp(start);
    return inv;
  }
  void Publish(const safeguard::v1::Involvement& inv) {
    auto r = children_->PutInvolvement("csc-north", "swindon", inv);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  static google::protobuf::Timestamp ToTimestamp(absl::Time t) {
    google::protobuf::Timestamp ts;
    ts.set_seconds(absl::ToUnixSeconds(t));
    return ts;
  }
  void Household() {
    safeguard::v1::Household h;
    h.set_reference("HH-1");
    auto member = [&](safeguard::v1::HouseholdRole role, const std::string& nhs) {
      auto* m = h.add_members();
      m->set_role(role);
      *m->add_identifiers() = Nhs(nhs);
    };
    member(safeguard::v1::HOUSEHOLD_ROLE_CHILD, kChild);
    member(safeguard::v1::HOUSEHOLD_ROLE_CHILD, kSibling);
    member(safeguard::v1::HOUSEHOLD_ROLE_PARENT, kMother);
    auto r = children_->PutHousehold("csc-north", "swindon", h);
    ASSERT_TRUE(r.ok()) << r.status();
  }

  static inline int counter_ = 0;
  std::filesystem::path dir_;
  FakeClock clock_;
  identity::NodeRegistry nodes_;
  std::shared_ptr<const policy::SharingPolicy> policy_;
  std::unique_ptr<storage::SqliteStore> store_;
  storage::Store* store_ptr_ = nullptr;
  std::unique_ptr<registry::RegistryStore> children_;
  StoringSink sink_;
  std::unique_ptr<CumulativeConcernWatcher> watcher_;
  std::unique_ptr<PlanDriftMonitor> drift_;
  int events_ = 0;
};

constexpr auto kWnb = safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT;
constexpr auto kAbsence = safeguard::v1::NOTIFICATION_TYPE_SCHOOL_ABSENCE;
constexpr auto kNoAccess = safeguard::v1::NOTIFICATION_TYPE_NO_ACCESS_VISIT;
constexpr auto kReferral = safeguard::v1::NOTIFICATION_TYPE_CONCERN_REFERRAL;

TEST_F(ConcernTest, DefaultPolicyHasTheRules) {
  ASSERT_NE(policy_, nullptr);
  std::vector<std::string> ids;
  for (const auto& r : policy_->cumulative_rules()) ids.push_back(r.id);
  EXPECT_THAT(ids, ElementsAre("missed-contacts-across-agencies", "address-instability",
                               "repeated-neighbour-reports", "recurrence-after-no-further-action",
                               "household-events", "concerns-from-several-agencies"));
  EXPECT_EQ(policy_->drift().core_group_interval, absl::Hours(24 * 31));
  EXPECT_EQ(policy_->drift().check_every, absl::Minutes(10));
}

TEST_F(ConcernTest, ThreeMissedContactsFromTwoAgenciesRaiseOnceToTheFrontDoor) {
  EXPECT_THAT(Send("gp-riverside", kWnb), IsEmpty());
  clock_.Advance(absl::Hours(24 * 20));
  EXPECT_THAT(Send("school-oakfield", kAbsence), IsEmpty());  // two: not yet
  clock_.Advance(absl::Hours(24 * 20));
  auto raised = Send("gp-riverside", kWnb);
  ASSERT_THAT(raised, SizeIs(1));
  EXPECT_EQ(raised[0].rule_id, "missed-contacts-across-agencies");
  // "cumulative:<rule>:<subject>:<sequence of the earliest event>"; the child is unknown to the
  // registry, so its subject is a digest of its identifiers, never the identifiers.
  EXPECT_THAT(raised[0].idempotency_key,
              ::testing::StartsWith("cumulative:missed-contacts-across-agencies:u-"));
  EXPECT_THAT(raised[0].idempotency_key, ::testing::EndsWith(":1"));
  EXPECT_THAT(raised[0].idempotency_key, ::testing::Not(HasSubstr(kChild)));
  auto sent = sink_.sent();
  ASSERT_THAT(sent, SizeIs(1));
  const auto& notice = sent[0].notice;
  EXPECT_EQ(notice.type(), safeguard::v1::NOTIFICATION_TYPE_CUMULATIVE_CONCERN);
  EXPECT_THAT(notice.summary(), HasSubstr("3 events (school-absence, was-not-brought) from 2 "
                                          "agencies in 90 days (rule "
                                          "missed-contacts-across-agencies)"));
  const auto& events = notice.details().fields().at("events").list_value();
  ASSERT_EQ(events.values_size(), 3);
  EXPECT_EQ(events.values(1).struct_value().fields().at("agency").string_value(),
            "school-oakfield");
  EXPECT_EQ(events.values(1).struct_value().fields().at("type").string_value(), "school-absence");
  EXPECT_EQ(events.values(0).struct_value().fields().at("date").string_value(),
            "2026-01-05T10:00:00Z");
  ASSERT_THAT(sent[0].targets, SizeIs(1));
  EXPECT_EQ(sent[0].targets[0].node->id, "fd-swindon");  // no plan: the front door
  EXPECT_FALSE(sent[0].targets[0].as_lead_worker);
  EXPECT_TRUE(notice.sharing().risk_of_harm());

  // The policy shares it with the front door under SG-RISK, with the list of events.
  policy::SharingRequest q{.sender = protocol::NodeType::kGp,
                           .type = safeguard::v1::NOTIFICATION_TYPE_CUMULATIVE_CONCERN,
                           .child_status = policy::ChildStatus::kNoPlan,
                           .consent = policy::ConsentState::kNotSought,
                           .risk_of_harm = true,
                           .recipient = policy::RecipientRole::kFrontDoor};
  policy::Decision d = policy_->Evaluate(q);
  EXPECT_TRUE(d.shared());
  EXPECT_EQ(d.rule_id, "cumulative-concern");

  // A fourth missed contact belongs to the same cluster: nothing new.
  clock_.Advance(absl::Hours(24));
  EXPECT_THAT(Send("school-oakfield", kAbsence), IsEmpty());
  EXPECT_THAT(sink_.sent(), SizeIs(1));
}

TEST_F(ConcernTest, MissedContactsFromOneAgencyDoNotRaiseUntilASecondAgencyReports) {
  EXPECT_THAT(Send("gp-riverside", kWnb), IsEmpty());
  EXPECT_THAT(Send("gp-riverside", kWnb), IsEmpty());
  EXPECT_THAT(Send("gp-riverside", kWnb), IsEmpty());  // three, one agency
  auto raised = Send("housing-swindon", kNoAccess);
  ASSERT_THAT(raised, SizeIs(1));
  EXPECT_EQ(sink_.sent()[0].notice.details().fields().at("events").list_value().values_size(), 4);
}

TEST_F(ConcernTest, EventsOutsideTheWindowDoNotCount) {
  EXPECT_THAT(Send("gp-riverside", kWnb), IsEmpty());
  clock_.Advance(absl::Hours(24 * 91));
  EXPECT_THAT(Send("school-oakfield", kAbsence), IsEmpty());
  EXPECT_THAT(Send("gp-riverside", kWnb), IsEmpty());  // the first fell out of the 90 days
  EXPECT_THAT(Send("school-oakfield", kAbsence), SizeIs(1));
}

TEST_F(ConcernTest, AClusterRaisesOnceAcrossARestartAndANewClusterRaisesAgain) {
  Send("gp-riverside", kWnb);
  Send("school-oakfield", kAbsence);
  auto first = Send("gp-riverside", kWnb);
  ASSERT_THAT(first, SizeIs(1));
  OpenStores();  // restart: nothing in memory
  auto again = watcher_->Evaluate(Accept("school-oakfield", kAbsence));
  EXPECT_THAT(again, IsEmpty());  // the earlier notice covers events up to its last
  EXPECT_THAT(Send("gp-riverside", kWnb), IsEmpty());
  auto second = Send("school-oakfield", kAbsence);  // three new events after the cluster
  ASSERT_THAT(second, SizeIs(1));
  EXPECT_NE(second[0].idempotency_key, first[0].idempotency_key);
  EXPECT_THAT(sink_.sent(), SizeIs(2));
}

TEST_F(ConcernTest, TheLeadWorkerIsToldWhenTheChildHasAPlan) {
  Publish(Plan(safeguard::v1::PLAN_TYPE_CHILD_IN_NEED, Day(1, 1)));
  Send("gp-riverside", kWnb);
  Send("school-oakfield", kAbsence);
  ASSERT_THAT(Send("hv-swindon", safeguard::v1::NOTIFICATION_TYPE_MISSED_HEALTH_CONTACT),
              SizeIs(1));
  auto sent = sink_.sent();
  ASSERT_THAT(sent[0].targets, SizeIs(1));
  EXPECT_EQ(sent[0].targets[0].node->id, "csc-north");
  EXPECT_TRUE(sent[0].targets[0].as_lead_worker);
  EXPECT_EQ(sent[0].targets[0].addressee, "sw-1");
}

TEST_F(ConcernTest, FourChangesOfAddressInSixMonths) {
  auto move = safeguard::v1::NOTIFICATION_TYPE_CHANGE_OF_ADDRESS;
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT(Send("housing-swindon", move), IsEmpty());
    clock_.Advance(absl::Hours(24 * 45));
  }
  auto raised = Send("housing-swindon", move);  // day 135: four within 183 days
  ASSERT_THAT(raised, SizeIs(1));
  EXPECT_EQ(raised[0].rule_id, "address-instability");
}

TEST_F(ConcernTest, RepeatedNeighbourReports) {
  auto report = safeguard::v1::NOTIFICATION_TYPE_NEIGHBOUR_REPORT;
  EXPECT_THAT(Send("police-wiltshire", report), IsEmpty());
  EXPECT_THAT(Send("police-wiltshire", report), IsEmpty());
  auto raised = Send("police-wiltshire", report);
  ASSERT_THAT(raised, SizeIs(1));
  EXPECT_EQ(raised[0].rule_id, "repeated-neighbour-reports");
}

TEST_F(ConcernTest, RecurrenceCountsOnlyAfterANoFurtherActionOutcome) {
  // Without an outcome, two referrals are not a recurrence.
  EXPECT_THAT(Send("school-oakfield", kReferral), IsEmpty());
  EXPECT_THAT(Send("gp-riverside", kReferral), IsEmpty());
  NoFurtherAction();  // the front door closes the second with no further action
  clock_.Advance(absl::Hours(24 * 30));
  EXPECT_THAT(Send("school-oakfield", kReferral), IsEmpty());  // one after the outcome
  clock_.Advance(absl::Hours(24 * 30));
  auto raised = Send("police-wiltshire", safeguard::v1::NOTIFICATION_TYPE_POLICE_HOME_CONDITIONS);
  ASSERT_THAT(raised, SizeIs(1));
  EXPECT_EQ(raised[0].rule_id, "recurrence-after-no-further-action");
  auto sent = sink_.sent();
  const auto& notice = sent[0].notice;
  EXPECT_THAT(notice.summary(), HasSubstr("after a no-further-action outcome on 2026-01-05"));
  EXPECT_EQ(notice.details().fields().at("events").list_value().values_size(), 2);
  EXPECT_TRUE(notice.details().fields().contains("after_no_further_action"));
}

TEST_F(ConcernTest, HouseholdEventsAboutAnyMemberAddUp) {
  Household();
  auto da = safeguard::v1::NOTIFICATION_TYPE_POLICE_DOMESTIC_ABUSE_INCIDENT;
  EXPECT_THAT(Send("police-wiltshire", da, {kMother}), IsEmpty());
  EXPECT_THAT(Send("housing-swindon", safeguard::v1::NOTIFICATION_TYPE_UTILITY_DISCONNECTION,
                   {kSibling}),
              IsEmpty());
  auto raised = Send("housing-swindon", kNoAccess, {kMother});
  ASSERT_THAT(raised, SizeIs(1));
  EXPECT_EQ(raised[0].rule_id, "household-events");
  auto sent = sink_.sent();
  const auto& notice = sent[0].notice;
  EXPECT_EQ(notice.subjects_size(), 2);  // both children, not the mother
  EXPECT_THAT(notice.summary(), HasSubstr("about the child's household"));
  EXPECT_THAT(raised[0].idempotency_key, HasSubstr(":household-"));
}

TEST_F(ConcernTest, HouseholdEventsOfAnotherFamilyDoNotCount) {
  auto da = safeguard::v1::NOTIFICATION_TYPE_POLICE_DOMESTIC_ABUSE_INCIDENT;
  // No household registered: the mother's events are not the child's.
  Send("police-wiltshire", da, {kMother});
  Send("housing-swindon", kNoAccess, {kMother});
  EXPECT_THAT(Send("housing-swindon", safeguard::v1::NOTIFICATION_TYPE_UTILITY_DISCONNECTION),
              IsEmpty());
}

TEST_F(ConcernTest, AChildWithALongHistoryStillHasItsLatestClusterSeen) {
  // More events in the window than a rule reads (2,000), none of a type the rules count; then
  // missed contacts from two agencies. The rule reads the newest events, so it sees them.
  AcceptMany("gp-riverside", safeguard::v1::NOTIFICATION_TYPE_IMMUNISATIONS_NOT_GIVEN, 2100);
  EXPECT_THAT(Send("gp-riverside", kWnb), IsEmpty());
  EXPECT_THAT(Send("school-oakfield", kAbsence), IsEmpty());
  auto raised = Send("gp-riverside", kWnb);
  ASSERT_THAT(raised, SizeIs(1));
  EXPECT_EQ(raised[0].rule_id, "missed-contacts-across-agencies");
  EXPECT_THAT(sink_.sent()[0].notice.summary(), HasSubstr("3 events"));
}

TEST_F(ConcernTest, TheQueueEvaluatesOffTheCallersThread) {
  watcher_->OnAccepted(Accept("gp-riverside", kWnb));
  watcher_->OnAccepted(Accept("school-oakfield", kAbsence));
  watcher_->OnAccepted(Accept("gp-riverside", kWnb));
  watcher_->Drain();
  EXPECT_THAT(sink_.sent(), SizeIs(1));
}

TEST_F(ConcernTest, EventsWaitingForOneChildAreEvaluatedTogetherNotOneByOne) {
  // A child with many events arriving faster than the rules run (a busy child, or a broker
  // under load): the watcher evaluates the child once for everything waiting, so its queue and
  // memory stay bounded, and raises the one notice the cluster deserves.
  absl::Notification gate;
  std::atomic<int> evaluations{0};
  watcher_ = std::make_unique<CumulativeConcernWatcher>(
      *store_, children_.get(), nodes_, sink_, clock_, [this, &gate, &evaluations] {
        gate.WaitForNotification();
        ++evaluations;
        return policy_;
      });
  for (int i = 0; i < 300; ++i) {
    watcher_->OnAccepted(Accept(i % 2 ? "school-oakfield" : "gp-riverside", i % 2 ? kAbsence : kWnb));
  }
  watcher_->OnAccepted(Accept("gp-riverside", kWnb, {kSibling}));
  gate.Notify();
  watcher_->Drain();
  auto sent = sink_.sent();
  ASSERT_THAT(sent, SizeIs(1));
  EXPECT_THAT(sent[0].notice.summary(), HasSubstr("300 events"));
  // One turn per batch of arrivals and per subject, not one per event (301 before).
  EXPECT_LE(evaluations.load(), 6);
}

// The i-th of a few hundred valid NHS numbers for other children.
std::string OtherChild(int i) {
  for (int base = 943'470'000 + i * 10;; ++base) {
    std::string digits = absl::StrCat(base);
    if (auto check = protocol::NhsCheckDigit(digits)) return absl::StrCat(digits, *check);
  }
}

TEST_F(ConcernTest, ASubjectWaitingForEvaluationDoesNotKeepItsNotification) {
  // Under load up to 20,000 subjects wait; each must not hold its event's whole notification
  // (that was most of the broker's memory growth during a million-notification backlog).
  // One turn gathers 65 children and evaluates 64; the 65th waits for the next turn, which is
  // held at its start while the test looks.
  std::atomic<int> turns{0};
  absl::Notification first_turn, all_queued, next_turn_held, release;
  absl::Cleanup never_stuck = [&] {  // a failed assertion must not leave the watcher held
    for (absl::Notification* n : {&all_queued, &release}) {
      if (!n->HasBeenNotified()) n->Notify();
    }
  };
  watcher_ = std::make_unique<CumulativeConcernWatcher>(
      *store_, children_.get(), nodes_, sink_, clock_, [&] {
        const int turn = turns++;
        if (turn == 0) {
          first_turn.Notify();
          all_queued.WaitForNotification();
        }
        if (turn == 2) {
          next_turn_held.Notify();
          release.WaitForNotification();
        }
        return policy_;
      });
  std::vector<AcceptedEvent> events;
  for (int i = 0; i < 65; ++i) events.push_back(Accept("gp-riverside", kWnb, {OtherChild(i)}));
  std::weak_ptr<const safeguard::v1::Notification> waiting = events.back().notification;
  watcher_->OnAccepted(AcceptedEvent{});  // nothing to evaluate; its turn holds the watcher
  ASSERT_TRUE(first_turn.WaitForNotificationWithTimeout(absl::Seconds(30)));
  for (AcceptedEvent& e : events) watcher_->OnAccepted(std::move(e));
  events.clear();
  all_queued.Notify();
  ASSERT_TRUE(next_turn_held.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(waiting.expired())
      << "the waiting subject still holds the notification it was gathered from";
  release.Notify();
  watcher_->Drain();
  EXPECT_EQ(turns.load(), 3);
}

// Holds every notice until told, then passes them to the store.
class HoldingSink final : public ConcernSink {
 public:
  explicit HoldingSink(ConcernSink& next) : next_(next) {}
  void Raise(safeguard::v1::Notification notice, protocol::NodeType reported_by,
             std::vector<routing::ResolvedRecipient> targets, Done done) override {
    absl::MutexLock lock(&mu_);
    held_.push_back({std::move(notice), reported_by, std::move(targets), std::move(done)});
  }
  bool AwaitHeld(size_t n, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return held_.size() >= n; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
    return enough();
  }
  void ReleaseAll() {
    std::vector<Held> held;
    {
      absl::MutexLock lock(&mu_);
      held.swap(held_);
    }
    for (Held& h : held) {
      next_.Raise(std::move(h.notice), h.reported_by, std::move(h.targets), std::move(h.done));
    }
  }

 private:
  struct Held {
    safeguard::v1::Notification notice;
    protocol::NodeType reported_by;
    std::vector<routing::ResolvedRecipient> targets;
    Done done;
  };
  ConcernSink& next_;
  absl::Mutex mu_;
  std::vector<Held> held_ ABSL_GUARDED_BY(mu_);
};

TEST_F(ConcernTest, NoticesForSeveralChildrenAreSentTogetherNotOneAfterAnother) {
  // Two children each meet the rule in the same turn: both notices are in flight at once (they
  // share the store's commit), instead of the second waiting for the first to be durable.
  HoldingSink holding(sink_);
  std::atomic<int> turns{0};
  absl::Notification first_turn, all_queued;
  absl::Cleanup never_stuck = [&] {  // a failed assertion must not leave the watcher held
    if (!all_queued.HasBeenNotified()) all_queued.Notify();
    holding.ReleaseAll();
    watcher_.reset();  // it uses `holding`, which goes with this test
  };
  watcher_ = std::make_unique<CumulativeConcernWatcher>(
      *store_, children_.get(), nodes_, holding, clock_, [&] {
        if (turns++ == 0) {
          first_turn.Notify();
          all_queued.WaitForNotification();
        }
        return policy_;
      });
  std::vector<AcceptedEvent> events;
  for (const char* child : {kChild, kSibling}) {
    events.push_back(Accept("gp-riverside", kWnb, {child}));
    events.push_back(Accept("school-oakfield", kAbsence, {child}));
    events.push_back(Accept("gp-riverside", kWnb, {child}));
  }
  watcher_->OnAccepted(AcceptedEvent{});  // nothing to evaluate; its turn holds the watcher
  ASSERT_TRUE(first_turn.WaitForNotificationWithTimeout(absl::Seconds(30)));
  for (AcceptedEvent& e : events) watcher_->OnAccepted(std::move(e));
  all_queued.Notify();
  const bool together = holding.AwaitHeld(2, absl::Seconds(5));
  holding.ReleaseAll();
  if (!together) {  // the watcher waited for the first: let it go on to the second
    holding.AwaitHeld(1, absl::Seconds(5));
    holding.ReleaseAll();
  }
  watcher_->Drain();
  EXPECT_TRUE(together) << "the second child's notice waited for the first to be durable";
  auto sent = sink_.sent();
  ASSERT_THAT(sent, SizeIs(2));
  EXPECT_NE(sent[0].notice.subjects(0).identifiers(0).value(),
            sent[1].notice.subjects(0).identifiers(0).value());
}

// --- Plan drift.

TEST_F(ConcernTest, CoreGroupOverdueAlertsTheTeamManagerOnceAndNotBeforeDue) {
  clock_.Set(Day(2, 1));
  Publish(Plan(safeguard::v1::PLAN_TYPE_CHILD_PROTECTION, Day(1, 15)));  // due 15 Feb
  EXPECT_THAT(drift_->CheckNow(Day(2, 14)), IsEmpty());
  auto alerts = drift_->CheckNow(Day(2, 16));
  ASSERT_THAT(alerts, SizeIs(1));
  EXPECT_EQ(alerts[0].kind, "core-group-overdue");
  EXPECT_EQ(alerts[0].idempotency_key, "drift:csc-north:PLAN-1:core-group-overdue:2026-02-15");
  auto sent = sink_.sent();
  ASSERT_THAT(sent, SizeIs(1));
  EXPECT_EQ(sent[0].notice.type(), safeguard::v1::NOTIFICATION_TYPE_PLAN_DRIFT);
  EXPECT_THAT(sent[0].notice.summary(), HasSubstr("Core group overdue"));
  ASSERT_THAT(sent[0].targets, SizeIs(1));
  EXPECT_EQ(sent[0].targets[0].node->id, "csc-north");
  EXPECT_EQ(sent[0].targets[0].addressee, "tm-3");
  EXPECT_TRUE(sent[0].targets[0].as_lead_worker);
  // Checked again, and after a restart: the same lapse raises nothing new.
  drift_->CheckNow(Day(2, 17));
  OpenStores();
  auto after = drift_->CheckNow(Day(2, 18));
  ASSERT_THAT(after, SizeIs(1));
  EXPECT_TRUE(after[0].duplicate);
  EXPECT_THAT(sink_.sent(), SizeIs(1));
  // A core group recorded: the next is due a month on.
  auto inv = Plan(safeguard::v1::PLAN_TYPE_CHILD_PROTECTION, Day(1, 15));
  *inv.mutable_last_core_group() = ToTimestamp(Day(2, 20));
  clock_.Set(Day(2, 20));
  Publish(inv);
  EXPECT_THAT(drift_->CheckNow(Day(3, 20)), IsEmpty());
  ASSERT_THAT(drift_->CheckNow(Day(3, 24)), SizeIs(1));
  EXPECT_EQ(sink_.sent().back().notice.idempotency_key(),
            "drift:csc-north:PLAN-1:core-group-overdue:2026-03-23");

  policy::SharingRequest q{.sender = protocol::NodeType::kSocialCare,
                           .type = safeguard::v1::NOTIFICATION_TYPE_PLAN_DRIFT,
                           .child_status = policy::ChildStatus::kChildProtection,
                           .consent = policy::ConsentState::kNotSought,
                           .risk_of_harm = false,
                           .recipient = policy::RecipientRole::kLeadWorker};
  policy::Decision d = policy_->Evaluate(q);
  EXPECT_TRUE(d.shared());
  EXPECT_EQ(d.rule_id, "plan-drift");
}

TEST_F(ConcernTest, ReviewOverdueUntilANewReviewDateIsRecorded) {
  clock_.Set(Day(1, 1));
  auto inv = Plan(safeguard::v1::PLAN_TYPE_CHILD_IN_NEED, Day(1, 1), /*with_manager=*/false);
  *inv.mutable_next_review() = ToTimestamp(Day(3, 1));
  Publish(inv);
  EXPECT_THAT(drift_->CheckNow(Day(2, 28)), IsEmpty());
  auto alerts = drift_->CheckNow(Day(3, 2));
  ASSERT_THAT(alerts, SizeIs(1));
  EXPECT_EQ(alerts[0].kind, "review-overdue");
  EXPECT_EQ(alerts[0].idempotency_key, "drift:csc-north:PLAN-1:review-overdue:2026-03-01");
  // No team manager: the lead worker's node, addressed to the lead worker.
  EXPECT_EQ(sink_.sent()[0].targets[0].addressee, "sw-1");
  EXPECT_THAT(sink_.sent()[0].targets[0].reason, HasSubstr("no team manager"));

  // Another change that leaves the old review date does not silence it; a plan first
  // registered after its review date is overdue too.
  clock_.Set(Day(3, 2));
  inv.set_reference("PLAN-2");
  Publish(inv);
  int plan2 = 0;
  for (const auto& a : drift_->CheckNow(Day(3, 5))) {
    if (a.reference != "PLAN-2") continue;
    ++plan2;
    EXPECT_EQ(a.kind, "review-overdue");
  }
  EXPECT_EQ(plan2, 1);
  // The review held: the plan is published with its next review date, and nothing is overdue.
  *inv.mutable_next_review() = ToTimestamp(Day(6, 1));
  Publish(inv);
  inv.set_reference("PLAN-1");
  Publish(inv);
  EXPECT_THAT(drift_->CheckNow(Day(3, 6)), IsEmpty());
}

TEST_F(ConcernTest, PlanOverrunWithoutProgress) {
  clock_.Set(Day(1, 1));
  // Published on 1 January, open since 260 days before: over 273 days on 14 January, but a
  // version recorded on 1 January is progress until 29 January.
  Publish(Plan(safeguard::v1::PLAN_TYPE_EARLY_HELP, Day(1, 1) - absl::Hours(24 * 260)));
  EXPECT_THAT(drift_->CheckNow(Day(1, 10)), IsEmpty());
  EXPECT_THAT(drift_->CheckNow(Day(1, 20)), IsEmpty());
  auto alerts = drift_->CheckNow(Day(1, 30));
  ASSERT_THAT(alerts, SizeIs(1));
  EXPECT_EQ(alerts[0].kind, "overrun");
  EXPECT_EQ(alerts[0].idempotency_key, "drift:csc-north:PLAN-1:overrun:2026-01-29");
  // Progress recorded (a new version): the next lapse is a progress window on.
  clock_.Set(Day(2, 1));
  Publish(Plan(safeguard::v1::PLAN_TYPE_EARLY_HELP, Day(1, 1) - absl::Hours(24 * 260)));
  EXPECT_THAT(drift_->CheckNow(Day(2, 20)), IsEmpty());
  auto later = drift_->CheckNow(Day(3, 2));
  ASSERT_THAT(later, SizeIs(1));
  EXPECT_EQ(later[0].idempotency_key, "drift:csc-north:PLAN-1:overrun:2026-03-01");
  EXPECT_THAT(sink_.sent(), SizeIs(2));
}

}  // namespace
}  // namespace safeguard::concern
