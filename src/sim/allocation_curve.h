// AllocationCurve: the published metric of the openb fill experiment.
//
// After every arriving workload the simulator records (arrived GPU milli, allocated GPU milli).
// Discretise() turns a run's records into 131 cells: the allocation ratio in % at 0, 1, ... 130 %
// of arrived workload, exactly as the FGD artifact's merge_alloc_discrete.py does (Python and
// numpy rounding rules included; see ../shared/specs/openb-experiment.md section 6). A column with
// no record is NaN. Pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace gpool::sim {

inline constexpr int kAllocationColumns = 131;

struct AllocationRecord {
  std::int64_t arrived_milli;
  std::int64_t used_milli;
};

std::vector<double> Discretise(std::span<const AllocationRecord> records, std::int64_t total_gpus);

// The fragmentation curve (analysis_frag_discrete.csv): per record the cluster's total FGD
// fragmentation in milli (logged with 2 decimals), per column round(100 * mean / 1000 / GPUs, 2):
// fragmented GPUs as a % of all GPUs. Same columns and fallback as Discretise.
struct FragmentationRecord {
  std::int64_t arrived_milli;
  double fragmentation_milli;
};
std::vector<double> DiscretiseFragmentation(std::span<const FragmentationRecord> records,
                                            std::int64_t total_gpus);

// Python's round(x, 2): correctly rounded decimal, ties to even on the exact binary value.
double PythonRound2(double x);
// numpy's round(x, 2): rint(x * 100) / 100.
double NumpyRound2(double x);
// numpy's pairwise summation (what pandas' mean uses), then divided by n. REQUIRES: !v.empty().
double PairwiseMean(std::span<const double> v);

}  // namespace gpool::sim
