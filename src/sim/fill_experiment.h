// The openb "fill" experiment: pods arrive one at a time until 130 % of the cluster's GPU
// capacity has been requested; each gets one scheduling attempt through sched::Scheduler (the
// controller's code) and fails if nothing fits. Nothing ever leaves. Reproduces the procedure of
// ../shared/specs/openb-experiment.md with gpool's own seeded generator instead of Go's math/rand
// (so 10-seed means agree with the published ones, individual seeds do not).
//
// Deterministic: same inputs, same seed, same result, whatever the thread count. The progress
// callback is called from the calling thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/cluster.h"
#include "core/status.h"
#include "sched/fragmentation.h"
#include "sim/allocation_curve.h"
#include "sim/openb_trace.h"

namespace gpool::sim {

struct FillOptions {
  std::string policy = "gpool";
  std::vector<std::uint64_t> seeds = {42};
  double inflate = 1.3;      // arrive until this multiple of the cluster's GPU capacity
  int migrate = 0;           // moves the scheduler may plan per failing pod
  int max_scored_nodes = 0;  // sched::Config::max_scored_nodes (0: score every feasible node)
  int threads = 1;           // seeds run concurrently on this many threads (results do not change)
};

struct FillRun {
  std::uint64_t seed = 0;
  std::vector<double> allocation;     // kAllocationColumns cells, % (NaN where absent)
  std::vector<double> fragmentation;  // same columns: FGD-fragmented GPUs, % of all GPUs
  std::int64_t arrivals = 0;
  std::int64_t failed_pods = 0;
  std::int64_t moves = 0;
  std::int64_t moved_milli = 0;
  std::int64_t final_used_milli = 0;
  std::int64_t arrived_milli = 0;
  std::int64_t first_failure = -1;  // index of the first pod turned away (-1: none)
  double locked_waste_bound = 100;  // see locked_waste_bound.h, prefix = pods before it
  double relaxation_bound = 100;    // LP relaxation over all arrivals (allocation_bound.h)
};

struct FillResult {
  std::string policy;
  std::int64_t total_gpus = 0;
  std::vector<FillRun> runs;               // one per seed, in the order given
  std::vector<double> mean_allocation;     // per column, mean over seeds
  std::vector<double> mean_fragmentation;  // per column, mean over seeds
};

// The pods and nodes of an openb trace turned into the pool's model.
struct OpenbWorkload {
  std::vector<core::Node> nodes;           // in `sn` byte order
  std::vector<core::Workload> pods;        // sorted by name; id = position
  std::vector<sched::ObservedType> types;  // pod types with counts (FGD's typical-pod input)
};
// InvalidArgument naming the pod or node on an unknown GPU model or bad value.
Result<OpenbWorkload> ToPoolModel(const std::vector<OpenbNode>& nodes,
                                  const std::vector<OpenbPod>& pods);

using FillProgress = std::function<void(std::size_t done, std::size_t total)>;

Result<FillResult> RunFill(const OpenbWorkload& trace, const FillOptions& options,
                           const FillProgress& progress = {});

// One seed. Exposed for benchmarks and tests.
Result<FillRun> RunFillSeed(const OpenbWorkload& trace, const FillOptions& options,
                            std::uint64_t seed);

}  // namespace gpool::sim
