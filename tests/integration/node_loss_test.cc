// Acceptance test C: an agent's namespace is cut off (its link goes down): its node becomes
// `lost` within the configured timeout and its jobs run elsewhere; the cut-off agent stops its
// workloads when its lease expires, so nothing runs twice when the link returns.
//
// The lease (2 s) is shorter than the node timeout (4 s): the cut-off agent has stopped its runs
// before the controller gives them away, so two runs of one job must never overlap. That is
// checked twice: from the agents' journals, and from the jobs' own output (each run prints its
// epoch and the time every 0.1 s), which does not depend on when the agent says it stopped them.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "journal.h"
#include "test_pool.h"

namespace gpool::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr double kNodeTimeoutS = 4;
constexpr double kLeaseS = 2;
// How late the fence and the `lost` mark may come: a few agent ticks (0.2 s) and reconcile passes
// (at least one a second), and the time to stop a process.
constexpr double kSlackS = 1.5;
constexpr int kLongJobs = 3;

// Prints "<epoch> <unix time>" every 0.1 s, 60 times (about 7 s).
json LongJob(int n) {
  return {
      {"name", "long-" + std::to_string(n)},
      {"command", "for i in $(seq 1 60); do echo \"$GPOOL_EPOCH $(date +%s.%N)\"; sleep 0.1; done"},
      {"resources", {{"cpu", "200m"}, {"memory", "64Mi"}, {"gpus", 2}}}};
}

// The times a job's output file says it was alive, by epoch.
std::map<int, std::vector<double>> AliveTimes(const std::string& path) {
  std::map<int, std::vector<double>> out;
  std::ifstream in(path);
  int epoch = 0;
  double t = 0;
  while (in >> epoch >> t) out[epoch].push_back(t);
  return out;
}

bool OnlyOn(const json& workload, const std::string& node) {
  const json bindings = workload.value("bindings", json::array());
  if (bindings.empty()) return false;
  for (const json& b : bindings) {
    if (b.value("node", "") != node) return false;
  }
  return true;
}

TEST(PoolIntegration, LostNodesJobsMoveAndNeverRunTwice) {
  PoolOptions options;
  options.subnet = 3;
  options.agents = 3;
  options.node_timeout_s = kNodeTimeoutS;
  options.lease_s = kLeaseS;
  std::string why;
  auto pool = TestPool::Create(options, &why);
  if (pool == nullptr) GTEST_SKIP() << why;
  std::string error;
  ASSERT_TRUE(pool->StartServer(&error)) << error;
  const std::string token = pool->CreateTenant("ops", 8, 8, &error);
  ASSERT_FALSE(token.empty()) << error;

  // The long jobs start on a1, the only node at first.
  pool->StartAgent(1);
  ASSERT_TRUE(pool->WaitForNodesReady(1, 20s)) << pool->DumpLogs();
  std::vector<std::int64_t> ids;
  for (int n = 0; n < kLongJobs; ++n) {
    const HttpReply r = pool->Post("/v1/workloads", LongJob(n), token);
    ASSERT_EQ(r.status, 201) << r.error << r.body.dump();
    ids.push_back(r.body.value("id", std::int64_t{0}));
  }
  const auto output_on = [&](int agent, std::int64_t id) {
    return pool->log_dir(agent) + "/" + std::to_string(id) + ".out";
  };
  ASSERT_TRUE(WaitUntil(
      [&] {
        const auto w = pool->Workloads();
        for (std::int64_t id : ids) {
          if (w.count(id) == 0 || w.at(id).value("state", "") != "running") return false;
          if (!OnlyOn(w.at(id), "a1")) return false;
          if (AliveTimes(output_on(1, id))[1].empty()) return false;
        }
        return true;
      },
      15s))
      << pool->DumpLogs();
  pool->StartAgent(2);
  pool->StartAgent(3);
  ASSERT_TRUE(pool->WaitForNodesReady(3, 20s)) << pool->DumpLogs();

  // Cut a1 off.
  const double cut_at = UnixNow();
  ASSERT_TRUE(pool->hub().SetLink("a1", false));

  // a1 becomes lost within the timeout (and not much before it).
  double lost_at = 0;
  ASSERT_TRUE(WaitUntil(
      [&] {
        const auto nodes = pool->Nodes();
        if (nodes.count("a1") == 0 || nodes.at("a1").value("state", "") != "lost") return false;
        lost_at = UnixNow();
        return true;
      },
      std::chrono::milliseconds(static_cast<int>((kNodeTimeoutS + 10) * 1000))))
      << pool->DumpLogs();
  EXPECT_LE(lost_at - cut_at, kNodeTimeoutS + kSlackS) << "a1 was marked lost too late";
  EXPECT_GE(lost_at - cut_at, kNodeTimeoutS - 1) << "a1 was marked lost too early";

  // Its jobs are assigned again (a new epoch) to the other nodes and run there.
  std::map<std::int64_t, json> moved;
  ASSERT_TRUE(WaitUntil(
      [&] {
        moved = pool->Workloads();
        for (std::int64_t id : ids) {
          const json& w = moved[id];
          const std::string s = w.value("state", "");
          if (w.value("epoch", 0) < 2 || (s != "running" && s != "succeeded")) return false;
          if (BoundNodes(w).count("a1") != 0) return false;
        }
        return true;
      },
      15s))
      << pool->DumpLogs();

  // The cut-off agent stopped them when its lease ran out: "fenced" in its journal, and their
  // output on a1 ends then.
  std::vector<std::string> problems;
  std::vector<WorkloadRun> a1_runs;
  const bool fenced = WaitUntil(
      [&] {
        problems.clear();
        a1_runs = PairRuns(ReadJournal(pool->journal(1), &problems), &problems);
        for (const WorkloadRun& r : a1_runs) {
          if (!r.ended()) return false;
        }
        return a1_runs.size() >= static_cast<std::size_t>(kLongJobs);
      },
      15s);
  EXPECT_TRUE(fenced) << "a1 did not stop its workloads\n" << pool->DumpLogs();
  EXPECT_TRUE(problems.empty()) << Lines(problems);
  // With the link down packets vanish, so a heartbeat blocks until its timeout. The agent must
  // judge its lease by the time after that call (it once used the tick's start and fenced at
  // the second failed heartbeat, ~6 s after the cut, after the controller had moved the jobs);
  // the checks on the jobs' own output below do not depend on the journal's times.
  for (const WorkloadRun& r : a1_runs) {
    EXPECT_EQ(r.why, "fenced") << r.Name();
    EXPECT_LE(r.end - cut_at, kLeaseS + kSlackS)
        << r.Name() << ": the journal says it was fenced " << r.end - cut_at
        << " s after the cut; the lease is " << kLeaseS << " s";
    const std::vector<double> alive = AliveTimes(output_on(1, r.id))[1];
    ASSERT_FALSE(alive.empty());
    const double last = *std::max_element(alive.begin(), alive.end());
    EXPECT_LE(last - cut_at, kLeaseS + kSlackS)
        << r.Name() << " was still printing " << last - cut_at
        << " s after the cut (its own output); the lease is " << kLeaseS << " s";
  }

  // The link returns: a1 is ready again and starts nothing of what it lost.
  ASSERT_TRUE(pool->hub().SetLink("a1", true));
  EXPECT_TRUE(WaitUntil(
      [&] {
        const auto nodes = pool->Nodes();
        return nodes.count("a1") != 0 && nodes.at("a1").value("state", "") == "ready";
      },
      15s))
      << "a1 did not come back\n"
      << pool->DumpLogs();
  std::map<std::int64_t, json> final_state;
  EXPECT_TRUE(WaitUntil(
      [&] {
        final_state = pool->Workloads();
        for (std::int64_t id : ids) {
          if (final_state[id].value("state", "") != "succeeded") return false;
        }
        return true;
      },
      30s))
      << pool->DumpLogs();
  for (std::int64_t id : ids) {
    EXPECT_EQ(final_state[id].value("state", ""), "succeeded") << final_state[id].dump();
    EXPECT_EQ(final_state[id].value("epoch", 0), 2) << final_state[id].dump();
  }

  // From all journals: each job ran twice, epoch 1 on a1 (fenced) and epoch 2 elsewhere (exited
  // 0), never at the same time; no slice double-booked anywhere.
  for (int a = 1; a <= 3; ++a) pool->StopAgent(a);
  problems.clear();
  std::vector<JournalEvent> events;
  for (int a = 1; a <= 3; ++a) {
    const auto e = ReadJournal(pool->journal(a), &problems);
    events.insert(events.end(), e.begin(), e.end());
  }
  const std::vector<WorkloadRun> runs = PairRuns(events, &problems);
  EXPECT_TRUE(problems.empty()) << Lines(problems);
  for (std::int64_t id : ids) {
    std::vector<const WorkloadRun*> list;
    for (const WorkloadRun& r : runs) {
      if (r.id == id) list.push_back(&r);
    }
    ASSERT_EQ(list.size(), 2u) << "workload " << id << " should have run twice (a1, then moved)";
    std::sort(list.begin(), list.end(),
              [](const WorkloadRun* a, const WorkloadRun* b) { return a->epoch < b->epoch; });
    EXPECT_EQ(list[0]->epoch, 1);
    EXPECT_EQ(list[0]->node, "a1");
    EXPECT_EQ(list[0]->why, "fenced");
    EXPECT_EQ(list[1]->epoch, 2);
    EXPECT_NE(list[1]->node, "a1");
    EXPECT_EQ(list[1]->why, "exited 0");

    // The jobs' own output: the last line of epoch 1 comes before the first of epoch 2.
    const int agent = list[1]->node == "a2" ? 2 : 3;
    const std::vector<double> before = AliveTimes(output_on(1, id))[1];
    const std::vector<double> after = AliveTimes(output_on(agent, id))[2];
    ASSERT_FALSE(before.empty());
    ASSERT_FALSE(after.empty());
    EXPECT_LT(*std::max_element(before.begin(), before.end()),
              *std::min_element(after.begin(), after.end()))
        << "workload " << id << " ran on a1 and " << list[1]->node << " at the same time";
  }
  const std::vector<std::string> twice = ConcurrentEpochs(runs);
  EXPECT_TRUE(twice.empty()) << Lines(twice);
  const std::vector<std::string> booked = DoubleBookings(runs);
  EXPECT_TRUE(booked.empty()) << Lines(booked);
  if (HasFailure()) ADD_FAILURE() << pool->DumpLogs();
}

}  // namespace
}  // namespace gpool::test
