// The scheduler through its public interface: FitFilter's verdicts, decide() end to end (ties,
// slice selection, MIG starts, bad configs) and the migration planner (Config::max_moves).
#include "sched/scheduler.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sched/registry.h"
#include "test_builders.h"

namespace gpool::sched {
namespace {

using test::MakeNode;
using test::MakeWorkload;
using test::PolicyConfig;
using test::StateWith;
using test::TestPool;

const char* VerdictName(FilterVerdict v) {
  switch (v) {
    case FilterVerdict::kFitsNow:
      return "kFitsNow";
    case FilterVerdict::kNotNow:
      return "kNotNow";
    case FilterVerdict::kNever:
      return "kNever";
  }
  return "?";
}

// Names of the policies that pick the best score (all but "random"), from the registry.
std::vector<std::string> BestScorePolicies() {
  std::vector<std::string> out;
  for (const PolicySpec& p : Policies()) {
    if (p.pick == NodePick::kBestScore) out.emplace_back(p.name);
  }
  return out;
}

std::vector<std::string> PoliciesWithSelector(SliceSelector selector) {
  std::vector<std::string> out;
  for (const PolicySpec& p : Policies()) {
    if (p.pick == NodePick::kBestScore && p.selector == selector) out.emplace_back(p.name);
  }
  return out;
}

// Nodes for the filter table.
const core::Node kA100 = MakeNode("a100").Cpu(64000).Gpus(8, "A100-80GB");
const core::Node kT4 = MakeNode("t4").Cpu(8000).Memory(32768).Gpus(2, "T4");  // 15360 MiB each
const core::Node kV100 = MakeNode("v100").Gpus(4, "V100-32GB");
const core::Node kCpuOnly = MakeNode("cpu").Cpu(32000);
const core::Node kG2 = MakeNode("g2").Gpus(8, "G2");  // opaque model: GPU memory unknown (0)

TEST(FitFilterVerdicts, Table) {
  struct Case {
    const char* name;
    core::Node node;
    core::NodeState state;
    core::Workload w;
    FilterVerdict expected;
  };
  const core::Workload w = MakeWorkload(1);  // 1 core, 1 GiB
  const Case cases[] = {
      {"share on an empty T4", kT4, core::InitialState(kT4), MakeWorkload().Share(500),
       FilterVerdict::kFitsNow},
      {"CPU-only on a CPU-only node", kCpuOnly, core::InitialState(kCpuOnly), w,
       FilterVerdict::kFitsNow},
      {"CPU-only on a GPU node", kT4, core::InitialState(kT4), w, FilterVerdict::kFitsNow},
      // kNever: retrying cannot help.
      {"wrong model (V100 only) on a T4", kT4, core::InitialState(kT4),
       MakeWorkload().Models("V100M16|V100M32").Share(500), FilterVerdict::kNever},
      {"4 whole GPUs on a 2-GPU node", kT4, core::InitialState(kT4), MakeWorkload().Whole(4),
       FilterVerdict::kNever},
      {"9 cores on an 8-core node", kT4, core::InitialState(kT4), MakeWorkload().Cpu(9000),
       FilterVerdict::kNever},
      {"64 GiB on a 32 GiB node", kT4, core::InitialState(kT4), MakeWorkload().Memory(65536),
       FilterVerdict::kNever},
      {"20000 MiB share on a 15360 MiB T4", kT4, core::InitialState(kT4),
       MakeWorkload().Share(500, 20000), FilterVerdict::kNever},
      {"MIG on a T4 (not MIG capable)", kT4, core::InitialState(kT4), MakeWorkload().Mig("3g.40gb"),
       FilterVerdict::kNever},
      {"a GPU on a CPU-only node", kCpuOnly, core::InitialState(kCpuOnly), MakeWorkload().Whole(1),
       FilterVerdict::kNever},
      // kFitsNow edge cases.
      {"V100 allowed on a V100-32GB", kV100, core::InitialState(kV100),
       MakeWorkload().Models("V100M16|V100M32").Share(500), FilterVerdict::kFitsNow},
      {"share asking exactly the device memory", kT4, core::InitialState(kT4),
       MakeWorkload().Share(500, 15360), FilterVerdict::kFitsNow},
      {"MIG on an idle A100", kA100, core::InitialState(kA100), MakeWorkload().Mig("3g.40gb"),
       FilterVerdict::kFitsNow},
      {"the whole node", kT4, core::InitialState(kT4),
       MakeWorkload().Cpu(8000).Memory(32768).Whole(2), FilterVerdict::kFitsNow},
      // kNotNow: would fit once other work leaves.
      {"share: both devices 600 used", kT4,
       StateWith(kT4, {{MakeWorkload(9).Cpu(0).Share(600), {0}},
                       {MakeWorkload(9).Cpu(0).Share(600), {1}}}),
       MakeWorkload().Share(500), FilterVerdict::kNotNow},
      {"whole GPU: a share on each device", kT4,
       StateWith(kT4, {{MakeWorkload(9).Cpu(0).Share(100), {0}},
                       {MakeWorkload(9).Cpu(0).Share(100), {1}}}),
       MakeWorkload().Whole(1), FilterVerdict::kNotNow},
      {"2 whole GPUs, one device busy", kT4,
       StateWith(kT4, {{MakeWorkload(9).Cpu(0).Share(100), {0}}}), MakeWorkload().Whole(2),
       FilterVerdict::kNotNow},
      {"CPU in use (7.5 of 8 cores)", kT4, StateWith(kT4, {{MakeWorkload(9).Cpu(7500), {}}}),
       MakeWorkload().Share(500), FilterVerdict::kNotNow},
      {"memory in use", kT4, StateWith(kT4, {{MakeWorkload(9).Memory(32000), {}}}),
       MakeWorkload().Share(500), FilterVerdict::kNotNow},
      {"MIG when one A100 device holds a share and the node has one device",
       MakeNode("a100x1").Gpus(1, "A100-80GB"),
       StateWith(MakeNode("a100x1").Gpus(1, "A100-80GB"),
                 {{MakeWorkload(9).Cpu(0).Share(100), {0}}}),
       MakeWorkload().Mig("1g.20gb"), FilterVerdict::kNotNow},
      {"share when the only A100 device is in MIG mode", MakeNode("a100x1").Gpus(1, "A100-80GB"),
       StateWith(MakeNode("a100x1").Gpus(1, "A100-80GB"),
                 {{MakeWorkload(9).Cpu(0).Mig("1g"), {0}, 0}}),
       MakeWorkload().Share(100), FilterVerdict::kNotNow},
  };
  for (const Case& c : cases) {
    EXPECT_STREQ(VerdictName(FitFilter(c.node, c.state, c.w)), VerdictName(c.expected)) << c.name;
  }
}

TEST(FitFilterVerdicts, AnEmptyNodeIsNeverNotNow) {
  // plugin.h: kNotNow means "would fit after other work leaves". An empty node has nothing to
  // leave, so on it every request is kFitsNow or kNever.
  const core::Node nodes[] = {kA100, kT4, kV100, kCpuOnly, kG2};
  const core::Workload requests[] = {
      MakeWorkload().Share(500),
      MakeWorkload().Share(500, 4096),
      MakeWorkload().Share(500, 20000),
      MakeWorkload().Whole(2),
      MakeWorkload().Whole(8),
      MakeWorkload().Mig("3g"),
      MakeWorkload().Models("V100M32").Share(300),
      MakeWorkload().Cpu(64000),
  };
  for (const core::Node& node : nodes) {
    for (const core::Workload& w : requests) {
      EXPECT_STRNE(VerdictName(FitFilter(node, core::InitialState(node), w)), "kNotNow")
          << "node " << node.name << " (" << core::GetGpuModel(node.model).name
          << "), request count " << w.gpu.count << " milli " << w.gpu.milli_per_gpu
          << " GPU memory " << w.gpu.memory_per_gpu << " cpu " << w.cpu_milli;
    }
  }
}

TEST(DecideEndToEnd, TiesGoToTheFirstNodeInSnapshotOrder) {
  // Three identical empty nodes: every best-score policy gives them equal scores, so the first
  // in snapshot order wins, whatever its name ("z" sorts last by name).
  const core::Workload requests[] = {MakeWorkload().Share(500), MakeWorkload().Whole(1),
                                     MakeWorkload().Cpu(4000), MakeWorkload().Whole(4)};
  for (const std::string& policy : BestScorePolicies()) {
    for (const core::Workload& w : requests) {
      TestPool pool(
          {MakeNode("z").Gpus(4, "T4"), MakeNode("a").Gpus(4, "T4"), MakeNode("m").Gpus(4, "T4")});
      const auto actions = pool.Decide(w, PolicyConfig(policy));
      ASSERT_EQ(actions.size(), 1u) << policy;
      EXPECT_EQ(actions[0].kind, ActionKind::kBind);
      EXPECT_EQ(actions[0].to.node, 0) << policy << " gpu count " << w.gpu.count;
    }
  }
}

TEST(DecideEndToEnd, BestFitSelectorTakesTheTightestDevice) {
  // One T4x4: dev1 has 700 free, dev2 400 free, dev0 and dev3 are idle.
  struct Case {
    core::Milli share;
    int device;
  };
  const Case cases[] = {
      {400, 2},  // fits 0 (1000), 1 (700), 2 (400), 3 (1000): least free is dev2
      {500, 1},  // dev2 (400) too small: dev1 (700)
      {800, 0},  // only the idle dev0 and dev3 (1000 each): tie, lowest index
  };
  for (const std::string& policy : PoliciesWithSelector(SliceSelector::kBestFit)) {
    for (const Case& c : cases) {
      TestPool pool({MakeNode("n").Gpus(4, "T4")});
      pool.Place(MakeWorkload(10).Cpu(0).Share(300), 0, {1});
      pool.Place(MakeWorkload(11).Cpu(0).Share(600), 0, {2});
      const auto a = pool.Decide(MakeWorkload().Share(c.share), PolicyConfig(policy));
      ASSERT_EQ(a.size(), 1u) << policy;
      ASSERT_EQ(a[0].to.slices.size(), 1u);
      EXPECT_EQ(a[0].to.slices[0].kind, core::SliceKind::kShare);
      EXPECT_EQ(a[0].to.slices[0].device, c.device) << policy << " share " << c.share;
      EXPECT_EQ(a[0].to.slices[0].milli, c.share);
      EXPECT_TRUE(pool.Apply(a).ok()) << policy;
    }
  }
}

TEST(DecideEndToEnd, WholeGpusAreTheLowestIndexedIdleDevices) {
  // T4x4 with shares on dev1 and dev2: the idle devices are 0 and 3, for every policy.
  for (const PolicySpec& p : Policies()) {
    TestPool pool({MakeNode("n").Gpus(4, "T4")});
    pool.Place(MakeWorkload(10).Cpu(0).Share(300), 0, {1});
    pool.Place(MakeWorkload(11).Cpu(0).Share(600), 0, {2});
    const auto a = pool.Decide(MakeWorkload().Whole(2), PolicyConfig(std::string(p.name)));
    ASSERT_EQ(a.size(), 1u) << p.name;
    ASSERT_EQ(a[0].to.slices.size(), 2u) << p.name;
    EXPECT_EQ(a[0].to.slices[0].device, 0) << p.name;
    EXPECT_EQ(a[0].to.slices[1].device, 3) << p.name;
    EXPECT_EQ(a[0].to.slices[0].milli, 1000);
    EXPECT_TRUE(pool.Apply(a).ok()) << p.name;
    EXPECT_EQ(pool.cluster().used_gpu_milli(), 300 + 600 + 2000);
  }
}

TEST(DecideEndToEnd, MigRequestsGetLegalStartsThatBindAccepts) {
  // One A100-80GB. 3g instances may start at 0 or 4: the first gets 0, the second 4, a third
  // does not fit. Then on a fresh device: 3g@0 placed, a 1g goes to the lowest free slice, 4.
  for (const PolicySpec& p : Policies()) {
    const std::string policy(p.name);
    TestPool pool({MakeNode("n").Gpus(1, "A100-80GB")});
    for (int expected_start : {0, 4, -1}) {
      const auto a = pool.Decide(MakeWorkload().Mig("3g.40gb"), PolicyConfig(policy));
      if (expected_start < 0) {
        EXPECT_TRUE(a.empty()) << policy << ": a third 3g does not fit";
        break;
      }
      ASSERT_EQ(a.size(), 1u) << policy;
      const core::Slice& s = a[0].to.slices.at(0);
      EXPECT_EQ(s.kind, core::SliceKind::kMig);
      EXPECT_EQ(s.mig.profile, core::MigProfile::k3g);
      EXPECT_EQ(s.mig.start, expected_start) << policy;
      EXPECT_EQ(s.milli, 428) << "3 * 1000 / 7";
      EXPECT_EQ(s.memory_mib, 81920 * 4 / 8) << "4 of 8 memory slices";
      ASSERT_TRUE(pool.Apply(a).ok()) << policy;
    }
    TestPool fresh({MakeNode("n").Gpus(1, "A100-80GB")});
    fresh.Place(MakeWorkload(10).Cpu(0).Mig("3g"), 0, {0}, 0);
    const auto b = fresh.Decide(MakeWorkload().Mig("1g"), PolicyConfig(policy));
    ASSERT_EQ(b.size(), 1u) << policy;
    EXPECT_EQ(b[0].to.slices.at(0).mig.start, 4) << policy;
    EXPECT_TRUE(fresh.Apply(b).ok()) << policy;
  }
}

TEST(DecideEndToEnd, MigAvoidsADeviceHoldingShares) {
  // A100x2, dev0 holds a share: a MIG instance can only go to dev1.
  TestPool pool({MakeNode("n").Gpus(2, "A100-80GB")});
  pool.Place(MakeWorkload(10).Cpu(0).Share(100), 0, {0});
  const auto a = pool.Decide(MakeWorkload().Mig("2g"), PolicyConfig("gpool"));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].to.slices.at(0).device, 1);
  EXPECT_TRUE(pool.Apply(a).ok());
}

TEST(DecideEndToEnd, LaterPendingWorkloadsSeeEarlierPlacements) {
  // T4x1: 600, then another 600 (no longer fits: 400 left), then 400 (fits the rest).
  TestPool pool({MakeNode("n").Gpus(1, "T4")});
  const auto a = pool.Decide(
      {MakeWorkload(1).Share(600), MakeWorkload(2).Share(600), MakeWorkload(3).Share(400)},
      PolicyConfig("gpool"));
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].workload, 1u);
  EXPECT_EQ(a[1].workload, 3u);
  EXPECT_TRUE(pool.Apply(a).ok());
  EXPECT_EQ(pool.cluster().used_gpu_milli(), 1000);
}

TEST(DecideEndToEnd, RandomPolicyIsSeededAndFeasible) {
  // n0 is full; the draw is among n1..n4, and the same seed draws the same node.
  for (std::uint64_t seed = 0; seed < 16; ++seed) {
    TestPool pool({MakeNode("n0").Gpus(1, "T4"), MakeNode("n1").Gpus(1, "T4"),
                   MakeNode("n2").Gpus(1, "T4"), MakeNode("n3").Gpus(1, "T4"),
                   MakeNode("n4").Gpus(1, "T4")});
    pool.Place(MakeWorkload(10).Whole(1), 0, {0});
    const auto a = pool.Decide({MakeWorkload().Share(500)}, PolicyConfig("random"), seed);
    const auto b = pool.Decide({MakeWorkload().Share(500)}, PolicyConfig("random"), seed);
    ASSERT_EQ(a.size(), 1u);
    ASSERT_EQ(b.size(), 1u);
    EXPECT_NE(a[0].to.node, 0) << "seed " << seed;
    EXPECT_EQ(a[0].to.node, b[0].to.node) << "seed " << seed;
  }
}

TEST(DecideEndToEnd, BadConfigsGiveNoActionsAndCreateSaysWhy) {
  TestPool pool({MakeNode("n").Gpus(1, "T4")});
  EXPECT_TRUE(pool.Decide(MakeWorkload().Share(500), PolicyConfig("no-such-policy")).empty());
  auto unknown = Scheduler::Create(PolicyConfig("no-such-policy"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("gpool"), std::string::npos)
      << "the message lists the known policies: " << unknown.status().message();
  auto moves = Scheduler::Create(PolicyConfig("gpool", -1));
  ASSERT_FALSE(moves.ok());
  EXPECT_EQ(moves.status().code(), StatusCode::kInvalidArgument);
  Config weights = PolicyConfig("fgd");
  TargetType t;
  t.weight = -0.5;
  weights.target = {t};
  auto w = Scheduler::Create(weights);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(pool.Decide(MakeWorkload().Share(500), weights).empty());
  // Every registered policy creates.
  for (const PolicySpec& p : Policies()) {
    EXPECT_TRUE(Scheduler::Create(PolicyConfig(std::string(p.name))).ok()) << p.name;
  }
}

// Migration planning. Nodes are single-T4 unless said otherwise.

TEST(MigrationPlanning, OneSmallShareMovesOffAndTheRequestTakesItsDevice) {
  // n0: 300 share (700 free), n1: 500 share (500 free), n2: 900 share (100 free).
  // An 800 share fits nowhere. Plans: clear n0 (move the 300, cost 300 + 1), clear n1 (move the
  // 500, cost 501), clear n2 (the 900 fits nowhere now: dropped). Cheapest: n0. After the
  // request takes n0 (200 left), the 300 fits only n1 (500 free): never back on the cleared n0.
  for (const std::string& policy : BestScorePolicies()) {
    TestPool pool(
        {MakeNode("n0").Gpus(1, "T4"), MakeNode("n1").Gpus(1, "T4"), MakeNode("n2").Gpus(1, "T4")});
    pool.Place(MakeWorkload(10).Share(300), 0, {0});
    pool.Place(MakeWorkload(11).Share(500), 1, {0});
    pool.Place(MakeWorkload(12).Share(900), 2, {0});
    const core::Workload request = MakeWorkload(1).Share(800);
    EXPECT_TRUE(pool.Decide(request, PolicyConfig(policy, 0)).empty())
        << policy << ": max_moves = 0 disables planning";
    const auto a = pool.Decide(request, PolicyConfig(policy, 1));
    ASSERT_EQ(a.size(), 2u) << policy;
    EXPECT_EQ(a[0].kind, ActionKind::kMigrate);
    EXPECT_EQ(a[0].workload, 10u);
    EXPECT_EQ(a[0].from.node, 0);
    EXPECT_EQ(a[0].to.node, 1) << policy;
    EXPECT_EQ(a[0].moved_milli, 300);
    EXPECT_EQ(a[1].kind, ActionKind::kBind);
    EXPECT_EQ(a[1].workload, 1u);
    EXPECT_EQ(a[1].to.node, 0);
    EXPECT_NE(a[0].to.node, a[1].to.node) << "the victim never lands on the cleared node";
    ASSERT_TRUE(pool.Apply(a).ok()) << policy;
    EXPECT_EQ(pool.cluster().used_gpu_milli(), 300 + 500 + 900 + 800);
  }
}

TEST(MigrationPlanning, WholeGpusAfterMovingAShare) {
  // n0: T4x2, dev0 holds a 300 share, dev1 idle; n1: T4x1 with a 500 share (500 free).
  // Two whole GPUs fit nowhere (n1 has one GPU: kNever). On n0 the cheapest devices to clear are
  // dev1 (nothing to move) and dev0 (move the 300, to n1).
  TestPool pool({MakeNode("n0").Gpus(2, "T4"), MakeNode("n1").Gpus(1, "T4")});
  pool.Place(MakeWorkload(10).Share(300), 0, {0});
  pool.Place(MakeWorkload(11).Share(500), 1, {0});
  const auto a = pool.Decide(MakeWorkload(1).Whole(2), PolicyConfig("gpool", 1));
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].kind, ActionKind::kMigrate);
  EXPECT_EQ(a[0].workload, 10u);
  EXPECT_EQ(a[0].to.node, 1);
  EXPECT_EQ(a[1].kind, ActionKind::kBind);
  EXPECT_EQ(a[1].to.node, 0);
  ASSERT_EQ(a[1].to.slices.size(), 2u);
  EXPECT_EQ(a[1].to.slices[0].device, 0);
  EXPECT_EQ(a[1].to.slices[1].device, 1);
  EXPECT_TRUE(pool.Apply(a).ok());
}

TEST(MigrationPlanning, NothingWhenTheNeededMovesExceedMaxMoves) {
  // n0: two 300 shares (400 free); n1: an 800 share (200 free); n2: an unmovable 400 share
  // (600 free). A 900 share:
  //  - on n0 needs both 300s moved (2 moves);
  //  - on n1 needs the 800 moved, which fits nowhere now (400 and 600 free): dropped;
  //  - n2 has nothing movable.
  struct Case {
    int max_moves;
    std::size_t actions;  // 0, or 2 migrations + 1 bind
  };
  const Case cases[] = {{0, 0}, {1, 0}, {2, 3}, {3, 3}};
  for (const Case& c : cases) {
    TestPool pool(
        {MakeNode("n0").Gpus(1, "T4"), MakeNode("n1").Gpus(1, "T4"), MakeNode("n2").Gpus(1, "T4")});
    pool.Place(MakeWorkload(10).Share(300), 0, {0});
    pool.Place(MakeWorkload(11).Share(300), 0, {0});
    pool.Place(MakeWorkload(12).Share(800), 1, {0});
    pool.Place(MakeWorkload(13).Share(400).Unmovable(), 2, {0});
    const auto a = pool.Decide(MakeWorkload(1).Share(900), PolicyConfig("gpool", c.max_moves));
    ASSERT_EQ(a.size(), c.actions) << "max_moves " << c.max_moves;
    if (a.empty()) continue;
    // Both 300s go to n2 (600 free; n0 keeps 100 after the request, n1 200).
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(a[static_cast<size_t>(i)].kind, ActionKind::kMigrate);
      EXPECT_EQ(a[static_cast<size_t>(i)].from.node, 0);
      EXPECT_EQ(a[static_cast<size_t>(i)].to.node, 2);
    }
    EXPECT_EQ(a[2].kind, ActionKind::kBind);
    EXPECT_EQ(a[2].to.node, 0);
    for (const Action& x : a) EXPECT_NE(x.workload, 13u) << "the unmovable share stays";
    EXPECT_TRUE(pool.Apply(a).ok());
  }
}

TEST(MigrationPlanning, FindsTheSingleMoveThatSufficesAmongSmallerShares) {
  // n0: shares of 300, 100 and 100 (500 free); n1: a 600 share (400 free). An 800 share fits
  // nowhere. Moving the 300 from n0 to n1 (400 free) is one move and leaves n0 800 free: a plan
  // of cost 300 + 1 = 301. The alternatives are worse or impossible: moving the two 100s frees
  // only 700; moving all three costs 100 + 100 + 300 + 3 = 503; n1's 600 fits nowhere else.
  // So whenever max_moves >= 1 the plan is: migrate workload 10 to n1, bind the request on n0.
  for (int max_moves : {1, 2, 3}) {
    TestPool pool({MakeNode("n0").Gpus(1, "T4"), MakeNode("n1").Gpus(1, "T4")});
    pool.Place(MakeWorkload(10).Share(300), 0, {0});
    pool.Place(MakeWorkload(11).Share(100), 0, {0});
    pool.Place(MakeWorkload(12).Share(100), 0, {0});
    pool.Place(MakeWorkload(13).Share(600), 1, {0});
    const auto a = pool.Decide(MakeWorkload(1).Share(800), PolicyConfig("gpool", max_moves));
    EXPECT_EQ(a.size(), 2u) << "max_moves " << max_moves
                            << ": a one-move plan exists: move workload 10 (300) to n1";
    if (a.size() != 2u) continue;
    EXPECT_EQ(a[0].kind, ActionKind::kMigrate);
    EXPECT_EQ(a[0].workload, 10u);
    EXPECT_EQ(a[0].to.node, 1);
    EXPECT_EQ(a[1].kind, ActionKind::kBind);
    EXPECT_EQ(a[1].to.node, 0);
    EXPECT_TRUE(pool.Apply(a).ok());
  }
}

}  // namespace
}  // namespace gpool::sched
