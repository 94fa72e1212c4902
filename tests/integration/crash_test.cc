// kill -9 of the broker while clients submit: no acknowledged notification is lost, none is
// duplicated, and the store is intact after restart.

#include <sqlite3.h>

#include <atomic>
#include <set>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "tests/integration/test_partnership.h"

namespace safeguard::testing {
namespace {

std::string IntegrityCheck(const std::string& db_path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return "cannot open";
  }
  std::string result;
  sqlite3_exec(
      db, "PRAGMA integrity_check",
      [](void* out, int, char** values, char**) {
        *static_cast<std::string*>(out) += values[0] ? values[0] : "";
        return 0;
      },
      &result, nullptr);
  sqlite3_close(db);
  return result;
}

TEST(CrashTest, KillNineLosesNoAcknowledgedNotification) {
  TestPartnership partnership;
  std::set<std::string> acknowledged;  // ids the broker acknowledged to a sender
  absl::Mutex mu;
  constexpr int kCycles = 3;
  constexpr int kSenders = 4;
  constexpr size_t kAcksBeforeKill = 150;

  for (int cycle = 0; cycle < kCycles; ++cycle) {
    partnership.StartBroker();
    std::atomic<bool> stop{false};
    std::atomic<size_t> acked_this_cycle{0};
    std::vector<std::thread> senders;
    const char* nodes[] = {"gp-riverside", "school-oakfield", "housing-swindon",
                           "police-wiltshire"};
    for (int s = 0; s < kSenders; ++s) {
      senders.emplace_back([&, s] {
        auto c = partnership.Client(nodes[s]);
        while (!stop.load()) {
          auto sent = c->Submit(ExampleNotification());
          if (!sent.ok()) continue;  // the broker died under us: expected
          absl::MutexLock lock(&mu);
          acknowledged.insert(sent->notification_id());
          acked_this_cycle++;
        }
      });
    }
    while (acked_this_cycle.load() < kAcksBeforeKill) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    partnership.KillBroker();  // SIGKILL while the senders are still submitting
    stop = true;
    for (auto& t : senders) t.join();
  }

  EXPECT_EQ(IntegrityCheck(partnership.dir() + "/data/broker.db"), "ok");
  partnership.StartBroker();
  auto fd = partnership.Client("fd-swindon");
  std::multiset<std::string> delivered;
  safeguard::v1::SubscribeRequest request;
  request.set_include_acknowledged(true);
  ASSERT_TRUE(fd->Subscribe(request, [&](const safeguard::v1::Delivery& d) {
                  delivered.insert(d.notification_id());
                  return true;
                }).ok());
  size_t missing = 0;
  for (const std::string& id : acknowledged) missing += delivered.count(id) == 0;
  EXPECT_EQ(missing, 0u) << "of " << acknowledged.size() << " acknowledged notifications";
  EXPECT_GE(acknowledged.size(), kCycles * kAcksBeforeKill);
  for (const std::string& id : delivered) EXPECT_EQ(delivered.count(id), 1u) << id;
}

}  // namespace
}  // namespace safeguard::testing
