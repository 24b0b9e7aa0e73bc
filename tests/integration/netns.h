// Network namespaces and child processes for the multi-process pool tests.
//
// NetnsHub builds a private network: a hub namespace holding a bridge, and one namespace per
// member (the controller, each agent), each joined to the bridge by a veth pair whose hub end is
// in the hub namespace and whose other end is `eth0` in the member, with address
// 10.213.<subnet>.<host>/24. Nothing is created in the root namespace, so the tests touch no
// interface, route or address of the machine. Names carry the test process's pid and the subnet
// ("gpit<pid>s<subnet><role>"), so two test binaries (ctest -j2) or two tests never collide; a
// namespace left under the same name by a crashed earlier run is removed first, and so is one
// whose run (the pid in its name) is gone. The destructor SIGKILLs every process still inside the
// namespaces and deletes them (also when the test failed).
//
// ChildProcess runs a command in its own process group, output appended to a log file; the
// destructor SIGKILLs the group and reaps it. InNetns runs a function on a thread that has
// joined a namespace (setns on that thread only), which is how the test process, itself in the
// root namespace, talks HTTP to the controller.
//
// Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and iproute2's `ip`; NetnsHub::Create says why not
// otherwise, and the tests GTEST_SKIP with that reason. Not thread safe: one thread owns a hub.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace gpool::test {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

struct CommandResult {
  int exit_code = -1;  // -1 if it did not exit normally or could not start
  std::string output;  // stdout and stderr
};

// Runs argv (looked up in PATH) to completion and captures its output. No shell.
inline CommandResult RunCommand(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return {-1, std::string("pipe: ") + std::strerror(errno)};
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return {-1, std::string("fork: ") + std::strerror(errno)};
  }
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// A child process in its own process group (pgid == pid). Move-only; the destructor SIGKILLs
// the group and reaps the child.
class ChildProcess {
 public:
  ChildProcess() = default;
  // Starts argv with stdout and stderr appended to `log_path`. Returns a ChildProcess whose
  // pid() is -1 if fork failed.
  static ChildProcess Start(const std::vector<std::string>& argv, const std::string& log_path) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ChildProcess c;
    c.pid_ = fork();
    if (c.pid_ == 0) {
      setpgid(0, 0);
      const int null = open("/dev/null", O_RDONLY);
      if (null >= 0) dup2(null, STDIN_FILENO);
      if (log >= 0) {
        dup2(log, STDOUT_FILENO);
        dup2(log, STDERR_FILENO);
      }
      execvp(args[0], args.data());
      _exit(127);
    }
    if (c.pid_ > 0) setpgid(c.pid_, c.pid_);  // also here: no race with an early Signal()
    if (log >= 0) close(log);
    return c;
  }
  ChildProcess(ChildProcess&& o) noexcept : pid_(std::exchange(o.pid_, -1)) {}
  ChildProcess& operator=(ChildProcess&& o) noexcept {
    if (this != &o) {
      Kill();
      pid_ = std::exchange(o.pid_, -1);
    }
    return *this;
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() { Kill(); }

  pid_t pid() const { return pid_; }
  bool started() const { return pid_ > 0; }

  // Sends `sig` to the whole process group.
  void Signal(int sig) const {
    if (pid_ > 0) ::kill(-pid_, sig);
  }
  // Waits up to `timeout` for the child to exit; true (and reaped) if it did. *status gets the
  // wait status when given.
  bool WaitExit(std::chrono::milliseconds timeout, int* status = nullptr) {
    if (pid_ <= 0) return true;
    const auto deadline = SteadyClock::now() + timeout;
    for (;;) {
      int st = 0;
      const pid_t r = waitpid(pid_, &st, WNOHANG);
      if (r == pid_ || (r < 0 && errno == ECHILD)) {
        if (status != nullptr) *status = st;
        ::kill(-pid_, SIGKILL);  // whatever of its group is left
        pid_ = -1;
        return true;
      }
      if (SteadyClock::now() >= deadline) return false;
      std::this_thread::sleep_for(10ms);
    }
  }
  // True while the child has not exited (does not reap).
  bool Running() const {
    if (pid_ <= 0) return false;
    siginfo_t info{};
    return waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == 0;
  }
  // SIGKILLs the group and reaps the child (bounded: SIGKILL cannot be ignored).
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    WaitExit(10s);
    pid_ = -1;
  }
  // SIGTERM to the group, then SIGKILL after `grace`.
  void Stop(std::chrono::milliseconds grace) {
    if (pid_ <= 0) return;
    Signal(SIGTERM);
    if (!WaitExit(grace)) Kill();
  }

 private:
  pid_t pid_ = -1;
};

// Runs f() on a new thread that has joined network namespace `ns` (/run/netns/<ns>) and returns
// its result. If the namespace cannot be joined, f is not called and `on_error` is returned.
template <typename T>
T InNetns(const std::string& ns, const std::function<T()>& f, T on_error) {
  std::optional<T> result;
  std::thread worker([&] {
    const int fd = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    const int rc = setns(fd, CLONE_NEWNET);
    close(fd);
    if (rc != 0) return;
    result = f();
  });
  worker.join();
  return result ? std::move(*result) : std::move(on_error);
}

// Joins the calling thread to network namespace `ns`; false if it cannot.
inline bool EnterNetns(const std::string& ns) {
  const int fd = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const int rc = setns(fd, CLONE_NEWNET);
  close(fd);
  return rc == 0;
}

inline bool NetnsExists(const std::string& ns) {
  struct stat st {};
  return ::stat(("/run/netns/" + ns).c_str(), &st) == 0;
}

// SIGKILLs every process inside namespace `ns` (`ip netns pids`), then deletes it.
inline void DeleteNetns(const std::string& ns) {
  if (!NetnsExists(ns)) return;
  for (int round = 0; round < 3; ++round) {
    const CommandResult pids = RunCommand({"ip", "netns", "pids", ns});
    std::istringstream in(pids.output);
    bool any = false;
    for (long pid = 0; in >> pid;) {
      if (pid > 1 && pid != ::getpid()) {
        ::kill(static_cast<pid_t>(pid), SIGKILL);
        any = true;
      }
    }
    if (!any) break;
    std::this_thread::sleep_for(50ms);
  }
  RunCommand({"ip", "netns", "del", ns});
}

// Deletes namespaces that earlier runs of these tests left behind ("gpit<pid>...") when process
// <pid> is gone (a test binary killed before its teardown), with what still runs in them.
inline void RemoveStaleNetns() {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/run/netns", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("gpit", 0) != 0) continue;
    std::size_t end = 4;
    while (end < name.size() && name[end] >= '0' && name[end] <= '9') ++end;
    if (end == 4 || end - 4 > 9) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(name.substr(4, end - 4)));
    if (::kill(pid, 0) != 0 && errno == ESRCH) DeleteNetns(name);
  }
}

class NetnsHub {
 public:
  struct Member {
    std::string role;     // "c", "a1", ...
    std::string netns;    // the namespace's name
    std::string hub_end;  // the veth end in the hub namespace (the member's "link")
    std::string address;  // 10.213.<subnet>.<host>
  };

  // Builds the hub and one namespace per role; host addresses are given per role. Returns
  // nullptr and sets *why when the machine does not allow it (not root, no `ip`, no netns).
  // REQUIRES: 1 <= subnet <= 254, roles of 1-2 characters, hosts 1..254 and distinct.
  static std::unique_ptr<NetnsHub> Create(int subnet,
                                          const std::vector<std::pair<std::string, int>>& roles,
                                          std::string* why) {
    if (::geteuid() != 0) {
      *why = "needs root (network namespaces); run as root, as CI does";
      return nullptr;
    }
    if (RunCommand({"ip", "-V"}).exit_code != 0) {
      *why = "needs iproute2's `ip` in PATH";
      return nullptr;
    }
    RemoveStaleNetns();
    std::unique_ptr<NetnsHub> hub(new NetnsHub(subnet));
    hub->hub_ = hub->prefix_ + "h";
    DeleteNetns(hub->hub_);
    if (CommandResult r = RunCommand({"ip", "netns", "add", hub->hub_}); r.exit_code != 0) {
      *why = "`ip netns add` failed (no network namespaces here?): " + r.output;
      return nullptr;
    }
    hub->created_.push_back(hub->hub_);
    const std::string subnet_text = "10.213." + std::to_string(subnet) + ".";
    std::vector<std::vector<std::string>> steps = {
        {"ip", "-n", hub->hub_, "link", "set", "lo", "up"},
        {"ip", "-n", hub->hub_, "link", "add", "br0", "type", "bridge"},
        {"ip", "-n", hub->hub_, "link", "set", "br0", "up"},
    };
    for (const auto& [role, host] : roles) {
      Member m;
      m.role = role;
      m.netns = hub->prefix_ + role;
      // Interface names are per namespace; this one only has to be unique inside the hub and at
      // most 15 characters ("gpit" + pid + role).
      m.hub_end = "gpit" + std::to_string(::getpid()) + role;
      m.address = subnet_text + std::to_string(host);
      DeleteNetns(m.netns);
      steps.push_back({"ip", "netns", "add", m.netns});
      steps.push_back({"ip", "-n", hub->hub_, "link", "add", m.hub_end, "type", "veth", "peer",
                       "name", "eth0", "netns", m.netns});
      steps.push_back({"ip", "-n", hub->hub_, "link", "set", m.hub_end, "master", "br0"});
      steps.push_back({"ip", "-n", hub->hub_, "link", "set", m.hub_end, "up"});
      steps.push_back({"ip", "-n", m.netns, "link", "set", "lo", "up"});
      steps.push_back({"ip", "-n", m.netns, "addr", "add", m.address + "/24", "dev", "eth0"});
      steps.push_back({"ip", "-n", m.netns, "link", "set", "eth0", "up"});
      hub->members_.push_back(m);
    }
    for (const auto& step : steps) {
      if (step.size() == 4 && step[1] == "netns" && step[2] == "add") {
        hub->created_.push_back(step[3]);
      }
      if (CommandResult r = RunCommand(step); r.exit_code != 0) {
        std::string text;
        for (const std::string& s : step) text += s + " ";
        *why = "network setup failed: " + text + ": " + r.output;
        return nullptr;  // the destructor removes what was made
      }
    }
    return hub;
  }

  NetnsHub(const NetnsHub&) = delete;
  NetnsHub& operator=(const NetnsHub&) = delete;
  ~NetnsHub() {
    // Members first (their processes), the hub last.
    for (auto it = created_.rbegin(); it != created_.rend(); ++it) DeleteNetns(*it);
  }

  const Member& member(const std::string& role) const {
    for (const Member& m : members_) {
      if (m.role == role) return m;
    }
    static const Member none;
    return none;
  }
  const std::string& hub_netns() const { return hub_; }

  // Takes a member's link down or up (its veth end in the hub: the member keeps its address and
  // sees the carrier go away, as when a cable is pulled). True on success.
  bool SetLink(const std::string& role, bool up) const {
    return RunCommand({"ip", "-n", hub_, "link", "set", member(role).hub_end, up ? "up" : "down"})
               .exit_code == 0;
  }

  // argv run inside the member's namespace: `ip netns exec <ns> argv...`.
  std::vector<std::string> Exec(const std::string& role, std::vector<std::string> argv) const {
    std::vector<std::string> out = {"ip", "netns", "exec", member(role).netns};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
  }

 private:
  explicit NetnsHub(int subnet)
      : prefix_("gpit" + std::to_string(::getpid()) + "s" + std::to_string(subnet)) {}

  std::string prefix_;
  std::string hub_;
  std::vector<Member> members_;
  std::vector<std::string> created_;  // namespaces made, in order
};

}  // namespace gpool::test
