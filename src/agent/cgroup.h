// CgroupManager: puts a workload's processes in a control group that limits its CPU and memory.
//
// One group per workload, named by the workload id, under a parent group that the agent owns:
//   cgroup v2: <root>/<parent>/<workload>          (cpu.max, memory.max, memory.swap.max)
//   cgroup v1: <root>/cpu/<parent>/<workload>      (cpu.cfs_quota_us, cpu.cfs_period_us)
//              <root>/memory/<parent>/<workload>   (memory.limit_in_bytes)
// DetectCgroups picks whichever the machine has. Where neither can be written (not root, or a
// container without delegation) it returns a NoCgroup whose warning() says so and why: workloads
// then run without CPU/memory limits, and the agent must report that warning, never hide it.
//
// Units: CPU in milli-cores (1000 = one core), applied as a CFS quota over a 100 ms period
// (quota_us = milli * 100); memory in MiB, written in bytes. 0 means "no limit".
//
// The root is a parameter so that tests can point it at a plain directory that imitates cgroupfs
// and read back exactly what was written. On a plain filesystem files that cgroupfs would provide
// are created by the write; Remove deletes what it wrote before removing the directory.
//
// Thread safety: every implementation holds only constant configuration and may be called from any
// thread; calls for different workloads do not interfere.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/workload.h"

namespace gpool::agent {

struct CgroupLimits {
  core::Milli cpu_milli = 0;  // 0 = no CPU limit
  core::MiB memory_mib = 0;   // 0 = no memory limit
};

// The CFS period every group gets, in microseconds.
inline constexpr long kCfsPeriodUs = 100000;

class CgroupManager {
 public:
  virtual ~CgroupManager() = default;

  // "cgroup2", "cgroup1" or "none".
  virtual const char* kind() const = 0;
  // Empty when limits are enforced; otherwise why they are not (NoCgroup).
  virtual std::string warning() const { return {}; }

  // Creates (or reuses) the group for `workload_id` and writes its limits.
  // REQUIRES: workload_id is a valid path component (non-empty, no '/', not "." or "..").
  // Unavailable (naming the file) when a control file cannot be written.
  virtual Status Create(const std::string& workload_id, const CgroupLimits& limits) = 0;
  // Moves process `pid` into the workload's group (its children made after follow it).
  virtual Status AddProcess(const std::string& workload_id, pid_t pid) = 0;
  // Whether the kernel OOM-killed a process of the group (memory.events / memory.oom_control
  // "oom_kill N" with N > 0). False when the file is missing.
  virtual Result<bool> OomKilled(const std::string& workload_id) = 0;
  // Removes the group. REQUIRES: its processes have exited (the kernel refuses otherwise: the
  // error is Unavailable and the group stays).
  virtual Status Remove(const std::string& workload_id) = 0;
  // The group's directories (one for v2, cpu and memory for v1, none for NoCgroup).
  virtual std::vector<std::string> GroupPaths(const std::string& workload_id) const = 0;
};

// The fallback when cgroups cannot be used: every operation succeeds and does nothing, and
// warning() carries `reason` plus the consequence ("workloads run without CPU/memory limits").
class NoCgroup final : public CgroupManager {
 public:
  explicit NoCgroup(std::string reason);
  const char* kind() const override { return "none"; }
  std::string warning() const override { return warning_; }
  Status Create(const std::string&, const CgroupLimits&) override { return Status::Ok(); }
  Status AddProcess(const std::string&, pid_t) override { return Status::Ok(); }
  Result<bool> OomKilled(const std::string&) override { return false; }
  Status Remove(const std::string&) override { return Status::Ok(); }
  std::vector<std::string> GroupPaths(const std::string&) const override { return {}; }

 private:
  std::string warning_;
};

// Inspects `root`: cgroup v2 when <root>/cgroup.controllers exists (and lists cpu and memory),
// v1 when <root>/memory and <root>/cpu exist. Checks writability by creating the parent group
// (and, for v2, enabling +cpu +memory in <root>/cgroup.subtree_control and in the parent's).
// Anything that prevents using cgroups gives a NoCgroup explaining why, not an error; the error
// is InvalidArgument for a `parent` that is not a relative path without "." or ".." components.
Result<std::unique_ptr<CgroupManager>> DetectCgroups(const std::string& root = "/sys/fs/cgroup",
                                                     const std::string& parent = "gpool");

// cpu.max for a v2 group: 1500 milli -> "150000 100000"; 0 -> "max 100000".
std::string CpuMaxValue(core::Milli cpu_milli);

}  // namespace gpool::agent
