#include "agent/process_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <thread>

namespace gpool::agent {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

std::string Errno(int err) { return ::strerror(err); }

bool ValidComponent(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos;
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    Reset();
    fd_ = std::exchange(o.fd_, -1);
    return *this;
  }
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// Opens a log for appending; a new file gets mode 0640 whatever the umask.
Result<Fd> OpenLog(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd >= 0) {
    ::fchmod(fd, 0640);
    return Fd(fd);
  }
  if (errno == EEXIST) fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return Status::Unavailable("cannot open log " + path + ": " + Errno(errno));
  return Fd(fd);
}

// argv[0] as execve needs it: a name without '/' is searched in the child's PATH.
std::string ResolveCommand(const std::string& name, const std::string& path) {
  if (name.find('/') != std::string::npos) return name;
  size_t begin = 0;
  while (begin <= path.size()) {
    size_t end = path.find(':', begin);
    if (end == std::string::npos) end = path.size();
    const std::string dir = end > begin ? path.substr(begin, end - begin) : ".";
    const std::string candidate = dir + "/" + name;
    struct stat st;
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    begin = end + 1;
  }
  return name;  // execve fails with ENOENT: exit code 127
}

std::vector<std::string> CleanEnvironment(const ProcessRunnerOptions& options,
                                          const LaunchSpec& spec) {
  std::vector<std::pair<std::string, std::string>> vars = {{"PATH", options.path},
                                                           {"HOME", options.home}};
  for (const auto& [name, value] : spec.env) {
    auto it =
        std::find_if(vars.begin(), vars.end(), [&](const auto& v) { return v.first == name; });
    if (it != vars.end()) {
      it->second = value;
    } else {
      vars.emplace_back(name, value);
    }
  }
  std::vector<std::string> out;
  for (const auto& [name, value] : vars) out.push_back(name + "=" + value);
  return out;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Everything the child needs, prepared before fork: after fork the child only makes
// async-signal-safe calls (no allocation, no locks).
struct ChildPlan {
  int ready_w, go_r, go_w, ready_r;
  int stdin_fd, stdout_fd, stderr_fd;
  const char* working_dir;  // nullptr: stay
  const char* command;
  char* const* argv;
  char* const* envp;
  const char* exec_error_prefix;
  const char* chdir_error_prefix;
};

void WriteAll(int fd, const char* s) {
  size_t left = ::strlen(s);
  while (left > 0) {
    const ssize_t n = ::write(fd, s, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    s += n;
    left -= static_cast<size_t>(n);
  }
}

[[noreturn]] void ChildMain(const ChildPlan& p) {
  ::close(p.go_w);
  ::close(p.ready_r);
  ::setsid();
  struct sigaction dfl;
  ::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  }
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // Handshake: "in my own session"; then wait until the agent has put us in the cgroup.
  char byte = 'r';
  while (::write(p.ready_w, &byte, 1) < 0 && errno == EINTR) {
  }
  ssize_t n;
  while ((n = ::read(p.go_r, &byte, 1)) < 0 && errno == EINTR) {
  }
  if (n != 1) ::_exit(127);  // the agent gave up on this start
  ::dup2(p.stdin_fd, 0);
  ::dup2(p.stdout_fd, 1);
  ::dup2(p.stderr_fd, 2);
  ::close_range(3, UINT_MAX, 0);
  if (p.working_dir != nullptr && ::chdir(p.working_dir) != 0) {
    const int err = errno;
    WriteAll(2, p.chdir_error_prefix);
    WriteAll(2, ::strerrordesc_np(err));
    WriteAll(2, "\n");
    ::_exit(127);
  }
  ::execve(p.command, p.argv, p.envp);
  const int err = errno;
  WriteAll(2, p.exec_error_prefix);
  WriteAll(2, ::strerrordesc_np(err));
  WriteAll(2, "\n");
  ::_exit(err == ENOENT || err == ENOTDIR ? 127 : 126);
}

bool ReadByte(int fd) {
  char byte;
  ssize_t n;
  while ((n = ::read(fd, &byte, 1)) < 0 && errno == EINTR) {
  }
  return n == 1;
}

}  // namespace

// ----- RunningProcess -----

RunningProcess::RunningProcess(pid_t pid, std::string workload_id, CgroupManager* cgroups,
                               std::function<SteadyTime()> now, SteadyTime started_at)
    : pid_(pid),
      workload_id_(std::move(workload_id)),
      cgroups_(cgroups),
      now_(std::move(now)),
      started_at_(started_at) {}

RunningProcess::RunningProcess(RunningProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      workload_id_(std::move(other.workload_id_)),
      cgroups_(other.cgroups_),
      now_(std::move(other.now_)),
      started_at_(other.started_at_),
      report_(std::move(other.report_)) {}

RunningProcess& RunningProcess::operator=(RunningProcess&& other) noexcept {
  if (this != &other) {
    KillAndReap();
    pid_ = std::exchange(other.pid_, -1);
    workload_id_ = std::move(other.workload_id_);
    cgroups_ = other.cgroups_;
    now_ = std::move(other.now_);
    started_at_ = other.started_at_;
    report_ = std::move(other.report_);
  }
  return *this;
}

RunningProcess::~RunningProcess() { KillAndReap(); }

void RunningProcess::KillAndReap() {
  if (pid_ <= 0 || report_.has_value()) return;
  ::kill(-pid_, SIGKILL);
  (void)Reap(false);
}

Result<bool> RunningProcess::LeaderExited() {
  for (;;) {
    siginfo_t info;
    info.si_pid = 0;
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0) {
      return info.si_pid == pid_;
    }
    if (errno == EINTR) continue;
    return Status::Internal("cannot wait for pid " + std::to_string(pid_) + " (" + workload_id_ +
                            "): " + Errno(errno));
  }
}

Result<ExitReport> RunningProcess::Reap(bool killed_after_grace) {
  // The leader is a zombie or about to be one, so its pid (the group id) is still taken and the
  // group kill cannot reach an unrelated process.
  ::kill(-pid_, SIGKILL);
  int status = 0;
  pid_t r;
  while ((r = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
  }
  if (r != pid_) {
    return Status::Internal("cannot reap pid " + std::to_string(pid_) + " (" + workload_id_ +
                            "): " + Errno(errno));
  }
  ExitReport report;
  report.started_at = started_at_;
  report.ended_at = now_();
  report.killed_after_grace = killed_after_grace;
  if (WIFEXITED(status)) {
    report.exited = true;
    report.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    report.signal = WTERMSIG(status);
  }
  Result<bool> oom = cgroups_->OomKilled(workload_id_);
  if (oom.ok()) {
    report.oom_killed = *oom;
  } else {
    report.cgroup_note = oom.status().message();
  }
  // Killed members of the group may take a moment to leave the cgroup.
  const auto deadline = steady_clock::now() + milliseconds(2000);
  Status removed = cgroups_->Remove(workload_id_);
  for (auto pause = milliseconds(1); !removed.ok() && steady_clock::now() < deadline;
       pause = std::min(pause * 2, milliseconds(50))) {
    std::this_thread::sleep_for(pause);
    removed = cgroups_->Remove(workload_id_);
  }
  if (!removed.ok()) {
    report.cgroup_note += (report.cgroup_note.empty() ? "" : "; ") + removed.message();
  }
  report_ = report;
  return report;
}

Result<std::optional<ExitReport>> RunningProcess::Poll() {
  assert(pid_ > 0 && "Poll on a moved-from RunningProcess");
  if (report_.has_value()) return report_;
  Result<bool> exited = LeaderExited();
  if (!exited.ok()) return exited.status();
  if (!*exited) return std::optional<ExitReport>();
  Result<ExitReport> report = Reap(false);
  if (!report.ok()) return report.status();
  return std::optional<ExitReport>(*report);
}

Result<std::optional<ExitReport>> RunningProcess::Wait(milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  for (auto pause = milliseconds(1);; pause = std::min(pause * 2, milliseconds(20))) {
    Result<std::optional<ExitReport>> r = Poll();
    if (!r.ok() || r->has_value()) return r;
    const auto now = steady_clock::now();
    if (now >= deadline) return r;
    std::this_thread::sleep_for(std::min<steady_clock::duration>(pause, deadline - now));
  }
}

Result<ExitReport> RunningProcess::Stop(milliseconds grace) {
  assert(pid_ > 0 && "Stop on a moved-from RunningProcess");
  if (report_.has_value()) return *report_;
  ::kill(-pid_, SIGTERM);
  const auto deadline = steady_clock::now() + grace;
  for (auto pause = milliseconds(1);; pause = std::min(pause * 2, milliseconds(20))) {
    Result<bool> exited = LeaderExited();
    if (!exited.ok()) return exited.status();
    if (*exited) return Reap(false);
    const auto now = steady_clock::now();
    if (now >= deadline) break;
    std::this_thread::sleep_for(std::min<steady_clock::duration>(pause, deadline - now));
  }
  return Reap(true);
}

// ----- ProcessRunner -----

ProcessRunner::ProcessRunner(CgroupManager* cgroups, ProcessRunnerOptions options)
    : cgroups_(cgroups), options_(std::move(options)) {
  assert(cgroups_ != nullptr);
}

Result<RunningProcess> ProcessRunner::Start(const LaunchSpec& spec) {
  if (spec.argv.empty()) {
    return Status::InvalidArgument("workload '" + spec.workload_id + "': empty command");
  }
  if (!ValidComponent(spec.workload_id)) {
    return Status::InvalidArgument("workload id '" + spec.workload_id +
                                   "' must be a non-empty name without '/'");
  }
  if (!spec.working_dir.empty()) {
    struct stat st;
    if (::stat(spec.working_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return Status::InvalidArgument("workload '" + spec.workload_id + "': working directory " +
                                     spec.working_dir + " is not a directory");
    }
  }
  const std::string base = spec.log_dir + "/" + spec.workload_id;
  Result<Fd> out = OpenLog(base + ".out");
  if (!out.ok()) return out.status();
  Result<Fd> err = OpenLog(base + ".err");
  if (!err.ok()) return err.status();
  Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (devnull.get() < 0) return Status::Unavailable("cannot open /dev/null: " + Errno(errno));

  std::vector<std::string> env = CleanEnvironment(options_, spec);
  std::string path_value = options_.path;
  for (const auto& [name, value] : spec.env) {
    if (name == "PATH") path_value = value;
  }
  const std::string command = ResolveCommand(spec.argv[0], path_value);
  std::vector<std::string> argv = spec.argv;
  std::vector<char*> argv_c = CStrings(argv);
  std::vector<char*> envp_c = CStrings(env);
  const std::string exec_prefix = "gpool: cannot execute '" + spec.argv[0] + "': ";
  const std::string chdir_prefix = "gpool: cannot change to directory '" + spec.working_dir + "': ";

  if (Status s = cgroups_->Create(spec.workload_id, {spec.cpu_milli, spec.memory_mib}); !s.ok()) {
    return Status::Unavailable("workload '" + spec.workload_id + "': " + s.message());
  }
  int ready[2], go[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) {
    cgroups_->Remove(spec.workload_id);
    return Status::Unavailable("pipe: " + Errno(errno));
  }
  Fd ready_r(ready[0]), ready_w(ready[1]);
  if (::pipe2(go, O_CLOEXEC) != 0) {
    cgroups_->Remove(spec.workload_id);
    return Status::Unavailable("pipe: " + Errno(errno));
  }
  Fd go_r(go[0]), go_w(go[1]);

  const ChildPlan plan{
      ready_w.get(),       go_r.get(),
      go_w.get(),          ready_r.get(),
      devnull.get(),       out->get(),
      err->get(),          spec.working_dir.empty() ? nullptr : spec.working_dir.c_str(),
      command.c_str(),     argv_c.data(),
      envp_c.data(),       exec_prefix.c_str(),
      chdir_prefix.c_str()};
  const SteadyTime started_at = options_.now();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int fork_err = errno;
    cgroups_->Remove(spec.workload_id);
    return Status::Unavailable("workload '" + spec.workload_id + "': fork: " + Errno(fork_err));
  }
  if (pid == 0) ChildMain(plan);

  // The agent keeps its own copy of go_r open until the handshake is done, so that writing to
  // `go` can never raise SIGPIPE in the agent if the child has died meanwhile.
  ready_w.Reset();
  // From here the child is owned by `process`: an early return kills and reaps it.
  RunningProcess process(pid, spec.workload_id, cgroups_, options_.now, started_at);
  if (!ReadByte(ready_r.get())) {
    return Status::Internal("workload '" + spec.workload_id + "': child " + std::to_string(pid) +
                            " exited before the start handshake");
  }
  if (Status s = cgroups_->AddProcess(spec.workload_id, pid); !s.ok()) {
    return Status::Unavailable("workload '" + spec.workload_id + "': " + s.message());
  }
  const char byte = 'g';
  ssize_t n;
  while ((n = ::write(go_w.get(), &byte, 1)) < 0 && errno == EINTR) {
  }
  if (n != 1) {
    return Status::Internal("workload '" + spec.workload_id +
                            "': start handshake: " + Errno(errno));
  }
  return process;
}

}  // namespace gpool::agent
