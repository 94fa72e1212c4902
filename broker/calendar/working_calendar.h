// One area's working calendar: its time zone, working days and office hours, bank holidays, school
// terms and closure days, and the allowances of its escalation ladder. It answers "is this a
// working day / school day", "is it office hours now" and turns an instant into the instants
// acknowledgement deadlines are measured against (docs/deadlines.md).
//
//   ASSIGN_OR_RETURN(WorkingCalendar cal, WorkingCalendar::Create(spec));
//   absl::Time due = cal.StartOfNextSchoolDay(accepted);  // Operation Encompass
//
// Every wall-clock rule (09:00, 17:00, 08:45) is local time in the area's zone, so office hours
// are 09:00-17:00 on both sides of a daylight-saving change; durations (`within: 4h`) are real
// elapsed time. Days are local civil days.
//
// Semantics, exactly:
//   working day      a day whose weekday is in working_days and that is not a bank holiday.
//   office hours     [office start, office end) local time on a working day.
//   school day       Monday to Friday, inside a school term (inclusive dates), not a bank holiday,
//                    not a closure (INSET) day. Days after the last configured term (or every
//                    day when no terms are configured) are unknown to the calendar and count as
//                    school days when they are weekdays that are not bank holidays: a calendar
//                    that has run out makes deadlines earlier, never later and never infinite.
//   StartOfNextSchoolDay(t)  the first school-day start strictly after t: on a school day
//                    before its start, that day's start; otherwise the next school day's.
//   EndOfWorkingDay(t)       the office end of t's day when that is a working day and t is
//                    before its office end (so also when t is before opening); otherwise the
//                    office end of the next working day.
//   EndOfNthWorkingDay(t, n) n working days after EndOfWorkingDay(t): n = 1 from Thursday 16:00
//                    is Friday 17:00, or Monday 17:00 when Friday is a bank holiday; from
//                    Thursday 18:00 (after hours) it is the working day after Friday.
//   AddWorkingHours(t, d)    the instant at which d of office hours have passed since t,
//                    counting only office hours; a result landing exactly on an office end is
//                    that office end, not the next opening.
#ifndef SAFEGUARD_BROKER_CALENDAR_WORKING_CALENDAR_H_
#define SAFEGUARD_BROKER_CALENDAR_WORKING_CALENDAR_H_

#include <array>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace safeguard::calendar {

// What a calendar file says (calendar_file.h), or what a test builds. Value type; the defaults
// are the built-in calendar used for an area without a calendar file.
struct CalendarSpec {
  std::string source = "built-in default calendar";  // for messages: a file name
  std::string time_zone = "Europe/London";
  // By absl::Weekday: monday = 0 ... sunday = 6.
  std::array<bool, 7> working_days = {true, true, true, true, true, false, false};
  absl::Duration office_start = absl::Hours(9);  // since local midnight
  absl::Duration office_end = absl::Hours(17);
  absl::Duration school_day_start = absl::Hours(8) + absl::Minutes(45);
  std::vector<absl::CivilDay> bank_holidays;
  std::vector<std::pair<absl::CivilDay, absl::CivilDay>> school_terms;  // [first, last] day
  std::vector<absl::CivilDay> closure_days;                             // INSET days etc.
  // Escalation ladder: step N (1-based) is allowed step_working_hours[N-1] office hours; steps
  // beyond the list use its last entry. The last step is the emergency step (front door, or the
  // emergency duty team out of hours): raised out of office hours it is allowed
  // out_of_hours_emergency of wall-clock time.
  std::vector<absl::Duration> step_working_hours = {absl::Hours(4), absl::Hours(4),
                                                    absl::Hours(4)};
  absl::Duration out_of_hours_emergency = absl::Hours(1);
};

// Immutable once created; thread-safe. Copyable.
// Invariants: office_start < office_end <= 24h; at least one working day; school terms sorted
// and disjoint; step_working_hours non-empty and positive; out_of_hours_emergency positive.
class WorkingCalendar {
 public:
  // Checks the spec and loads its time zone. INVALID_ARGUMENT naming spec.source and what to fix;
  // FAILED_PRECONDITION when the zone cannot be loaded (tzdata missing or the name is wrong).
  static absl::StatusOr<WorkingCalendar> Create(CalendarSpec spec);

  bool IsWorkingDay(absl::CivilDay day) const;
  bool IsBankHoliday(absl::CivilDay day) const { return bank_holidays_.count(day) > 0; }
  bool IsSchoolDay(absl::CivilDay day) const;
  bool IsOfficeHours(absl::Time t) const;

  absl::Time StartOfNextSchoolDay(absl::Time t) const;
  absl::Time EndOfWorkingDay(absl::Time t) const;
  // REQUIRES: n >= 0 (a negative n is taken as 0).
  absl::Time EndOfNthWorkingDay(absl::Time t, int n) const;
  // A non-positive duration returns t unchanged.
  absl::Time AddWorkingHours(absl::Time t, absl::Duration d) const;

  // The due time of escalation step `step` (1-based) raised at `from`; see CalendarSpec.
  absl::Time EscalationDue(absl::Time from, int step) const;
  int escalation_steps() const { return static_cast<int>(spec_.step_working_hours.size()); }

  absl::CivilDay LocalDay(absl::Time t) const;
  absl::Time OfficeStart(absl::CivilDay day) const;  // whether or not `day` is a working day
  absl::Time OfficeEnd(absl::CivilDay day) const;
  absl::Time SchoolDayStart(absl::CivilDay day) const;
  // The last day of the last configured school term (days after it count as term time), or
  // absl::CivilDay() (1970-01-01) when no terms are configured.
  absl::CivilDay last_term_day() const { return last_term_day_; }

  const absl::TimeZone& time_zone() const { return zone_; }
  const CalendarSpec& spec() const { return spec_; }

 private:
  WorkingCalendar(CalendarSpec spec, absl::TimeZone zone);
  absl::CivilDay NextWorkingDay(absl::CivilDay day) const;  // strictly after `day`
  // The working day whose office end EndOfWorkingDay(t) is.
  absl::CivilDay WorkingDayOf(absl::Time t) const;
  absl::Time AtLocal(absl::CivilDay day, absl::Duration since_midnight) const;

  CalendarSpec spec_;
  absl::TimeZone zone_;
  std::set<absl::CivilDay> bank_holidays_;
  std::set<absl::CivilDay> closure_days_;
  absl::CivilDay last_term_day_;
  bool has_terms_ = false;
};

// "Monday 2026-10-26 08:45 GMT (+00:00)"-style rendering in the calendar's zone, for messages and
// test failures.
std::string FormatLocal(const WorkingCalendar& calendar, absl::Time t);

}  // namespace safeguard::calendar

#endif  // SAFEGUARD_BROKER_CALENDAR_WORKING_CALENDAR_H_
