#include "broker/policy/policy_store.h"

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "clients/protocol/crypto.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/broker/policy/test_policy.h"

namespace safeguard::policy {
namespace {

using ::testing::HasSubstr;
using testing::kRiskRule;
using testing::Policy;
using testing::WriteFile;

constexpr char kSchoolRule[] = R"yaml(  - id: risk-to-school
    citations: [isa-2024]
    match: {risk: true}
    share: {to: [school], basis: SG-RISK, purpose: "School.", deadline: same-day}
)yaml";

SharingRequest ToSchool() {
  SharingRequest r;
  r.type = safeguard::v1::NOTIFICATION_TYPE_SCHOOL_ABSENCE;
  r.risk_of_harm = true;
  r.recipient = RecipientRole::kSchool;
  return r;
}

TEST(PolicyStoreTest, OpenRefusesABrokenPolicyWithWhereAndWhat) {
  std::string path = WriteFile("broken.yaml", Policy("  - id: x\n    citations: [isa-2024]\n"));
  auto store = PolicyStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr(path + ":"));
  EXPECT_THAT(store.status().message(), HasSubstr("needs 'match'"));
  EXPECT_EQ(PolicyStore::Open("/nonexistent/policy.yaml").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(PolicyStoreTest, AFailedReloadLeavesThePolicyInForce) {
  std::string text = Policy(kRiskRule);
  std::string path = WriteFile("reload.yaml", text);
  auto store = PolicyStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  std::string digest = (*store)->Current()->digest();
  EXPECT_EQ(digest, protocol::HexSha256(text));

  std::string broken = Policy(absl::StrCat(kRiskRule,
                                           "  - id: y\n    citations: [isa-2024]\n"
                                           "    match: {types: [no-such-type]}\n"
                                           "    withhold: {to: [school], reason: R}\n"));
  WriteFile("reload.yaml", broken);
  auto reloaded = (*store)->Reload();
  ASSERT_FALSE(reloaded.ok());
  EXPECT_THAT(reloaded.status().message(),
              HasSubstr(absl::StrCat(path, ":", testing::LineOf(broken, "no-such-type"), ":")));
  EXPECT_THAT(reloaded.status().message(), HasSubstr("unknown notification type 'no-such-type'"));
  EXPECT_EQ((*store)->Current()->digest(), digest);
  EXPECT_FALSE((*store)->Current()->Evaluate(ToSchool()).shared());
}

TEST(PolicyStoreTest, AGoodReloadSwapsAndOldHoldersKeepTheirPolicy) {
  std::string path = WriteFile("swap.yaml", Policy(kRiskRule));
  auto store = PolicyStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  std::shared_ptr<const SharingPolicy> before = (*store)->Current();
  WriteFile("swap.yaml", Policy(absl::StrCat(kRiskRule, kSchoolRule)));
  auto reloaded = (*store)->Reload();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ((*store)->Current(), *reloaded);
  EXPECT_NE((*store)->Current()->digest(), before->digest());
  EXPECT_TRUE((*store)->Current()->Evaluate(ToSchool()).shared());
  EXPECT_FALSE(before->Evaluate(ToSchool()).shared());  // a holder's policy never changes
}

TEST(PolicyStoreTest, ReloadFromAnotherPathThenReloadsFromIt) {
  std::string first = WriteFile("first.yaml", Policy(kRiskRule));
  std::string second = WriteFile("second.yaml", Policy(absl::StrCat(kRiskRule, kSchoolRule)));
  auto store = PolicyStore::Open(first);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Reload(second).ok());
  EXPECT_EQ((*store)->Current()->file(), second);
  ASSERT_TRUE((*store)->Reload().ok());
  EXPECT_EQ((*store)->Current()->file(), second);
}

TEST(PolicyStoreTest, AStoreWithoutAPathCannotReload) {
  auto p = SharingPolicy::FromText("inline.yaml", Policy(kRiskRule));
  ASSERT_TRUE(p.ok());
  PolicyStore store(*p);
  EXPECT_EQ(store.Reload().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store.Current(), *p);
}

TEST(PolicyStoreTest, ReadersAlwaysSeeAWholePolicyWhileReloadsHappen) {
  std::string a = Policy(kRiskRule);
  std::string b = Policy(absl::StrCat(kRiskRule, kSchoolRule));
  std::string path = WriteFile("concurrent.yaml", a);
  auto store = PolicyStore::Open(path);
  ASSERT_TRUE(store.ok());
  const std::string digest_a = protocol::HexSha256(a), digest_b = protocol::HexSha256(b);
  std::atomic<bool> stop{false};
  std::atomic<int> inconsistent{0}, reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        auto policy = (*store)->Current();
        Decision d = policy->Evaluate(ToSchool());
        // Policy B shares with school, A does not: the decision must match the digest.
        bool ok = (d.policy_digest == digest_a && !d.shared()) ||
                  (d.policy_digest == digest_b && d.shared());
        if (!ok) ++inconsistent;
        ++reads;
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    WriteFile("concurrent.yaml", i % 2 ? a : b);
    ASSERT_TRUE((*store)->Reload().ok());
    if (i == 10) {  // a broken write in between changes nothing
      WriteFile("concurrent.yaml", "rules: [");
      EXPECT_FALSE((*store)->Reload().ok());
    }
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(inconsistent.load(), 0);
  EXPECT_GT(reads.load(), 0);
}

}  // namespace
}  // namespace safeguard::policy
