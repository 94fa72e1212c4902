#include "tests/bench/load/load_common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace safeguard::load {

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void SleepUntilNs(int64_t t_ns) {
  timespec ts;
  ts.tv_sec = t_ns / 1000000000;
  ts.tv_nsec = t_ns % 1000000000;
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) != 0) {
  }
}

// ---------------------------------------------------------------------------------------------
// Histogram

Histogram::Histogram() : counts_(new std::atomic<uint64_t>[kBuckets]) {
  for (int i = 0; i < kBuckets; ++i) counts_[i].store(0, std::memory_order_relaxed);
}

int Histogram::Index(uint64_t v) {
  if (v < 128) return static_cast<int>(v);
  int msb = 63 - __builtin_clzll(v);
  int shift = msb - 6;  // v >> shift is in [64, 128)
  return shift * 64 + static_cast<int>(v >> shift);
}

int64_t Histogram::Midpoint(int index) {
  if (index < 128) return index;
  int shift = index / 64 - 1;
  int64_t mantissa = index - shift * 64;
  return (mantissa << shift) + ((int64_t{1} << shift) / 2);
}

void Histogram::Record(int64_t value) {
  if (value < 0) value = 0;
  int index = Index(static_cast<uint64_t>(value));
  if (index >= kBuckets) index = kBuckets - 1;
  counts_[index].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
  int64_t seen = max_.load(std::memory_order_relaxed);
  while (value > seen && !max_.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

int64_t Histogram::Quantile(double q) const {
  uint64_t total = count();
  if (total == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[i].load(std::memory_order_relaxed);
    if (seen >= rank) return std::min(Midpoint(i), max());
  }
  return max();
}

double Histogram::mean() const {
  uint64_t n = count();
  return n == 0 ? 0 : static_cast<double>(sum_.load(std::memory_order_relaxed)) / n;
}

// ---------------------------------------------------------------------------------------------
// Keys and the tracker

std::string MessageKey(absl::string_view prefix, int sender, uint64_t n) {
  return absl::StrCat(prefix, "-", sender, "-", n);
}

bool ParseMessageKey(absl::string_view key, int* sender, uint64_t* n) {
  size_t last = key.rfind('-');
  if (last == absl::string_view::npos || last == 0) return false;
  size_t before = key.rfind('-', last - 1);
  if (before == absl::string_view::npos) return false;
  return absl::SimpleAtoi(key.substr(before + 1, last - before - 1), sender) &&
         absl::SimpleAtoi(key.substr(last + 1), n);
}

namespace {
uint64_t RoundUpPowerOfTwo(uint64_t v) {
  uint64_t p = 1;
  while (p < v) p <<= 1;
  return p;
}
}  // namespace

Tracker::Tracker(int senders, uint64_t ring_per_sender, Window window)
    : window_(window), mask_(RoundUpPowerOfTwo(std::max<uint64_t>(ring_per_sender, 1024)) - 1) {
  for (int s = 0; s < senders; ++s) {
    auto ring = std::make_unique<std::atomic<int64_t>[]>(mask_ + 1);
    for (uint64_t i = 0; i <= mask_; ++i) ring[i].store(-1, std::memory_order_relaxed);
    send_times_.push_back(std::move(ring));
  }
}

void Tracker::NoteSend(int sender, uint64_t n, int64_t intended_ns) {
  send_times_[sender][n & mask_].store(intended_ns, std::memory_order_relaxed);
}

void Tracker::OnAccepted(int64_t intended_ns, int64_t done_ns) {
  accepted_total.fetch_add(1, std::memory_order_relaxed);
  if (window_.Contains(done_ns)) accepted_in_window.fetch_add(1, std::memory_order_relaxed);
  if (window_.Contains(intended_ns)) ack_latency.Record(done_ns - intended_ns);
}

void Tracker::OnFailed(const std::string& what, int64_t intended_ns, int64_t done_ns) {
  failed_total.fetch_add(1, std::memory_order_relaxed);
  absl::MutexLock lock(&mu_);
  ++failures_[what];
}

void Tracker::OnDelivered(absl::string_view key, int64_t now_ns) {
  delivered_total.fetch_add(1, std::memory_order_relaxed);
  if (window_.Contains(now_ns)) delivered_in_window.fetch_add(1, std::memory_order_relaxed);
  int sender;
  uint64_t n;
  if (!ParseMessageKey(key, &sender, &n) || sender < 0 ||
      sender >= static_cast<int>(send_times_.size())) {
    delivered_unknown.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  int64_t sent = send_times_[sender][n & mask_].load(std::memory_order_relaxed);
  if (sent < 0) {
    delivered_unknown.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (window_.Contains(sent)) delivery_latency.Record(now_ns - sent);
}

void Tracker::OnAcknowledged(bool ok) {
  (ok ? acknowledged_total : acknowledge_failed).fetch_add(1, std::memory_order_relaxed);
}

std::map<std::string, uint64_t> Tracker::failures() const {
  absl::MutexLock lock(&mu_);
  return failures_;
}

// ---------------------------------------------------------------------------------------------
// /proc

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

ProcSample ReadProc(pid_t pid) {
  ProcSample sample;
  std::string stat = ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/stat"));
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return sample;
  // Fields after "pid (comm)": state is field 3; utime and stime are fields 14 and 15.
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(stat).substr(paren + 2), ' ', absl::SkipEmpty());
  if (fields.size() < 13) return sample;
  uint64_t utime = 0, stime = 0;
  if (!absl::SimpleAtoi(fields[11], &utime) || !absl::SimpleAtoi(fields[12], &stime)) {
    return sample;
  }
  sample.cpu_seconds = static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
  std::string status = ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/status"));
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    auto read_kb = [&](absl::string_view name, uint64_t* out) {
      if (absl::ConsumePrefix(&line, name)) {
        line = absl::StripAsciiWhitespace(line);
        absl::ConsumeSuffix(&line, " kB");
        (void)absl::SimpleAtoi(line, out);
      }
    };
    read_kb("VmRSS:", &sample.vm_rss_kb);
    read_kb("VmHWM:", &sample.vm_hwm_kb);
  }
  sample.ok = true;
  return sample;
}

double SelfCpuSeconds() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}


double MeasureP256VerifyRate(absl::Duration for_how_long) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) return 0;
  unsigned char message[1400];
  RAND_bytes(message, sizeof message);
  unsigned char signature[128];
  size_t signature_len = sizeof signature;
  EVP_MD_CTX* sign = EVP_MD_CTX_new();
  bool ok = EVP_DigestSignInit(sign, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestSign(sign, signature, &signature_len, message, sizeof message) == 1;
  EVP_MD_CTX_free(sign);
  uint64_t verified = 0;
  const absl::Time start = absl::Now();
  absl::Duration elapsed;
  while (ok && (elapsed = absl::Now() - start) < for_how_long) {
    for (int i = 0; ok && i < 100; ++i, ++verified) {
      EVP_MD_CTX* verify = EVP_MD_CTX_new();
      ok = EVP_DigestVerifyInit(verify, nullptr, EVP_sha256(), nullptr, key) == 1 &&
           EVP_DigestVerify(verify, signature, signature_len, message, sizeof message) == 1;
      EVP_MD_CTX_free(verify);
    }
  }
  EVP_PKEY_free(key);
  if (!ok || elapsed <= absl::ZeroDuration()) return 0;
  return static_cast<double>(verified) / absl::ToDoubleSeconds(elapsed);
}

namespace {
// The machine-wide CPU line of /proc/stat in seconds summed over CPUs:
// user nice system idle iowait irq softirq steal (index 0..7; missing fields are 0).
std::array<double, 8> MachineCpuSeconds() {
  std::string stat = ReadFileOrEmpty("/proc/stat");
  absl::string_view line = absl::string_view(stat).substr(0, stat.find('\n'));
  std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
  std::array<double, 8> out{};
  for (size_t i = 1; i < fields.size() && i <= out.size(); ++i) {
    uint64_t v = 0;
    (void)absl::SimpleAtoi(fields[i], &v);
    out[i - 1] = static_cast<double>(v) / sysconf(_SC_CLK_TCK);
  }
  return out;
}
}  // namespace

double MachineBusySeconds() {
  std::array<double, 8> cpu = MachineCpuSeconds();
  double busy = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    if (i != 3 && i != 4) busy += cpu[i];  // all but idle and iowait
  }
  return busy;
}

double MachineStealSeconds() { return MachineCpuSeconds()[7]; }

// ---------------------------------------------------------------------------------------------
// Processes

namespace {

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

pid_t ForkExec(const std::vector<std::string>& argv, const std::string& log_path) {
  pid_t pid = fork();
  if (pid == 0) {
    // If the tool dies (Ctrl-C, a crash), its servers and recorders stop too.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  return pid;
}

}  // namespace

bool CommandExists(const std::string& name) {
  return std::system(absl::StrCat("command -v ", name, " >/dev/null 2>&1").c_str()) == 0;
}

absl::StatusOr<std::string> RunCommand(const std::string& command) {
  std::string full = command + " 2>&1";
  FILE* p = popen(full.c_str(), "r");
  if (p == nullptr) return absl::InternalError(absl::StrCat("cannot run ", command));
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int rc = pclose(p);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat(command, " failed (", rc, "):\n", out));
  }
  return out;
}

absl::StatusOr<ChildProcess> StartProcess(const std::vector<std::string>& argv,
                                          const std::string& log_path,
                                          const std::string& strace_output,
                                          const std::string& pid_file) {
  ChildProcess child;
  child.log = log_path;
  if (strace_output.empty()) {
    child.launcher = ForkExec(argv, log_path);
    if (child.launcher < 0) return absl::InternalError("fork failed");
    child.pid = child.launcher;
    return child;
  }
  // strace runs /bin/sh, which writes its pid and execs the server (same pid).
  std::string script = absl::StrCat("echo $$ > ", ShellQuote(pid_file), "; exec \"$@\"");
  std::vector<std::string> traced = {"strace", "-f", "--seccomp-bpf", "-qq",
                                     "-e", "trace=fsync,fdatasync", "-ttt",
                                     "-o", strace_output, "--", "/bin/sh", "-c", script, "sh"};
  traced.insert(traced.end(), argv.begin(), argv.end());
  std::filesystem::remove(pid_file);
  child.launcher = ForkExec(traced, log_path);
  if (child.launcher < 0) return absl::InternalError("fork failed");
  child.strace_output = strace_output;
  for (int i = 0; i < 500; ++i) {
    std::string text = ReadFileOrEmpty(pid_file);
    int pid = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &pid) && pid > 0) {
      child.pid = pid;
      return child;
    }
    int status;
    if (waitpid(child.launcher, &status, WNOHANG) == child.launcher) {
      return absl::FailedPreconditionError(absl::StrCat(
          "strace exited during start-up; its output and the server's are in ", log_path,
          "\n(run with --fsync_count=off to measure without strace)\n",
          ReadFileOrEmpty(log_path)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return absl::DeadlineExceededError("the server under strace did not start within 5 s");
}

bool ProcessAlive(const ChildProcess& process) {
  if (process.launcher <= 0) return false;
  int status;
  return waitpid(process.launcher, &status, WNOHANG) == 0;
}

void StopProcess(ChildProcess& process, absl::Duration grace) {
  if (process.launcher <= 0) return;
  if (process.pid > 0) kill(process.pid, SIGTERM);
  absl::Time deadline = absl::Now() + grace;
  int status;
  while (waitpid(process.launcher, &status, WNOHANG) == 0) {
    if (absl::Now() > deadline) {
      if (process.pid > 0) kill(process.pid, SIGKILL);
      if (process.launcher != process.pid) kill(process.launcher, SIGKILL);
      waitpid(process.launcher, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  process.launcher = -1;
  process.pid = -1;
}

absl::StatusOr<pid_t> AttachStrace(pid_t pid, const std::string& output) {
  std::vector<std::string> argv = {"strace", "-f", "-qq", "-e", "trace=fsync,fdatasync", "-ttt",
                                   "-o", output, "-p", absl::StrCat(pid)};
  pid_t launcher = ForkExec(argv, output + ".log");
  if (launcher < 0) return absl::InternalError("fork failed");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let it attach to every thread
  return launcher;
}

FsyncCount CountFsyncs(const std::string& strace_output, absl::Time from, absl::Time to) {
  FsyncCount count;
  std::ifstream in(strace_output);
  if (!in) return count;
  count.known = true;
  double lo = absl::ToDoubleSeconds(from - absl::UnixEpoch());
  double hi = absl::ToDoubleSeconds(to - absl::UnixEpoch());
  std::string line;
  while (std::getline(in, line)) {
    // "<tid> <seconds.micros> fdatasync(5) = 0" or "... fdatasync(5 <unfinished ...>"
    // (strace pads the tid column, hence SkipEmpty)
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (parts.size() < 3) continue;
    double t = 0;
    if (!absl::SimpleAtod(parts[1], &t) || t < lo || t >= hi) continue;
    if (absl::StartsWith(parts[2], "fdatasync(")) {
      ++count.fdatasync;
    } else if (absl::StartsWith(parts[2], "fsync(")) {
      ++count.fsync;
    }
  }
  return count;
}

bool PerfTracepointsAvailable() {
  if (!CommandExists("perf")) return false;
  auto out = RunCommand("perf list syscalls:sys_enter_fdatasync");
  return out.ok() && absl::StrContains(*out, "sys_enter_fdatasync");
}

absl::StatusOr<FsyncRecorder> StartFsyncRecorder(const std::string& output,
                                                 absl::Duration limit) {
  FsyncRecorder recorder;
  recorder.output = output;
  std::string seconds = absl::StrFormat("%.0f", absl::ToDoubleSeconds(limit) + 1);
  recorder.perf = ForkExec({"perf", "record", "-q", "-k", "CLOCK_MONOTONIC", "-e",
                            "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync,"
                            "syscalls:sys_exit_fsync,syscalls:sys_exit_fdatasync",
                            "-a", "-o", output, "--", "sleep", seconds},
                           output + ".log");
  if (recorder.perf < 0) return absl::InternalError("fork failed");
  // perf needs a moment to open its events on every CPU.
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  int status;
  if (waitpid(recorder.perf, &status, WNOHANG) == recorder.perf) {
    recorder.perf = -1;
    return absl::FailedPreconditionError(absl::StrCat("perf record exited at once:\n",
                                                      ReadFileOrEmpty(output + ".log")));
  }
  return recorder;
}

void StopFsyncRecorder(FsyncRecorder& recorder) {
  if (recorder.perf <= 0) return;
  kill(recorder.perf, SIGINT);
  waitpid(recorder.perf, nullptr, 0);
  recorder.perf = -1;
}

FsyncCount CountFsyncsRecorded(const std::string& output, pid_t pid, const Window& window) {
  FsyncCount count;
  auto text = RunCommand(absl::StrCat("perf script -i ", ShellQuote(output),
                                      " -F pid,tid,time,event 2>/dev/null"));
  if (!text.ok()) return count;
  count.known = true;
  const double lo = window.start_ns / 1e9;
  const double hi = window.end_ns / 1e9;
  std::map<int, double> entered;  // tid -> time of sys_enter
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    // "  17451/17459  7360.472510: syscalls:sys_enter_fdatasync: "
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (parts.size() < 3) continue;
    std::pair<absl::string_view, absl::string_view> ids = absl::StrSplit(parts[0], '/');
    int p = 0, tid = 0;
    double t = 0;
    absl::string_view time = parts[1];
    absl::ConsumeSuffix(&time, ":");
    if (!absl::SimpleAtoi(ids.first, &p) || p != pid) continue;
    (void)absl::SimpleAtoi(ids.second, &tid);
    if (!absl::SimpleAtod(time, &t)) continue;
    bool enter = absl::StrContains(parts[2], "sys_enter_");
    if (!enter) {
      auto it = entered.find(tid);
      if (it != entered.end()) {
        double seconds = t - it->second;
        count.seconds_in_sync += seconds;
        count.max_sync_ns = std::max<int64_t>(count.max_sync_ns, static_cast<int64_t>(seconds * 1e9));
        entered.erase(it);
      }
      continue;
    }
    if (t < lo || t >= hi) continue;
    entered[tid] = t;
    if (absl::StrContains(parts[2], "sys_enter_fdatasync")) {
      ++count.fdatasync;
    } else if (absl::StrContains(parts[2], "sys_enter_fsync")) {
      ++count.fsync;
    }
  }
  return count;
}

std::map<int, ThreadSample> ReadThreads(pid_t pid) {
  std::map<int, ThreadSample> threads;
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"), ec)) {
    int tid = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &tid)) continue;
    std::string stat = ReadFileOrEmpty(entry.path().string() + "/stat");
    size_t open = stat.find('(');
    size_t close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(absl::string_view(stat).substr(close + 2), ' ', absl::SkipEmpty());
    uint64_t utime = 0, stime = 0;
    if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
        !absl::SimpleAtoi(fields[12], &stime)) {
      continue;
    }
    ThreadSample& t = threads[tid];
    t.name = stat.substr(open + 1, close - open - 1);
    t.cpu_seconds = static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
    // schedstat: "<ns on cpu> <ns waiting on a runqueue> <timeslices>"
    const std::string schedstat = ReadFileOrEmpty(entry.path().string() + "/schedstat");
    std::vector<absl::string_view> sched =
        absl::StrSplit(absl::StripAsciiWhitespace(schedstat), ' ');
    uint64_t wait_ns = 0;
    if (sched.size() >= 2 && absl::SimpleAtoi(sched[1], &wait_ns)) {
      t.runqueue_seconds = wait_ns / 1e9;
    }
  }
  return threads;
}

uint64_t DirectoryBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec)) total += entry.file_size(ec);
  }
  return total;
}

int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

std::string FormatLatency(int64_t ns) {
  if (ns < 1000000) return absl::StrFormat("%.0f µs", ns / 1e3);
  if (ns < 100000000) return absl::StrFormat("%.2f ms", ns / 1e6);
  return absl::StrFormat("%.0f ms", ns / 1e6);
}

std::string FormatCount(double v) {
  std::string digits = absl::StrFormat("%.0f", v);
  std::string out;
  int n = static_cast<int>(digits.size());
  for (int i = 0; i < n; ++i) {
    out += digits[i];
    int left = n - 1 - i;
    if (left > 0 && left % 3 == 0 && digits[i] != '-') out += ',';
  }
  return out;
}

}  // namespace safeguard::load
