#include "sim/locked_waste_bound.h"

#include <algorithm>
#include <vector>

namespace gpool::sim {

namespace {

bool LargeShare(const core::Workload& w) {
  return w.gpu.count == 1 && !w.gpu.mig && w.gpu.milli_per_gpu > core::kWholeGpuMilli / 2 &&
         w.gpu.milli_per_gpu < core::kWholeGpuMilli;
}

}  // namespace

LockedWaste LockedWasteBound(std::span<const core::Workload> placed_prefix,
                             std::span<const core::Workload> all_arrived,
                             std::int64_t total_gpu_milli) {
  LockedWaste out;
  std::vector<core::Milli> gaps;
  for (const core::Workload& w : placed_prefix) {
    if (LargeShare(w)) gaps.push_back(core::kWholeGpuMilli - w.gpu.milli_per_gpu);
  }
  std::vector<core::Milli> small;
  for (const core::Workload& w : all_arrived) {
    if (w.gpu.count == 1 && !w.gpu.mig && w.gpu.milli_per_gpu > 0 &&
        w.gpu.milli_per_gpu < core::kWholeGpuMilli / 2) {
      small.push_back(w.gpu.milli_per_gpu);
    }
  }
  std::sort(gaps.begin(), gaps.end());
  std::sort(small.begin(), small.end());
  for (core::Milli g : gaps) out.gap_milli += g;
  // Small pods fill gaps at least their size: a nested bipartite flow. For every threshold t,
  // cutting the pods smaller than t at the source and the gaps of size >= t at the sink is a cut,
  // so fill <= (milli of pods < t) + (milli of gaps >= t); take the smallest over all t.
  std::vector<core::Milli> thresholds = gaps;
  thresholds.insert(thresholds.end(), small.begin(), small.end());
  thresholds.push_back(0);
  thresholds.push_back(core::kWholeGpuMilli + 1);
  std::int64_t best = -1;
  for (core::Milli t : thresholds) {
    std::int64_t cut = 0;
    for (core::Milli q : small) {
      if (q >= t) break;
      cut += q;
    }
    for (auto it = std::lower_bound(gaps.begin(), gaps.end(), t); it != gaps.end(); ++it)
      cut += *it;
    if (best < 0 || cut < best) best = cut;
  }
  out.fillable_milli = best;
  const std::int64_t locked = std::max<std::int64_t>(0, out.gap_milli - out.fillable_milli);
  if (total_gpu_milli > 0) {
    out.bound_percent = 100.0 * static_cast<double>(total_gpu_milli - locked) /
                        static_cast<double>(total_gpu_milli);
  }
  return out;
}

}  // namespace gpool::sim
