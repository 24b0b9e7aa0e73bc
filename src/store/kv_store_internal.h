// Helpers shared by the KvStore implementations (not part of the public interface): request
// validation, range matching and compare evaluation, with the semantics of kv_store.h.
#pragma once

#include <string_view>

#include "store/kv_store.h"

namespace gpool::store::internal {

// range_end "\0": every key >= key.
bool IsUnbounded(std::string_view range_end);
// InvalidArgument naming `what` for an empty key or a range_end not after key.
Status ValidateKeyRange(std::string_view what, std::string_view key, std::string_view range_end);
Status ValidateRangeRequest(const RangeRequest& request);
Status ValidateTxnRequest(const TxnRequest& request);
// Is k selected by (key, range_end) as in RangeRequest?
bool InRange(std::string_view k, std::string_view key, std::string_view range_end);
// InvalidArgument for a negative revision or one beyond `current`.
Status ValidateCompact(Revision upto, Revision current);
// Does compare c hold for kv (nullptr: the key is missing)?
bool CompareHolds(const Compare& c, const KeyValue* kv);

}  // namespace gpool::store::internal
