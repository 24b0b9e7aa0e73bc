// ProcessRunner with real processes (/bin/sh): logs and exit codes, the clean environment,
// Stop with a grace period (a TERM-trapping process vs one ignoring TERM, and its grandchild),
// a missing binary (127), an unwritable log dir, and the cgroup calls (through a recording fake).
#include "agent/process_runner.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace gpool::agent {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Comm(pid_t pid) {
  std::string s = Slurp("/proc/" + std::to_string(pid) + "/comm");
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// Bounded polling: true once `pred` holds, false if `limit` passes first.
template <typename Pred>
bool Eventually(Pred pred, milliseconds limit = milliseconds(10000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

// Gone, or a zombie nobody has reaped yet (PID 1 of a container may not reap).
bool ProcessDead(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return true;
  std::string line;
  std::getline(in, line);
  const size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}

// Records what the runner asks of the cgroup; reports an OOM kill when told to.
class RecordingCgroups final : public CgroupManager {
 public:
  const char* kind() const override { return "recording"; }
  Status Create(const std::string& id, const CgroupLimits& limits) override {
    created.push_back(id);
    last_limits = limits;
    return Status::Ok();
  }
  Status AddProcess(const std::string& id, pid_t pid) override {
    added.push_back(id);
    added_pid = pid;
    comm_when_added = Comm(pid);  // still the forked agent: it has not exec'd yet
    return fail_add ? Status::Unavailable("cannot write cgroup.procs") : Status::Ok();
  }
  Result<bool> OomKilled(const std::string&) override { return oom; }
  Status Remove(const std::string& id) override {
    removed.push_back(id);
    return Status::Ok();
  }
  std::vector<std::string> GroupPaths(const std::string&) const override { return {}; }

  std::vector<std::string> created, added, removed;
  CgroupLimits last_limits;
  pid_t added_pid = 0;
  std::string comm_when_added;
  bool oom = false;
  bool fail_add = false;
};

class ProcessRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "gpool-runner-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  LaunchSpec Shell(const std::string& id, const std::string& script) {
    LaunchSpec s;
    s.workload_id = id;
    s.argv = {"/bin/sh", "-c", script};
    s.log_dir = dir_.string();
    s.cpu_milli = 1500;
    s.memory_mib = 2048;
    return s;
  }
  ExitReport RunToEnd(const LaunchSpec& spec) {
    auto p = runner_.Start(spec);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    if (!p.ok()) return {};
    auto r = p->Wait(milliseconds(10000));
    EXPECT_TRUE(r.ok() && r->has_value());
    return r.ok() && r->has_value() ? **r : ExitReport{};
  }
  fs::path Log(const std::string& id, const char* ext) { return dir_ / (id + ext); }

  fs::path dir_;
  RecordingCgroups cgroups_;
  ProcessRunner runner_{&cgroups_};
};

TEST_F(ProcessRunnerTest, CapturesStdoutStderrAndExitCode) {
  const ExitReport r = RunToEnd(Shell("w1", "echo out; echo err >&2; exit 3"));
  EXPECT_TRUE(r.exited);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.signal, 0);
  EXPECT_FALSE(r.oom_killed);
  EXPECT_FALSE(r.killed_after_grace);
  EXPECT_LE(r.started_at, r.ended_at);
  EXPECT_EQ(Slurp(Log("w1", ".out")), "out\n");
  EXPECT_EQ(Slurp(Log("w1", ".err")), "err\n");
  struct stat st;
  ASSERT_EQ(::stat(Log("w1", ".out").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  ASSERT_EQ(::stat(Log("w1", ".err").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST_F(ProcessRunnerTest, LogsAreAppendedAcrossRuns) {
  RunToEnd(Shell("w2", "echo first"));
  RunToEnd(Shell("w2", "echo second"));
  EXPECT_EQ(Slurp(Log("w2", ".out")), "first\nsecond\n");
}

TEST_F(ProcessRunnerTest, KilledBySignalReportsTheSignal) {
  const ExitReport r = RunToEnd(Shell("w3", "kill -KILL $$"));
  EXPECT_FALSE(r.exited);
  EXPECT_EQ(r.signal, SIGKILL);
}

TEST_F(ProcessRunnerTest, EnvironmentIsCleanAndCarriesTheGivenVariables) {
  ASSERT_EQ(::setenv("GPOOL_TEST_LEAK", "secret", 1), 0);
  LaunchSpec spec = Shell("w4", "env");
  spec.env = {{"CUDA_VISIBLE_DEVICES", "0,2"}, {"GPOOL_WORKLOAD_ID", "w4"}, {"HOME", "/home/w4"}};
  const ExitReport r = RunToEnd(spec);
  ::unsetenv("GPOOL_TEST_LEAK");
  EXPECT_EQ(r.exit_code, 0);
  const std::string env = Slurp(Log("w4", ".out"));
  EXPECT_NE(env.find("CUDA_VISIBLE_DEVICES=0,2\n"), std::string::npos) << env;
  EXPECT_NE(env.find("GPOOL_WORKLOAD_ID=w4\n"), std::string::npos) << env;
  EXPECT_NE(env.find("HOME=/home/w4\n"), std::string::npos) << env;  // the spec's replaces "/"
  EXPECT_NE(env.find("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"),
            std::string::npos)
      << env;
  EXPECT_EQ(env.find("GPOOL_TEST_LEAK"), std::string::npos) << env;
}

TEST_F(ProcessRunnerTest, WorkingDirectoryAndPathLookup) {
  LaunchSpec spec;
  spec.workload_id = "w5";
  spec.argv = {"pwd"};  // found through the clean PATH
  spec.working_dir = dir_.string();
  spec.log_dir = dir_.string();
  const ExitReport r = RunToEnd(spec);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(Slurp(Log("w5", ".out")), dir_.string() + "\n");
}

TEST_F(ProcessRunnerTest, MissingBinaryExits127WithTheReasonInTheErrLog) {
  for (const char* cmd : {"/nonexistent/gpool-no-such-binary", "gpool-no-such-command"}) {
    LaunchSpec spec = Shell("w6", "");
    spec.argv = {cmd, "--flag"};
    const ExitReport r = RunToEnd(spec);
    EXPECT_TRUE(r.exited) << cmd;
    EXPECT_EQ(r.exit_code, 127) << cmd;
    const std::string err = Slurp(Log("w6", ".err"));
    EXPECT_NE(
        err.find(std::string("gpool: cannot execute '") + cmd + "': No such file or directory\n"),
        std::string::npos)
        << err;
  }
}

TEST_F(ProcessRunnerTest, UnwritableLogDirIsAStartError) {
  LaunchSpec spec = Shell("w7", "exit 0");
  spec.log_dir = (dir_ / "missing" / "logs").string();
  auto p = runner_.Start(spec);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(p.status().message().find(spec.log_dir + "/w7.out"), std::string::npos)
      << p.status().message();
  EXPECT_TRUE(cgroups_.created.empty());  // nothing was started
}

TEST_F(ProcessRunnerTest, InvalidSpecsAreRejected) {
  LaunchSpec empty = Shell("w8", "");
  empty.argv.clear();
  LaunchSpec bad_id = Shell("../w8", "exit 0");
  LaunchSpec bad_dir = Shell("w8", "exit 0");
  bad_dir.working_dir = (dir_ / "nope").string();
  for (const LaunchSpec& s : {empty, bad_id, bad_dir}) {
    auto p = runner_.Start(s);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument) << p.status().ToString();
  }
}

TEST_F(ProcessRunnerTest, JoinsTheCgroupBeforeExecAndRemovesItAfterwards) {
  const ExitReport r = RunToEnd(Shell("w9", "exit 0"));
  EXPECT_EQ(cgroups_.created, std::vector<std::string>{"w9"});
  EXPECT_EQ(cgroups_.last_limits.cpu_milli, 1500);
  EXPECT_EQ(cgroups_.last_limits.memory_mib, 2048);
  EXPECT_EQ(cgroups_.added, std::vector<std::string>{"w9"});
  // When the pid was added the child was still a copy of this test binary, not yet /bin/sh.
  EXPECT_EQ(cgroups_.comm_when_added, Comm(::getpid()));
  EXPECT_EQ(cgroups_.removed, std::vector<std::string>{"w9"});
  EXPECT_EQ(r.exit_code, 0);
}

TEST_F(ProcessRunnerTest, OomKillIsReported) {
  cgroups_.oom = true;
  const ExitReport r = RunToEnd(Shell("w10", "kill -KILL $$"));
  EXPECT_TRUE(r.oom_killed);
  EXPECT_EQ(r.signal, SIGKILL);
}

TEST_F(ProcessRunnerTest, CgroupJoinFailureIsAStartErrorAndLeavesNothingRunning) {
  cgroups_.fail_add = true;
  auto p = runner_.Start(Shell("w11", "echo should-not-run"));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(ProcessDead(cgroups_.added_pid));
  EXPECT_EQ(cgroups_.removed, std::vector<std::string>{"w11"});
  EXPECT_EQ(Slurp(Log("w11", ".out")), "");
}

TEST_F(ProcessRunnerTest, WaitTimesOutWhileRunning) {
  auto p = runner_.Start(Shell("w12", "exec sleep 30"));
  ASSERT_TRUE(p.ok());
  auto r = p->Wait(milliseconds(50));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  auto stopped = p->Stop(milliseconds(5000));
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->signal, SIGTERM);  // sleep dies of the TERM
  EXPECT_FALSE(stopped->killed_after_grace);
}

TEST_F(ProcessRunnerTest, StopLetsATermTrappingProcessExitCleanly) {
  auto p =
      runner_.Start(Shell("w13", "trap 'echo got-term; exit 0' TERM; echo ready; sleep 30 & wait"));
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(Eventually([&] { return Slurp(Log("w13", ".out")) == "ready\n"; }));
  auto r = p->Stop(milliseconds(10000));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->exited);
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_FALSE(r->killed_after_grace);
  EXPECT_EQ(Slurp(Log("w13", ".out")), "ready\ngot-term\n");
  // A second Stop (or Poll) returns the same report.
  auto again = p->Stop(milliseconds(0));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->exit_code, 0);
}

TEST_F(ProcessRunnerTest, StopKillsAProcessIgnoringTermAndItsGrandchildAfterTheGrace) {
  const fs::path pidfile = dir_ / "grandchild.pid";
  auto p = runner_.Start(Shell(
      "w14", "trap '' TERM; sleep 30 & echo $! > " + pidfile.string() + "; echo ready; wait"));
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(Eventually([&] { return Slurp(Log("w14", ".out")) == "ready\n"; }));
  const pid_t grandchild = std::stoi(Slurp(pidfile));
  ASSERT_FALSE(ProcessDead(grandchild));
  const milliseconds grace(300);
  const auto before = std::chrono::steady_clock::now();
  auto r = p->Stop(grace);
  const auto took = std::chrono::steady_clock::now() - before;
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->exited);
  EXPECT_EQ(r->signal, SIGKILL);
  EXPECT_TRUE(r->killed_after_grace);
  EXPECT_GE(took, grace);
  // The grandchild is in the same process group: the SIGKILL reached it too.
  EXPECT_TRUE(Eventually([&] { return ProcessDead(grandchild); }));
}

TEST_F(ProcessRunnerTest, DestroyingARunningHandleKillsItsGroup) {
  const fs::path pidfile = dir_ / "gc.pid";
  pid_t leader = 0;
  {
    auto p = runner_.Start(Shell("w15", "sleep 30 & echo $! > " + pidfile.string() + "; wait"));
    ASSERT_TRUE(p.ok());
    leader = p->pid();
    ASSERT_TRUE(Eventually([&] { return !Slurp(pidfile).empty(); }));
  }
  EXPECT_TRUE(ProcessDead(leader));
  const pid_t grandchild = std::stoi(Slurp(pidfile));
  EXPECT_TRUE(Eventually([&] { return ProcessDead(grandchild); }));
  EXPECT_EQ(cgroups_.removed, std::vector<std::string>{"w15"});
}

}  // namespace
}  // namespace gpool::agent
