// Test builders for scheduler tests: nodes, workloads, bindings and a small pool that binds
// through core::ClusterState and asks sched::decide() for actions.
//
//   MakeNode("a").Cpu(64000).Gpus(8, "A100-80GB")            -> core::Node
//   MakeWorkload(7).Cpu(8000).Share(500)                     -> core::Workload
//   MakeWorkload(8).Whole(2).Models("V100M16|V100M32")
//   MakeWorkload(9).Mig("3g.40gb")
//
// Defaults (so a test states only what matters to it): a node has 64 cores, 256 GiB and no GPU;
// a workload asks 1 core, 1 GiB and no GPU. Models and MIG profiles are looked up by name and a
// bad name fails the test at once (an assertion in the builder, not a silent default).
// Everything goes through public interfaces: core::ClusterState::Bind, core::ApplyBinding,
// sched::decide. Header only; each helper is inline.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/cluster.h"
#include "core/gpu_model.h"
#include "core/mig_geometry.h"
#include "core/workload.h"
#include "sched/plugin.h"
#include "sched/scheduler.h"

namespace gpool::test {

inline core::GpuModelId ModelId(std::string_view name) {
  auto id = core::FindGpuModel(name);
  EXPECT_TRUE(id.ok()) << "unknown GPU model '" << name << "'";
  return id.ok() ? *id : core::GpuModelId{0};
}

class NodeBuilder {
 public:
  explicit NodeBuilder(std::string name) {
    node_.name = std::move(name);
    node_.cpu_milli = 64000;
    node_.memory_mib = 256 * 1024;
  }
  NodeBuilder& Cpu(core::Milli milli) {
    node_.cpu_milli = milli;
    return *this;
  }
  NodeBuilder& Memory(core::MiB mib) {
    node_.memory_mib = mib;
    return *this;
  }
  // n devices of `model`; the per-device memory is the catalog's (0 for opaque models).
  NodeBuilder& Gpus(int n, std::string_view model) {
    node_.gpu_count = n;
    node_.model = ModelId(model);
    node_.gpu_memory_mib = core::GetGpuModel(node_.model).memory_mib;
    return *this;
  }
  NodeBuilder& GpuMemory(core::MiB mib) {
    node_.gpu_memory_mib = mib;
    return *this;
  }
  core::Node Build() const { return node_; }
  operator core::Node() const { return node_; }  // NOLINT: builders convert implicitly

 private:
  core::Node node_;
};

inline NodeBuilder MakeNode(std::string name = "n") { return NodeBuilder(std::move(name)); }

class WorkloadBuilder {
 public:
  explicit WorkloadBuilder(core::WorkloadId id) {
    w_.id = id;
    w_.name = "w" + std::to_string(id);
    w_.cpu_milli = 1000;
    w_.memory_mib = 1024;
  }
  WorkloadBuilder& Cpu(core::Milli milli) {
    w_.cpu_milli = milli;
    return *this;
  }
  WorkloadBuilder& Memory(core::MiB mib) {
    w_.memory_mib = mib;
    return *this;
  }
  // k whole GPUs.
  WorkloadBuilder& Whole(int k) {
    w_.gpu.count = k;
    w_.gpu.milli_per_gpu = core::kWholeGpuMilli;
    w_.gpu.mig.reset();
    return *this;
  }
  // A share of one GPU: `milli` compute (1..999) and optionally a GPU memory limit.
  WorkloadBuilder& Share(core::Milli milli, core::MiB gpu_memory = 0) {
    w_.gpu.count = 1;
    w_.gpu.milli_per_gpu = milli;
    w_.gpu.memory_per_gpu = gpu_memory;
    w_.gpu.mig.reset();
    return *this;
  }
  // One MIG instance, by any family's name ("3g.40gb") or a generic one ("3g").
  WorkloadBuilder& Mig(std::string_view profile) {
    auto p = core::ParseMigProfileAnyFamily(profile);
    EXPECT_TRUE(p.ok()) << "unknown MIG profile '" << profile << "'";
    w_.gpu.count = 1;
    w_.gpu.milli_per_gpu = 0;
    w_.gpu.mig = p.ok() ? *p : core::MigProfile::k1g;
    return *this;
  }
  // Allowed GPU models, e.g. "V100M16|V100M32".
  WorkloadBuilder& Models(std::string_view spec) {
    auto set = core::ParseModelSet(spec);
    EXPECT_TRUE(set.ok()) << "bad model set '" << spec << "'";
    w_.gpu.models = set.ok() ? *set : 0;
    return *this;
  }
  WorkloadBuilder& Unmovable() {
    w_.movable = false;
    return *this;
  }
  core::Workload Build() const { return w_; }
  operator core::Workload() const { return w_; }  // NOLINT: builders convert implicitly

 private:
  core::Workload w_;
};

inline WorkloadBuilder MakeWorkload(core::WorkloadId id = 1) { return WorkloadBuilder(id); }

// The binding that places w on node `node_index` (node `node`) on `devices`, built the way the
// scheduler builds one: whole = 1000 milli per device; share = its milli and memory limit on the
// first listed device; MIG = one instance at `mig_start` on the first listed device.
inline core::Binding BindingFor(const core::Node& node, int node_index, const core::Workload& w,
                                std::vector<int> devices = {}, int mig_start = -1) {
  core::Binding b;
  b.workload = w.id;
  b.node = node_index;
  b.cpu_milli = w.cpu_milli;
  b.memory_mib = w.memory_mib;
  if (!w.gpu.NeedsGpu()) return b;
  const core::SliceKind kind = w.gpu.Kind();
  // Shares and MIG instances take the first listed device only.
  const std::size_t count =
      kind == core::SliceKind::kWhole ? devices.size() : std::min<std::size_t>(devices.size(), 1);
  for (std::size_t i = 0; i < count; ++i) {
    const int j = devices[i];
    core::Slice s;
    s.kind = kind;
    s.device = j;
    switch (kind) {
      case core::SliceKind::kWhole:
        s.milli = core::kWholeGpuMilli;
        break;
      case core::SliceKind::kShare:
        s.milli = w.gpu.milli_per_gpu;
        s.memory_mib = w.gpu.memory_per_gpu;
        break;
      case core::SliceKind::kMig:
        s.mig = {*w.gpu.mig, mig_start};
        s.milli = core::MigMilli(*w.gpu.mig);
        s.memory_mib = core::MigSliceMemory(*w.gpu.mig, node.gpu_memory_mib);
        break;
    }
    b.slices.push_back(s);
  }
  return b;
}

// A node's state after placing each (workload, devices) in order, through core::CheckBinding and
// core::ApplyBinding (a placement that does not fit fails the test).
struct Placed {
  core::Workload workload;
  std::vector<int> devices;
  int mig_start = -1;
};
inline core::NodeState StateWith(const core::Node& node, std::initializer_list<Placed> placed) {
  core::NodeState st = core::InitialState(node);
  for (const Placed& p : placed) {
    const core::Binding b = BindingFor(node, 0, p.workload, p.devices, p.mig_start);
    const Status s = core::CheckBinding(node, st, b);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (s.ok()) core::ApplyBinding(st, b);
  }
  return st;
}

// Scores one candidate with a score plugin: `after` is `before` with w placed on `devices`.
// `before_fragmentation` is the per-node scratch (NaN = not computed yet); pass one to look at it.
inline double ScoreOf(sched::ScoreFn fn, const core::Node& node, const core::NodeState& before,
                      const core::Workload& w, std::vector<int> devices = {}, int mig_start = -1,
                      const sched::FragmentationModel* fragmentation = nullptr,
                      double* before_fragmentation = nullptr) {
  const core::Binding b = BindingFor(node, 0, w, devices, mig_start);
  core::NodeState after = before;
  core::ApplyBinding(after, b);
  sched::Candidate c;
  for (int j : devices) c.devices = static_cast<std::uint16_t>(c.devices | (1u << j));
  c.mig_start = static_cast<std::int8_t>(mig_start);
  double scratch = std::nan("");
  const sched::ScoreInput in{node,
                             before,
                             after,
                             w,
                             c,
                             fragmentation,
                             before_fragmentation != nullptr ? before_fragmentation : &scratch};
  return fn(in);
}

// A pool: a ClusterState plus the workloads placed on it, for decide() and the migration planner.
class TestPool {
 public:
  explicit TestPool(std::vector<core::Node> nodes) : cluster_(std::move(nodes)) {}

  core::ClusterState& cluster() { return cluster_; }
  std::span<const sched::PlacedWorkload> placed() const { return placed_; }

  // Binds w on node `node` at `devices` (MIG: at mig_start) and records it as running.
  // Returns the binding; a conflict fails the test.
  core::Binding Place(const core::Workload& w, int node, std::vector<int> devices = {},
                      int mig_start = -1) {
    workloads_.push_back(w);
    const core::Binding b =
        BindingFor(cluster_.node(node), node, workloads_.back(), std::move(devices), mig_start);
    const Status s = cluster_.Bind(b);
    EXPECT_TRUE(s.ok()) << s.ToString();
    placed_.push_back({&workloads_.back(), b});
    return b;
  }

  // decide() for the pending workloads, in order, against the current cluster.
  std::vector<sched::Action> Decide(std::vector<core::Workload> pending,
                                    const sched::Config& config, std::uint64_t seed = 0) {
    sched::Snapshot snap;
    snap.cluster = &cluster_;
    snap.pending = pending;
    snap.placed = placed_;
    snap.seed = seed;
    return sched::decide(snap, config);
  }
  std::vector<sched::Action> Decide(const core::Workload& w, const sched::Config& config) {
    return Decide(std::vector<core::Workload>{w}, config);
  }

  // Carries the actions out on the cluster in order (a migrate releases its `from` first).
  // Returns the first failure, or Ok.
  Status Apply(const std::vector<sched::Action>& actions) {
    for (const sched::Action& a : actions) {
      if (a.kind == sched::ActionKind::kMigrate) cluster_.Release(a.from);
      if (Status s = cluster_.Bind(a.to); !s.ok()) return s;
    }
    return Status::Ok();
  }

 private:
  core::ClusterState cluster_;
  std::deque<core::Workload> workloads_;  // stable addresses for PlacedWorkload::workload
  std::vector<sched::PlacedWorkload> placed_;
};

inline sched::Config PolicyConfig(std::string policy, int max_moves = 0) {
  sched::Config c;
  c.policy = std::move(policy);
  c.max_moves = max_moves;
  return c;
}

}  // namespace gpool::test
