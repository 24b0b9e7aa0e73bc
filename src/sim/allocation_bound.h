// UpperBoundAllocation: the most GPU any placement could allocate to a set of arrived workloads.
//
// Whatever the scheduler, however many moves it makes and whichever pods it turns away, the
// allocated GPU milli of the pods it holds cannot exceed the optimum of the linear program below;
// the fill experiment compares a policy's final allocation with it.
//
// The program (an LP relaxation of placing pods into nodes, aggregated by type and shape):
//   - pod types t: arrived GPU workloads grouped by (CPU, memory, slice kind, GPU count k,
//     per-GPU milli g, MIG profile, allowed models), with counts n_t. CPU-only workloads are left
//     out: they add nothing to the objective and only take capacity, so an optimum places none.
//   - node shapes s: nodes with GPUs grouped by (model, GPU count G, CPU, memory), counts N_s.
//   - y_{t,s} >= 0: how many pods of type t sit on nodes of shape s; only where one pod of t fits
//     an EMPTY node of s (CPU, memory, model allowed, k <= G for whole GPUs, MIG-capable model
//     and k instances within G GPUs for MIG).
//   - maximise sum y_{t,s} * k_t * g_t subject to, for every type, sum_s y_{t,s} <= n_t, and for
//     every shape the capacity rows (CPU, memory, GPU milli) plus the valid "large item"
//     inequalities derived in allocation_bound.cc.
// The result is floor(LP optimum) computed from a repaired dual solution, so rounding in the
// simplex cannot make it smaller than the true LP optimum.
//
// What the bound ignores (so it stays an upper bound, possibly a loose one): per-GPU memory
// limits of share workloads, MIG placement geometry beyond the per-GPU compute limit, gangs,
// the pods-per-node limit, and the order of arrival.
//
// Pure: no I/O; safe to call from several threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/cluster.h"
#include "core/status.h"
#include "core/workload.h"

namespace gpool::sim {

struct AllocationBound {
  double bound_percent = 100;    // 100 * min(bound_milli, total_milli) / total_milli
  std::int64_t bound_milli = 0;  // floor of the LP optimum: no placement allocates more
  std::int64_t total_milli = 0;  // GPU milli of all nodes
  // The constraint families whose dual prices make up the bound, largest first, with their share
  // of it, e.g. "GPU capacity on G2 nodes 61%, pods that arrived 30%, CPU on T4 nodes 9%".
  // Families: "pods that arrived" (the demand itself), "CPU", "memory", "GPU capacity" (milli
  // and per-GPU large-share rows), "whole GPUs per node" (multi-GPU pods larger than half a
  // node). "no GPU pods" when nothing GPU can be placed.
  std::string binding;
  int pod_types = 0;  // LP size, for reports
  int node_shapes = 0;
  int variables = 0;
  int rows = 0;
};

// nodes: the cluster. arrived: every workload that arrived (placed or not), repeats allowed.
// InvalidArgument when a workload or node carries a negative quantity, a GPU count outside
// [0, kMaxDevicesPerNode] or a model outside the catalog; Internal if the LP solver fails.
Result<AllocationBound> UpperBoundAllocation(const std::vector<core::Node>& nodes,
                                             const std::vector<core::Workload>& arrived);

}  // namespace gpool::sim
