// ReceiptBatcher: a lone receipt is signed on its own; receipts waiting when the signing task
// runs share one signature; every receipt verifies for its own envelope only.

#include "broker/server/receipt_batcher.h"

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "clients/protocol/envelope.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"

namespace safeguard::server {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

safeguard::v1::ReceiptBody Body(int i, const std::string& broker_uri) {
    safeguard::v1::ReceiptBody body;
    body.set_envelope_digest(absl::StrCat("digest ", i));
    body.set_envelope_id(absl::StrCat("envelope-", i));
    body.set_notification_id(absl::StrCat("n", i));
    body.set_sequence(i);
    *body.mutable_accepted_at() = google::protobuf::util::TimeUtil::GetCurrentTime();
    body.set_sender("spiffe://unit.example/gp/gp-unit");
    body.set_broker(broker_uri);
    return body;
  }
protocol::ExpectedReceipt Expected(int i) {
    return {.envelope_digest = absl::StrCat("digest ", i),
            .envelope_id = absl::StrCat("envelope-", i),
            .sender = "spiffe://unit.example/gp/gp-unit"};
  }


class ReceiptBatcherTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/receipt-batcher-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::string certs = SAFEGUARD_CERTS_TOOL;
    std::string cmd = absl::StrCat(certs, " init-ca --dir ", dir_,
                                   "/ca --partnership unit.example >/dev/null && ", certs,
                                   " issue-broker --ca-dir ", dir_, "/ca --out ", dir_,
                                   "/broker --partnership unit.example >/dev/null");
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  static void TearDownTestSuite() { std::system(absl::StrCat("rm -rf ", dir_).c_str()); }

  static std::shared_ptr<const protocol::Signer> Broker() {
    auto s = protocol::Signer::FromPem(ReadFile(dir_ + "/broker/node.crt"),
                                       ReadFile(dir_ + "/broker/node.key"));
    EXPECT_TRUE(s.ok()) << s.status();
    return *s;
  }
  static std::shared_ptr<const protocol::TrustAnchor> Trust() {
    return *protocol::TrustAnchor::FromPem(ReadFile(dir_ + "/ca/ca.crt"));
  }
  static std::string dir_;
};
std::string ReceiptBatcherTest::dir_;

// Holds posted tasks until the test runs them: the stand-in for the broker's worker threads.
class ManualExecutor {
 public:
  ReceiptBatcher::Post post() {
    return [this](absl::AnyInvocable<void()> work) { tasks_.push_back(std::move(work)); };
  }
  size_t pending() const { return tasks_.size(); }
  void RunAll() {
    while (!tasks_.empty()) {
      auto task = std::move(tasks_.front());
      tasks_.erase(tasks_.begin());
      task();
    }
  }

 private:
  std::vector<absl::AnyInvocable<void()>> tasks_;
};

TEST_F(ReceiptBatcherTest, ALoneReceiptIsSignedOnItsOwnByOnePostedTask) {
  auto broker = Broker();
  ManualExecutor executor;
  ReceiptBatcher batcher(broker, executor.post());
  std::optional<absl::StatusOr<safeguard::v1::Receipt>> got;
  batcher.Sign(Body(1, broker->uri()),
               [&](absl::StatusOr<safeguard::v1::Receipt> r) { got = std::move(r); });
  EXPECT_FALSE(got.has_value());  // the caller (the store's committer) never signs
  EXPECT_EQ(executor.pending(), 1u);
  executor.RunAll();
  ASSERT_TRUE(got.has_value());
  ASSERT_TRUE(got->ok()) << got->status();
  EXPECT_FALSE((*got)->has_batch());
  EXPECT_TRUE(protocol::VerifyReceipt(**got, *Trust(), Expected(1)).ok());
  EXPECT_EQ(batcher.counts().signatures, 1u);
}

// Receipts asked for before the signing task runs (a commit's acceptances, handed over in a
// row) share one signature; each verifies for its own envelope only.
TEST_F(ReceiptBatcherTest, ReceiptsWaitingWhenTheTaskRunsShareOneSignature) {
  auto broker = Broker();
  ManualExecutor executor;
  ReceiptBatcher batcher(broker, executor.post());
  std::vector<safeguard::v1::Receipt> receipts(21);
  for (int i = 1; i <= 20; ++i) {
    batcher.Sign(Body(i, broker->uri()), [&, i](absl::StatusOr<safeguard::v1::Receipt> r) {
      ASSERT_TRUE(r.ok()) << r.status();
      receipts[i] = *std::move(r);
      if (i == 20) {
        // Asked for while the batch is being answered: the same task signs it next.
        batcher.Sign(Body(0, broker->uri()), [&](absl::StatusOr<safeguard::v1::Receipt> r0) {
          ASSERT_TRUE(r0.ok());
          receipts[0] = *std::move(r0);
        });
      }
    });
  }
  EXPECT_EQ(executor.pending(), 1u);  // one task for all twenty
  executor.RunAll();
  EXPECT_EQ(batcher.counts().signatures, 2u);
  EXPECT_EQ(batcher.counts().receipts, 21u);
  EXPECT_FALSE(receipts[0].has_batch());
  EXPECT_TRUE(protocol::VerifyReceipt(receipts[0], *Trust(), Expected(0)).ok());
  for (int i = 1; i <= 20; ++i) {
    ASSERT_TRUE(receipts[i].has_batch()) << i;
    EXPECT_EQ(receipts[i].batch().size(), 20u);
    EXPECT_EQ(receipts[i].signature(), receipts[1].signature());
    auto body = protocol::VerifyReceipt(receipts[i], *Trust(), Expected(i));
    ASSERT_TRUE(body.ok()) << i << ": " << body.status();
    EXPECT_EQ(body->sequence(), static_cast<uint64_t>(i));
    // Its proof is for its own body, not a neighbour's.
    EXPECT_FALSE(protocol::VerifyReceipt(receipts[i], *Trust(), Expected(i % 20 + 1)).ok());
  }
}

TEST_F(ReceiptBatcherTest, ABatchHoldsAtMostMaxBatch) {
  auto broker = Broker();
  ManualExecutor executor;
  ReceiptBatcher batcher(broker, executor.post(), /*max_batch=*/8);
  std::vector<safeguard::v1::Receipt> receipts(21);
  for (int i = 1; i <= 20; ++i) {
    batcher.Sign(Body(i, broker->uri()), [&, i](absl::StatusOr<safeguard::v1::Receipt> r) {
      ASSERT_TRUE(r.ok()) << r.status();
      receipts[i] = *std::move(r);
    });
  }
  executor.RunAll();
  EXPECT_EQ(batcher.counts().signatures, 3u);  // 8 + 8 + 4
  for (int i = 1; i <= 20; ++i) {
    EXPECT_EQ(receipts[i].batch().size(), i <= 16 ? 8u : 4u) << i;
    EXPECT_TRUE(protocol::VerifyReceipt(receipts[i], *Trust(), Expected(i)).ok()) << i;
  }
}

// From many threads at once, every receipt arrives once and verifies.
TEST_F(ReceiptBatcherTest, ReceiptsAskedForFromManyThreadsAllArriveAndVerify) {
  auto broker = Broker();
  std::vector<std::thread> workers;
  absl::Mutex mu;
  std::vector<safeguard::v1::Receipt> receipts(200);
  int answered = 0;
  {
    ReceiptBatcher batcher(broker, [&](absl::AnyInvocable<void()> work) {
      absl::MutexLock lock(&mu);
      workers.emplace_back(std::move(work));
    });
    std::vector<std::thread> askers;
    for (int t = 0; t < 4; ++t) {
      askers.emplace_back([&, t] {
        for (int i = t; i < 200; i += 4) {
          batcher.Sign(Body(i, broker->uri()), [&, i](absl::StatusOr<safeguard::v1::Receipt> r) {
            ASSERT_TRUE(r.ok());
            absl::MutexLock lock(&mu);
            receipts[i] = *std::move(r);
            ++answered;
          });
        }
      });
    }
    for (auto& t : askers) t.join();
    for (;;) {
      std::vector<std::thread> started;
      {
        absl::MutexLock lock(&mu);
        started.swap(workers);
      }
      if (started.empty()) break;
      for (auto& t : started) t.join();
    }
    EXPECT_EQ(batcher.counts().receipts, 200u);
  }
  EXPECT_EQ(answered, 200);
  for (int i = 0; i < 200; ++i) {
    EXPECT_TRUE(protocol::VerifyReceipt(receipts[i], *Trust(), Expected(i)).ok()) << i;
  }
}

}  // namespace
}  // namespace safeguard::server
