#include "sched/fragmentation.h"

#include <gtest/gtest.h>

namespace gpool::sched {
namespace {

ObservedType Obs(core::Milli cpu, core::Milli milli, int gpus, std::int64_t count,
                 std::string spec = "") {
  ObservedType o;
  o.cpu_milli = cpu;
  o.milli_per_gpu = milli;
  o.gpus = gpus;
  o.count = count;
  o.spec = std::move(spec);
  return o;
}

TEST(BuildTargetWorkload, TakesPopularTypesUntilCoverageAndRenormalises) {
  // Counts 50, 30, 15, 5 of N = 100. Coverage 0.9: 50 (0.5) + 30 (0.8) + 15 (0.95 >= 0.9) -> 3
  // types, C = 95; weights 50/95, 30/95, 15/95.
  const auto t = BuildTargetWorkload(
      {Obs(1000, 500, 1, 15), Obs(2000, 1000, 1, 50), Obs(0, 0, 0, 5), Obs(3000, 250, 1, 30)}, 0.9);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].cpu_milli, 2000);
  EXPECT_EQ(t[1].cpu_milli, 3000);
  EXPECT_EQ(t[2].cpu_milli, 1000);
  EXPECT_DOUBLE_EQ(t[0].weight, (50.0 / 100) / (95.0 / 100));
  EXPECT_DOUBLE_EQ(t[2].weight, (15.0 / 100) / (95.0 / 100));
}

TEST(BuildTargetWorkload, TiesInCountOrderByShapeDescending) {
  // Equal counts: (cpu, milli, gpus, spec) descending -> cpu 3000 first, then 2000 with the larger
  // spec string "b" before "a".
  const auto t = BuildTargetWorkload(
      {Obs(2000, 500, 1, 10, "a"), Obs(3000, 500, 1, 10), Obs(2000, 500, 1, 10, "b")}, 1.0);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].cpu_milli, 3000);
  EXPECT_EQ(t[1].cpu_milli, 2000);
  EXPECT_EQ(t[2].cpu_milli, 2000);
}

core::Node T4(core::Milli cpu, int gpus) {
  core::Node n;
  n.cpu_milli = cpu;
  n.memory_mib = 1 << 20;
  n.gpu_count = gpus;
  n.model = core::FindGpuModel("T4").value();
  return n;
}

TargetType Type(core::Milli cpu, int gpus, core::Milli milli, double weight,
                core::ModelSet models = 0) {
  TargetType t;
  t.cpu_milli = cpu;
  t.gpu.count = gpus;
  t.gpu.milli_per_gpu = milli;
  t.gpu.models = models;
  t.weight = weight;
  return t;
}

TEST(FragmentationModel, TheSixCases) {
  const core::Node node = T4(8000, 2);
  core::NodeState st = core::InitialState(node);
  st.devices[0].free_milli = 300;  // 700 used on device 0
  st.devices[0].shares = 1;
  st.cpu_free = 4000;
  // Free GPU G = 300 + 1000 = 1300.
  const core::ModelSet v100 = core::ModelBit(core::FindGpuModel("V100-32GB").value());
  struct Case {
    const char* name;
    TargetType t;
    double expected;
  };
  const Case cases[] = {
      {"CPU-only type: all free GPU counts", Type(1000, 0, 0, 1), 1300},
      {"CPU-only type lacking CPU: all free GPU counts", Type(9000, 0, 0, 1), 1300},
      {"model not allowed: all free GPU counts", Type(1000, 1, 500, 1, v100), 1300},
      {"fits: only devices that cannot host one unit (device 0, 300 < 500)", Type(1000, 1, 500, 1),
       300},
      {"fits everywhere: nothing fragmented", Type(1000, 1, 200, 1), 0},
      {"GPU fits, CPU lacks: all", Type(5000, 1, 500, 1), 1300},
      {"CPU fits, GPU lacks (2 idle GPUs needed): all", Type(1000, 2, 1000, 1), 1300},
      {"lacks both: all", Type(5000, 2, 1000, 1), 1300},
      {"weight scales", Type(1000, 1, 500, 0.25), 75},
  };
  for (const Case& c : cases) {
    const FragmentationModel model({c.t});
    EXPECT_DOUBLE_EQ(model.Fragmentation(node, st), c.expected) << c.name;
  }
  // A weighted mix adds up: 0.5 * 300 + 0.5 * 1300 = 800; asking twice hits the memo, same answer.
  const FragmentationModel mix({Type(1000, 1, 500, 0.5), Type(1000, 0, 0, 0.5)});
  EXPECT_DOUBLE_EQ(mix.Fragmentation(node, st), 800);
  EXPECT_DOUBLE_EQ(mix.Fragmentation(node, st), 800);
  EXPECT_EQ(mix.memo_size(), 1u);
  // Device order does not matter (the memo key sorts devices): swap the two devices.
  core::NodeState swapped = st;
  std::swap(swapped.devices[0], swapped.devices[1]);
  EXPECT_DOUBLE_EQ(mix.Fragmentation(node, swapped), 800);
  EXPECT_EQ(mix.memo_size(), 1u);
  // A node with no free GPU is not fragmented.
  core::NodeState full = st;
  full.devices[0].free_milli = 0;
  full.devices[1].free_milli = 0;
  EXPECT_DOUBLE_EQ(mix.Fragmentation(node, full), 0);
}

}  // namespace
}  // namespace gpool::sched
