// ProcessRunner: starts a workload's command as a process in its own cgroup and session, and
// RunningProcess: the handle that waits for it, stops it and reports how it ended.
//
// What Start guarantees for the child:
//  - a clean environment: PATH and HOME from ProcessRunnerOptions, then LaunchSpec::env in order
//    (a later entry replaces an earlier one of the same name, including PATH and HOME); nothing
//    from the agent's own environment leaks through.
//  - argv[0] without a '/' is looked up in that clean PATH (not the agent's).
//  - stdin is /dev/null; stdout and stderr are appended to <log_dir>/<workload_id>.out and .err
//    (created with mode 0640).
//  - its own session and process group (setsid), so Stop signals the whole tree.
//  - it is in the workload's cgroup before it executes the command: the child waits on a pipe
//    until the agent has written its pid to the group (a pipe handshake), then calls execve.
//  - signal dispositions and mask reset to the defaults, descriptors above 2 closed.
// A command that cannot be executed is the workload's failure, as in a shell: Start succeeds, the
// reason goes to the .err log and the exit code is 127 (not found) or 126 (found, not executable).
// A log file that cannot be opened, or a cgroup that cannot be made, is the agent's failure:
// Start returns Unavailable naming the path and nothing is left running.
//
// Times come from the clock in ProcessRunnerOptions (steady_clock by default).
//
// Thread safety: ProcessRunner::Start may be called from any thread. A RunningProcess belongs to
// one thread at a time. Nothing here installs a SIGCHLD handler; the agent must not set SIGCHLD
// to SIG_IGN (the exit status would be lost).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/cgroup.h"
#include "core/status.h"
#include "core/workload.h"

namespace gpool::agent {

using SteadyTime = std::chrono::steady_clock::time_point;

struct LaunchSpec {
  std::string workload_id;        // a path component: names the logs and the cgroup
  std::vector<std::string> argv;  // REQUIRES non-empty
  std::vector<std::pair<std::string, std::string>> env;  // GPOOL_*, CUDA_VISIBLE_DEVICES, ...
  std::string working_dir;                               // empty: the agent's working directory
  std::string log_dir;                                   // must exist and be writable
  core::Milli cpu_milli = 0;                             // 0 = no CPU limit
  core::MiB memory_mib = 0;                              // 0 = no memory limit
};

struct ExitReport {
  bool exited = false;      // ended by exit(); false when ended by a signal
  int exit_code = -1;       // when exited
  int signal = 0;           // when killed by a signal (SIGKILL after an OOM or a Stop's grace)
  bool oom_killed = false;  // the cgroup saw an OOM kill
  bool killed_after_grace = false;  // Stop had to send SIGKILL
  SteadyTime started_at;
  SteadyTime ended_at;  // when the agent saw the exit (within the polling interval)
  // Non-empty when the cgroup could not be inspected or removed afterwards.
  std::string cgroup_note;
};

class RunningProcess {
 public:
  RunningProcess(RunningProcess&& other) noexcept;
  RunningProcess& operator=(RunningProcess&& other) noexcept;
  RunningProcess(const RunningProcess&) = delete;
  RunningProcess& operator=(const RunningProcess&) = delete;
  // If the process is still running it is killed (SIGKILL to its group) and reaped.
  ~RunningProcess();

  pid_t pid() const { return pid_; }
  const std::string& workload_id() const { return workload_id_; }
  SteadyTime started_at() const { return started_at_; }

  // The report once the process has exited (reaped, cgroup removed), nullopt while it runs.
  // Internal if the process cannot be waited for (someone else reaped it).
  Result<std::optional<ExitReport>> Poll();
  // Like Poll, waiting up to `timeout` (bounded polling; nullopt when it is still running).
  Result<std::optional<ExitReport>> Wait(std::chrono::milliseconds timeout);
  // SIGTERM to the process group, then SIGKILL to the group once the main process has exited or
  // `grace` has passed, whichever is first. Returns the report (also when it had already exited).
  //
  // The workload is its main process: whenever that exits (Poll, Wait, Stop), whatever it left
  // running in its process group is killed before the cgroup is removed.
  Result<ExitReport> Stop(std::chrono::milliseconds grace);

 private:
  friend class ProcessRunner;
  RunningProcess(pid_t pid, std::string workload_id, CgroupManager* cgroups,
                 std::function<SteadyTime()> now, SteadyTime started_at);
  // Whether the leader has exited, without reaping it (so its pid, the group id, stays taken).
  Result<bool> LeaderExited();
  // Kills what is left of the group, reaps the leader and records the report.
  Result<ExitReport> Reap(bool killed_after_grace);
  void KillAndReap();

  pid_t pid_ = -1;
  std::string workload_id_;
  CgroupManager* cgroups_ = nullptr;
  std::function<SteadyTime()> now_;
  SteadyTime started_at_;
  std::optional<ExitReport> report_;
};

struct ProcessRunnerOptions {
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  std::string home = "/";
  std::function<SteadyTime()> now = [] { return std::chrono::steady_clock::now(); };
};

class ProcessRunner {
 public:
  // REQUIRES: `cgroups` outlives the runner and every RunningProcess it returns.
  explicit ProcessRunner(CgroupManager* cgroups, ProcessRunnerOptions options = {});

  // InvalidArgument: empty argv, workload_id not a path component, working_dir not a directory.
  // Unavailable: a log file cannot be opened, the cgroup cannot be made or joined, fork fails.
  Result<RunningProcess> Start(const LaunchSpec& spec);

  // The cgroup manager's warning (NoCgroup says limits are not enforced); empty otherwise.
  std::string cgroup_warning() const { return cgroups_->warning(); }

 private:
  CgroupManager* cgroups_;
  ProcessRunnerOptions options_;
};

}  // namespace gpool::agent
