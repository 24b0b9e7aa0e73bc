// The parts of the KvStore contract shared by every implementation: PrefixEnd, the op builders,
// the convenience calls on top of Txn/Range, and the helpers of kv_store_internal.h.
#include "store/kv_store.h"

#include <utility>

#include "store/kv_store_internal.h"

namespace gpool::store {

std::string PrefixEnd(std::string_view prefix) {
  // As etcd's clientv3.GetPrefixRangeEnd: increment the last byte that is not 0xff and cut
  // everything after it; a prefix of only 0xff bytes (or an empty one) has no upper bound.
  std::string end(prefix);
  while (!end.empty()) {
    const auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

Op PutOp(std::string key, std::string value) {
  Op op;
  op.kind = Op::Kind::kPut;
  op.key = std::move(key);
  op.value = std::move(value);
  return op;
}

Op DeleteOp(std::string key, std::string range_end) {
  Op op;
  op.kind = Op::Kind::kDelete;
  op.key = std::move(key);
  op.range_end = std::move(range_end);
  return op;
}

Op RangeOp(std::string key, std::string range_end) {
  Op op;
  op.kind = Op::Kind::kRange;
  op.key = std::move(key);
  op.range_end = std::move(range_end);
  return op;
}

Compare ModRevisionIs(std::string key, Revision r) {
  Compare c;
  c.key = std::move(key);
  c.target = CompareTarget::kModRevision;
  c.op = CompareOp::kEqual;
  c.number = r;
  return c;
}

Result<Revision> KvStore::Put(std::string key, std::string value) {
  TxnRequest txn;
  txn.success.push_back(PutOp(std::move(key), std::move(value)));
  Result<TxnResult> r = Txn(txn);
  if (!r.ok()) return r.status();
  return r->revision;
}

Result<Revision> KvStore::Delete(std::string key, std::string range_end) {
  TxnRequest txn;
  txn.success.push_back(DeleteOp(std::move(key), std::move(range_end)));
  Result<TxnResult> r = Txn(txn);
  if (!r.ok()) return r.status();
  return r->revision;
}

Result<KeyValue> KvStore::Get(std::string key) {
  RangeRequest request;
  request.key = std::move(key);
  Result<RangeResult> r = Range(request);
  if (!r.ok()) return r.status();
  if (r->kvs.empty()) return Status::NotFound("key \"" + request.key + "\" does not exist");
  return std::move(r->kvs.front());
}

namespace internal {

bool IsUnbounded(std::string_view range_end) { return range_end.size() == 1 && range_end[0] == 0; }

Status ValidateKeyRange(std::string_view what, std::string_view key, std::string_view range_end) {
  if (key.empty()) return Status::InvalidArgument(std::string(what) + ": empty key");
  // std::string_view compares bytes as unsigned char, as SQLite's memcmp on BLOBs does.
  if (!range_end.empty() && !IsUnbounded(range_end) && range_end <= key) {
    return Status::InvalidArgument(std::string(what) + ": range_end \"" + std::string(range_end) +
                                   "\" is not after key \"" + std::string(key) + "\"");
  }
  return Status::Ok();
}

Status ValidateRangeRequest(const RangeRequest& request) {
  if (request.limit < 0) return Status::InvalidArgument("range: negative limit");
  return ValidateKeyRange("range", request.key, request.range_end);
}

namespace {

Status ValidateOps(const std::vector<Op>& ops) {
  for (const Op& op : ops) {
    switch (op.kind) {
      case Op::Kind::kPut:
        if (op.key.empty()) return Status::InvalidArgument("txn put: empty key");
        break;
      case Op::Kind::kDelete:
        if (Status s = ValidateKeyRange("txn delete", op.key, op.range_end); !s.ok()) return s;
        break;
      case Op::Kind::kRange:
        if (op.limit < 0) return Status::InvalidArgument("txn range: negative limit");
        if (Status s = ValidateKeyRange("txn range", op.key, op.range_end); !s.ok()) return s;
        break;
    }
  }
  return Status::Ok();
}

}  // namespace

// Both branches are checked whatever the compares say (as etcd does), so a malformed request
// fails the same way every time and a transaction that passed validation cannot fail halfway.
Status ValidateTxnRequest(const TxnRequest& request) {
  for (const Compare& c : request.compare) {
    if (c.key.empty()) return Status::InvalidArgument("txn compare: empty key");
  }
  if (Status s = ValidateOps(request.success); !s.ok()) return s;
  return ValidateOps(request.failure);
}

bool InRange(std::string_view k, std::string_view key, std::string_view range_end) {
  if (range_end.empty()) return k == key;
  if (IsUnbounded(range_end)) return k >= key;
  return k >= key && k < range_end;
}

bool CompareHolds(const Compare& c, const KeyValue* kv) {
  // A missing key compares as create_revision = mod_revision = version = 0 and value "".
  int order = 0;  // <0, 0, >0: the key's side against the compare's operand
  if (c.target == CompareTarget::kValue) {
    const std::string_view value = kv != nullptr ? std::string_view(kv->value) : "";
    const int cmp = value.compare(c.value);
    order = cmp < 0 ? -1 : (cmp > 0 ? 1 : 0);
  } else {
    std::int64_t number = 0;
    if (kv != nullptr) {
      switch (c.target) {
        case CompareTarget::kCreateRevision:
          number = kv->create_revision;
          break;
        case CompareTarget::kModRevision:
          number = kv->mod_revision;
          break;
        case CompareTarget::kVersion:
          number = kv->version;
          break;
        case CompareTarget::kValue:
          break;
      }
    }
    order = number < c.number ? -1 : (number > c.number ? 1 : 0);
  }
  switch (c.op) {
    case CompareOp::kEqual:
      return order == 0;
    case CompareOp::kNotEqual:
      return order != 0;
    case CompareOp::kLess:
      return order < 0;
    case CompareOp::kGreater:
      return order > 0;
  }
  return false;
}

Status ValidateCompact(Revision upto, Revision current) {
  if (upto < 0) return Status::InvalidArgument("compact: negative revision");
  if (upto > current) {
    return Status::InvalidArgument("compact: revision " + std::to_string(upto) +
                                   " is beyond the current revision " + std::to_string(current));
  }
  return Status();
}

}  // namespace internal

}  // namespace gpool::store
