// A clock tests set and advance by hand, so time-dependent behaviour (deadlines, escalation,
// windows, drift) is tested without sleeping.
#ifndef SAFEGUARD_TESTS_FAKES_FAKE_CLOCK_H_
#define SAFEGUARD_TESTS_FAKES_FAKE_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/common/clock.h"

namespace safeguard::testing {

// Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1767225600))  // 2026-01-01
      : now_(start) {}
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Set(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace safeguard::testing

#endif  // SAFEGUARD_TESTS_FAKES_FAKE_CLOCK_H_
