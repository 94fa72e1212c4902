// How a deadline class of the sharing policy (`deadlines:`, docs/deadlines.md) turns an
// acceptance time into an acknowledgement due time. The policy only names and describes the
// rule; broker/calendar applies it against an area's working calendar.
#ifndef SAFEGUARD_BROKER_POLICY_DEADLINE_RULE_H_
#define SAFEGUARD_BROKER_POLICY_DEADLINE_RULE_H_

#include <string>

#include "absl/time/time.h"

namespace safeguard::policy {

// Value type.
struct DeadlineRule {
  enum class Kind {
    kNone,                  // the class has only a description: no due time can be computed
    kWithin,                // `within: 4h`: wall-clock duration, at any hour
    kEndOfWorkingDay,       // `end-of-working-day: N`: end of office hours, N working days on
    kStartOfNextSchoolDay,  // `start-of-next-school-day: true`
    kWorkingHours,          // `working-hours: 8`: office hours only
  };
  Kind kind = Kind::kNone;
  absl::Duration duration = absl::ZeroDuration();  // kWithin, kWorkingHours
  int working_days = 0;                            // kEndOfWorkingDay
  std::string description;                         // the class's description, for people
  int line = 0;                                    // where the class is defined (1-based)

  bool has_due() const { return kind != Kind::kNone; }
};

// "within 4h", "end-of-working-day 1", ... for messages and logs.
std::string DescribeDeadlineRule(const DeadlineRule& rule);

}  // namespace safeguard::policy

#endif  // SAFEGUARD_BROKER_POLICY_DEADLINE_RULE_H_
