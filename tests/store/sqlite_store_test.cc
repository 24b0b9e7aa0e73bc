// What only the SQLite store promises (the shared contract is in kv_store_conformance_test.cc):
// reopening keeps keys, revision and compaction point; a garbage file or a foreign SQLite
// database is refused with Unavailable naming the file; the parent directory is created; and an
// acknowledged put survives a SIGKILL of the process that made it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "../temp_dir.h"
#include "store/kv_store.h"

namespace gpool::store {
namespace {

using test::TempDir;

std::unique_ptr<KvStore> OpenOk(const std::string& path) {
  Result<std::unique_ptr<KvStore>> store = OpenSqliteStore(path);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(*store) : nullptr;
}

// Runs SQL on a plain SQLite database (not through the store).
void WriteForeignDatabase(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &error), SQLITE_OK) << error;
  sqlite3_free(error);
  sqlite3_close(db);
}

void ExpectRejected(const std::string& path, const std::string& why) {
  Result<std::unique_ptr<KvStore>> store = OpenSqliteStore(path);
  ASSERT_FALSE(store.ok()) << why;
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable) << store.status().ToString();
  EXPECT_NE(store.status().message().find(path), std::string::npos) << store.status().message();
  EXPECT_NE(store.status().message().find("not a gpool store"), std::string::npos)
      << store.status().message();
}

TEST(SqliteStore, ReopenKeepsDataRevisionAndCompactionPoint) {
  TempDir dir;
  const std::string path = dir.File("store.db");
  {
    std::unique_ptr<KvStore> s = OpenOk(path);
    ASSERT_NE(s, nullptr);
    ASSERT_TRUE(s->Put("a", "1").ok());  // @1
    ASSERT_TRUE(s->Put("b", "1").ok());  // @2
    ASSERT_TRUE(s->Put("a", "2").ok());  // @3: a {create 1, mod 3, version 2}
    ASSERT_TRUE(s->Delete("b").ok());    // @4
    ASSERT_TRUE(s->Compact(2).ok());
  }
  std::unique_ptr<KvStore> s = OpenOk(path);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->CurrentRevision(), 4);
  EXPECT_EQ(s->CompactedRevision(), 2);
  ASSERT_TRUE(s->Get("a").ok());
  EXPECT_EQ(*s->Get("a"), (KeyValue{"a", "2", 1, 3, 2}));
  EXPECT_EQ(s->Get("b").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(s->EventsSince("a", "\xff", 2, 0).status().code(), StatusCode::kNotFound);
  Result<EventBatch> events = s->EventsSince("a", "\xff", 3, 0);  // @3 put a, @4 delete b
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  ASSERT_EQ(events->events.size(), 2u);
  EXPECT_EQ(events->events[0].kv, (KeyValue{"a", "2", 1, 3, 2}));
  EXPECT_EQ(events->events[1].type, EventType::kDelete);
  EXPECT_EQ(events->events[1].kv, (KeyValue{"b", "", 0, 4, 0}));
  // Revisions carry on from where they were.
  Result<Revision> next = s->Put("c", "1");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, 5);
}

// The first text column of the first row of `sql` on a plain SQLite connection to `path`.
std::string QueryText(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  std::string text;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
    text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return text;
}

TEST(SqliteStore, FileIsInWalModeWithAFormatMarker) {
  TempDir dir;
  const std::string path = dir.File("store.db");
  ASSERT_NE(OpenOk(path), nullptr);
  EXPECT_EQ(QueryText(path, "PRAGMA journal_mode"), "wal");  // WAL is a property of the file
  EXPECT_EQ(QueryText(path, "SELECT value FROM meta WHERE name = 'format'"), "gpool-kv-store");
  EXPECT_EQ(QueryText(path, "SELECT value FROM meta WHERE name = 'format_version'"), "1");
}

TEST(SqliteStore, OpeningCreatesTheParentDirectory) {
  TempDir dir;
  const std::string path = dir.File("deep/er/store.db");
  std::unique_ptr<KvStore> s = OpenOk(path);
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(std::filesystem::is_regular_file(path));
  EXPECT_TRUE(s->Put("a", "1").ok());
}

TEST(SqliteStore, RejectsAGarbageFile) {
  TempDir dir;
  const std::string path = dir.File("garbage.db");
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 200; ++i) out << "this is not a database, line " << i << "\n";
  }
  ExpectRejected(path, "a text file");
}

TEST(SqliteStore, RejectsAForeignSqliteDatabase) {
  TempDir dir;
  const std::string foreign = dir.File("foreign.db");
  WriteForeignDatabase(foreign,
                       "CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('ada');");
  ExpectRejected(foreign, "a database without a meta table");

  // A meta table that is not ours.
  const std::string lookalike = dir.File("lookalike.db");
  WriteForeignDatabase(lookalike,
                       "CREATE TABLE meta (name TEXT PRIMARY KEY, value);"
                       "INSERT INTO meta VALUES ('format', 'something else');");
  ExpectRejected(lookalike, "a database with another format marker");

  // The foreign database is left as it was (still readable, its rows intact).
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(foreign.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM users", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), 1);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

// The child commits puts in a loop and writes each acknowledged (index, revision) to a pipe; the
// parent kills it with SIGKILL after kAcks acknowledgements (the child is then usually in the
// middle of another commit) and checks that every acknowledged put is in the reopened store.
TEST(SqliteStore, AcknowledgedPutsSurviveSigkill) {
  constexpr int kAcks = 200;
  TempDir dir;
  const std::string path = dir.File("store.db");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    Result<std::unique_ptr<KvStore>> store = OpenSqliteStore(path);
    if (!store.ok()) _exit(2);
    for (std::int64_t i = 0;; ++i) {
      Result<Revision> r = (*store)->Put("key/" + std::to_string(i), "value " + std::to_string(i));
      if (!r.ok()) _exit(3);
      const std::int64_t ack[2] = {i, *r};
      if (write(fds[1], ack, sizeof ack) != static_cast<ssize_t>(sizeof ack)) _exit(4);
    }
  }
  close(fds[1]);
  std::vector<std::pair<std::int64_t, Revision>> acks;
  while (static_cast<int>(acks.size()) < kAcks) {
    std::int64_t ack[2];
    std::size_t got = 0;
    while (got < sizeof ack) {
      const ssize_t n = read(fds[0], reinterpret_cast<char*>(ack) + got, sizeof ack - got);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    if (got < sizeof ack) break;  // the child died early: reported below
    acks.emplace_back(ack[0], ack[1]);
  }
  kill(child, SIGKILL);
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  close(fds[0]);
  ASSERT_EQ(static_cast<int>(acks.size()), kAcks)
      << "the child stopped early: exit status "
      << (WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
  EXPECT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL);

  std::unique_ptr<KvStore> s = OpenOk(path);
  ASSERT_NE(s, nullptr);
  EXPECT_GE(s->CurrentRevision(), acks.back().second);
  for (const auto& [i, revision] : acks) {
    Result<KeyValue> kv = s->Get("key/" + std::to_string(i));
    ASSERT_TRUE(kv.ok()) << "acknowledged put " << i << " @" << revision
                         << " is lost: " << kv.status().ToString();
    EXPECT_EQ(kv->value, "value " + std::to_string(i));
    EXPECT_EQ(kv->mod_revision, revision);
  }
}

}  // namespace
}  // namespace gpool::store
