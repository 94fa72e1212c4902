// End-to-end scenario tests (../shared/domain/requirements.md §7): a partnership shaped like the
// §7.0 notation, the real safeguard-broker binary, and helpers that speak as each agency does —
// publish plans and households, register served children, send notifications, read a mailbox,
// acknowledge, record an outcome, follow a notification.
//
// The helpers fail the current test (with the broker's own message) when a call fails, and
// return an empty value, so a scenario reads as its story.
#ifndef SAFEGUARD_TESTS_SCENARIOS_SCENARIO_FIXTURE_H_
#define SAFEGUARD_TESTS_SCENARIOS_SCENARIO_FIXTURE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "clients/sdk/broker_client.h"
#include "clients/sdk/registry_client.h"
#include "gtest/gtest.h"
#include "safeguard/v1/broker.pb.h"
#include "safeguard/v1/registry.pb.h"
#include "tests/integration/test_partnership.h"

namespace safeguard::scenarios {

// The §7.0 nodes, by their node ids. LAEDU, ADS, CC, VCS and LA2 have no node type of their own
// today and are left out.
inline constexpr char kGp[] = "gp-riverside";             // GP (serves the scenario's children)
inline constexpr char kOtherGp[] = "gp-eastcott";         // a GP that serves none of them
inline constexpr char kSchool[] = "school-oakfield";      // SCH
inline constexpr char kPreSchool[] = "preschool-acorns";  // SCH (pre-school, node type school)
inline constexpr char kOtherSchool[] = "school-hillside"; // a school that serves none of them
inline constexpr char kHousing[] = "housing-swindon";     // HSG
inline constexpr char kPolice[] = "police-wiltshire";     // POL
inline constexpr char kFrontDoor[] = "fd-swindon";        // FD
inline constexpr char kCsc[] = "csc-team-north";          // CSC
inline constexpr char kEarlyHelp[] = "eh-swindon";        // EH
inline constexpr char kCommunityHealth[] = "ch-swindon";  // CH (node type health)
inline constexpr char kHospital[] = "hosp-gwh";           // HOSP (node type health)
inline constexpr char kAuditor[] = "auditor-scp";         // AUD
inline constexpr char kOtherFrontDoor[] = "fd-oxford";    // another area's front door

// The area's resolution route in the broker's configuration (the default challenge route when
// the child has no plan with a named escalation contact).
inline constexpr char kSwindonResolutionRoute[] =
    "Swindon Safeguarding Partnership Resolution Policy: CSC duty manager, 01793 000000";

// Every node of the scenario partnership.
std::vector<std::string> AllNodes();

// A person in a scenario: the identifier the agencies know them by.
safeguard::v1::SubjectIdentifier Nhs(const std::string& number);
// A local reference issued by `issuer` (e.g. the police's person reference for an adult).
safeguard::v1::SubjectIdentifier PoliceRef(const std::string& value, const std::string& issuer);

safeguard::v1::Address At(const std::string& line, const std::string& uprn);

// A worker of `node` (lead worker, escalation contact, ...).
safeguard::v1::Worker MakeWorker(const std::string& node, const std::string& worker_id,
                                 const std::string& name, const std::string& role,
                                 const std::string& contact = "01793 100100");

// What a scenario sends: one notification about one or more children.
struct Event {
  safeguard::v1::NotificationType type = safeguard::v1::NOTIFICATION_TYPE_CONCERN_REFERRAL;
  std::vector<safeguard::v1::SubjectIdentifier> about;  // one subject per identifier
  std::string summary = "A concern about the child";
  bool risk_of_harm = true;
  safeguard::v1::ConsentState consent = safeguard::v1::CONSENT_STATE_NOT_SOUGHT;
  safeguard::v1::Severity severity = safeguard::v1::SEVERITY_CONCERN;
  safeguard::v1::Address address;  // empty: none
  std::vector<std::string> recipients;  // named nodes
};

class ScenarioTest : public ::testing::Test {
 protected:
  ScenarioTest();
  void SetUp() override;

  testing::TestPartnership& partnership() { return partnership_; }
  client::BrokerClient& Broker(const std::string& node);
  client::RegistryClient& Registry(const std::string& node);

  // --- Registry writes (social care, early help, front door) and served lists (GP, health,
  // school). Each fails the test if the broker refuses.
  safeguard::v1::Involvement Plan(const std::string& reference, safeguard::v1::PlanType type,
                                  const safeguard::v1::SubjectIdentifier& child,
                                  const std::string& display_name,
                                  const safeguard::v1::Worker& lead_worker,
                                  const safeguard::v1::Worker& escalation_contact = {});
  safeguard::v1::PutInvolvementResponse Publish(const std::string& node,
                                                const safeguard::v1::Involvement& involvement);
  void Close(const std::string& node, const std::string& reference, const std::string& reason);
  struct Member {
    safeguard::v1::HouseholdRole role;
    safeguard::v1::SubjectIdentifier id;
    std::string name;
    std::string relationship;
  };
  safeguard::v1::PutHouseholdResponse PublishHousehold(const std::string& node,
                                                       const std::string& reference,
                                                       const std::vector<Member>& members,
                                                       const safeguard::v1::Address& address);
  // Replaces the node's served list.
  safeguard::v1::UpdateServedChildrenResponse Serve(
      const std::string& node, const std::vector<safeguard::v1::SubjectIdentifier>& children);
  safeguard::v1::ChildRecord GetChild(const std::string& node,
                                      const safeguard::v1::SubjectIdentifier& id);
  // The node's flag stream from `after_cursor` (follow=false).
  std::vector<safeguard::v1::Flag> Flags(const std::string& node, uint64_t after_cursor = 0);
  safeguard::v1::LookupChildResponse Lookup(const std::string& node,
                                            const safeguard::v1::SubjectIdentifier& id,
                                            safeguard::v1::LookupReason reason,
                                            const std::string& by);

  // --- Broker.
  safeguard::v1::Notification Make(const Event& event) const;
  safeguard::v1::SubmitResponse Send(const std::string& node, const Event& event);
  // The node's mailbox (follow=false); all of it, or only what one notification put there.
  std::vector<safeguard::v1::Delivery> Mailbox(const std::string& node,
                                               bool include_acknowledged = false);
  // Only what agencies sent (not the broker's own notices: cumulative concerns, escalations).
  std::vector<safeguard::v1::Delivery> AgencyMailbox(const std::string& node);
  // Waits (real time, polling) until the node's mailbox holds at least `count` notices of
  // `type` from the broker, and returns them (fewer if `within` passed first).
  std::vector<safeguard::v1::Delivery> AwaitBrokerNotices(
      const std::string& node, safeguard::v1::NotificationType type, size_t count,
      absl::Duration within = absl::Seconds(15));
  std::vector<safeguard::v1::Delivery> MailboxFor(const std::string& node,
                                                  const std::string& notification_id,
                                                  bool include_acknowledged = true);
  safeguard::v1::AcknowledgeResponse Ack(const std::string& node, uint64_t cursor,
                                         const std::string& by);
  // Returns the broker's answer; `challenge_route` empty asks for the default.
  grpc::Status RecordOutcome(const std::string& node, uint64_t cursor,
                             safeguard::v1::OutcomeKind kind, const std::string& rationale,
                             const std::string& by, safeguard::v1::Outcome* outcome,
                             const std::string& challenge_route = "");
  safeguard::v1::NotificationStatus Status(const std::string& node,
                                           const std::string& notification_id);

  // --- Reading answers.
  // The recipients on `node` (a lead worker node may appear once per worker addressed).
  static std::vector<safeguard::v1::Recipient> RecipientsOn(
      const safeguard::v1::SubmitResponse& sent, const std::string& node);
  static std::vector<std::string> RecipientNodes(const safeguard::v1::SubmitResponse& sent);
  // The nodes (of AllNodes, sender excluded) whose mailbox holds nothing of this notification
  // are fine; this fails the test for every node outside `allowed` that received it.
  void ExpectOnlyDelivered(const std::string& notification_id,
                           const std::vector<std::string>& allowed);

 private:
  testing::TestPartnership partnership_;
  std::map<std::string, std::unique_ptr<client::BrokerClient>> brokers_;
  std::map<std::string, std::unique_ptr<client::RegistryClient>> registries_;
};

}  // namespace safeguard::scenarios

#endif  // SAFEGUARD_TESTS_SCENARIOS_SCENARIO_FIXTURE_H_
