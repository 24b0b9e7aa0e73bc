// Reconciler: one pass of the controller's loop — store snapshot in, scheduler decisions out as
// store transactions.
//
// ReconcileOnce(store, now, config):
//  1. Reads the nodes (/gpool/nodes/<name>, written by agents) and marks `lost` every `ready` node
//     whose last heartbeat is older than config.node_timeout_s (one txn per node, compared on its
//     revision). Workloads bound to a lost node go back to `pending` (their binding dropped, their
//     `attempts` counted), so they run elsewhere; the lost node's agent fences itself when it
//     cannot renew its lease (agent side).
//  2. Builds a core::ClusterState from the ready nodes and the bindings of `assigned` and
//     `running` workloads on them, and the pending workloads from their stored specs, in queue
//     order (priority class, then submit time, then id).
//  3. Calls sched::decide and applies each bind as one transaction that compares the workload's
//     revision (a workload cancelled or changed meanwhile is skipped: the next pass re-decides):
//     state `assigned`, `bindings` (one per gang member: node, slices, cpu_milli, memory_mib),
//     `epoch` (+1 per assignment, what agents fence on).
// Records are the JSON of src/controller/api.h; a node record is
//   {name, cpu_milli, memory_mib, gpus, model, gpu_memory_mib, simulated, state: ready|lost,
//    last_heartbeat (Unix s)}.
// Malformed records are skipped and counted, never fatal. The store is the truth: the pass keeps
// no state between calls, so a controller restarted at any point resumes correctly.
//
// Quotas (sched::PlanRound) are not applied here yet: every tenant may use any free capacity.
#pragma once

#include <string>

#include "core/status.h"
#include "sched/scheduler.h"
#include "store/kv_store.h"

namespace gpool::controller {

struct ReconcileConfig {
  double node_timeout_s = 30;
  std::string policy = "gpool";
};

struct ReconcileReport {
  int nodes_ready = 0;
  int nodes_lost_now = 0;  // marked lost by this pass
  int requeued = 0;        // workloads taken back from lost nodes
  int pending = 0;         // pending workloads seen
  int bound = 0;           // bound by this pass
  int conflicts = 0;       // binds that lost a race (re-decided next pass)
  int malformed = 0;       // records skipped
  store::Revision revision = 0;
};

Result<ReconcileReport> ReconcileOnce(store::KvStore& store, double now_s,
                                      const ReconcileConfig& config);

}  // namespace gpool::controller
