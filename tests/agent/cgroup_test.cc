// CgroupManager against fake cgroupfs trees (temporary directories holding the files cgroupfs
// would show): detection of v2 / v1 / neither, exactly what each implementation writes, OOM
// reporting, removal, and the NoCgroup warning. One test uses the machine's real hierarchy and
// skips where that is not writable.
#include "agent/cgroup.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "agent/process_runner.h"

namespace gpool::agent {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Put(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// A fresh temporary directory, removed afterwards.
class FakeRoot {
 public:
  FakeRoot() {
    std::string tmpl = (fs::temp_directory_path() / "gpool-cgroup-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~FakeRoot() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A v2 root as the kernel shows it: cgroup.controllers lists what may be enabled, and
// cgroup.subtree_control what is enabled for children (nothing yet).
void MakeV2(const fs::path& root, const std::string& controllers = "cpuset cpu io memory pids") {
  Put(root / "cgroup.controllers", controllers + "\n");
  Put(root / "cgroup.subtree_control", "");
}

TEST(CpuMaxValue, QuotaIsMilliTimesHundredOverTheHundredMsPeriod) {
  struct Case {
    core::Milli milli;
    const char* want;
  };
  const Case cases[] = {
      {1500, "150000 100000"},  // 1.5 cores: 1500 * 100 us of each 100000 us
      {2500, "250000 100000"},  // 2.5 cores
      {1000, "100000 100000"},  // one core: the whole period
      {250, "25000 100000"},    // a quarter core
      {5, "1000 100000"},       // 5 * 100 = 500 us is under the kernel's 1 ms minimum: 1000
      {0, "max 100000"},        // no limit
  };
  for (const Case& c : cases) EXPECT_EQ(CpuMaxValue(c.milli), c.want) << c.milli;
}

TEST(CgroupV2, DetectEnablesControllersAndCreatesTheParent) {
  FakeRoot t;
  MakeV2(t.path());
  auto m = DetectCgroups(t.path().string(), "gpool");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_STREQ((*m)->kind(), "cgroup2");
  EXPECT_EQ((*m)->warning(), "");
  EXPECT_TRUE(fs::is_directory(t.path() / "gpool"));
  // cpu and memory must be enabled at the root (for gpool/) and at gpool/ (for the workloads).
  EXPECT_EQ(Slurp(t.path() / "cgroup.subtree_control"), "+cpu +memory");
  EXPECT_EQ(Slurp(t.path() / "gpool" / "cgroup.subtree_control"), "+cpu +memory");
}

TEST(CgroupV2, AlreadyEnabledControllersAreLeftAlone) {
  FakeRoot t;
  MakeV2(t.path());
  Put(t.path() / "cgroup.subtree_control", "cpu io memory\n");
  ASSERT_TRUE(DetectCgroups(t.path().string(), "gpool").ok());
  EXPECT_EQ(Slurp(t.path() / "cgroup.subtree_control"), "cpu io memory\n");
}

TEST(CgroupV2, CreateWritesLimitsAndSwapOffWhenPresent) {
  FakeRoot t;
  MakeV2(t.path());
  auto m = DetectCgroups(t.path().string(), "gpool");
  ASSERT_TRUE(m.ok());
  // The parent shows memory.swap.max: the kernel accounts swap.
  Put(t.path() / "gpool" / "memory.swap.max", "max\n");
  ASSERT_TRUE((*m)->Create("job-1", {2500, 1024}).ok());
  const fs::path g = t.path() / "gpool" / "job-1";
  EXPECT_EQ((*m)->GroupPaths("job-1"), std::vector<std::string>{g.string()});
  EXPECT_EQ(Slurp(g / "cpu.max"), "250000 100000");  // 2500 milli * 100 us
  EXPECT_EQ(Slurp(g / "memory.max"), "1073741824");  // 1024 MiB * 1048576
  EXPECT_EQ(Slurp(g / "memory.swap.max"), "0");

  ASSERT_TRUE((*m)->AddProcess("job-1", 4242).ok());
  EXPECT_EQ(Slurp(g / "cgroup.procs"), "4242");

  ASSERT_TRUE((*m)->Remove("job-1").ok());
  EXPECT_FALSE(fs::exists(g));
  EXPECT_TRUE((*m)->Remove("job-1").ok());  // already gone: nothing to do
}

TEST(CgroupV2, NoLimitsAndNoSwapAccounting) {
  FakeRoot t;
  MakeV2(t.path());
  auto m = DetectCgroups(t.path().string(), "gpool");
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->Create("job-2", {0, 0}).ok());
  const fs::path g = t.path() / "gpool" / "job-2";
  EXPECT_EQ(Slurp(g / "cpu.max"), "max 100000");
  EXPECT_EQ(Slurp(g / "memory.max"), "max");
  EXPECT_FALSE(fs::exists(g / "memory.swap.max"));  // the parent has none: not written
}

TEST(CgroupV2, OomKilledReadsMemoryEvents) {
  FakeRoot t;
  MakeV2(t.path());
  auto m = DetectCgroups(t.path().string(), "gpool");
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->Create("job-3", {1000, 64}).ok());
  const fs::path events = t.path() / "gpool" / "job-3" / "memory.events";
  auto oom = (*m)->OomKilled("job-3");  // no memory.events yet
  ASSERT_TRUE(oom.ok());
  EXPECT_FALSE(*oom);
  Put(events, "low 0\nhigh 0\nmax 12\noom 1\noom_kill 0\noom_group_kill 0\n");
  oom = (*m)->OomKilled("job-3");
  ASSERT_TRUE(oom.ok());
  EXPECT_FALSE(*oom);  // hit the limit (oom 1) but nothing was killed
  Put(events, "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n");
  oom = (*m)->OomKilled("job-3");
  ASSERT_TRUE(oom.ok());
  EXPECT_TRUE(*oom);
}

TEST(CgroupV2, MissingControllerFallsBackWithAWarning) {
  FakeRoot t;
  MakeV2(t.path(), "cpuset io pids");
  auto m = DetectCgroups(t.path().string(), "gpool");
  ASSERT_TRUE(m.ok());
  EXPECT_STREQ((*m)->kind(), "none");
  EXPECT_NE((*m)->warning().find("cpu memory"), std::string::npos) << (*m)->warning();
  EXPECT_NE((*m)->warning().find("without CPU/memory limits"), std::string::npos);
}

TEST(CgroupV2, UnwritableParentFallsBackWithAWarningNamingIt) {
  FakeRoot t;
  MakeV2(t.path());
  Put(t.path() / "gpool", "not a directory");  // mkdir cannot make the parent group
  auto m = DetectCgroups(t.path().string(), "gpool");
  ASSERT_TRUE(m.ok());
  EXPECT_STREQ((*m)->kind(), "none");
  EXPECT_NE((*m)->warning().find((t.path() / "gpool").string()), std::string::npos)
      << (*m)->warning();
}

TEST(CgroupV1, CreateWritesCfsQuotaAndMemoryLimit) {
  FakeRoot t;
  fs::create_directories(t.path() / "cpu");
  fs::create_directories(t.path() / "memory");
  auto m = DetectCgroups(t.path().string(), "gpool");
  ASSERT_TRUE(m.ok());
  EXPECT_STREQ((*m)->kind(), "cgroup1");
  EXPECT_EQ((*m)->warning(), "");
  ASSERT_TRUE((*m)->Create("job-1", {2500, 1024}).ok());
  const fs::path cpu = t.path() / "cpu" / "gpool" / "job-1";
  const fs::path mem = t.path() / "memory" / "gpool" / "job-1";
  EXPECT_EQ((*m)->GroupPaths("job-1"), (std::vector<std::string>{cpu.string(), mem.string()}));
  EXPECT_EQ(Slurp(cpu / "cpu.cfs_period_us"), "100000");
  EXPECT_EQ(Slurp(cpu / "cpu.cfs_quota_us"), "250000");           // 2500 milli * 100 us
  EXPECT_EQ(Slurp(mem / "memory.limit_in_bytes"), "1073741824");  // 1024 * 1048576

  ASSERT_TRUE((*m)->AddProcess("job-1", 4242).ok());
  EXPECT_EQ(Slurp(cpu / "cgroup.procs"), "4242");
  EXPECT_EQ(Slurp(mem / "cgroup.procs"), "4242");

  Put(mem / "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  auto oom = (*m)->OomKilled("job-1");
  ASSERT_TRUE(oom.ok());
  EXPECT_TRUE(*oom);

  ASSERT_TRUE((*m)->Remove("job-1").ok());
  EXPECT_FALSE(fs::exists(cpu));
  EXPECT_FALSE(fs::exists(mem));
}

TEST(CgroupV1, NoLimitsIsMinusOne) {
  FakeRoot t;
  fs::create_directories(t.path() / "cpu");
  fs::create_directories(t.path() / "memory");
  auto m = DetectCgroups(t.path().string(), "gpool");
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->Create("job-2", {0, 0}).ok());
  EXPECT_EQ(Slurp(t.path() / "cpu" / "gpool" / "job-2" / "cpu.cfs_quota_us"), "-1");
  EXPECT_EQ(Slurp(t.path() / "memory" / "gpool" / "job-2" / "memory.limit_in_bytes"), "-1");
}

TEST(NoCgroup, NeitherHierarchyGivesAFallbackThatSaysSo) {
  FakeRoot t;
  auto m = DetectCgroups(t.path().string(), "gpool");
  ASSERT_TRUE(m.ok());
  EXPECT_STREQ((*m)->kind(), "none");
  const std::string w = (*m)->warning();
  EXPECT_NE(w.find("no cgroup hierarchy at " + t.path().string()), std::string::npos) << w;
  EXPECT_NE(w.find("workloads run without CPU/memory limits"), std::string::npos) << w;
  // Its operations do nothing and succeed.
  EXPECT_TRUE((*m)->Create("job", {1000, 64}).ok());
  EXPECT_TRUE((*m)->AddProcess("job", 1).ok());
  EXPECT_TRUE((*m)->Remove("job").ok());
  EXPECT_TRUE((*m)->GroupPaths("job").empty());
  EXPECT_TRUE(fs::is_empty(t.path()));
  // And the runner passes the warning on.
  ProcessRunner runner(m->get());
  EXPECT_EQ(runner.cgroup_warning(), w);
}

TEST(DetectCgroups, ParentMustBeOneComponent) {
  FakeRoot t;
  for (const char* bad : {"", ".", "..", "a/b"}) {
    auto m = DetectCgroups(t.path().string(), bad);
    ASSERT_FALSE(m.ok()) << bad;
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  }
}

// The real hierarchy: a group under /sys/fs/cgroup/.../gpool-test-<pid>/ with a 64 MiB limit,
// `sleep` placed in it before it runs, removed after it is stopped.
TEST(RealCgroup, SleepRunsInsideALimitedGroup) {
  const std::string parent = "gpool-test-" + std::to_string(::getpid());
  auto m = DetectCgroups("/sys/fs/cgroup", parent);
  ASSERT_TRUE(m.ok());
  if (std::string((*m)->kind()) == "none") {
    GTEST_SKIP() << "real cgroups not usable here: " << (*m)->warning();
  }
  FakeRoot logs;
  ProcessRunner runner(m->get());
  LaunchSpec spec;
  spec.workload_id = "real-1";
  spec.argv = {"sleep", "30"};
  spec.log_dir = logs.path().string();
  spec.cpu_milli = 500;
  spec.memory_mib = 64;
  auto p = runner.Start(spec);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const std::vector<std::string> dirs = (*m)->GroupPaths("real-1");
  ASSERT_FALSE(dirs.empty());
  for (const std::string& dir : dirs) {
    EXPECT_NE(Slurp(dir + "/cgroup.procs").find(std::to_string(p->pid())), std::string::npos)
        << dir;
  }
  const std::string mem_dir = dirs.back();
  if (std::string((*m)->kind()) == "cgroup2") {
    EXPECT_EQ(Slurp(mem_dir + "/memory.max"), "67108864\n");  // 64 * 1048576
  } else {
    EXPECT_EQ(Slurp(mem_dir + "/memory.limit_in_bytes"), "67108864\n");
  }
  auto report = p->Stop(std::chrono::milliseconds(2000));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->signal, SIGTERM);
  EXPECT_EQ(report->cgroup_note, "");
  for (const std::string& dir : dirs) {
    EXPECT_FALSE(fs::exists(dir)) << dir;
    ::rmdir(fs::path(dir).parent_path().c_str());  // the test's parent group
  }
}

}  // namespace
}  // namespace gpool::agent
