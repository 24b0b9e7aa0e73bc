// Each score plugin on small, hand-built nodes, with the expected value derived in a comment
// from the formula (../shared/specs/openb-experiment.md §4.3, §5 for the published ones).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/cluster.h"
#include "sched/fragmentation.h"
#include "sched/registry.h"
#include "sched/score_plugins.h"

namespace gpool::sched {
namespace {

core::Node T4Node(core::Milli cpu, int gpus) {
  core::Node n;
  n.name = "n";
  n.cpu_milli = cpu;
  n.memory_mib = 1 << 20;
  n.gpu_count = gpus;
  n.model = core::FindGpuModel("T4").value();
  return n;
}

core::Workload Share(core::Milli cpu, core::Milli milli) {
  core::Workload w;
  w.cpu_milli = cpu;
  w.gpu.count = 1;
  w.gpu.milli_per_gpu = milli;
  return w;
}

core::Workload Whole(core::Milli cpu, int k) {
  core::Workload w;
  w.cpu_milli = cpu;
  w.gpu.count = k;
  w.gpu.milli_per_gpu = 1000;
  return w;
}

// Puts a share of `milli` on device j of a state (and its CPU).
void Use(core::NodeState& st, int j, core::Milli milli, core::Milli cpu) {
  core::Binding b;
  b.cpu_milli = cpu;
  core::Slice s;
  s.kind = milli == 1000 ? core::SliceKind::kWhole : core::SliceKind::kShare;
  s.device = j;
  s.milli = milli;
  b.slices.push_back(s);
  core::ApplyBinding(st, b);
}

double Score(ScoreFn fn, const core::Node& node, const core::NodeState& before,
             const core::Workload& w, int device, const FragmentationModel* frag = nullptr) {
  core::NodeState after = before;
  if (w.gpu.NeedsGpu()) {
    if (w.gpu.Kind() == core::SliceKind::kWhole) {
      for (int j = device, taken = 0; taken < w.gpu.count; ++j) {
        if (after.devices[static_cast<size_t>(j)].Idle()) {
          Use(after, j, 1000, 0);
          ++taken;
        }
      }
    } else {
      Use(after, device, w.gpu.milli_per_gpu, 0);
    }
  }
  after.cpu_free -= w.cpu_milli;
  double scratch = std::nan("");
  Candidate c;
  c.devices = static_cast<std::uint16_t>(1u << device);
  const ScoreInput in{node, before, after, w, c, frag, &scratch};
  return fn(in);
}

struct Case {
  const char* name;
  ScoreFn fn;
  core::Milli node_cpu;
  std::vector<core::Milli> used;  // per device, milli already taken (4 devices)
  core::Workload w;
  int device;
  double expected;
};

TEST(ScorePlugins, PublishedFormulas) {
  const std::vector<Case> cases = {
      // dot-product: cpuLeft 64000, c 8000, F 4000, T 500:
      // d = ((64000/128000)(8000/128000) + (4000/8000)(500/8000)) / 2 = (0.03125 + 0.03125) / 2
      //   = 0.03125; 100 (1 - d) = 96.875 -> 96
      {"dot-product", &DotProductScore::Score, 64000, {0, 0, 0, 0}, Share(8000, 500), 0, 96},
      // dot-product, a whole GPU on a node with 2000 free: F 2000, T 1000, cpuLeft 32000, c 16000:
      // d = (0.25 * 0.125 + 0.25 * 0.125) / 2 = 0.03125 -> 96
      {"dot-product", &DotProductScore::Score, 32000, {1000, 1000, 0, 0}, Whole(16000, 1), 2, 96},
      // best-fit: raw = (64000-8000)/128000*0.5 + (4000-500)/8000*0.5 = 0.21875 + 0.21875 = 0.4375;
      // (1 - 0.4375) * 100 = 56.25 -> 56
      {"best-fit", &BestFitScore::Score, 64000, {0, 0, 0, 0}, Share(8000, 500), 0, 56},
      // best-fit, fuller node: F 1000 -> raw = 56000/128000*0.5 + 500/8000*0.5 = 0.21875 + 0.03125
      // = 0.25 -> 75
      {"best-fit", &BestFitScore::Score, 64000, {1000, 1000, 1000, 0}, Share(8000, 500), 3, 75},
      // gpu-packing, all four GPUs idle: f = 4 = G -> max(33 - 4, 4) = 29
      {"gpu-packing", &GpuPackingScore::Score, 64000, {0, 0, 0, 0}, Share(1000, 200), 0, 29},
      // gpu-packing, device 0 has 300 free, a 200 share: the tightest fitting device has 300 free,
      // none of the taken ones is idle: R = 300*100/1000 = 30 -> max(100 - 30/10, 50) = 97
      {"gpu-packing", &GpuPackingScore::Score, 64000, {700, 0, 0, 0}, Share(1000, 200), 0, 97},
      // gpu-packing, a whole GPU on a partly used node: takes one idle device, u = 1 -> max(50-1,
      // 33) = 49
      {"gpu-packing", &GpuPackingScore::Score, 64000, {700, 0, 0, 0}, Whole(1000, 1), 1, 49},
      // gpu-packing, CPU-only request -> 0
      {"gpu-packing", &GpuPackingScore::Score, 64000, {0, 0, 0, 0}, Share(1000, 0), 0, 0},
      // gpu-clustering, empty node: F 4000, b = 25 (8000-4000) / 8000 = 12 (integer); no GPU pod ->
      // b + 25 = 37
      {"gpu-clustering", &GpuClusteringScore::Score, 64000, {0, 0, 0, 0}, Share(1000, 200), 0, 37},
      // cpu-balance: node 64000 milli, after: cpu 64000-48000 = 16000 (25 %), GPU 2000/4000 free
      // (50 %):
      // min(1, 0.25 / 0.5) * 100 = 50
      {"cpu-balance", &CpuBalanceScore::Score, 64000, {1000, 0, 0, 0}, Whole(48000, 1), 1, 50},
      // cpu-balance: no GPU left after placement -> 100
      {"cpu-balance",
       &CpuBalanceScore::Score,
       64000,
       {1000, 1000, 1000, 0},
       Whole(60000, 1),
       3,
       100},
  };
  for (const Case& c : cases) {
    const core::Node node = T4Node(c.node_cpu, 4);
    core::NodeState st = core::InitialState(node);
    for (int j = 0; j < 4; ++j) {
      if (c.used[static_cast<size_t>(j)] > 0) Use(st, j, c.used[static_cast<size_t>(j)], 0);
    }
    core::Workload w = c.w;
    if (w.gpu.milli_per_gpu == 0) w.gpu.count = 0;  // the CPU-only row
    EXPECT_EQ(Score(c.fn, node, st, w, c.device), c.expected)
        << c.name << " expected " << c.expected;
  }
}

TEST(ScorePlugins, GpuClusteringKeepsKindsTogether) {
  const core::Node node = T4Node(64000, 4);
  core::NodeState st = core::InitialState(node);
  core::Binding share;
  share.slices.push_back({core::SliceKind::kShare, 0, 500, 0, {}});
  core::ApplyBinding(st, share);
  // F = 3500: b = 25 * 4500 / 8000 = 14 (integer division of 112500 / 8000 = 14.06).
  // A share request finds its own kind and the node holds one kind only: 14 + 75 = 89.
  EXPECT_EQ(Score(&GpuClusteringScore::Score, node, st, Share(1000, 200), 1), 89);
  // A 1-GPU request: its kind is absent and the node holds GPU pods: 14 + 0 = 14.
  EXPECT_EQ(Score(&GpuClusteringScore::Score, node, st, Whole(1000, 1), 1), 14);
}

TEST(ScorePlugins, FgdScoresTheFragmentationChange) {
  // Target: one type, a 500-milli share with 1000 milli CPU (weight 1). Node: 2 idle T4s.
  TargetType t;
  t.cpu_milli = 1000;
  t.gpu.count = 1;
  t.gpu.milli_per_gpu = 500;
  t.weight = 1;
  const FragmentationModel frag({t});
  const core::Node node = T4Node(16000, 2);
  const core::NodeState st = core::InitialState(node);
  // Before: both devices host a unit: Frag = 0.
  // 600 on device 0 leaves 400 that cannot host 500: Frag after = 400.
  // trunc(100 * sigmoid((0 - 400) / 1000)) = trunc(100 / (1 + e^0.4)) = trunc(40.13) = 40
  EXPECT_EQ(Score(&FgdScore::Score, node, st, Share(1000, 600), 0, &frag), 40);
  // 500 leaves 500, which still hosts a unit: no change: trunc(100 * sigmoid(0)) = 50
  EXPECT_EQ(Score(&FgdScore::Score, node, st, Share(1000, 500), 0, &frag), 50);
  // 500 next to a 600 (device 0 has 400 free, unusable before): Frag 400 -> 400: 50.
  core::NodeState used = st;
  Use(used, 0, 600, 0);
  EXPECT_EQ(Score(&FgdScore::Score, node, used, Share(1000, 500), 1, &frag), 50);
  // 400 onto that device fills the fragment: Frag 400 -> 0: trunc(100 sigmoid(0.4)) = trunc(59.87)
  // = 59
  EXPECT_EQ(Score(&FgdScore::Score, node, used, Share(1000, 400), 0, &frag), 59);
}

TEST(Registry, PoliciesNameRegisteredPluginsAndUnknownNamesFail) {
  for (const PolicySpec& p : Policies()) {
    for (const WeightedPlugin& w : p.plugins) {
      if (w.weight != 0) {
        EXPECT_NE(FindScorePlugin(w.plugin), nullptr) << p.name << " uses " << w.plugin;
      }
    }
  }
  EXPECT_TRUE(FindPolicy("gpool").ok());
  auto bad = FindPolicy("tetris");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("best-fit"), std::string::npos)
      << "lists the known policies";
}

}  // namespace
}  // namespace gpool::sched
