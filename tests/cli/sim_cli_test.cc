// End-to-end tests of `gpool sim fill` / `gpool sim compare` through the real binary: the JSON
// contract, and clear errors (exit code 2, message naming the problem) on bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_run.h"

namespace {

namespace fs = std::filesystem;

using gpool::test::CliRun;
using gpool::test::RunGpool;

class SimCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("gpool-cli-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    // Two nodes of 2 GPUs (4 GPUs = 4000 milli); pods ask 1000, 500, 500, 1000 and 2000 milli.
    Write("nodes.csv",
          "sn,cpu_milli,memory_mib,gpu,model\nn0,32000,65536,2,T4\nn1,32000,65536,2,V100M16\n");
    Write("pods.csv",
          "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n"
          "p0,1000,1024,1,1000,\np1,1000,1024,1,500,\np2,1000,1024,1,500,T4\np3,2000,2048,1,1000,"
          "V100M16\n"
          "p4,4000,4096,2,1000,\np5,500,512,0,0,\n");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

TEST_F(SimCli, FillWritesTheJsonContract) {
  const CliRun r = RunGpool("sim fill --nodes " + Path("nodes.csv") + " --pods " +
                            Path("pods.csv") + " --policy fgd --seeds 1-3 --json " +
                            Path("out.json") + " --svg " + Path("out.svg"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(Path("out.json"));
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["policy"], "fgd");
  EXPECT_EQ(j["seeds"], nlohmann::json::array({1, 2, 3}));
  EXPECT_EQ(j["total_gpus"], 4);
  EXPECT_EQ(j["allocation"].size(), 131u);
  EXPECT_EQ(j["mean_allocation"].size(), 131u);
  EXPECT_TRUE(j.contains("failed_pods"));
  EXPECT_TRUE(j.contains("moves"));
  EXPECT_TRUE(j.contains("wall_seconds"));
  // Every present cell is an allocation percentage.
  for (const auto& cell : j["allocation"]) {
    if (!cell.is_null()) {
      EXPECT_GE(cell.get<double>(), 0);
      EXPECT_LE(cell.get<double>(), 100);
    }
  }
  std::ifstream svg(Path("out.svg"));
  std::stringstream ss;
  ss << svg.rdbuf();
  EXPECT_EQ(ss.str().rfind("<svg", 0), 0u);
}

TEST_F(SimCli, UnknownPolicyIsAClearError) {
  const CliRun r = RunGpool("sim fill --nodes " + Path("nodes.csv") + " --pods " +
                            Path("pods.csv") + " --policy nope");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("unknown policy 'nope'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("fgd"), std::string::npos) << "lists the known policies: " << r.output;
}

TEST_F(SimCli, MalformedCsvNamesFileLineAndColumn) {
  Write("bad.csv",
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,1000,1024,1,1000\np1,10x0,1024,1,1000\n");
  const CliRun r = RunGpool("sim fill --nodes " + Path("nodes.csv") + " --pods " + Path("bad.csv"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("bad.csv:3:2"), std::string::npos) << r.output;
}

TEST_F(SimCli, UnknownGpuModelIsAClearError) {
  Write("nodes2.csv", "sn,cpu_milli,memory_mib,gpu,model\nn0,32000,65536,2,Z9000\n");
  const CliRun r =
      RunGpool("sim fill --nodes " + Path("nodes2.csv") + " --pods " + Path("pods.csv"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("Z9000"), std::string::npos) << r.output;
}

TEST_F(SimCli, MissingFileAndBadSeedRange) {
  CliRun r = RunGpool("sim fill --nodes " + Path("absent.csv") + " --pods " + Path("pods.csv"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("absent.csv"), std::string::npos) << r.output;
  r = RunGpool("sim fill --nodes " + Path("nodes.csv") + " --pods " + Path("pods.csv") +
               " --seeds 9-3");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--seeds"), std::string::npos) << r.output;
}

TEST_F(SimCli, UsageErrorsExitTwo) {
  CliRun r = RunGpool("");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = RunGpool("sim fill --nodes " + Path("nodes.csv"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--pods is required"), std::string::npos) << r.output;
  r = RunGpool("sim fill --nodes " + Path("nodes.csv") + " --pods " + Path("pods.csv") +
               " --migrate -1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

TEST_F(SimCli, HelpAnswers) {
  const CliRun r = RunGpool("sim fill --help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag :
       {"--nodes", "--pods", "--policy", "--seeds", "--inflate", "--migrate", "--json", "--svg"}) {
    EXPECT_NE(r.output.find(flag), std::string::npos) << flag;
  }
}

TEST_F(SimCli, CompareRunsPoliciesSideBySide) {
  fs::create_directories(dir_ / "traces" / "openb");
  fs::copy_file(dir_ / "nodes.csv", dir_ / "traces" / "openb" / "openb_node_list_gpu_node.csv");
  fs::copy_file(dir_ / "pods.csv", dir_ / "traces" / "openb" / "openb_pod_list_tiny.csv");
  const CliRun r =
      RunGpool("sim compare --traces " + Path("traces") +
               " --workload tiny --policies fgd,gpool --seeds 1-2 --out " + Path("out"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("gpool --migrate 4"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(dir_ / "out" / "fill.svg"));
  std::ifstream in(dir_ / "out" / "fill.json");
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j.size(), 3u);  // fgd, gpool, gpool --migrate 4
}

}  // namespace

// `gpool sim replay` on a two-team Philly-format trace (tab-separated, 7 fields).
class ReplayCli : public SimCli {
 protected:
  void SetUp() override {
    SimCli::SetUp();
    fs::create_directories(dir_ / "vcs");
    // x: two 1-GPU jobs of 3600 s at 0 (B runs 5 steps/s); y: one of 7200 s at 7200.
    Write("vcs/x.trace", "B\tcmd\t-n\t1\t18000\t0\t1\nB\tcmd\t-n\t1\t18000\t0\t1\n");
    Write("vcs/y.trace", "B\tcmd\t-n\t0\t36000\t7200\t1\n");
    Write("speeds.json",
          R"json({"v100": {"('B', 1)": {"null": 5.0, "('B', 1)": [2.0, 2.0]}}})json");
  }
  std::string Base() const {
    return "sim replay --philly " + Path("vcs") + " --throughputs " + Path("speeds.json");
  }
};

TEST_F(ReplayCli, WritesMetricsPerModeAndTeam) {
  // Quotas 1 and 1. static: x's second job waits 3600 s (JCTs 3600, 7200, 7200: mean 6000);
  // pool: it borrows y's idle GPU (3600, 3600, 7200: mean 4800).
  const CliRun r =
      RunGpool(Base() + " --gpus 2 --json " + Path("r.json") + " --svg " + Path("r.svg"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("mean JCT 1.25x lower"), std::string::npos) << r.output;
  std::ifstream in(Path("r.json"));
  const nlohmann::json j = nlohmann::json::parse(in);
  for (const char* mode : {"static", "pool"}) {
    for (const char* key : {"time_avg_allocation", "delivered_gpu_hours", "mean_jct_s", "p95_jct_s",
                            "mean_queue_s", "preemptions", "lost_gpu_hours"}) {
      EXPECT_TRUE(j[mode].contains(key)) << mode << " " << key;
      EXPECT_TRUE(j[mode]["teams"]["x"].contains(key)) << mode << " x " << key;
    }
  }
  EXPECT_EQ(j["static"]["mean_jct_s"], 6000);
  EXPECT_EQ(j["pool"]["mean_jct_s"], 4800);
  EXPECT_EQ(j["pool"]["teams"]["x"]["quota_gpus"], 1);
  EXPECT_EQ(j["pool"]["guarantee_violations"], 0);
  std::ifstream svg(Path("r.svg"));
  std::stringstream ss;
  ss << svg.rdbuf();
  EXPECT_NE(ss.str().find("<svg"), std::string::npos);

  // One mode: the metrics at the top level.
  const CliRun one = RunGpool(Base() + " --gpus 2 --mode static --json " + Path("s.json"));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  std::ifstream sin(Path("s.json"));
  const nlohmann::json s = nlohmann::json::parse(sin);
  EXPECT_EQ(s["mode"], "static");
  EXPECT_EQ(s["mean_jct_s"], 6000);
}

TEST_F(ReplayCli, BadInputIsAClearError) {
  struct Case {
    std::string args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {Base() + " --gpus 1", "at least one GPU per team: 2 teams, 1 GPUs"},
      {Base() + " --gpus 2 --gpu-model k80", "GPU type 'k80' is not in the throughput table"},
      {Base() + " --gpus 2 --mode shared", "--mode"},
      {"sim replay --philly " + Path("none") + " --throughputs " + Path("speeds.json") +
           " --gpus 2",
       "none"},
      {"sim replay --philly " + Path("vcs") + " --throughputs " + Path("vcs/x.trace") + " --gpus 2",
       "x.trace"},
      {"sim replay --philly " + Path("vcs") + " --throughputs " + Path("speeds.json"), "--gpus"},
  };
  for (const Case& c : cases) {
    const CliRun r = RunGpool(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
  }
  Write("vcs/z.trace", "B\tcmd\t-n\t1\tmany\t0\t1\n");
  const CliRun bad = RunGpool(Base() + " --gpus 4");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("z.trace:1: field 5 (total steps)"), std::string::npos) << bad.output;
}

TEST_F(ReplayCli, HelpNamesEveryOption) {
  const CliRun r = RunGpool("sim replay --help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* opt : {"--philly", "--throughputs", "--gpus", "--gpu-model", "--mode",
                          "--checkpoint-interval", "--restore", "--json", "--svg"}) {
    EXPECT_NE(r.output.find(opt), std::string::npos) << opt;
  }
}
