// safeguard-broker: the partnership's information-sharing broker.
//
//   safeguard-broker --config=/etc/safeguard/broker.conf
//
// Serves the Broker gRPC service with mutual TLS on the configured address until SIGTERM or
// SIGINT, then stops accepting calls, finishes the ones in flight and commits what is queued.

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/synchronization/mutex.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "broker/calendar/deadline_calendar.h"
#include "broker/config/broker_config.h"
#include "broker/concern/cumulative_concern_watcher.h"
#include "broker/concern/plan_drift_monitor.h"
#include "broker/escalation/escalation_ladder.h"
#include "broker/delivery/mailbox_hub.h"
#include "broker/identity/node_registry.h"
#include "broker/audit/audit_keys.h"
#include "broker/audit/checkpointer.h"
#include "broker/policy/policy_store.h"
#include "broker/registry/registry_store.h"
#include "broker/server/audit_service.h"
#include "broker/server/broker_service.h"
#include "broker/server/chronology_service.h"
#include "broker/server/registry_service.h"
#include "broker/storage/sqlite_audit_reader.h"
#include "broker/server/log.h"
#include "broker/server/tls_files.h"
#include "broker/storage/sqlite_store.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"

ABSL_FLAG(std::string, config, "",
          "Path of the broker's configuration file (protobuf text format; see "
          "deploy/demo/broker.conf.example and docs/operations.md). Required.");
ABSL_FLAG(std::string, port_file, "",
          "If set, write the port the broker listens on to this file once it is serving "
          "(useful with listen_address port 0).");
ABSL_FLAG(bool, verbose, false,
          "Log every accepted notification (ids, node ids and types only; never content).");
ABSL_FLAG(bool, check_config, false, "Check the configuration and TLS files, then exit.");
ABSL_FLAG(int32_t, drift_check_seconds, 0,
          "How often to check open plans for drift (seconds); 0: the policy's drift check-every "
          "(default 10 minutes). Plans are also checked at start-up.");
ABSL_FLAG(int32_t, escalation_check_seconds, 30,
          "How often to look for deliveries past their acknowledgement deadline (seconds).");

namespace {

using safeguard::server::Log;

// SIGTERM/SIGINT may arrive on any thread (gRPC starts threads of its own), so the handler only
// writes the signal number to a pipe that the main thread reads.
int g_stop_pipe[2] = {-1, -1};

// The deadline calendar in force; replaced when the policy is reloaded. Thread-safe.
class CalendarHolder {
 public:
  explicit CalendarHolder(std::shared_ptr<const safeguard::calendar::DeadlineCalendar> c)
      : current_(std::move(c)) {}
  std::shared_ptr<const safeguard::calendar::DeadlineCalendar> Get() const {
    absl::MutexLock lock(&mu_);
    return current_;
  }
  void Set(std::shared_ptr<const safeguard::calendar::DeadlineCalendar> c) {
    absl::MutexLock lock(&mu_);
    current_ = std::move(c);
  }

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const safeguard::calendar::DeadlineCalendar> current_ ABSL_GUARDED_BY(mu_);
};

// Escalation notices go out as broker notifications, addressed to the ladder's rung.
class BrokerEscalationSink final : public safeguard::escalation::EscalationSink {
 public:
  explicit BrokerEscalationSink(safeguard::server::BrokerService& service) : service_(service) {}
  void Send(safeguard::v1::Notification notice,
            std::vector<safeguard::routing::ResolvedRecipient> targets,
            safeguard::storage::AcceptRequest::EscalationStep step, Done done) override {
    // The policy sees the notice as social care's: it reports a safeguarding process, under
    // UK GDPR, whoever the late recipient was.
    service_.SubmitFromBroker(std::move(notice), safeguard::protocol::NodeType::kSocialCare,
                              std::move(done), std::move(targets), step);
  }

 private:
  safeguard::server::BrokerService& service_;
};

// Cumulative-concern and plan-drift notices go out as broker notifications, addressed by the
// watcher or monitor. The service is set once constructed (before the server starts).
class BrokerConcernSink final : public safeguard::concern::ConcernSink {
 public:
  void set_service(safeguard::server::BrokerService* service) { service_ = service; }
  void Raise(safeguard::v1::Notification notice, safeguard::protocol::NodeType reported_by,
             std::vector<safeguard::routing::ResolvedRecipient> targets, Done done) override {
    service_->SubmitFromBroker(std::move(notice), reported_by, std::move(done),
                               std::move(targets));
  }

 private:
  safeguard::server::BrokerService* service_ = nullptr;
};

void OnStopSignal(int signal) {
  char byte = static_cast<char>(signal);
  (void)!::write(g_stop_pipe[1], &byte, 1);
}

void InstallStopHandlers() {
  if (::pipe2(g_stop_pipe, O_CLOEXEC) != 0) std::abort();
  struct sigaction action = {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGHUP, &action, nullptr);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int Fail(const absl::Status& status) {
  SAFEGUARD_LOG_ERROR(status.message());
  return 1;
}

int Run() {
  std::string config_path = absl::GetFlag(FLAGS_config);
  if (config_path.empty()) {
    std::cerr << "safeguard-broker: --config is required (see --help)\n";
    return 2;
  }
  auto config = safeguard::config::LoadBrokerConfig(config_path);
  if (!config.ok()) return Fail(config.status());
  if (absl::Status tls = safeguard::server::CheckTlsFiles(config->tls()); !tls.ok()) {
    return Fail(tls);
  }
  if (absl::GetFlag(FLAGS_check_config)) {
    std::cout << config_path << ": OK (" << config->nodes_size() << " nodes)\n";
    return 0;
  }

  safeguard::identity::NodeRegistry registry(*config);
  auto store = safeguard::storage::SqliteStore::Open(
      {.data_directory = config->data_directory(),
       .max_commit_batch = static_cast<int>(config->limits().max_commit_batch())});
  if (!store.ok()) return Fail(store.status());
  safeguard::delivery::MailboxHub hub(
      static_cast<int>(config->limits().max_subscriptions_per_node()));
  (*store)->SetCommitListener([&hub](const std::vector<std::string>& m) { hub.Notify(m); });
  const auto& clock = safeguard::SystemClock::Get();
  auto trust = safeguard::identity::TrustStore::Load(
      config->tls().ca_certificate(), config->tls().crl_directory(),
      absl::Seconds(config->tls().reload_interval_seconds()), clock);
  if (!trust.ok()) return Fail(trust.status());
  auto receipt_signer = safeguard::protocol::Signer::FromPem(
      ReadFile(config->tls().certificate()), ReadFile(config->tls().private_key()));
  if (!receipt_signer.ok()) {
    return Fail(absl::FailedPreconditionError(absl::StrCat(
        config->tls().certificate(), ": cannot sign receipts with it: ",
        receipt_signer.status().message())));
  }
  auto policy = safeguard::policy::PolicyStore::Open(config->policy_file());
  if (!policy.ok()) return Fail(policy.status());
  SAFEGUARD_LOG_INFO("sharing policy ", (*policy)->Current()->name(), " version ",
                     (*policy)->Current()->version(), " (sha256 ", (*policy)->Current()->digest(),
                     ") from ", config->policy_file());
  // Acknowledgement deadlines: the policy's deadline classes in each area's working calendar.
  // Rebuilt when the policy is reloaded.
  auto first_calendar =
      safeguard::calendar::DeadlineCalendar::FromConfig(*config, *(*policy)->Current());
  if (!first_calendar.ok()) return Fail(first_calendar.status());
  CalendarHolder calendar(std::shared_ptr<const safeguard::calendar::DeadlineCalendar>(
      *std::move(first_calendar)));
  auto audit_keys = safeguard::audit_log::AuditKeys::LoadOrCreate(
      config->data_directory(), config->partnership() + "/audit");
  if (!audit_keys.ok()) return Fail(audit_keys.status());
  auto audit_reader = safeguard::storage::SqliteAuditReader::Open(config->data_directory());
  if (!audit_reader.ok()) return Fail(audit_reader.status());
  auto checkpointer = std::make_unique<safeguard::audit_log::Checkpointer>(
      **audit_keys, **store, **audit_reader, absl::Seconds(1));
  // Who is responsible for each child (plans, lead workers, households, served lists).
  auto children = safeguard::registry::RegistryStore::Open(
      config->data_directory() + "/registry.db", clock);
  if (!children.ok()) return Fail(children.status());
  // Wakes GP, health and school nodes' open flag streams when their flags change.
  safeguard::delivery::MailboxHub flags_hub(
      static_cast<int>(config->limits().max_subscriptions_per_node()));
  (*children)->SetFlagListener(
      [&flags_hub](const std::vector<std::string>& nodes) { flags_hub.Notify(nodes); });
  std::map<std::string, std::string> resolution_routes;
  for (const auto& area : config->areas()) {
    resolution_routes[area.code()] = area.resolution_route();
  }
  // Cumulative-concern rules run after each agency's notification, on the watcher's thread.
  BrokerConcernSink concern_sink;
  safeguard::concern::CumulativeConcernWatcher concern_watcher(
      **store, children->get(), registry, concern_sink, clock,
      [&policy] { return (*policy)->Current(); });
  safeguard::server::BrokerService service(
      registry, **trust, **store, hub, clock,
      {.receipt_signer = *receipt_signer,
       .max_clock_skew = absl::Seconds(config->limits().max_clock_skew_seconds()),
       .audit_keys = audit_keys->get(),
       .policy = policy->get(),
       .children = children->get(),
       .resolution_routes = std::move(resolution_routes),
       .deadlines = [&calendar](const std::string& deadline_class, const std::string& area,
                                absl::Time from) {
         return calendar.Get()->Due(deadline_class, area, from);
       },
       .on_accepted =
           [&concern_watcher](const safeguard::server::AcceptedNotification& a) {
             concern_watcher.OnAccepted({a.sequence, a.accepted_at, a.sender, a.sender_type,
                                         a.sender_area, a.notification});
           },
       .max_submits_in_flight = static_cast<int>(config->limits().max_submits_in_flight())});
  concern_sink.set_service(&service);
  safeguard::server::AuditService audit_service(registry, **audit_keys, *checkpointer,
                                                **audit_reader, **store);
  safeguard::server::RegistryService registry_service(registry, **children, policy->get(),
                                                      **store, audit_keys->get(), service,
                                                      flags_hub, clock);
  // A child's multi-agency chronology, minimised by policy, every view audited.
  safeguard::server::ChronologyService chronology_service(registry, **children, policy->get(),
                                                          **store, audit_keys->get(), clock);

  const auto& tls = config->tls();
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      tls.private_key(), tls.certificate(), tls.ca_certificate(),
      tls.reload_interval_seconds());
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  if (!tls.crl_directory().empty()) options.set_crl_directory(tls.crl_directory());

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config->listen_address(),
                           grpc::experimental::TlsServerCredentials(options), &port);
  builder.RegisterService(&service);
  builder.RegisterService(&audit_service);
  builder.RegisterService(&registry_service);
  builder.RegisterService(&chronology_service);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config->limits().max_message_bytes()));
  builder.SetMaxSendMessageSize(static_cast<int>(config->limits().max_message_bytes()) * 2);
  // Agencies' systems keep idle streams open; let them ping every 20 s to keep NAT state.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 20000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Admission control on each connection: a client with more calls waits for a free stream.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(config->limits().max_concurrent_streams()));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    return Fail(absl::UnavailableError(absl::StrCat(
        "cannot listen on ", config->listen_address(),
        ": is the address valid for this machine and the port free?")));
  }
  SAFEGUARD_LOG_INFO("audit log ", (*audit_keys)->origin(), " at size ",
                     (*store)->CommittedTreeHead().size, "; checkpoint verifier key ",
                     (*audit_keys)->checkpoint_signer().verifier_key(), " (also in ",
                     config->data_directory(), "/checkpoint.pub)");
  SAFEGUARD_LOG_INFO("safeguard-broker serving partnership ", config->partnership(), " on ",
                     config->listen_address(), " (port ", port, ") with ",
                     config->nodes_size(), " nodes; store ", config->data_directory());
  if (std::string port_file = absl::GetFlag(FLAGS_port_file); !port_file.empty()) {
    std::string tmp = port_file + ".tmp";
    {
      std::ofstream out(tmp);
      out << port << "\n";
    }
    std::rename(tmp.c_str(), port_file.c_str());
  }

  // Deliveries not acknowledged in time climb the escalation ladder.
  BrokerEscalationSink escalation_sink(service);
  safeguard::escalation::LadderOptions ladder_options;
  ladder_options.step_due = [&calendar](const std::string& area, absl::Time from, int step) {
    return calendar.Get()->EscalationDue(area, from, step);
  };
  ladder_options.office_hours = [&calendar](const std::string& area, absl::Time t) {
    return calendar.Get()->IsOfficeHours(area, t);
  };
  for (const auto& area : config->areas()) {
    if (!area.emergency_duty_node().empty()) {
      ladder_options.emergency_duty_nodes[area.code()] = area.emergency_duty_node();
    }
  }
  ladder_options.interval = absl::Seconds(absl::GetFlag(FLAGS_escalation_check_seconds));
  safeguard::escalation::EscalationLadder ladder(**store, children->get(), registry,
                                                 escalation_sink, clock, ladder_options);
  ladder.Start();

  // Open plans are checked for drift at start-up and then periodically.
  safeguard::concern::PlanDriftMonitor drift_monitor(
      **children, registry, concern_sink, clock,
      [&policy] { return (*policy)->Current()->drift(); });
  std::optional<absl::Duration> drift_interval;
  if (int32_t seconds = absl::GetFlag(FLAGS_drift_check_seconds); seconds > 0) {
    drift_interval = absl::Seconds(seconds);
  }
  drift_monitor.Start(drift_interval);

  char signal = 0;
  for (;;) {
    if (::read(g_stop_pipe[0], &signal, 1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (signal != SIGHUP) break;
    // SIGHUP: reload the sharing policy; a broken one is refused and the old one stays.
    auto reloaded = (*policy)->Reload();
    if (reloaded.ok()) {
      SAFEGUARD_LOG_INFO("sharing policy reloaded: ", (*reloaded)->name(), " version ",
                         (*reloaded)->version(), " (sha256 ", (*reloaded)->digest(), ")");
      auto rebuilt = safeguard::calendar::DeadlineCalendar::FromConfig(*config, **reloaded);
      if (rebuilt.ok()) {
        calendar.Set(*std::move(rebuilt));
      } else {
        SAFEGUARD_LOG_ERROR("deadline calendar NOT rebuilt, the previous one stays: ",
                            rebuilt.status().message());
      }
    } else {
      SAFEGUARD_LOG_ERROR("sharing policy NOT reloaded, the previous one stays in force: ",
                          reloaded.status().message());
    }
  }
  SAFEGUARD_LOG_INFO("stopping on signal ", static_cast<int>(signal));
  ladder.Stop();
  drift_monitor.Stop();
  concern_watcher.Stop();
  hub.StopAll();  // open mailbox streams end now; their clients resume from their cursors
  flags_hub.StopAll();  // and open flag streams
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server->Wait();
  checkpointer->PublishNow();  // a final checkpoint of everything committed
  checkpointer.reset();
  store->reset();  // commits everything still queued
  SAFEGUARD_LOG_INFO("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil checks every mutex acquisition for lock-order cycles (~2-3% of the broker's
  // CPU under load); the thread-safety annotations and the sanitizer builds keep that honest.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  safeguard::storage::SqliteStore::ConfigureProcess();  // before the registry's and the store's connections
  InstallStopHandlers();
  absl::SetProgramUsageMessage(
      "the partnership's safeguarding information-sharing broker.\n\n"
      "Usage: safeguard-broker --config=FILE [--port_file=FILE] [--verbose]\n\n"
      "Serves the Broker gRPC service with mutual TLS. Every node's client certificate must be\n"
      "issued by the partnership CA and name the node as spiffe://<partnership>/<type>/<id>;\n"
      "certificates are minted with certs/safeguard-certs. Stop with SIGTERM or Ctrl-C;\n"
      "SIGHUP reloads the sharing policy (a broken one is refused; the old one stays).");
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "safeguard_broker_main");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  usage.normalize_filename = [](absl::string_view f) { return std::string(f); };
  absl::SetFlagsUsageConfig(usage);
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::cerr << "safeguard-broker: unexpected argument '" << rest[1] << "' (see --help)\n";
    return 2;
  }
  return Run();
}
