// Reads an area's calendar file (YAML, docs/deadlines.md; e.g.
// deploy/calendars/england-2026-27.yaml) into a CalendarSpec, and from it a WorkingCalendar.
//
//   time_zone: Europe/London
//   working_days: [monday, tuesday, wednesday, thursday, friday]
//   office_hours: {start: "09:00", end: "17:00"}
//   school_day_start: "08:45"
//   bank_holidays: [2026-12-25, 2026-12-28]
//   school_terms: [{start: 2026-09-02, end: 2026-10-23}]
//   closure_days: [2026-09-01]
//   escalation: {step_working_hours: [4, 4, 4], out_of_hours_emergency_minutes: 60}
//
// Every key is optional (the defaults of CalendarSpec apply); unknown and duplicate keys are
// errors. Errors read "file:line:column: what is wrong and what to write instead", all of them
// at once.
#ifndef SAFEGUARD_BROKER_CALENDAR_CALENDAR_FILE_H_
#define SAFEGUARD_BROKER_CALENDAR_CALENDAR_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "broker/calendar/working_calendar.h"

namespace safeguard::calendar {

inline constexpr absl::string_view kCalendarFormat = "safeguard-calendar/v1";

// Thread-safe (pure functions). INVALID_ARGUMENT listing every error with file:line:column;
// `file_name` is used in messages only.
absl::StatusOr<CalendarSpec> ParseCalendarSpec(absl::string_view file_name,
                                               const std::string& text);

// Reads, parses and creates. NOT_FOUND when the file cannot be read.
absl::StatusOr<WorkingCalendar> LoadCalendarFile(const std::string& path);

}  // namespace safeguard::calendar

#endif  // SAFEGUARD_BROKER_CALENDAR_CALENDAR_FILE_H_
