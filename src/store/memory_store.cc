// The in-memory KvStore: a std::map of the live keys and a vector of events, under one mutex.
// Every method locks it; WaitForChange waits on a condition variable signalled by each commit.
#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "store/kv_store.h"
#include "store/kv_store_internal.h"

namespace gpool::store {

// Defined in kv_store.cc: validation and comparison shared by every implementation.
namespace {

class MemoryStore final : public KvStore {
 public:
  Result<RangeResult> Range(const RangeRequest& request) override {
    if (Status s = internal::ValidateRangeRequest(request); !s.ok()) return s;
    std::lock_guard lock(mu_);
    RangeResult result;
    result.revision = revision_;
    const auto [first, last] = Bounds(request.key, request.range_end);
    for (auto it = first; it != last; ++it) {
      ++result.count;
      if (request.count_only) continue;
      if (request.limit > 0 && result.count > request.limit) {
        result.more = true;
        continue;
      }
      result.kvs.push_back(it->second);
      if (request.keys_only) result.kvs.back().value.clear();
    }
    return result;
  }

  Result<TxnResult> Txn(const TxnRequest& request) override {
    // Validation first: past it, no op can fail, so the transaction applies whole or not at all.
    if (Status s = internal::ValidateTxnRequest(request); !s.ok()) return s;
    std::lock_guard lock(mu_);
    TxnResult result;
    result.succeeded =
        std::all_of(request.compare.begin(), request.compare.end(), [this](const Compare& c) {
          auto it = kvs_.find(c.key);
          return internal::CompareHolds(c, it == kvs_.end() ? nullptr : &it->second);
        });
    const Revision next = revision_ + 1;
    bool changed = false;
    // Ops run in order and see the effects of the ones before them (a key put twice gets two
    // versions, both at `next`).
    for (const Op& op : result.succeeded ? request.success : request.failure) {
      OpResult& out = result.results.emplace_back();
      switch (op.kind) {
        case Op::Kind::kPut: {
          auto it = kvs_.find(op.key);
          KeyValue kv;
          if (it != kvs_.end()) {
            out.kvs.push_back(it->second);
            kv = it->second;
            kv.value = op.value;
            kv.mod_revision = next;
            ++kv.version;
          } else {
            kv = KeyValue{op.key, op.value, next, next, 1};
          }
          events_.push_back(Event{EventType::kPut, kv});
          kvs_[op.key] = std::move(kv);
          changed = true;
          break;
        }
        case Op::Kind::kDelete: {
          auto [first, last] = Bounds(op.key, op.range_end);
          for (auto it = first; it != last;) {
            events_.push_back(Event{EventType::kDelete, KeyValue{it->first, "", 0, next, 0}});
            it = kvs_.erase(it);
            ++out.deleted;
            changed = true;
          }
          break;
        }
        case Op::Kind::kRange: {
          const auto [first, last] = Bounds(op.key, op.range_end);
          for (auto it = first; it != last; ++it) {
            if (op.limit > 0 && static_cast<std::int64_t>(out.kvs.size()) >= op.limit) break;
            out.kvs.push_back(it->second);
          }
          break;
        }
      }
    }
    if (changed) {
      revision_ = next;
      changed_.notify_all();
    }
    result.revision = revision_;
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
    auto it = std::lower_bound(events_.begin(), events_.end(), from,
                               [](const Event& e, Revision r) { return e.kv.mod_revision < r; });
    Revision last = 0;
    for (; it != events_.end(); ++it) {
      if (!internal::InRange(it->kv.key, key, range_end)) continue;
      if (limit > 0 && batch.events.size() >= limit && it->kv.mod_revision != last) {
        batch.revision = last;  // cut at a transaction boundary: continue from last + 1
        break;
      }
      batch.events.push_back(*it);
      last = it->kv.mod_revision;
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
    auto end = std::upper_bound(events_.begin(), events_.end(), upto,
                                [](Revision r, const Event& e) { return r < e.kv.mod_revision; });
    events_.erase(events_.begin(), end);
    compacted_ = upto;
    return Status::Ok();
  }

  Revision CompactedRevision() override {
    std::lock_guard lock(mu_);
    return compacted_;
  }

 private:
  using Map = std::map<std::string, KeyValue, std::less<>>;

  // The keys [first, last) selected by key and range_end. REQUIRES: mu_ held, a valid range.
  std::pair<Map::iterator, Map::iterator> Bounds(const std::string& key,
                                                 const std::string& range_end) {
    auto first = kvs_.lower_bound(key);
    if (range_end.empty()) {
      auto last = first;
      if (last != kvs_.end() && last->first == key) ++last;
      return {first, last};
    }
    if (internal::IsUnbounded(range_end)) return {first, kvs_.end()};
    return {first, kvs_.lower_bound(range_end)};
  }

  std::mutex mu_;
  std::condition_variable changed_;
  Map kvs_;
  std::vector<Event> events_;  // ordered by kv.mod_revision, then op order
  Revision revision_ = 0;
  Revision compacted_ = 0;
};

}  // namespace

std::unique_ptr<KvStore> NewMemoryStore() { return std::make_unique<MemoryStore>(); }

}  // namespace gpool::store
