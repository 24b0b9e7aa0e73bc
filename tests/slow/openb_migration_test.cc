// Acceptance 3 of the scheduler issue on the openb default trace, seeds 42-51:
// gpool with --migrate 4 against gpool without moves, with the moves counted, and the locked-waste
// upper bound (src/sim/locked_waste_bound.h) reported beside it. The target is 97.5 %; the
// bound shows that no scheduler that places every pod arriving before the first failure can reach
// it on this pod sequence, so this test checks what can be checked: moves happen, never lower
// allocation, and every run stays below its own bound.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "sim/fill_experiment.h"
#include "sim/openb_trace.h"

namespace gpool::sim {
namespace {

const std::string kOpenb = std::string(GPOOL_SHARED_DIR) + "/traces/openb";

TEST(OpenbMigration, MovesAreCountedAndRunsStayBelowTheLockedWasteBound) {
  auto nodes = ReadOpenbNodes(kOpenb + "/openb_node_list_gpu_node.csv");
  auto pods = ReadOpenbPods(kOpenb + "/openb_pod_list_default.csv");
  ASSERT_TRUE(nodes.ok() && pods.ok());
  auto trace = ToPoolModel(*nodes, *pods);
  ASSERT_TRUE(trace.ok()) << trace.status().ToString();
  FillOptions plain;
  plain.policy = "gpool";
  plain.seeds = {42, 43, 44, 45, 46, 47, 48, 49, 50, 51};
  plain.threads = 2;
  FillOptions moving = plain;
  moving.migrate = 4;
  auto a = RunFill(*trace, plain);
  auto b = RunFill(*trace, moving);
  ASSERT_TRUE(a.ok() && b.ok());
  double moves = 0, bound = 0;
  for (std::size_t i = 0; i < b->runs.size(); ++i) {
    const FillRun& r = b->runs[i];
    moves += static_cast<double>(r.moves);
    bound += r.locked_waste_bound / static_cast<double>(b->runs.size());
    EXPECT_LE(100.0 * static_cast<double>(r.final_used_milli) / 6212000.0,
              r.locked_waste_bound + 1e-9)
        << "seed " << r.seed << ": a run cannot beat its own upper bound";
  }
  const double with_moves = b->mean_allocation.back();
  std::printf(
      "gpool %.2f%%, gpool --migrate 4 %.2f%% (%.1f moves/run), locked-waste bound %.2f%%, gap "
      "%.2f\n",
      a->mean_allocation.back(), with_moves, moves / 10, bound, bound - with_moves);
  EXPECT_GT(moves, 0);
  EXPECT_GE(with_moves, a->mean_allocation.back() - 0.1) << "moves should not cost allocation";
  EXPECT_GT(with_moves, 95.39) << "beats the published FGD mean";
  EXPECT_LT(bound, 97.5)
      << "if the bound rises above the issue's 97.5 % target, the target is reachable in "
         "principle and this test must demand it";
}

}  // namespace
}  // namespace gpool::sim
