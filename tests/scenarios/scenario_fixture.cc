#include "tests/scenarios/scenario_fixture.h"

#include <algorithm>
#include <atomic>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/time_util.h"

namespace safeguard::scenarios {
namespace {

using safeguard::v1::Delivery;

std::vector<testing::TestNode> ScenarioNodes() {
  return {
      {kGp, "gp", "swindon"},
      {kOtherGp, "gp", "swindon"},
      {kSchool, "school", "swindon"},
      {kPreSchool, "school", "swindon"},
      {kOtherSchool, "school", "swindon"},
      {kHousing, "housing", "swindon"},
      {kPolice, "police", "swindon"},
      {kFrontDoor, "front-door", "swindon"},
      {kCsc, "social-care", "swindon"},
      {kEarlyHelp, "early-help", "swindon"},
      {kCommunityHealth, "health", "swindon"},
      {kHospital, "health", "swindon"},
      {kAuditor, "auditor", "swindon"},
      {kOtherFrontDoor, "front-door", "oxford"},
  };
}

std::string AreasConfig() {
  return absl::StrCat("areas { code: \"swindon\" resolution_route: \"", kSwindonResolutionRoute,
                      "\" }\n");
}

template <typename T>
T OrFail(absl::StatusOr<T> result, absl::string_view what) {
  if (!result.ok()) {
    ADD_FAILURE() << what << ": " << result.status();
    return T();
  }
  return *std::move(result);
}

}  // namespace

std::vector<std::string> AllNodes() {
  std::vector<std::string> out;
  for (const auto& n : ScenarioNodes()) out.push_back(n.id);
  return out;
}

safeguard::v1::SubjectIdentifier Nhs(const std::string& number) {
  safeguard::v1::SubjectIdentifier id;
  id.set_scheme(safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER);
  id.set_value(number);
  return id;
}

safeguard::v1::SubjectIdentifier PoliceRef(const std::string& value, const std::string& issuer) {
  safeguard::v1::SubjectIdentifier id;
  id.set_scheme(safeguard::v1::IDENTIFIER_SCHEME_POLICE_REFERENCE);
  id.set_value(value);
  id.set_issuer(issuer);
  return id;
}

safeguard::v1::Address At(const std::string& line, const std::string& uprn) {
  safeguard::v1::Address a;
  a.add_lines(line);
  a.set_postcode("SN1 1AA");
  a.set_uprn(uprn);
  return a;
}

safeguard::v1::Worker MakeWorker(const std::string& node, const std::string& worker_id,
                                 const std::string& name, const std::string& role,
                                 const std::string& contact) {
  safeguard::v1::Worker w;
  w.set_node_id(node);
  w.set_worker_id(worker_id);
  w.set_name(name);
  w.set_team("North");
  w.set_contact(contact);
  w.set_role(role);
  return w;
}

ScenarioTest::ScenarioTest() : partnership_(ScenarioNodes(), AreasConfig()) {}

void ScenarioTest::SetUp() { partnership_.StartBroker(); }

client::BrokerClient& ScenarioTest::Broker(const std::string& node) {
  auto& c = brokers_[node];
  if (c == nullptr) c = partnership_.Client(node);
  return *c;
}

client::RegistryClient& ScenarioTest::Registry(const std::string& node) {
  auto& c = registries_[node];
  if (c == nullptr) {
    c = std::make_unique<client::RegistryClient>(
        Broker(node).channel(),
        client::ConnectionOptions{.broker_address = partnership_.address(),
                                  .call_timeout = absl::Seconds(10),
                                  .max_attempts = 1});
  }
  return *c;
}

safeguard::v1::Involvement ScenarioTest::Plan(const std::string& reference,
                                              safeguard::v1::PlanType type,
                                              const safeguard::v1::SubjectIdentifier& child,
                                              const std::string& display_name,
                                              const safeguard::v1::Worker& lead_worker,
                                              const safeguard::v1::Worker& escalation_contact) {
  safeguard::v1::Involvement inv;
  inv.set_reference(reference);
  inv.set_plan_type(type);
  *inv.add_child() = child;
  inv.set_child_display_name(display_name);
  *inv.mutable_lead_worker() = lead_worker;
  if (!escalation_contact.worker_id().empty() || !escalation_contact.name().empty()) {
    *inv.mutable_escalation_contact() = escalation_contact;
  }
  auto now = google::protobuf::util::TimeUtil::GetCurrentTime();
  *inv.mutable_start() = now;
  *inv.mutable_next_review() = now + google::protobuf::util::TimeUtil::HoursToDuration(24 * 84);
  return inv;
}

safeguard::v1::PutInvolvementResponse ScenarioTest::Publish(
    const std::string& node, const safeguard::v1::Involvement& involvement) {
  return OrFail(Registry(node).PutInvolvement(involvement),
                absl::StrCat(node, " PutInvolvement ", involvement.reference()));
}

void ScenarioTest::Close(const std::string& node, const std::string& reference,
                         const std::string& reason) {
  auto closed = Registry(node).CloseInvolvement(reference, reason);
  EXPECT_TRUE(closed.ok()) << node << " CloseInvolvement " << reference << ": "
                           << closed.status();
}

safeguard::v1::PutHouseholdResponse ScenarioTest::PublishHousehold(
    const std::string& node, const std::string& reference, const std::vector<Member>& members,
    const safeguard::v1::Address& address) {
  safeguard::v1::Household h;
  h.set_reference(reference);
  for (const Member& m : members) {
    auto* member = h.add_members();
    member->set_role(m.role);
    *member->add_identifiers() = m.id;
    member->set_display_name(m.name);
    member->set_relationship(m.relationship);
  }
  *h.mutable_address() = address;
  return OrFail(Registry(node).PutHousehold(h), absl::StrCat(node, " PutHousehold ", reference));
}

safeguard::v1::UpdateServedChildrenResponse ScenarioTest::Serve(
    const std::string& node, const std::vector<safeguard::v1::SubjectIdentifier>& children) {
  return OrFail(Registry(node).ReplaceServedChildren(children),
                absl::StrCat(node, " UpdateServedChildren"));
}

safeguard::v1::ChildRecord ScenarioTest::GetChild(const std::string& node,
                                                  const safeguard::v1::SubjectIdentifier& id) {
  return OrFail(Registry(node).GetChild(id), absl::StrCat(node, " GetChild"));
}

std::vector<safeguard::v1::Flag> ScenarioTest::Flags(const std::string& node,
                                                     uint64_t after_cursor) {
  safeguard::v1::SubscribeFlagsRequest request;
  request.set_after_cursor(after_cursor);
  request.set_follow(false);
  std::vector<safeguard::v1::Flag> out;
  absl::Status s = Registry(node).SubscribeFlags(request, [&](const safeguard::v1::Flag& f) {
    out.push_back(f);
    return true;
  });
  EXPECT_TRUE(s.ok()) << node << " SubscribeFlags: " << s;
  return out;
}

safeguard::v1::LookupChildResponse ScenarioTest::Lookup(
    const std::string& node, const safeguard::v1::SubjectIdentifier& id,
    safeguard::v1::LookupReason reason, const std::string& by) {
  return OrFail(Registry(node).LookupChild(id, reason, by), absl::StrCat(node, " LookupChild"));
}

safeguard::v1::Notification ScenarioTest::Make(const Event& event) const {
  static std::atomic<int> counter{0};
  safeguard::v1::Notification n;
  n.set_idempotency_key(absl::StrCat("scenario-", ++counter));
  n.set_type(event.type);
  n.set_severity(event.severity);
  for (const auto& id : event.about) *n.add_subjects()->add_identifiers() = id;
  n.set_summary(event.summary);
  *n.mutable_occurred_at() = google::protobuf::util::TimeUtil::GetCurrentTime() -
                             google::protobuf::util::TimeUtil::SecondsToDuration(60);
  if (!event.address.lines().empty() || !event.address.uprn().empty()) {
    *n.mutable_address() = event.address;
  }
  for (const auto& r : event.recipients) n.add_recipients(r);
  n.mutable_sharing()->set_risk_of_harm(event.risk_of_harm);
  n.mutable_sharing()->set_consent(event.consent);
  if (event.consent == safeguard::v1::CONSENT_STATE_NOT_SOUGHT) {
    n.mutable_sharing()->set_not_sought_reason(
        event.risk_of_harm ? safeguard::v1::NOT_SOUGHT_REASON_WOULD_PREJUDICE_PROTECTION
                           : safeguard::v1::NOT_SOUGHT_REASON_NOT_THE_LAWFUL_BASIS);
  }
  return n;
}

safeguard::v1::SubmitResponse ScenarioTest::Send(const std::string& node, const Event& event) {
  return OrFail(Broker(node).Submit(Make(event)),
                absl::StrCat(node, " Submit ",
                             safeguard::v1::NotificationType_Name(event.type)));
}

std::vector<Delivery> ScenarioTest::AgencyMailbox(const std::string& node) {
  std::vector<Delivery> out;
  for (Delivery& d : Mailbox(node)) {
    if (d.sender_node_type() != "broker") out.push_back(std::move(d));
  }
  return out;
}

std::vector<Delivery> ScenarioTest::AwaitBrokerNotices(const std::string& node,
                                                       safeguard::v1::NotificationType type,
                                                       size_t count, absl::Duration within) {
  absl::Time give_up = absl::Now() + within;
  std::vector<Delivery> out;
  for (;;) {
    out.clear();
    for (Delivery& d : Mailbox(node, /*include_acknowledged=*/true)) {
      if (d.sender_node_type() == "broker" && d.notification().type() == type) {
        out.push_back(std::move(d));
      }
    }
    if (out.size() >= count || absl::Now() > give_up) return out;
    absl::SleepFor(absl::Milliseconds(200));
  }
}

std::vector<Delivery> ScenarioTest::Mailbox(const std::string& node, bool include_acknowledged) {
  safeguard::v1::SubscribeRequest request;
  request.set_include_acknowledged(include_acknowledged);
  request.set_follow(false);
  std::vector<Delivery> out;
  absl::Status s = Broker(node).Subscribe(request, [&](const Delivery& d) {
    out.push_back(d);
    return true;
  });
  EXPECT_TRUE(s.ok()) << node << " Subscribe: " << s;
  return out;
}

std::vector<Delivery> ScenarioTest::MailboxFor(const std::string& node,
                                               const std::string& notification_id,
                                               bool include_acknowledged) {
  std::vector<Delivery> out;
  for (auto& d : Mailbox(node, include_acknowledged)) {
    if (d.notification_id() == notification_id) out.push_back(std::move(d));
  }
  return out;
}

safeguard::v1::AcknowledgeResponse ScenarioTest::Ack(const std::string& node, uint64_t cursor,
                                                     const std::string& by) {
  return OrFail(Broker(node).Acknowledge(cursor, by), absl::StrCat(node, " Acknowledge"));
}

grpc::Status ScenarioTest::RecordOutcome(const std::string& node, uint64_t cursor,
                                         safeguard::v1::OutcomeKind kind,
                                         const std::string& rationale, const std::string& by,
                                         safeguard::v1::Outcome* outcome,
                                         const std::string& challenge_route) {
  safeguard::v1::RecordOutcomeRequest request;
  request.set_cursor(cursor);
  request.set_kind(kind);
  request.set_rationale(rationale);
  request.set_recorded_by(by);
  request.set_challenge_route(challenge_route);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  safeguard::v1::Outcome ignored;
  return Broker(node).stub().RecordOutcome(&context, request, outcome ? outcome : &ignored);
}

safeguard::v1::NotificationStatus ScenarioTest::Status(const std::string& node,
                                                       const std::string& notification_id) {
  return OrFail(Broker(node).GetStatus(notification_id), absl::StrCat(node, " GetStatus"));
}

std::vector<safeguard::v1::Recipient> ScenarioTest::RecipientsOn(
    const safeguard::v1::SubmitResponse& sent, const std::string& node) {
  std::vector<safeguard::v1::Recipient> out;
  for (const auto& r : sent.recipients()) {
    if (r.node_id() == node) out.push_back(r);
  }
  return out;
}

std::vector<std::string> ScenarioTest::RecipientNodes(const safeguard::v1::SubmitResponse& sent) {
  std::vector<std::string> out;
  for (const auto& r : sent.recipients()) {
    if (std::find(out.begin(), out.end(), r.node_id()) == out.end()) out.push_back(r.node_id());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void ScenarioTest::ExpectOnlyDelivered(const std::string& notification_id,
                                       const std::vector<std::string>& allowed) {
  for (const std::string& node : AllNodes()) {
    if (node == kAuditor) continue;  // auditors have no mailbox
    if (std::find(allowed.begin(), allowed.end(), node) != allowed.end()) continue;
    auto got = MailboxFor(node, notification_id);
    EXPECT_TRUE(got.empty()) << node << " should not have received notification "
                             << notification_id << " but got it " << got.size()
                             << " time(s), route '" << got.front().route() << "'";
  }
}

}  // namespace safeguard::scenarios
