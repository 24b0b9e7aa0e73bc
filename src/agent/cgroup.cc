#include "agent/cgroup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <utility>

namespace gpool::agent {
namespace {

constexpr std::int64_t kBytesPerMiB = 1024 * 1024;
// The kernel refuses a CFS quota under 1 ms.
constexpr std::int64_t kMinQuotaUs = 1000;

std::string Errno(int err) { return std::strerror(err); }

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool IsDir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Writes `value` as the whole content of `path` (O_TRUNC, as `echo value > path` does; cgroupfs
// ignores the truncation). Errors from cgroupfs surface on write(), so both are checked.
Status WriteFile(const std::string& path, const std::string& value) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::Unavailable("cannot open " + path + " for writing: " + Errno(errno));
  }
  const ssize_t n = ::write(fd, value.data(), value.size());
  const int write_err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    return Status::Unavailable("cannot write '" + value + "' to " + path + ": " +
                               (n < 0 ? Errno(write_err) : std::string("short write")));
  }
  return Status::Ok();
}

Result<std::string> ReadFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return Status::NotFound(path + " does not exist");
    return Status::Unavailable("cannot open " + path + ": " + Errno(err));
  }
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Status::Unavailable("cannot read " + path + ": " + Errno(err));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0) return Status::Ok();
  const int err = errno;
  if (err == EEXIST && IsDir(path)) return Status::Ok();
  return Status::Unavailable("cannot create " + path + ": " + Errno(err));
}

bool HasToken(const std::string& text, const std::string& token) {
  std::istringstream in(text);
  std::string word;
  while (in >> word) {
    if (word == token) return true;
  }
  return false;
}

// "oom_kill N" in memory.events (v2) or memory.oom_control (v1).
Result<bool> ReadOomKill(const std::string& path) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return false;
    return text.status();
  }
  std::istringstream in(*text);
  std::string key;
  long long count = 0;
  while (in >> key >> count) {
    if (key == "oom_kill") return count > 0;
  }
  return false;
}

// Removes a group directory. On cgroupfs rmdir removes the control files with it, and fails with
// EBUSY while processes remain. On a plain directory (tests) it fails with ENOTEMPTY: then the
// files written into it are deleted first.
Status RemoveGroupDir(const std::string& dir) {
  if (::rmdir(dir.c_str()) == 0) return Status::Ok();
  int err = errno;
  if (err == ENOENT) return Status::Ok();
  if (err == ENOTEMPTY || err == EEXIST) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      std::error_code ignored;
      if (entry.is_regular_file(ignored)) std::filesystem::remove(entry.path(), ignored);
    }
    if (::rmdir(dir.c_str()) == 0) return Status::Ok();
    err = errno;
  }
  return Status::Unavailable("cannot remove cgroup " + dir + ": " + Errno(err));
}

bool ValidComponent(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos;
}

std::string MemoryLimitValue(core::MiB mib, const char* unlimited) {
  return mib > 0 ? std::to_string(mib * kBytesPerMiB) : std::string(unlimited);
}

std::int64_t QuotaUs(core::Milli milli) {
  // 1000 milli = one core = a full period (100000 us) of quota: quota_us = milli * 100.
  return std::max<std::int64_t>(milli * (kCfsPeriodUs / 1000), kMinQuotaUs);
}

class CgroupV2 final : public CgroupManager {
 public:
  explicit CgroupV2(std::string parent_dir) : parent_dir_(std::move(parent_dir)) {}
  const char* kind() const override { return "cgroup2"; }

  Status Create(const std::string& id, const CgroupLimits& limits) override {
    assert(ValidComponent(id));
    const std::string dir = Dir(id);
    if (Status s = MakeDir(dir); !s.ok()) return s;
    if (Status s = WriteFile(dir + "/cpu.max", CpuMaxValue(limits.cpu_milli)); !s.ok()) return s;
    if (Status s = WriteFile(dir + "/memory.max", MemoryLimitValue(limits.memory_mib, "max"));
        !s.ok()) {
      return s;
    }
    // Without this a memory limit spills into swap instead of OOM-killing. Only where the kernel
    // accounts swap (the parent group shows the file).
    if (Exists(parent_dir_ + "/memory.swap.max")) {
      if (Status s = WriteFile(dir + "/memory.swap.max", "0"); !s.ok()) return s;
    }
    return Status::Ok();
  }

  Status AddProcess(const std::string& id, pid_t pid) override {
    return WriteFile(Dir(id) + "/cgroup.procs", std::to_string(pid));
  }

  Result<bool> OomKilled(const std::string& id) override {
    return ReadOomKill(Dir(id) + "/memory.events");
  }

  Status Remove(const std::string& id) override { return RemoveGroupDir(Dir(id)); }

  std::vector<std::string> GroupPaths(const std::string& id) const override { return {Dir(id)}; }

 private:
  std::string Dir(const std::string& id) const { return parent_dir_ + "/" + id; }
  std::string parent_dir_;
};

class CgroupV1 final : public CgroupManager {
 public:
  CgroupV1(std::string cpu_parent, std::string memory_parent)
      : cpu_parent_(std::move(cpu_parent)), memory_parent_(std::move(memory_parent)) {}
  const char* kind() const override { return "cgroup1"; }

  Status Create(const std::string& id, const CgroupLimits& limits) override {
    assert(ValidComponent(id));
    const std::string cpu = cpu_parent_ + "/" + id;
    const std::string mem = memory_parent_ + "/" + id;
    if (Status s = MakeDir(cpu); !s.ok()) return s;
    if (Status s = MakeDir(mem); !s.ok()) return s;
    // The period first: the kernel checks the quota against the current period.
    if (Status s = WriteFile(cpu + "/cpu.cfs_period_us", std::to_string(kCfsPeriodUs)); !s.ok()) {
      return s;
    }
    const std::string quota =
        limits.cpu_milli > 0 ? std::to_string(QuotaUs(limits.cpu_milli)) : "-1";
    if (Status s = WriteFile(cpu + "/cpu.cfs_quota_us", quota); !s.ok()) return s;
    return WriteFile(mem + "/memory.limit_in_bytes", MemoryLimitValue(limits.memory_mib, "-1"));
  }

  Status AddProcess(const std::string& id, pid_t pid) override {
    for (const std::string& dir : GroupPaths(id)) {
      if (Status s = WriteFile(dir + "/cgroup.procs", std::to_string(pid)); !s.ok()) return s;
    }
    return Status::Ok();
  }

  Result<bool> OomKilled(const std::string& id) override {
    return ReadOomKill(memory_parent_ + "/" + id + "/memory.oom_control");
  }

  Status Remove(const std::string& id) override {
    Status first;
    for (const std::string& dir : GroupPaths(id)) {
      Status s = RemoveGroupDir(dir);
      if (!s.ok() && first.ok()) first = s;
    }
    return first;
  }

  std::vector<std::string> GroupPaths(const std::string& id) const override {
    return {cpu_parent_ + "/" + id, memory_parent_ + "/" + id};
  }

 private:
  std::string cpu_parent_;
  std::string memory_parent_;
};

std::unique_ptr<CgroupManager> Fallback(std::string reason) {
  return std::make_unique<NoCgroup>(std::move(reason));
}

// Makes sure `file` (a cgroup.subtree_control) enables cpu and memory.
Status EnableControllers(const std::string& file) {
  Result<std::string> current = ReadFile(file);
  if (current.ok() && HasToken(*current, "cpu") && HasToken(*current, "memory")) {
    return Status::Ok();
  }
  return WriteFile(file, "+cpu +memory");
}

}  // namespace

NoCgroup::NoCgroup(std::string reason)
    : warning_(std::move(reason) + "; workloads run without CPU/memory limits") {}

std::string CpuMaxValue(core::Milli cpu_milli) {
  const std::string period = std::to_string(kCfsPeriodUs);
  if (cpu_milli <= 0) return "max " + period;
  return std::to_string(QuotaUs(cpu_milli)) + " " + period;
}

Result<std::unique_ptr<CgroupManager>> DetectCgroups(const std::string& root,
                                                     const std::string& parent) {
  if (!ValidComponent(parent)) {
    return Status::InvalidArgument("cgroup parent '" + parent +
                                   "' must be one path component (no '/', '.' or '..')");
  }
  const std::string controllers_file = root + "/cgroup.controllers";
  if (Exists(controllers_file)) {
    Result<std::string> controllers = ReadFile(controllers_file);
    if (!controllers.ok()) {
      return Fallback("cgroup v2 at " + root + ": " + controllers.status().message());
    }
    std::string missing;
    for (const char* c : {"cpu", "memory"}) {
      if (!HasToken(*controllers, c)) missing += std::string(missing.empty() ? "" : " ") + c;
    }
    if (!missing.empty()) {
      return Fallback("cgroup v2 at " + root + " does not offer controller(s) " + missing + " (" +
                      controllers_file + ")");
    }
    const std::string parent_dir = root + "/" + parent;
    Status s = EnableControllers(root + "/cgroup.subtree_control");
    if (s.ok()) s = MakeDir(parent_dir);
    if (s.ok()) s = EnableControllers(parent_dir + "/cgroup.subtree_control");
    if (!s.ok()) return Fallback("cgroup v2 at " + root + " is not writable: " + s.message());
    return std::unique_ptr<CgroupManager>(std::make_unique<CgroupV2>(parent_dir));
  }
  if (IsDir(root + "/memory") && IsDir(root + "/cpu")) {
    const std::string cpu_parent = root + "/cpu/" + parent;
    const std::string memory_parent = root + "/memory/" + parent;
    for (const std::string& dir : {cpu_parent, memory_parent}) {
      if (Status s = MakeDir(dir); !s.ok()) {
        return Fallback("cgroup v1 at " + root + " is not writable: " + s.message());
      }
    }
    return std::unique_ptr<CgroupManager>(std::make_unique<CgroupV1>(cpu_parent, memory_parent));
  }
  return Fallback("no cgroup hierarchy at " + root + " (neither v2 " + controllers_file +
                  " nor v1 " + root + "/cpu and " + root + "/memory)");
}

}  // namespace gpool::agent
