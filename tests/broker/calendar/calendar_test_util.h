// Helpers for the calendar tests: London wall-clock instants and the deployed England calendar.
#ifndef SAFEGUARD_TESTS_BROKER_CALENDAR_CALENDAR_TEST_UTIL_H_
#define SAFEGUARD_TESTS_BROKER_CALENDAR_CALENDAR_TEST_UTIL_H_

#include <string>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "broker/calendar/calendar_file.h"
#include "broker/calendar/working_calendar.h"
#include "gtest/gtest.h"

namespace safeguard::calendar::testing {

inline const absl::TimeZone& London() {
  static const absl::TimeZone zone = [] {
    absl::TimeZone z;
    if (!absl::LoadTimeZone("Europe/London", &z)) {
      ADD_FAILURE() << "Europe/London is not in the tz database: install tzdata";
    }
    return z;
  }();
  return zone;
}

// A London wall-clock instant (never a skipped or repeated hour in these tests).
inline absl::Time At(int y, int mo, int d, int h, int mi = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, 0), London());
}

inline std::string EnglandCalendarPath() {
  return std::string(SAFEGUARD_CALENDAR_DIR) + "/england-2026-27.yaml";
}

inline WorkingCalendar England() {
  auto c = LoadCalendarFile(EnglandCalendarPath());
  EXPECT_TRUE(c.ok()) << c.status();
  return *std::move(c);
}

}  // namespace safeguard::calendar::testing

#endif  // SAFEGUARD_TESTS_BROKER_CALENDAR_CALENDAR_TEST_UTIL_H_
