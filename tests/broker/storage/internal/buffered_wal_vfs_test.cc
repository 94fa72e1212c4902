#include "broker/storage/internal/buffered_wal_vfs.h"

#include <sqlite3.h>

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace safeguard::storage::internal {
namespace {

class BufferedWalVfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("wal-vfs-", ::testing::UnitTest::GetInstance()->random_seed(), "-",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "t.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  sqlite3* Open(const char* vfs) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
              SQLITE_OK);
    Exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=0");
    return db;
  }
  static void Exec(sqlite3* db, const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << (err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
  }
  static int64_t Count(sqlite3* db) {
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, "SELECT count(*), coalesce(sum(length(v)), 0) FROM t", -1, &s, nullptr);
    int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return n;
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(BufferedWalVfsTest, CommitsAreVisibleToOtherConnectionsAndSurviveReopeningWithoutIt) {
  const char* vfs = BufferedWalVfs();
  ASSERT_NE(vfs, nullptr);
  sqlite3* writer = Open(vfs);
  sqlite3* reader = Open(vfs);
  Exec(writer, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)");
  const size_t writes_before = BufferedWalWritesIssued();
  int64_t rows = 0;
  for (int txn = 0; txn < 40; ++txn) {
    std::string sql = "BEGIN IMMEDIATE;";
    // Random keys, as the broker's child-keyed indexes: each row dirties a page of its own.
    for (int i = 0; i < 50; ++i, ++rows) {
      absl::StrAppend(&sql, "INSERT INTO t (k, v) VALUES (abs(random()) % 1000000000000, "
                            "randomblob(300));");
    }
    Exec(writer, sql + "COMMIT;");
    // Each commit is durable and visible at once to another connection.
    EXPECT_EQ(Count(reader), rows);
    if (txn == 20) Exec(reader, "PRAGMA wal_checkpoint(PASSIVE)");
  }
  // Two writes per page without gathering; with it, about one per commit.
  EXPECT_LT(BufferedWalWritesIssued() - writes_before, 200u);
  sqlite3_close(reader);
  sqlite3_close(writer);

  sqlite3* plain = Open(nullptr);
  EXPECT_EQ(Count(plain), rows);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(plain, "PRAGMA integrity_check", -1, &s, nullptr);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), "ok");
  sqlite3_finalize(s);
  sqlite3_close(plain);
}

TEST_F(BufferedWalVfsTest, ATransactionLargerThanTheBufferAndARollbackLeaveTheDatabaseWhole) {
  sqlite3* db = Open(BufferedWalVfs());
  Exec(db, "PRAGMA cache_size=16");  // spills pages to the WAL mid-transaction
  Exec(db, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)");
  Exec(db, "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) "
           "INSERT INTO t (k, v) SELECT i, randomblob(2000) FROM n; COMMIT;");
  Exec(db, "BEGIN; DELETE FROM t WHERE k % 2 = 0; UPDATE t SET v = randomblob(100); ROLLBACK;");
  EXPECT_EQ(Count(db), 5000);
  Exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  Exec(db, "BEGIN; DELETE FROM t WHERE k > 100; COMMIT;");
  EXPECT_EQ(Count(db), 100);
  sqlite3_close(db);
  sqlite3* plain = Open(nullptr);
  EXPECT_EQ(Count(plain), 100);
  sqlite3_close(plain);
}

}  // namespace
}  // namespace safeguard::storage::internal
