#include "broker/routing/recipient_resolver.h"

#include "broker/config/broker_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace safeguard::routing {
namespace {

using ::testing::HasSubstr;

class RecipientResolverTest : public ::testing::Test {
 protected:
  RecipientResolverTest()
      : registry_(*config::ParseBrokerConfig(R"(
partnership: "demo.example" listen_address: "127.0.0.1:1" data_directory: "d" policy_file: "p"
tls { certificate: "c" private_key: "k" ca_certificate: "a" }
nodes { id: "gp-riverside" type: "gp" area: "swindon" }
nodes { id: "housing-swindon" type: "housing" area: "swindon" }
nodes { id: "fd-swindon" type: "front-door" area: "swindon" }
nodes { id: "fd-oxford" type: "front-door" area: "oxford" }
nodes { id: "auditor" type: "auditor" area: "swindon" }
)",
                                             "/b.conf")),
        resolver_(registry_, nullptr) {}

  std::vector<std::string> Ids(const std::string& sender, const safeguard::v1::Notification& n) {
    auto r = resolver_.Resolve(*registry_.FindById(sender), n);
    EXPECT_TRUE(r.ok()) << r.status();
    std::vector<std::string> ids;
    if (r.ok()) {
      for (const auto& x : r->recipients) ids.push_back(x.node->id);
    }
    return ids;
  }

  identity::NodeRegistry registry_;
  RecipientResolver resolver_;
};

TEST_F(RecipientResolverTest, DefaultIsTheFrontDoorOfTheChildsAreaWhoeverSends) {
  safeguard::v1::Notification n;
  n.add_subjects();
  // Routing does not depend on the kind of agency: GP and housing reach the same place.
  EXPECT_EQ(Ids("gp-riverside", n), std::vector<std::string>{"fd-swindon"});
  EXPECT_EQ(Ids("housing-swindon", n), std::vector<std::string>{"fd-swindon"});
  n.mutable_subjects(0)->set_area("oxford");
  EXPECT_EQ(Ids("gp-riverside", n), std::vector<std::string>{"fd-oxford"});
  n.add_subjects()->set_area("swindon");  // siblings in two areas reach both front doors
  EXPECT_EQ(Ids("gp-riverside", n), (std::vector<std::string>{"fd-oxford", "fd-swindon"}));
}

TEST_F(RecipientResolverTest, NamedRecipientsAreAddedToTheDefaultAndDeduplicated) {
  safeguard::v1::Notification n;
  n.add_subjects();
  n.add_recipients("housing-swindon");
  n.add_recipients("housing-swindon");
  // Naming a node never takes the notification away from the front door (or lead worker).
  EXPECT_EQ(Ids("gp-riverside", n), (std::vector<std::string>{"fd-swindon", "housing-swindon"}));
}

TEST_F(RecipientResolverTest, RefusalsNameTheProblem) {
  const auto& gp = *registry_.FindById("gp-riverside");
  safeguard::v1::Notification n;
  n.add_subjects()->set_area("leeds");
  EXPECT_THAT(resolver_.Resolve(gp, n).status().message(),
              HasSubstr("subjects[0].area: 'leeds' is not an area"));
  n.mutable_subjects(0)->clear_area();
  n.add_recipients("auditor");
  EXPECT_THAT(resolver_.Resolve(gp, n).status().message(), HasSubstr("is an auditor"));
  n.set_recipients(0, "gp-riverside");
  EXPECT_THAT(resolver_.Resolve(gp, n).status().message(), HasSubstr("cannot send to itself"));
  // The front door reporting about a child it is responsible for: kept (for the chronology),
  // nobody else to tell.
  n.clear_recipients();
  auto own = resolver_.Resolve(*registry_.FindById("fd-swindon"), n);
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_TRUE(own->recipients.empty());
}

}  // namespace
}  // namespace safeguard::routing
