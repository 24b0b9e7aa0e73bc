// Scheduler extension points: filter, candidate (slice) selection and score.
//
// One placement of one workload runs, for every node in snapshot order:
//   1. Filter: can the node host the workload now?  The verdict separates
//      kFitsNow, kNotNow (would fit after other work leaves: worth retrying, preemption or
//      migration may help) and kNever (wrong GPU model, too small even when empty: retrying
//      cannot help).
//   2. Candidates: the policy's SliceSelector lists concrete slice choices on the node
//      (which devices, which MIG start), in a fixed order.
//   3. Score: every weighted score plugin rates each candidate from 0 to 100, higher is better.
//      A candidate's score is the weighted sum; a node's score is its best candidate's.
// The workload goes to the first node with the highest score (snapshot order breaks ties, so
// the caller's node order is the tie-break priority), on that node's first best candidate.
//
// Contract for plugins: pure functions of their arguments; no I/O, clock or hidden state
// (memo caches of pure functions are allowed). Units: milli for CPU and GPU, MiB for memory.
#pragma once

#include <concepts>
#include <cstdint>
#include <string_view>

#include "core/cluster.h"
#include "core/workload.h"

namespace gpool::sched {

class FragmentationModel;

enum class FilterVerdict : std::uint8_t { kFitsNow, kNotNow, kNever };

// One concrete way to place a workload on a node.
struct Candidate {
  std::uint16_t devices = 0;   // bitmask of devices used (whole: k bits; share/MIG: one bit)
  std::int8_t mig_start = -1;  // MIG instance start (first memory slice) when a MIG request
};

// Everything a score plugin may look at.
struct ScoreInput {
  const core::Node& node;
  const core::NodeState& before;  // the node now
  const core::NodeState& after;   // the node with the candidate applied
  const core::Workload& workload;
  Candidate candidate;
  const FragmentationModel* fragmentation;  // nullptr when the policy needs none
  // Per-node scratch shared by the candidates of one node: a plugin may cache a value that
  // depends on `before` only (NaN = not computed yet).
  double* before_fragmentation;
};

// A score plugin: a type with a name and a pure Score in [0, 100].
template <typename P>
concept ScorePlugin = requires(const ScoreInput& in) {
  { P::kName } -> std::convertible_to<std::string_view>;
  { P::Score(in) } -> std::same_as<double>;
};

using ScoreFn = double (*)(const ScoreInput&);

// How candidates are listed on a node.
enum class SliceSelector : std::uint8_t {
  kBestFit,  // shares: the device with the least free compute that fits (lowest index on ties)
  kRandom,   // shares: one uniformly drawn device among those that fit
  kEvery,  // shares: every device that fits (one per distinct free amount), MIG: every legal start
};

}  // namespace gpool::sched
