// A gang whose members are on two nodes: every member runs to its own end, and the workload
// succeeds only then. (Found while writing the 300-job test: the first member to exit ends the
// whole gang and the other node kills its member.)
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "journal.h"
#include "test_pool.h"

namespace gpool::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

TEST(PoolIntegration, GangMembersOnTwoNodesEachRunToTheirEnd) {
  PoolOptions options;
  options.subnet = 4;
  options.agents = 2;
  std::string why;
  auto pool = TestPool::Create(options, &why);
  if (pool == nullptr) GTEST_SKIP() << why;
  std::string error;
  ASSERT_TRUE(pool->StartServer(&error)) << error;
  const std::string token = pool->CreateTenant("train", 16, 0, &error);
  ASSERT_FALSE(token.empty()) << error;
  for (int i = 1; i <= 2; ++i) pool->StartAgent(i);
  ASSERT_TRUE(pool->WaitForNodesReady(2, 20s)) << pool->DumpLogs();

  // Two members of 8 GPUs each: one on each 8-GPU node. The member on a2 works 1.5 s longer than
  // the one on a1, then says so.
  const json spec = {{"name", "allreduce"},
                     {"gang", 2},
                     {"command", "if [ \"$GPOOL_NODE\" = a2 ]; then sleep 1.5; fi; echo finished"},
                     {"resources", {{"cpu", 1}, {"memory", "1Gi"}, {"gpus", 8}}}};
  const HttpReply r = pool->Post("/v1/workloads", spec, token);
  ASSERT_EQ(r.status, 201) << r.error << r.body.dump();
  const std::int64_t id = r.body.value("id", std::int64_t{0});

  json final_state;
  ASSERT_TRUE(WaitUntil(
      [&] {
        final_state = pool->Get("/v1/workloads/" + std::to_string(id), token).body;
        const std::string s = final_state.value("state", "");
        return s == "succeeded" || s == "failed" || s == "cancelled";
      },
      20s))
      << final_state.dump() << "\n"
      << pool->DumpLogs();
  const double finished_at = UnixNow();
  EXPECT_EQ(BoundNodes(final_state), (std::set<std::string>{"a1", "a2"})) << final_state.dump();

  // Both members' runs end (bounded), each having exited 0.
  std::vector<std::string> problems;
  std::vector<WorkloadRun> runs;
  WaitUntil(
      [&] {
        problems.clear();
        std::vector<JournalEvent> events;
        for (int a = 1; a <= 2; ++a) {
          const auto e = ReadJournal(pool->journal(a), &problems);
          events.insert(events.end(), e.begin(), e.end());
        }
        runs = PairRuns(events, &problems);
        if (runs.size() < 2) return false;
        for (const WorkloadRun& run : runs) {
          if (!run.ended()) return false;
        }
        return true;
      },
      10s, 100ms);
  for (int a = 1; a <= 2; ++a) pool->StopAgent(a);
  EXPECT_TRUE(problems.empty()) << Lines(problems);
  ASSERT_EQ(runs.size(), 2u) << "one run per member expected";
  EXPECT_EQ(final_state.value("state", ""), "succeeded") << final_state.dump();
  // The member on a1 exits first and reports `succeeded`: the gang stays running until a2's
  // member has ended too (once, one member's report ended the whole gang and a2 killed its
  // member midway: "stopped: no longer assigned here", no "finished" printed).
  for (const WorkloadRun& run : runs) {
    EXPECT_EQ(run.why, "exited 0") << run.Name() << " did not run to its end";
  }
  std::ifstream out(pool->log_dir(2) + "/" + std::to_string(id) + ".out");
  std::stringstream text;
  text << out.rdbuf();
  EXPECT_NE(text.str().find("finished"), std::string::npos)
      << "the member on a2 was stopped before its end";
  // The workload may be called finished only once its last member is.
  for (const WorkloadRun& run : runs) {
    EXPECT_LE(run.end, final_state.value("updated_at", 0.0) + 0.5)
        << run.Name() << " still ran after the workload was marked "
        << final_state.value("state", "") << " (observed at " << TimeText(finished_at) << ")";
  }
  if (HasFailure()) ADD_FAILURE() << pool->DumpLogs();
}

}  // namespace
}  // namespace gpool::test
