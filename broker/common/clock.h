// Time as the broker sees it, injected so tests can use a fake clock.
#ifndef SAFEGUARD_BROKER_COMMON_CLOCK_H_
#define SAFEGUARD_BROKER_COMMON_CLOCK_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace safeguard {

// Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// The real wall clock. Thread-safe.
class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  static const Clock& Get() {
    static const SystemClock clock;
    return clock;
  }
};

}  // namespace safeguard

#endif  // SAFEGUARD_BROKER_COMMON_CLOCK_H_
