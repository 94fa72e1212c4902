#include "clients/protocol/identifiers.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace safeguard::protocol {
namespace {

using ::testing::HasSubstr;

TEST(NhsNumberTest, AcceptsValidNumbersWithOrWithoutSpaces) {
  EXPECT_EQ(*NormaliseNhsNumber("9434765919"), "9434765919");
  EXPECT_EQ(*NormaliseNhsNumber("943 476 5919"), "9434765919");
  EXPECT_EQ(*NormaliseNhsNumber("943-476-5919"), "9434765919");
  EXPECT_EQ(*NormaliseNhsNumber("4010232137"), "4010232137");  // check digit 7
}

TEST(NhsNumberTest, RejectsWrongCheckDigitSayingWhichDigitIsExpected) {
  auto r = NormaliseNhsNumber("943 476 5918");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("should be 9, not 8"));
}

TEST(NhsNumberTest, RejectsNumbersWhoseCheckDigitWouldBeTen) {
  // 1*10+2*9+...+9*2 = 210, 210 mod 11 = 1, so 11-1 = 10: no valid NHS number starts 123456789.
  auto r = NormaliseNhsNumber("1234567890");
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("no possible check digit"));
}

TEST(NhsNumberTest, RejectsWrongLengthAndLetters) {
  EXPECT_THAT(NormaliseNhsNumber("943476591").status().message(), HasSubstr("10 digits, got 9"));
  EXPECT_THAT(NormaliseNhsNumber("94347659190").status().message(), HasSubstr("got 11"));
  EXPECT_THAT(NormaliseNhsNumber("94347A5919").status().message(), HasSubstr("only digits"));
  EXPECT_FALSE(NormaliseNhsNumber("").ok());
}

TEST(SchoolUpnTest, ChecksShapeAndUpperCases) {
  EXPECT_EQ(*NormaliseSchoolUpn("a123456789012"), "A123456789012");
  EXPECT_TRUE(NormaliseSchoolUpn("A12345678901B").ok());
  EXPECT_FALSE(NormaliseSchoolUpn("1123456789012").ok());
  EXPECT_FALSE(NormaliseSchoolUpn("A12345678901").ok());
  EXPECT_FALSE(NormaliseSchoolUpn("A1234567X9012").ok());
}

}  // namespace
}  // namespace safeguard::protocol
