// Agent::Tick against a recording fake control plane, running real processes (no cgroups).
#include "agent/agent.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace gpool::agent {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

class FakeControlPlane : public ControlPlane {
 public:
  Status Register(const NodeInfo& node) override {
    registered.push_back(node.name);
    return Status();
  }
  Result<HeartbeatReply> Heartbeat(const std::string&) override {
    if (!reachable) return Status::Unavailable("link down");
    return HeartbeatReply{assignments, stop};
  }
  Status Report(std::int64_t id, int epoch, const std::string& state, int exit_code,
                const std::string&) override {
    if (reports_fail) return Status::Unavailable("controller down");
    reports.push_back(std::to_string(id) + "@" + std::to_string(epoch) + ":" + state + ":" +
                      std::to_string(exit_code));
    if (cancelled.count(id) != 0) return Status::Conflict("cancelled; stop it");
    return Status();
  }
  Result<std::int64_t> AppendLog(std::int64_t id, int epoch, const std::string& stream,
                                 std::int64_t offset, const std::string& data) override {
    if (!reachable) return Status::Unavailable("link down");
    std::string& log = logs[std::to_string(id) + "@" + std::to_string(epoch) + "." + stream];
    if (offset == static_cast<std::int64_t>(log.size())) log += data;
    return static_cast<std::int64_t>(log.size());
  }
  bool reachable = true;
  bool reports_fail = false;
  std::map<std::string, std::string> logs;  // "<id>@<epoch>.<stream>" -> what was shipped
  std::vector<Assignment> assignments;
  std::vector<StopOrder> stop;
  std::set<std::int64_t> cancelled;
  std::vector<std::string> registered;
  std::vector<std::string> reports;
};

Assignment Job(std::int64_t id, const std::string& shell, json slices = json::array()) {
  Assignment a;
  a.id = id;
  a.epoch = 1;
  a.spec = {{"command", {"/bin/sh", "-c", shell}}, {"env", {{"MY_VAR", "x"}}}};
  a.bindings = json::array(
      {{{"node", "n1"}, {"cpu_milli", 1000}, {"memory_mib", 1024}, {"slices", slices}}});
  return a;
}

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("gpool-agent-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    AgentConfig c;
    c.node = {"n1", 8000, 16384, 2, "H100-80GB", true};
    c.log_dir = dir_.string();
    c.lease_s = 30;
    c.stop_grace_s = 0.2;
    c.journal_path = (dir_ / "journal.jsonl").string();
    agent_ = std::make_unique<Agent>(c, control_, runner_);
    ASSERT_TRUE(agent_->Start().ok());
  }
  void TearDown() override {
    agent_.reset();
    fs::remove_all(dir_);
  }
  // Ticks until `pred` holds or 10 s pass (bounded polling).
  template <typename Pred>
  bool TickUntil(Pred pred, double now = 0) {
    for (int i = 0; i < 500; ++i) {
      agent_->Tick(now);
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  std::string Log(const std::string& name) {
    std::ifstream in(dir_ / name);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  fs::path dir_;
  FakeControlPlane control_;
  NoCgroup cgroups_{"test: no cgroups"};
  ProcessRunner runner_{&cgroups_};
  std::unique_ptr<Agent> agent_;
};

TEST_F(AgentTest, RunsAnAssignmentWithItsSliceEnvironmentAndReportsTheExit) {
  const json slices = json::array({{{"kind", "whole"}, {"device", 0}, {"milli", 1000}},
                                   {{"kind", "whole"}, {"device", 1}, {"milli", 1000}}});
  control_.assignments = {
      Job(7, "echo $GPOOL_SLICE $CUDA_VISIBLE_DEVICES $GPOOL_SIMULATED $MY_VAR; exit 3", slices)};
  EXPECT_EQ(control_.registered, std::vector<std::string>{"n1"});
  ASSERT_TRUE(TickUntil([&] { return control_.reports.size() >= 2; }));
  EXPECT_EQ(control_.reports[0], "7@1:running:0");
  EXPECT_EQ(control_.reports[1], "7@1:failed:3");
  EXPECT_EQ(Log("7.out"), "whole#0,whole#1 0,1 1 x\n");
  // The whole output was shipped before the exit was reported.
  EXPECT_EQ(control_.logs["7@1.stdout"], "whole#0,whole#1 0,1 1 x\n");
  // Finished work is not started again while the controller still lists it (epoch unchanged).
  control_.assignments.clear();
  agent_->Tick(1);
  EXPECT_EQ(control_.reports.size(), 2u);
}

TEST_F(AgentTest, StopsWorkNoLongerAssignedAndFencesWithoutHeartbeats) {
  control_.assignments = {Job(1, "sleep 30"), Job(2, "sleep 30")};
  agent_->Tick(0);
  EXPECT_EQ(agent_->running(), 2u);
  // Workload 1 is cancelled (gone from the heartbeat): stopped; 2 keeps running.
  control_.assignments = {Job(2, "sleep 30")};
  agent_->Tick(1);
  EXPECT_EQ(agent_->running(), 1u);
  // The link goes down: within the lease nothing happens; past it, everything stops.
  control_.reachable = false;
  agent_->Tick(20);
  EXPECT_EQ(agent_->running(), 1u);
  EXPECT_FALSE(agent_->fenced());
  agent_->Tick(32);
  EXPECT_EQ(agent_->running(), 0u);
  EXPECT_TRUE(agent_->fenced());
  // Back online, the controller has moved 2 elsewhere: nothing restarts here.
  control_.reachable = true;
  control_.assignments.clear();
  agent_->Tick(40);
  EXPECT_FALSE(agent_->fenced());
  EXPECT_EQ(agent_->running(), 0u);
  // The journal holds each start and each end, with the agent's time and the reason.
  std::vector<std::string> lines;
  std::istringstream journal(Log("journal.jsonl"));
  for (std::string line; std::getline(journal, line);) {
    const json j = json::parse(line);
    lines.push_back(j["event"].get<std::string>() + " " + std::to_string(j["id"].get<int>()) +
                    " " + std::to_string(j["t"].get<double>()).substr(0, 2) + " " +
                    j.value("why", std::string()));
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"start 1 0. ", "start 2 0. ",
                                             "end 1 1. stopped: no longer assigned here",
                                             "end 2 32 fenced"}));
}

TEST_F(AgentTest, AStopOrderStopsTheProcessThenConfirms) {
  control_.assignments = {Job(3, "sleep 30")};
  agent_->Tick(0);
  ASSERT_EQ(agent_->running(), 1u);
  // Cancelled: gone from the assignments, and a stop order for it (and one for a workload this
  // agent never started, which it confirms at once).
  control_.assignments.clear();
  control_.stop = {{3, 1}, {9, 4}};
  agent_->Tick(1);
  EXPECT_EQ(agent_->running(), 0u);
  EXPECT_EQ(control_.reports,
            (std::vector<std::string>{"3@1:running:0", "3@1:stopped:0", "9@4:stopped:0"}));
}

TEST_F(AgentTest, ShipsEachRunsOwnOutputAndResumesWhereTheControllerIs) {
  // A first run (epoch 1) writes "one"; the same workload runs again here with epoch 2 and
  // writes "two": the local file holds both, each epoch's log only its own run's output.
  control_.assignments = {Job(4, "echo one; echo oops >&2")};
  ASSERT_TRUE(TickUntil([&] { return control_.reports.size() >= 2; }));
  control_.assignments = {Job(4, "echo two")};
  control_.assignments[0].epoch = 2;
  // The controller already has "tw" of run 2 (an answer lost on the way): the agent resumes.
  control_.logs["4@2.stdout"] = "tw";
  ASSERT_TRUE(TickUntil([&] { return control_.reports.size() >= 4; }, 1));
  EXPECT_EQ(Log("4.out"), "one\ntwo\n");
  EXPECT_EQ(control_.logs["4@1.stdout"], "one\n");
  EXPECT_EQ(control_.logs["4@1.stderr"], "oops\n");
  EXPECT_EQ(control_.logs["4@2.stdout"], "two\n");
}

TEST_F(AgentTest, AFinalReportTheControllerMissedIsSentAgainAndTheRunIsNotRepeated) {
  // (It sleeps first, so that the first tick sees it start but not end.)
  control_.assignments = {Job(6, "sleep 0.3; echo once >> " + (dir_ / "runs").string())};
  agent_->Tick(0);
  ASSERT_EQ(control_.reports, std::vector<std::string>{"6@1:running:0"});
  // The controller goes down as the job ends: its `succeeded` is lost, and the heartbeat (the
  // controller is back, with the old state) still lists the job. The agent does not run it
  // again; it reports again until the report is taken.
  control_.reports_fail = true;
  ASSERT_TRUE(TickUntil([&] { return agent_->running() == 0; }));
  control_.reports_fail = false;
  agent_->Tick(1);
  agent_->Tick(2);
  EXPECT_EQ(Log("runs"), "once\n");
  EXPECT_EQ(control_.reports, (std::vector<std::string>{"6@1:running:0", "6@1:succeeded:0"}));
}

TEST_F(AgentTest, FencesByTheTimeAfterAHeartbeatThatBlocked) {
  // The clock moves 5 s during the failed heartbeat (a cut link: the call waits for its
  // timeout). The tick started at 26 s, within the 30 s lease, but it fences: it is 31 s now.
  double wall = 0;
  AgentConfig c;
  c.node = {"n2", 8000, 16384, 1, "H100-80GB", true};
  c.log_dir = dir_.string();
  c.lease_s = 30;
  c.stop_grace_s = 0.2;
  c.clock = [&] { return wall; };
  Agent agent(c, control_, runner_);
  control_.assignments = {Job(8, "sleep 30")};
  agent.Tick(0);
  ASSERT_EQ(agent.running(), 1u);
  control_.reachable = false;
  wall = 31;
  agent.Tick(26);
  EXPECT_TRUE(agent.fenced());
  EXPECT_EQ(agent.running(), 0u);
}

TEST_F(AgentTest, ARestartedAgentKillsWhatItsPredecessorLeftRunningAndReportsItFailed) {
  // What an agent that died leaves behind: workload 12's process, in its own session with the
  // workload's environment, and a journal that says it started and never ended.
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::setsid();
    char* const argv[] = {const_cast<char*>("/bin/sleep"), const_cast<char*>("30"), nullptr};
    char* const envp[] = {const_cast<char*>("GPOOL_WORKLOAD_ID=12"),
                          const_cast<char*>("GPOOL_EPOCH=1"), nullptr};
    ::execve("/bin/sleep", argv, envp);
    ::_exit(127);
  }
  // Wait (bounded) until the child has exec'd: before that its environment is a copy of ours,
  // and a restarted agent rightly refuses to kill what it cannot recognise.
  bool execd = false;
  for (int i = 0; i < 500 && !execd; ++i) {
    std::ifstream env("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
    const std::string e((std::istreambuf_iterator<char>(env)), std::istreambuf_iterator<char>());
    execd = e.find("GPOOL_WORKLOAD_ID=12") != std::string::npos;
    if (!execd) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(execd);
  const std::string journal = (dir_ / "journal.jsonl").string();
  std::ofstream(journal, std::ios::app)
      << json{{"event", "start"}, {"id", 12}, {"epoch", 1}, {"node", "n1"}, {"t", 0.0},
              {"slices", json::array()}, {"pid", pid}}.dump()
      << "\n"
      << json{{"event", "start"}, {"id", 13}, {"epoch", 1}, {"node", "n1"}, {"t", 0.0},
              {"slices", json::array()}, {"pid", ::getpid()}}.dump()  // not a run: never killed
      << "\n";
  AgentConfig c;
  c.node = {"n1", 8000, 16384, 2, "H100-80GB", true};
  c.log_dir = dir_.string();
  c.journal_path = journal;
  agent_ = std::make_unique<Agent>(c, control_, runner_);
  ASSERT_TRUE(agent_->Start().ok());
  // The orphan is killed; this test process (pid of "run" 13, whose environment is not that
  // run's) is not. Neither is started again; both are reported failed.
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status));
  control_.assignments = {Job(12, "sleep 30")};
  agent_->Tick(1);
  EXPECT_EQ(agent_->running(), 0u);
  EXPECT_EQ(control_.reports,
            (std::vector<std::string>{"12@1:failed:-1", "13@1:failed:-1"}));
  EXPECT_NE(Log("journal.jsonl").find("agent restarted"), std::string::npos);
}

TEST_F(AgentTest, ANewEpochRestartsTheWorkload) {
  control_.assignments = {Job(5, "sleep 30")};
  agent_->Tick(0);
  ASSERT_EQ(agent_->running(), 1u);
  control_.assignments[0].epoch = 2;  // re-assigned here after a move
  agent_->Tick(1);
  EXPECT_EQ(agent_->running(), 1u);
  EXPECT_EQ(control_.reports.back(), "5@2:running:0");
}

}  // namespace
}  // namespace gpool::agent
