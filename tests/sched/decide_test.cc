// decide(): the filter's verdicts, tie-breaking by snapshot order, slice selection, MIG binding,
// the gpool policy's CPU headroom, and the migration planner.
#include <gtest/gtest.h>

#include <vector>

#include "core/cluster.h"
#include "sched/scheduler.h"

namespace gpool::sched {
namespace {

core::Node MakeNode(const std::string& name, const char* model, int gpus, core::Milli cpu = 64000) {
  core::Node n;
  n.name = name;
  n.cpu_milli = cpu;
  n.memory_mib = 256 * 1024;
  n.gpu_count = gpus;
  n.model = core::FindGpuModel(model).value();
  n.gpu_memory_mib = core::GetGpuModel(n.model).memory_mib;
  return n;
}

core::Workload Share(core::WorkloadId id, core::Milli milli, core::Milli cpu = 1000) {
  core::Workload w;
  w.id = id;
  w.name = "w" + std::to_string(id);
  w.cpu_milli = cpu;
  w.memory_mib = 1024;
  w.gpu.count = 1;
  w.gpu.milli_per_gpu = milli;
  return w;
}

core::Workload Whole(core::WorkloadId id, int k, core::Milli cpu = 1000) {
  core::Workload w = Share(id, 1000, cpu);
  w.gpu.count = k;
  return w;
}

// Binds through decide() and the cluster, recording what is placed.
struct Pool {
  core::ClusterState cluster;
  std::vector<core::Workload> workloads;  // stable storage (reserved)
  std::vector<PlacedWorkload> placed;

  explicit Pool(std::vector<core::Node> nodes) : cluster(std::move(nodes)) {
    workloads.reserve(64);
  }

  // Places w directly at (node, device) as a share or whole slice.
  void Put(core::Workload w, int node, int device) {
    workloads.push_back(std::move(w));
    const core::Workload& ref = workloads.back();
    core::Binding b;
    b.workload = ref.id;
    b.node = node;
    b.cpu_milli = ref.cpu_milli;
    b.memory_mib = ref.memory_mib;
    core::Slice s;
    s.kind = ref.gpu.Kind();
    s.device = device;
    s.milli = ref.gpu.milli_per_gpu;
    b.slices.push_back(s);
    ASSERT_TRUE(cluster.Bind(b).ok());
    placed.push_back({&ref, b});
  }

  std::vector<Action> Decide(const core::Workload& w, const Config& config) {
    Snapshot snap;
    snap.cluster = &cluster;
    snap.pending = std::span<const core::Workload>(&w, 1);
    snap.placed = placed;
    return decide(snap, config);
  }
};

Config Policy(const char* name, int moves = 0) {
  Config c;
  c.policy = name;
  c.max_moves = moves;
  return c;
}

TEST(FitFilter, Verdicts) {
  const core::Node t4 = MakeNode("t4", "T4", 2, 8000);
  const core::Node a100 = MakeNode("a100", "A100-80GB", 8);
  core::NodeState st = core::InitialState(t4);
  core::Workload mig = Share(1, 0);
  mig.gpu.milli_per_gpu = 0;
  mig.gpu.mig = core::MigProfile::k3g;
  core::Workload pinned = Share(2, 500);
  pinned.gpu.models = core::ModelBit(core::FindGpuModel("V100-32GB").value());
  EXPECT_EQ(FitFilter(t4, st, Share(3, 500)), FilterVerdict::kFitsNow);
  EXPECT_EQ(FitFilter(t4, st, Whole(4, 4)), FilterVerdict::kNever) << "4 GPUs on a 2-GPU node";
  EXPECT_EQ(FitFilter(t4, st, Share(5, 500, 9000)), FilterVerdict::kNever)
      << "more CPU than the node has";
  EXPECT_EQ(FitFilter(t4, st, pinned), FilterVerdict::kNever) << "wrong model";
  EXPECT_EQ(FitFilter(t4, st, mig), FilterVerdict::kNever) << "MIG on a T4";
  EXPECT_EQ(FitFilter(a100, core::InitialState(a100), mig), FilterVerdict::kFitsNow);
  st.cpu_free = 500;
  EXPECT_EQ(FitFilter(t4, st, Share(6, 500)), FilterVerdict::kNotNow) << "CPU in use, frees later";
}

TEST(Decide, TiesGoToTheFirstNodeInSnapshotOrder) {
  // Two identical empty nodes: every published policy scores them alike; node 0 wins.
  for (const char* policy :
       {"dot-product", "best-fit", "gpu-packing", "gpu-clustering", "fgd", "gpool"}) {
    Pool pool({MakeNode("a", "T4", 4), MakeNode("b", "T4", 4)});
    const auto actions = pool.Decide(Share(1, 500), Policy(policy));
    ASSERT_EQ(actions.size(), 1u) << policy;
    EXPECT_EQ(actions[0].to.node, 0) << policy;
  }
}

TEST(Decide, BestFitSelectorTakesTheTightestDeviceAndWholeTakesLowestIdle) {
  Pool pool({MakeNode("a", "T4", 4)});
  pool.Put(Share(10, 300), 0, 1);  // device 1: 700 free
  pool.Put(Share(11, 600), 0, 2);  // device 2: 400 free
  // A 400 share fits devices 0 (1000), 1 (700), 2 (400), 3 (1000): the tightest is device 2.
  auto a = pool.Decide(Share(1, 400), Policy("best-fit"));
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(a[0].to.slices.size(), 1u);
  EXPECT_EQ(a[0].to.slices[0].device, 2);
  // Two whole GPUs: the idle devices are 0 and 3.
  auto b = pool.Decide(Whole(2, 2), Policy("best-fit"));
  ASSERT_EQ(b.size(), 1u);
  ASSERT_EQ(b[0].to.slices.size(), 2u);
  EXPECT_EQ(b[0].to.slices[0].device, 0);
  EXPECT_EQ(b[0].to.slices[1].device, 3);
}

TEST(Decide, MigRequestGetsALegalStartThatBindAccepts) {
  Pool pool({MakeNode("a", "H100-80GB", 1)});
  core::Workload w = Share(1, 0);
  w.gpu.milli_per_gpu = 0;
  w.gpu.mig = core::MigProfile::k3g;
  for (core::WorkloadId id = 1; id <= 3; ++id) {
    w.id = id;
    const auto a = pool.Decide(w, Policy("gpool"));
    if (id == 3) {
      EXPECT_TRUE(a.empty()) << "a third 3g does not fit one GPU (starts 0 and 4 only)";
      break;
    }
    ASSERT_EQ(a.size(), 1u);
    const core::Slice& s = a[0].to.slices.at(0);
    EXPECT_EQ(s.kind, core::SliceKind::kMig);
    EXPECT_TRUE(s.mig.start == 0 || s.mig.start == 4);
    EXPECT_EQ(s.milli, 3 * 1000 / 7);  // 428 milli
    ASSERT_TRUE(pool.cluster.Bind(a[0].to).ok());
  }
}

TEST(Decide, UnknownPolicyGivesNoActionsAndCreateSaysWhy) {
  Pool pool({MakeNode("a", "T4", 1)});
  EXPECT_TRUE(pool.Decide(Share(1, 500), Policy("nope")).empty());
  auto s = Scheduler::Create(Policy("nope"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  auto m = Scheduler::Create(Policy("gpool", -1));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
}

TEST(Decide, GpoolPrefersCpuHeadroomWhereFgdTies) {
  // Target: a 1-GPU type with 2000 milli CPU, so neither placement below changes FGD's measure
  // (both nodes keep a GPU and enough CPU for it): FGD scores both 50 and takes node a (first).
  // cpu-balance after placing 1 GPU + 8000 CPU: a: (4000/12000) / (1000/2000) = 0.667 -> 66.7;
  // b: (56000/64000) / 0.5 > 1 -> 100. gpool = fgd + 0.3 cpu-balance: a 70.0, b 80.0 -> b.
  TargetType t;
  t.cpu_milli = 2000;
  t.gpu.count = 1;
  t.gpu.milli_per_gpu = 1000;
  t.weight = 1;
  for (const char* policy : {"fgd", "gpool"}) {
    Pool pool({MakeNode("a", "T4", 2, 12000), MakeNode("b", "T4", 2, 64000)});
    Config c = Policy(policy);
    c.target = {t};
    const auto a = pool.Decide(Whole(1, 1, 8000), c);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].to.node, std::string(policy) == "fgd" ? 0 : 1) << policy;
  }
}

TEST(MigrationPlanner, MovesTheCheapestVictimOffTheNodeThatThenFits) {
  // n0: one T4 with a 300 share (700 free); n1: one T4 with a 500 share (500 free).
  // An 800 share fits nowhere. Plans: clear n0 by moving the 300 (cost 300 + 1) to n1 (500 free),
  // or clear n1 by moving the 500 (cost 501) to n0 (700 free). The cheaper one wins.
  Pool pool({MakeNode("n0", "T4", 1), MakeNode("n1", "T4", 1)});
  pool.Put(Share(10, 300), 0, 0);
  pool.Put(Share(11, 500), 1, 0);
  EXPECT_TRUE(pool.Decide(Share(1, 800), Policy("gpool", 0)).empty()) << "no moves allowed";
  const auto a = pool.Decide(Share(1, 800), Policy("gpool", 1));
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].kind, ActionKind::kMigrate);
  EXPECT_EQ(a[0].workload, 10u);
  EXPECT_EQ(a[0].from.node, 0);
  EXPECT_EQ(a[0].to.node, 1) << "n0 has no other device; n1 has room";
  EXPECT_EQ(a[0].moved_milli, 300);
  EXPECT_EQ(a[1].kind, ActionKind::kBind);
  EXPECT_EQ(a[1].workload, 1u);
  EXPECT_EQ(a[1].to.node, 0);
  // Applying the actions in order keeps every slice single-booked.
  pool.cluster.Release(a[0].from);
  ASSERT_TRUE(pool.cluster.Bind(a[0].to).ok());
  ASSERT_TRUE(pool.cluster.Bind(a[1].to).ok());
  EXPECT_EQ(pool.cluster.used_gpu_milli(), 300 + 500 + 800);
}

TEST(MigrationPlanner, RespectsUnmovableWorkloadsAndTheMoveLimit) {
  // n0: two 200 shares (600 free); n1: an unmovable 500 share (500 free). A 900 share needs both
  // 200s moved off n0 (to n1: 200 + 200 <= 500): two moves.
  Pool pool({MakeNode("n0", "T4", 1), MakeNode("n1", "T4", 1)});
  pool.Put(Share(10, 200), 0, 0);
  pool.Put(Share(11, 200), 0, 0);
  core::Workload pinned = Share(12, 500);
  pinned.movable = false;
  pool.Put(pinned, 1, 0);
  EXPECT_TRUE(pool.Decide(Share(1, 900), Policy("gpool", 1)).empty()) << "needs 2 moves, 1 allowed";
  const auto a = pool.Decide(Share(1, 900), Policy("gpool", 2));
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].kind, ActionKind::kMigrate);
  EXPECT_EQ(a[1].kind, ActionKind::kMigrate);
  EXPECT_EQ(a[0].to.node, 1);
  EXPECT_EQ(a[1].to.node, 1);
  EXPECT_EQ(a[2].kind, ActionKind::kBind);
  EXPECT_EQ(a[2].to.node, 0);
  for (const Action& x : a) EXPECT_NE(x.workload, 12u) << "the unmovable workload stays";
}

TEST(MigrationPlanner, AVictimMayMoveToAnotherDeviceOfTheSameNode) {
  // One node, two T4s: device 0 holds a 300 share, device 1 a 600 share (400 free). An 800 share
  // fits on neither; moving the 300 onto device 1 (300 <= 400) clears device 0 for it.
  Pool pool({MakeNode("n0", "T4", 2)});
  pool.Put(Share(10, 300), 0, 0);
  pool.Put(Share(11, 600), 0, 1);
  const auto a = pool.Decide(Share(1, 800), Policy("gpool", 1));
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].workload, 10u);
  EXPECT_EQ(a[0].to.node, 0);
  EXPECT_EQ(a[0].to.slices.at(0).device, 1);
  EXPECT_EQ(a[1].to.slices.at(0).device, 0);
}

TEST(MigrationPlanner, NoPlanWhenVictimsFitNowhere) {
  // n0: a 600 share (400 free); n1: a 700 share (300 free). An 800 share would need the 600 or the
  // 700 moved, and neither fits on the other node: no actions.
  Pool pool({MakeNode("n0", "T4", 1), MakeNode("n1", "T4", 1)});
  pool.Put(Share(10, 600), 0, 0);
  pool.Put(Share(11, 700), 1, 0);
  EXPECT_TRUE(pool.Decide(Share(1, 800), Policy("gpool", 4)).empty());
}

}  // namespace
}  // namespace gpool::sched

namespace gpool::sched {
namespace {

core::Workload Member(core::WorkloadId id, int gpus, std::uint64_t gang, int size) {
  core::Workload w = Whole(id, gpus);
  w.gang = gang;
  w.gang_size = size;
  return w;
}

TEST(Decide, GangsBindAllOrNothing) {
  // Two nodes of 8 GPUs, one already holding 4 (12 idle GPUs in all).
  //   gang 7 = 8 + 4 GPUs: 8 on n0, 4 on n1 -> both members bind.
  //   gang 9 = 8 + 8 GPUs: the first member fits on n0, the second nowhere -> neither binds,
  //     and the tentative placement of the first is undone: the 8-GPU workload 30 after it
  //     still binds on n0, which only the undone member would have held.
  //   A gang of size 3 with 2 members pending waits (nothing binds).
  //   The rows are independent decisions on the same cluster state.
  core::ClusterState cluster({MakeNode("n0", "A100-80GB", 8), MakeNode("n1", "A100-80GB", 8)});
  core::Binding held{100, 1, 1000, 1024, {}};
  for (int d = 0; d < 4; ++d) held.slices.push_back({core::SliceKind::kWhole, d, 1000, 0, {}});
  ASSERT_TRUE(cluster.Bind(held).ok());
  struct Case {
    std::vector<core::Workload> pending;
    std::vector<core::WorkloadId> bound;
  };
  const std::vector<Case> cases = {
      {{Member(1, 8, 7, 2), Member(2, 4, 7, 2)}, {1, 2}},
      {{Member(3, 8, 9, 2), Member(4, 8, 9, 2), Whole(30, 8)}, {30}},
      {{Member(5, 1, 11, 3), Member(6, 1, 11, 3)}, {}},
      // Three members claiming a gang of two: malformed, waits (the controller admits gangs whole).
      {{Member(8, 1, 13, 2), Member(9, 1, 13, 2), Member(10, 1, 13, 2)}, {}},
      // gang_size 2 without a gang id is not a gang: placed like any workload.
      {{Member(7, 1, 0, 2)}, {7}},
  };
  for (const Case& c : cases) {
    const Snapshot snap{&cluster, c.pending, {}, 1};
    const std::vector<Action> actions = decide(snap, Config{.policy = "best-fit"});
    std::vector<core::WorkloadId> bound;
    for (const Action& a : actions) bound.push_back(a.workload);
    EXPECT_EQ(bound, c.bound);
    if (c.bound == std::vector<core::WorkloadId>{30}) {
      ASSERT_EQ(actions.size(), 1u);
      EXPECT_EQ(actions[0].to.node, 0);
    }
  }
}

}  // namespace
}  // namespace gpool::sched
