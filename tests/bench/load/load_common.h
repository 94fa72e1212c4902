// Shared pieces of safeguard-load: a lock-free latency histogram, the measured window and the
// per-run bookkeeping both systems (the broker and NATS JetStream) fill in, child processes
// (optionally under strace to count fsyncs), and /proc readings of a server process.
#ifndef SAFEGUARD_TESTS_BENCH_LOAD_LOAD_COMMON_H_
#define SAFEGUARD_TESTS_BENCH_LOAD_LOAD_COMMON_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace safeguard::load {

// Monotonic nanoseconds (CLOCK_MONOTONIC): every latency and the window use it.
int64_t NowNs();
void SleepUntilNs(int64_t t_ns);

// Log-linear histogram of non-negative int64 values (nanoseconds): 64 sub-buckets per power of
// two, so a reported percentile is within ~1.6% of the true value. Record() is lock-free and
// may be called from any thread.
class Histogram {
 public:
  Histogram();
  void Record(int64_t value);
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  // The value at quantile q in [0, 1] (0 when empty).
  int64_t Quantile(double q) const;
  int64_t max() const { return max_.load(std::memory_order_relaxed); }
  double mean() const;

 private:
  static constexpr int kBuckets = 64 * 64;
  static int Index(uint64_t v);
  static int64_t Midpoint(int index);
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<uint64_t> count_{0};
  std::atomic<int64_t> max_{0};
  std::atomic<int64_t> sum_{0};
};

// The measured window [start, end) on the NowNs() clock; warm-up before it and the drain after
// it are not measured.
struct Window {
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  bool Contains(int64_t t) const { return t >= start_ns && t < end_ns; }
  double seconds() const { return static_cast<double>(end_ns - start_ns) / 1e9; }
};

// Idempotency keys (broker) and Nats-Msg-Id headers (JetStream) are "<prefix>-<sender>-<n>";
// the send time of each is kept so a recipient can compute submit→delivery latency.
std::string MessageKey(absl::string_view prefix, int sender, uint64_t n);
bool ParseMessageKey(absl::string_view key, int* sender, uint64_t* n);

// What one run measures, filled by a system's driver from any thread. Thread-safe.
class Tracker {
 public:
  Tracker(int senders, uint64_t ring_per_sender, Window window);

  const Window& window() const { return window_; }
  // Before the send: the intended send time (open loop) or the actual one (closed loop).
  void NoteSend(int sender, uint64_t n, int64_t intended_ns);
  // The server's answer: accepted (durable) or refused.
  void OnAccepted(int64_t intended_ns, int64_t done_ns);
  void OnFailed(const std::string& what, int64_t intended_ns, int64_t done_ns);
  // A recipient got the notification with this key.
  void OnDelivered(absl::string_view key, int64_t now_ns);
  void OnAcknowledged(bool ok);
  // The time NoteSend recorded for this message (-1 if none).
  int64_t SendTime(int sender, uint64_t n) const {
    return send_times_[sender][n & mask_].load(std::memory_order_relaxed);
  }

  Histogram ack_latency;       // submit → durable answer, for sends intended in the window
  Histogram delivery_latency;  // submit → recipient has it, for sends intended in the window
  std::atomic<uint64_t> accepted_in_window{0};  // answers that arrived in the window
  std::atomic<uint64_t> accepted_total{0};
  std::atomic<uint64_t> failed_total{0};
  // Answers of UNAVAILABLE (the broker at capacity, or restarting) that were retried.
  std::atomic<uint64_t> refused_unavailable{0};
  std::atomic<uint64_t> delivered_in_window{0};
  std::atomic<uint64_t> delivered_total{0};
  std::atomic<uint64_t> delivered_unknown{0};  // key not recognised
  std::atomic<uint64_t> acknowledged_total{0};
  std::atomic<uint64_t> acknowledge_failed{0};
  std::atomic<int64_t> in_flight{0};  // submits sent and not answered

  std::map<std::string, uint64_t> failures() const;

 private:
  const Window window_;
  const uint64_t mask_;
  std::vector<std::unique_ptr<std::atomic<int64_t>[]>> send_times_;
  mutable absl::Mutex mu_;
  std::map<std::string, uint64_t> failures_ ABSL_GUARDED_BY(mu_);
};

// CPU time (user + system) and memory of a process, from /proc.
struct ProcSample {
  double cpu_seconds = 0;
  uint64_t vm_rss_kb = 0;
  uint64_t vm_hwm_kb = 0;  // peak RSS since the process started
  bool ok = false;
};
ProcSample ReadProc(pid_t pid);
// This process's own CPU time.
double SelfCpuSeconds();
// All CPUs' busy time (everything but idle and iowait), in seconds, from /proc/stat.
double MachineBusySeconds();
// Time the hypervisor ran something else while this machine's CPUs wanted to run ("steal" in
// /proc/stat), in seconds summed over CPUs. On a shared VM it can take a third of the CPU or
// more, which no process here shows; included in MachineBusySeconds.
double MachineStealSeconds();
// This machine's ECDSA P-256 verifications per second on one core (OpenSSL, a 1,400-byte
// message, measured on the calling thread for about `for_how_long`): the broker checks one
// sender's signature per notification, so this is the ceiling that figures from different
// machines or days are compared by. 0 if OpenSSL fails.
double MeasureP256VerifyRate(absl::Duration for_how_long);

// A server process started by the tool, optionally under
//   strace -f --seccomp-bpf -e trace=fsync,fdatasync -ttt -o <file>
// (seccomp-bpf: only the traced syscalls stop the process, so the cost is one ptrace stop per
// fsync, not per syscall).
struct ChildProcess {
  pid_t launcher = -1;  // what we forked: strace, or the server itself
  pid_t pid = -1;       // the server
  std::string strace_output;  // empty when not traced
  std::string log;
};
absl::StatusOr<ChildProcess> StartProcess(const std::vector<std::string>& argv,
                                          const std::string& log_path,
                                          const std::string& strace_output,
                                          const std::string& pid_file);
// SIGTERM, then SIGKILL after `grace`; reaps the launcher.
void StopProcess(ChildProcess& process, absl::Duration grace);
bool ProcessAlive(const ChildProcess& process);

// Attaches strace to a running process (connect mode). Without --seccomp-bpf every syscall of
// the process stops for strace: this slows it down, and the tool says so.
absl::StatusOr<pid_t> AttachStrace(pid_t pid, const std::string& output);

// fsync/fdatasync calls in an strace -ttt output between two CLOCK_REALTIME instants.
struct FsyncCount {
  bool known = false;
  uint64_t fsync = 0;
  uint64_t fdatasync = 0;
  uint64_t total() const { return fsync + fdatasync; }
  // From the tracepoints only: time inside fsync/fdatasync (enter to exit, per thread).
  double seconds_in_sync = 0;
  int64_t max_sync_ns = 0;
};
FsyncCount CountFsyncs(const std::string& strace_output, absl::Time from, absl::Time to);

// The preferred way: the kernel's syscall tracepoints, recorded machine-wide with
//   perf record -k CLOCK_MONOTONIC -e syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync -a
// and filtered to the server's pid and the window afterwards. The server is not slowed at all
// (no ptrace); other processes' fsyncs are recorded too and left out when counting.
bool PerfTracepointsAvailable();
struct FsyncRecorder {
  pid_t perf = -1;
  std::string output;
};
// Records until StopFsyncRecorder (or `limit`, whichever first).
absl::StatusOr<FsyncRecorder> StartFsyncRecorder(const std::string& output, absl::Duration limit);
void StopFsyncRecorder(FsyncRecorder& recorder);
FsyncCount CountFsyncsRecorded(const std::string& output, pid_t pid, const Window& window);

// Per thread of a process, from /proc/PID/task/TID/{stat,schedstat}.
struct ThreadSample {
  std::string name;
  double cpu_seconds = 0;       // utime + stime
  double runqueue_seconds = 0;  // runnable but waiting for a CPU
};
std::map<int, ThreadSample> ReadThreads(pid_t pid);

bool CommandExists(const std::string& name);
std::string ReadFileOrEmpty(const std::string& path);
// Runs a shell command; returns its output, or an error with the output when it fails.
absl::StatusOr<std::string> RunCommand(const std::string& command);
// Size of all files in a directory (not recursive), bytes.
uint64_t DirectoryBytes(const std::string& dir);
// A free TCP port on 127.0.0.1 (bound and released; a small race, acceptable for a benchmark).
int FreeLoopbackPort();

std::string FormatLatency(int64_t ns);
std::string FormatCount(double v);

}  // namespace safeguard::load

#endif  // SAFEGUARD_TESTS_BENCH_LOAD_LOAD_COMMON_H_
