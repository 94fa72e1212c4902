// The C++ SDK for the Registry service (proto/safeguard/v1/registry.proto), over the same mutual
// TLS connection as BrokerClient.
//
//   auto registry = RegistryClient::Connect({.broker_address = "broker.example:7443",
//                                            .identity = *LoadIdentityDirectory("/etc/gp")});
//   (*registry)->ReplaceServedChildren(practice_list);
//   (*registry)->SubscribeFlags({.after_cursor = saved, .follow = true},
//                               [](const Flag& f) { Save(f); return true; });
//   auto seen = (*registry)->LookupChild(*ParseIdentifier("nhs:9434765919"),
//                                        LOOKUP_REASON_ATTENDANCE, "Dr Patel");
#ifndef SAFEGUARD_CLIENTS_SDK_REGISTRY_CLIENT_H_
#define SAFEGUARD_CLIENTS_SDK_REGISTRY_CLIENT_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clients/sdk/broker_client.h"
#include "safeguard/v1/registry.grpc.pb.h"

namespace safeguard::client {

// "nhs:943 476 5919", "upn:A123456789012", "police:CR-1@police-wiltshire", "housing:...",
// "la:...", "local:..." (issuer after '@', for local references). NHS numbers are checked
// (modulus 11) and normalised to 10 digits; UPNs checked and upper-cased. INVALID_ARGUMENT
// saying what to fix.
absl::StatusOr<safeguard::v1::SubjectIdentifier> ParseIdentifier(absl::string_view text);
// The inverse: "nhs:9434765919".
std::string FormatIdentifier(const safeguard::v1::SubjectIdentifier& id);

// "child-protection" for PLAN_TYPE_CHILD_PROTECTION; ParsePlanType is the inverse (nullopt for
// an unknown word).
std::string PlanTypeWord(safeguard::v1::PlanType plan);
std::optional<safeguard::v1::PlanType> ParsePlanType(absl::string_view word);

// A flag in one line for people, without its identifier: "child-protection plan, lead worker
// Sam Jones (North) 01793 000000; escalation: Team manager duty line, 01793 111111; next review
// 2026-04-05", or "not flagged (no open plan)".
std::string DescribeFlag(const safeguard::v1::Flag& flag);
// "Sam Jones (North) 01793 000000".
std::string DescribeWorker(const safeguard::v1::Worker& worker);

// Thread-safe.
class RegistryClient {
 public:
  // Opens a mutually authenticated channel exactly as BrokerClient::Connect does.
  static absl::StatusOr<std::unique_ptr<RegistryClient>> Connect(ConnectionOptions options);
  // Shares an open channel (e.g. BrokerClient::channel()).
  RegistryClient(std::shared_ptr<grpc::Channel> channel, ConnectionOptions options);

  // --- Social-care, early-help and front-door nodes.
  absl::StatusOr<safeguard::v1::PutInvolvementResponse> PutInvolvement(
      safeguard::v1::Involvement involvement);
  // `reason`: e.g. "stepped down to early help". `end`: default now.
  absl::StatusOr<safeguard::v1::PutInvolvementResponse> CloseInvolvement(
      std::string reference, std::string reason, std::optional<absl::Time> end = std::nullopt);
  absl::StatusOr<safeguard::v1::PutHouseholdResponse> PutHousehold(
      safeguard::v1::Household household);
  absl::StatusOr<safeguard::v1::ChildRecord> GetChild(safeguard::v1::SubjectIdentifier id);

  // --- GP, health and school nodes.
  absl::StatusOr<safeguard::v1::UpdateServedChildrenResponse> UpdateServedChildren(
      const safeguard::v1::UpdateServedChildrenRequest& request);
  // The whole list (replaces the previous one).
  absl::StatusOr<safeguard::v1::UpdateServedChildrenResponse> ReplaceServedChildren(
      const std::vector<safeguard::v1::SubjectIdentifier>& children);
  // Streams this node's flags in cursor order, calling `on_flag` until it returns false, the
  // stream ends (follow=false: caught up) or Cancel() is called. With follow=true a broken
  // connection is re-opened from the last cursor received, with back-off.
  absl::Status SubscribeFlags(safeguard::v1::SubscribeFlagsRequest request,
                              const std::function<bool(const safeguard::v1::Flag&)>& on_flag);
  // Ends a SubscribeFlags running on another thread.
  void Cancel();
  // Not retried on a timeout (a retry could tell the lead worker twice); retried when the
  // broker was unreachable.
  absl::StatusOr<safeguard::v1::LookupChildResponse> LookupChild(
      safeguard::v1::SubjectIdentifier id, safeguard::v1::LookupReason reason,
      std::string looked_up_by);

  // For tests and advanced callers: the raw stub, with no local checks or retries.
  safeguard::v1::Registry::Stub& stub() { return *stub_; }

 private:
  template <typename Call>
  absl::Status WithRetries(const Call& call, bool retry_deadline = true);

  const ConnectionOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<safeguard::v1::Registry::Stub> stub_;
  absl::Mutex mu_;
  grpc::ClientContext* streaming_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace safeguard::client

#endif  // SAFEGUARD_CLIENTS_SDK_REGISTRY_CLIENT_H_
