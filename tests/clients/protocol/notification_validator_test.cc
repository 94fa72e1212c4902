#include "clients/protocol/notification_validator.h"

#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"

namespace safeguard::protocol {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using google::protobuf::util::TimeUtil;

const absl::Time kNow = absl::FromUnixSeconds(1795000000);

safeguard::v1::Notification Valid() {
  safeguard::v1::Notification n;
  n.set_idempotency_key("key-1");
  n.set_type(safeguard::v1::NOTIFICATION_TYPE_SCHOOL_ABSENCE);
  n.set_severity(safeguard::v1::SEVERITY_CONCERN);
  auto* s = n.add_subjects();
  auto* id = s->add_identifiers();
  id->set_scheme(safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER);
  id->set_value("943 476 5919");
  n.set_summary("Absent 8 of the last 10 sessions");
  *n.mutable_occurred_at() = TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(kNow) - 3600);
  return n;
}

std::string ErrorOf(safeguard::v1::Notification n) {
  absl::Status s = NormaliseAndValidate(n, kNow);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  return std::string(s.message());
}

TEST(NotificationValidatorTest, ValidNotificationIsNormalised) {
  auto n = Valid();
  ASSERT_TRUE(NormaliseAndValidate(n, kNow).ok());
  EXPECT_EQ(n.subjects(0).identifiers(0).value(), "9434765919");
}

TEST(NotificationValidatorTest, ASignedNotificationMustAlreadyBeInNormalForm) {
  auto n = Valid();  // NHS number with spaces
  const std::string before = n.SerializeAsString();
  absl::Status s = ValidateSigned(n, kNow);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("subjects[0].identifiers[0].value: must be signed in normal form"));
  EXPECT_EQ(n.SerializeAsString(), before);  // nothing changed

  ASSERT_TRUE(NormaliseAndValidate(n, kNow).ok());
  EXPECT_TRUE(ValidateSigned(n, kNow).ok());
  auto* upn = n.mutable_subjects(0)->add_identifiers();
  upn->set_scheme(safeguard::v1::IDENTIFIER_SCHEME_SCHOOL_UPN);
  upn->set_value("h801200001001");
  EXPECT_THAT(std::string(ValidateSigned(n, kNow).message()),
              HasSubstr("identifiers[1].value: must be signed in normal form"));
  // What is wrong whatever its form is reported as NormaliseAndValidate reports it.
  upn->set_value("not a upn");
  absl::Status invalid = ValidateSigned(n, kNow);
  auto copy = n;
  EXPECT_EQ(invalid.message(), NormaliseAndValidate(copy, kNow).message());
  EXPECT_THAT(std::string(invalid.message()), Not(HasSubstr("normal form")));
  n.mutable_subjects(0)->mutable_identifiers()->RemoveLast();
  n.clear_summary();
  EXPECT_THAT(std::string(ValidateSigned(n, kNow).message()), HasSubstr("summary: is empty"));
}

TEST(NotificationValidatorTest, EachMistakeNamesItsField) {
  auto n = Valid();
  n.clear_idempotency_key();
  EXPECT_THAT(ErrorOf(n), HasSubstr("idempotency_key"));

  n = Valid();
  n.set_type(safeguard::v1::NOTIFICATION_TYPE_UNSPECIFIED);
  EXPECT_THAT(ErrorOf(n), HasSubstr("type: is unset"));

  n = Valid();
  n.set_type(static_cast<safeguard::v1::NotificationType>(9999));
  EXPECT_THAT(ErrorOf(n), HasSubstr("type"));

  // Only the broker sends its own notices: an agency cannot forge an escalation or a
  // cumulative concern.
  for (auto type : {safeguard::v1::NOTIFICATION_TYPE_FLAG_LOOKED_UP,
                    safeguard::v1::NOTIFICATION_TYPE_ESCALATION,
                    safeguard::v1::NOTIFICATION_TYPE_CUMULATIVE_CONCERN,
                    safeguard::v1::NOTIFICATION_TYPE_PLAN_DRIFT}) {
    n = Valid();
    n.set_type(type);
    EXPECT_THAT(ErrorOf(n), HasSubstr("sent only by the broker itself"))
        << safeguard::v1::NotificationType_Name(type);
  }

  n = Valid();
  n.set_severity(safeguard::v1::SEVERITY_UNSPECIFIED);
  EXPECT_THAT(ErrorOf(n), HasSubstr("severity"));

  n = Valid();
  n.clear_subjects();
  EXPECT_THAT(ErrorOf(n), HasSubstr("subjects: is empty"));

  n = Valid();
  n.mutable_subjects(0)->mutable_identifiers(0)->set_value("9434765918");
  EXPECT_THAT(ErrorOf(n), HasSubstr("subjects[0].identifiers[0].value: NHS number fails"));

  n = Valid();
  auto* local = n.mutable_subjects(0)->add_identifiers();
  local->set_scheme(safeguard::v1::IDENTIFIER_SCHEME_HOUSING_REFERENCE);
  local->set_value("H-1234");
  EXPECT_THAT(ErrorOf(n), HasSubstr("subjects[0].identifiers[1].issuer"));

  n = Valid();
  n.clear_summary();
  EXPECT_THAT(ErrorOf(n), HasSubstr("summary: is empty"));

  n = Valid();
  n.set_summary(std::string(kMaxSummaryLength + 1, 'x'));
  EXPECT_THAT(ErrorOf(n), HasSubstr("summary: is longer"));

  n = Valid();
  n.clear_occurred_at();
  EXPECT_THAT(ErrorOf(n), HasSubstr("occurred_at: is required"));

  n = Valid();
  *n.mutable_occurred_at() = TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(kNow) + 3600);
  EXPECT_THAT(ErrorOf(n), HasSubstr("occurred_at: is in the future"));

  n = Valid();
  n.add_recipients("Not An Id");
  EXPECT_THAT(ErrorOf(n), HasSubstr("recipients[0]"));
}

TEST(NotificationValidatorTest, SummaryLimitCountsCharactersNotBytes) {
  auto n = Valid();
  std::string summary;
  for (size_t i = 0; i < kMaxSummaryLength; ++i) summary += "\xC3\xA9";  // é, 2 bytes
  n.set_summary(summary);
  EXPECT_TRUE(NormaliseAndValidate(n, kNow).ok());
}

}  // namespace
}  // namespace safeguard::protocol
