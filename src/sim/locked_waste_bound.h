// LockedWasteBound: an upper bound on GPU allocation for schedulers that place every pod that
// arrives before the cluster first turns one away.
//
// Argument. A share pod with per-GPU request g > 500 milli needs a device of its own among such
// pods (two cannot share one GPU), and the 1000 - g it leaves free can only be used by pods
// asking for at most 1000 - g. So if the pods of `placed_prefix` are placed (they arrived
// before the first failure, and a scheduler that accepts what fits has placed them; moves relocate
// pods but never unplace them), at least
//     sum over those pods of (1000 - g)  -  (GPU milli of every arrived share pod small enough to
//                                           fit into the largest such gap)
// milli stays unallocated, whatever the placement and however many moves. The bound is
// 100 % minus that, as a percentage of the cluster's GPU milli. Pure.
#pragma once

#include <cstdint>
#include <span>

#include "core/workload.h"

namespace gpool::sim {

struct LockedWaste {
  std::int64_t gap_milli = 0;       // free milli left beside pods > 500 of the prefix
  std::int64_t fillable_milli = 0;  // most that small pods could put into those gaps
  double bound_percent = 100;       // allocation can be at most this
};

LockedWaste LockedWasteBound(std::span<const core::Workload> placed_prefix,
                             std::span<const core::Workload> all_arrived,
                             std::int64_t total_gpu_milli);

}  // namespace gpool::sim
