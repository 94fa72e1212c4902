// WorkingCalendar against the deployed England 2026-27 calendar (deploy/calendars/): working
// days, school days, office hours across the clock changes, and each deadline primitive. Fixed
// instants only: no clock.
#include "broker/calendar/working_calendar.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/broker/calendar/calendar_test_util.h"

namespace safeguard::calendar {
namespace {

using ::safeguard::calendar::testing::At;
using ::safeguard::calendar::testing::England;
using ::testing::HasSubstr;

#define EXPECT_LOCAL(cal, actual, expected) \
  EXPECT_EQ(actual, expected) << FormatLocal(cal, actual) << " != " << FormatLocal(cal, expected)

TEST(WorkingCalendarTest, WorkingDaysSkipWeekendsAndBankHolidays) {
  WorkingCalendar cal = England();
  EXPECT_TRUE(cal.IsWorkingDay(absl::CivilDay(2026, 10, 16)));   // Friday
  EXPECT_FALSE(cal.IsWorkingDay(absl::CivilDay(2026, 10, 17)));  // Saturday
  EXPECT_FALSE(cal.IsWorkingDay(absl::CivilDay(2026, 12, 28)));  // Boxing Day substitute
  EXPECT_FALSE(cal.IsWorkingDay(absl::CivilDay(2027, 3, 26)));   // Good Friday 2027
  EXPECT_TRUE(cal.IsWorkingDay(absl::CivilDay(2026, 12, 29)));
}

TEST(WorkingCalendarTest, SchoolDaysAreTermWeekdaysNotHolidaysOrClosures) {
  WorkingCalendar cal = England();
  EXPECT_TRUE(cal.IsSchoolDay(absl::CivilDay(2026, 10, 19)));   // Monday in Autumn 1
  EXPECT_FALSE(cal.IsSchoolDay(absl::CivilDay(2026, 10, 26)));  // half-term
  EXPECT_FALSE(cal.IsSchoolDay(absl::CivilDay(2026, 9, 1)));    // INSET (closure) day
  EXPECT_TRUE(cal.IsSchoolDay(absl::CivilDay(2026, 9, 3)));
  EXPECT_FALSE(cal.IsSchoolDay(absl::CivilDay(2026, 5, 4)));  // bank holiday in term
  EXPECT_FALSE(cal.IsSchoolDay(absl::CivilDay(2026, 8, 12)));  // summer holiday
  // After the last configured term the calendar does not know: weekdays count, so deadlines
  // come early rather than never.
  EXPECT_TRUE(cal.IsSchoolDay(absl::CivilDay(2027, 8, 11)));
  EXPECT_FALSE(cal.IsSchoolDay(absl::CivilDay(2027, 8, 30)));  // bank holiday still
}

TEST(WorkingCalendarTest, OfficeHoursAreLocalTimeOnBothSidesOfTheClockChange) {
  WorkingCalendar cal = England();
  // Friday 23 October 2026 is in BST (UTC+1): 08:30 UTC is 09:30 local, in hours.
  EXPECT_TRUE(cal.IsOfficeHours(absl::FromCivil(absl::CivilSecond(2026, 10, 23, 8, 30, 0),
                                                absl::UTCTimeZone())));
  // Monday 26 October 2026, after the clocks went back on Sunday 25th: 08:30 UTC is 08:30 GMT.
  EXPECT_FALSE(cal.IsOfficeHours(absl::FromCivil(absl::CivilSecond(2026, 10, 26, 8, 30, 0),
                                                 absl::UTCTimeZone())));
  EXPECT_TRUE(cal.IsOfficeHours(At(2026, 10, 26, 9, 0)));
  EXPECT_FALSE(cal.IsOfficeHours(At(2026, 10, 26, 17, 0)));  // the end is exclusive
  EXPECT_TRUE(cal.IsOfficeHours(At(2026, 10, 26, 16, 59)));
  // March 2027: clocks go forward on Sunday 28th; Monday 29th is Easter Monday, Tuesday in hours.
  EXPECT_FALSE(cal.IsOfficeHours(At(2027, 3, 29, 10, 0)));
  EXPECT_TRUE(cal.IsOfficeHours(absl::FromCivil(absl::CivilSecond(2027, 3, 30, 8, 0, 0),
                                                absl::UTCTimeZone())));  // 09:00 BST
  EXPECT_FALSE(cal.IsOfficeHours(At(2026, 10, 24, 11, 0)));  // Saturday
}

TEST(WorkingCalendarTest, StartOfNextSchoolDay) {
  WorkingCalendar cal = England();
  // Friday 20:00 in term: Monday 08:45.
  EXPECT_LOCAL(cal, cal.StartOfNextSchoolDay(At(2026, 10, 16, 20)), At(2026, 10, 19, 8, 45));
  // Friday 20:00 before half-term: the Monday after half-term (and after the clock change).
  EXPECT_LOCAL(cal, cal.StartOfNextSchoolDay(At(2026, 10, 23, 20)), At(2026, 11, 2, 8, 45));
  // Last day of the Christmas term: the first day of January term is an INSET day.
  EXPECT_LOCAL(cal, cal.StartOfNextSchoolDay(At(2026, 12, 18, 20)), At(2027, 1, 5, 8, 45));
  // Before today's start on a school day: today's start. At or after it: tomorrow's.
  EXPECT_LOCAL(cal, cal.StartOfNextSchoolDay(At(2026, 10, 20, 7, 10)), At(2026, 10, 20, 8, 45));
  EXPECT_LOCAL(cal, cal.StartOfNextSchoolDay(At(2026, 10, 20, 8, 45)), At(2026, 10, 21, 8, 45));
  // Bank holiday Monday in term (Early May 2026): Tuesday.
  EXPECT_LOCAL(cal, cal.StartOfNextSchoolDay(At(2026, 5, 1, 21)), At(2026, 5, 5, 8, 45));
}

TEST(WorkingCalendarTest, EndOfWorkingDay) {
  WorkingCalendar cal = England();
  EXPECT_LOCAL(cal, cal.EndOfWorkingDay(At(2026, 10, 20, 10)), At(2026, 10, 20, 17));
  EXPECT_LOCAL(cal, cal.EndOfWorkingDay(At(2026, 10, 20, 7)), At(2026, 10, 20, 17));  // early
  EXPECT_LOCAL(cal, cal.EndOfWorkingDay(At(2026, 10, 20, 17)), At(2026, 10, 21, 17));
  EXPECT_LOCAL(cal, cal.EndOfWorkingDay(At(2026, 10, 23, 18)), At(2026, 10, 26, 17));
  EXPECT_LOCAL(cal, cal.EndOfWorkingDay(At(2026, 12, 24, 18)), At(2026, 12, 29, 17));
}

TEST(WorkingCalendarTest, EndOfNthWorkingDay) {
  WorkingCalendar cal = England();
  // Thursday 16:00, Friday an ordinary working day: Friday 17:00.
  EXPECT_LOCAL(cal, cal.EndOfNthWorkingDay(At(2026, 10, 22, 16), 1), At(2026, 10, 23, 17));
  // Thursday 31 December 16:00, New Year's Day a Friday bank holiday: Monday 17:00.
  EXPECT_LOCAL(cal, cal.EndOfNthWorkingDay(At(2026, 12, 31, 16), 1), At(2027, 1, 4, 17));
  // Maundy Thursday 2026: Good Friday and Easter Monday are both holidays: Tuesday.
  EXPECT_LOCAL(cal, cal.EndOfNthWorkingDay(At(2026, 4, 2, 16), 1), At(2026, 4, 7, 17));
  // After hours counts from the next working day: Thursday 18:00 -> Monday.
  EXPECT_LOCAL(cal, cal.EndOfNthWorkingDay(At(2026, 10, 22, 18), 1), At(2026, 10, 26, 17));
  // Saturday: day 0 is Monday, day 1 Tuesday.
  EXPECT_LOCAL(cal, cal.EndOfNthWorkingDay(At(2026, 10, 24, 11), 1), At(2026, 10, 27, 17));
  EXPECT_LOCAL(cal, cal.EndOfNthWorkingDay(At(2026, 10, 24, 11), 0), At(2026, 10, 26, 17));
}

TEST(WorkingCalendarTest, AddWorkingHoursCountsOnlyOfficeHours) {
  WorkingCalendar cal = England();
  EXPECT_LOCAL(cal, cal.AddWorkingHours(At(2026, 10, 20, 10), absl::Hours(4)),
               At(2026, 10, 20, 14));
  EXPECT_LOCAL(cal, cal.AddWorkingHours(At(2026, 10, 20, 16), absl::Hours(1)),
               At(2026, 10, 20, 17));  // lands on the close: the close
  // Friday 16:00 + 4h: 1h Friday, 3h Monday (after the clock change: still 12:00 local).
  EXPECT_LOCAL(cal, cal.AddWorkingHours(At(2026, 10, 23, 16), absl::Hours(4)),
               At(2026, 10, 26, 12));
  // Out of hours starts at the next opening.
  EXPECT_LOCAL(cal, cal.AddWorkingHours(At(2026, 10, 24, 3), absl::Hours(8)),
               At(2026, 10, 26, 17));
  EXPECT_LOCAL(cal, cal.AddWorkingHours(At(2026, 12, 24, 15), absl::Hours(8)),
               At(2026, 12, 29, 15));
  EXPECT_EQ(cal.AddWorkingHours(At(2026, 10, 24, 3), absl::ZeroDuration()), At(2026, 10, 24, 3));
}

TEST(WorkingCalendarTest, EscalationStepsUseOfficeHoursAndTheEmergencyStepWallClock) {
  WorkingCalendar cal = England();
  ASSERT_EQ(cal.escalation_steps(), 3);
  // In hours: 4 office hours per step.
  EXPECT_LOCAL(cal, cal.EscalationDue(At(2026, 10, 20, 10), 1), At(2026, 10, 20, 14));
  EXPECT_LOCAL(cal, cal.EscalationDue(At(2026, 10, 20, 14), 2), At(2026, 10, 21, 10));
  EXPECT_LOCAL(cal, cal.EscalationDue(At(2026, 10, 21, 10), 3), At(2026, 10, 21, 14));
  // Out of hours the emergency step (emergency duty team) gets one wall-clock hour...
  EXPECT_LOCAL(cal, cal.EscalationDue(At(2026, 10, 24, 2), 3), At(2026, 10, 24, 3));
  // ... also across the clock change (01:30 BST + 1h = 01:30 GMT, the repeated hour).
  EXPECT_EQ(cal.EscalationDue(At(2026, 10, 25, 0, 30), 3), At(2026, 10, 25, 0, 30) + absl::Hours(1));
  // ... while earlier steps wait for office hours.
  EXPECT_LOCAL(cal, cal.EscalationDue(At(2026, 10, 24, 2), 1), At(2026, 10, 26, 13));
  // Beyond the last step: the last step again; below 1: step 1.
  EXPECT_EQ(cal.EscalationDue(At(2026, 10, 24, 2), 7), At(2026, 10, 24, 3));
  EXPECT_EQ(cal.EscalationDue(At(2026, 10, 20, 10), 0), At(2026, 10, 20, 14));
}

TEST(WorkingCalendarTest, CustomWorkingWeekAndHours) {
  CalendarSpec spec;
  spec.working_days = {true, true, true, true, false, false, false};  // Monday to Thursday
  spec.office_start = absl::Hours(8);
  spec.office_end = absl::Hours(16);
  spec.bank_holidays = {absl::CivilDay(2026, 10, 19)};
  auto cal = WorkingCalendar::Create(spec);
  ASSERT_TRUE(cal.ok()) << cal.status();
  EXPECT_FALSE(cal->IsWorkingDay(absl::CivilDay(2026, 10, 16)));  // Friday
  EXPECT_LOCAL(*cal, cal->EndOfWorkingDay(At(2026, 10, 15, 17)), At(2026, 10, 20, 16));
  // No terms configured: every weekday not a holiday is a school day.
  EXPECT_TRUE(cal->IsSchoolDay(absl::CivilDay(2026, 8, 12)));
  EXPECT_FALSE(cal->IsSchoolDay(absl::CivilDay(2026, 10, 19)));
}

TEST(WorkingCalendarTest, OfficeHoursMayRunToMidnight) {
  CalendarSpec spec;
  spec.office_start = absl::Hours(8);
  spec.office_end = absl::Hours(24);
  auto cal = WorkingCalendar::Create(spec);
  ASSERT_TRUE(cal.ok()) << cal.status();
  EXPECT_TRUE(cal->IsOfficeHours(At(2026, 10, 22, 23, 30)));
  // Thursday's next working day is Friday, whose close is Saturday 00:00 (not Monday's).
  EXPECT_LOCAL(*cal, cal->EndOfNthWorkingDay(At(2026, 10, 22, 10), 1), At(2026, 10, 24, 0));
  EXPECT_LOCAL(*cal, cal->EndOfNthWorkingDay(At(2026, 10, 22, 10), 2), At(2026, 10, 27, 0));
}

TEST(WorkingCalendarTest, CreateRefusesAnUnknownZoneAndBadSpecs) {
  CalendarSpec spec;
  spec.source = "area.yaml";
  spec.time_zone = "Europe/Lundon";
  auto bad = WorkingCalendar::Create(spec);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(bad.status().message(), HasSubstr("Europe/Lundon"));
  EXPECT_THAT(bad.status().message(), HasSubstr("tzdata"));

  spec = CalendarSpec{};
  spec.working_days = {};
  EXPECT_THAT(WorkingCalendar::Create(spec).status().message(), HasSubstr("working_days"));
  spec = CalendarSpec{};
  spec.office_start = absl::Hours(18);
  EXPECT_THAT(WorkingCalendar::Create(spec).status().message(), HasSubstr("office_hours"));
  spec = CalendarSpec{};
  spec.school_terms = {{absl::CivilDay(2026, 9, 1), absl::CivilDay(2026, 10, 23)},
                       {absl::CivilDay(2026, 10, 20), absl::CivilDay(2026, 12, 18)}};
  EXPECT_THAT(WorkingCalendar::Create(spec).status().message(), HasSubstr("overlap"));
}

}  // namespace
}  // namespace safeguard::calendar
