#include "broker/config/broker_config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace safeguard::config {
namespace {

using ::testing::HasSubstr;

constexpr const char* kValid = R"(
partnership: "demo.example"
listen_address: "127.0.0.1:7443"
tls { certificate: "broker/node.crt" private_key: "broker/node.key" ca_certificate: "/etc/ca.crt" }
data_directory: "data"
policy_file: "policy.yaml"
nodes { id: "gp-riverside" type: "gp" area: "swindon" }
nodes { id: "fd-swindon" type: "front-door" area: "swindon" }
)";

TEST(BrokerConfigTest, ValidConfigGetsDefaultsAndResolvedPaths) {
  auto c = ParseBrokerConfig(kValid, "/srv/safeguard/broker.conf");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tls().certificate(), "/srv/safeguard/broker/node.crt");
  EXPECT_EQ(c->tls().ca_certificate(), "/etc/ca.crt");
  EXPECT_EQ(c->data_directory(), "/srv/safeguard/data");
  EXPECT_EQ(c->limits().max_message_bytes(), kDefaultMaxMessageBytes);
  EXPECT_EQ(c->tls().reload_interval_seconds(), kDefaultReloadIntervalSeconds);
}

TEST(BrokerConfigTest, AdmissionLimitsDefaultToTwoCommitBatchesAnd128StreamsPerConnection) {
  auto c = ParseBrokerConfig(kValid, "broker.conf");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->limits().max_submits_in_flight(), 2 * kDefaultMaxCommitBatch);
  EXPECT_EQ(c->limits().max_concurrent_streams(), kDefaultMaxConcurrentStreams);
  auto larger = ParseBrokerConfig(std::string(kValid) + "limits { max_commit_batch: 2048 }",
                                  "broker.conf");
  ASSERT_TRUE(larger.ok()) << larger.status();
  EXPECT_EQ(larger->limits().max_submits_in_flight(), 4096u);
  auto set = ParseBrokerConfig(
      std::string(kValid) + "limits { max_submits_in_flight: 50 max_concurrent_streams: 8 }",
      "broker.conf");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->limits().max_submits_in_flight(), 50u);
  EXPECT_EQ(set->limits().max_concurrent_streams(), 8u);
}

TEST(BrokerConfigTest, SyntaxErrorsGiveFileLineAndColumn) {
  std::string text = std::string(kValid) + "nodez { id: \"x\" }\n";
  auto c = ParseBrokerConfig(text, "broker.conf");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("broker.conf:9:"));
  EXPECT_THAT(c.status().message(), HasSubstr("nodez"));
}

TEST(BrokerConfigTest, RegistryMistakesAreNamed) {
  auto with = [](const std::string& extra) {
    return ParseBrokerConfig(std::string(kValid) + extra, "b.conf").status();
  };
  EXPECT_THAT(with("nodes { id: \"gp-riverside\" type: \"gp\" area: \"swindon\" }").message(),
              HasSubstr("nodes[2] (id 'gp-riverside'): duplicate id"));
  EXPECT_THAT(with("nodes { id: \"x1\" type: \"hospital\" area: \"swindon\" }").message(),
              HasSubstr("unknown type 'hospital'; use one of: gp, school"));
  EXPECT_THAT(with("nodes { id: \"Bad Id\" type: \"gp\" area: \"swindon\" }").message(),
              HasSubstr("id must match"));
  EXPECT_THAT(with("nodes { id: \"gp-2\" type: \"gp\" area: \"oxford\" }").message(),
              HasSubstr("area 'oxford' has nodes but no front-door node"));
  EXPECT_THAT(with("nodes { id: \"fd-2\" type: \"front-door\" area: \"swindon\" }").message(),
              HasSubstr("already has a front door"));
  EXPECT_THAT(with("nodes { id: \"gp-3\" type: \"gp\" }").message(), HasSubstr("area is required"));
}

TEST(BrokerConfigTest, RequiredFieldsAreNamed) {
  EXPECT_THAT(ParseBrokerConfig("", "b.conf").status().message(), HasSubstr("partnership"));
  EXPECT_THAT(ParseBrokerConfig("partnership: \"p\"", "b.conf").status().message(),
              HasSubstr("listen_address"));
}

TEST(BrokerConfigTest, MissingFileIsNotFound) {
  EXPECT_EQ(LoadBrokerConfig("/nonexistent/broker.conf").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace safeguard::config
