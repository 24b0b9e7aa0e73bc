// BuildTargetWorkload (FGD's "typical pods") and FragmentationModel::Fragmentation on small
// nodes, with each expected value derived from ../shared/specs/openb-experiment.md §5.1-5.2.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "core/random.h"
#include "sched/fragmentation.h"
#include "test_builders.h"

namespace gpool::sched {
namespace {

using test::MakeNode;
using test::MakeWorkload;
using test::ModelId;
using test::StateWith;

ObservedType Observed(core::Milli cpu, core::Milli milli, int gpus, std::int64_t count,
                      std::string spec = "", core::ModelSet models = 0) {
  ObservedType o;
  o.cpu_milli = cpu;
  o.milli_per_gpu = milli;
  o.gpus = gpus;
  o.count = count;
  o.spec = std::move(spec);
  o.models = models;
  return o;
}

// The five observed types used below: N = 40 + 30 + 10 + 10 + 10 = 100.
std::vector<ObservedType> FiveTypes() {
  const core::ModelSet v16 = core::ModelBit(ModelId("V100M16"));
  const core::ModelSet v16_32 = v16 | core::ModelBit(ModelId("V100M32"));
  return {
      Observed(1000, 500, 1, 10, ""),
      Observed(2000, 1000, 1, 40),
      Observed(1000, 500, 1, 10, "V100M16|V100M32", v16_32),
      Observed(4000, 0, 0, 30),
      Observed(1000, 500, 1, 10, "V100M16", v16),
  };
}

TEST(TargetWorkload, OrdersByCountThenShapeDescending) {
  // Count descending: 40, 30, then three 10s tied on (cpu, milli, gpus) and ordered by spec
  // descending byte-wise: "V100M16|V100M32" > "V100M16" > "".
  const auto t = BuildTargetWorkload(FiveTypes(), 1.0);
  ASSERT_EQ(t.size(), 5u);
  EXPECT_EQ(t[0].cpu_milli, 2000);
  EXPECT_EQ(t[1].cpu_milli, 4000);
  const core::ModelSet v16 = core::ModelBit(ModelId("V100M16"));
  EXPECT_EQ(t[2].gpu.models, v16 | core::ModelBit(ModelId("V100M32")));
  EXPECT_EQ(t[3].gpu.models, v16);
  EXPECT_EQ(t[4].gpu.models, 0u);
}

TEST(TargetWorkload, ShapeTieBreaksAreDescendingFieldByField) {
  struct Case {
    const char* name;
    ObservedType first, second;  // `first` must come out first, whichever is given first
  };
  const Case cases[] = {
      {"larger cpu first", Observed(3000, 500, 1, 5), Observed(2000, 900, 2, 5)},
      {"same cpu: larger milli first", Observed(2000, 800, 1, 5), Observed(2000, 500, 2, 5)},
      {"same cpu and milli: more gpus first", Observed(2000, 1000, 2, 5),
       Observed(2000, 1000, 1, 5)},
      {"same shape: larger spec first", Observed(2000, 500, 1, 5, "b"),
       Observed(2000, 500, 1, 5, "a")},
      {"count beats shape", Observed(1000, 100, 1, 6), Observed(9000, 900, 1, 5)},
  };
  for (const Case& c : cases) {
    for (bool swap : {false, true}) {
      const auto t = BuildTargetWorkload(
          swap ? std::vector{c.second, c.first} : std::vector{c.first, c.second}, 1.0);
      ASSERT_EQ(t.size(), 2u) << c.name;
      EXPECT_EQ(t[0].cpu_milli, c.first.cpu_milli) << c.name;
      EXPECT_EQ(t[0].gpu.milli_per_gpu, c.first.milli_per_gpu) << c.name;
      EXPECT_EQ(t[0].gpu.count, c.first.gpus) << c.name;
    }
  }
}

TEST(TargetWorkload, CoverageCutAndRenormalisedWeights) {
  // Types are taken while the covered count C < coverage * N (N = 100), so C >= coverage * N.
  struct Case {
    double coverage;
    std::vector<std::int64_t> counts;  // of the types taken, in order
  };
  const Case cases[] = {
      // 0.7 * 100 = 70: 40 (< 70, go on) + 30 = 70 (not < 70, stop): 2 types, C = 70
      {0.7, {40, 30}},
      // 0.71 * 100 = 71: 70 < 71, one more 10: 3 types, C = 80
      {0.71, {40, 30, 10}},
      // 0.3 * 100 = 30: the first type alone (40 >= 30), C = 40
      {0.3, {40}},
      // 1.0: everything, C = 100
      {1.0, {40, 30, 10, 10, 10}},
      // 0: nothing is needed to cover nothing
      {0.0, {}},
  };
  for (const Case& c : cases) {
    const auto t = BuildTargetWorkload(FiveTypes(), c.coverage);
    ASSERT_EQ(t.size(), c.counts.size()) << "coverage " << c.coverage;
    const std::int64_t covered = std::accumulate(c.counts.begin(), c.counts.end(), 0LL);
    double sum = 0;
    for (size_t i = 0; i < t.size(); ++i) {
      // w = (count / N) / (C / N), in that order; e.g. 0.7: 40/100 / (70/100) = 0.5714...
      EXPECT_DOUBLE_EQ(t[i].weight, (static_cast<double>(c.counts[i]) / 100) /
                                        (static_cast<double>(covered) / 100))
          << "coverage " << c.coverage << " type " << i;
      sum += t[i].weight;
    }
    if (!t.empty()) {
      EXPECT_NEAR(sum, 1.0, 1e-12) << "coverage " << c.coverage;
    }
  }
}

TEST(TargetWorkload, ShapesOfTheTypes) {
  const auto t = BuildTargetWorkload(
      {Observed(4000, 0, 0, 3), Observed(3000, 0, 2, 2), Observed(2000, 470, 1, 1)}, 1.0);
  ASSERT_EQ(t.size(), 3u);
  // CPU-only: no GPU request at all.
  EXPECT_FALSE(t[0].gpu.NeedsGpu());
  // milli 0 with a GPU count is still CPU-only (g = 0 means no GPU).
  EXPECT_FALSE(t[1].gpu.NeedsGpu());
  EXPECT_EQ(t[1].gpu.milli_per_gpu, 0);
  // A share: one GPU of 470 milli.
  EXPECT_EQ(t[2].gpu.count, 1);
  EXPECT_EQ(t[2].gpu.milli_per_gpu, 470);
  EXPECT_EQ(t[2].gpu.Kind(), core::SliceKind::kShare);
  // Nothing observed, or only zero counts: no target.
  EXPECT_TRUE(BuildTargetWorkload({}, 0.95).empty());
  EXPECT_TRUE(BuildTargetWorkload({Observed(1000, 500, 1, 0)}, 0.95).empty());
}

TargetType Type(core::Milli cpu, int gpus, core::Milli milli, double weight = 1,
                core::ModelSet models = 0) {
  TargetType t;
  t.cpu_milli = cpu;
  t.gpu.count = gpus;
  t.gpu.milli_per_gpu = milli;
  t.gpu.models = models;
  t.weight = weight;
  return t;
}

TargetType MigType(core::MigProfile p, double weight = 1) {
  TargetType t;
  t.gpu.count = 1;
  t.gpu.mig = p;
  t.weight = weight;
  return t;
}

// 4 T4s, 16 cores. dev0 holds 700 (300 free), dev1 400 (600 free), dev2-3 idle; 6 cores used:
// cpuLeft = 10000, G = 300 + 600 + 1000 + 1000 = 2900.
const core::Node kT4 = MakeNode("t4").Cpu(16000).Gpus(4, "T4");
core::NodeState T4State() {
  return StateWith(
      kT4, {{MakeWorkload(1).Cpu(6000).Share(700), {0}}, {MakeWorkload(2).Cpu(0).Share(400), {1}}});
}

TEST(FragmentationModel, EachCaseOfTheMeasure) {
  const core::ModelSet v100 = core::ModelBit(ModelId("V100-32GB"));
  const core::ModelSet t4_or_v100 = v100 | core::ModelBit(ModelId("T4"));
  TargetType big_memory = Type(1000, 1, 500);
  big_memory.gpu.memory_per_gpu = 100000;  // more than a T4 has
  struct Case {
    const char* name;
    TargetType t;
    double expected;
  };
  const Case cases[] = {
      {"CPU-only type that fits (XL): all of G = 2900", Type(2000, 0, 0), 2900},
      {"CPU-only type lacking CPU (XR): all of G", Type(12000, 0, 0), 2900},
      {"model not allowed (NA): all of G", Type(1000, 1, 500, 1, v100), 2900},
      {"allowed model listed with others: Q-III as below, dev0 300 < 500",  //
       Type(1000, 1, 500, 1, t4_or_v100), 300},
      {"Q-III share 500: only dev0 (300 free) cannot host one unit", Type(1000, 1, 500), 300},
      {"Q-III share 700: dev0 (300) + dev1 (600) = 900", Type(1000, 1, 700), 900},
      {"Q-III share 200: every device hosts one: 0", Type(1000, 1, 200), 0},
      {"Q-III 1 whole GPU: the two partly used devices, 300 + 600", Type(1000, 1, 1000), 900},
      {"Q-III 2 whole GPUs: 2 idle suffice, the same 900", Type(1000, 2, 1000), 900},
      {"Q-II 3 whole GPUs, only 2 idle: lacks GPU, all of G", Type(1000, 3, 1000), 2900},
      {"Q-IV share 500 with 12 cores > 10 free: lacks CPU, all of G", Type(12000, 1, 500), 2900},
      {"Q-I 3 whole GPUs and 12 cores: lacks both, all of G", Type(12000, 3, 1000), 2900},
      {"MIG type on a T4: no device hosts it (Q-II), all of G", MigType(core::MigProfile::k1g),
       2900},
      {"memory is ignored: as the plain share 500", big_memory, 300},
      {"weight 0.25 scales: 0.25 * 300 = 75", Type(1000, 1, 500, 0.25), 75},
  };
  const core::NodeState st = T4State();
  ASSERT_EQ(st.cpu_free, 10000);
  ASSERT_EQ(st.FreeGpuMilli(), 2900);
  for (const Case& c : cases) {
    const FragmentationModel model({c.t});
    EXPECT_DOUBLE_EQ(model.Fragmentation(kT4, st), c.expected) << c.name;
  }
}

TEST(FragmentationModel, WeightedSumOverTypes) {
  // 0.5 * 300 (share 500) + 0.25 * 2900 (CPU-only) + 0.25 * 900 (1 whole GPU)
  //   = 150 + 725 + 225 = 1100
  const FragmentationModel model(
      {Type(1000, 1, 500, 0.5), Type(2000, 0, 0, 0.25), Type(1000, 1, 1000, 0.25)});
  EXPECT_DOUBLE_EQ(model.Fragmentation(kT4, T4State()), 1100);
}

TEST(FragmentationModel, NodesWithoutFreeGpu) {
  const FragmentationModel model({Type(2000, 0, 0), Type(1000, 1, 500)});
  // No GPUs at all: 0 (even though the CPU-only type would count all of G = 0).
  const core::Node cpu_only = MakeNode("cpu").Cpu(16000);
  EXPECT_DOUBLE_EQ(model.Fragmentation(cpu_only, core::InitialState(cpu_only)), 0);
  // Every GPU taken: G = 0, Frag 0.
  const core::NodeState full = StateWith(kT4, {{MakeWorkload(1).Cpu(0).Whole(4), {0, 1, 2, 3}}});
  EXPECT_DOUBLE_EQ(model.Fragmentation(kT4, full), 0);
  // An idle node: the CPU-only type counts all 4000, the share fits everywhere: 4000.
  EXPECT_DOUBLE_EQ(model.Fragmentation(kT4, core::InitialState(kT4)), 4000);
}

TEST(FragmentationModel, MigDevices) {
  // 2 A100-80GB. dev0 holds a 300 share (700 free, cannot enter MIG mode), dev1 idle: G = 1700.
  const core::Node a100 = MakeNode("a100").Cpu(16000).Gpus(2, "A100-80GB");
  const core::NodeState shared = StateWith(a100, {{MakeWorkload(1).Cpu(0).Share(300), {0}}});
  // A 3g type: dev1 hosts it, dev0 (share mode) cannot: Q-III, 700.
  EXPECT_DOUBLE_EQ(FragmentationModel({MigType(core::MigProfile::k3g)}).Fragmentation(a100, shared),
                   700);
  // dev0 in MIG mode with 3g@0 and 3g@4: memory full, free = 1000 - 2*428 = 144; dev1 idle.
  // A 1g type fits dev1 only: Q-III, the 144 on dev0.
  const core::NodeState mig = StateWith(a100, {{MakeWorkload(2).Cpu(0).Mig("3g"), {0}, 0},
                                               {MakeWorkload(3).Cpu(0).Mig("3g"), {0}, 4}});
  ASSERT_EQ(mig.FreeGpuMilli(), 1144);
  EXPECT_DOUBLE_EQ(FragmentationModel({MigType(core::MigProfile::k1g)}).Fragmentation(a100, mig),
                   144);
  // A 300 share type on the same node: dev0 is in MIG mode and takes no share: 144 again.
  EXPECT_DOUBLE_EQ(FragmentationModel({Type(0, 1, 300)}).Fragmentation(a100, mig), 144);
}

TEST(FragmentationModel, MemoAnswersAsAFreshModel) {
  // States drawn with a seeded generator: shares and whole GPUs on a 4-T4 node, CPU in steps.
  // A reused model (memo hits, device orders permuted) must answer as a fresh one each time.
  const std::vector<TargetType> target = {Type(2500, 1, 500, 0.3), Type(5000, 0, 0, 0.2),
                                          Type(7500, 1, 1000, 0.3), Type(1000, 2, 1000, 0.2)};
  FragmentationModel reused(target);
  core::DeterministicRng rng(42);
  std::vector<core::NodeState> states;
  for (int i = 0; i < 100; ++i) {
    core::NodeState st = core::InitialState(kT4);
    for (int j = 0; j < 4; ++j) {
      const auto used = static_cast<core::Milli>(rng.Uniform(5) * 250);  // 0, 250, ... 1000
      if (used == 0) continue;
      const core::Workload w = used == 1000 ? MakeWorkload(1).Cpu(0).Whole(1).Build()
                                            : MakeWorkload(1).Cpu(0).Share(used).Build();
      core::ApplyBinding(st, test::BindingFor(kT4, 0, w, {j}));
    }
    const auto cpu_used = static_cast<core::Milli>(rng.Uniform(17)) * 1000;  // 0 .. 16 cores
    core::ApplyBinding(st, test::BindingFor(kT4, 0, MakeWorkload(2).Cpu(cpu_used)));
    states.push_back(st);
  }
  for (int pass = 0; pass < 2; ++pass) {
    for (const core::NodeState& st : states) {
      const FragmentationModel fresh(target);
      EXPECT_DOUBLE_EQ(reused.Fragmentation(kT4, st), fresh.Fragmentation(kT4, st));
      core::NodeState reversed = st;
      std::reverse(reversed.devices.begin(), reversed.devices.begin() + 4);
      EXPECT_DOUBLE_EQ(reused.Fragmentation(kT4, reversed), fresh.Fragmentation(kT4, st));
    }
  }
  EXPECT_LE(reused.memo_size(), states.size());
}

TEST(FragmentationModel, MemoKeepsAnsweringPastItsFirstTable) {
  // 10000 distinct keys (cpuLeft 0..9999 on one device state) grow the memo past its initial
  // table; a second pass (all hits) and a second model asked in reverse order agree.
  // Target: share 500 with 2500, 5000, 7500 cores: Frag steps at those cpuLeft values.
  const std::vector<TargetType> target = {Type(2500, 1, 500, 0.5), Type(5000, 1, 500, 0.25),
                                          Type(7500, 1, 500, 0.25)};
  FragmentationModel a(target), b(target);
  core::NodeState st = T4State();
  std::vector<double> first(10000), reverse(10000);
  for (int c = 0; c < 10000; ++c) {
    st.cpu_free = c;
    first[static_cast<size_t>(c)] = a.Fragmentation(kT4, st);
  }
  EXPECT_EQ(a.memo_size(), 10000u);
  for (int c = 9999; c >= 0; --c) {
    st.cpu_free = c;
    reverse[static_cast<size_t>(c)] = b.Fragmentation(kT4, st);
    EXPECT_DOUBLE_EQ(a.Fragmentation(kT4, st), first[static_cast<size_t>(c)]) << "cpu " << c;
  }
  EXPECT_EQ(first, reverse);
  // Spot values, G = 2900 and Q-III share 500 = 300:
  //   cpu 1000: every type lacks CPU: 2900;  cpu 2500: 0.5*300 + 0.5*2900 = 1600;
  //   cpu 5000: 0.75*300 + 0.25*2900 = 950; cpu 9999: 300.
  EXPECT_DOUBLE_EQ(first[1000], 2900);
  EXPECT_DOUBLE_EQ(first[2500], 1600);
  EXPECT_DOUBLE_EQ(first[5000], 950);
  EXPECT_DOUBLE_EQ(first[9999], 300);
}

}  // namespace
}  // namespace gpool::sched
