#include "broker/policy/vocabulary.h"

#include "gtest/gtest.h"

namespace safeguard::policy {
namespace {

using safeguard::v1::DisclosableField;

TEST(VocabularyTest, NotificationTypesComeFromTheProtoAndRoundTrip) {
  const auto* d = safeguard::v1::NotificationType_descriptor();
  EXPECT_EQ(AllNotificationTypes().size(), static_cast<size_t>(d->value_count() - 1));
  for (auto type : AllNotificationTypes()) {
    std::string name = NotificationTypeName(type);
    EXPECT_EQ(ParseNotificationType(name), type) << name;
    EXPECT_GE(TypeIndex(type), 0);
  }
  EXPECT_EQ(NotificationTypeName(safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT),
            "was-not-brought");
  EXPECT_EQ(TypeIndex(safeguard::v1::NOTIFICATION_TYPE_UNSPECIFIED), -1);
  EXPECT_EQ(TypeIndex(static_cast<safeguard::v1::NotificationType>(9999)), -1);
  EXPECT_FALSE(ParseNotificationType("unspecified"));
  EXPECT_FALSE(ParseNotificationType("WAS_NOT_BROUGHT"));
}

TEST(VocabularyTest, RolesAreNodeTypesPlusLeadWorker) {
  for (int r = 0; r < kRecipientRoleCount; ++r) {
    auto role = static_cast<RecipientRole>(r);
    EXPECT_EQ(ParseRecipientRole(RecipientRoleName(role)), role);
  }
  EXPECT_EQ(RecipientRoleName(RecipientRole::kLeadWorker), "lead-worker");
  EXPECT_EQ(RoleOf(protocol::NodeType::kFrontDoor), RecipientRole::kFrontDoor);
  EXPECT_EQ(NodeTypeOf(RecipientRole::kPolice), protocol::NodeType::kPolice);
  EXPECT_FALSE(NodeTypeOf(RecipientRole::kLeadWorker));
  EXPECT_FALSE(ParseRecipientRole("lead worker"));
}

TEST(VocabularyTest, StatusesConsentStatesAndReasonsRoundTrip) {
  for (int s = 0; s < kChildStatusCount; ++s) {
    EXPECT_EQ(ParseChildStatus(ChildStatusName(static_cast<ChildStatus>(s))),
              static_cast<ChildStatus>(s));
  }
  for (int c = 0; c < kConsentStateCount; ++c) {
    EXPECT_EQ(ParseConsentState(ConsentStateName(static_cast<ConsentState>(c))),
              static_cast<ConsentState>(c));
  }
  EXPECT_EQ(ParseNotSoughtReason("would-prejudice-protection"),
            NotSoughtReason::kWouldPrejudiceProtection);
  EXPECT_FALSE(ParseNotSoughtReason(""));
  EXPECT_EQ(AllChildStatusNames(),
            "no-plan, early-help, child-in-need, child-protection, looked-after");
}

TEST(VocabularyTest, FieldSetsAreTheSixDisclosableFields) {
  FieldSet all = FieldSet::All();
  EXPECT_EQ(all.ToVector().size(), 6u);
  EXPECT_EQ(all.ToString(),
            "child-identity, summary, details, address, health-details, police-details");
  FieldSet some;
  some.Insert(safeguard::v1::DISCLOSABLE_FIELD_SUMMARY);
  some.Insert(safeguard::v1::DISCLOSABLE_FIELD_CHILD_IDENTITY);
  EXPECT_TRUE(all.ContainsAll(some));
  EXPECT_FALSE(some.ContainsAll(all));
  EXPECT_EQ(all.Minus(some).ToString(), "details, address, health-details, police-details");
  EXPECT_EQ(some.ToSet(),
            (std::set<DisclosableField>{safeguard::v1::DISCLOSABLE_FIELD_CHILD_IDENTITY,
                                        safeguard::v1::DISCLOSABLE_FIELD_SUMMARY}));
  EXPECT_EQ(FieldSet().ToString(), "none");
  EXPECT_EQ(FieldSet::FromBits(some.bits()), some);
  EXPECT_EQ(FieldSet::FromBits(0xff), all);
  EXPECT_EQ(FieldName(safeguard::v1::DISCLOSABLE_FIELD_HEALTH_DETAILS), "health-details");
  EXPECT_EQ(ParseField("police-details"), safeguard::v1::DISCLOSABLE_FIELD_POLICE_DETAILS);
  EXPECT_FALSE(ParseField("unspecified"));
}

}  // namespace
}  // namespace safeguard::policy
