// KvStore: the pool's state store, in etcd's data model.
//
// A flat, ordered key space of byte strings. Every committed change gets the next store revision
// (a 64-bit counter starting at 1 for the first change; an empty store is at revision 0). Each key
// carries create_revision (when it was last created), mod_revision (its last change) and version
// (changes since it was created: 1 after the creating put; a delete resets the key entirely).
//
//  - Range reads: one key, or every key in [key, range_end) in byte order; range_end "\0" (a
//    single NUL byte) means "every key >= key". Optional limit; `count` tells how many matched.
//  - Transactions: if every Compare holds, the `success` ops run, else the `failure` ops, all at
//    one new revision (a transaction that changes nothing does not advance the revision). A
//    missing key compares as create_revision = mod_revision = version = 0 and value "".
//  - Events: every put and delete is kept in an event log; EventsSince returns, in revision
//    order, the events on a key or range from a revision on — the basis of watches. Events before
//    the compaction point are gone: asking for them is an error (kNotFound, "compacted").
//  - WaitForChange blocks until the revision passes a given one or a timeout expires, so a
//    watcher loops: EventsSince(from) ... WaitForChange(last seen) ... without polling.
//
// Durability: a Txn that returns ok is committed; the SQLite implementation has it on disk
// (WAL, synchronous=FULL) before returning, so it survives a SIGKILL of the process.
//
// Thread safety: every method of every implementation may be called from any thread; each
// transaction is atomic and isolated (serialisable). One SQLite file is owned by one process.
//
// Errors: InvalidArgument (empty key, range_end not after key), NotFound (compacted revision),
// Unavailable (the disk or database failed; the message says how), Internal.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace gpool::store {

using Revision = std::int64_t;

struct KeyValue {
  std::string key;
  std::string value;
  Revision create_revision = 0;
  Revision mod_revision = 0;
  std::int64_t version = 0;
  bool operator==(const KeyValue&) const = default;
};

// The range_end that selects every key starting with `prefix` ("a/" -> "a0"; "\xff..." -> "\0").
std::string PrefixEnd(std::string_view prefix);

struct RangeRequest {
  std::string key;
  std::string range_end;    // empty: `key` only; "\0": every key >= key; else [key, range_end)
  std::int64_t limit = 0;   // 0 = no limit; > 0 = at most this many, in key order
  bool keys_only = false;   // values left empty
  bool count_only = false;  // no kvs, only count
};

struct RangeResult {
  std::vector<KeyValue> kvs;
  std::int64_t count = 0;  // how many keys matched (before the limit)
  bool more = false;       // the limit cut the result
  Revision revision = 0;   // the store revision the read saw
};

enum class CompareTarget : std::uint8_t { kCreateRevision, kModRevision, kVersion, kValue };
enum class CompareOp : std::uint8_t { kEqual, kNotEqual, kLess, kGreater };

struct Compare {
  std::string key;
  CompareTarget target = CompareTarget::kModRevision;
  CompareOp op = CompareOp::kEqual;
  std::int64_t number = 0;  // for revisions and version
  std::string value;        // for kValue (byte-wise comparison)
};

struct Op {
  enum class Kind : std::uint8_t { kPut, kDelete, kRange } kind = Kind::kPut;
  std::string key;
  std::string range_end;   // kDelete and kRange: as in RangeRequest
  std::string value;       // kPut
  std::int64_t limit = 0;  // kRange
};

// Shorthands for building transactions.
Op PutOp(std::string key, std::string value);
Op DeleteOp(std::string key, std::string range_end = "");
Op RangeOp(std::string key, std::string range_end = "");
Compare ModRevisionIs(std::string key, Revision r);  // r = 0: "the key does not exist"

// The ops of the chosen branch run in order, each seeing the effects of the ones before it (a
// key put twice gets two versions, both at the new revision). Ops of both branches are validated
// first: an invalid op anywhere rejects the whole request with InvalidArgument.
struct TxnRequest {
  std::vector<Compare> compare;
  std::vector<Op> success;
  std::vector<Op> failure;
};

struct OpResult {
  std::vector<KeyValue> kvs;  // kRange: the keys read; kPut: the previous value if any;
                              // kDelete: empty
  std::int64_t deleted = 0;   // kDelete: how many keys it removed
};

struct TxnResult {
  bool succeeded = false;         // the compares held
  Revision revision = 0;          // the store revision after the transaction
  std::vector<OpResult> results;  // one per op that ran
};

enum class EventType : std::uint8_t { kPut, kDelete };

struct Event {
  EventType type = EventType::kPut;
  // kPut: the key as written. kDelete: key, mod_revision = the deleting revision, rest empty/0.
  KeyValue kv;
};

struct EventBatch {
  std::vector<Event> events;  // revision order (kv.mod_revision), then op order in the txn
  Revision revision = 0;      // the store revision when read: continue from revision + 1
  // (When `limit` cut the batch, `revision` is that of its last event instead, so that
  // "continue from revision + 1" misses nothing.)
};

class KvStore {
 public:
  virtual ~KvStore() = default;

  virtual Result<RangeResult> Range(const RangeRequest& request) = 0;
  virtual Result<TxnResult> Txn(const TxnRequest& request) = 0;

  // Events with revision >= from on `key` (or [key, range_end) as in RangeRequest), at most
  // `limit` (0 = all; a transaction's events are never split). NotFound if from <= the compacted
  // revision (and from > 0). from = 0 means "every event still in the log".
  virtual Result<EventBatch> EventsSince(std::string_view key, std::string_view range_end,
                                         Revision from, std::size_t limit) = 0;

  virtual Revision CurrentRevision() = 0;
  // Blocks until CurrentRevision() > after or the timeout passes; true if it did pass `after`.
  virtual bool WaitForChange(Revision after, std::chrono::milliseconds timeout) = 0;
  // Drops events at revisions <= upto (the keys' current values stay). InvalidArgument if upto
  // is beyond the current revision. Compacting at or below CompactedRevision() is an ok no-op.
  virtual Status Compact(Revision upto) = 0;
  virtual Revision CompactedRevision() = 0;

  // Convenience: one unconditional put / delete; the new revision.
  Result<Revision> Put(std::string key, std::string value);
  Result<Revision> Delete(std::string key, std::string range_end = "");
  // Convenience: the current value of one key; NotFound if absent.
  Result<KeyValue> Get(std::string key);
};

// An in-memory store (tests, the simulator). Nothing survives the object.
std::unique_ptr<KvStore> NewMemoryStore();

// The SQLite store in the file `path` (created if missing, with its parent directory).
// Unavailable if it cannot be opened or is not a gpool store.
Result<std::unique_ptr<KvStore>> OpenSqliteStore(const std::string& path);

}  // namespace gpool::store
