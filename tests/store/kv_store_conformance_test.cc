// The KvStore conformance suite, run against every implementation (the in-memory store and the
// SQLite store, the latter in a fresh temporary directory per test): revisions, create/mod
// revision and version, range reads, every compare, transactions, the event log, compaction,
// invalid requests, WaitForChange and concurrent compare-and-swap.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../temp_dir.h"
#include "store/kv_store.h"

namespace gpool::store {
namespace {

using std::chrono::milliseconds;

using test::TempDir;

struct MemoryStoreFactory {
  static constexpr const char* kName = "Memory";
  std::unique_ptr<KvStore> Make() { return NewMemoryStore(); }
};

struct SqliteStoreFactory {
  static constexpr const char* kName = "Sqlite";
  std::unique_ptr<KvStore> Make() {
    Result<std::unique_ptr<KvStore>> store = OpenSqliteStore((dir.path() / "store.db").string());
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
  }
  TempDir dir;
};

template <typename Factory>
class KvStoreConformanceTest : public testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(store_, nullptr); }
  KvStore& store() { return *store_; }

  Factory factory_;  // declared first: the store closes before its directory goes
  std::unique_ptr<KvStore> store_ = factory_.Make();
};

struct FactoryName {
  template <typename Factory>
  static std::string GetName(int) {
    return Factory::kName;
  }
};

using Implementations = testing::Types<MemoryStoreFactory, SqliteStoreFactory>;
TYPED_TEST_SUITE(KvStoreConformanceTest, Implementations, FactoryName);

// --- builders and checked calls ----------------------------------------------------------------

KeyValue Kv(std::string key, std::string value, Revision create, Revision mod,
            std::int64_t version) {
  return KeyValue{std::move(key), std::move(value), create, mod, version};
}
Event PutEvent(KeyValue kv) { return Event{EventType::kPut, std::move(kv)}; }
Event DeleteEvent(std::string key, Revision at) {
  return Event{EventType::kDelete, KeyValue{std::move(key), "", 0, at, 0}};
}
// Events as text, so that batches compare and print readably: "put a=1 @1 (create 1, version 1)".
std::vector<std::string> Describe(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const Event& e : events) {
    out.push_back((e.type == EventType::kPut ? "put " : "delete ") + e.kv.key + "=" + e.kv.value +
                  " @" + std::to_string(e.kv.mod_revision) + " (create " +
                  std::to_string(e.kv.create_revision) + ", version " +
                  std::to_string(e.kv.version) + ")");
  }
  return out;
}

Compare Cmp(std::string key, CompareTarget target, CompareOp op, std::int64_t number) {
  Compare c;
  c.key = std::move(key);
  c.target = target;
  c.op = op;
  c.number = number;
  return c;
}
Compare CmpValue(std::string key, CompareOp op, std::string value) {
  Compare c;
  c.key = std::move(key);
  c.target = CompareTarget::kValue;
  c.op = op;
  c.value = std::move(value);
  return c;
}

Revision PutOk(KvStore& s, std::string key, std::string value) {
  Result<Revision> r = s.Put(key, std::move(value));
  EXPECT_TRUE(r.ok()) << "put " << key << ": " << r.status().ToString();
  return r.ok() ? *r : -1;
}
Revision DeleteOk(KvStore& s, std::string key, std::string range_end = "") {
  Result<Revision> r = s.Delete(key, std::move(range_end));
  EXPECT_TRUE(r.ok()) << "delete " << key << ": " << r.status().ToString();
  return r.ok() ? *r : -1;
}
TxnResult TxnOk(KvStore& s, const TxnRequest& request) {
  Result<TxnResult> r = s.Txn(request);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : TxnResult{};
}
RangeResult RangeOk(KvStore& s, const RangeRequest& request) {
  Result<RangeResult> r = s.Range(request);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : RangeResult{};
}
EventBatch EventsOk(KvStore& s, std::string_view key, std::string_view range_end, Revision from,
                    std::size_t limit = 0) {
  Result<EventBatch> r = s.EventsSince(key, range_end, from, limit);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : EventBatch{};
}
std::vector<std::string> Keys(const std::vector<KeyValue>& kvs) {
  std::vector<std::string> keys;
  for (const KeyValue& kv : kvs) keys.push_back(kv.key);
  return keys;
}

const std::string kAll(1, '\0');  // range_end "\0": every key >= key
const std::string kNul(1, '\0');  // the smallest non-empty key

// --- PrefixEnd (implementation independent) ------------------------------------------------------

TEST(PrefixEnd, IncrementsTheLastByteThatCanBe) {
  struct Case {
    std::string prefix;
    std::string end;
  };
  const Case cases[] = {
      {"a/", "a0"},        // '/' + 1 = '0'
      {"abc", "abd"},      //
      {"a\xff", "b"},      // 0xff cannot grow: dropped, 'a' + 1
      {"a\xff\xff", "b"},  //
      {"\xfe", "\xff"},    //
      {"\xff\xff", kAll},  // nothing can grow: no upper bound
      {"", kAll},          //
      {std::string("a\0", 2), std::string("a\x01", 2)},
  };
  for (const Case& c : cases) EXPECT_EQ(PrefixEnd(c.prefix), c.end) << c.prefix;
}

// --- revisions ----------------------------------------------------------------------------------

TYPED_TEST(KvStoreConformanceTest, RevisionsStartAtZeroAndAdvanceByOnePerChange) {
  KvStore& s = this->store();
  EXPECT_EQ(s.CurrentRevision(), 0);
  EXPECT_EQ(s.CompactedRevision(), 0);
  EXPECT_EQ(RangeOk(s, {.key = "a"}).revision, 0);
  EXPECT_EQ(PutOk(s, "a", "1"), 1);
  EXPECT_EQ(PutOk(s, "b", "1"), 2);
  EXPECT_EQ(PutOk(s, "a", "2"), 3);  // overwriting is a change
  EXPECT_EQ(PutOk(s, "a", "2"), 4);  // even with the same value
  EXPECT_EQ(DeleteOk(s, "a"), 5);
  EXPECT_EQ(DeleteOk(s, "a"), 5);  // deleting a missing key changes nothing
  EXPECT_EQ(s.CurrentRevision(), 5);
  EXPECT_EQ(RangeOk(s, {.key = "b"}).revision, 5);
}

TYPED_TEST(KvStoreConformanceTest, CreateModRevisionAndVersion) {
  KvStore& s = this->store();
  struct Step {
    bool put;  // else delete
    std::string key;
    std::string value;
    Revision revision;          // the revision the step commits at
    std::optional<KeyValue> a;  // "a" after the step; nullopt: absent
  };
  const Step steps[] = {
      {true, "a", "v1", 1, Kv("a", "v1", 1, 1, 1)},  // created at 1, version 1
      {true, "b", "w", 2, Kv("a", "v1", 1, 1, 1)},   // another key: "a" untouched
      {true, "a", "v2", 3, Kv("a", "v2", 1, 3, 2)},  // mod 3, version 2, create stays 1
      {true, "a", "v3", 4, Kv("a", "v3", 1, 4, 3)},  //
      {false, "a", "", 5, std::nullopt},             // delete: gone
      {true, "a", "v4", 6, Kv("a", "v4", 6, 6, 1)},  // delete reset it: created again at 6
  };
  for (const Step& step : steps) {
    const Revision r = step.put ? PutOk(s, step.key, step.value) : DeleteOk(s, step.key);
    EXPECT_EQ(r, step.revision);
    Result<KeyValue> got = s.Get("a");
    if (step.a) {
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_EQ(*got, *step.a);
    } else {
      ASSERT_FALSE(got.ok());
      EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
    }
  }
  ASSERT_TRUE(s.Get("b").ok());
  EXPECT_EQ(*s.Get("b"), Kv("b", "w", 2, 2, 1));
}

// --- range reads --------------------------------------------------------------------------------

TYPED_TEST(KvStoreConformanceTest, RangeReads) {
  KvStore& s = this->store();
  // Written out of order; "\xc3\xa9" (é) sorts after "c" in byte order (0xc3 > 'c').
  const std::vector<std::string> written = {"c", "a/2", "\xc3\xa9", "a", "ab", "a/3", "b", "a/1"};
  for (const std::string& k : written) PutOk(s, k, "v:" + k);
  const Revision rev = static_cast<Revision>(written.size());  // 8 puts: revision 8
  struct Case {
    std::string name;
    RangeRequest request;
    std::vector<std::string> keys;
    std::int64_t count;
    bool more;
  };
  const Case cases[] = {
      {"one key", {.key = "a/2"}, {"a/2"}, 1, false},
      {"a missing key", {.key = "zz"}, {}, 0, false},
      {"[a/1, a/3)", {.key = "a/1", .range_end = "a/3"}, {"a/1", "a/2"}, 2, false},
      {"prefix a/", {.key = "a/", .range_end = PrefixEnd("a/")}, {"a/1", "a/2", "a/3"}, 3, false},
      {"[ab, \\0)", {.key = "ab", .range_end = kAll}, {"ab", "b", "c", "\xc3\xa9"}, 4, false},
      {"everything",
       {.key = kNul, .range_end = kAll},
       {"a", "a/1", "a/2", "a/3", "ab", "b", "c", "\xc3\xa9"},
       8,
       false},
      // limit: the first keys in order; count is before the limit; more says it was cut.
      {"limit 2 of 3", {.key = "a/", .range_end = "a0", .limit = 2}, {"a/1", "a/2"}, 3, true},
      {"limit 3 of 3",
       {.key = "a/", .range_end = "a0", .limit = 3},
       {"a/1", "a/2", "a/3"},
       3,
       false},
      {"limit 1 of one key", {.key = "b", .limit = 1}, {"b"}, 1, false},
      {"count only", {.key = kNul, .range_end = kAll, .count_only = true}, {}, 8, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const RangeResult r = RangeOk(s, c.request);
    EXPECT_EQ(Keys(r.kvs), c.keys);
    EXPECT_EQ(r.count, c.count);
    EXPECT_EQ(r.more, c.more);
    EXPECT_EQ(r.revision, rev);
    for (const KeyValue& kv : r.kvs) EXPECT_EQ(kv.value, "v:" + kv.key);
  }
  // keys_only: the metadata without the values. "a/2" was the 2nd put: revision 2.
  const RangeResult keys_only = RangeOk(s, {.key = "a/2", .keys_only = true});
  ASSERT_EQ(keys_only.kvs.size(), 1u);
  EXPECT_EQ(keys_only.kvs[0], Kv("a/2", "", 2, 2, 1));
}

TYPED_TEST(KvStoreConformanceTest, KeysAndValuesAreBytes) {
  KvStore& s = this->store();
  const std::string key("k\0\xff", 3);
  const std::string value("\0\x01\xfe\xff", 4);
  PutOk(s, key, value);
  PutOk(s, "k", "");  // an empty value is a value
  ASSERT_TRUE(s.Get(key).ok());
  EXPECT_EQ(s.Get(key)->value, value);
  ASSERT_TRUE(s.Get("k").ok());
  EXPECT_EQ(s.Get("k")->value, "");
  // "k" < "k\0\xff" < "k\x01": the NUL byte and 0xff are ordered as bytes.
  PutOk(s, "k\x01", "x");
  EXPECT_EQ(Keys(RangeOk(s, {.key = "k", .range_end = PrefixEnd("k")}).kvs),
            (std::vector<std::string>{"k", key, "k\x01"}));
}

// --- compares and transactions ------------------------------------------------------------------

TYPED_TEST(KvStoreConformanceTest, EveryCompareTargetAndOp) {
  KvStore& s = this->store();
  PutOk(s, "k", "v1");     // @1: k created at 1
  PutOk(s, "other", "x");  // @2
  PutOk(s, "k", "m");      // @3: k = "m", create 1, mod 3, version 2
  using T = CompareTarget;
  using O = CompareOp;
  struct Case {
    Compare compare;
    bool holds;
  };
  const Case cases[] = {
      {Cmp("k", T::kCreateRevision, O::kEqual, 1), true},
      {Cmp("k", T::kCreateRevision, O::kNotEqual, 1), false},
      {Cmp("k", T::kCreateRevision, O::kLess, 2), true},
      {Cmp("k", T::kCreateRevision, O::kLess, 1), false},
      {Cmp("k", T::kCreateRevision, O::kGreater, 0), true},
      {Cmp("k", T::kCreateRevision, O::kGreater, 1), false},
      {Cmp("k", T::kModRevision, O::kEqual, 3), true},
      {Cmp("k", T::kModRevision, O::kEqual, 1), false},
      {Cmp("k", T::kModRevision, O::kNotEqual, 3), false},
      {Cmp("k", T::kModRevision, O::kNotEqual, 0), true},
      {Cmp("k", T::kModRevision, O::kLess, 4), true},
      {Cmp("k", T::kModRevision, O::kLess, 3), false},
      {Cmp("k", T::kModRevision, O::kGreater, 2), true},
      {Cmp("k", T::kModRevision, O::kGreater, 3), false},
      {Cmp("k", T::kVersion, O::kEqual, 2), true},
      {Cmp("k", T::kVersion, O::kNotEqual, 2), false},
      {Cmp("k", T::kVersion, O::kLess, 3), true},
      {Cmp("k", T::kVersion, O::kLess, 2), false},
      {Cmp("k", T::kVersion, O::kGreater, 1), true},
      {Cmp("k", T::kVersion, O::kGreater, 2), false},
      {CmpValue("k", O::kEqual, "m"), true},
      {CmpValue("k", O::kEqual, "v1"), false},
      {CmpValue("k", O::kNotEqual, "m"), false},
      {CmpValue("k", O::kNotEqual, ""), true},
      {CmpValue("k", O::kLess, "n"), true},
      {CmpValue("k", O::kLess, "m"), false},
      {CmpValue("k", O::kLess, "\xc3"), true},  // bytes compare unsigned: 'm' < 0xc3
      {CmpValue("k", O::kGreater, "l"), true},
      {CmpValue("k", O::kGreater, "mm"), false},  // a proper prefix sorts first
      // A missing key: create = mod = version = 0, value "".
      {Cmp("missing", T::kCreateRevision, O::kEqual, 0), true},
      {Cmp("missing", T::kModRevision, O::kEqual, 0), true},
      {ModRevisionIs("missing", 0), true},
      {ModRevisionIs("k", 0), false},
      {Cmp("missing", T::kVersion, O::kEqual, 0), true},
      {Cmp("missing", T::kVersion, O::kGreater, 0), false},
      {Cmp("missing", T::kModRevision, O::kLess, 1), true},
      {Cmp("missing", T::kCreateRevision, O::kNotEqual, 0), false},
      {CmpValue("missing", O::kEqual, ""), true},
      {CmpValue("missing", O::kLess, "a"), true},
      {CmpValue("missing", O::kGreater, ""), false},
  };
  for (std::size_t i = 0; i < std::size(cases); ++i) {
    const Case& c = cases[i];
    SCOPED_TRACE("case " + std::to_string(i) + " on " + c.compare.key);
    TxnRequest txn;
    txn.compare = {c.compare};
    txn.success = {RangeOp("k")};
    txn.failure = {RangeOp("other"), RangeOp("other")};
    const TxnResult r = TxnOk(s, txn);
    EXPECT_EQ(r.succeeded, c.holds);
    EXPECT_EQ(r.results.size(), c.holds ? 1u : 2u);  // one result per op of the branch that ran
    EXPECT_EQ(r.revision, 3);                        // reads change nothing
  }
  // Several compares: all must hold.
  TxnRequest both;
  both.compare = {ModRevisionIs("k", 3), CmpValue("k", O::kEqual, "m")};
  EXPECT_TRUE(TxnOk(s, both).succeeded);
  both.compare.push_back(ModRevisionIs("missing", 1));
  EXPECT_FALSE(TxnOk(s, both).succeeded);
}

TYPED_TEST(KvStoreConformanceTest, SuccessAndFailureBranches) {
  KvStore& s = this->store();
  PutOk(s, "k", "1");  // @1
  TxnRequest cas;
  cas.compare = {ModRevisionIs("k", 1)};
  cas.success = {PutOp("k", "2")};
  cas.failure = {PutOp("lost", "yes"), RangeOp("k")};

  TxnResult first = TxnOk(s, cas);  // holds: k = 2 @2
  EXPECT_TRUE(first.succeeded);
  EXPECT_EQ(first.revision, 2);
  ASSERT_EQ(first.results.size(), 1u);
  EXPECT_EQ(first.results[0].kvs, std::vector<KeyValue>{Kv("k", "1", 1, 1, 1)});  // previous

  TxnResult second = TxnOk(s, cas);  // k's mod revision is now 2: the failure ops run @3
  EXPECT_FALSE(second.succeeded);
  EXPECT_EQ(second.revision, 3);
  ASSERT_EQ(second.results.size(), 2u);
  EXPECT_TRUE(second.results[0].kvs.empty());  // "lost" did not exist
  EXPECT_EQ(second.results[1].kvs, std::vector<KeyValue>{Kv("k", "2", 1, 2, 2)});
  EXPECT_EQ(*s.Get("k"), Kv("k", "2", 1, 2, 2));
  EXPECT_EQ(*s.Get("lost"), Kv("lost", "yes", 3, 3, 1));
}

TYPED_TEST(KvStoreConformanceTest, SeveralPutsAndDeletesCommitAtOneRevision) {
  KvStore& s = this->store();
  PutOk(s, "a", "1");    // @1
  PutOk(s, "b", "1");    // @2
  PutOk(s, "c/1", "1");  // @3
  PutOk(s, "c/2", "1");  // @4
  TxnRequest txn;
  txn.success = {PutOp("x", "1"), PutOp("a", "2"), DeleteOp("b"), DeleteOp("c/", PrefixEnd("c/")),
                 RangeOp("a")};
  const TxnResult r = TxnOk(s, txn);  // everything at @5
  EXPECT_TRUE(r.succeeded);
  EXPECT_EQ(r.revision, 5);
  EXPECT_EQ(s.CurrentRevision(), 5);
  ASSERT_EQ(r.results.size(), 5u);
  EXPECT_TRUE(r.results[0].kvs.empty());
  EXPECT_EQ(r.results[1].kvs, std::vector<KeyValue>{Kv("a", "1", 1, 1, 1)});
  EXPECT_EQ(r.results[2].deleted, 1);
  EXPECT_EQ(r.results[3].deleted, 2);
  // An op sees the ops before it in the same transaction.
  EXPECT_EQ(r.results[4].kvs, std::vector<KeyValue>{Kv("a", "2", 1, 5, 2)});

  EXPECT_EQ(*s.Get("x"), Kv("x", "1", 5, 5, 1));
  EXPECT_EQ(*s.Get("a"), Kv("a", "2", 1, 5, 2));
  EXPECT_EQ(RangeOk(s, {.key = "b"}).count, 0);
  EXPECT_EQ(RangeOk(s, {.key = "c/", .range_end = PrefixEnd("c/")}).count, 0);
  // The log holds the transaction's events at revision 5, in op order.
  const std::vector<Event> expected = {PutEvent(Kv("x", "1", 5, 5, 1)),
                                       PutEvent(Kv("a", "2", 1, 5, 2)), DeleteEvent("b", 5),
                                       DeleteEvent("c/1", 5), DeleteEvent("c/2", 5)};
  EXPECT_EQ(Describe(EventsOk(s, kNul, kAll, 5).events), Describe(expected));
}

TYPED_TEST(KvStoreConformanceTest, TxnChangingNothingKeepsTheRevision) {
  KvStore& s = this->store();
  PutOk(s, "a", "1");  // @1
  TxnRequest empty;
  TxnRequest reads;
  reads.success = {RangeOp("a"), RangeOp(kNul, kAll)};
  TxnRequest delete_missing;
  delete_missing.success = {DeleteOp("missing"), DeleteOp("m/", PrefixEnd("m/"))};
  TxnRequest failed_without_ops;
  failed_without_ops.compare = {ModRevisionIs("a", 7)};
  failed_without_ops.success = {PutOp("a", "2")};
  for (const TxnRequest* txn : {&empty, &reads, &delete_missing, &failed_without_ops}) {
    const TxnResult r = TxnOk(s, *txn);
    EXPECT_EQ(r.revision, 1);
    EXPECT_EQ(s.CurrentRevision(), 1);
  }
  EXPECT_EQ(TxnOk(s, reads).results[1].kvs, std::vector<KeyValue>{Kv("a", "1", 1, 1, 1)});
  EXPECT_EQ(TxnOk(s, delete_missing).results[0].deleted, 0);
  EXPECT_EQ(EventsOk(s, kNul, kAll, 0).events.size(), 1u);  // only the put
}

TYPED_TEST(KvStoreConformanceTest, RangeOpInATxnHonoursItsLimit) {
  KvStore& s = this->store();
  for (const char* k : {"p/1", "p/2", "p/3"}) PutOk(s, k, "v");
  Op range = RangeOp("p/", PrefixEnd("p/"));
  range.limit = 2;
  TxnRequest txn;
  txn.success = {range};
  EXPECT_EQ(Keys(TxnOk(s, txn).results[0].kvs), (std::vector<std::string>{"p/1", "p/2"}));
}

TYPED_TEST(KvStoreConformanceTest, DeleteRangeCountsTheKeysRemoved) {
  KvStore& s = this->store();
  for (const char* k : {"p/1", "p/2", "p/3", "q"}) PutOk(s, k, "v");  // @1..@4
  TxnRequest prefix;
  prefix.success = {DeleteOp("p/", PrefixEnd("p/"))};
  const TxnResult r = TxnOk(s, prefix);
  EXPECT_EQ(r.results[0].deleted, 3);
  EXPECT_EQ(r.revision, 5);  // three keys, one revision
  EXPECT_EQ(Keys(RangeOk(s, {.key = kNul, .range_end = kAll}).kvs), std::vector<std::string>{"q"});
  TxnRequest everything;
  everything.success = {DeleteOp(kNul, kAll)};
  EXPECT_EQ(TxnOk(s, everything).results[0].deleted, 1);
  EXPECT_EQ(s.CurrentRevision(), 6);
  EXPECT_EQ(RangeOk(s, {.key = kNul, .range_end = kAll, .count_only = true}).count, 0);
}

// --- the event log ------------------------------------------------------------------------------

// @1 put a; @2 put b; @3 txn {put a, put c, delete b}; @4 put b; @5 delete [a, b) (only "a").
void WriteEventHistory(KvStore& s) {
  PutOk(s, "a", "1");
  PutOk(s, "b", "1");
  TxnRequest txn;
  txn.success = {PutOp("a", "2"), PutOp("c", "1"), DeleteOp("b")};
  EXPECT_EQ(TxnOk(s, txn).revision, 3);
  PutOk(s, "b", "2");
  EXPECT_EQ(DeleteOk(s, "a", "b"), 5);
}

const std::vector<Event>& EventHistory() {
  static const std::vector<Event> events = {
      PutEvent(Kv("a", "1", 1, 1, 1)),  // @1
      PutEvent(Kv("b", "1", 2, 2, 1)),  // @2
      PutEvent(Kv("a", "2", 1, 3, 2)),  // @3: a's second version
      PutEvent(Kv("c", "1", 3, 3, 1)),  // @3
      DeleteEvent("b", 3),              // @3
      PutEvent(Kv("b", "2", 4, 4, 1)),  // @4: b created again
      DeleteEvent("a", 5),              // @5
  };
  return events;
}

std::vector<Event> Slice(std::size_t from, std::size_t to) {
  return {EventHistory().begin() + from, EventHistory().begin() + to};
}

TYPED_TEST(KvStoreConformanceTest, EventsSinceInRevisionOrderWithRangeFilterAndLimit) {
  KvStore& s = this->store();
  WriteEventHistory(s);
  const std::vector<Event>& all = EventHistory();
  struct Case {
    std::string name;
    std::string key, range_end;
    Revision from;
    std::size_t limit;
    std::vector<Event> events;
    Revision revision;  // the batch's revision: where to continue from (+1)
  };
  const Case cases[] = {
      {"everything from 1", kNul, kAll, 1, 0, all, 5},
      {"from 0 is from the start", kNul, kAll, 0, 0, all, 5},
      {"from 3", kNul, kAll, 3, 0, Slice(2, 7), 5},
      {"from 5", kNul, kAll, 5, 0, Slice(6, 7), 5},
      {"one key", "b", "", 1, 0, {all[1], all[4], all[5]}, 5},
      {"[a, b)", "a", "b", 2, 0, {all[2], all[6]}, 5},
      {"[b, \\0)", "b", kAll, 3, 0, {all[3], all[4], all[5]}, 5},
      // limit 2: @1 and @2 fill it exactly; the batch stops before @3 and says 2.
      {"limit 2", kNul, kAll, 1, 2, Slice(0, 2), 2},
      // limit 3: @1, @2, then @3's three events whole (5 > 3): stops before @4, says 3.
      {"limit 3 never splits @3", kNul, kAll, 1, 3, Slice(0, 5), 3},
      {"limit 1 from @3", kNul, kAll, 3, 1, Slice(2, 5), 3},
      // Nothing cut: the store revision even when the last event is older.
      {"limit 1, one event left", kNul, kAll, 5, 1, Slice(6, 7), 5},
      {"from 6 is past the end", kNul, kAll, 6, 0, {}, 5},
      {"from 100", kNul, kAll, 100, 0, {}, 5},
      {"no events on the key", "zz", "", 1, 0, {}, 5},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const EventBatch batch = EventsOk(s, c.key, c.range_end, c.from, c.limit);
    EXPECT_EQ(Describe(batch.events), Describe(c.events));
    EXPECT_EQ(batch.revision, c.revision);
  }
}

TYPED_TEST(KvStoreConformanceTest, PagingThroughEventsWithALimitSeesEveryEventOnce) {
  KvStore& s = this->store();
  WriteEventHistory(s);
  std::vector<Event> seen;
  Revision from = 1;
  for (int page = 0; page < 10 && from <= s.CurrentRevision(); ++page) {
    const EventBatch batch = EventsOk(s, kNul, kAll, from, 1);
    seen.insert(seen.end(), batch.events.begin(), batch.events.end());
    from = batch.revision + 1;
  }
  EXPECT_EQ(Describe(seen), Describe(EventHistory()));
}

TYPED_TEST(KvStoreConformanceTest, CompactDropsOldEventsOnly) {
  KvStore& s = this->store();
  WriteEventHistory(s);
  ASSERT_TRUE(s.Compact(3).ok());
  EXPECT_EQ(s.CompactedRevision(), 3);
  for (Revision from : {1, 2, 3}) {
    Result<EventBatch> r = s.EventsSince(kNul, kAll, from, 0);
    ASSERT_FALSE(r.ok()) << "from " << from;
    EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
    EXPECT_NE(r.status().message().find("compacted"), std::string::npos) << r.status().message();
  }
  EXPECT_EQ(Describe(EventsOk(s, kNul, kAll, 4).events), Describe(Slice(5, 7)));
  EXPECT_EQ(Describe(EventsOk(s, kNul, kAll, 0).events),
            Describe(Slice(5, 7)));  // from 0: what is left
  // The keys keep their values and revisions.
  EXPECT_EQ(*s.Get("c"), Kv("c", "1", 3, 3, 1));
  EXPECT_EQ(*s.Get("b"), Kv("b", "2", 4, 4, 1));
  EXPECT_EQ(s.CurrentRevision(), 5);

  // Compacting again below or at the point is a no-op; beyond the current revision is invalid.
  EXPECT_TRUE(s.Compact(2).ok());
  EXPECT_TRUE(s.Compact(3).ok());
  EXPECT_EQ(s.CompactedRevision(), 3);
  const Status beyond = s.Compact(6);
  EXPECT_EQ(beyond.code(), StatusCode::kInvalidArgument) << beyond.ToString();
  EXPECT_EQ(s.CompactedRevision(), 3);
  ASSERT_TRUE(s.Compact(5).ok());  // everything
  EXPECT_TRUE(EventsOk(s, kNul, kAll, 6).events.empty());
  EXPECT_EQ(s.EventsSince(kNul, kAll, 5, 0).status().code(), StatusCode::kNotFound);
}

// --- invalid requests ---------------------------------------------------------------------------

TYPED_TEST(KvStoreConformanceTest, InvalidRequestsAreRejectedAndChangeNothing) {
  KvStore& s = this->store();
  PutOk(s, "b", "1");  // @1
  auto txn = [&](std::vector<Op> success, std::vector<Op> failure = {},
                 std::vector<Compare> compare = {}) {
    return s.Txn(TxnRequest{std::move(compare), std::move(success), std::move(failure)}).status();
  };
  Op negative_limit = RangeOp("a", "c");
  negative_limit.limit = -1;
  struct Case {
    std::string name;
    Status status;
  };
  const Case cases[] = {
      {"range: empty key", s.Range({.key = ""}).status()},
      {"range: range_end == key", s.Range({.key = "b", .range_end = "b"}).status()},
      {"range: range_end < key", s.Range({.key = "b", .range_end = "a"}).status()},
      {"range: negative limit", s.Range({.key = "a", .range_end = "c", .limit = -1}).status()},
      {"txn: put with empty key", txn({PutOp("", "v")})},
      {"txn: delete with range_end <= key", txn({DeleteOp("b", "a")})},
      {"txn: delete with empty key", txn({DeleteOp("")})},
      {"txn: range with empty key", txn({RangeOp("")})},
      {"txn: range with negative limit", txn({negative_limit})},
      {"txn: compare on empty key", txn({PutOp("x", "1")}, {}, {ModRevisionIs("", 0)})},
      // The failure branch is checked too, even when the compares would pick success.
      {"txn: bad op in the branch not taken", txn({PutOp("x", "1")}, {PutOp("", "v")})},
      {"txn: good op before a bad one", txn({PutOp("x", "1"), DeleteOp("z", "y")})},
      {"events: empty key", s.EventsSince("", "", 0, 0).status()},
      {"events: range_end <= key", s.EventsSince("b", "a", 0, 0).status()},
      {"events: negative from", s.EventsSince("b", "", -1, 0).status()},
      {"compact: negative", s.Compact(-1)},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.status.code(), StatusCode::kInvalidArgument)
        << c.name << ": " << c.status.ToString();
  }
  EXPECT_EQ(s.CurrentRevision(), 1);
  EXPECT_EQ(s.Get("x").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(s.Get("").status().code(), StatusCode::kInvalidArgument);
}

// --- WaitForChange ------------------------------------------------------------------------------

TYPED_TEST(KvStoreConformanceTest, WaitForChangeTimesOutWithoutACommit) {
  KvStore& s = this->store();
  EXPECT_FALSE(s.WaitForChange(0, milliseconds(50)));
  PutOk(s, "a", "1");
  EXPECT_FALSE(s.WaitForChange(1, milliseconds(50)));
  TxnRequest reads;
  reads.success = {RangeOp("a")};
  TxnOk(s, reads);  // a transaction that changes nothing does not wake anyone
  EXPECT_FALSE(s.WaitForChange(1, milliseconds(50)));
}

TYPED_TEST(KvStoreConformanceTest, WaitForChangeReturnsAtOnceIfAlreadyPassed) {
  KvStore& s = this->store();
  PutOk(s, "a", "1");
  EXPECT_TRUE(s.WaitForChange(0, milliseconds(0)));
}

TYPED_TEST(KvStoreConformanceTest, WaitForChangeWakesWhenAnotherThreadCommits) {
  KvStore& s = this->store();
  PutOk(s, "a", "1");  // @1
  // The waiter may start before or after the commit; either way it must return true, and
  // long before its generous timeout (which would only be reached if no commit woke it).
  std::atomic<bool> woke{false};
  std::chrono::steady_clock::duration waited{};
  std::thread waiter([&] {
    const auto start = std::chrono::steady_clock::now();
    woke = s.WaitForChange(1, milliseconds(30000));
    waited = std::chrono::steady_clock::now() - start;
  });
  EXPECT_EQ(PutOk(s, "a", "2"), 2);
  waiter.join();
  EXPECT_TRUE(woke);
  EXPECT_LT(waited, std::chrono::seconds(10));
}

// --- concurrency --------------------------------------------------------------------------------

TYPED_TEST(KvStoreConformanceTest, ConcurrentCompareAndSwapIncrementsLoseNoUpdate) {
  KvStore& s = this->store();
  constexpr int kThreads = 4;
  constexpr int kIncrements = 200;
  ASSERT_EQ(PutOk(s, "counter", "0"), 1);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        for (;;) {  // read, then write if nobody wrote in between; else retry
          Result<KeyValue> kv = s.Get("counter");
          if (!kv.ok()) {
            ++failures;
            return;
          }
          TxnRequest cas;
          cas.compare = {ModRevisionIs("counter", kv->mod_revision)};
          cas.success = {PutOp("counter", std::to_string(std::stoll(kv->value) + 1))};
          Result<TxnResult> r = s.Txn(cas);
          if (!r.ok()) {
            ++failures;
            return;
          }
          if (r->succeeded) break;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);
  // 4 x 200 = 800 successful increments, one revision each, after the initial put @1.
  constexpr Revision kFinal = 1 + kThreads * kIncrements;
  EXPECT_EQ(s.CurrentRevision(), kFinal);
  EXPECT_EQ(*s.Get("counter"),
            Kv("counter", std::to_string(kThreads * kIncrements), 1, kFinal, kFinal));
  // Serialisable: the log holds one put per revision, the value at revision r being r - 1.
  const EventBatch log = EventsOk(s, "counter", "", 1);
  ASSERT_EQ(log.events.size(), static_cast<std::size_t>(kFinal));
  for (std::size_t i = 0; i < log.events.size(); ++i) {
    EXPECT_EQ(log.events[i].kv.mod_revision, static_cast<Revision>(i + 1));
    EXPECT_EQ(log.events[i].kv.value, std::to_string(i));
  }
}

}  // namespace
}  // namespace gpool::store
