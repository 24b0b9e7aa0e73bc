// Acceptance test B: the controller is killed with SIGKILL at random moments during submissions
// (at least 20 kills, restarted each time on the same data directory): no acknowledged submission
// is lost, no job runs twice, the pool converges.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "journal.h"
#include "test_pool.h"

namespace gpool::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr int kKills = 22;
constexpr std::uint32_t kSeed = 20240611;

// Submission n: a CPU-only `true`, or one whole GPU for 0.1 s, alternating.
json CrashJob(int n) {
  json spec = {{"name", "crash-" + std::to_string(n)}};
  if (n % 2 == 0) {
    spec["command"] = "true";
    spec["resources"] = {{"cpu", "100m"}, {"memory", "64Mi"}};
  } else {
    spec["command"] = json::array({"sleep", "0.1"});
    spec["resources"] = {{"cpu", "100m"}, {"memory", "64Mi"}, {"gpus", 1}};
  }
  return spec;
}

TEST(PoolIntegration, ControllerKilledDuringSubmissionsLosesNothingAndRunsNothingTwice) {
  PoolOptions options;
  options.subnet = 2;
  options.agents = 1;
  // Long: no node may be declared lost while the controller is down, so a second run of a job
  // (same or any epoch) can only come from a lost acknowledgement, which is what is checked.
  options.node_timeout_s = 60;
  options.lease_s = 60;
  std::string why;
  auto pool = TestPool::Create(options, &why);
  if (pool == nullptr) GTEST_SKIP() << why;
  std::string error;
  ASSERT_TRUE(pool->StartServer(&error)) << error;
  const std::string token = pool->CreateTenant("crash", 8, 0, &error);
  ASSERT_FALSE(token.empty()) << error;
  pool->StartAgent(1);
  ASSERT_TRUE(pool->WaitForNodesReady(1, 20s)) << pool->DumpLogs();

  // The submitter: one job after another from inside the controller's namespace, recording which
  // got 201 (acknowledged, with the id) and which got no answer or an error.
  std::mutex mu;
  std::map<int, std::int64_t> acknowledged;  // submission n -> id
  std::map<int, std::string> unanswered;     // submission n -> what happened
  std::atomic<bool> stop{false};
  std::atomic<int> submitted{0};
  std::thread submitter([&] {
    if (!EnterNetns(pool->controller_netns())) return;
    for (int n = 0; !stop.load(); ++n) {
      PoolClient client(pool->url(), token, 2.0);
      const HttpReply r = client.Post("/v1/workloads", CrashJob(n));
      submitted.store(n + 1);
      std::lock_guard<std::mutex> lock(mu);
      if (r.status == 201) {
        acknowledged[n] = r.body.value("id", std::int64_t{0});
      } else {
        unanswered[n] = r.status == 0 ? r.error : std::to_string(r.status) + " " + r.body.dump();
        std::this_thread::sleep_for(10ms);  // the server is down: do not spin
      }
      std::this_thread::sleep_for(15ms);
    }
  });
  struct StopAndJoin {  // also when an assertion below returns early
    std::atomic<bool>& stop;
    std::thread& thread;
    ~StopAndJoin() {
      stop.store(true);
      if (thread.joinable()) thread.join();
    }
  } stop_submitter{stop, submitter};

  // The killer: SIGKILL at a random moment 50-400 ms after the server is up, restart at once.
  std::mt19937 rng(kSeed);
  std::uniform_int_distribution<int> pause_ms(50, 400);
  int kills = 0;
  for (int k = 0; k < kKills; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(rng)));
    pool->server().Signal(SIGKILL);
    ASSERT_TRUE(pool->server().WaitExit(10s)) << "the server did not die of SIGKILL";
    ++kills;
    ASSERT_TRUE(pool->StartServer(&error)) << "restart " << kills << " failed: " << error;
  }
  std::this_thread::sleep_for(300ms);  // a few submissions to the last server
  stop.store(true);
  submitter.join();
  EXPECT_GE(kills, 20);
  std::printf("[          ] %d kills, %d submissions: %zu acknowledged, %zu unanswered\n", kills,
              submitted.load(), acknowledged.size(), unanswered.size());
  ASSERT_GE(acknowledged.size(), 20u) << "too few submissions got through to test anything";

  // Convergence: nothing pending, assigned or running after a bounded wait.
  std::map<std::int64_t, json> workloads;
  const bool converged = WaitUntil(
      [&] {
        workloads = pool->Workloads();
        if (workloads.empty()) return false;
        for (const auto& [id, w] : workloads) {
          const std::string s = w.value("state", "");
          if (s == "pending" || s == "assigned" || s == "running") return false;
        }
        return true;
      },
      60s, 250ms);
  std::map<std::string, int> by_state;
  for (const auto& [id, w] : workloads) ++by_state[w.value("state", "")];
  std::string states;
  for (const auto& [s, n] : by_state) states += s + "=" + std::to_string(n) + " ";
  EXPECT_TRUE(converged) << "the pool did not converge: " << states << "\n" << pool->DumpLogs();

  // No acknowledged submission lost: each id exists, is that submission, and succeeded. Every
  // submission exists at most once (names are unique per submission).
  std::map<std::string, int> name_count;
  for (const auto& [id, w] : workloads) ++name_count[w["spec"].value("name", "")];
  for (const auto& [name, count] : name_count) {
    EXPECT_EQ(count, 1) << name << " exists " << count << " times";
  }
  for (const auto& [n, id] : acknowledged) {
    ASSERT_EQ(workloads.count(id), 1u)
        << "acknowledged submission " << n << " (id " << id << ") is lost";
    const json& w = workloads[id];
    EXPECT_EQ(w["spec"].value("name", ""), "crash-" + std::to_string(n)) << w.dump();
    EXPECT_EQ(w.value("state", ""), "succeeded") << w.dump();
  }
  for (const auto& [id, w] : workloads) {
    EXPECT_EQ(w.value("state", ""), "succeeded") << w.dump();
    EXPECT_EQ(w.value("epoch", 0), 1) << "re-assigned: " << w.dump();
  }

  // No job ran twice: the agent's journal has one run per workload, and one for each that
  // succeeded.
  std::vector<std::string> problems;
  std::vector<WorkloadRun> runs;
  WaitUntil(
      [&] {
        problems.clear();
        runs = PairRuns(ReadJournal(pool->journal(1), &problems), &problems);
        for (const WorkloadRun& r : runs) {
          if (!r.ended()) return false;
        }
        return true;
      },
      5s, 100ms);
  pool->StopAgent(1);
  EXPECT_TRUE(problems.empty()) << Lines(problems);
  std::map<std::int64_t, std::vector<const WorkloadRun*>> runs_of;
  for (const WorkloadRun& r : runs) runs_of[r.id].push_back(&r);
  std::vector<std::string> twice;
  for (const auto& [id, list] : runs_of) {
    if (list.size() > 1) {
      std::string text =
          "workload " + std::to_string(id) + " ran " + std::to_string(list.size()) + " times:";
      for (const WorkloadRun* r : list) {
        text += " [epoch " + std::to_string(r->epoch) + " " + TimeText(r->start) + ".." +
                TimeText(r->end) + " " + r->why + "]";
      }
      twice.push_back(text);
    }
  }
  // A `succeeded` report that finds the controller down must be sent again, and the run never
  // restarted meanwhile (once, the agent dropped it and started the job again with the same
  // epoch: 31-55 of ~340 jobs ran twice).
  EXPECT_TRUE(twice.empty()) << twice.size() << " job(s) ran more than once:\n" << Lines(twice);
  for (const auto& [id, w] : workloads) {
    EXPECT_EQ(runs_of.count(id), 1u) << "workload " << id << " never ran: " << w.dump();
  }
  const std::vector<std::string> booked = DoubleBookings(runs);
  EXPECT_TRUE(booked.empty()) << Lines(booked);
  if (HasFailure()) ADD_FAILURE() << pool->DumpLogs();
}

}  // namespace
}  // namespace gpool::test
