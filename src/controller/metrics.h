// Controller metrics: the counters and histograms the reconcile loop records, and RenderMetrics,
// which turns them plus the workload and node records of the store into the body of GET /metrics
// in the Prometheus text exposition format 0.0.4
// (Content-Type: text/plain; version=0.0.4; charset=utf-8, see kMetricsContentType).
//
// Split: ControllerMetrics holds only what cannot be read back from the store (events: passes,
// binds, conflicts, durations). Everything that is state (workloads by state, GPUs allocated) is
// derived at render time from the records the caller reads from the store, so a restarted
// controller reports the right gauges at once and no second copy of the state can drift.
//
// Families rendered, in this order (every family gets its `# HELP` and `# TYPE` lines, even with
// no samples):
//   gpool_workloads{state,tenant}              gauge  workloads per state and tenant. For every
//                                                     tenant named by a valid workload record, all
//                                                     six states (pending, assigned, running,
//                                                     succeeded, failed, cancelled) are emitted,
//                                                     zeros included, so a series does not vanish
//                                                     when its last workload changes state.
//   gpool_workload_gpus{state,tenant}          gauge  GPUs held (sum of slice milli / 1000 over
//                                                     all bindings) by `assigned` and `running`
//                                                     workloads (not releasing ones: what the
//                                                     quota counts); both states for every
//                                                     tenant.
//   gpool_node_up{model,node,state}            gauge  1 when the node is ready, 0 otherwise
//                                                     (lost); `state` is the record's state.
//   gpool_node_gpus{model,node}                gauge  GPUs on the node (record field `gpus`).
//   gpool_node_gpus_allocated{model,node}      gauge  sum of slice milli / 1000 of the bindings
//                                                     on the node of assigned and running
//                                                     workloads and of finished ones still
//                                                     `releasing: true` (their slices stay booked
//                                                     until the agent stopped them: what the
//                                                     scheduler sees as taken); also for a lost
//                                                     node, until the reconciler moves its
//                                                     workloads.
//   gpool_node_simulated{node}                 gauge  1 when the record has `simulated: true`,
//                                                     else 0.
//   gpool_gpus{model}                          gauge  GPUs on ready nodes, per model.
//   gpool_gpus_allocated{model}                gauge  allocated GPUs on ready nodes, per model.
//                                                     Both pool totals are emitted for every model
//                                                     of any valid node (0 when none is ready).
//   gpool_malformed_records{kind}              gauge  records skipped by this render, kind
//                                                     "workload" or "node" (always both).
//   gpool_scheduling_pass_seconds              histogram  duration of a reconcile pass.
//   gpool_queue_wait_seconds                   histogram  submit to assignment, per assignment.
//   gpool_reconcile_passes_total               counter
//   gpool_reconcile_errors_total               counter  passes that returned an error.
//   gpool_binds_total                          counter  workloads bound.
//   gpool_bind_conflicts_total                 counter  binds that lost a race.
//   gpool_nodes_lost_total                     counter  nodes marked lost.
//   gpool_requeued_total                       counter  workloads taken back from lost nodes.
//   gpool_timed_out_total                      counter  running workloads failed for exceeding
//                                                       their max_runtime.
//   gpool_preempted_total                      counter  workloads preempted.
//
// Label values and the model names: `model` is the canonical name from core/gpu_model.h when the
// record's `model` names a known model (any alias, any case), the record's string as written
// when it does not, and "none" when the record has no model (a node without GPUs).
//
// Determinism: labels within a series are sorted by name; the series of a family are sorted by
// their rendered label text (byte order); the same inputs give the same bytes. Label values are
// escaped per the format (`\` -> `\\`, `"` -> `\"`, newline -> `\n`).
//
// Numbers: quantities in GPUs are summed exactly in milli-GPUs and printed as a decimal with the
// trailing zeros of the three fraction digits trimmed ("2.5", "2", "0.125", never "2.0").
// Counters and bucket counts are unsigned integers. Other doubles (histogram bounds and sums):
// an integral value below 1e15 in magnitude prints as an integer ("1", "86400"); anything else
// as the shortest text that parses back to the same double (std::to_chars: "0.005", "1e+20");
// NaN and infinities as "NaN", "+Inf", "-Inf".
//
// Malformed records are skipped whole — they count nowhere but in gpool_malformed_records — and
// are never fatal: a value that is not an object; a workload without a non-empty string `tenant`
// or without one of the six states as `state`; an assigned/running workload, or a finished one
// with `releasing: true`, whose `bindings` is not an array of {node: string, slices: [{milli:
// integer in [0, 1e9]}]}; a node without a non-empty string `name`, with `gpus` present but not an
// integer in [0, 1e6], with a non-string `model` or `state`; a node record whose name an earlier
// record in `nodes` already had (the first wins). Absent node fields default as the reconciler
// does: gpus 0, state "ready", simulated false. Bindings may name nodes that have no record: they
// count for the tenant only.
//
// Thread safety: Histogram and ControllerMetrics may be written from one thread (the reconcile
// loop) and read or rendered from any number of others concurrently. RenderMetrics is pure: it
// reads its arguments only (and `m` through its thread-safe accessors).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gpool::controller {

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// What a Histogram held at one instant, consistent (taken under its lock).
struct HistogramSnapshot {
  std::vector<double> upper_bounds;       // seconds, strictly increasing, without +Inf
  std::vector<std::uint64_t> cumulative;  // size upper_bounds.size() + 1: observations <= bound
                                          // i; the last entry is the +Inf bucket (== count)
  double sum = 0;
  std::uint64_t count = 0;
};

// A Prometheus histogram with fixed bucket upper bounds (inclusive: an observation equal to a
// bound lands in that bucket, as `le` means).
class Histogram {
 public:
  // REQUIRES: upper_bounds non-empty, finite and strictly increasing (+Inf is implicit).
  explicit Histogram(std::vector<double> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Records one value in seconds. NaN is ignored; a negative value (a clock that stepped back)
  // is recorded as 0.
  void Observe(double seconds);

  HistogramSnapshot Snapshot() const;

 private:
  const std::vector<double> upper_bounds_;
  mutable std::mutex mu_;
  std::vector<std::uint64_t> buckets_;  // per bucket, not cumulative; last one is +Inf
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

// The histogram as one exposition family: HELP, TYPE, name_bucket{le=...} cumulative (ending with
// le="+Inf"), name_sum, name_count. Each line ends with '\n'.
// REQUIRES: name is a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*).
std::string RenderHistogram(std::string_view name, std::string_view help,
                            const HistogramSnapshot& snapshot);

// Default bucket bounds, seconds.
std::vector<double> DefaultSchedulingPassBuckets();  // 0.001 .. 5
std::vector<double> DefaultQueueWaitBuckets();       // 0.01 .. 86400 (one day)

// The event metrics of one controller process. The caller owns one instance for the life of the
// process (it is neither copyable nor movable) and hands it by reference to the reconcile loop
// (writer) and the HTTP handler (reader). Counters are public so rare events can be counted
// directly (`metrics.preempted += n`); they only ever increase.
struct ControllerMetrics {
  ControllerMetrics();

  Histogram scheduling_pass_seconds;
  Histogram queue_wait_seconds;

  std::atomic<std::uint64_t> reconcile_passes{0};
  std::atomic<std::uint64_t> reconcile_errors{0};
  std::atomic<std::uint64_t> binds{0};
  std::atomic<std::uint64_t> conflicts{0};
  std::atomic<std::uint64_t> nodes_lost{0};
  std::atomic<std::uint64_t> requeued{0};
  std::atomic<std::uint64_t> timed_out{0};
  std::atomic<std::uint64_t> preempted{0};

  // One successful reconcile pass: counts it, observes its duration, adds the report's numbers
  // and observes each queue wait (one per workload bound by the pass: assigned_at -
  // submitted_at). Negative counts are treated as 0. With a ReconcileReport r:
  //   RecordPass(seconds, r.bound, r.conflicts, r.nodes_lost_now, r.requeued, r.timed_out,
  //              r.queue_wait_s);
  void RecordPass(double duration_s, int binds_now, int conflicts_now, int nodes_lost_now,
                  int requeued_now, int timed_out_now = 0,
                  std::span<const double> queue_waits_s = {});

  // A pass that returned an error: counts it as a pass and an error, observes its duration.
  void RecordFailedPass(double duration_s);
};

// The whole /metrics body (see the top of this file). `workloads` and `nodes` are the parsed JSON
// values under /gpool/workloads/ and /gpool/nodes/ (api.h, reconciler.h), in any order.
// Never throws on malformed records.
std::string RenderMetrics(std::span<const nlohmann::json> workloads,
                          std::span<const nlohmann::json> nodes, const ControllerMetrics& m);

}  // namespace gpool::controller
