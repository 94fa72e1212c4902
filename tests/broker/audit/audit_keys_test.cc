// The audit log's pseudonymous child references: stable, keyed, and exactly HMAC-SHA-256.

#include "broker/audit/audit_keys.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <filesystem>
#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace safeguard::audit_log {
namespace {

safeguard::v1::SubjectIdentifier Id(safeguard::v1::IdentifierScheme scheme, std::string value,
                                    std::string issuer = "") {
  safeguard::v1::SubjectIdentifier id;
  id.set_scheme(scheme);
  id.set_value(std::move(value));
  id.set_issuer(std::move(issuer));
  return id;
}

class AuditKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / absl::StrCat("audit-keys-", ::getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Key() const {
    std::ifstream in(dir_ / "pseudonym.key", std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    return bytes.str();
  }
  std::filesystem::path dir_;
};

TEST_F(AuditKeysTest, ReferenceIsHmacSha256OfTheIdentifierUnderThePseudonymKey) {
  auto keys = AuditKeys::LoadOrCreate(dir_.string(), "test/audit");
  ASSERT_TRUE(keys.ok()) << keys.status();
  const std::string key = Key();
  ASSERT_EQ(key.size(), 32u);
  auto expected = [&](const std::string& message) {
    // OpenSSL's one-shot HMAC, independent of the broker's keyed-once context.
    unsigned char mac[32];
    size_t length = 0;
    EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
              reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac,
              sizeof mac, &length);
    return std::string(reinterpret_cast<char*>(mac), length);
  };
  // National numbers whoever issued them; local ones with their issuer.
  EXPECT_EQ((*keys)->ChildReference(Id(safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER, "9434765919",
                                       "gp-riverside")),
            expected("1::9434765919"));
  const auto local = Id(safeguard::v1::IDENTIFIER_SCHEME_LOCAL_AUTHORITY_REFERENCE, "LA-7", "swindon");
  EXPECT_EQ((*keys)->ChildReference(local),
            expected(absl::StrCat(static_cast<int>(local.scheme()), ":swindon:LA-7")));

  // The same after reloading the key from disk, and from many threads at once.
  auto reloaded = AuditKeys::LoadOrCreate(dir_.string(), "test/audit");
  ASSERT_TRUE(reloaded.ok());
  const std::string want = expected("1::9434765919");
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        if ((*reloaded)->ChildReference(
                Id(safeguard::v1::IDENTIFIER_SCHEME_NHS_NUMBER, "9434765919")) != want) {
          ++wrong;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace safeguard::audit_log
