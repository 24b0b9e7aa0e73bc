#include "sched/scheduler.h"

#include <algorithm>
#include <set>
#include <tuple>
#include <cassert>
#include <limits>
#include <unordered_map>

namespace gpool::sched {

using core::Binding;
using core::DeviceState;
using core::Milli;
using core::Node;
using core::NodeState;
using core::NodeSummary;
using core::Slice;
using core::SliceKind;
using core::Workload;

FilterVerdict FitFilter(const Node& node, const NodeState& state, const Workload& w) {
  if (node.cpu_milli < w.cpu_milli || node.memory_mib < w.memory_mib) return FilterVerdict::kNever;
  const core::GpuRequest& g = w.gpu;
  core::MigFamily family = core::MigFamily::kNone;
  if (g.NeedsGpu()) {
    if (node.gpu_count < g.count || !core::ModelAllowed(g.models, node.model))
      return FilterVerdict::kNever;
    family = core::GetGpuModel(node.model).mig;
    if (g.mig && family == core::MigFamily::kNone) return FilterVerdict::kNever;
    // A memory limit needs a device with that much memory; a model whose memory is unknown (0)
    // cannot promise any.
    if (g.memory_per_gpu > 0 && g.memory_per_gpu > node.gpu_memory_mib)
      return FilterVerdict::kNever;
  }
  if (state.cpu_free < w.cpu_milli || state.memory_free < w.memory_mib)
    return FilterVerdict::kNotNow;
  if (!g.NeedsGpu()) return FilterVerdict::kFitsNow;
  int hosts = 0;
  for (int j = 0; j < state.gpu_count && hosts < g.count; ++j) {
    hosts += core::DeviceCanHost(state.devices[static_cast<size_t>(j)], g, family, nullptr) ? 1 : 0;
  }
  return hosts >= g.count ? FilterVerdict::kFitsNow : FilterVerdict::kNotNow;
}

namespace {

constexpr int kMaxCandidates = core::kMaxDevicesPerNode * core::kMigMemorySlices;

struct CandidateList {
  std::array<Candidate, kMaxCandidates> items;
  int size = 0;
  void Add(Candidate c) { items[static_cast<size_t>(size++)] = c; }
};

// Lists candidate placements of w on a node that passed the filter, in a fixed order.
void ListCandidates(const Node& node, const NodeState& st, const Workload& w,
                    SliceSelector selector, core::DeterministicRng& rng, CandidateList& out) {
  out.size = 0;
  const core::GpuRequest& g = w.gpu;
  if (!g.NeedsGpu()) {
    out.Add({});
    return;
  }
  const core::MigFamily family = core::GetGpuModel(node.model).mig;
  const SliceKind kind = g.Kind();
  if (kind == SliceKind::kWhole) {
    Candidate c;
    int taken = 0;
    for (int j = 0; j < st.gpu_count && taken < g.count; ++j) {
      if (st.devices[static_cast<size_t>(j)].Idle()) {
        c.devices = static_cast<std::uint16_t>(c.devices | (1u << j));
        ++taken;
      }
    }
    out.Add(c);
    return;
  }
  // Shares and MIG instances take one device (count == 1).
  std::array<int, core::kMaxDevicesPerNode> fit{};
  std::array<int, core::kMaxDevicesPerNode> start{};
  int nfit = 0;
  for (int j = 0; j < st.gpu_count; ++j) {
    int s = -1;
    if (core::DeviceCanHost(st.devices[static_cast<size_t>(j)], g, family, &s)) {
      fit[static_cast<size_t>(nfit)] = j;
      start[static_cast<size_t>(nfit)] = s;
      ++nfit;
    }
  }
  if (nfit == 0) return;
  auto single = [&](int i) {
    Candidate c;
    c.devices = static_cast<std::uint16_t>(1u << fit[static_cast<size_t>(i)]);
    c.mig_start =
        static_cast<std::int8_t>(kind == SliceKind::kMig ? start[static_cast<size_t>(i)] : -1);
    out.Add(c);
  };
  switch (selector) {
    case SliceSelector::kRandom:
      single(static_cast<int>(rng.Uniform(static_cast<std::uint64_t>(nfit))));
      return;
    case SliceSelector::kBestFit: {
      // Shares: least free compute; MIG: fewest legal placements left (the most used device).
      int best = 0;
      auto tightness = [&](int i) -> int {
        const DeviceState& d = st.devices[static_cast<size_t>(fit[static_cast<size_t>(i)])];
        return kind == SliceKind::kMig ? d.mig.LegalPlacementCount(*g.mig) : d.free_milli;
      };
      int best_tightness = tightness(0);
      for (int i = 1; i < nfit; ++i) {
        const int t = tightness(i);
        if (t < best_tightness) {
          best = i;
          best_tightness = t;
        }
      }
      single(best);
      return;
    }
    case SliceSelector::kEvery:
      for (int i = 0; i < nfit; ++i) {
        const DeviceState& d = st.devices[static_cast<size_t>(fit[static_cast<size_t>(i)])];
        bool seen = false;  // identical devices give identical placements: keep the first
        for (int k = 0; k < i && !seen; ++k) {
          seen = st.devices[static_cast<size_t>(fit[static_cast<size_t>(k)])] == d;
        }
        if (seen) continue;
        if (kind == SliceKind::kShare) {
          single(i);
          continue;
        }
        for (int s = 0; s < core::kMigMemorySlices; ++s) {
          if (!d.mig.CanPlace(*g.mig, s)) continue;
          Candidate c;
          c.devices = static_cast<std::uint16_t>(1u << fit[static_cast<size_t>(i)]);
          c.mig_start = static_cast<std::int8_t>(s);
          out.Add(c);
        }
      }
      return;
  }
}

// The slice that candidate c gives request g on device j of node.
Slice MakeSlice(const Node& node, const core::GpuRequest& g, int j, Candidate c) {
  Slice s;
  s.device = j;
  s.kind = g.Kind();
  switch (s.kind) {
    case SliceKind::kWhole:
      s.milli = core::kWholeGpuMilli;
      break;
    case SliceKind::kShare:
      s.milli = g.milli_per_gpu;
      s.memory_mib = g.memory_per_gpu;
      break;
    case SliceKind::kMig:
      s.mig = {*g.mig, c.mig_start};
      s.milli = core::MigMilli(*g.mig);
      s.memory_mib = core::MigSliceMemory(*g.mig, node.gpu_memory_mib);
      break;
  }
  return s;
}

// The state of a node after placing w on candidate c, without building a Binding (no allocation:
// this runs for every candidate). Same effect as core::ApplyBinding(st, MakeBinding(...)).
void ApplyCandidate(const Node& node, const Workload& w, Candidate c, NodeState& st) {
  st.cpu_free -= w.cpu_milli;
  st.memory_free -= w.memory_mib;
  st.workloads += 1;
  const core::GpuRequest& g = w.gpu;
  if (!g.NeedsGpu()) return;
  int devices = 0;
  for (int j = 0; j < node.gpu_count; ++j) {
    if ((c.devices & (1u << j)) == 0) continue;
    core::TakeSlice(st, MakeSlice(node, g, j, c));
    ++devices;
  }
  int tag = 0;  // as core::WorkloadTag
  if (g.Kind() == SliceKind::kWhole) tag = std::min(devices, 16);
  if (g.Kind() == SliceKind::kMig) tag = 17;
  st.tag_counts[static_cast<size_t>(tag)] += 1;
}

Binding MakeBinding(const Node& node, int node_index, const Workload& w, Candidate c) {
  Binding b;
  b.workload = w.id;
  b.node = node_index;
  b.cpu_milli = w.cpu_milli;
  b.memory_mib = w.memory_mib;
  if (!w.gpu.NeedsGpu()) return b;
  for (int j = 0; j < node.gpu_count; ++j) {
    if ((c.devices & (1u << j)) != 0) b.slices.push_back(MakeSlice(node, w.gpu, j, c));
  }
  return b;
}

}  // namespace

// The node states decide() works on: the snapshot's, with tentative changes laid over them.
class Scheduler::Placement {
 public:
  explicit Placement(const core::ClusterState& cluster) : cluster_(cluster) {}

  NodeSummary Summary(int i) const {
    if (!overlay_.empty()) {
      auto it = overlay_.find(i);
      if (it != overlay_.end()) return core::Summarize(cluster_.node(i), it->second);
    }
    return cluster_.summary(i);
  }
  const NodeState& At(int i) const {
    if (!overlay_.empty()) {
      auto it = overlay_.find(i);
      if (it != overlay_.end()) return it->second;
    }
    return cluster_.state(i);
  }
  void Apply(const Binding& b) {
    NodeState& st = Mutable(b.node);
    core::ApplyBinding(st, b);
  }
  void Unapply(const Binding& b) { core::UnapplyBinding(Mutable(b.node), b); }
  const core::ClusterState& cluster() const { return cluster_; }

 private:
  NodeState& Mutable(int i) {
    auto it = overlay_.find(i);
    if (it == overlay_.end()) it = overlay_.emplace(i, cluster_.state(i)).first;
    return it->second;
  }
  const core::ClusterState& cluster_;
  std::unordered_map<int, NodeState> overlay_;
};

namespace {

struct Choice {
  int node = -1;
  Candidate candidate;
  double score = -std::numeric_limits<double>::infinity();
};

}  // namespace

Scheduler::Scheduler(Config config, const PolicySpec* policy)
    : config_(std::move(config)), policy_(policy) {
  bool needs_frag = false;
  for (const WeightedPlugin& wp : policy_->plugins) {
    if (wp.weight == 0) continue;
    const ScorePluginEntry* e = FindScorePlugin(wp.plugin);
    assert(e != nullptr);  // guaranteed by the registry's static_assert
    scorers_.emplace_back(e->score, wp.weight);
    needs_frag = needs_frag || e->needs_fragmentation;
  }
  if (needs_frag) fragmentation_ = std::make_unique<FragmentationModel>(config_.target);
}

Scheduler::~Scheduler() = default;

Result<Scheduler> Scheduler::Create(Config config) {
  auto policy = FindPolicy(config.policy);
  if (!policy.ok()) return policy.status();
  if (config.max_moves < 0) {
    return Status::InvalidArgument("max_moves must be >= 0, got " +
                                   std::to_string(config.max_moves));
  }
  for (const TargetType& t : config.target) {
    if (t.weight < 0) return Status::InvalidArgument("target workload weights must be >= 0");
  }
  return Scheduler(std::move(config), *policy);
}

namespace {

// Finds the best placement of w given the node states of `at`, skipping node `exclude`.
template <typename Placement>
Choice ChooseNode(const core::ClusterState& cluster, const Placement& placement, const Workload& w,
                  const PolicySpec& policy, const std::vector<std::pair<ScoreFn, double>>& scorers,
                  const FragmentationModel* frag, core::DeterministicRng& rng, int exclude,
                  int max_scored) {
  Choice best;
  CandidateList cands;
  auto at = [&](int i) -> const NodeState& { return placement.At(i); };
  auto feasible = [&](int i) {
    return i != exclude && core::MayFit(placement.Summary(i), w) &&
           FitFilter(cluster.node(i), at(i), w) == FilterVerdict::kFitsNow;
  };
  if (policy.pick == NodePick::kUniform) {
    int seen = 0;
    for (int i = 0; i < cluster.size(); ++i) {
      if (!feasible(i)) continue;
      ++seen;
      if (rng.Uniform(static_cast<std::uint64_t>(seen)) == 0) best.node = i;
    }
    if (best.node < 0) return best;
    ListCandidates(cluster.node(best.node), at(best.node), w, policy.selector, rng, cands);
    best.candidate = cands.items[0];
    best.score = 0;
    return best;
  }
  // Which feasible nodes to score: all of them, or (max_scored > 0) a window of max_scored
  // consecutive feasible nodes starting at a seeded offset, like Kubernetes'
  // percentageOfNodesToScore. The window walks the nodes from a seeded offset, wrapping, until
  // max_scored feasible ones are found; within it snapshot order still breaks ties.
  std::vector<int> window;
  if (max_scored > 0 && cluster.size() > max_scored) {
    const int n = cluster.size();
    const int offset = static_cast<int>(rng.Uniform(static_cast<std::uint64_t>(n)));
    for (int k = 0; k < n && static_cast<int>(window.size()) < max_scored; ++k) {
      const int i = (offset + k) % n;
      if (feasible(i)) window.push_back(i);
    }
    std::sort(window.begin(), window.end());
  } else {
    max_scored = 0;
  }
  const int count = max_scored > 0 ? static_cast<int>(window.size()) : cluster.size();
  for (int k = 0; k < count; ++k) {
    const int i = max_scored > 0 ? window[static_cast<size_t>(k)] : k;
    if (max_scored == 0 && !feasible(i)) continue;
    const Node& node = cluster.node(i);
    const NodeState& st = at(i);
    ListCandidates(node, st, w, policy.selector, rng, cands);
    double before_frag = std::numeric_limits<double>::quiet_NaN();
    for (int c = 0; c < cands.size; ++c) {
      const Candidate cand = cands.items[static_cast<size_t>(c)];
      NodeState after = st;
      ApplyCandidate(node, w, cand, after);
      const ScoreInput in{node, st, after, w, cand, frag, &before_frag};
      double score = 0;
      for (const auto& [fn, weight] : scorers) score += weight * fn(in);
      if (score > best.score) {
        best.score = score;
        best.node = i;
        best.candidate = cand;
      }
    }
  }
  return best;
}

}  // namespace

std::vector<Action> Scheduler::Decide(const Snapshot& snapshot) {
  assert(snapshot.cluster != nullptr);
  const core::ClusterState& cluster = *snapshot.cluster;
  Placement placement(cluster);
  std::vector<Action> actions;
  std::vector<bool> moved;  // entries of snapshot.placed moved by this decision
  // Gang members by gang id, in queue order (built once: O(pending)).
  std::unordered_map<std::uint64_t, std::vector<size_t>> gangs;
  for (size_t p = 0; p < snapshot.pending.size(); ++p) {
    const Workload& w = snapshot.pending[p];
    if (w.gang_size > 1 && w.gang != 0) gangs[w.gang].push_back(p);
  }
  // Request shapes that found no node. Within one decision the pool only fills up (a gang that
  // fails is taken back whole), so a shape that did not fit will not fit later in the queue:
  // with thousands of pending workloads of a few shapes, each later one is skipped at once.
  // (Not with moves: a move plan may free room.)
  using Shape = std::tuple<core::Milli, core::MiB, int, core::Milli, core::MiB, int, core::ModelSet>;
  std::set<Shape> unplaceable;
  for (size_t p = 0; p < snapshot.pending.size(); ++p) {
    const Workload& w = snapshot.pending[p];
    if (w.gang_size > 1 && w.gang != 0) {
      const std::vector<size_t>& members = gangs[w.gang];
      if (members.front() == p && static_cast<int>(members.size()) == w.gang_size) {
        PlaceGang(snapshot, members, placement, actions);
      }
      continue;
    }
    const Shape shape{w.cpu_milli,
                      w.memory_mib,
                      w.gpu.count,
                      w.gpu.milli_per_gpu,
                      w.gpu.memory_per_gpu,
                      w.gpu.mig ? static_cast<int>(*w.gpu.mig) : -1,
                      w.gpu.models};
    if (config_.max_moves == 0 && unplaceable.count(shape) != 0) continue;
    core::DeterministicRng rng(core::MixSeed(snapshot.seed, p));
    Choice choice = ChooseNode(cluster, placement, w, *policy_, scorers_, fragmentation_.get(), rng,
                               -1, config_.max_scored_nodes);
    if (choice.node < 0 && config_.max_moves == 0) unplaceable.insert(shape);
    if (choice.node >= 0) {
      Action a;
      a.kind = ActionKind::kBind;
      a.workload = w.id;
      a.to = MakeBinding(cluster.node(choice.node), choice.node, w, choice.candidate);
      placement.Apply(a.to);
      actions.push_back(std::move(a));
      continue;
    }
    if (config_.max_moves > 0) {
      if (moved.empty()) moved.assign(snapshot.placed.size(), false);
      std::vector<Action> plan = PlanMoves(snapshot, placement, w, rng, moved);
      for (Action& a : plan) actions.push_back(std::move(a));
    }
  }
  return actions;
}

void Scheduler::PlaceGang(const Snapshot& snapshot, const std::vector<size_t>& members,
                          Placement& placement, std::vector<Action>& actions) {
  std::vector<Action> placed;
  for (size_t p : members) {
    const Workload& w = snapshot.pending[p];
    core::DeterministicRng rng(core::MixSeed(snapshot.seed, p));
    Choice choice = ChooseNode(*snapshot.cluster, placement, w, *policy_, scorers_,
                               fragmentation_.get(), rng, -1, config_.max_scored_nodes);
    if (choice.node < 0) {
      for (auto it = placed.rbegin(); it != placed.rend(); ++it) placement.Unapply(it->to);
      return;  // all or nothing
    }
    Action a;
    a.kind = ActionKind::kBind;
    a.workload = w.id;
    a.to = MakeBinding(snapshot.cluster->node(choice.node), choice.node, w, choice.candidate);
    placement.Apply(a.to);
    placed.push_back(std::move(a));
  }
  for (Action& a : placed) actions.push_back(std::move(a));
}

namespace {

struct MovePlan {
  int node = -1;
  std::vector<int> victims;  // indices into Snapshot::placed
  double cost = 0;           // moved GPU milli, plus a little per move
};

// Lists ways to make w fit on `node` by moving at most max_moves of the placed workloads in
// `on_node` elsewhere: for a one-device request, one plan per device that can be cleared enough
// (the cheapest of: smallest workloads first, largest first, or one workload); for k whole GPUs,
// the k cheapest devices to clear. Each plan then adds the workloads that free the most CPU and
// memory (GPU-less ones first) if those are short.
void PlanNode(const Node& node, const NodeState& state, const Workload& w,
              const std::vector<int>& on_node, std::span<const PlacedWorkload> placed,
              int max_moves, int node_index, std::vector<MovePlan>& out) {
  auto uses_device = [&](int v, int j) {
    for (const Slice& s : placed[static_cast<size_t>(v)].binding.slices) {
      if (s.device == j) return true;
    }
    return false;
  };
  // Completes a plan whose GPU victims are chosen: CPU and memory, then checks it.
  auto finish = [&](std::vector<int> victims) {
    MovePlan plan;
    plan.node = node_index;
    NodeState st = state;
    auto take = [&](int v) {
      if (std::find(plan.victims.begin(), plan.victims.end(), v) != plan.victims.end()) return;
      plan.victims.push_back(v);
      core::UnapplyBinding(st, placed[static_cast<size_t>(v)].binding);
      for (const Slice& s : placed[static_cast<size_t>(v)].binding.slices) {
        plan.cost += static_cast<double>(s.milli);
      }
      plan.cost += 1;  // prefer fewer moves at equal GPU cost
    };
    for (int v : victims) take(v);
    if (st.cpu_free < w.cpu_milli || st.memory_free < w.memory_mib) {
      std::vector<int> rest;
      for (int v : on_node) {
        if (std::find(plan.victims.begin(), plan.victims.end(), v) == plan.victims.end()) {
          rest.push_back(v);
        }
      }
      std::sort(rest.begin(), rest.end(), [&](int a, int b) {
        const Workload& wa = *placed[static_cast<size_t>(a)].workload;
        const Workload& wb = *placed[static_cast<size_t>(b)].workload;
        const Milli ga = wa.gpu.TotalMilli(), gb = wb.gpu.TotalMilli();
        if ((ga == 0) != (gb == 0)) return ga == 0;
        return wa.cpu_milli > wb.cpu_milli;
      });
      for (int v : rest) {
        if (st.cpu_free >= w.cpu_milli && st.memory_free >= w.memory_mib) break;
        take(v);
      }
    }
    if (!plan.victims.empty() && static_cast<int>(plan.victims.size()) <= max_moves &&
        FitFilter(node, st, w) == FilterVerdict::kFitsNow) {
      out.push_back(std::move(plan));
    }
  };
  const core::GpuRequest& g = w.gpu;
  if (!g.NeedsGpu()) {
    finish({});
    return;
  }
  // Per device: the cheapest victims that clear it enough for one unit of the request.
  struct DeviceCost {
    double milli;
    std::vector<int> victims;
  };
  std::vector<DeviceCost> costs;
  const core::MigFamily family = core::GetGpuModel(node.model).mig;
  for (int j = 0; j < node.gpu_count; ++j) {
    std::vector<int> here;
    for (int v : on_node) {
      if (uses_device(v, j)) here.push_back(v);
    }
    std::sort(here.begin(), here.end(), [&](int a, int b) {
      return placed[static_cast<size_t>(a)].workload->gpu.TotalMilli() <
             placed[static_cast<size_t>(b)].workload->gpu.TotalMilli();
    });
    // Victims taken in `order` until the device can host one unit; empty if max_moves is not
    // enough.
    auto clear = [&](const std::vector<int>& order, DeviceCost& dc) {
      NodeState trial = state;
      for (int v : order) {
        if (core::DeviceCanHost(trial.devices[static_cast<size_t>(j)], g, family, nullptr)) break;
        if (static_cast<int>(dc.victims.size()) == max_moves) return false;
        core::UnapplyBinding(trial, placed[static_cast<size_t>(v)].binding);
        dc.victims.push_back(v);
        dc.milli +=
            static_cast<double>(placed[static_cast<size_t>(v)].workload->gpu.TotalMilli()) + 1;
      }
      return core::DeviceCanHost(trial.devices[static_cast<size_t>(j)], g, family, nullptr);
    };
    // Three cheap candidates: smallest first, largest first, and the smallest single workload whose
    // move suffices; the cheapest that fits the move limit wins.
    std::vector<std::vector<int>> orders = {here, std::vector<int>(here.rbegin(), here.rend())};
    for (int v : here) orders.push_back({v});
    DeviceCost best{std::numeric_limits<double>::infinity(), {}};
    for (const std::vector<int>& order : orders) {
      DeviceCost dc{0, {}};
      if (clear(order, dc) && dc.milli < best.milli) best = std::move(dc);
      if (order.size() == 1 && best.victims.size() == 1) break;  // singles come smallest first
    }
    if (best.milli < std::numeric_limits<double>::infinity()) costs.push_back(std::move(best));
  }
  if (g.Kind() != SliceKind::kWhole) {
    for (DeviceCost& dc : costs) finish(std::move(dc.victims));
    return;
  }
  std::stable_sort(costs.begin(), costs.end(),
                   [](const DeviceCost& a, const DeviceCost& b) { return a.milli < b.milli; });
  if (static_cast<int>(costs.size()) < g.count) return;
  std::vector<int> victims;
  for (int u = 0; u < g.count; ++u) {
    for (int v : costs[static_cast<size_t>(u)].victims) victims.push_back(v);
  }
  finish(std::move(victims));
}

}  // namespace

std::vector<Action> Scheduler::PlanMoves(const Snapshot& snapshot, Placement& placement,
                                         const Workload& w, core::DeterministicRng& rng,
                                         std::vector<bool>& moved) {
  const core::ClusterState& cluster = placement.cluster();
  std::vector<std::vector<int>> by_node(static_cast<size_t>(cluster.size()));
  for (size_t v = 0; v < snapshot.placed.size(); ++v) {
    const PlacedWorkload& pw = snapshot.placed[v];
    if (pw.workload->movable && !moved[v])
      by_node[static_cast<size_t>(pw.binding.node)].push_back(static_cast<int>(v));
  }
  std::vector<MovePlan> plans;
  for (int i = 0; i < cluster.size(); ++i) {
    if (by_node[static_cast<size_t>(i)].empty()) continue;
    if (FitFilter(cluster.node(i), placement.At(i), w) == FilterVerdict::kNever) continue;
    PlanNode(cluster.node(i), placement.At(i), w, by_node[static_cast<size_t>(i)], snapshot.placed,
             config_.max_moves, i, plans);
  }
  std::stable_sort(plans.begin(), plans.end(),
                   [](const MovePlan& a, const MovePlan& b) { return a.cost < b.cost; });
  constexpr size_t kMaxPlansTried = 8;
  // Before trying a plan for real, check cheaply that each victim fits on some node now;
  // victims of one request shape share the answer.
  struct ShapeAnswer {
    const Workload* shape;
    bool fits;
  };
  std::vector<ShapeAnswer> answers;
  auto same_shape = [](const Workload& a, const Workload& b) {
    return a.cpu_milli == b.cpu_milli && a.memory_mib == b.memory_mib &&
           a.gpu.count == b.gpu.count && a.gpu.milli_per_gpu == b.gpu.milli_per_gpu &&
           a.gpu.memory_per_gpu == b.gpu.memory_per_gpu && a.gpu.mig == b.gpu.mig &&
           a.gpu.models == b.gpu.models;
  };
  auto fits_somewhere = [&](const Workload& v) {
    for (const ShapeAnswer& a : answers) {
      if (same_shape(*a.shape, v)) return a.fits;
    }
    bool fits = false;
    for (int i = 0; i < cluster.size() && !fits; ++i) {
      fits = FitFilter(cluster.node(i), placement.At(i), v) == FilterVerdict::kFitsNow;
    }
    answers.push_back({&v, fits});
    return fits;
  };
  size_t tried = 0;
  for (size_t t = 0; t < plans.size() && tried < kMaxPlansTried; ++t) {
    const MovePlan& mp = plans[t];
    bool plausible = true;
    for (int v : mp.victims)
      plausible = plausible && fits_somewhere(*snapshot.placed[static_cast<size_t>(v)].workload);
    if (!plausible) continue;
    ++tried;
    for (int v : mp.victims) placement.Unapply(snapshot.placed[static_cast<size_t>(v)].binding);
    // The workload itself, on the cleared node only.
    Choice home;
    {
      const Node& node = cluster.node(mp.node);
      CandidateList cands;
      ListCandidates(node, placement.At(mp.node), w, policy_->selector, rng, cands);
      double before_frag = std::numeric_limits<double>::quiet_NaN();
      for (int c = 0; c < cands.size; ++c) {
        const Candidate cand = cands.items[static_cast<size_t>(c)];
        NodeState after = placement.At(mp.node);
        ApplyCandidate(node, w, cand, after);
        const ScoreInput in{node, placement.At(mp.node), after,       w,
                            cand, fragmentation_.get(),  &before_frag};
        double score = 0;
        for (const auto& [fn, weight] : scorers_) score += weight * fn(in);
        if (score > home.score) home = {mp.node, cand, score};
      }
    }
    assert(home.node >= 0);
    Binding wb = MakeBinding(cluster.node(mp.node), mp.node, w, home.candidate);
    placement.Apply(wb);
    std::vector<Action> out;
    bool ok = true;
    for (int v : mp.victims) {
      const PlacedWorkload& pw = snapshot.placed[static_cast<size_t>(v)];
      Choice c = ChooseNode(cluster, placement, *pw.workload, *policy_, scorers_,
                            fragmentation_.get(), rng, /*exclude=*/-1, config_.max_scored_nodes);
      if (c.node < 0) {
        ok = false;
        break;
      }
      Action a;
      a.kind = ActionKind::kMigrate;
      a.workload = pw.workload->id;
      a.from = pw.binding;
      a.to = MakeBinding(cluster.node(c.node), c.node, *pw.workload, c.candidate);
      a.moved_milli = pw.workload->gpu.TotalMilli();
      placement.Apply(a.to);
      out.push_back(std::move(a));
    }
    if (ok) {
      for (int v : mp.victims) moved[static_cast<size_t>(v)] = true;
      Action bind;
      bind.kind = ActionKind::kBind;
      bind.workload = w.id;
      bind.to = std::move(wb);
      out.push_back(std::move(bind));
      return out;
    }
    // Roll back this plan and try the next one.
    for (const Action& a : out) placement.Unapply(a.to);
    placement.Unapply(wb);
    for (int v : mp.victims) placement.Apply(snapshot.placed[static_cast<size_t>(v)].binding);
  }
  return {};
}

std::vector<Action> decide(const Snapshot& snapshot, const Config& config) {
  auto s = Scheduler::Create(config);
  if (!s.ok()) return {};
  return s->Decide(snapshot);
}

}  // namespace gpool::sched
