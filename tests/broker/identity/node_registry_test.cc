#include "broker/identity/node_registry.h"

#include "broker/config/broker_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace safeguard::identity {
namespace {

using ::testing::HasSubstr;

NodeRegistry Registry() {
  auto c = config::ParseBrokerConfig(R"(
partnership: "demo.example" listen_address: "127.0.0.1:1" data_directory: "d" policy_file: "p"
tls { certificate: "c" private_key: "k" ca_certificate: "a" }
nodes { id: "gp-riverside" type: "gp" area: "swindon" }
nodes { id: "fd-swindon" type: "front-door" area: "swindon" }
)",
                                     "/x/b.conf");
  EXPECT_TRUE(c.ok()) << c.status();
  return NodeRegistry(*c);
}

TEST(NodeRegistryTest, AuthenticatesTheNodeNamedByTheCertificateUri) {
  auto r = Registry();
  auto node = r.Authenticate({"spiffe://demo.example/gp/gp-riverside"});
  ASSERT_TRUE(node.ok());
  EXPECT_EQ((*node)->id, "gp-riverside");
  EXPECT_EQ(r.FrontDoorFor("swindon")->id, "fd-swindon");
  EXPECT_EQ(r.FrontDoorFor("oxford"), nullptr);
}

TEST(NodeRegistryTest, RefusesEverythingElseSayingWhyForTheLog) {
  auto r = Registry();
  auto refuse = [&](std::vector<std::string> uris) {
    auto node = r.Authenticate(uris);
    EXPECT_EQ(node.status().code(), absl::StatusCode::kUnauthenticated);
    return std::string(node.status().message());
  };
  EXPECT_THAT(refuse({}), HasSubstr("no URI SAN"));
  EXPECT_THAT(refuse({"spiffe://other.example/gp/gp-riverside"}),
              HasSubstr("belongs to partnership 'other.example'"));
  EXPECT_THAT(refuse({"spiffe://demo.example/gp/gp-unknown"}), HasSubstr("not in the registry"));
  EXPECT_THAT(refuse({"spiffe://demo.example/gp/fd-swindon"}),
              HasSubstr("registered as 'front-door'"));
  EXPECT_THAT(refuse({"https://demo.example/gp/gp-riverside"}), HasSubstr("spiffe://"));
  EXPECT_THAT(refuse({"spiffe://demo.example/gp/gp-riverside",
                      "spiffe://demo.example/front-door/fd-swindon"}),
              HasSubstr("more than one node"));
}

}  // namespace
}  // namespace safeguard::identity
