// Every score plugin in the registry, table-driven, with each expected value derived in a comment
// from the formula it implements (../shared/specs/openb-experiment.md §4.3 for dot-product,
// best-fit, gpu-packing, gpu-clustering; §5 for fgd; score_plugins.h for cpu-balance).
//
// Notation as in the spec: cpuLeft and F (free GPU milli) are the node's before placement, c and T
// the request's CPU and GPU milli, MAXCPU = 128000 and MAXGPU = 8000.
#include "sched/score_plugins.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "sched/fragmentation.h"
#include "sched/registry.h"
#include "test_builders.h"

namespace gpool::sched {
namespace {

using test::MakeNode;
using test::MakeWorkload;
using test::Placed;
using test::ScoreOf;
using test::StateWith;

struct ScoreCase {
  const char* name;
  core::Node node;
  core::NodeState before;
  core::Workload w;
  std::vector<int> devices;  // the candidate
  int mig_start;
  double expected;
};

void RunCases(ScoreFn fn, const std::vector<ScoreCase>& cases) {
  for (const ScoreCase& c : cases) {
    EXPECT_DOUBLE_EQ(ScoreOf(fn, c.node, c.before, c.w, c.devices, c.mig_start), c.expected)
        << c.name;
  }
}

const core::Node kA100x8 = MakeNode("a100").Cpu(64000).Gpus(8, "A100-80GB");
const core::Node kA100x8Big = MakeNode("a100big").Cpu(128000).Gpus(8, "A100-80GB");
const core::Node kT4x4 = MakeNode("t4").Cpu(64000).Gpus(4, "T4");
const core::Node kT4x2 = MakeNode("t4small").Cpu(32000).Gpus(2, "T4");
const core::Node kCpuOnly = MakeNode("cpu").Cpu(64000);

// A workload that only takes GPU (no CPU), for building `before` states.
core::Workload Gpu(core::Milli share) { return MakeWorkload(100).Cpu(0).Share(share); }
core::Workload GpuWhole(int k) { return MakeWorkload(101).Cpu(0).Whole(k); }

TEST(DotProductScore, PublishedFormula) {
  RunCases(&DotProductScore::Score,
           {
               // cpuLeft=64000, c=8000: (64000/128000)*(8000/128000) = 0.5*0.0625 = 0.03125;
               // F=8000, T=500: (8000/8000)*(500/8000) = 0.0625; d = (0.03125+0.0625)/2 = 0.046875;
               // 100*(1-d) = 95.3125 -> 95
               {"share on an idle node",
                kA100x8,
                core::InitialState(kA100x8),
                MakeWorkload().Cpu(8000).Share(500),
                {0},
                -1,
                95},
               // cpuLeft=64000, c=8000: 0.03125; F=4000 (4 busy), T=1000: 0.5*0.125 = 0.0625;
               // d = 0.046875 -> 95.3125 -> 95 (same d: half the GPU left, twice the request)
               {"whole GPU on a half-used node",
                kA100x8,
                StateWith(kA100x8, {{GpuWhole(4), {0, 1, 2, 3}}}),
                MakeWorkload().Cpu(8000).Whole(1),
                {4},
                -1,
                95},
               // cpuLeft=128000, c=32000: 1*0.25 = 0.25; T=0: 0; d = 0.125 -> 87.5 -> 87
               {"CPU-only request",
                kA100x8Big,
                core::InitialState(kA100x8Big),
                MakeWorkload().Cpu(32000),
                {},
                -1,
                87},
               // cpuLeft=64000, c=0: 0; F=8000, T=4000: 1*0.5 = 0.5; d = 0.25 -> 75
               {"four whole GPUs, no CPU",
                kA100x8,
                core::InitialState(kA100x8),
                MakeWorkload().Cpu(0).Whole(4),
                {0, 1, 2, 3},
                -1,
                75},
               // MIG 3g: T = 3*1000/7 = 428 (integer); c=0; F=8000: 428/8000 = 0.0535; d = 0.02675;
               // 100*(1-d) = 97.325 -> 97
               {"one 3g MIG instance",
                kA100x8,
                core::InitialState(kA100x8),
                MakeWorkload().Cpu(0).Mig("3g.40gb"),
                {0},
                0,
                97},
               // cpuLeft=4000 < c=8000: step 1 of the formula scores 0 (the filter prevents it)
               {"cpuLeft < c",
                kA100x8,
                StateWith(kA100x8, {{MakeWorkload(102).Cpu(60000).Share(100), {7}}}),
                MakeWorkload().Cpu(8000).Share(500),
                {0},
                -1,
                0},
           });
}

TEST(BestFitScore, PublishedFormula) {
  RunCases(&BestFitScore::Score,
           {
               // raw = (64000-8000)/128000*0.5 + (8000-500)/8000*0.5 = 0.21875 + 0.46875 = 0.6875;
               // (1-raw)*100 = 31.25 -> 31
               {"share on an idle node",
                kA100x8,
                core::InitialState(kA100x8),
                MakeWorkload().Cpu(8000).Share(500),
                {0},
                -1,
                31},
               // raw = (32000-0)/128000*0.5 + (2000-500)/8000*0.5 = 0.125 + 0.09375 = 0.21875;
               // (1-raw)*100 = 78.125 -> 78
               {"small node, share",
                kT4x2,
                core::InitialState(kT4x2),
                MakeWorkload().Cpu(0).Share(500),
                {0},
                -1,
                78},
               // raw = (128000-128000)/128000*0.5 + (1000-1000)/8000*0.5 = 0 -> 100: a perfect fit
               {"takes everything that is left",
                kA100x8Big,
                StateWith(kA100x8Big, {{GpuWhole(7), {0, 1, 2, 3, 4, 5, 6}}}),
                MakeWorkload().Cpu(128000).Whole(1),
                {7},
                -1,
                100},
               // raw = (64000-1000)/128000*0.5 + (8000-0)/8000*0.5 = 0.24609375 + 0.5
               //     = 0.74609375; (1-raw)*100 = 25.390625 -> 25
               {"CPU-only request",
                kA100x8,
                core::InitialState(kA100x8),
                MakeWorkload().Cpu(1000),
                {},
                -1,
                25},
           });
}

TEST(GpuPackingScore, PublishedFormula) {
  // kT4x4 with device 0 holding 700 (300 free): used below as "partly used".
  const core::NodeState partly = StateWith(kT4x4, {{Gpu(700), {0}}});
  RunCases(
      &GpuPackingScore::Score,
      {
          // CPU-only pod: 0
          {"CPU-only request",
           kT4x4,
           core::InitialState(kT4x4),
           MakeWorkload().Cpu(1000),
           {},
           -1,
           0},
          // f = #idle = 8 = G_n: max(33 - 8, 8) = 25
          {"all 8 idle",
           kA100x8,
           core::InitialState(kA100x8),
           MakeWorkload().Share(200),
           {0},
           -1,
           25},
          // f = 2 = G_n: max(33 - 2, 2) = 31 (fewer GPUs, higher score: small idle nodes first)
          {"all 2 idle", kT4x2, core::InitialState(kT4x2), MakeWorkload().Share(200), {0}, -1, 31},
          // all idle even though CPU is used: f = 4: max(29, 4) = 29
          {"all idle, CPU used",
           kT4x4,
           StateWith(kT4x4, {{MakeWorkload(103).Cpu(30000), {}}}),
           MakeWorkload().Share(200),
           {0},
           -1,
           29},
          // ascending free: dev0 (300), dev1..3 (1000). g=200: dev0 taken, not idle (u=0);
          // R = 300*100/1000 = 30; max(100 - 30/10, 50) = 97
          {"share onto the partly used device",
           kT4x4,
           partly,
           MakeWorkload().Share(200),
           {0},
           -1,
           97},
          // g=500: dev0 (300) skipped, dev1 idle taken: u=1 -> max(50 - 1, 33) = 49
          {"share that needs an idle device",
           kT4x4,
           partly,
           MakeWorkload().Share(500),
           {1},
           -1,
           49},
          // dev0 full (0 free) skipped, dev1 and dev2 idle: u=2 -> max(50 - 2, 33) = 48
          {"two whole GPUs beside a full one",
           kT4x4,
           StateWith(kT4x4, {{GpuWhole(1), {0}}}),
           MakeWorkload().Whole(2),
           {1, 2},
           -1,
           48},
          // dev0 has 470 free: R = 470*100/1000 = 47; R/10 = 4 (integer division): 100 - 4 = 96
          {"R is divided as an integer",
           kT4x4,
           StateWith(kT4x4, {{Gpu(530), {0}}}),
           MakeWorkload().Share(200),
           {0},
           -1,
           96},
          // free: dev0 900, dev1 500, dev2..3 1000; ascending: dev1 (500) first: R = 50 -> 95
          {"the tightest fitting device counts",
           kT4x4,
           StateWith(kT4x4, {{Gpu(100), {0}}, {Gpu(500), {1}}}),
           MakeWorkload().Share(100),
           {1},
           -1,
           95},
          // MIG: g = MigMilli(3g) = 428. dev0 holds a 3g (free 1000-428 = 572), the rest idle:
          // ascending: dev0 (572 >= 428) taken, u=0; R = 572*100/1000 = 57; 100 - 5 = 95
          {"MIG instance beside another",
           kA100x8,
           StateWith(kA100x8, {{MakeWorkload(104).Cpu(0).Mig("3g"), {0}, 0}}),
           MakeWorkload().Mig("3g.40gb"),
           {0},
           4,
           95},
      });
}

TEST(GpuClusteringScore, PublishedFormula) {
  // b = (25*(8000 - F)) / 8000, integer division.
  RunCases(
      &GpuClusteringScore::Score,
      {
          // CPU-only pod: no tag, 0 everywhere
          {"CPU-only request",
           kA100x8,
           core::InitialState(kA100x8),
           MakeWorkload().Cpu(1000),
           {},
           -1,
           0},
          // F=8000: b=0; no GPU pod on the node: b + 25 = 25
          {"empty 8-GPU node",
           kA100x8,
           core::InitialState(kA100x8),
           MakeWorkload().Share(500),
           {0},
           -1,
           25},
          // F=2000: b = 25*6000/8000 = 18 (18.75 truncated); no GPU pod: 18 + 25 = 43
          {"empty 2-GPU node",
           kT4x2,
           core::InitialState(kT4x2),
           MakeWorkload().Share(500),
           {0},
           -1,
           43},
          // one share on the node: F=7500, b = 25*500/8000 = 1 (1.5625); same tag, one distinct
          // tag: 1 + 75 = 76
          {"share beside shares only",
           kA100x8,
           StateWith(kA100x8, {{Gpu(500), {0}}}),
           MakeWorkload().Share(300),
           {0},
           -1,
           76},
          // same node, a 1-GPU request (tag "1-gpu"): not present, node holds GPU pods: 1 + 0 = 1
          {"1-GPU beside shares",
           kA100x8,
           StateWith(kA100x8, {{Gpu(500), {0}}}),
           MakeWorkload().Whole(1),
           {1},
           -1,
           1},
          // share + 1-GPU on the node: F = 8000-500-1000 = 6500, b = 25*1500/8000 = 4 (4.6875);
          // share tag present, two distinct tags: 4 + 50 = 54
          {"share on a mixed node",
           kA100x8,
           StateWith(kA100x8, {{Gpu(500), {0}}, {GpuWhole(1), {1}}}),
           MakeWorkload().Share(300),
           {0},
           -1,
           54},
          // a 2-GPU pod on the node: F=6000, b = 25*2000/8000 = 6; 2-GPU request: 6 + 75 = 81
          {"2-GPU beside 2-GPU",
           kA100x8,
           StateWith(kA100x8, {{GpuWhole(2), {0, 1}}}),
           MakeWorkload().Whole(2),
           {2, 3},
           -1,
           81},
          // same node, a 1-GPU request: different tag: 6 + 0 = 6
          {"1-GPU beside 2-GPU",
           kA100x8,
           StateWith(kA100x8, {{GpuWhole(2), {0, 1}}}),
           MakeWorkload().Whole(1),
           {2},
           -1,
           6},
          // a 3g instance on the node (tag MIG): F = 8000-428 = 7572, b = 25*428/8000 = 1
          // (1.3375); MIG request, one distinct tag: 1 + 75 = 76
          {"MIG beside MIG",
           kA100x8,
           StateWith(kA100x8, {{MakeWorkload(104).Cpu(0).Mig("3g"), {0}, 0}}),
           MakeWorkload().Mig("1g"),
           {0},
           4,
           76},
          // a CPU-only pod on the node has no tag: F=8000, b=0, no GPU pod -> 25
          {"CPU-only pods do not count",
           kA100x8,
           StateWith(kA100x8, {{MakeWorkload(105).Cpu(8000), {}}}),
           MakeWorkload().Share(300),
           {0},
           -1,
           25},
      });
}

TargetType TargetShare(core::Milli cpu, core::Milli milli, double weight) {
  TargetType t;
  t.cpu_milli = cpu;
  t.gpu.count = milli > 0 ? 1 : 0;
  t.gpu.milli_per_gpu = milli;
  t.weight = weight;
  return t;
}

TEST(FgdScore, SigmoidOfTheFragmentationDrop) {
  // trunc(100 * sigmoid((Frag(before) - Frag(after)) / 1000)), sigmoid(x) = 1 / (1 + e^-x).
  // Node: 2 T4s, 32 cores.
  struct FgdCase {
    const char* name;
    std::vector<TargetType> target;
    core::NodeState before;
    core::Workload w;
    std::vector<int> devices;
    double expected;
  };
  const std::vector<FgdCase> cases = {
      // target: a 500 share with 1 core. before: both idle, each can host 500: Frag 0.
      // after: dev0 has 400 free < 500: Frag 400. sigmoid(-0.4) = 0.40131 -> 40
      {"leaves a device too small for the target",
       {TargetShare(1000, 500, 1)},
       core::InitialState(kT4x2),
       MakeWorkload().Share(600),
       {0},
       40},
      // after: dev0 has 500 free, still hosts 500: Frag 0 -> sigmoid(0) = 0.5 -> 50
      {"keeps every device usable",
       {TargetShare(1000, 500, 1)},
       core::InitialState(kT4x2),
       MakeWorkload().Share(500),
       {0},
       50},
      // before: dev0 300 free (< 500): Frag 300; the 300 share fills it: Frag 0;
      // sigmoid(0.3) = 0.57444 -> 57
      {"fills a fragment",
       {TargetShare(1000, 500, 1)},
       StateWith(kT4x2, {{Gpu(700), {0}}}),
       MakeWorkload().Share(300),
       {0},
       57},
      // target needs 4 cores. A CPU-only workload leaves 32000-29000 = 3000 < 4000: the target
      // lacks CPU (Q4) and all 2000 free milli count: sigmoid((0-2000)/1000) = 0.11920 -> 11
      {"starves the GPUs of CPU",
       {TargetShare(4000, 500, 1)},
       core::InitialState(kT4x2),
       MakeWorkload().Cpu(29000),
       {},
       11},
      // before: 3000 cores free (< 4000): Frag 2000 (Q4); taking both GPUs leaves G = 0:
      // Frag 0; sigmoid(2) = 0.88080 -> 88
      {"takes GPUs that lacked CPU",
       {TargetShare(4000, 500, 1)},
       StateWith(kT4x2, {{MakeWorkload(106).Cpu(29000), {}}}),
       MakeWorkload().Cpu(0).Whole(2),
       {0, 1},
       88},
      // empty target: Frag is 0 everywhere: 50
      {"no target", {}, core::InitialState(kT4x2), MakeWorkload().Share(600), {0}, 50},
  };
  for (const FgdCase& c : cases) {
    const FragmentationModel model(c.target);
    double scratch = std::nan("");
    EXPECT_DOUBLE_EQ(
        ScoreOf(&FgdScore::Score, kT4x2, c.before, c.w, c.devices, -1, &model, &scratch),
        c.expected)
        << c.name;
    // The per-node scratch now holds Frag(before), for the node's next candidates.
    EXPECT_DOUBLE_EQ(scratch, model.Fragmentation(kT4x2, c.before)) << c.name;
  }
}

TEST(FgdScore, UsesTheCachedBeforeValue) {
  // The scratch is per node and depends on `before` only: a value already there is used as
  // Frag(before). With 2000 cached and Frag(after) = 0 (empty target): sigmoid(2) -> 88.
  const FragmentationModel model({});
  double scratch = 2000;
  EXPECT_DOUBLE_EQ(ScoreOf(&FgdScore::Score, kT4x2, core::InitialState(kT4x2),
                           MakeWorkload().Share(600), {0}, -1, &model, &scratch),
                   88);
}

TEST(CpuBalanceScore, CpuLeftInProportionToFreeGpu) {
  // min(1, (cpu free after / node cpu) / (GPU free after / node GPU)) * 100; 50 without GPUs or
  // CPU; 100 when no GPU is left.
  RunCases(&CpuBalanceScore::Score,
           {
               // after: CPU 48000/64000 = 0.75, GPU 7500/8000 = 0.9375: 0.75/0.9375 = 0.8 -> 80
               {"proportional headroom",
                kA100x8,
                core::InitialState(kA100x8),
                MakeWorkload().Cpu(16000).Share(500),
                {0},
                -1,
                80},
               // after: CPU 64000/64000 = 1, GPU 7/8: 1.14 clamped to 1 -> 100
               {"more CPU than GPU left",
                kA100x8,
                core::InitialState(kA100x8),
                MakeWorkload().Cpu(0).Whole(1),
                {0},
                -1,
                100},
               // after: CPU 0, GPU 7500/8000 > 0: 0 -> 0
               {"all CPU taken, GPU left stranded",
                kA100x8,
                core::InitialState(kA100x8),
                MakeWorkload().Cpu(64000).Share(500),
                {0},
                -1,
                0},
               // after: CPU 16000/64000 = 0.25, GPU 2000/4000 = 0.5: 0.5 -> 50
               {"half the proportional CPU",
                kT4x4,
                StateWith(kT4x4, {{GpuWhole(1), {0}}}),
                MakeWorkload().Cpu(48000).Whole(1),
                {1},
                -1,
                50},
               // no GPU left after placement -> 100 whatever the CPU
               {"no GPU left",
                kT4x2,
                StateWith(kT4x2, {{GpuWhole(1), {0}}}),
                MakeWorkload().Cpu(32000).Whole(1),
                {1},
                -1,
                100},
               // a node without GPUs -> 50 (neutral)
               {"CPU-only node",
                kCpuOnly,
                core::InitialState(kCpuOnly),
                MakeWorkload().Cpu(1000),
                {},
                -1,
                50},
           });
}

TEST(ScorePluginRegistry, ListsEveryPluginOnceWithItsScoreFunction) {
  // The registry is the one table of plugins: each name once, each pointing at its Score, and
  // only fgd reads the fragmentation model.
  struct Expected {
    std::string_view name;
    ScoreFn fn;
    bool needs_fragmentation;
  };
  const Expected expected[] = {
      {DotProductScore::kName, &DotProductScore::Score, false},
      {BestFitScore::kName, &BestFitScore::Score, false},
      {GpuPackingScore::kName, &GpuPackingScore::Score, false},
      {GpuClusteringScore::kName, &GpuClusteringScore::Score, false},
      {FgdScore::kName, &FgdScore::Score, true},
      {CpuBalanceScore::kName, &CpuBalanceScore::Score, false},
  };
  ASSERT_EQ(ScorePlugins().size(), std::size(expected));
  std::set<std::string_view> names;
  for (const Expected& e : expected) {
    const ScorePluginEntry* entry = FindScorePlugin(e.name);
    ASSERT_NE(entry, nullptr) << e.name;
    EXPECT_EQ(entry->score, e.fn) << e.name;
    EXPECT_EQ(entry->needs_fragmentation, e.needs_fragmentation) << e.name;
    names.insert(entry->name);
  }
  EXPECT_EQ(names.size(), std::size(expected));
  EXPECT_EQ(FindScorePlugin("no-such-plugin"), nullptr);
}

TEST(ScorePluginRegistry, EveryPluginStaysWithinZeroToHundred) {
  // Contract (plugin.h): every score is in [0, 100]. A sweep of shares on partly used nodes.
  const FragmentationModel model({TargetShare(1000, 500, 0.5), TargetShare(2000, 0, 0.5)});
  for (const ScorePluginEntry& e : ScorePlugins()) {
    for (core::Milli used : {0, 300, 700, 1000}) {
      for (core::Milli share : {100, 500, 900}) {
        const core::NodeState before =
            used == 0 ? core::InitialState(kT4x4) : StateWith(kT4x4, {{Gpu(used), {0}}});
        const int device = used + share <= 1000 ? 0 : 1;
        const double s = ScoreOf(e.score, kT4x4, before, MakeWorkload().Cpu(4000).Share(share),
                                 {device}, -1, &model);
        EXPECT_GE(s, 0) << e.name << " used " << used << " share " << share;
        EXPECT_LE(s, 100) << e.name << " used " << used << " share " << share;
      }
    }
  }
}

}  // namespace
}  // namespace gpool::sched
