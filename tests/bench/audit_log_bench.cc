// The audit log at scale: append rate through the store's group commit (fsync'd), start-up
// time at size n (no replay: the frontier is read back), proof latency and bytes per entry.
//
//   build/tests/bench/audit_log_bench [--entries=10000000] [--dir=DIR] [--proofs=2000]
//
// Appends realistic entries (a SUBMITTED event with a digest and two child references) and
// prints figures; it asserts nothing.

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "broker/storage/sqlite_audit_reader.h"
#include "broker/storage/sqlite_store.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

void Percentiles(const char* what, std::vector<double> us) {
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[std::min(us.size() - 1, static_cast<size_t>(q * us.size()))]; };
  std::printf("%-28s p50 %8.1f µs   p99 %8.1f µs   max %8.1f µs   (%zu samples)\n", what, at(0.5),
              at(0.99), us.back(), us.size());
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t entries = 1000000;
  int proofs = 2000;
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--entries=", 0) == 0) {
      if (!absl::SimpleAtoi(a.substr(10), &entries)) return 2;
    } else if (a.rfind("--dir=", 0) == 0) {
      dir = a.substr(6);
    } else if (a.rfind("--proofs=", 0) == 0) {
      if (!absl::SimpleAtoi(a.substr(9), &proofs)) return 2;
    } else {
      std::fprintf(stderr, "usage: %s [--entries=N] [--dir=DIR] [--proofs=N]\n", argv[0]);
      return 2;
    }
  }
  bool temporary = dir.empty();
  if (temporary) {
    char tmpl[] = "/tmp/audit-bench-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  std::printf("audit log benchmark: %llu entries in %s\n",
              static_cast<unsigned long long>(entries), dir.c_str());

  safeguard::v1::AuditEntry entry;
  entry.set_event(safeguard::v1::AUDIT_EVENT_SUBMITTED);
  entry.set_actor("gp-riverside");
  entry.set_actor_type("gp");
  entry.set_notification_id(std::string(32, 'a'));
  entry.set_envelope_digest(std::string(32, 'd'));
  entry.set_notification_type(safeguard::v1::NOTIFICATION_TYPE_WAS_NOT_BROUGHT);
  entry.add_fields_shared(safeguard::v1::DISCLOSABLE_FIELD_SUMMARY);
  entry.add_child_refs(std::string(32, 'c'));
  entry.add_child_refs(std::string(32, 'e'));

  {
    auto store = safeguard::storage::SqliteStore::Open({.data_directory = dir,
                                                         .max_commit_batch = 4096});
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", std::string(store.status().message()).c_str());
      return 1;
    }
    uint64_t start_size = (*store)->CommittedTreeHead().size;
    auto t0 = Clock::now();
    auto last_report = t0;
    constexpr uint64_t kWindow = 20000;  // entries queued ahead of the committer at most
    for (uint64_t i = start_size; i < entries; ++i) {
      while (i - (*store)->CommittedTreeHead().size > kWindow) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      entry.set_notification_id(absl::StrCat(i));
      (*store)->AppendAudit(entry);
      if (Clock::now() - last_report > std::chrono::seconds(10)) {
        last_report = Clock::now();
        std::fprintf(stderr, "  %llu appended, %.0f/s\n", static_cast<unsigned long long>(i),
                     (i - start_size) / Seconds(t0, last_report));
      }
    }
    while ((*store)->CommittedTreeHead().size < entries) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    auto t1 = Clock::now();
    auto stats = (*store)->stats();
    if (entries > start_size) {
      std::printf("append: %llu entries in %.1f s = %.0f appends/s (fsync'd group commits: %llu, "
                  "%.0f entries per commit)\n",
                  static_cast<unsigned long long>(entries - start_size), Seconds(t0, t1),
                  (entries - start_size) / Seconds(t0, t1),
                  static_cast<unsigned long long>(stats.commits),
                  static_cast<double>(stats.operations) / std::max<uint64_t>(1, stats.commits));
    }
  }
  // Start-up: open the store at size n. Only the frontier is read; nothing is replayed.
  std::vector<double> startup;
  for (int i = 0; i < 3; ++i) {
    auto t0 = Clock::now();
    auto store = safeguard::storage::SqliteStore::Open({.data_directory = dir});
    auto reader = safeguard::storage::SqliteAuditReader::Open(dir);
    auto t1 = Clock::now();
    if (!store.ok() || !reader.ok()) return 1;
    startup.push_back(Seconds(t0, t1) * 1e6);
  }
  Percentiles("start-up (open at size n)", startup);

  auto reader = *safeguard::storage::SqliteAuditReader::Open(dir);
  std::mt19937_64 rng(42);
  std::vector<double> inclusion, consistency;
  for (int i = 0; i < proofs; ++i) {
    uint64_t leaf = rng() % entries;
    auto t0 = Clock::now();
    auto proof = reader->InclusionProof(leaf, entries);
    auto t1 = Clock::now();
    if (!proof.ok()) {
      std::fprintf(stderr, "proof failed: %s\n", std::string(proof.status().message()).c_str());
      return 1;
    }
    inclusion.push_back(Seconds(t0, t1) * 1e6);
    uint64_t old_size = 1 + rng() % entries;
    t0 = Clock::now();
    auto c = reader->ConsistencyProof(old_size, entries);
    t1 = Clock::now();
    if (!c.ok()) return 1;
    consistency.push_back(Seconds(t0, t1) * 1e6);
  }
  Percentiles("inclusion proof at size n", inclusion);
  Percentiles("consistency proof to size n", consistency);
  // What an export's page costs: the proofs of 1,000 consecutive entries in one call.
  std::vector<double> page;
  for (int i = 0; i < std::max(1, proofs / 100); ++i) {
    uint64_t first = rng() % (entries > 1000 ? entries - 1000 : 1);
    std::vector<uint64_t> leaves;
    for (uint64_t j = first; j < std::min<uint64_t>(entries, first + 1000); ++j) {
      leaves.push_back(j);
    }
    auto t0 = Clock::now();
    auto page_proofs = reader->InclusionProofs(leaves, entries);
    auto t1 = Clock::now();
    if (!page_proofs.ok()) return 1;
    page.push_back(Seconds(t0, t1) * 1e6 / leaves.size());
  }
  Percentiles("per entry, 1,000 in one call", page);

  uint64_t bytes = FileSize(dir + "/broker.db") + FileSize(dir + "/broker.db-wal");
  std::printf("store: %.1f MB, %.0f bytes per entry (leaf ~%zu bytes, Merkle nodes, indexes)\n",
              bytes / 1e6, static_cast<double>(bytes) / entries, entry.ByteSizeLong() + 8);
  if (temporary) std::filesystem::remove_all(dir);
  return 0;
}
