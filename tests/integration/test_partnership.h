// A real partnership for integration tests: a CA and node certificates minted at test time with
// certs/safeguard-certs, a broker configuration, and the real safeguard-broker binary started on
// 127.0.0.1 port 0.
#ifndef SAFEGUARD_TESTS_INTEGRATION_TEST_PARTNERSHIP_H_
#define SAFEGUARD_TESTS_INTEGRATION_TEST_PARTNERSHIP_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "clients/protocol/envelope.h"
#include "clients/sdk/broker_client.h"

namespace safeguard::testing {

struct TestNode {
  std::string id;
  std::string type;
  std::string area;
};

// The demo-like partnership most tests use: two areas, each with a front door.
std::vector<TestNode> DefaultNodes();

// Thread-compatible.
class TestPartnership {
 public:
  // Mints the CA, the broker's certificate and one certificate per node in a fresh temporary
  // directory, and writes broker.conf. Does not start the broker.
  explicit TestPartnership(std::vector<TestNode> nodes = DefaultNodes(),
                           std::string extra_config = "");
  ~TestPartnership();

  // Replaces the sharing policy with `yaml` (e.g. the default with a shorter deadline).
  void UsePolicy(const std::string& yaml);
  // Extra command-line flags for the broker, e.g. "--escalation_check_seconds=1".
  void AddBrokerFlag(std::string flag) { broker_flags_.push_back(std::move(flag)); }

  // Starts the broker and waits until it serves (its port file appears). REQUIRES: not running.
  void StartBroker();
  // SIGTERM and wait (graceful), or SIGKILL (a crash).
  void StopBroker();
  void KillBroker();
  // Sends SIGHUP (reload the sharing policy).
  void ReloadPolicy();

  std::string address() const;
  const std::string& dir() const { return dir_; }
  const std::string& partnership() const { return partnership_; }
  std::string identity_dir(const std::string& node_id) const { return dir_ + "/nodes/" + node_id; }

  // Mints a certificate for a node that is NOT in the registry (or with another type), signed by
  // the partnership CA, into identity_dir(id).
  void MintUnregistered(const std::string& type, const std::string& id);
  // Revokes a node's certificate and writes the CRL into <dir>/crl.
  void Revoke(const std::string& node_id);

  std::unique_ptr<client::BrokerClient> Client(const std::string& node_id,
                                               int max_attempts = 1) const;
  std::unique_ptr<client::BrokerClient> ClientFromDir(const std::string& identity_dir,
                                                      int max_attempts = 1) const;

  std::string broker_log() const;

  // The node's signing identity, read from its identity directory.
  std::shared_ptr<const protocol::Signer> SignerFor(const std::string& node_id) const;
  std::shared_ptr<const protocol::TrustAnchor> Trust() const;

 private:
  std::string dir_;
  std::string partnership_ = "test.safeguarding.example";
  pid_t pid_ = -1;
  int port_ = 0;
  std::vector<std::string> broker_flags_;
};

// The text of the default policy (deploy/policy/england.yaml).
std::string DefaultPolicyText();

// Submits an envelope as it is, bypassing the SDK's checks and sealing.
grpc::Status RawSubmit(client::BrokerClient& client, const safeguard::v1::SignedEnvelope& envelope,
                       safeguard::v1::SubmitResponse* response = nullptr);

// Seals a notification (adding an idempotency key if it has none) with `signer`, now.
safeguard::v1::SignedEnvelope SealNow(safeguard::v1::Notification notification,
                                      const protocol::Signer& signer);

// Runs a shell command, failing the test (with its output) if it exits non-zero.
std::string RunOrDie(const std::string& command);

// Runs a shell command; returns its exit status and output (stdout and stderr).
std::pair<int, std::string> RunCommand(const std::string& command);

// A valid notification (NHS number 943 476 5919) of the given type.
safeguard::v1::Notification ExampleNotification(
    safeguard::v1::NotificationType type = safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT);

}  // namespace safeguard::testing

#endif  // SAFEGUARD_TESTS_INTEGRATION_TEST_PARTNERSHIP_H_
