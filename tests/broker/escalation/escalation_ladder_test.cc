// The escalation ladder over the real SQLite store and registry, with a fake clock.
#include "broker/escalation/escalation_ladder.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "broker/config/broker_config.h"
#include "broker/storage/sqlite_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"

namespace safeguard::escalation {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

using testing::FakeClock;

absl::Time At(int day, int hour, int minute = 0) {  // November 2026, UTC
  return absl::FromCivil(absl::CivilMinute(2026, 11, day, hour, minute), absl::UTCTimeZone());
}

constexpr char kChild[] = "9434765919";

// What the broker would do with a notice: store it as a notification with one delivery per
// target, taking the step in the same transaction.
class StoringSink final : public EscalationSink {
 public:
  explicit StoringSink(storage::Store*& store) : store_(store) {}
  void Send(safeguard::v1::Notification notice, std::vector<routing::ResolvedRecipient> targets,
            storage::AcceptRequest::EscalationStep step, Done done) override {
    storage::AcceptRequest request;
    request.notification_id = absl::StrCat("notice", ++count_, "-", step.cursor, "-", step.step);
    request.notification_id.resize(32, '0');
    request.sender = "broker";
    request.idempotency_key = notice.idempotency_key();
    request.content_digest = notice.idempotency_key();
    request.type = notice.type();
    safeguard::v1::SignedPayload payload;
    *payload.mutable_core() = notice;
    safeguard::v1::SignedEnvelope envelope;
    envelope.set_payload(payload.SerializeAsString());
    request.envelope = envelope.SerializeAsString();
    request.envelope_digest = "digest";
    for (const auto& t : targets) {
      storage::AcceptRequest::Delivery& d = request.deliveries.emplace_back();
      d.node_id = t.node->id;
      d.role = t.as_lead_worker ? "lead-worker" : "front-door";
      d.route = t.reason;
      d.addressee = t.addressee;
      d.escalation_of = step.cursor;
    }
    request.escalates = step;
    sent.push_back({notice, targets});
    store_->Accept(std::move(request), [done = std::move(done)](
                                           absl::StatusOr<storage::Accepted> a) mutable {
      if (!a.ok()) {
        std::move(done)(a.status());
        return;
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
  };
  std::vector<Sent> sent;

 private:
  storage::Store*& store_;
  int count_ = 0;
};

class EscalationLadderTest : public ::testing::Test {
 protected:
  EscalationLadderTest()
      : dir_(std::filesystem::temp_directory_path() /
             absl::StrCat("escalation-test-", ::getpid(), "-", counter_++)),
        nodes_(*config::ParseBrokerConfig(R"(
partnership: "demo.example" listen_address: "127.0.0.1:1" data_directory: "d" policy_file: "p"
tls { certificate: "c" private_key: "k" ca_certificate: "a" }
nodes { id: "gp-riverside" type: "gp" area: "swindon" }
nodes { id: "fd-swindon" type: "front-door" area: "swindon" }
nodes { id: "csc-north" type: "social-care" area: "swindon" }
nodes { id: "edt-wiltshire" type: "social-care" area: "swindon" }
)",
                                          "/b.conf")),
        sink_(store_ptr_) {
    std::filesystem::create_directories(dir_);
    clock_.Set(At(20, 10));  // Friday 20 November 2026, 10:00
    OpenStores();
  }
  ~EscalationLadderTest() override {
    ladder_.reset();
    store_.reset();
    children_.reset();
    std::filesystem::remove_all(dir_);
  }

  // (Re)opens the store, registry and ladder on the same files: a broker restart.
  void OpenStores() {
    ladder_.reset();
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
    LadderOptions options;
    options.step_due = [](const std::string&, absl::Time from, int) {
      return from + absl::Hours(4);
    };
    options.office_hours = [](const std::string&, absl::Time t) {
      absl::CivilHour h = absl::ToCivilHour(t, absl::UTCTimeZone());
      absl::Weekday day = absl::GetWeekday(absl::CivilDay(h));
      return h.hour() >= 9 && h.hour() < 17 && day != absl::Weekday::saturday &&
             day != absl::Weekday::sunday;
    };
    options.emergency_duty_nodes["swindon"] = "edt-wiltshire";
    ladder_ = std::make_unique<EscalationLadder>(*store_, children_.get(), nodes_, sink_, clock_,
                                                 options);
  }

  void Plan(bool with_deputy_and_manager) {
    safeguard::v1::Involvement inv;
    inv.set_reference("CP-1");
    inv.set_plan_type(safeguard::v1::PLAN_TYPE_CHILD_PROTECTION);
    auto* id = inv.add_child();
    id->set_scheme(safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER);
    id->set_value(kChild);
    auto worker = [](safeguard::v1::Worker* w, const std::string& id) {
      w->set_worker_id(id);
      w->set_name("Worker " + id);
      w->set_contact("01793 000000");
    };
    worker(inv.mutable_lead_worker(), "sw-1");
    if (with_deputy_and_manager) {
      worker(inv.mutable_deputy(), "sw-2");
      worker(inv.mutable_team_manager(), "tm-3");
    }
    worker(inv.mutable_escalation_contact(), "tm-3");
    ASSERT_TRUE(children_->PutInvolvement("csc-north", "swindon", inv).ok());
  }

  // Accepts a notification for the lead worker, due at `due`; returns the delivery's cursor.
  uint64_t Deliver(absl::Time due, const std::string& role = "lead-worker",
                   const std::string& mailbox = "csc-north") {
    storage::AcceptRequest request;
    request.notification_id = absl::StrCat("original", ++originals_);
    request.notification_id.resize(32, '0');
    request.sender = "gp-riverside";
    request.idempotency_key = request.notification_id;
    request.content_digest = request.notification_id;
    request.type = safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT;
    safeguard::v1::SignedPayload payload;
    payload.mutable_core()->set_type(request.type);
    auto* subject = payload.mutable_core()->add_subjects();
    subject->set_area("swindon");
    auto* id = subject->add_identifiers();
    id->set_scheme(safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER);
    id->set_value(kChild);
    safeguard::v1::SignedEnvelope envelope;
    envelope.set_payload(payload.SerializeAsString());
    request.envelope = envelope.SerializeAsString();
    request.envelope_digest = "digest";
    storage::AcceptRequest::Delivery& d = request.deliveries.emplace_back();
    d.node_id = mailbox;
    d.role = role;
    d.addressee = role == "lead-worker" ? "sw-1" : "";
    d.due_at = due;
    d.deadline_class = "one-working-day";
    absl::Notification done;
    uint64_t cursor = 0;
    store_->Accept(std::move(request), [&](absl::StatusOr<storage::Accepted> a) {
      EXPECT_TRUE(a.ok()) << a.status();
      done.Notify();
    });
    done.WaitForNotification();
    auto box = store_->ReadMailbox(mailbox, 0, true, 1000);
    EXPECT_TRUE(box.ok());
    cursor = box->back().cursor;
    return cursor;
  }

  void MarkDelivered(const std::string& mailbox, uint64_t cursor) {
    store_->MarkDelivered(mailbox, cursor, safeguard::v1::AuditEntry());
    Flush();
  }

  void Acknowledge(const std::string& mailbox, uint64_t cursor) {
    absl::Notification done;
    store_->Acknowledge(mailbox, cursor, "someone", safeguard::v1::AuditEntry(),
                        [&](absl::StatusOr<storage::Acknowledged> a) {
                          EXPECT_TRUE(a.ok()) << a.status();
                          done.Notify();
                        });
    done.WaitForNotification();
  }

  // Waits until everything queued is committed.
  void Flush() {
    absl::Notification done;
    store_->Acknowledge("nobody", 1, "flush", safeguard::v1::AuditEntry(),
                        [&](absl::StatusOr<storage::Acknowledged>) { done.Notify(); });
    done.WaitForNotification();
  }

  int Check() {
    auto n = ladder_->CheckNow();
    EXPECT_TRUE(n.ok()) << n.status();
    return n.ok() ? *n : -1;
  }

  std::string LastTarget() {
    if (sink_.sent.empty()) return "";
    const auto& t = sink_.sent.back().targets.front();
    return t.node->id + (t.addressee.empty() ? "" : "/" + t.addressee);
  }

  static inline int counter_ = 0;
  std::filesystem::path dir_;
  FakeClock clock_;
  identity::NodeRegistry nodes_;
  storage::Store* store_ptr_ = nullptr;
  StoringSink sink_;
  std::unique_ptr<storage::SqliteStore> store_;
  std::unique_ptr<registry::RegistryStore> children_;
  std::unique_ptr<EscalationLadder> ladder_;
  int originals_ = 0;
};

TEST_F(EscalationLadderTest, ClimbsDeputyTeamManagerFrontDoorOneStepPerDeadline) {
  Plan(true);
  uint64_t cursor = Deliver(At(20, 12));
  MarkDelivered("csc-north", cursor);

  clock_.Set(At(20, 11, 59));
  EXPECT_EQ(Check(), 0) << "nothing is escalated before it is due";

  clock_.Set(At(20, 12, 1));
  EXPECT_EQ(Check(), 1);
  EXPECT_EQ(LastTarget(), "csc-north/sw-2");
  EXPECT_THAT(sink_.sent.back().notice.summary(), HasSubstr("Escalation step 1: deputy"));
  EXPECT_EQ(sink_.sent.back().notice.type(), safeguard::v1::NOTIFICATION_TYPE_ESCALATION);
  EXPECT_EQ(Check(), 0) << "a step fires once";

  clock_.Set(At(20, 16, 2));  // four hours later
  EXPECT_EQ(Check(), 1);
  EXPECT_EQ(LastTarget(), "csc-north/tm-3");

  clock_.Set(At(20, 20, 5));  // still Friday, 20:05: out of hours
  EXPECT_EQ(Check(), 1);
  EXPECT_EQ(LastTarget(), "edt-wiltshire");
  EXPECT_THAT(sink_.sent.back().notice.summary(), HasSubstr("last step"));

  clock_.Set(At(23, 10));
  EXPECT_EQ(Check(), 0) << "the ladder ends with the human route";
  EXPECT_THAT(sink_.sent, SizeIs(3));

  // The referrer sees each step.
  auto box = store_->ReadMailbox("csc-north", 0, true, 100);
  ASSERT_TRUE(box.ok());
  auto status = store_->GetStatus(box->front().notification_id);
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_THAT(status->recipients, SizeIs(1));
  EXPECT_THAT(status->recipients[0].escalations, SizeIs(3));
}

TEST_F(EscalationLadderTest, InOfficeHoursTheLastStepIsTheFrontDoor) {
  Plan(false);  // no deputy, no team manager: straight to the human route
  uint64_t cursor = Deliver(At(20, 12));
  MarkDelivered("csc-north", cursor);
  clock_.Set(At(20, 13));
  EXPECT_EQ(Check(), 1);
  EXPECT_EQ(LastTarget(), "fd-swindon");
}

TEST_F(EscalationLadderTest, AcknowledgingTheOriginalOrANoticeEndsTheLadder) {
  Plan(true);
  uint64_t first = Deliver(At(20, 12));
  uint64_t second = Deliver(At(20, 12));
  MarkDelivered("csc-north", first);
  MarkDelivered("csc-north", second);
  clock_.Set(At(20, 12, 30));
  EXPECT_EQ(Check(), 2);
  // The lead worker acknowledges the first; the deputy acknowledges the notice about the second.
  Acknowledge("csc-north", first);
  auto box = store_->ReadMailbox("csc-north", second, false, 100);
  ASSERT_TRUE(box.ok());
  ASSERT_FALSE(box->empty());
  Acknowledge("csc-north", box->back().cursor);  // the deputy's notice
  clock_.Set(At(21, 12));
  EXPECT_EQ(Check(), 0);
}

TEST_F(EscalationLadderTest, ARestartInTheMiddleOfALadderResumesItWithoutRepeatingAStep) {
  Plan(true);
  uint64_t cursor = Deliver(At(20, 12));
  MarkDelivered("csc-north", cursor);
  clock_.Set(At(20, 12, 1));
  EXPECT_EQ(Check(), 1);
  OpenStores();  // the broker restarts
  EXPECT_EQ(Check(), 0) << "step 1 is not sent again";
  clock_.Set(At(20, 16, 5));
  EXPECT_EQ(Check(), 1);
  EXPECT_EQ(LastTarget(), "csc-north/tm-3");
}

TEST_F(EscalationLadderTest, ANotificationNeverCollectedGoesStraightToAHumanRoute) {
  Plan(true);
  Deliver(At(20, 12));  // never sent on a stream: the team's system is down
  clock_.Set(At(20, 12, 1));
  EXPECT_EQ(Check(), 1);
  EXPECT_EQ(LastTarget(), "fd-swindon");
  EXPECT_THAT(sink_.sent.back().notice.summary(), HasSubstr("Not collected in time"));
  clock_.Set(At(25, 12));
  EXPECT_EQ(Check(), 0) << "never a silent dead letter, and never the same alarm twice";
}

TEST_F(EscalationLadderTest, TheFrontDoorsOwnLateDeliveryGoesToTheEmergencyDutyTeam) {
  uint64_t cursor = Deliver(At(20, 12), "front-door", "fd-swindon");
  MarkDelivered("fd-swindon", cursor);
  clock_.Set(At(20, 13));
  EXPECT_EQ(Check(), 1);
  EXPECT_EQ(LastTarget(), "edt-wiltshire");
}

}  // namespace
}  // namespace safeguard::escalation
