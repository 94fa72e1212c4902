#include "broker/calendar/working_calendar.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace safeguard::calendar {
namespace {

// No search runs further than this many days (about ten years): every search ends well before
// it on a valid calendar, and the cap keeps a pathological one from looping.
constexpr int kMaxSearchDays = 3700;

bool IsWeekday(absl::CivilDay day) {
  absl::Weekday w = absl::GetWeekday(day);
  return w != absl::Weekday::saturday && w != absl::Weekday::sunday;
}

std::string Day(absl::CivilDay d) { return absl::FormatCivilTime(d); }

}  // namespace

absl::StatusOr<WorkingCalendar> WorkingCalendar::Create(CalendarSpec spec) {
  auto invalid = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(spec.source, ": ", what));
  };
  absl::TimeZone zone;
  if (spec.time_zone.empty() || !absl::LoadTimeZone(spec.time_zone, &zone)) {
    return absl::FailedPreconditionError(absl::StrCat(
        spec.source, ": time_zone '", spec.time_zone,
        "' cannot be loaded from the tz database (/usr/share/zoneinfo, or $TZDIR): give an IANA "
        "zone name such as Europe/London, and install the tzdata package if it is missing"));
  }
  if (std::none_of(spec.working_days.begin(), spec.working_days.end(), [](bool b) { return b; })) {
    return invalid("working_days: give at least one working day, e.g. [monday, ..., friday]");
  }
  if (spec.office_start < absl::ZeroDuration() || spec.office_end > absl::Hours(24) ||
      spec.office_start >= spec.office_end) {
    return invalid("office_hours: start must be before end, both within 00:00-24:00");
  }
  if (spec.school_day_start < absl::ZeroDuration() || spec.school_day_start >= absl::Hours(24)) {
    return invalid("school_day_start must be a time of day, e.g. 08:45");
  }
  std::sort(spec.school_terms.begin(), spec.school_terms.end());
  for (size_t i = 0; i < spec.school_terms.size(); ++i) {
    const auto& [first, last] = spec.school_terms[i];
    if (last < first) {
      return invalid(absl::StrCat("school term ", Day(first), " to ", Day(last),
                                  " ends before it starts"));
    }
    if (i > 0 && first <= spec.school_terms[i - 1].second) {
      return invalid(absl::StrCat("school terms ", Day(spec.school_terms[i - 1].first), " to ",
                                  Day(spec.school_terms[i - 1].second), " and ", Day(first),
                                  " to ", Day(last), " overlap"));
    }
  }
  if (spec.step_working_hours.empty()) {
    return invalid("escalation.step_working_hours: give at least one step, e.g. [4, 4, 4]");
  }
  for (absl::Duration d : spec.step_working_hours) {
    if (d <= absl::ZeroDuration()) {
      return invalid("escalation.step_working_hours: every step needs a positive allowance");
    }
  }
  if (spec.out_of_hours_emergency <= absl::ZeroDuration()) {
    return invalid("escalation.out_of_hours_emergency_minutes must be positive");
  }
  return WorkingCalendar(std::move(spec), zone);
}

WorkingCalendar::WorkingCalendar(CalendarSpec spec, absl::TimeZone zone)
    : spec_(std::move(spec)),
      zone_(zone),
      bank_holidays_(spec_.bank_holidays.begin(), spec_.bank_holidays.end()),
      closure_days_(spec_.closure_days.begin(), spec_.closure_days.end()) {
  has_terms_ = !spec_.school_terms.empty();
  if (has_terms_) last_term_day_ = spec_.school_terms.back().second;
}

absl::CivilDay WorkingCalendar::LocalDay(absl::Time t) const {
  return absl::CivilDay(zone_.At(t).cs);
}

absl::Time WorkingCalendar::AtLocal(absl::CivilDay day, absl::Duration since_midnight) const {
  // A wall-clock time skipped or repeated by a daylight-saving change resolves as absl::FromCivil
  // does (the earlier offset); in Europe/London the changes happen at 01:00/02:00, outside any
  // office or school hours.
  return absl::FromCivil(absl::CivilSecond(day) + absl::ToInt64Seconds(since_midnight), zone_);
}

absl::Time WorkingCalendar::OfficeStart(absl::CivilDay day) const {
  return AtLocal(day, spec_.office_start);
}

absl::Time WorkingCalendar::OfficeEnd(absl::CivilDay day) const {
  return AtLocal(day, spec_.office_end);
}

absl::Time WorkingCalendar::SchoolDayStart(absl::CivilDay day) const {
  return AtLocal(day, spec_.school_day_start);
}

bool WorkingCalendar::IsWorkingDay(absl::CivilDay day) const {
  return spec_.working_days[static_cast<int>(absl::GetWeekday(day))] && !IsBankHoliday(day);
}

bool WorkingCalendar::IsSchoolDay(absl::CivilDay day) const {
  if (!IsWeekday(day) || IsBankHoliday(day) || closure_days_.count(day)) return false;
  if (!has_terms_ || day > last_term_day_) return true;  // beyond what the calendar knows
  // The last term starting on or before `day`.
  auto it = std::upper_bound(
      spec_.school_terms.begin(), spec_.school_terms.end(), day,
      [](absl::CivilDay d, const std::pair<absl::CivilDay, absl::CivilDay>& term) {
        return d < term.first;
      });
  if (it == spec_.school_terms.begin()) return false;
  --it;
  return day <= it->second;
}

bool WorkingCalendar::IsOfficeHours(absl::Time t) const {
  absl::CivilDay day = LocalDay(t);
  return IsWorkingDay(day) && OfficeStart(day) <= t && t < OfficeEnd(day);
}

absl::CivilDay WorkingCalendar::NextWorkingDay(absl::CivilDay day) const {
  for (int i = 1; i <= kMaxSearchDays; ++i) {
    if (IsWorkingDay(day + i)) return day + i;
  }
  return day + kMaxSearchDays;
}

absl::Time WorkingCalendar::StartOfNextSchoolDay(absl::Time t) const {
  absl::CivilDay day = LocalDay(t);
  for (int i = 0; i <= kMaxSearchDays; ++i) {
    if (!IsSchoolDay(day + i)) continue;
    absl::Time start = SchoolDayStart(day + i);
    if (start > t) return start;
  }
  return SchoolDayStart(day + kMaxSearchDays);
}

absl::CivilDay WorkingCalendar::WorkingDayOf(absl::Time t) const {
  absl::CivilDay day = LocalDay(t);
  if (IsWorkingDay(day) && t < OfficeEnd(day)) return day;
  return NextWorkingDay(day);
}

absl::Time WorkingCalendar::EndOfWorkingDay(absl::Time t) const {
  return OfficeEnd(WorkingDayOf(t));
}

absl::Time WorkingCalendar::EndOfNthWorkingDay(absl::Time t, int n) const {
  // By day, not via LocalDay(EndOfWorkingDay(t)): an office end of 24:00 is the next midnight.
  absl::CivilDay day = WorkingDayOf(t);
  for (int i = 0; i < n; ++i) day = NextWorkingDay(day);
  return OfficeEnd(day);
}

absl::Time WorkingCalendar::AddWorkingHours(absl::Time t, absl::Duration d) const {
  if (d <= absl::ZeroDuration()) return t;
  absl::CivilDay day = LocalDay(t);
  for (int i = 0; i <= kMaxSearchDays; ++i, ++day) {
    if (!IsWorkingDay(day)) continue;
    absl::Time end = OfficeEnd(day);
    if (t >= end) continue;
    absl::Time from = std::max(t, OfficeStart(day));
    if (from + d <= end) return from + d;
    d -= end - from;
  }
  return OfficeEnd(day);
}

absl::Time WorkingCalendar::EscalationDue(absl::Time from, int step) const {
  int steps = escalation_steps();
  int index = std::clamp(step, 1, steps) - 1;
  if (index == steps - 1 && !IsOfficeHours(from)) return from + spec_.out_of_hours_emergency;
  return AddWorkingHours(from, spec_.step_working_hours[index]);
}

std::string FormatLocal(const WorkingCalendar& calendar, absl::Time t) {
  return absl::FormatTime("%A %Y-%m-%d %H:%M %Z (%Ez)", t, calendar.time_zone());
}

}  // namespace safeguard::calendar
