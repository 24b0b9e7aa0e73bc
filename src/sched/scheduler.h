// The scheduler: decide(snapshot, config) -> actions.
//
// A pure function of its inputs: the controller and the simulator both call it, so a number
// measured in simulation is a number of the product. For each pending workload, in the order
// given, it filters the nodes, scores candidate placements with the configured policy (see
// plugin.h for the contracts and registry.h for the policies) and binds the workload to the
// best one. The snapshot's node order is the tie-break priority: earlier nodes win ties.
//
// Gangs (workloads with gang_size > 1 sharing a nonzero gang id) are placed all-or-nothing when
// their first member comes up in the order: every member binds, or none does (the others'
// tentative placements are undone). A gang whose pending members are not exactly gang_size
// waits (the controller admits gangs whole). gang_size > 1 with gang id 0 is not a gang.
//
// When a workload fits nowhere and Config::max_moves > 0, the migration planner looks for at
// most max_moves already placed, movable workloads whose moves to other nodes make room for it;
// the plan is emitted as kMigrate actions followed by the kBind.
//
// A Scheduler object only adds memo caches of pure functions to decide(); it may be reused
// across snapshots. Not thread safe: one Scheduler per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/cluster.h"
#include "core/random.h"
#include "core/status.h"
#include "core/workload.h"
#include "sched/fragmentation.h"
#include "sched/registry.h"

namespace gpool::sched {

struct PlacedWorkload {
  const core::Workload* workload = nullptr;
  core::Binding binding;
};

// A read-only view of the pool; the caller keeps the referenced data alive during decide().
struct Snapshot {
  const core::ClusterState* cluster = nullptr;  // nodes in tie-break priority order
  std::span<const core::Workload> pending;      // in queue order
  std::span<const PlacedWorkload> placed;       // running workloads (candidates for moves)
  std::uint64_t seed = 0;                       // randomness for policies that draw
};

enum class ActionKind : std::uint8_t { kBind, kMigrate };

struct Action {
  ActionKind kind = ActionKind::kBind;
  core::WorkloadId workload = 0;
  core::Binding to;             // where the workload runs after the action
  core::Binding from;           // kMigrate: where it ran before
  core::Milli moved_milli = 0;  // kMigrate: GPU compute that had to move (the move's cost)
};

struct Config {
  std::string policy = "gpool";
  int max_moves = 0;  // 0 disables migration planning
  // Score at most this many feasible nodes per workload (a seeded window of consecutive
  // feasible nodes); 0 scores every feasible node. Large pools trade a little placement quality
  // for speed, as Kubernetes' percentageOfNodesToScore does.
  int max_scored_nodes = 0;
  std::vector<TargetType> target;  // the expected workload, for fragmentation-aware policies
};

class Scheduler {
 public:
  // InvalidArgument / NotFound for an unknown policy or a bad config.
  static Result<Scheduler> Create(Config config);

  std::vector<Action> Decide(const Snapshot& snapshot);

  const Config& config() const { return config_; }
  const PolicySpec& policy() const { return *policy_; }

  Scheduler(Scheduler&&) = default;
  Scheduler& operator=(Scheduler&&) = default;
  ~Scheduler();

 private:
  class Placement;
  Scheduler(Config config, const PolicySpec* policy);
  // Binds every member of a gang (indices into snapshot.pending, in order), or none of them.
  // No moves are planned for gangs.
  void PlaceGang(const Snapshot& snapshot, const std::vector<size_t>& members,
                 Placement& placement, std::vector<Action>& actions);
  // Moves of at most config_.max_moves placed workloads that let w bind; empty if none found.
  // `moved` marks entries of snapshot.placed already moved by this decision (not moved again).
  std::vector<Action> PlanMoves(const Snapshot& snapshot, Placement& placement,
                                const core::Workload& w, core::DeterministicRng& rng,
                                std::vector<bool>& moved);

  Config config_;
  const PolicySpec* policy_;
  std::vector<std::pair<ScoreFn, double>> scorers_;
  std::unique_ptr<FragmentationModel> fragmentation_;
};

// Convenience: Scheduler::Create(config) then Decide(snapshot); an invalid config gives no actions.
std::vector<Action> decide(const Snapshot& snapshot, const Config& config);

// Filter verdict for one node (see plugin.h). Pure.
FilterVerdict FitFilter(const core::Node& node, const core::NodeState& state,
                        const core::Workload& w);

}  // namespace gpool::sched
