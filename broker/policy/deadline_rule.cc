#include "broker/policy/deadline_rule.h"

#include "absl/strings/str_cat.h"

namespace safeguard::policy {

std::string DescribeDeadlineRule(const DeadlineRule& rule) {
  switch (rule.kind) {
    case DeadlineRule::Kind::kNone:
      return "no due rule";
    case DeadlineRule::Kind::kWithin:
      return absl::StrCat("within ", absl::FormatDuration(rule.duration));
    case DeadlineRule::Kind::kEndOfWorkingDay:
      return absl::StrCat("end-of-working-day ", rule.working_days);
    case DeadlineRule::Kind::kStartOfNextSchoolDay:
      return "start-of-next-school-day";
    case DeadlineRule::Kind::kWorkingHours:
      return absl::StrCat("working-hours ", absl::FormatDuration(rule.duration));
  }
  return "unknown rule";
}

}  // namespace safeguard::policy
