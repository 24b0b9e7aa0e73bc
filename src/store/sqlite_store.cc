// The SQLite KvStore: one connection in WAL mode with synchronous=FULL, so a transaction that
// returned ok is on disk. Every method holds one mutex around the connection; each KvStore
// transaction is one BEGIN IMMEDIATE ... COMMIT. The current and compacted revisions are cached
// in memory (one process owns the file) so that CurrentRevision and WaitForChange never touch
// the disk.
//
// Schema (format_version 1):
//   meta   (name TEXT PRIMARY KEY, value): format = "gpool-kv-store", format_version = 1,
//          revision, compacted
//   kv     (key BLOB PRIMARY KEY, value BLOB, create_revision, mod_revision, version)
//   events (revision, seq, type, key BLOB, value BLOB, create_revision, version), keyed by
//          (revision, seq); seq is the op order inside the transaction.
// Keys and values are bound as BLOBs, which SQLite orders by memcmp: the byte order of the
// contract, so `key >= ?1 AND key < ?2` is exactly [key, range_end).
#include <sqlite3.h>

#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "store/kv_store.h"
#include "store/kv_store_internal.h"

namespace gpool::store {

// Defined in kv_store.cc: validation and comparison shared by every implementation.
namespace {

constexpr const char* kFormat = "gpool-kv-store";
constexpr std::int64_t kFormatVersion = 1;
constexpr int kBusyTimeoutMs = 5000;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY NOT NULL, value NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv (
  key BLOB PRIMARY KEY NOT NULL,
  value BLOB NOT NULL,
  create_revision INTEGER NOT NULL,
  mod_revision INTEGER NOT NULL,
  version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
  revision INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  type INTEGER NOT NULL,
  key BLOB NOT NULL,
  value BLOB NOT NULL,
  create_revision INTEGER NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY (revision, seq)
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES
  ('format', 'gpool-kv-store'), ('format_version', 1), ('revision', 0), ('compacted', 0);
)sql";

// Statements with an upper bound bind it as ?2; the "From" forms select every key >= ?1.
constexpr const char* kSelectKey =
    "SELECT value, create_revision, mod_revision, version FROM kv WHERE key = ?1";
constexpr const char* kUpsertKey =
    "INSERT OR REPLACE INTO kv (key, value, create_revision, mod_revision, version) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
constexpr const char* kScanBounded =
    "SELECT key, value, create_revision, mod_revision, version FROM kv "
    "WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3";
constexpr const char* kScanFrom =
    "SELECT key, value, create_revision, mod_revision, version FROM kv "
    "WHERE key >= ?1 ORDER BY key LIMIT ?3";
constexpr const char* kCountBounded = "SELECT COUNT(*) FROM kv WHERE key >= ?1 AND key < ?2";
constexpr const char* kCountFrom = "SELECT COUNT(*) FROM kv WHERE key >= ?1";
constexpr const char* kDeleteBounded = "DELETE FROM kv WHERE key >= ?1 AND key < ?2";
constexpr const char* kDeleteFrom = "DELETE FROM kv WHERE key >= ?1";
constexpr const char* kInsertEvent =
    "INSERT INTO events (revision, seq, type, key, value, create_revision, version) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr const char* kEventsBounded =
    "SELECT revision, type, key, value, create_revision, version FROM events "
    "WHERE revision >= ?3 AND key >= ?1 AND key < ?2 ORDER BY revision, seq";
constexpr const char* kEventsFrom =
    "SELECT revision, type, key, value, create_revision, version FROM events "
    "WHERE revision >= ?3 AND key >= ?1 ORDER BY revision, seq";
constexpr const char* kCompactEvents = "DELETE FROM events WHERE revision <= ?1";
constexpr const char* kGetMeta = "SELECT value FROM meta WHERE name = ?1";
constexpr const char* kSetMeta = "UPDATE meta SET value = ?2 WHERE name = ?1";
constexpr const char* kCountTables = "SELECT COUNT(*) FROM sqlite_master";
constexpr const char* kHasMetaTable =
    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'";

// [lower, upper) for a key and range_end; no upper: every key >= lower. One key k is
// [k, k + "\0"): nothing sorts between a string and itself followed by a NUL byte.
struct KeyBounds {
  std::string lower;
  std::optional<std::string> upper;
};

KeyBounds ToBounds(std::string_view key, std::string_view range_end) {
  KeyBounds b{std::string(key), std::nullopt};
  if (range_end.empty()) {
    b.upper = std::string(key) + '\0';
  } else if (!internal::IsUnbounded(range_end)) {
    b.upper = std::string(range_end);
  }
  return b;
}

// A cached prepared statement in use; reset, with its bindings cleared, when it goes away.
class Query {
 public:
  Query(sqlite3* db, sqlite3_stmt* stmt, std::string what)
      : db_(db), stmt_(stmt), what_(std::move(what)) {}
  Query(Query&& other) noexcept
      : db_(other.db_),
        stmt_(std::exchange(other.stmt_, nullptr)),
        what_(std::move(other.what_)),
        bind_rc_(other.bind_rc_) {}
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  Query& operator=(Query&&) = delete;
  ~Query() {
    if (stmt_ != nullptr) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }

  // SQLITE_STATIC: the bytes must outlive Step(), which every caller's locals do. An empty
  // string still has a non-null data(), so it binds as a zero-length BLOB, never as NULL.
  Query& Blob(int index, std::string_view bytes) {
    static constexpr char kEmpty[] = "";
    Keep(sqlite3_bind_blob64(stmt_, index, bytes.empty() ? kEmpty : bytes.data(), bytes.size(),
                             SQLITE_STATIC));
    return *this;
  }
  Query& Text(int index, std::string_view text) {
    Keep(sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8));
    return *this;
  }
  Query& Int(int index, std::int64_t v) {
    Keep(sqlite3_bind_int64(stmt_, index, v));
    return *this;
  }

  // true: a row is ready; false: done.
  Result<bool> Step() {
    if (bind_rc_ != SQLITE_OK) {
      return Status::Unavailable(what_ + ": binding a parameter: " + sqlite3_errstr(bind_rc_));
    }
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return Status::Unavailable(what_ + ": " + sqlite3_errmsg(db_));
  }
  // Runs a statement that returns no rows.
  Status Run() {
    Result<bool> r = Step();
    return r.ok() ? Status::Ok() : r.status();
  }

  std::string ColumnBlob(int col) const {
    const void* p = sqlite3_column_blob(stmt_, col);
    const int n = sqlite3_column_bytes(stmt_, col);
    return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), n);
  }
  std::int64_t ColumnInt(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string ColumnText(int col) const {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p));
  }
  int ColumnType(int col) const { return sqlite3_column_type(stmt_, col); }

 private:
  void Keep(int rc) {
    if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  std::string what_;
  int bind_rc_ = SQLITE_OK;
};

class SqliteStore final : public KvStore {
 public:
  SqliteStore(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;
  ~SqliteStore() override {
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    sqlite3_close(db_);
  }

  // Checks that the file is a gpool store (or a new, empty database), then sets it up.
  Status Init() {
    std::lock_guard lock(mu_);
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    // The first read of the file: a garbage file fails here with "file is not a database".
    Result<std::int64_t> tables = QueryInt(kCountTables, "reading the schema");
    if (!tables.ok()) {
      if (sqlite3_errcode(db_) == SQLITE_NOTADB) return NotAStore(sqlite3_errmsg(db_));
      return tables.status();
    }
    if (*tables > 0) {
      if (Status s = CheckFormat(); !s.ok()) return s;
    }
    // Only now, with the file known to be ours (or empty), change its journal mode.
    if (Status s = SetWal(); !s.ok()) return s;
    if (Status s = Exec("PRAGMA synchronous=FULL", "setting synchronous=FULL"); !s.ok()) return s;
    if (Status s = Exec("BEGIN IMMEDIATE", "creating the schema"); !s.ok()) return s;
    if (Status s = Exec(kSchema, "creating the schema"); !s.ok()) return Abort(s);
    if (Status s = Exec("COMMIT", "creating the schema"); !s.ok()) return Abort(s);
    Result<std::int64_t> revision = MetaInt("revision");
    if (!revision.ok()) return revision.status();
    Result<std::int64_t> compacted = MetaInt("compacted");
    if (!compacted.ok()) return compacted.status();
    revision_ = *revision;
    compacted_ = *compacted;
    return Status::Ok();
  }

  Result<RangeResult> Range(const RangeRequest& request) override {
    if (Status s = internal::ValidateRangeRequest(request); !s.ok()) return s;
    std::lock_guard lock(mu_);
    // mu_ serialises every use of the connection, so the count and the scan see one state.
    RangeResult result;
    result.revision = revision_;
    const KeyBounds b = ToBounds(request.key, request.range_end);
    {
      Result<Query> q = Prepare(b.upper ? kCountBounded : kCountFrom, "range: counting keys");
      if (!q.ok()) return q.status();
      q->Blob(1, b.lower);
      if (b.upper) q->Blob(2, *b.upper);
      Result<bool> row = q->Step();
      if (!row.ok()) return row.status();
      result.count = q->ColumnInt(0);
    }
    if (request.count_only) return result;
    Result<std::vector<KeyValue>> kvs = Scan(b, request.limit, "range");
    if (!kvs.ok()) return kvs.status();
    result.kvs = std::move(*kvs);
    result.more = static_cast<std::int64_t>(result.kvs.size()) < result.count;
    if (request.keys_only) {
      for (KeyValue& kv : result.kvs) kv.value.clear();
    }
    return result;
  }

  Result<TxnResult> Txn(const TxnRequest& request) override {
    if (Status s = internal::ValidateTxnRequest(request); !s.ok()) return s;
    std::lock_guard lock(mu_);
    if (Status s = Exec("BEGIN IMMEDIATE", "txn: begin"); !s.ok()) return s;
    bool changed = false;
    Result<TxnResult> result = RunTxn(request, changed);
    if (!result.ok()) return Abort(result.status());
    const Revision next = revision_ + 1;
    if (changed) {
      Result<Query> q = Prepare(kSetMeta, "txn: recording the revision");
      if (!q.ok()) return Abort(q.status());
      if (Status s = q->Text(1, "revision").Int(2, next).Run(); !s.ok()) return Abort(s);
    }
    if (Status s = Exec("COMMIT", "txn: commit"); !s.ok()) return Abort(s);
    if (changed) {
      revision_ = next;
      changed_.notify_all();
    }
    result->revision = revision_;
    return result;
  }

  Result<EventBatch> EventsSince(std::string_view key, std::string_view range_end, Revision from,
                                 std::size_t limit) override {
    if (Status s = internal::ValidateKeyRange("events", key, range_end); !s.ok()) return s;
    if (from < 0) return Status::InvalidArgument("events: negative revision");
    std::lock_guard lock(mu_);
    if (from > 0 && from <= compacted_) {
      return Status::NotFound("events from revision " + std::to_string(from) +
                              ": compacted (the store is compacted up to revision " +
                              std::to_string(compacted_) + ")");
    }
    EventBatch batch;
    batch.revision = revision_;
    const KeyBounds b = ToBounds(key, range_end);
    Result<Query> q = Prepare(b.upper ? kEventsBounded : kEventsFrom, "events: reading the log");
    if (!q.ok()) return q.status();
    q->Blob(1, b.lower).Int(3, from);
    if (b.upper) q->Blob(2, *b.upper);
    Revision last = 0;
    for (;;) {
      Result<bool> row = q->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      const Revision revision = q->ColumnInt(0);
      if (limit > 0 && batch.events.size() >= limit && revision != last) {
        batch.revision = last;  // cut at a transaction boundary: continue from last + 1
        break;
      }
      Event& e = batch.events.emplace_back();
      e.type = q->ColumnInt(1) == 0 ? EventType::kPut : EventType::kDelete;
      e.kv.key = q->ColumnBlob(2);
      e.kv.value = q->ColumnBlob(3);
      e.kv.create_revision = q->ColumnInt(4);
      e.kv.mod_revision = revision;
      e.kv.version = q->ColumnInt(5);
      last = revision;
    }
    return batch;
  }

  Revision CurrentRevision() override {
    std::lock_guard lock(mu_);
    return revision_;
  }

  bool WaitForChange(Revision after, std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, timeout, [&] { return revision_ > after; });
  }

  Status Compact(Revision upto) override {
    std::lock_guard lock(mu_);
    if (Status s = internal::ValidateCompact(upto, revision_); !s.ok()) return s;
    // Compacting at or below the compaction point again is a no-op.
    if (upto <= compacted_) return Status::Ok();
    if (Status s = Exec("BEGIN IMMEDIATE", "compact: begin"); !s.ok()) return s;
    {
      Result<Query> q = Prepare(kCompactEvents, "compact: dropping events");
      if (!q.ok()) return Abort(q.status());
      if (Status s = q->Int(1, upto).Run(); !s.ok()) return Abort(s);
    }
    {
      Result<Query> q = Prepare(kSetMeta, "compact: recording the compaction point");
      if (!q.ok()) return Abort(q.status());
      if (Status s = q->Text(1, "compacted").Int(2, upto).Run(); !s.ok()) return Abort(s);
    }
    if (Status s = Exec("COMMIT", "compact: commit"); !s.ok()) return Abort(s);
    compacted_ = upto;
    return Status::Ok();
  }

  Revision CompactedRevision() override {
    std::lock_guard lock(mu_);
    return compacted_;
  }

 private:
  // The ops of the chosen branch, inside an open transaction. REQUIRES: mu_ held.
  Result<TxnResult> RunTxn(const TxnRequest& request, bool& changed) {
    TxnResult result;
    result.succeeded = true;
    for (const Compare& c : request.compare) {
      Result<std::optional<KeyValue>> kv = GetKey(c.key, "txn: compare");
      if (!kv.ok()) return kv.status();
      if (!internal::CompareHolds(c, kv->has_value() ? &**kv : nullptr)) {
        result.succeeded = false;
        break;
      }
    }
    const Revision next = revision_ + 1;
    std::int64_t seq = 0;
    // Ops run in order and see the effects of the ones before them (a key put twice gets two
    // versions, both at `next`).
    for (const Op& op : result.succeeded ? request.success : request.failure) {
      OpResult& out = result.results.emplace_back();
      switch (op.kind) {
        case Op::Kind::kPut: {
          Result<std::optional<KeyValue>> prev = GetKey(op.key, "txn put: reading the key");
          if (!prev.ok()) return prev.status();
          KeyValue kv{op.key, op.value, next, next, 1};
          if (prev->has_value()) {
            kv.create_revision = (*prev)->create_revision;
            kv.version = (*prev)->version + 1;
            out.kvs.push_back(std::move(**prev));
          }
          Result<Query> q = Prepare(kUpsertKey, "txn put: writing the key");
          if (!q.ok()) return q.status();
          q->Blob(1, kv.key).Blob(2, kv.value).Int(3, kv.create_revision).Int(4, next);
          if (Status s = q->Int(5, kv.version).Run(); !s.ok()) return s;
          if (Status s = AppendEvent(EventType::kPut, kv, seq++); !s.ok()) return s;
          changed = true;
          break;
        }
        case Op::Kind::kDelete: {
          const KeyBounds b = ToBounds(op.key, op.range_end);
          Result<std::vector<KeyValue>> doomed = Scan(b, 0, "txn delete");
          if (!doomed.ok()) return doomed.status();
          if (doomed->empty()) break;
          Result<Query> q = Prepare(b.upper ? kDeleteBounded : kDeleteFrom, "txn delete");
          if (!q.ok()) return q.status();
          q->Blob(1, b.lower);
          if (b.upper) q->Blob(2, *b.upper);
          if (Status s = q->Run(); !s.ok()) return s;
          for (const KeyValue& gone : *doomed) {
            const KeyValue tombstone{gone.key, "", 0, next, 0};
            if (Status s = AppendEvent(EventType::kDelete, tombstone, seq++); !s.ok()) return s;
          }
          out.deleted = static_cast<std::int64_t>(doomed->size());
          changed = true;
          break;
        }
        case Op::Kind::kRange: {
          Result<std::vector<KeyValue>> kvs =
              Scan(ToBounds(op.key, op.range_end), op.limit, "txn range");
          if (!kvs.ok()) return kvs.status();
          out.kvs = std::move(*kvs);
          break;
        }
      }
    }
    return result;
  }

  Status AppendEvent(EventType type, const KeyValue& kv, std::int64_t seq) {
    Result<Query> q = Prepare(kInsertEvent, "txn: appending to the event log");
    if (!q.ok()) return q.status();
    q->Int(1, kv.mod_revision).Int(2, seq).Int(3, type == EventType::kPut ? 0 : 1);
    q->Blob(4, kv.key).Blob(5, kv.value).Int(6, kv.create_revision).Int(7, kv.version);
    return q->Run();
  }

  Result<std::optional<KeyValue>> GetKey(const std::string& key, const char* what) {
    Result<Query> q = Prepare(kSelectKey, what);
    if (!q.ok()) return q.status();
    q->Blob(1, key);
    Result<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::optional<KeyValue>();
    return std::optional<KeyValue>(
        KeyValue{key, q->ColumnBlob(0), q->ColumnInt(1), q->ColumnInt(2), q->ColumnInt(3)});
  }

  // The keys in the bounds in key order, at most `limit` (0 = all).
  Result<std::vector<KeyValue>> Scan(const KeyBounds& b, std::int64_t limit, const char* what) {
    Result<Query> q = Prepare(b.upper ? kScanBounded : kScanFrom, what);
    if (!q.ok()) return q.status();
    q->Blob(1, b.lower).Int(3, limit > 0 ? limit : -1);  // LIMIT -1: no limit
    if (b.upper) q->Blob(2, *b.upper);
    std::vector<KeyValue> kvs;
    for (;;) {
      Result<bool> row = q->Step();
      if (!row.ok()) return row.status();
      if (!*row) return kvs;
      kvs.push_back(KeyValue{q->ColumnBlob(0), q->ColumnBlob(1), q->ColumnInt(2), q->ColumnInt(3),
                             q->ColumnInt(4)});
    }
  }

  Result<std::int64_t> QueryInt(const char* sql, const char* what) {
    Result<Query> q = Prepare(sql, what);
    if (!q.ok()) return q.status();
    Result<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Internal(Message(what) + ": no row");
    return q->ColumnInt(0);
  }

  // The value of a meta row; nullopt if there is none.
  Result<std::optional<std::string>> MetaText(const char* name) {
    Result<Query> q = Prepare(kGetMeta, "reading the meta table");
    if (!q.ok()) return q.status();
    q->Text(1, name);
    Result<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::optional<std::string>();
    return std::optional<std::string>(q->ColumnText(0));
  }

  // A meta row holding a number; Unavailable if it is missing or not an integer.
  Result<std::int64_t> MetaInt(const char* name) {
    Result<Query> q = Prepare(kGetMeta, "reading the meta table");
    if (!q.ok()) return q.status();
    q->Text(1, name);
    Result<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row || q->ColumnType(0) != SQLITE_INTEGER) {
      return Status::Unavailable(Message("reading the meta table") + ": \"" + name +
                                 "\" is missing or not an integer");
    }
    return q->ColumnInt(0);
  }

  // REQUIRES: the database has tables. OK only if it has gpool's format marker.
  Status CheckFormat() {
    Result<std::int64_t> has_meta = QueryInt(kHasMetaTable, "reading the schema");
    if (!has_meta.ok()) return has_meta.status();
    if (*has_meta == 0) return NotAStore("a SQLite database without gpool's meta table");
    Result<std::optional<std::string>> format = MetaText("format");
    if (!format.ok()) return NotAStore(sqlite3_errmsg(db_));  // e.g. no "name" column
    if (!format->has_value() || **format != kFormat) {
      return NotAStore("a SQLite database whose meta table has no format \"" +
                       std::string(kFormat) + "\"");
    }
    Result<std::int64_t> version = MetaInt("format_version");
    if (!version.ok()) return version.status();
    if (*version != kFormatVersion) {
      return Status::Unavailable("sqlite store " + path_ + ": format version " +
                                 std::to_string(*version) + ", this build reads version " +
                                 std::to_string(kFormatVersion));
    }
    return Status::Ok();
  }

  Status SetWal() {
    Result<Query> q = Prepare("PRAGMA journal_mode=WAL", "setting journal_mode=WAL");
    if (!q.ok()) return q.status();
    Result<bool> row = q->Step();
    if (!row.ok()) return row.status();
    const std::string mode = *row ? q->ColumnText(0) : "";
    if (mode != "wal") {
      return Status::Unavailable(Message("setting journal_mode=WAL") + ": the journal mode is \"" +
                                 mode + "\"");
    }
    return Status::Ok();
  }

  Status NotAStore(const std::string& why) const {
    return Status::Unavailable("sqlite store " + path_ + " is not a gpool store: " + why);
  }

  std::string Message(std::string_view what) const {
    return "sqlite store " + path_ + ": " + std::string(what);
  }

  // Rolls back the open transaction (if SQLite has not already) and returns `s`.
  Status Abort(Status s) {
    if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return s;
  }

  Status Exec(const char* sql, const char* what) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      Status s = Status::Unavailable(Message(what) + ": " +
                                     (error != nullptr ? error : sqlite3_errmsg(db_)));
      sqlite3_free(error);
      return s;
    }
    return Status::Ok();
  }

  // The cached statement for `sql` (prepared on first use). REQUIRES: mu_ held.
  Result<Query> Prepare(const char* sql, const char* what) {
    auto it = statements_.find(sql);
    sqlite3_stmt* stmt = it == statements_.end() ? nullptr : it->second;
    if (stmt == nullptr) {
      if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) !=
          SQLITE_OK) {
        return Status::Unavailable(Message(what) + ": " + sqlite3_errmsg(db_));
      }
      statements_.emplace(sql, stmt);
    }
    return Query(db_, stmt, Message(what));
  }

  const std::string path_;
  std::mutex mu_;
  std::condition_variable changed_;
  sqlite3* const db_;
  std::map<std::string, sqlite3_stmt*, std::less<>> statements_;  // by SQL text
  Revision revision_ = 0;
  Revision compacted_ = 0;
};

}  // namespace

Result<std::unique_ptr<KvStore>> OpenSqliteStore(const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("sqlite store: empty path");
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      return Status::Unavailable("sqlite store " + path + ": creating the directory " +
                                 parent.string() + ": " + ec.message());
    }
  }
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    Status s = Status::Unavailable("sqlite store " + path + ": opening: " +
                                   (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
    sqlite3_close(db);
    return s;
  }
  auto store = std::make_unique<SqliteStore>(path, db);
  if (Status s = store->Init(); !s.ok()) return s;
  return std::unique_ptr<KvStore>(std::move(store));
}

}  // namespace gpool::store
