#include "clients/safeguardctl/command_line.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace safeguard::ctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<FlagSpec> kGlobal = {{"broker"}, {"json", false}};
const std::map<std::string, std::vector<FlagSpec>> kCommands = {
    {"send", {{"type"}, {"to", true, true}}}, {"inbox", {{"follow", false}}}, {"ack", {{"by"}}}};

absl::StatusOr<CommandLine> Parse(std::vector<std::string> args) {
  return ParseCommandLine(args, kGlobal, kCommands);
}

TEST(CommandLineTest, ParsesCommandFlagsAndArguments) {
  auto cl = Parse({"--broker=h:1", "send", "--type", "school-absence", "--to=a", "--to", "b",
                   "--json"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_EQ(cl->command, "send");
  EXPECT_EQ(cl->Get("broker"), "h:1");
  EXPECT_EQ(cl->Get("type"), "school-absence");
  EXPECT_THAT(cl->All("to"), ElementsAre("a", "b"));
  EXPECT_TRUE(cl->Has("json"));
  auto ack = Parse({"ack", "12", "13", "--by", "Jo"});
  EXPECT_THAT(ack->arguments, ElementsAre("12", "13"));
}

TEST(CommandLineTest, RejectsWhatDoesNotBelong) {
  EXPECT_THAT(Parse({"sned"}).status().message(), HasSubstr("unknown command 'sned'"));
  EXPECT_THAT(Parse({"inbox", "--type=x"}).status().message(),
              HasSubstr("unknown flag --type for 'inbox'"));
  EXPECT_THAT(Parse({"send", "--type"}).status().message(), HasSubstr("needs a value"));
  EXPECT_THAT(Parse({"send", "--type=a", "--type=b"}).status().message(),
              HasSubstr("more than once"));
  EXPECT_THAT(Parse({"inbox", "--follow=yes"}).status().message(), HasSubstr("takes no value"));
}

}  // namespace
}  // namespace safeguard::ctl
