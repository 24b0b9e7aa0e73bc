// ForwardingStore: a KvStore that passes every call to another one. Tests derive from it and
// override the one call they want to disturb (a failing disk, a write that races the caller).
#pragma once

#include <chrono>
#include <cstddef>
#include <string_view>

#include "store/kv_store.h"

namespace gpool::test {

class ForwardingStore : public store::KvStore {
 public:
  explicit ForwardingStore(store::KvStore& inner) : inner_(inner) {}
  Result<store::RangeResult> Range(const store::RangeRequest& r) override {
    return inner_.Range(r);
  }
  Result<store::TxnResult> Txn(const store::TxnRequest& r) override { return inner_.Txn(r); }
  Result<store::EventBatch> EventsSince(std::string_view key, std::string_view range_end,
                                        store::Revision from, std::size_t limit) override {
    return inner_.EventsSince(key, range_end, from, limit);
  }
  store::Revision CurrentRevision() override { return inner_.CurrentRevision(); }
  bool WaitForChange(store::Revision after, std::chrono::milliseconds timeout) override {
    return inner_.WaitForChange(after, timeout);
  }
  Status Compact(store::Revision upto) override { return inner_.Compact(upto); }
  store::Revision CompactedRevision() override { return inner_.CompactedRevision(); }

 protected:
  store::KvStore& inner() { return inner_; }

 private:
  store::KvStore& inner_;
};

}  // namespace gpool::test
