#include "broker/calendar/deadline_calendar.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "broker/calendar/calendar_file.h"

namespace safeguard::calendar {

DeadlineCalendar::DeadlineCalendar(
    std::map<std::string, policy::DeadlineRule> rules,
    std::map<std::string, WorkingCalendar, std::less<>> areas, WorkingCalendar default_calendar,
    std::map<std::string, std::string, std::less<>> emergency_duty_nodes)
    : rules_(std::move(rules)),
      areas_(std::move(areas)),
      default_(std::move(default_calendar)),
      emergency_duty_nodes_(std::move(emergency_duty_nodes)) {}

std::unique_ptr<DeadlineCalendar> DeadlineCalendar::Create(
    std::map<std::string, policy::DeadlineRule> rules,
    std::map<std::string, WorkingCalendar, std::less<>> areas, WorkingCalendar default_calendar,
    std::map<std::string, std::string, std::less<>> emergency_duty_nodes) {
  return std::unique_ptr<DeadlineCalendar>(
      new DeadlineCalendar(std::move(rules), std::move(areas), std::move(default_calendar),
                           std::move(emergency_duty_nodes)));
}

absl::StatusOr<std::unique_ptr<DeadlineCalendar>> DeadlineCalendar::FromConfig(
    const config::BrokerConfig& config, const policy::SharingPolicy& policy) {
  return FromConfig(config, policy.deadline_rules());
}

absl::StatusOr<std::unique_ptr<DeadlineCalendar>> DeadlineCalendar::FromConfig(
    const config::BrokerConfig& config, std::map<std::string, policy::DeadlineRule> rules) {
  auto default_calendar = WorkingCalendar::Create(CalendarSpec{});
  if (!default_calendar.ok()) return default_calendar.status();
  std::map<std::string, WorkingCalendar, std::less<>> areas;
  std::map<std::string, std::string, std::less<>> emergency_duty_nodes;
  // Files shared by several areas are read once.
  std::map<std::string, WorkingCalendar> by_file;
  for (const config::Area& area : config.areas()) {
    if (!area.emergency_duty_node().empty()) {
      emergency_duty_nodes[area.code()] = area.emergency_duty_node();
    }
    if (area.calendar_file().empty()) continue;
    auto it = by_file.find(area.calendar_file());
    if (it == by_file.end()) {
      auto calendar = LoadCalendarFile(area.calendar_file());
      if (!calendar.ok()) {
        return absl::Status(calendar.status().code(),
                            absl::StrCat("area '", area.code(), "': ",
                                         calendar.status().message()));
      }
      it = by_file.emplace(area.calendar_file(), *std::move(calendar)).first;
    }
    areas.emplace(area.code(), it->second);
  }
  return Create(std::move(rules), std::move(areas), *std::move(default_calendar),
                std::move(emergency_duty_nodes));
}

const WorkingCalendar& DeadlineCalendar::CalendarFor(absl::string_view area) const {
  auto it = areas_.find(area);
  return it == areas_.end() ? default_ : it->second;
}

absl::StatusOr<absl::Time> DeadlineCalendar::Due(absl::string_view deadline_class,
                                                 absl::string_view area, absl::Time from) const {
  auto it = rules_.find(std::string(deadline_class));
  if (it == rules_.end()) {
    std::vector<std::string> names;
    for (const auto& [name, rule] : rules_) names.push_back(name);
    return absl::InvalidArgumentError(
        absl::StrCat("deadline class '", deadline_class,
                     "' is not defined under deadlines: in the sharing policy; defined: ",
                     names.empty() ? "none" : absl::StrJoin(names, ", ")));
  }
  const policy::DeadlineRule& rule = it->second;
  const WorkingCalendar& calendar = CalendarFor(area);
  switch (rule.kind) {
    case policy::DeadlineRule::Kind::kWithin:
      return from + rule.duration;
    case policy::DeadlineRule::Kind::kEndOfWorkingDay:
      return calendar.EndOfNthWorkingDay(from, rule.working_days);
    case policy::DeadlineRule::Kind::kStartOfNextSchoolDay:
      return calendar.StartOfNextSchoolDay(from);
    case policy::DeadlineRule::Kind::kWorkingHours:
      return calendar.AddWorkingHours(from, rule.duration);
    case policy::DeadlineRule::Kind::kNone:
      break;
  }
  return absl::FailedPreconditionError(
      absl::StrCat("deadline class '", deadline_class, "' (policy line ", rule.line,
                   ") has a description but no due rule; write it as {description: \"...\", "
                   "due: {end-of-working-day: 1}} or another rule from docs/deadlines.md"));
}

bool DeadlineCalendar::IsOfficeHours(absl::string_view area, absl::Time t) const {
  return CalendarFor(area).IsOfficeHours(t);
}

absl::Time DeadlineCalendar::EscalationDue(absl::string_view area, absl::Time from,
                                           int step) const {
  return CalendarFor(area).EscalationDue(from, step);
}

int DeadlineCalendar::EscalationSteps(absl::string_view area) const {
  return CalendarFor(area).escalation_steps();
}

std::string DeadlineCalendar::EmergencyDutyNode(absl::string_view area) const {
  auto it = emergency_duty_nodes_.find(area);
  return it == emergency_duty_nodes_.end() ? std::string() : it->second;
}

}  // namespace safeguard::calendar
