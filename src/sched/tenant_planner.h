// TenantPlanner: the multi-tenant half of the scheduler. Once per scheduling round it decides,
// on a pool counted in whole GPUs, which pending jobs start, which running jobs are reclaimed
// (preempted) to honour guaranteed quotas, which 1-GPU jobs time-share a GPU, and which
// time-sharing guests move to a GPU of their own. Placement on nodes (decide() in scheduler.h)
// comes after; the simulator's Philly replay and the controller call the same PlanRound().
//
// Rules (issue 3), each in the order PlanRound applies them:
//  1. Accounting. A tenant's usage is the GPUs its running jobs hold, in milli (a shared GPU is
//     charged once, 1000, to the tenant of both jobs: only jobs of one tenant share). Each tenant's
//     slots (a solo job, or a host with its guest) are classified: in (priority, start time, id)
//     order a slot is "guaranteed" if it still fits in the guaranteed quota beside the slots
//     already classified guaranteed, otherwise "borrowed". Opportunistic slots are always
//     borrowed: opportunistic work runs only on idle or borrowed capacity.
//  2. Entitled starts, per tenant, as a static partition of the guaranteed size would start them
//     (EASY backfill within the guarantee). The tenant's jobs are taken in (priority, submit
//     time, id) order; opportunistic jobs are skipped. A job is entitled if the tenant's usage
//     (every slot it holds, borrowed ones included) plus the job stays within its guarantee. The
//     first job that is not gets a tenant reservation: the time the tenant's slots' expected ends
//     bring enough room within the guarantee, and what is left over then; later jobs are entitled
//     only if they also end by that time or fit in the leftover (which they use up). Entitled jobs
//     of all tenants start in queue order (below) on idle GPUs, or else on GPUs reclaimed from
//     borrowed slots. Victims in order: lowest priority first, then the one that loses the least
//     work (GPU-seconds since its last checkpoint plus the restore, or everything run so far for a
//     non-checkpointable job), then the most recently started, until enough is free. A slot is
//     preempted whole (both jobs of a shared GPU; every GPU of a gang). Guaranteed slots are never
//     victims. With guarantees summing to at most the capacity, an entitled job always starts in
//     the round it becomes entitled.
//  3. Borrowing with backfill. Queue order across tenants: priority class, then the tenant's fair
//     share (smaller first), then submit time (preempted jobs keep theirs), then id. Jobs not
//     started yet start on idle GPUs only while the tenant's usage plus the job stays within
//     guarantee + borrow limit; a job that would stay within the guarantee alone was already
//     judged by rule 2 and is skipped when rule 2 made a reservation for its tenant. The reserved
//     job itself may borrow; the tenant's other jobs beyond the guarantee must pass its
//     reservation (end by its time, or fit in its leftover), so a tenant's borrowing never delays
//     its own reserved job (opportunistic jobs are exempt). Once the reserved job has started,
//     the tenant's next waiting job gets its reservation in the next round. The first job that is
//     allowed but does not fit gets the
//     pool's reservation (EASY backfill): the earliest time enough GPUs free up by running jobs'
//     expected ends ("shadow time"), and the GPUs left over then ("extra"). A later job may start
//     ahead of it only if it ends by the shadow time, or fits in the extra GPUs (which it then
//     uses up). Jobs are all-or-nothing: a job of g GPUs starts on g idle GPUs or not at all.
//  4. Time-sharing. A 1-GPU job that cannot start may join a running solo 1-GPU job of its own
//     tenant when both have sharing kinds and the pair's co-located speeds are good: each job
//     keeps more than 0 and at least min_pair_speed of its speed alone, and together they deliver
//     at least min_pair_throughput (in units of one job alone). The best such host is chosen.
//     (A guest slows its host, which may then end after a reservation's time: reservations are
//     estimates and are recomputed every round.)
//  5. Split (migration). Idle GPUs left after the starts, and not held by a reservation, are
//     given to time-sharing guests (the later started job of a pair, larger id on a tie; earliest
//     such first) whose tenant stays within guarantee + borrow limit with one more GPU, and within
//     its tenant's reservation as in rule 3: the guest moves to its own GPU and both run at full
//     speed.
//
// Pure: no clock, no I/O; time comes in RoundInput::now_s. Deterministic for equal inputs.
// Thread-compatible: PlanRound shares no state.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "core/workload.h"

namespace gpool::sched {

using JobId = core::WorkloadId;

struct TenantQuota {
  core::Milli guaranteed_milli = 0;    // whole GPUs * 1000
  core::Milli borrow_limit_milli = 0;  // how far beyond the guarantee it may go on idle GPUs
};

// Normalised co-located speeds of job kinds: own[a * kinds + b] is the fraction of its speed
// alone that a job of kind a keeps while sharing one GPU with a job of kind b (0: cannot share).
struct SharingTable {
  int kinds = 0;
  std::vector<double> own;  // kinds * kinds
  double Own(int a, int b) const { return own[static_cast<size_t>(a * kinds + b)]; }
};

struct PendingJob {
  JobId id = 0;
  int tenant = 0;  // index into RoundInput::tenants
  int gpus = 1;    // >= 1, started all-or-nothing
  core::PriorityClass priority = core::PriorityClass::kStandard;
  double submit_s = 0;    // queue age; a preempted job keeps its original submit time
  double estimate_s = 0;  // expected run time if started now alone (for backfill)
  int share_kind = -1;    // row of SharingTable; -1: never time-shares
};

struct RunningJob {
  JobId id = 0;
  int tenant = 0;
  int gpus = 1;
  core::PriorityClass priority = core::PriorityClass::kStandard;
  double started_s = 0;        // start of its current run (after the last start or preemption)
  bool checkpointable = true;  // saves progress every PlannerConfig::checkpoint_interval_s
  double expected_end_s = 0;   // estimate, for reservations
  int share_kind = -1;
  JobId shares_with = 0;  // the other job on its GPU; 0: runs alone. Symmetric.
};

struct PlannerConfig {
  bool reclaim = true;       // rule 2's preemption of borrowed slots
  bool backfill = true;      // rule 3; false = strict queue order once a job is blocked
  bool time_sharing = true;  // rule 4
  bool split = true;         // rule 5
  double checkpoint_interval_s = 1800;
  double restore_s = 60;  // time to load a checkpoint when a preempted job restarts
  double min_pair_speed = 0.4;
  double min_pair_throughput = 1.5;  // see docs/benchmarks.md §4 for the sweep
};

struct RoundInput {
  double now_s = 0;
  core::Milli capacity_milli = 0;        // whole GPUs * 1000
  std::span<const TenantQuota> tenants;  // index = tenant
  std::span<const double> fair_share;    // per tenant (see queue_order.h); empty = all equal
  std::span<const RunningJob> running;
  // Grouped by tenant (ascending), each group in (priority, submit_s, id) order. Other orders are
  // accepted and sorted first (slower).
  std::span<const PendingJob> pending;
  const SharingTable* sharing = nullptr;  // null: no time-sharing
};

struct Start {
  JobId job = 0;
  JobId host = 0;  // 0: on idle GPUs of its own; else time-shares the GPU of running job `host`
};

struct Reservation {
  JobId job = 0;
  double start_s = std::numeric_limits<double>::infinity();  // shadow time
  core::Milli extra_milli = 0;
};

struct RoundPlan {
  std::vector<JobId> preempt;  // running jobs to stop; they return to the queue
  std::vector<Start> start;    // in the order decided
  std::vector<JobId> split;    // guests that move to an idle GPU of their own
  // For inspection: the pool's reservation (rule 3) first if any, then tenant reservations
  // (rule 2) in tenant order.
  std::vector<Reservation> reservations;
};

// GPU-seconds a running job loses if preempted at now_s: checkpointable jobs lose the time since
// their last checkpoint (every interval from started_s) plus the restore; others lose everything
// since started_s. Multiplied by its GPUs.
double LostWorkGpuSeconds(const RunningJob& job, double now_s, const PlannerConfig& config);

// Does a pair of kinds pass rule 4's thresholds? False for kind -1 or an unknown pairing.
bool GoodPair(const SharingTable& table, int a, int b, const PlannerConfig& config);

// One scheduling round. REQUIRES: tenants referenced by jobs exist; running jobs' shares_with is
// symmetric; every running job fits capacity (sum of slots <= capacity_milli).
RoundPlan PlanRound(const RoundInput& input, const PlannerConfig& config);

}  // namespace gpool::sched
