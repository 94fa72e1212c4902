// A system under test (the broker, or NATS JetStream) and the load generator that drives it.
#ifndef SAFEGUARD_TESTS_BENCH_LOAD_DRIVER_H_
#define SAFEGUARD_TESTS_BENCH_LOAD_DRIVER_H_

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "tests/bench/load/load_common.h"
#include "tests/bench/load/workload.h"

namespace safeguard::load {

// Issues sends at the configured pace. Closed loop: `in_flight` per sender, the next one issued
// when one is answered. Open loop: one pacing thread issues sender (i mod N)'s next send at
// t0 + i/rate whatever happens to earlier ones; latency counts from that intended time, so a
// stalled server shows up in the latency (no coordinated omission). Thread-safe.
class Generator {
 public:
  // issue(sender, n, intended_ns) sends message n of the sender; the system calls Completed()
  // once it is answered (success or not).
  using IssueFn = std::function<void(int, uint64_t, int64_t)>;

  Generator(const Settings& settings, int senders, Tracker* tracker, IssueFn issue);
  ~Generator();
  void Start(int64_t t0_ns);
  void Completed(int sender);
  // No more sends after this returns (answers may still arrive).
  void Stop();
  uint64_t issued() const { return issued_.load(); }

 private:
  bool Take(int sender, uint64_t* n);
  void Pace(int64_t t0_ns);

  const Settings settings_;
  const int senders_;
  Tracker* const tracker_;
  const IssueFn issue_;
  std::unique_ptr<std::atomic<uint64_t>[]> next_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> issued_{0};
  std::thread pacer_;
};

class SystemDriver {
 public:
  virtual ~SystemDriver() = default;
  virtual std::string name() const = 0;
  // Fresh server state (started by the tool unless connecting), clients connected and
  // recipients subscribed.
  virtual absl::Status Setup(int run_index) = 0;
  virtual void StartLoad(Tracker* tracker, int64_t t0_ns) = 0;
  // Stops issuing new sends.
  virtual void StopLoad() = 0;
  // Recipients unsubscribe, clients disconnect, the server stops.
  virtual void Teardown() = 0;
  virtual pid_t server_pid() const = 0;
  // strace output of the server (empty if fsyncs are not counted).
  virtual std::string strace_output() const = 0;
  // Where the server keeps its data (for the backlog scenario's disk figures).
  virtual std::string data_directory() const = 0;
  // How many deliveries one accepted notification makes to subscribed recipients.
  virtual int deliveries_per_notification() const = 0;
  virtual std::vector<std::string> notes() const { return {}; }
};

struct BrokerTarget {
  std::string binary;       // safeguard-broker to start, or
  std::string address;      // host:port of a running broker (connect mode)
  pid_t pid = 0;            // its pid, for CPU/RSS (connect mode, optional)
  bool keep_data = false;
};
std::unique_ptr<SystemDriver> MakeBrokerDriver(const Workload& workload, BrokerTarget target);

struct NatsTarget {
  std::string binary = "nats-server";
  bool sync_always = false;  // jetstream { sync_interval: always } (nats-server >= 2.10)
  bool keep_data = false;
};
// Null when the tool was built without libnats.
std::unique_ptr<SystemDriver> MakeNatsDriver(const Workload& workload, NatsTarget target);
bool NatsSupported();

}  // namespace safeguard::load

#endif  // SAFEGUARD_TESTS_BENCH_LOAD_DRIVER_H_
