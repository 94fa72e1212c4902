#include "tests/integration/test_partnership.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace safeguard::testing {

std::vector<TestNode> DefaultNodes() {
  return {
      {"gp-riverside", "gp", "swindon"},      {"school-oakfield", "school", "swindon"},
      {"housing-swindon", "housing", "swindon"}, {"police-wiltshire", "police", "swindon"},
      {"fd-swindon", "front-door", "swindon"},   {"csc-team-north", "social-care", "swindon"},
      {"auditor-scp", "auditor", "swindon"},     {"fd-oxford", "front-door", "oxford"},
  };
}

std::pair<int, std::string> RunCommand(const std::string& command) {
  std::string full = command + " 2>&1";
  FILE* p = popen(full.c_str(), "r");
  if (p == nullptr) {
    ADD_FAILURE() << "cannot run " << command;
    return {-1, ""};
  }
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int rc = pclose(p);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

std::string RunOrDie(const std::string& command) {
  auto [rc, out] = RunCommand(command);
  if (rc != 0) ADD_FAILURE() << command << " failed (" << rc << "):\n" << out;
  return out;
}

namespace {
std::string Certs() { return SAFEGUARD_CERTS_TOOL; }
}  // namespace

TestPartnership::TestPartnership(std::vector<TestNode> nodes, std::string extra_config) {
  char tmpl[] = "/tmp/safeguard-test-XXXXXX";
  dir_ = mkdtemp(tmpl);
  RunOrDie(absl::StrCat(Certs(), " init-ca --dir ", dir_, "/ca --partnership ", partnership_));
  RunOrDie(absl::StrCat(Certs(), " issue-broker --ca-dir ", dir_, "/ca --out ", dir_,
                        "/broker --partnership ", partnership_));
  std::ostringstream config;
  config << "partnership: \"" << partnership_ << "\"\n"
         << "listen_address: \"127.0.0.1:0\"\n"
         << "tls { certificate: \"broker/node.crt\" private_key: \"broker/node.key\" "
         << "ca_certificate: \"ca/ca.crt\" }\n"
         << "data_directory: \"data\"\n"
         << "policy_file: \"" << SAFEGUARD_DEFAULT_POLICY << "\"\n"
         << extra_config << "\n";
  for (const TestNode& node : nodes) {
    RunOrDie(absl::StrCat(Certs(), " issue-node --ca-dir ", dir_, "/ca --out ",
                          identity_dir(node.id), " --partnership ", partnership_, " --type ",
                          node.type, " --id ", node.id));
    config << "nodes { id: \"" << node.id << "\" type: \"" << node.type << "\" area: \""
           << node.area << "\" }\n";
  }
  std::ofstream(dir_ + "/broker.conf") << config.str();
}

TestPartnership::~TestPartnership() {
  if (pid_ > 0) KillBroker();
  if (!::testing::Test::HasFailure() && !std::getenv("SAFEGUARD_KEEP_TEST_DIRS")) std::filesystem::remove_all(dir_);
}

void TestPartnership::MintUnregistered(const std::string& type, const std::string& id) {
  RunOrDie(absl::StrCat(Certs(), " issue-node --ca-dir ", dir_, "/ca --out ", identity_dir(id),
                        " --partnership ", partnership_, " --type ", type, " --id ", id));
}

void TestPartnership::Revoke(const std::string& node_id) {
  RunOrDie(absl::StrCat(Certs(), " revoke --ca-dir ", dir_, "/ca --cert ", identity_dir(node_id),
                        "/node.crt"));
  RunOrDie(absl::StrCat(Certs(), " crl --ca-dir ", dir_, "/ca --out ", dir_, "/crl"));
}

void TestPartnership::UsePolicy(const std::string& yaml) {
  std::string path = dir_ + "/policy.yaml";
  std::ofstream(path) << yaml;
  std::string config;
  {
    std::ifstream in(dir_ + "/broker.conf");
    config.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  config = absl::StrReplaceAll(
      config, {{absl::StrCat("policy_file: \"", SAFEGUARD_DEFAULT_POLICY, "\""),
                absl::StrCat("policy_file: \"", path, "\"")}});
  std::ofstream(dir_ + "/broker.conf") << config;
}

std::string DefaultPolicyText() {
  std::ifstream in(SAFEGUARD_DEFAULT_POLICY);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void TestPartnership::StartBroker() {
  ASSERT_LT(pid_, 0) << "broker already running";
  std::string port_file = dir_ + "/port";
  std::filesystem::remove(port_file);
  std::string config = dir_ + "/broker.conf";
  std::string log = dir_ + "/broker.log";
  pid_ = fork();
  if (pid_ == 0) {
    FILE* out = freopen(log.c_str(), "a", stderr);
    (void)out;
    std::vector<std::string> args = {"safeguard-broker", "--config=" + config,
                                     "--port_file=" + port_file};
    args.insert(args.end(), broker_flags_.begin(), broker_flags_.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(SAFEGUARD_BROKER_BINARY, argv.data());
    _exit(127);
  }
  // Wait for the broker to say it serves: it writes the port file only once listening.
  for (int i = 0; i < 300; ++i) {
    std::ifstream in(port_file);
    if (in >> port_) return;
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      FAIL() << "broker exited during start-up:\n" << broker_log();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL() << "broker did not start within 6 s:\n" << broker_log();
}

void TestPartnership::StopBroker() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << broker_log();
}

void TestPartnership::ReloadPolicy() {
  if (pid_ > 0) kill(pid_, SIGHUP);
}

void TestPartnership::KillBroker() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string TestPartnership::address() const { return absl::StrCat("127.0.0.1:", port_); }

std::unique_ptr<client::BrokerClient> TestPartnership::Client(const std::string& node_id,
                                                              int max_attempts) const {
  return ClientFromDir(identity_dir(node_id), max_attempts);
}

std::unique_ptr<client::BrokerClient> TestPartnership::ClientFromDir(const std::string& dir,
                                                                     int max_attempts) const {
  auto identity = client::LoadIdentityDirectory(dir);
  EXPECT_TRUE(identity.ok()) << identity.status();
  auto c = client::BrokerClient::Connect({.broker_address = address(),
                                          .identity = *identity,
                                          .call_timeout = absl::Seconds(10),
                                          .max_attempts = max_attempts});
  EXPECT_TRUE(c.ok()) << c.status();
  return *std::move(c);
}

std::string TestPartnership::broker_log() const {
  std::ifstream in(dir_ + "/broker.log");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::shared_ptr<const protocol::Signer> TestPartnership::SignerFor(
    const std::string& node_id) const {
  auto identity = client::LoadIdentityDirectory(identity_dir(node_id));
  EXPECT_TRUE(identity.ok()) << identity.status();
  auto signer = protocol::Signer::FromPem(identity->certificate, identity->private_key);
  EXPECT_TRUE(signer.ok()) << signer.status();
  return *signer;
}

std::shared_ptr<const protocol::TrustAnchor> TestPartnership::Trust() const {
  std::ifstream in(dir_ + "/ca/ca.crt");
  std::stringstream ca;
  ca << in.rdbuf();
  return *protocol::TrustAnchor::FromPem(ca.str());
}

grpc::Status RawSubmit(client::BrokerClient& client, const safeguard::v1::SignedEnvelope& envelope,
                       safeguard::v1::SubmitResponse* response) {
  safeguard::v1::SubmitRequest request;
  *request.mutable_envelope() = envelope;
  safeguard::v1::SubmitResponse ignored;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return client.stub().Submit(&context, request, response ? response : &ignored);
}

safeguard::v1::SignedEnvelope SealNow(safeguard::v1::Notification notification,
                                      const protocol::Signer& signer) {
  static std::atomic<int> counter{0};
  if (notification.idempotency_key().empty()) {
    notification.set_idempotency_key(absl::StrCat("raw-", getpid(), "-", ++counter));
  }
  auto envelope = protocol::Seal(notification, signer, absl::Now());
  EXPECT_TRUE(envelope.ok()) << envelope.status();
  return *envelope;
}

safeguard::v1::Notification ExampleNotification(safeguard::v1::NotificationType type) {
  safeguard::v1::Notification n;
  n.set_type(type);
  n.set_severity(safeguard::v1::SEVERITY_CONCERN);
  auto* id = n.add_subjects()->add_identifiers();
  id->set_scheme(safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER);
  id->set_value("943 476 5919");
  n.set_summary("Not brought to the third paediatric appointment in a row");
  // The sender indicates a possible risk of harm: the default policy then shares with the
  // front door whatever the consent state.
  n.mutable_sharing()->set_risk_of_harm(true);
  *n.mutable_occurred_at() = google::protobuf::util::TimeUtil::GetCurrentTime();
  return n;
}

}  // namespace safeguard::testing
