// Acknowledgement deadlines: turns a share decision's deadline class (policy::Decision::deadline)
// into a due time in the receiving area's working calendar, and gives the due time of each step of
// the escalation ladder (docs/deadlines.md).
//
//   ASSIGN_OR_RETURN(auto deadlines, DeadlineCalendar::FromConfig(*config, *policy));
//   ASSIGN_OR_RETURN(absl::Time due, deadlines->Due(decision.deadline, "swindon", accepted));
//   absl::Time step1 = deadlines->EscalationDue("swindon", due, 1);  // deputy
//
// The deadline classes come from the policy (`deadlines:` with `due:` rules); the calendars from
// the broker configuration (`areas { calendar_file }`). Both are copied in: after a policy
// reload, build a new DeadlineCalendar. Pure computation: no clock, no state.
#ifndef SAFEGUARD_BROKER_CALENDAR_DEADLINE_CALENDAR_H_
#define SAFEGUARD_BROKER_CALENDAR_DEADLINE_CALENDAR_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "broker/calendar/working_calendar.h"
#include "broker/config/broker_config.pb.h"
#include "broker/policy/deadline_rule.h"
#include "broker/policy/sharing_policy.h"

namespace safeguard::calendar {

// Immutable once created; thread-safe.
// Invariants: every area has a calendar; the default calendar is valid.
class DeadlineCalendar {
 public:
  // One calendar per configured area with a calendar_file (already resolved to an absolute
  // path by config::ParseBrokerConfig); areas without one, and areas not configured at all, use
  // the built-in default calendar (CalendarSpec's defaults: Europe/London, Monday to Friday
  // 09:00-17:00, no bank holidays, every weekday a school day, so deadlines come early rather
  // than late). Errors carry the calendar file, line and what to fix; the broker must refuse to
  // start on any of them.
  static absl::StatusOr<std::unique_ptr<DeadlineCalendar>> FromConfig(
      const config::BrokerConfig& config, const policy::SharingPolicy& policy);
  static absl::StatusOr<std::unique_ptr<DeadlineCalendar>> FromConfig(
      const config::BrokerConfig& config, std::map<std::string, policy::DeadlineRule> rules);
  // For tests and tools: calendars already built.
  static std::unique_ptr<DeadlineCalendar> Create(
      std::map<std::string, policy::DeadlineRule> rules,
      std::map<std::string, WorkingCalendar, std::less<>> areas, WorkingCalendar default_calendar,
      std::map<std::string, std::string, std::less<>> emergency_duty_nodes = {});

  // When a delivery of `deadline_class`, accepted at `from`, must be acknowledged, in `area`'s
  // calendar (an unknown area uses the default). INVALID_ARGUMENT naming the class when the
  // policy has no such class; FAILED_PRECONDITION when the class has a description but no `due`
  // rule.
  absl::StatusOr<absl::Time> Due(absl::string_view deadline_class, absl::string_view area,
                                 absl::Time from) const;

  bool IsOfficeHours(absl::string_view area, absl::Time t) const;

  // The due time of escalation step `step` (1-based: 1 deputy, 2 team manager, 3 front door or,
  // out of office hours, the emergency duty team, with the default three steps) raised at `from`
  // (normally the previous step's due time, or the delivery's own deadline for step 1). Each step
  // is allowed its office hours from the area's calendar (default 4); the last step raised out of
  // office hours is allowed wall-clock minutes instead (default 60). A step beyond the last
  // repeats the last; a step below 1 is step 1.
  absl::Time EscalationDue(absl::string_view area, absl::Time from, int step) const;
  // How many steps the area's ladder has (the last is the emergency step).
  int EscalationSteps(absl::string_view area) const;
  // The area's emergency duty team node id (areas.emergency_duty_node), or "" when none is
  // configured (out-of-hours escalations then go to the area's front door).
  std::string EmergencyDutyNode(absl::string_view area) const;

  // The calendar `area` uses (the default for an unknown area).
  const WorkingCalendar& CalendarFor(absl::string_view area) const;
  bool HasCalendar(absl::string_view area) const { return areas_.count(area) > 0; }
  const std::map<std::string, policy::DeadlineRule>& rules() const { return rules_; }

 private:
  DeadlineCalendar(std::map<std::string, policy::DeadlineRule> rules,
                   std::map<std::string, WorkingCalendar, std::less<>> areas,
                   WorkingCalendar default_calendar,
                   std::map<std::string, std::string, std::less<>> emergency_duty_nodes);

  const std::map<std::string, policy::DeadlineRule> rules_;
  const std::map<std::string, WorkingCalendar, std::less<>> areas_;
  const WorkingCalendar default_;
  const std::map<std::string, std::string, std::less<>> emergency_duty_nodes_;
};

}  // namespace safeguard::calendar

#endif  // SAFEGUARD_BROKER_CALENDAR_DEADLINE_CALENDAR_H_
