// The audit log end to end: an auditor's session with safeguardctl against the real broker,
// authorisation of the Audit service, tampering behind the broker's back, and crash recovery.

#include <set>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "safeguard/v1/audit.grpc.pb.h"
#include "tests/integration/test_partnership.h"

namespace safeguard::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Runs safeguardctl as `node`; returns exit status and output.
std::pair<int, std::string> Ctl(const TestPartnership& p, const std::string& node,
                                const std::string& args) {
  return RunCommand(absl::StrCat(SAFEGUARD_CTL_BINARY, " --broker=", p.address(),
                                " --identity=", p.identity_dir(node), " ", args));
}

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    partnership_.StartBroker();
    key_ = "--log-key=" + partnership_.dir() + "/data/checkpoint.pub";
  }
  void Story() {
    auto gp = partnership_.Client("gp-riverside");
    auto sent = gp->Submit(ExampleNotification());  // the SDK verifies the receipt's inclusion
    ASSERT_TRUE(sent.ok()) << sent.status();
    safeguard::v1::ReceiptBody body;
    ASSERT_TRUE(body.ParseFromString(sent->receipt().body()));
    EXPECT_TRUE(body.has_audit());
    auto fd = partnership_.Client("fd-swindon");
    uint64_t cursor = 0;
    ASSERT_TRUE(fd->Subscribe({}, [&](const safeguard::v1::Delivery& d) {
                    cursor = d.cursor();
                    return true;
                  }).ok());
    ASSERT_TRUE(fd->Acknowledge(cursor, "Jo Smith").ok());
    // A refused attempt is evidence too.
    auto bad = ExampleNotification();
    bad.mutable_subjects(0)->mutable_identifiers(0)->set_value("9434765919");
    bad.add_recipients("auditor-scp");
    EXPECT_FALSE(RawSubmit(*gp, SealNow(bad, *partnership_.SignerFor("gp-riverside"))).ok());
  }
  TestPartnership partnership_;
  std::string key_;
};

TEST_F(AuditTest, AuditorVerifiesSearchesAndReportsWithSafeguardctl) {
  Story();
  std::string saved = partnership_.dir() + "/cp1.note";
  auto [rc, out] = Ctl(partnership_, "auditor-scp", "audit checkpoint --save=" + saved + " " + key_);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("checkpoint verified"));

  std::string export_file = partnership_.dir() + "/export.jsonl";
  std::tie(rc, out) = Ctl(partnership_, "auditor-scp",
                          "audit export --from=0 --out=" + export_file + " " + key_);
  ASSERT_EQ(rc, 0) << out;
  std::tie(rc, out) = Ctl(partnership_, "auditor-scp", "audit verify " + export_file + " " + key_);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("verified:"));

  std::tie(rc, out) = Ctl(partnership_, "auditor-scp", "audit search --nhs='943 476 5919'");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("SUBMITTED  gp-riverside"));
  EXPECT_THAT(out, HasSubstr("POLICY_DECISION  gp-riverside -> fd-swindon"));
  EXPECT_THAT(out, Not(HasSubstr("9434765919")));  // the log holds references, not identifiers

  std::tie(rc, out) = Ctl(partnership_, "auditor-scp", "audit search --event=acknowledged");
  EXPECT_THAT(out, HasSubstr("ACKNOWLEDGED  fd-swindon -> gp-riverside"));
  std::tie(rc, out) = Ctl(partnership_, "auditor-scp", "audit search --event=refused");
  EXPECT_THAT(out, HasSubstr("is an auditor"));
  std::tie(rc, out) = Ctl(partnership_, "auditor-scp", "audit search --event=delivered");
  EXPECT_THAT(out, HasSubstr("DELIVERED  fd-swindon -> gp-riverside"));

  std::tie(rc, out) = Ctl(partnership_, "auditor-scp", "audit report");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("was-not-brought: 1"));
  EXPECT_THAT(out, HasSubstr("gp-riverside: 1"));
  EXPECT_THAT(out, HasSubstr("acknowledged 1"));

  // The auditor's own queries are logged.
  std::tie(rc, out) = Ctl(partnership_, "auditor-scp", "audit search --event=audit-query");
  EXPECT_THAT(out, HasSubstr("AUDIT_QUERY  auditor-scp"));

  // Later: the log has grown and is consistent with what the auditor saved.
  Story();
  std::tie(rc, out) = Ctl(partnership_, "auditor-scp", "audit consistency --old=" + saved + " " + key_);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("consistent"));
}

TEST_F(AuditTest, SafeguardctlAcknowledgesSeveralAtOnceAndEachIsAudited) {
  auto gp = partnership_.Client("gp-riverside");
  for (int i = 0; i < 3; ++i) {
    auto n = ExampleNotification();
    n.set_idempotency_key(absl::StrCat("ctl-many-", i));
    ASSERT_TRUE(gp->Submit(n).ok());
  }
  std::vector<uint64_t> cursors;
  ASSERT_TRUE(partnership_.Client("fd-swindon")
                  ->Subscribe({}, [&](const safeguard::v1::Delivery& d) {
                    cursors.push_back(d.cursor());
                    return true;
                  })
                  .ok());
  ASSERT_EQ(cursors.size(), 3u);
  auto [rc, out] = Ctl(partnership_, "fd-swindon",
                       absl::StrCat("ack ", cursors[0], " ", cursors[1], " 999999 ", cursors[2],
                                    " --by='Intake team'"));
  EXPECT_EQ(rc, 1) << out;  // one cursor was not acknowledged
  EXPECT_THAT(out, HasSubstr(absl::StrCat("#", cursors[0], " acknowledged by Intake team")));
  EXPECT_THAT(out, HasSubstr(absl::StrCat("#", cursors[2], " acknowledged by Intake team")));
  EXPECT_THAT(out, HasSubstr("#999999 not acknowledged: there is no delivery with cursor 999999"));

  std::tie(rc, out) = Ctl(partnership_, "auditor-scp", "audit search --event=acknowledged");
  ASSERT_EQ(rc, 0) << out;
  size_t entries = 0;
  for (size_t at = out.find("ACKNOWLEDGED  fd-swindon"); at != std::string::npos;
       at = out.find("ACKNOWLEDGED  fd-swindon", at + 1)) {
    ++entries;
  }
  EXPECT_EQ(entries, 3u) << out;
}

TEST_F(AuditTest, OnlyAuditorsMayReadTheLog) {
  Story();
  auto gp = partnership_.Client("gp-riverside");
  auto stub = safeguard::v1::Audit::NewStub(gp->channel());
  grpc::ClientContext context;
  safeguard::v1::Checkpoint checkpoint;
  grpc::Status s = stub->GetCheckpoint(&context, {}, &checkpoint);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  auto [rc, out] = Ctl(partnership_, "fd-swindon", "audit report");
  EXPECT_EQ(rc, 1);
  EXPECT_THAT(out, HasSubstr("only auditor nodes"));
}

TEST_F(AuditTest, ReceiptVerifiesOffline) {
  std::string receipt = partnership_.dir() + "/receipt.json";
  auto [rc, out] = Ctl(partnership_, "gp-riverside",
                       "--json send --type=school-absence --nhs=9434765919 --summary=x > " + receipt);
  ASSERT_EQ(rc, 0) << out;
  std::tie(rc, out) = Ctl(partnership_, "gp-riverside", "audit receipt " + receipt);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("logged as entry 0 of the audit log"));
}

TEST_F(AuditTest, RowChangedOrDeletedBehindTheBrokersBackIsNamed) {
  Story();
  Story();
  std::string saved = partnership_.dir() + "/before.note";
  ASSERT_EQ(Ctl(partnership_, "auditor-scp", "audit checkpoint --save=" + saved + " " + key_).first, 0);
  // SQL on the store while the broker is stopped, as someone with the disk but no key would.
  auto behind_the_brokers_back = [&](const std::string& sql) {
    partnership_.StopBroker();
    RunOrDie("sqlite3 " + partnership_.dir() + "/data/broker.db \"" + sql + "\"");
    partnership_.StartBroker();
  };
  behind_the_brokers_back("UPDATE audit_entries SET leaf = leaf || x'00' WHERE idx = 2");
  std::string file = partnership_.dir() + "/tampered.jsonl";
  auto [rc, out] = Ctl(partnership_, "auditor-scp", "audit export --out=" + file + " " + key_);
  ASSERT_EQ(rc, 0) << out;
  std::tie(rc, out) = Ctl(partnership_, "auditor-scp", "audit verify " + file + " " + key_);
  EXPECT_EQ(rc, 1);
  EXPECT_THAT(out, HasSubstr("entry 2 does not match the signed checkpoint"));

  behind_the_brokers_back("DELETE FROM audit_entries WHERE idx = 4");
  std::tie(rc, out) = Ctl(partnership_, "auditor-scp", "audit export --out=" + file + " " + key_);
  std::tie(rc, out) = Ctl(partnership_, "auditor-scp", "audit verify " + file + " " + key_);
  EXPECT_EQ(rc, 1);
  EXPECT_THAT(out, HasSubstr("entry 2 does not match"));  // still the first bad one
  RunOrDie("sed -i '4d' " + file);                           // drop entry 2's line to look past it
  std::tie(rc, out) = Ctl(partnership_, "auditor-scp", "audit verify " + file + " " + key_);
  EXPECT_THAT(out, HasSubstr("entry 2 is missing"));

  // An export holding no entries is not "verified".
  RunOrDie("head -1 " + file + " > " + file + ".header");
  std::tie(rc, out) = Ctl(partnership_, "auditor-scp", "audit verify " + file + ".header " + key_);
  EXPECT_EQ(rc, 1);
  EXPECT_THAT(out, HasSubstr("FAILED: the export has a checkpoint but no entries"));

  // A stored hash gone: the broker cannot prove the entries beside it, and the export says that
  // its file is incomplete rather than ending as if it were whole.
  behind_the_brokers_back("DELETE FROM merkle_nodes WHERE level = 0 AND idx = 0");
  std::tie(rc, out) = Ctl(partnership_, "auditor-scp", "audit export --out=" + file + " " + key_);
  EXPECT_EQ(rc, 1);
  EXPECT_THAT(out, HasSubstr("Merkle node 0/0 is missing from the store"));
  EXPECT_THAT(out, HasSubstr(file + " is incomplete: it holds only the checkpoint"));
}

TEST_F(AuditTest, LogStillVerifiesAndExtendsAfterACrash) {
  Story();
  std::string saved = partnership_.dir() + "/before-crash.note";
  ASSERT_EQ(Ctl(partnership_, "auditor-scp", "audit checkpoint --save=" + saved + " " + key_).first, 0);
  {
    auto gp = partnership_.Client("gp-riverside");
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(gp->Submit(ExampleNotification()).ok());
  }
  partnership_.KillBroker();  // between commits and the next checkpoint
  partnership_.StartBroker();
  Story();
  auto [rc, out] = Ctl(partnership_, "auditor-scp", "audit consistency --old=" + saved + " " + key_);
  ASSERT_EQ(rc, 0) << out;
  std::string file = partnership_.dir() + "/after.jsonl";
  std::tie(rc, out) = Ctl(partnership_, "auditor-scp", "audit export --out=" + file + " " + key_);
  std::tie(rc, out) = Ctl(partnership_, "auditor-scp", "audit verify " + file + " " + key_);
  EXPECT_EQ(rc, 0) << out;
}

}  // namespace
}  // namespace safeguard::testing
