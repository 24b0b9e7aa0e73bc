// PhillyReplay: replays the Philly job traces (one team per file) on N GPUs of one type, either
// as static per-team partitions or as one shared pool, through sched::PlanRound (the same
// multi-tenant rules the controller uses), and measures what each delivers.
//
// The model, and why:
//  - GPUs are counted, not placed on nodes: the throughput table gives a multi-GPU job's speed on
//    consolidated GPUs, so every job is assumed to get consolidated GPUs (as Gavel's simulator
//    does). Node-level placement is decide()'s job and is measured by the openb experiment.
//  - A job's length at full speed is total steps / its speed alone at its GPU count on the GPU
//    type. The table lists scales 1, 2, 4, 8 only: for other counts (and the scale-1-only job
//    types) the speed of the largest listed scale s below the count is scaled linearly by
//    count / s (optimistic for the job; the same in both modes).
//  - A job wider than what it may ever use (its team's partition in static mode, N in the pool)
//    runs on that many GPUs instead, proportionally slower; `width` records it.
//  - Scheduling rounds run every interval_s, only when something changed (arrival or completion
//    in the interval): a job waits at least until the next round boundary.
//  - static: team t owns a partition of G_t whole GPUs, G_t proportional to its share of the
//    trace's GPU demand (GPU-hours at full speed; largest remainder, at least 1 GPU a team); each
//    partition is planned alone (its own EASY backfill), no borrowing, sharing or preemption.
//  - pool: one pool of N; team t's guaranteed quota is G_t, its borrow limit N (any idle GPU);
//    reclaim, backfill, time-sharing of 1-GPU jobs of one team by the co-located speeds of the
//    table (normalised by their speeds alone), and splits (a guest moves to an idle GPU paying a
//    restore, i.e. a checkpoint migration). Fair share: DRF over GPUs with decaying history.
//  - All Philly jobs are training jobs, checkpointable every checkpoint_interval_s; a preempted
//    job loses the progress since its last checkpoint and pays restore_s when it restarts; it
//    re-enters the queue with its original submit time.
//
// Metrics (ReplayMetrics) cover the measurement window [0, last arrival] for allocation and
// delivered work (afterwards only the backlog drains), and every job for completion and queueing.
//
// Pure apart from reading nothing: RunPhillyReplay takes parsed inputs and is deterministic.
// Thread-compatible.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "sched/tenant_planner.h"
#include "sim/philly_trace.h"

namespace gpool::sim {

enum class ReplayMode { kStatic, kPool };
const char* ReplayModeName(ReplayMode m);

struct ReplayConfig {
  ReplayMode mode = ReplayMode::kPool;
  int gpus = 0;  // N
  std::string gpu_type = "v100";
  double interval_s = 60;        // scheduling round period
  double half_life_s = 86400;    // fair-share history (pool)
  sched::PlannerConfig planner;  // pool rules and checkpoint costs; static mode turns rules off
  double sample_s = 6 * 3600;    // width of the allocation time series' buckets
};

struct ReplayMetrics {
  int jobs = 0;
  double time_avg_allocation = 0;  // % of GPUs allocated, time average over the window
  double delivered_gpu_hours = 0;  // progress at full speed within the window, net of losses
  double mean_jct_s = 0;           // completion - arrival
  double p95_jct_s = 0;
  double mean_queue_s = 0;  // time spent waiting (before the start and after preemptions)
  int preemptions = 0;
  double lost_gpu_hours = 0;  // progress lost to preemptions plus restore time, in GPU-hours
  int migrations = 0;         // time-sharing guests moved to a GPU of their own
  // % of GPUs allocated, averaged over the time some job waited (any time, not only the window):
  // what a queued user sees. For a team: its allocation in % of its quota while it had a job
  // waiting.
  double allocation_while_waiting = 0;
  double waiting_hours = 0;  // how long some job (of the team) waited
  double makespan_s = 0;     // last completion
};

struct TeamReplay {
  std::string name;
  int quota_gpus = 0;           // static partition = guaranteed quota in the pool
  double demand_gpu_hours = 0;  // the trace's, at full speed
  ReplayMetrics metrics;        // time_avg_allocation: % of its quota
};

struct JobOutcome {
  int team = 0;   // index into ReplayResult::teams
  int gpus = 0;   // asked
  int width = 0;  // ran on
  double arrival_s = 0, first_start_s = 0, finish_s = 0, queue_s = 0;
  int preemptions = 0;
  bool shared = false;  // time-shared a GPU at some point
};

struct ReplayResult {
  ReplayMode mode = ReplayMode::kPool;
  int gpus = 0;
  double window_s = 0;
  ReplayMetrics overall;
  std::vector<TeamReplay> teams;
  std::vector<JobOutcome> jobs;  // in trace order
  // (hours from start, % of GPUs allocated) averaged over buckets of sample_s, until makespan.
  std::vector<std::pair<double, double>> allocation_series;
  int rounds = 0;
  // Pool only: rounds after which some team's first waiting job would have fitted in its
  // guaranteed quota beside everything the team held, yet was left waiting (expected 0).
  int guarantee_violations = 0;
};

// Team partitions proportional to demand: floor of N * share, at least 1 each, the rest by
// largest remainder (ties: lower index). InvalidArgument if N < number of teams.
Result<std::vector<int>> PartitionByDemand(const std::vector<double>& demand, int gpus);

// InvalidArgument for a bad config (N < 1, interval <= 0, ...) or NotFound for a GPU type or job
// type missing from the table (message names it).
Result<ReplayResult> RunPhillyReplay(const std::vector<PhillyJob>& jobs,
                                     const ThroughputTable& table, const ReplayConfig& config);

}  // namespace gpool::sim
