#include "sim/fill_experiment.h"

#include <gtest/gtest.h>

#include <cmath>

#include "sim/published_results.h"

namespace gpool::sim {
namespace {

OpenbNode Node(std::string sn, int gpus, std::string model) {
  return OpenbNode{std::move(sn), 32000, 131072, gpus, std::move(model)};
}

OpenbPod Pod(std::string name, std::int64_t cpu, int k, std::int64_t milli, std::string spec = "") {
  return OpenbPod{std::move(name), cpu, 1024, k, milli, std::move(spec)};
}

TEST(ToPoolModel, NormalisesRequestsAsThePublishedSimulator) {
  const std::vector<OpenbNode> nodes = {Node("b", 2, "T4"), Node("a", 4, "V100M16")};
  const std::vector<OpenbPod> pods = {
      Pod("p3", 1000, 1, 1500),             // gpu_milli > 1000 -> a whole GPU
      Pod("p1", 1000, 1, 0),                // num_gpu 1 but 0 milli -> CPU-only
      Pod("p2", 1000, 0, 500),              // num_gpu 0 -> CPU-only, milli ignored
      Pod("p0", 1000, 2, 1000, "V100M16"),  // two whole GPUs, model constraint
  };
  auto t = ToPoolModel(nodes, pods);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->nodes.size(), 2u);
  EXPECT_EQ(t->nodes[0].name, "a");  // sorted by sn
  ASSERT_EQ(t->pods.size(), 4u);
  EXPECT_EQ(t->pods[0].name, "p0");  // sorted by name
  EXPECT_EQ(t->pods[0].gpu.count, 2);
  EXPECT_NE(t->pods[0].gpu.models, 0u);
  EXPECT_FALSE(t->pods[1].gpu.NeedsGpu());
  EXPECT_FALSE(t->pods[2].gpu.NeedsGpu());
  EXPECT_EQ(t->pods[3].gpu.milli_per_gpu, 1000);
  EXPECT_EQ(t->types.size(), 3u);  // (1000,0,0,""), (1000,1000,1,""), (1000,1000,2,"V100M16")
}

TEST(ToPoolModel, UnknownModelsAreNamed) {
  auto t = ToPoolModel({Node("a", 2, "X1")}, {});
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("X1"), std::string::npos);
  auto u = ToPoolModel({Node("a", 2, "T4")}, {Pod("p", 1, 1, 100, "T4|Q9")});
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.status().message().find("Q9"), std::string::npos);
  EXPECT_NE(u.status().message().find("pod p"), std::string::npos);
}

OpenbWorkload SmallTrace() {
  std::vector<OpenbNode> nodes;
  for (int i = 0; i < 6; ++i)
    nodes.push_back(Node("n" + std::to_string(i), i % 2 ? 4 : 2, i % 3 ? "T4" : "A10"));
  std::vector<OpenbPod> pods;
  const std::int64_t shares[] = {250, 500, 810, 1000, 1000, 300};
  for (int i = 0; i < 30; ++i)
    pods.push_back(Pod("p" + std::to_string(100 + i), 2000 + 500 * (i % 5), 1, shares[i % 6]));
  pods.push_back(Pod("p200", 4000, 2, 1000));
  pods.push_back(Pod("p201", 1000, 0, 0));
  return ToPoolModel(nodes, pods).value();
}

TEST(RunFill, DeterministicPerSeedAndIndependentOfThreads) {
  const OpenbWorkload trace = SmallTrace();
  for (const char* policy : {"random", "best-fit", "fgd", "gpool"}) {
    FillOptions one;
    one.policy = policy;
    one.seeds = {1, 2, 3, 4};
    FillOptions two = one;
    two.threads = 2;
    auto a = RunFill(trace, one);
    auto b = RunFill(trace, two);
    ASSERT_TRUE(a.ok() && b.ok());
    for (std::size_t i = 0; i < a->runs.size(); ++i) {
      EXPECT_EQ(a->runs[i].final_used_milli, b->runs[i].final_used_milli) << policy;
      EXPECT_EQ(a->runs[i].failed_pods, b->runs[i].failed_pods) << policy;
      EXPECT_EQ(a->runs[i].arrivals, b->runs[i].arrivals) << policy;
    }
  }
}

TEST(RunFill, ArrivesUntilTheInflatedCapacityAndAccountsEveryPod) {
  // 18 GPUs = 18000 milli; inflate 1.3 -> arrivals stop once 23400 milli would be passed.
  const OpenbWorkload trace = SmallTrace();
  FillOptions o;
  o.policy = "fgd";
  o.seeds = {7};
  auto r = RunFill(trace, o);
  ASSERT_TRUE(r.ok());
  const FillRun& run = r->runs[0];
  EXPECT_EQ(r->total_gpus, 18);
  EXPECT_LE(run.arrived_milli, 23400 + 1000);  // one draw may overshoot by its own request
  EXPECT_GT(run.arrived_milli, 18000);
  EXPECT_LE(run.final_used_milli, 18000);
  EXPECT_GT(run.failed_pods, 0);  // 130 % cannot all fit
  ASSERT_EQ(run.allocation.size(), 131u);
  EXPECT_FALSE(std::isnan(run.allocation[100]));
  EXPECT_LE(100.0 * static_cast<double>(run.final_used_milli) / 18000,
            run.locked_waste_bound + 1e-9);
}

TEST(RunFill, RejectsBadOptions) {
  const OpenbWorkload trace = SmallTrace();
  FillOptions o;
  o.policy = "nope";
  EXPECT_FALSE(RunFill(trace, o).ok());
  o.policy = "fgd";
  o.inflate = -1;
  EXPECT_FALSE(RunFill(trace, o).ok());
  o.inflate = 1.3;
  o.seeds.clear();
  EXPECT_FALSE(RunFill(trace, o).ok());
}

TEST(PublishedResults, ParsesRowsAndMeans) {
  std::string header = "workload,sc_policy,tune,seed,total_gpus";
  for (int c = 0; c <= 130; ++c) header += "," + std::to_string(c);
  auto row = [](const char* policy, int seed, double last) {
    std::string r =
        std::string("openb_pod_list_default,") + policy + ",1.3," + std::to_string(seed) + ",6212";
    for (int c = 0; c < 130; ++c) r += ",1.0";
    return r + "," + std::to_string(last);
  };
  const std::string csv =
      header + "\n" + row("06-FGD", 42, 95.0) + "\n" + row("06-FGD", 43, 96.0) + "\n";
  auto p = PublishedResults::Parse(csv, "t.csv");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_DOUBLE_EQ(p->Mean("default", "fgd", 130), 95.5);  // (95 + 96) / 2
  EXPECT_TRUE(std::isnan(p->Mean("default", "random", 130)));
  auto bad = PublishedResults::Parse(header + "\nx,y,1.3,42,6212,1\n", "t.csv");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("t.csv:2"), std::string::npos);
}

}  // namespace
}  // namespace gpool::sim
