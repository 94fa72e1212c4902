#include "tests/bench/load/driver.h"

namespace safeguard::load {

Generator::Generator(const Settings& settings, int senders, Tracker* tracker, IssueFn issue)
    : settings_(settings),
      senders_(senders),
      tracker_(tracker),
      issue_(std::move(issue)),
      next_(new std::atomic<uint64_t>[senders]) {
  for (int s = 0; s < senders; ++s) next_[s].store(0);
}

Generator::~Generator() { Stop(); }

bool Generator::Take(int sender, uint64_t* n) {
  if (stopping_.load(std::memory_order_relaxed)) return false;
  if (settings_.backlog > 0) {
    if (issued_.fetch_add(1) >= settings_.backlog) return false;
  } else {
    issued_.fetch_add(1, std::memory_order_relaxed);
  }
  *n = next_[sender].fetch_add(1, std::memory_order_relaxed);
  return true;
}

void Generator::Start(int64_t t0_ns) {
  if (settings_.rate > 0) {
    pacer_ = std::thread([this, t0_ns] { Pace(t0_ns); });
    return;
  }
  SleepUntilNs(t0_ns);
  for (int k = 0; k < settings_.in_flight; ++k) {
    for (int s = 0; s < senders_; ++s) {
      uint64_t n;
      if (Take(s, &n)) issue_(s, n, NowNs());
    }
  }
}

void Generator::Completed(int sender) {
  if (settings_.rate > 0) return;
  uint64_t n;
  if (Take(sender, &n)) issue_(sender, n, NowNs());
}

void Generator::Pace(int64_t t0_ns) {
  const double interval_ns = 1e9 / settings_.rate;
  for (uint64_t i = 0;; ++i) {
    int64_t intended = t0_ns + static_cast<int64_t>(static_cast<double>(i) * interval_ns);
    if (intended > NowNs()) SleepUntilNs(intended);
    // Bounded memory: wait while too many are in flight (the wait shows in the latency).
    while (tracker_->in_flight.load(std::memory_order_relaxed) >= settings_.max_in_flight &&
           !stopping_.load()) {
      SleepUntilNs(NowNs() + 100000);
    }
    int s = static_cast<int>(i % senders_);
    uint64_t n;
    if (!Take(s, &n)) return;
    issue_(s, n, intended);
  }
}

void Generator::Stop() {
  stopping_.store(true);
  if (pacer_.joinable()) pacer_.join();
}

}  // namespace safeguard::load
