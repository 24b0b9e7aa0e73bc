// Acceptance of the openb fill experiment against the FGD authors' published results
// (../shared/traces/openb/expected/analysis_allo_discrete.csv and analysis_frag_discrete.csv),
// seeds 42-51, column 130 %.
//   1. each published policy's 10-seed mean allocation (and fragmentation) is within 1.0 point of
//      the published mean;
//   2. gpool (no migration) beats the published FGD mean on every workload.
// gpool's generator is not Go's math/rand, so single seeds differ; the means must agree
// (the spec reports 0.13 points for the deterministic policies and 0.34 for random).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "sim/fill_experiment.h"
#include "sim/openb_trace.h"
#include "sim/published_results.h"

namespace gpool::sim {
namespace {

const std::string kOpenb = std::string(GPOOL_SHARED_DIR) + "/traces/openb";

const PublishedResults& Published() {
  static const PublishedResults* p = [] {
    auto r = PublishedResults::Read(kOpenb + "/expected/analysis_allo_discrete.csv");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return new PublishedResults(std::move(r).value());
  }();
  return *p;
}

const PublishedResults& PublishedFragmentation() {
  static const PublishedResults* p = [] {
    auto r = PublishedResults::Read(kOpenb + "/expected/analysis_frag_discrete.csv");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return new PublishedResults(std::move(r).value());
  }();
  return *p;
}

OpenbWorkload LoadTrace(const std::string& workload) {
  auto nodes = ReadOpenbNodes(kOpenb + "/openb_node_list_gpu_node.csv");
  EXPECT_TRUE(nodes.ok()) << nodes.status().ToString();
  auto pods = ReadOpenbPods(kOpenb + "/openb_pod_list_" + workload + ".csv");
  EXPECT_TRUE(pods.ok()) << pods.status().ToString();
  auto t = ToPoolModel(*nodes, *pods);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return std::move(t).value();
}

struct Means {
  double allocation;     // % at 130 % arrived
  double fragmentation;  // FGD-fragmented GPUs, % of all, at 130 % arrived
};

Means MeanAt130(const OpenbWorkload& trace, const std::string& policy) {
  FillOptions o;
  o.policy = policy;
  o.seeds = {42, 43, 44, 45, 46, 47, 48, 49, 50, 51};
  auto r = RunFill(trace, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return {r->mean_allocation.back(), r->mean_fragmentation.back()};
}

class OpenbReproduction : public ::testing::TestWithParam<std::string> {};

TEST_P(OpenbReproduction, PublishedPoliciesWithinOnePointAndGpoolBeatsFgd) {
  const std::string workload = GetParam();
  const OpenbWorkload trace = LoadTrace(workload);
  for (const char* policy :
       {"random", "dot-product", "gpu-clustering", "gpu-packing", "best-fit", "fgd"}) {
    const double published = Published().Mean(workload, policy, 130);
    ASSERT_FALSE(std::isnan(published)) << workload << "/" << policy;
    const Means ours = MeanAt130(trace, policy);
    const double published_frag = PublishedFragmentation().Mean(workload, policy, 130);
    std::printf(
        "%-12s %-15s ours %6.2f published %6.2f delta %+5.2f | fragmentation ours %5.2f "
        "published %5.2f\n",
        workload.c_str(), policy, ours.allocation, published, ours.allocation - published,
        ours.fragmentation, published_frag);
    EXPECT_NEAR(ours.allocation, published, 1.0) << workload << "/" << policy;
    // The fragmentation curve (same runs, FGD's measure) agrees as well.
    EXPECT_NEAR(ours.fragmentation, published_frag, 1.0) << workload << "/" << policy;
  }
  const double fgd = Published().Mean(workload, "fgd", 130);
  const double gpool = MeanAt130(trace, "gpool").allocation;
  std::printf("%-12s %-15s ours %6.2f published fgd %6.2f margin %+5.2f\n", workload.c_str(),
              "gpool", gpool, fgd, gpool - fgd);
  EXPECT_GT(gpool, fgd) << workload << ": gpool must beat the published FGD mean";
}

INSTANTIATE_TEST_SUITE_P(AllWorkloads, OpenbReproduction,
                         ::testing::Values("default", "cpu050", "cpu100", "gpushare40",
                                           "gpushare60", "gpushare80", "gpushare100", "gpuspec10",
                                           "gpuspec20", "multigpu20", "multigpu30"));

}  // namespace
}  // namespace gpool::sim
