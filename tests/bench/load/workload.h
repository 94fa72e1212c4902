// The workload both systems get: a partnership minted with certs/safeguard-certs (sender and
// recipient nodes), notifications of a chosen size sealed and signed by their senders, and the
// settings of a run. Also what a run reports.
#ifndef SAFEGUARD_TESTS_BENCH_LOAD_WORKLOAD_H_
#define SAFEGUARD_TESTS_BENCH_LOAD_WORKLOAD_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/protocol/envelope.h"
#include "clients/sdk/broker_client.h"
#include "safeguard/v1/broker.pb.h"
#include "tests/bench/load/load_common.h"

namespace safeguard::load {

enum class SealMode { kAhead, kLive };
// kAsync: one unary Submit per notification; kStream: one SubmitStream per sender.
enum class ClientMode { kAsync, kStream, kSdk };
enum class Scenario { kThroughput, kBacklog };
enum class FsyncMode { kOff, kPerf, kStrace };
// How broker recipients acknowledge: one Acknowledge per delivery, or AcknowledgeMany with
// every delivery received since the last request (one request in flight per recipient).
enum class AckMode { kEach, kBatch };

struct Settings {
  int senders = 8;
  int recipients = 2;
  int payload_bytes = 512;      // serialised Notification size
  double rate = 0;              // total notifications/s; 0 = closed loop
  int in_flight = 16;           // closed loop: submits in flight per sender
  int max_in_flight = 100000;   // open loop: cap on all submits in flight
  absl::Duration duration = absl::Seconds(20);
  absl::Duration warmup = absl::Seconds(3);
  absl::Duration drain = absl::Seconds(15);
  int runs = 1;
  SealMode seal = SealMode::kAhead;
  ClientMode client = ClientMode::kAsync;
  bool verify_receipts = false;
  bool verify_deliveries = false;
  AckMode ack = AckMode::kBatch;
  FsyncMode fsync = FsyncMode::kPerf;
  Scenario scenario = Scenario::kThroughput;
  uint64_t backlog = 0;         // backlog scenario: notifications to the offline recipient
  absl::Duration sample_interval = absl::Seconds(2);
  int corpus_rate = 12000;      // closed loop, seal=ahead: envelopes sealed per second of run
  std::string perf_output;      // perf record the broker during the window
  int max_commit_batch = 0;     // 0: the broker's default
};

// A partnership directory: ca/, broker/, nodes/<id>/ and a broker configuration template.
class Partnership {
 public:
  // Senders gp-1..gp-N (type gp, area a1); recipients fd-1..fd-M, the front doors of areas
  // a1..aM (a front door may see every disclosable field, and a risk of harm to a child is
  // shared with the front door of the child's area under any sharing policy); fd-offline, the
  // front door of area "offline", which never subscribes (backlog scenario).
  static absl::StatusOr<Partnership> Mint(const std::string& dir, int senders, int recipients);
  // A directory minted earlier (safeguard-load --keep): checks the identities are there.
  static absl::StatusOr<Partnership> Reuse(const std::string& dir, int senders, int recipients);

  const std::string& dir() const { return dir_; }
  std::string identity_dir(const std::string& node_id) const { return dir_ + "/nodes/" + node_id; }
  const std::vector<std::string>& senders() const { return senders_; }
  const std::vector<std::string>& recipients() const { return recipients_; }
  static constexpr char kOffline[] = "fd-offline";
  // Writes <dir>/<name>.conf with the given data directory; returns its path.
  std::string WriteBrokerConfig(const std::string& name, const std::string& data_directory,
                                int max_commit_batch) const;

 private:
  std::string dir_;
  std::string partnership_ = "load.safeguarding.example";
  std::vector<std::string> senders_;
  std::vector<std::string> recipients_;
};

// Each sender's identity and its sealed notifications.
class Workload {
 public:
  static absl::StatusOr<std::unique_ptr<Workload>> Create(const Partnership& partnership,
                                                          const Settings& settings);

  // The notification sender `s` sends as its n-th: `payload_bytes` serialised, about a child in
  // the area of one online recipient (round robin), naming that front door, with a risk of harm
  // indicated; in the backlog scenario also about a second child in area "offline", naming
  // fd-offline too.
  safeguard::v1::Notification MakeNotification(int s, uint64_t n) const;
  // Seals it now with the sender's key.
  absl::StatusOr<safeguard::v1::SubmitRequest> SealLive(int s, uint64_t n) const;
  // Seals `per_sender` notifications per sender in advance, on all cores, with a fresh key
  // prefix (so a broker that has seen an earlier corpus treats these as new).
  absl::Status SealAhead(uint64_t per_sender);
  // Envelope n of sender s, or nullptr when the corpus is exhausted (the caller seals live).
  const safeguard::v1::SubmitRequest* Sealed(int s, uint64_t n) const {
    return n < corpus_[s].size() ? &corpus_[s][n] : nullptr;
  }
  uint64_t corpus_per_sender() const { return corpus_.empty() ? 0 : corpus_[0].size(); }
  // The online recipient the n-th notification of sender s goes to (index into recipients()).
  int RecipientOf(int s, uint64_t n) const;

  const std::string& key_prefix() const { return key_prefix_; }
  const Partnership& partnership() const { return partnership_; }
  const Settings& settings() const { return settings_; }
  const client::NodeIdentity& identity(const std::string& node_id) const {
    return identities_.at(node_id);
  }
  const protocol::Signer& signer(int s) const { return *signers_[s]; }
  const protocol::TrustAnchor& trust() const { return *trust_; }
  size_t notification_bytes() const { return notification_bytes_; }
  size_t request_bytes() const { return request_bytes_; }
  double seal_seconds() const { return seal_seconds_; }

 private:
  Workload(const Partnership& partnership, const Settings& settings)
      : partnership_(partnership), settings_(settings) {}

  const Partnership& partnership_;
  const Settings settings_;
  std::map<std::string, client::NodeIdentity> identities_;
  std::vector<std::shared_ptr<const protocol::Signer>> signers_;
  std::shared_ptr<const protocol::TrustAnchor> trust_;
  std::string key_prefix_;
  std::string summary_filler_;
  std::string details_filler_;
  std::vector<std::vector<safeguard::v1::SubmitRequest>> corpus_;
  size_t notification_bytes_ = 0;
  size_t request_bytes_ = 0;
  double seal_seconds_ = 0;
};

// What one run of one system measured.
struct RunResult {
  std::string system;
  bool ok = false;
  std::string error;
  double window_seconds = 0;
  double throughput = 0;  // answers "accepted" in the window / window seconds
  double offered_rate = 0;
  uint64_t accepted_in_window = 0;
  uint64_t accepted_total = 0;
  uint64_t failed_total = 0;
  uint64_t refused_unavailable = 0;  // UNAVAILABLE answers retried (at capacity)
  uint64_t unanswered = 0;  // still in flight when the drain ended
  std::map<std::string, uint64_t> failures;
  int64_t ack_p50 = 0, ack_p99 = 0, ack_p999 = 0, ack_max = 0;
  uint64_t ack_samples = 0;
  int64_t delivery_p50 = 0, delivery_p99 = 0, delivery_p999 = 0, delivery_max = 0;
  uint64_t delivery_samples = 0;
  double delivery_rate = 0;  // deliveries received in the window / window seconds
  uint64_t delivered_total = 0;
  // Deliveries the load did not send: the broker's own notices (cumulative concern, ...).
  uint64_t other_deliveries = 0;
  uint64_t acknowledged_total = 0;
  FsyncCount fsyncs;
  double server_cpu_seconds = 0;  // in the window
  double tool_cpu_seconds = 0;
  double others_cpu_seconds = 0;  // the rest of the machine (other users, strace, perf, steal)
  double steal_seconds = 0;       // of which the hypervisor took (CPU time lost to other VMs)
  uint64_t server_hwm_kb = 0;
  uint64_t server_rss_kb = 0;
  uint64_t sealed_live = 0;  // envelopes sealed during the run because the corpus ran out
  // The server's busiest threads in the window: name/tid, fraction of the window running on a
  // CPU, fraction runnable but waiting for one.
  struct Thread {
    std::string name;
    double cpu = 0;
    double runqueue = 0;
  };
  std::vector<Thread> busiest_threads;
  std::vector<std::string> notes;

  double notifications_per_fsync() const {
    return fsyncs.known && fsyncs.total() > 0
               ? static_cast<double>(accepted_in_window) / fsyncs.total()
               : -1;  // none in the window (or not counted)
  }
  double server_cores() const { return window_seconds > 0 ? server_cpu_seconds / window_seconds : 0; }
  double server_us_per_notification() const {
    return accepted_in_window > 0 ? server_cpu_seconds * 1e6 / accepted_in_window : 0;
  }
};

// Fills the tracker-derived fields of a result.
void FillFromTracker(const Tracker& tracker, RunResult& result);

}  // namespace safeguard::load

#endif  // SAFEGUARD_TESTS_BENCH_LOAD_WORKLOAD_H_
