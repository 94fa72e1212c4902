// DeadlineCalendar: the default policy's deadline classes against the deployed England calendar,
// policy `due` rules and their errors, calendar file errors, and construction from a broker
// configuration. Fixed instants only: no clock.
#include "broker/calendar/deadline_calendar.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "broker/calendar/calendar_file.h"
#include "broker/config/broker_config.h"
#include "broker/policy/policy_lint.h"
#include "broker/policy/sharing_policy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/broker/calendar/calendar_test_util.h"

namespace safeguard::calendar {
namespace {

using ::safeguard::calendar::testing::At;
using ::safeguard::calendar::testing::EnglandCalendarPath;
using ::testing::HasSubstr;

std::shared_ptr<const policy::SharingPolicy> EnglandPolicy() {
  auto p = policy::SharingPolicy::LoadFile(std::string(SAFEGUARD_POLICY_DIR) + "/england.yaml");
  EXPECT_TRUE(p.ok()) << p.status();
  return *p;
}

// A scratch directory holding a broker configuration and calendar files.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "calendar-test-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
  }
  ~ScratchDir() { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) const {
    std::string path = (std::filesystem::path(dir_) / name).string();
    std::ofstream(path) << text;
    return path;
  }

 private:
  std::string dir_;
};

constexpr char kConfigHead[] = R"pb(
partnership: "demo.safeguarding.example"
listen_address: "127.0.0.1:0"
tls { certificate: "a.crt" private_key: "a.key" ca_certificate: "ca.crt" }
data_directory: "data"
policy_file: "policy.yaml"
nodes { id: "school-oakfield" type: "school" area: "swindon" }
nodes { id: "fd-swindon" type: "front-door" area: "swindon" }
nodes { id: "edt-wiltshire" type: "social-care" area: "wiltshire" }
nodes { id: "fd-wiltshire" type: "front-door" area: "wiltshire" }
)pb";

// Decisions name a class; the calendar turns it into a time. The default policy's four classes,
// against the deployed calendar for Swindon.
class EnglandDeadlinesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    policy_ = EnglandPolicy();
    ASSERT_NE(policy_, nullptr);
    auto cal = LoadCalendarFile(EnglandCalendarPath());
    ASSERT_TRUE(cal.ok()) << cal.status();
    auto fallback = WorkingCalendar::Create(CalendarSpec{});
    ASSERT_TRUE(fallback.ok()) << fallback.status();
    std::map<std::string, WorkingCalendar, std::less<>> areas;
    areas.emplace("swindon", *cal);
    deadlines_ = DeadlineCalendar::Create(policy_->deadline_rules(), std::move(areas), *fallback,
                                          {{"swindon", "edt-wiltshire"}});
  }
  absl::Time Due(absl::string_view cls, absl::Time from, absl::string_view area = "swindon") {
    auto due = deadlines_->Due(cls, area, from);
    EXPECT_TRUE(due.ok()) << due.status();
    return due.value_or(absl::InfinitePast());
  }
  std::string Local(absl::Time t) {
    return FormatLocal(deadlines_->CalendarFor("swindon"), t);
  }

  std::shared_ptr<const policy::SharingPolicy> policy_;
  std::unique_ptr<DeadlineCalendar> deadlines_;
};

TEST_F(EnglandDeadlinesTest, EveryClassOfTheDefaultPolicyHasADueRule) {
  for (const auto& [name, rule] : policy_->deadline_rules()) {
    EXPECT_TRUE(rule.has_due()) << name;
    EXPECT_FALSE(rule.description.empty()) << name;
    EXPECT_GT(rule.line, 0) << name;
  }
  EXPECT_EQ(policy_->deadline_rules().size(), 4u);
  ASSERT_NE(policy_->FindDeadlineRule("next-school-day"), nullptr);
  EXPECT_EQ(policy_->FindDeadlineRule("next-school-day")->kind,
            policy::DeadlineRule::Kind::kStartOfNextSchoolDay);
  EXPECT_EQ(policy_->FindDeadlineRule("no-such-class"), nullptr);
}

TEST_F(EnglandDeadlinesTest, PoliceDomesticAbuseNoticeToASchoolIsDueBeforeTheNextSchoolDay) {
  // Friday 20:00 in term: Monday 08:45.
  absl::Time due = Due("next-school-day", At(2026, 10, 16, 20));
  EXPECT_EQ(due, At(2026, 10, 19, 8, 45)) << Local(due);
  // Friday 20:00 before half-term: Monday 2 November, after the holiday.
  due = Due("next-school-day", At(2026, 10, 23, 20));
  EXPECT_EQ(due, At(2026, 11, 2, 8, 45)) << Local(due);
  // Sunday night before the summer term starts after Easter.
  due = Due("next-school-day", At(2026, 4, 12, 23, 30));
  EXPECT_EQ(due, At(2026, 4, 13, 8, 45)) << Local(due);
}

TEST_F(EnglandDeadlinesTest, OneWorkingDaySkipsABankHolidayFriday) {
  // Thursday 31 December 2026 16:00; Friday 1 January is a bank holiday: Monday 17:00.
  absl::Time due = Due("one-working-day", At(2026, 12, 31, 16));
  EXPECT_EQ(due, At(2027, 1, 4, 17)) << Local(due);
  // An ordinary Thursday: Friday 17:00.
  due = Due("one-working-day", At(2026, 10, 22, 16));
  EXPECT_EQ(due, At(2026, 10, 23, 17)) << Local(due);
}

TEST_F(EnglandDeadlinesTest, SameDayIsTodaysCloseOrTheNextWorkingDays) {
  EXPECT_EQ(Due("same-day", At(2026, 10, 22, 11)), At(2026, 10, 22, 17));
  EXPECT_EQ(Due("same-day", At(2026, 10, 23, 19)), At(2026, 10, 26, 17));
}

TEST_F(EnglandDeadlinesTest, FourHoursIsWallClockAtAnyHour) {
  EXPECT_EQ(Due("four-hours", At(2026, 10, 24, 22)), At(2026, 10, 24, 22) + absl::Hours(4));
  // Across the October clock change: four real hours, 23:00 BST to 02:00 GMT.
  absl::Time due = Due("four-hours", At(2026, 10, 24, 23));
  EXPECT_EQ(due, At(2026, 10, 25, 2)) << Local(due);
  EXPECT_EQ(Due("four-hours", At(2026, 12, 25, 9)), At(2026, 12, 25, 13));
}

TEST_F(EnglandDeadlinesTest, UnknownClassIsInvalidAndUnknownAreaUsesTheDefault) {
  auto due = deadlines_->Due("next-week", "swindon", At(2026, 10, 22, 16));
  EXPECT_EQ(due.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(due.status().message(), HasSubstr("'next-week'"));
  EXPECT_THAT(due.status().message(), HasSubstr("one-working-day"));
  // The default calendar knows no bank holidays: New Year's Day counts (earlier, not later).
  EXPECT_EQ(Due("one-working-day", At(2026, 12, 31, 16), "oxford"), At(2027, 1, 1, 17));
  EXPECT_FALSE(deadlines_->HasCalendar("oxford"));
}

TEST_F(EnglandDeadlinesTest, OfficeHoursAndEscalationPerArea) {
  EXPECT_TRUE(deadlines_->IsOfficeHours("swindon", At(2026, 10, 22, 10)));
  EXPECT_FALSE(deadlines_->IsOfficeHours("swindon", At(2026, 12, 28, 10)));  // bank holiday
  EXPECT_TRUE(deadlines_->IsOfficeHours("oxford", At(2026, 12, 28, 10)));    // default calendar
  EXPECT_EQ(deadlines_->EscalationSteps("swindon"), 3);
  // A one-working-day delivery due Monday 17:00 and not acknowledged: the deputy's step is
  // raised at 17:00 (out of hours) and waits for four office hours, Tuesday 13:00; the team
  // manager's runs Tuesday 13:00 -> 17:00, the close; the last step is then raised out of hours,
  // so it goes to the emergency duty team with one wall-clock hour: Tuesday 18:00.
  absl::Time step1 = deadlines_->EscalationDue("swindon", At(2027, 1, 4, 17), 1);
  EXPECT_EQ(step1, At(2027, 1, 5, 13)) << Local(step1);
  absl::Time step2 = deadlines_->EscalationDue("swindon", step1, 2);
  EXPECT_EQ(step2, At(2027, 1, 5, 17)) << Local(step2);
  EXPECT_FALSE(deadlines_->IsOfficeHours("swindon", step2));
  absl::Time step3 = deadlines_->EscalationDue("swindon", step2, 3);
  EXPECT_EQ(step3, At(2027, 1, 5, 18)) << Local(step3);
  // Raised in office hours, the last step goes to the front door with four office hours.
  step3 = deadlines_->EscalationDue("swindon", At(2027, 1, 6, 9), 3);
  EXPECT_EQ(step3, At(2027, 1, 6, 13)) << Local(step3);
  // Out of hours, the emergency duty team's step is one wall-clock hour.
  EXPECT_EQ(deadlines_->EscalationDue("swindon", At(2026, 12, 25, 2), 3), At(2026, 12, 25, 3));
  EXPECT_EQ(deadlines_->EmergencyDutyNode("swindon"), "edt-wiltshire");
  EXPECT_EQ(deadlines_->EmergencyDutyNode("oxford"), "");
}

// The policy: `due` rules parse, plain descriptions still work, mistakes have file:line.
constexpr char kPolicyHead[] = R"yaml(format: safeguard-sharing-policy/v1
name: test-policy
version: "1"
references:
  isa-2024: {title: "Information sharing advice (2024)"}
regimes:
  uk-gdpr: [gp, school, housing, front-door, social-care, health, early-help]
  law-enforcement: [police]
datasets:
  front-door: [child-identity, summary]
bases:
  SG-RISK:
    uk_gdpr: {article6: "6(1)(e) public task", article9: "9(2)(g)", schedule1: "Sch 1 para 18",
              without_consent: "Sch 1 para 18(c)"}
    law_enforcement: {lawful_processing: "s.35(2)(b)", sensitive_processing: "Sch 8 para 4",
                      without_consent: "Sch 8 para 4"}
    gateway: "Children Act 2004 s.11"
    citations: [isa-2024]
    requires: {risk: true}
rules:
  - id: risk-to-front-door
    citations: [isa-2024]
    match: {risk: true}
    share: {to: front-door, basis: SG-RISK, purpose: "Triage.", deadline: soon}
deadlines:
)yaml";

absl::StatusOr<std::shared_ptr<const policy::SharingPolicy>> PolicyWith(const std::string& soon) {
  return policy::SharingPolicy::FromText("p.yaml", absl::StrCat(kPolicyHead, "  soon: ", soon,
                                                                "\n"));
}

TEST(PolicyDeadlineRuleTest, EachRuleParses) {
  auto p = PolicyWith("{description: \"x\", due: {within: 90m}}");
  ASSERT_TRUE(p.ok()) << p.status();
  const policy::DeadlineRule* r = (*p)->FindDeadlineRule("soon");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->kind, policy::DeadlineRule::Kind::kWithin);
  EXPECT_EQ(r->duration, absl::Minutes(90));
  EXPECT_EQ(r->line, 26);

  p = PolicyWith("{description: \"x\", due: {working-hours: 2.5}}");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->FindDeadlineRule("soon")->duration, absl::Minutes(150));

  p = PolicyWith("{description: \"x\", due: {end-of-working-day: 2}}");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->FindDeadlineRule("soon")->working_days, 2);
}

TEST(PolicyDeadlineRuleTest, APlainDescriptionStillLoadsButHasNoDueTime) {
  auto p = PolicyWith("\"Soon.\"");
  ASSERT_TRUE(p.ok()) << p.status();
  const policy::DeadlineRule* r = (*p)->FindDeadlineRule("soon");
  ASSERT_NE(r, nullptr);
  EXPECT_FALSE(r->has_due());
  EXPECT_EQ(r->description, "Soon.");
  auto d = DeadlineCalendar::Create((*p)->deadline_rules(), {},
                                    *WorkingCalendar::Create(CalendarSpec{}));
  auto due = d->Due("soon", "swindon", At(2026, 10, 22, 16));
  EXPECT_EQ(due.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(due.status().message(), HasSubstr("no due rule"));
}

TEST(PolicyDeadlineRuleTest, MistakesAreRefusedWithFileAndLine) {
  auto message = [](const std::string& soon) {
    auto p = PolicyWith(soon);
    EXPECT_FALSE(p.ok()) << soon;
    return std::string(p.status().message());
  };
  EXPECT_THAT(message("{description: \"x\", due: {within: soon}}"),
              ::testing::AllOf(HasSubstr("p.yaml:26:"), HasSubstr("within: 'soon'")));
  EXPECT_THAT(message("{description: \"x\", due: {within: -4h}}"), HasSubstr("within"));
  EXPECT_THAT(message("{description: \"x\", due: {end-of-working-day: one}}"),
              HasSubstr("whole number of working days"));
  EXPECT_THAT(message("{description: \"x\", due: {start-of-next-school-day: false}}"),
              HasSubstr("must be true"));
  EXPECT_THAT(message("{description: \"x\", due: {working-hours: 0}}"), HasSubstr("above 0"));
  EXPECT_THAT(message("{description: \"x\", due: {within: 4h, working-hours: 8}}"),
              HasSubstr("exactly one rule"));
  EXPECT_THAT(message("{description: \"x\", due: {tomorrow: true}}"),
              HasSubstr("unknown key 'tomorrow'"));
  EXPECT_THAT(message("{description: \"x\"}"), HasSubstr("due"));
  EXPECT_THAT(message("{due: {within: 4h}}"), HasSubstr("description"));
  // Lint reports the same, with line and column.
  policy::LintReport lint = policy::LintPolicyText(
      "p.yaml", absl::StrCat(kPolicyHead, "  soon: {description: \"x\", due: {within: x}}\n"));
  ASSERT_EQ(lint.errors(), 1);
  EXPECT_EQ(lint.diagnostics[0].line, 26);
}

// Calendar files: every mistake with file:line:column and what to write.
TEST(CalendarFileTest, TheDeployedCalendarLoads) {
  auto spec = ParseCalendarSpec("england.yaml", [] {
    std::ifstream in(EnglandCalendarPath());
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }());
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->bank_holidays.size(), 16u);
  EXPECT_EQ(spec->school_terms.size(), 10u);
  EXPECT_EQ(spec->time_zone, "Europe/London");
}

TEST(CalendarFileTest, MistakesHaveFileLineAndWhatToFix) {
  auto message = [](const std::string& text) {
    auto spec = ParseCalendarSpec("swindon.yaml", text);
    EXPECT_FALSE(spec.ok()) << text;
    return std::string(spec.status().message());
  };
  EXPECT_THAT(message("time_zone: Europe/Lundon\n"),
              ::testing::AllOf(HasSubstr("swindon.yaml:1:12:"), HasSubstr("Europe/Lundon")));
  EXPECT_THAT(message("bank_holidays: [2026-12-25, 2026-13-01]\n"),
              ::testing::AllOf(HasSubstr("swindon.yaml:1:29:"), HasSubstr("YYYY-MM-DD")));
  EXPECT_THAT(message("bank_holidays:\n  - 2026-12-26\n"),
              ::testing::AllOf(HasSubstr("swindon.yaml:2:5:"), HasSubstr("Saturday"),
                               HasSubstr("substitute")));
  EXPECT_THAT(message("office_hours: {start: \"9am\", end: \"17:00\"}\n"),
              HasSubstr("write HH:MM"));
  EXPECT_THAT(message("office_hours: {start: \"18:00\", end: \"17:00\"}\n"),
              HasSubstr("start must be before end"));
  EXPECT_THAT(message("school_terms:\n  - {start: 2026-09-01, end: 2026-10-23}\n"
                      "  - {start: 2026-10-20, end: 2026-12-18}\n"),
              ::testing::AllOf(HasSubstr("swindon.yaml:3:5:"), HasSubstr("overlaps")));
  EXPECT_THAT(message("school_terms: [{start: 2026-09-01}]\n"), HasSubstr("start and end"));
  EXPECT_THAT(message("school_terms: [{start: 2026-09-01, end: 2026-10-23}]\n"
                      "closure_days: [2026-10-26]\n"),
              HasSubstr("not inside any school term"));
  EXPECT_THAT(message("working_days: [monday, funday]\n"), HasSubstr("'funday' is not a day"));
  EXPECT_THAT(message("escalation: {step_working_hours: [4, 0]}\n"), HasSubstr("above 0"));
  EXPECT_THAT(message("timezone: Europe/London\n"),
              ::testing::AllOf(HasSubstr("unknown key 'timezone'"), HasSubstr("time_zone")));
  EXPECT_THAT(message("time_zone: Europe/London\ntime_zone: UTC\n"), HasSubstr("given twice"));
  EXPECT_THAT(message("bank_holidays: [2026-12-25\n"), HasSubstr("not valid YAML"));
  EXPECT_THAT(message(""), HasSubstr("empty"));
  EXPECT_THAT(message("format: safeguard-calendar/v9\n"), HasSubstr("safeguard-calendar/v1"));
  // Several mistakes are all reported.
  EXPECT_THAT(message("time_zone: Nowhere/Atall\nschool_day_start: \"8:45\"\n"),
              ::testing::AllOf(HasSubstr("2 errors"), HasSubstr(":1:"), HasSubstr(":2:")));
}

TEST(CalendarFileTest, EscalationAllowancesAreRead) {
  auto spec = ParseCalendarSpec(
      "a.yaml", "escalation: {step_working_hours: [2, 4], out_of_hours_emergency_minutes: 30}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  auto cal = WorkingCalendar::Create(*spec);
  ASSERT_TRUE(cal.ok()) << cal.status();
  EXPECT_EQ(cal->escalation_steps(), 2);
  EXPECT_EQ(cal->EscalationDue(At(2026, 10, 22, 10), 1), At(2026, 10, 22, 12));
  EXPECT_EQ(cal->EscalationDue(At(2026, 10, 22, 10), 2), At(2026, 10, 22, 14));
  EXPECT_EQ(cal->EscalationDue(At(2026, 10, 22, 20), 2), At(2026, 10, 22, 20, 30));
}

// The broker configuration: calendar_file and emergency_duty_node.
TEST(CalendarConfigTest, FromConfigLoadsEachAreasCalendar) {
  ScratchDir dir;
  dir.Write("swindon.yaml", "bank_holidays: [2026-10-23]\n");
  std::string conf = dir.Write(
      "broker.conf",
      absl::StrCat(kConfigHead,
                   "areas { code: \"swindon\" resolution_route: \"duty manager\" "
                   "calendar_file: \"swindon.yaml\" emergency_duty_node: \"edt-wiltshire\" }\n"));
  auto config = config::LoadBrokerConfig(conf);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(std::filesystem::path(config->areas(0).calendar_file()).is_absolute());
  auto policy = EnglandPolicy();
  auto deadlines = DeadlineCalendar::FromConfig(*config, *policy);
  ASSERT_TRUE(deadlines.ok()) << deadlines.status();
  EXPECT_TRUE((*deadlines)->HasCalendar("swindon"));
  EXPECT_FALSE((*deadlines)->HasCalendar("wiltshire"));
  // Friday 23 October is a holiday in this (test) calendar: Thursday's one working day runs to
  // Monday.
  auto due = (*deadlines)->Due("one-working-day", "swindon", At(2026, 10, 22, 16));
  ASSERT_TRUE(due.ok()) << due.status();
  EXPECT_EQ(*due, At(2026, 10, 26, 17));
  EXPECT_EQ((*deadlines)->EmergencyDutyNode("swindon"), "edt-wiltshire");
}

TEST(CalendarConfigTest, AnInvalidCalendarFileFailsWithItsLine) {
  ScratchDir dir;
  dir.Write("swindon.yaml", "time_zone: Europe/London\nbank_holidays: [2026-02-30]\n");
  std::string conf = dir.Write(
      "broker.conf", absl::StrCat(kConfigHead,
                                  "areas { code: \"swindon\" resolution_route: \"duty manager\" "
                                  "calendar_file: \"swindon.yaml\" }\n"));
  auto config = config::LoadBrokerConfig(conf);
  ASSERT_TRUE(config.ok()) << config.status();
  auto deadlines = DeadlineCalendar::FromConfig(*config, *EnglandPolicy());
  EXPECT_EQ(deadlines.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(deadlines.status().message(),
              ::testing::AllOf(HasSubstr("area 'swindon'"), HasSubstr("swindon.yaml:2:17:"),
                               HasSubstr("2026-02-30")));
}

TEST(CalendarConfigTest, ConfigMistakesAreNamed) {
  ScratchDir dir;
  auto with = [&](const std::string& area) {
    std::string conf = dir.Write("broker.conf", absl::StrCat(kConfigHead, area, "\n"));
    return config::LoadBrokerConfig(conf).status();
  };
  absl::Status s = with(
      "areas { code: \"swindon\" resolution_route: \"r\" calendar_file: \"missing.yaml\" }");
  EXPECT_THAT(s.message(), ::testing::AllOf(HasSubstr("areas[0].calendar_file"),
                                            HasSubstr("missing.yaml"), HasSubstr("'swindon'")));
  s = with("areas { code: \"swindon\" resolution_route: \"r\" emergency_duty_node: \"edt-x\" }");
  EXPECT_THAT(s.message(), ::testing::AllOf(HasSubstr("areas[0].emergency_duty_node"),
                                            HasSubstr("'edt-x' is not the id of any node")));
  s = with(
      "areas { code: \"swindon\" resolution_route: \"r\" "
      "emergency_duty_node: \"school-oakfield\" }");
  EXPECT_THAT(s.message(), HasSubstr("must be a front-door or social-care node"));
  // A shared emergency duty team of a neighbouring area is fine.
  EXPECT_TRUE(with("areas { code: \"swindon\" resolution_route: \"r\" "
                   "emergency_duty_node: \"edt-wiltshire\" }")
                  .ok());
}

}  // namespace
}  // namespace safeguard::calendar
