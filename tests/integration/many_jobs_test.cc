// Acceptance test A: a controller and three agents, each in its own network namespace with its
// own address; 300 jobs of mixed shapes from three tenants; every job runs exactly once and
// finishes; no GPU slice is ever double-booked, as the agents' own journals record it.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "journal.h"
#include "test_pool.h"

namespace gpool::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr int kJobs = 300;
const char* const kTenants[] = {"vision", "audio", "robotics"};

// Job i of tenant i % 3. Its shape cycles through 20 kinds (by i / 3, so each tenant gets every
// kind): whole GPUs (1, 2, 4, 8), MIG instances of five profiles, shares with and without a
// memory limit, CPU-only jobs and gangs (2 x 1 GPU, 3 x CPU-only). Commands are short.
json JobSpec(int i) {
  json spec = {{"name", "job-" + std::to_string(i)},
               {"tenant", kTenants[i % 3]},
               {"command", json::array({"sleep", "0.2"})}};
  spec["priority"] = i % 7 == 0 ? "production" : i % 7 == 3 ? "opportunistic" : "standard";
  json res = {{"cpu", 1}, {"memory", "1Gi"}};
  switch ((i / 3) % 20) {
    case 0:
    case 1:
      res["gpus"] = 1;
      break;
    case 2:
      res["gpus"] = 2;
      break;
    case 3:
      res["gpus"] = json{{"count", 4}};
      break;
    case 4:
    case 5:
      res["gpus"] = json{{"mig", "1g"}};
      break;
    case 6:
      res["gpus"] = json{{"mig", "3g.40gb"}};
      break;
    case 7:
      res["gpus"] = json{{"mig", "2g"}, {"count", 2}};
      break;
    case 8:
    case 9:
      res["gpus"] = json{{"share", {{"compute", 0.25}, {"memory", "10Gi"}}}};
      break;
    case 10:
      res["gpus"] = json{{"share", {{"compute", "500m"}}}};
      break;
    case 11:
      res["gpus"] = json{{"share", {{"compute", 0.75}}}};
      break;
    case 12:
    case 13:
      res = {{"cpu", "500m"}, {"memory", "512Mi"}};
      spec["command"] = "true";  // a string: run by /bin/sh -c
      break;
    case 14:
      res["gpus"] = 1;
      spec["gang"] = 2;
      break;
    case 15:
      res = {{"cpu", 0.5}, {"memory", "256Mi"}};
      spec["gang"] = 3;
      break;
    case 16:
      res["gpus"] = json{{"count", 8}, {"model", "H100-80GB"}};
      break;
    case 17:
      res["gpus"] = json{{"mig", "7g"}};
      break;
    case 18:
      res["gpus"] = json{{"mig", "4g"}};
      break;
    default:
      res["gpus"] = json{{"mig", "1g-double"}};
      break;
  }
  spec["resources"] = res;
  return spec;
}

// The slices a workload record binds on `node` (all gang members there), in binding order.
json SlicesOn(const json& workload, const std::string& node) {
  json out = json::array();
  for (const json& b : workload.value("bindings", json::array())) {
    if (b.value("node", "") != node) continue;
    for (const json& s : b.value("slices", json::array())) out.push_back(s);
  }
  return out;
}

TEST(PoolIntegration, ThreeHundredMixedJobsRunExactlyOnceWithoutDoubleBooking) {
  PoolOptions options;
  options.subnet = 1;
  options.agents = 3;
  std::string why;
  auto pool = TestPool::Create(options, &why);
  if (pool == nullptr) GTEST_SKIP() << why;
  std::string error;
  ASSERT_TRUE(pool->StartServer(&error)) << error;
  std::map<std::string, std::string> tokens;
  for (const char* t : kTenants) {
    tokens[t] = pool->CreateTenant(t, 8, 16, &error);
    ASSERT_FALSE(tokens[t].empty()) << error;
  }
  for (int i = 1; i <= 3; ++i) pool->StartAgent(i);
  ASSERT_TRUE(pool->WaitForNodesReady(3, 20s)) << pool->DumpLogs();

  // Submit all 300 from inside the controller's namespace, each with its tenant's token, while
  // the agents already run the first ones.
  struct Submitted {
    int status = 0;
    std::int64_t id = 0;
    std::string detail;
  };
  const std::vector<Submitted> submitted = pool->InController<std::vector<Submitted>>([&] {
    std::vector<PoolClient> clients;
    for (const char* t : kTenants) clients.emplace_back(pool->url(), tokens[t]);
    std::vector<Submitted> out;
    for (int i = 0; i < kJobs; ++i) {
      const HttpReply r =
          clients[static_cast<std::size_t>(i % 3)].Post("/v1/workloads", JobSpec(i));
      Submitted s{r.status, 0, r.error + " " + r.body.dump()};
      if (r.status == 201) s.id = r.body.value("id", std::int64_t{0});
      out.push_back(s);
    }
    return out;
  });
  ASSERT_EQ(submitted.size(), static_cast<std::size_t>(kJobs));
  std::map<std::int64_t, int> job_of_id;
  for (int i = 0; i < kJobs; ++i) {
    ASSERT_EQ(submitted[static_cast<std::size_t>(i)].status, 201)
        << "job " << i << ": " << submitted[static_cast<std::size_t>(i)].detail;
    job_of_id[submitted[static_cast<std::size_t>(i)].id] = i;
  }
  ASSERT_EQ(job_of_id.size(), static_cast<std::size_t>(kJobs)) << "ids are not distinct";

  // Every job reaches a final state (bounded).
  std::map<std::int64_t, json> final_state;
  const bool finished = WaitUntil(
      [&] {
        final_state = pool->Workloads();
        if (final_state.size() < static_cast<std::size_t>(kJobs)) return false;
        for (const auto& [id, w] : final_state) {
          const std::string s = w.value("state", "");
          if (s == "pending" || s == "assigned" || s == "running") return false;
        }
        return true;
      },
      150s, 250ms);
  std::map<std::string, int> by_state;
  for (const auto& [id, w] : final_state) ++by_state[w.value("state", "")];
  std::string states;
  for (const auto& [s, n] : by_state) states += s + "=" + std::to_string(n) + " ";
  ASSERT_TRUE(finished) << "not all jobs finished in time: " << states << "\n" << pool->DumpLogs();
  for (const auto& [id, i] : job_of_id) {
    ASSERT_EQ(final_state.count(id), 1u) << "workload " << id << " (job " << i << ") is missing";
    const json& w = final_state[id];
    EXPECT_EQ(w.value("state", ""), "succeeded") << w.dump();
    EXPECT_EQ(w.value("tenant", ""), kTenants[i % 3]) << w.dump();
    EXPECT_EQ(w.value("epoch", 0), 1) << "re-assigned although no node was lost: " << w.dump();
  }

  // Each start in the journals has its end once the agents have reported (bounded wait), then the
  // agents stop.
  std::vector<std::string> problems;
  std::vector<WorkloadRun> runs;
  WaitUntil(
      [&] {
        problems.clear();
        std::vector<JournalEvent> events;
        for (int a = 1; a <= 3; ++a) {
          const auto e = ReadJournal(pool->journal(a), &problems);
          events.insert(events.end(), e.begin(), e.end());
        }
        runs = PairRuns(events, &problems);
        for (const WorkloadRun& r : runs) {
          if (!r.ended()) return false;
        }
        return true;
      },
      10s, 100ms);
  for (int a = 1; a <= 3; ++a) pool->StopAgent(a);
  EXPECT_TRUE(problems.empty()) << Lines(problems);

  // Exactly once: every job started on each node it was bound to, once, with its one epoch, and
  // exited 0 (a gang spread over nodes too: each node's member runs to its end, gang_test.cc);
  // nothing else started.
  std::map<std::int64_t, std::vector<const WorkloadRun*>> runs_of;
  for (const WorkloadRun& r : runs) runs_of[r.id].push_back(&r);
  for (const auto& [id, list] : runs_of) {
    EXPECT_EQ(job_of_id.count(id), 1u) << "the journals show unknown workload " << id;
  }
  for (const auto& [id, i] : job_of_id) {
    const json& w = final_state[id];
    const auto& list = runs_of[id];
    std::set<std::string> nodes;
    for (const WorkloadRun* r : list) {
      EXPECT_TRUE(nodes.insert(r->node).second) << r->Name() << " started twice on its node";
      EXPECT_EQ(r->epoch, w.value("epoch", 0)) << r->Name();
      EXPECT_EQ(r->why, "exited 0") << r->Name() << " spec " << JobSpec(i).dump();
      EXPECT_EQ(r->slices, SlicesOn(w, r->node))
          << r->Name() << ": the journal's slices differ from the binding";
    }
    EXPECT_EQ(nodes, BoundNodes(w)) << "workload " << id << " (job " << i << ", "
                                    << JobSpec(i).dump() << ") did not run on each of its nodes";
  }

  std::map<std::string, int> runs_per_node;
  for (const WorkloadRun& r : runs) ++runs_per_node[r.node];
  int multi_node = 0;
  for (const auto& [id, list] : runs_of) multi_node += list.size() > 1 ? 1 : 0;
  std::printf("[          ] %zu runs: a1 %d, a2 %d, a3 %d; %d gang jobs over several nodes\n",
              runs.size(), runs_per_node["a1"], runs_per_node["a2"], runs_per_node["a3"],
              multi_node);

  // No slice double-booked, nothing run twice at once.
  const std::vector<std::string> booked = DoubleBookings(runs);
  EXPECT_TRUE(booked.empty()) << Lines(booked);
  const std::vector<std::string> twice = ConcurrentEpochs(runs);
  EXPECT_TRUE(twice.empty()) << Lines(twice);
  if (HasFailure()) ADD_FAILURE() << pool->DumpLogs();
}

}  // namespace
}  // namespace gpool::test
