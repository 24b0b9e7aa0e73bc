// Reconciler: one pass of the controller's loop — store snapshot in, scheduler decisions out as
// store transactions.
//
// ReconcileOnce(store, now, config, index, liveness):
//  1. Reads the nodes (/gpool/nodes/<name>, written by the API for agents) and marks `lost` every
//     `ready` node not heard from for config.node_timeout_s: the later of the record's
//     last_heartbeat and the controller's NodeLiveness table (one txn per node, compared on its
//     revision).
//  2. Builds a core::ClusterState from the ready nodes and the bindings of `assigned` and
//     `running` workloads, and of finished workloads still `releasing` their slices (cancelled or
//     timed out, until their agent reports the process stopped: a slice is never handed on while
//     the old process may still hold it). Workloads bound to a node that is not ready go back to
//     `pending` (binding dropped, `attempts` counted) to run elsewhere; their agent fences itself.
//     A `running` workload past its spec's max_runtime becomes `failed` (releasing).
//  3. Takes the pending workloads in queue order (priority class, then submit time, then id) and
//     holds back those whose tenant would go over its cap — guaranteed_gpus + borrow_gpus, in
//     GPUs (milli-GPU for shares and MIG); a tenant with both at 0 has no cap — then calls
//     sched::decide and applies each bind as one transaction that compares the workload's
//     revision (a workload cancelled or changed meanwhile is skipped: the next pass re-decides):
//     state `assigned`, `bindings` (one per gang member: node, slices, cpu_milli, memory_mib),
//     `epoch` (+1 per assignment, what agents fence on).
// Records are the JSON of src/controller/api.h; a node record is
//   {name, cpu_milli, memory_mib, gpus, model, gpu_memory_mib, simulated, state: ready|lost,
//    last_heartbeat (Unix s, at registration and state changes; beats live in NodeLiveness)}.
// Malformed records are skipped and counted, never fatal. The store is the truth: the index and
// the liveness table are caches of it, so a controller restarted at any point resumes correctly.
//
// Not yet: reclaiming borrowed GPUs for a tenant's guarantee (sched::PlanRound's rule 2; the
// simulator applies it), so a cap limits borrowing but a guarantee is not enforced by preemption.
#pragma once

#include <string>
#include <vector>

#include "controller/node_liveness.h"
#include "controller/workload_index.h"
#include "core/status.h"
#include "sched/scheduler.h"
#include "store/kv_store.h"

namespace gpool::controller {

struct ReconcileConfig {
  double node_timeout_s = 30;
  std::string policy = "gpool";
  int max_scored_nodes = 0;  // sched::Config's scoring window; 0 = score every feasible node
};

struct ReconcileReport {
  int nodes_ready = 0;
  int nodes_lost_now = 0;  // marked lost by this pass
  int requeued = 0;        // workloads taken back from lost nodes
  int pending = 0;         // pending workloads seen
  int bound = 0;           // bound by this pass
  int conflicts = 0;       // binds that lost a race (re-decided next pass)
  int malformed = 0;       // records skipped
  int timed_out = 0;       // running workloads failed for exceeding max_runtime
  int held_by_quota = 0;   // pending workloads held back by their tenant's cap
  std::vector<double> queue_wait_s;  // submit-to-assignment time of each workload bound now
  store::Revision revision = 0;
};

// `index` (may be null: a temporary one is loaded) caches the workloads between passes;
// `liveness` (may be null) holds the agents' beats.
Result<ReconcileReport> ReconcileOnce(store::KvStore& store, double now_s,
                                      const ReconcileConfig& config,
                                      WorkloadIndex* index = nullptr,
                                      NodeLiveness* liveness = nullptr);

}  // namespace gpool::controller
