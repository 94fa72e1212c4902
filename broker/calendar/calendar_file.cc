#include "broker/calendar/calendar_file.h"

#include <fstream>
#include <array>
#include <initializer_list>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "yaml-cpp/yaml.h"

namespace safeguard::calendar {
namespace {

constexpr absl::string_view kWeekdayNames[7] = {"monday", "tuesday",  "wednesday", "thursday",
                                                "friday", "saturday", "sunday"};

// Reads the YAML document into a CalendarSpec, collecting every error with its position.
// Thread-compatible.
class CalendarReader {
 public:
  explicit CalendarReader(absl::string_view file) : file_(file) { spec_.source = file_; }

  absl::StatusOr<CalendarSpec> Read(const std::string& text) {
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      errors_.push_back(absl::StrCat(file_, ":", e.mark.is_null() ? 0 : e.mark.line + 1, ":",
                                     e.mark.is_null() ? 0 : e.mark.column + 1,
                                     ": not valid YAML: ", e.msg));
      return Result();
    }
    try {
      ReadRoot(root);
    } catch (const YAML::Exception& e) {
      // yaml-cpp throws on misuse only; a file we did not foresee is reported, not a crash.
      errors_.push_back(absl::StrCat(file_, ": could not read the calendar: ", e.msg));
    }
    return Result();
  }

 private:
  absl::StatusOr<CalendarSpec> Result() {
    if (errors_.empty()) return std::move(spec_);
    return absl::InvalidArgumentError(
        absl::StrCat("calendar file ", file_, " has ", errors_.size(),
                     errors_.size() == 1 ? " error:\n  " : " errors:\n  ",
                     absl::StrJoin(errors_, "\n  ")));
  }

  void Error(const YAML::Node& at, absl::string_view message) {
    int line = 0, column = 0;
    if (at.IsDefined() && !at.Mark().is_null()) {
      line = at.Mark().line + 1;
      column = at.Mark().column + 1;
    }
    errors_.push_back(absl::StrCat(file_, ":", line, ":", column, ": ", message));
  }

  // The entries of a mapping, refusing keys not in `allowed` and keys given twice.
  bool Map(const YAML::Node& node, absl::string_view what,
           std::initializer_list<absl::string_view> allowed,
           std::vector<std::pair<std::string, YAML::Node>>* out) {
    if (!node.IsMap()) {
      Error(node, absl::StrCat(what, " must be a mapping (key: value lines)"));
      return false;
    }
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      std::string key = it->first.Scalar();
      bool known = false;
      for (absl::string_view a : allowed) known = known || a == key;
      if (!known) {
        Error(it->first, absl::StrCat("unknown key '", key, "' in ", what,
                                      "; the keys are: ", absl::StrJoin(allowed, ", ")));
        continue;
      }
      if (!seen.insert(key).second) {
        Error(it->first, absl::StrCat("key '", key, "' is given twice in ", what));
        continue;
      }
      out->emplace_back(key, it->second);
    }
    return true;
  }

  std::optional<std::string> Scalar(const YAML::Node& node, absl::string_view what) {
    if (!node.IsScalar() || absl::StripAsciiWhitespace(node.Scalar()).empty()) {
      Error(node, absl::StrCat(what, " must be a single value"));
      return std::nullopt;
    }
    return std::string(absl::StripAsciiWhitespace(node.Scalar()));
  }

  std::vector<YAML::Node> List(const YAML::Node& node, absl::string_view what) {
    std::vector<YAML::Node> out;
    if (node.IsNull()) return out;  // `bank_holidays:` with nothing under it
    if (!node.IsSequence()) {
      Error(node, absl::StrCat(what, " must be a list, [a, b] or one '- item' a line"));
      return out;
    }
    for (const YAML::Node& item : node) out.push_back(item);
    return out;
  }

  std::optional<absl::CivilDay> Date(const YAML::Node& node, absl::string_view what) {
    auto text = Scalar(node, what);
    if (!text) return std::nullopt;
    absl::CivilDay day;
    if (!absl::ParseCivilTime(*text, &day) || absl::FormatCivilTime(day) != *text ||
        day.year() < 2000 || day.year() > 2100) {
      Error(node, absl::StrCat(what, ": '", *text,
                               "' is not a date; write YYYY-MM-DD, e.g. 2026-12-25"));
      return std::nullopt;
    }
    return day;
  }

  // "HH:MM" (24-hour; "24:00" only when allow_24) as a duration since midnight.
  std::optional<absl::Duration> TimeOfDay(const YAML::Node& node, absl::string_view what,
                                          bool allow_24) {
    auto text = Scalar(node, what);
    if (!text) return std::nullopt;
    std::vector<absl::string_view> parts = absl::StrSplit(*text, ':');
    int h = -1, m = -1;
    bool ok = parts.size() == 2 && parts[0].size() == 2 && parts[1].size() == 2 &&
              absl::SimpleAtoi(parts[0], &h) && absl::SimpleAtoi(parts[1], &m) && h >= 0 &&
              m >= 0 && m < 60 && (h < 24 || (allow_24 && h == 24 && m == 0));
    if (!ok) {
      Error(node, absl::StrCat(what, ": '", *text,
                               "' is not a time of day; write HH:MM in 24-hour local time, "
                               "quoted, e.g. \"09:00\""));
      return std::nullopt;
    }
    return absl::Hours(h) + absl::Minutes(m);
  }

  std::optional<double> Number(const YAML::Node& node, absl::string_view what, double low,
                               double high) {
    auto text = Scalar(node, what);
    if (!text) return std::nullopt;
    double v = 0;
    if (!absl::SimpleAtod(*text, &v) || !(v > low) || v > high) {
      Error(node, absl::StrCat(what, ": '", *text, "' must be a number above ", low,
                               " and at most ", high));
      return std::nullopt;
    }
    return v;
  }

  void ReadRoot(const YAML::Node& root) {
    if (!root.IsDefined() || root.IsNull()) {
      errors_.push_back(absl::StrCat(file_, ":1:1: the file is empty; see docs/deadlines.md"));
      return;
    }
    std::vector<std::pair<std::string, YAML::Node>> top;
    if (!Map(root, "the calendar file",
             {"format", "name", "description", "time_zone", "working_days", "office_hours",
              "school_day_start", "bank_holidays", "school_terms", "closure_days", "escalation"},
             &top)) {
      return;
    }
    for (const auto& [key, value] : top) {
      if (key == "format") {
        auto f = Scalar(value, "format");
        if (f && *f != kCalendarFormat) {
          Error(value, absl::StrCat("format '", *f, "' is not one this broker reads; use format: ",
                                    kCalendarFormat));
        }
      } else if (key == "name" || key == "description") {
        Scalar(value, key);
      } else if (key == "time_zone") {
        if (auto z = Scalar(value, "time_zone")) {
          absl::TimeZone zone;
          if (!absl::LoadTimeZone(*z, &zone)) {
            Error(value, absl::StrCat("time_zone '", *z,
                                      "' cannot be loaded from the tz database "
                                      "(/usr/share/zoneinfo): give an IANA zone name such as "
                                      "Europe/London, and install tzdata if it is missing"));
          }
          spec_.time_zone = *z;
        }
      } else if (key == "working_days") {
        ReadWorkingDays(value);
      } else if (key == "office_hours") {
        ReadOfficeHours(value);
      } else if (key == "school_day_start") {
        if (auto t = TimeOfDay(value, "school_day_start", false)) spec_.school_day_start = *t;
      } else if (key == "bank_holidays") {
        spec_.bank_holidays = Dates(value, "bank_holidays", /*weekdays_only=*/true);
      } else if (key == "closure_days") {
        closure_node_ = value;
        spec_.closure_days = Dates(value, "closure_days", /*weekdays_only=*/true);
      } else if (key == "school_terms") {
        ReadTerms(value);
      } else if (key == "escalation") {
        ReadEscalation(value);
      }
    }
    CheckClosureDays();
  }

  void ReadWorkingDays(const YAML::Node& node) {
    std::array<bool, 7> days{};
    bool any = false;
    for (const YAML::Node& item : List(node, "working_days")) {
      auto name = Scalar(item, "working_days");
      if (!name) continue;
      std::string lower = absl::AsciiStrToLower(*name);
      int found = -1;
      for (int i = 0; i < 7; ++i) {
        if (kWeekdayNames[i] == lower) found = i;
      }
      if (found < 0) {
        Error(item, absl::StrCat("working_days: '", *name, "' is not a day; use monday, ..., "
                                 "sunday"));
        continue;
      }
      if (days[found]) {
        Error(item, absl::StrCat("working_days: ", lower, " is given twice"));
        continue;
      }
      days[found] = any = true;
    }
    if (!any) {
      Error(node, "working_days: give at least one day, e.g. [monday, tuesday, wednesday, "
                  "thursday, friday]");
      return;
    }
    spec_.working_days = days;
  }

  void ReadOfficeHours(const YAML::Node& node) {
    std::vector<std::pair<std::string, YAML::Node>> keys;
    if (!Map(node, "office_hours", {"start", "end"}, &keys)) return;
    std::optional<absl::Duration> start, end;
    for (const auto& [key, value] : keys) {
      if (key == "start") start = TimeOfDay(value, "office_hours.start", false);
      if (key == "end") end = TimeOfDay(value, "office_hours.end", true);
    }
    if (start) spec_.office_start = *start;
    if (end) spec_.office_end = *end;
    if (spec_.office_start >= spec_.office_end) {
      Error(node, "office_hours: start must be before end, e.g. {start: \"09:00\", end: "
                  "\"17:00\"}");
    }
  }

  std::vector<absl::CivilDay> Dates(const YAML::Node& node, absl::string_view what,
                                    bool weekdays_only) {
    std::vector<absl::CivilDay> out;
    std::set<absl::CivilDay> seen;
    for (const YAML::Node& item : List(node, what)) {
      auto day = Date(item, what);
      if (!day) continue;
      if (!seen.insert(*day).second) {
        Error(item, absl::StrCat(what, ": ", absl::FormatCivilTime(*day), " is given twice"));
        continue;
      }
      absl::Weekday w = absl::GetWeekday(*day);
      if (weekdays_only && (w == absl::Weekday::saturday || w == absl::Weekday::sunday)) {
        Error(item, absl::StrCat(what, ": ", absl::FormatCivilTime(*day), " is a ",
                                 w == absl::Weekday::saturday ? "Saturday" : "Sunday",
                                 what == "bank_holidays"
                                     ? "; list the weekday it is observed on (the substitute "
                                       "day) instead"
                                     : "; weekends are never school days, so leave it out"));
        continue;
      }
      out.push_back(*day);
    }
    return out;
  }

  void ReadTerms(const YAML::Node& node) {
    for (const YAML::Node& item : List(node, "school_terms")) {
      std::vector<std::pair<std::string, YAML::Node>> keys;
      if (!Map(item, "a school term", {"name", "start", "end"}, &keys)) continue;
      std::optional<absl::CivilDay> start, end;
      for (const auto& [key, value] : keys) {
        if (key == "start") start = Date(value, "school term start");
        if (key == "end") end = Date(value, "school term end");
        if (key == "name") Scalar(value, "school term name");
      }
      bool has_start = false, has_end = false;
      for (const auto& [key, value] : keys) {
        has_start = has_start || key == "start";
        has_end = has_end || key == "end";
      }
      if (!has_start || !has_end) {
        Error(item, "a school term needs both start and end, e.g. {start: 2026-09-02, end: "
                    "2026-10-23}");
        continue;
      }
      if (!start || !end) continue;
      if (*end < *start) {
        Error(item, absl::StrCat("school term ", absl::FormatCivilTime(*start), " to ",
                                 absl::FormatCivilTime(*end), " ends before it starts"));
        continue;
      }
      for (const auto& [other, other_node] : terms_) {
        if (*start <= other.second && other.first <= *end) {
          Error(item, absl::StrCat("school term ", absl::FormatCivilTime(*start), " to ",
                                   absl::FormatCivilTime(*end), " overlaps the term ",
                                   absl::FormatCivilTime(other.first), " to ",
                                   absl::FormatCivilTime(other.second), " (line ",
                                   other_node.Mark().line + 1, ")"));
        }
      }
      terms_.push_back({{*start, *end}, item});
      spec_.school_terms.emplace_back(*start, *end);
    }
  }

  // An INSET or closure day outside every term changes nothing: most likely a wrong date.
  void CheckClosureDays() {
    if (spec_.closure_days.empty() || spec_.school_terms.empty()) return;
    for (const YAML::Node& item : List(closure_node_, "closure_days")) {
      absl::CivilDay day;
      if (!item.IsScalar() || !absl::ParseCivilTime(item.Scalar(), &day)) continue;
      bool in_term = false;
      for (const auto& [first, last] : spec_.school_terms) {
        in_term = in_term || (first <= day && day <= last);
      }
      if (!in_term) {
        Error(item, absl::StrCat("closure_days: ", item.Scalar(),
                                 " is not inside any school term; closure (INSET) days are term "
                                 "days the school is shut, so check the date or the terms"));
      }
    }
  }

  void ReadEscalation(const YAML::Node& node) {
    std::vector<std::pair<std::string, YAML::Node>> keys;
    if (!Map(node, "escalation", {"step_working_hours", "out_of_hours_emergency_minutes"},
             &keys)) {
      return;
    }
    for (const auto& [key, value] : keys) {
      if (key == "step_working_hours") {
        std::vector<absl::Duration> steps;
        for (const YAML::Node& item : List(value, "escalation.step_working_hours")) {
          if (auto h = Number(item, "escalation.step_working_hours", 0, 200)) {
            steps.push_back(absl::Seconds(static_cast<int64_t>(*h * 3600 + 0.5)));
          }
        }
        if (steps.empty()) {
          Error(value, "escalation.step_working_hours: give the office hours each step is "
                       "allowed, e.g. [4, 4, 4] (deputy, team manager, front door)");
        } else {
          spec_.step_working_hours = steps;
        }
      } else {
        if (auto m = Number(value, "escalation.out_of_hours_emergency_minutes", 0, 24 * 60)) {
          spec_.out_of_hours_emergency = absl::Seconds(static_cast<int64_t>(*m * 60 + 0.5));
        }
      }
    }
  }

  std::string file_;
  CalendarSpec spec_;
  std::vector<std::string> errors_;
  std::vector<std::pair<std::pair<absl::CivilDay, absl::CivilDay>, YAML::Node>> terms_;
  YAML::Node closure_node_;
};

}  // namespace

absl::StatusOr<CalendarSpec> ParseCalendarSpec(absl::string_view file_name,
                                               const std::string& text) {
  return CalendarReader(file_name).Read(text);
}

absl::StatusOr<WorkingCalendar> LoadCalendarFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(
        "cannot read the calendar file ", path,
        "; check areas.calendar_file in the broker configuration (relative to that file)"));
  }
  std::stringstream s;
  s << in.rdbuf();
  auto spec = ParseCalendarSpec(path, s.str());
  if (!spec.ok()) return spec.status();
  return WorkingCalendar::Create(*std::move(spec));
}

}  // namespace safeguard::calendar
