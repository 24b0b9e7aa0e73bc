#include "sim/allocation_bound.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "core/gpu_model.h"
#include "core/random.h"
#include "sim/fill_experiment.h"
#include "sim/openb_trace.h"

namespace gpool::sim {
namespace {

core::GpuModelId Model(const char* name) { return core::FindGpuModel(name).value(); }

// Nodes of `count` copies: `gpus` GPUs of `model`, `cpu` milli-cores, 256 GiB.
std::vector<core::Node> Nodes(int count, int gpus, const char* model, core::Milli cpu = 64000) {
  std::vector<core::Node> out;
  for (int i = 0; i < count; ++i) {
    core::Node n;
    n.name = std::string(model) + "-" + std::to_string(i);
    n.cpu_milli = cpu;
    n.memory_mib = 262144;
    n.gpu_count = gpus;
    n.model = Model(model);
    out.push_back(n);
  }
  return out;
}

std::vector<core::Node> operator+(std::vector<core::Node> a, const std::vector<core::Node>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// `count` pods of k GPUs of g milli each (k = 0: CPU-only), `cpu` milli-cores, 8 GiB.
std::vector<core::Workload> Pods(int count, int k, core::Milli g, core::Milli cpu = 4000,
                                 core::ModelSet models = 0) {
  std::vector<core::Workload> out;
  for (int i = 0; i < count; ++i) {
    core::Workload w;
    w.name = "pod-" + std::to_string(i);
    w.cpu_milli = cpu;
    w.memory_mib = 8192;
    w.gpu.count = k;
    w.gpu.milli_per_gpu = g;
    w.gpu.models = models;
    out.push_back(w);
  }
  return out;
}

std::vector<core::Workload> operator+(std::vector<core::Workload> a,
                                      const std::vector<core::Workload>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

struct BoundCase {
  std::string name;
  std::vector<core::Node> nodes;
  std::vector<core::Workload> pods;
  std::int64_t bound_milli;
  std::string binding_prefix;  // what the binding string starts with
};

TEST(UpperBoundAllocation, DerivedBounds) {
  const std::vector<BoundCase> cases = {
      // (a) 24 one-GPU pods on 2 x 8 GPUs: at most 16 fit, so 16000 of 16000 milli = 100 %.
      {"more whole GPUs than the cluster", Nodes(2, 8, "G2"), Pods(24, 1, 1000), 16000,
       "GPU capacity on G2 nodes 100%"},
      // 3 pods of 8 GPUs (24 GPUs) on 2 x 8: one per node, 16000.
      {"8-GPU pods fill 8-GPU nodes", Nodes(2, 8, "G2"), Pods(3, 8, 1000), 16000, "GPU capacity"},
      // (b) each pod takes all 64 cores of a node and one GPU: one pod per node, 2 of 16 GPUs =
      // 2000 milli (12.5 % = nodes / GPUs).
      {"CPU binds", Nodes(2, 8, "G2"), Pods(20, 1, 1000, 64000), 2000, "CPU on G2 nodes 100%"},
      // Pods of 40 of 64 cores: the CPU capacity row alone allows 2 * 64 / 40 = 3.2 pods; two
      // such pods cannot share a node (80 > 64), so u1 allows 2: 2000.
      {"more than half a node's CPU", Nodes(2, 8, "G2"), Pods(20, 1, 1000, 40000), 2000,
       "CPU on G2 nodes"},
      // (c) 5 whole-GPU pods allowed only on T4; the one T4 node has 2 GPUs: 2000 of 18000.
      {"model constraint", Nodes(1, 2, "T4") + Nodes(2, 8, "G2"),
       Pods(5, 1, 1000, 4000, core::ModelBit(Model("T4"))), 2000, "GPU capacity on T4 nodes 100%"},
      // (d) 8-GPU pods never fit 4-GPU nodes; the two 1-GPU pods do: 2000 of 8000, limited by what
      // arrived.
      {"8-GPU pods on 4-GPU nodes", Nodes(2, 4, "V100M16"), Pods(3, 8, 1000) + Pods(2, 1, 1000),
       2000, "pods that arrived 100%"},
      {"nothing fits", Nodes(2, 4, "V100M16"), Pods(3, 8, 1000), 0, "no GPU pod fits any node"},
      // Three 400-milli shares on one GPU: the milli row allows 2.5 of them (1000); three do not
      // fit (1200 > 1000), and u2 weighs each 1/2: 2 pods, 800.
      {"u2: at most two shares of 334..666", Nodes(1, 1, "T4"), Pods(3, 1, 400), 800,
       "GPU capacity"},
      // Two 600-milli shares on one GPU: u1 weighs each 1: one pod, 600.
      {"u1: one share above 500 per GPU", Nodes(1, 1, "T4"), Pods(2, 1, 600), 600, "GPU capacity"},
      // Two 500-milli shares fit one GPU exactly: 1000.
      {"two halves fill a GPU", Nodes(1, 1, "T4"), Pods(3, 1, 500), 1000, "GPU capacity"},
      // Two 5-GPU pods on one 8-GPU node: 10 GPUs would not fit; at most one pod above G/2: 5000.
      {"one pod above half the GPUs per node", Nodes(1, 8, "G2"), Pods(2, 5, 1000), 5000,
       "whole GPUs per node on G2 nodes"},
      // CPU-only pods take capacity but allocate nothing; an optimum leaves them out: as (a).
      {"CPU-only pods change nothing", Nodes(2, 8, "G2"), Pods(24, 1, 1000) + Pods(50, 0, 0, 64000),
       16000, "GPU capacity"},
      {"no pods", Nodes(2, 8, "G2"), {}, 0, "no GPU pods arrived"},
  };
  for (const BoundCase& c : cases) {
    SCOPED_TRACE(c.name);
    Result<AllocationBound> b = UpperBoundAllocation(c.nodes, c.pods);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_EQ(b->bound_milli, c.bound_milli);
    std::int64_t total = 0;
    for (const core::Node& n : c.nodes) total += n.gpu_count * 1000;
    EXPECT_EQ(b->total_milli, total);
    EXPECT_DOUBLE_EQ(b->bound_percent, 100.0 * static_cast<double>(std::min(c.bound_milli, total)) /
                                           static_cast<double>(total));
    EXPECT_EQ(b->binding.substr(0, c.binding_prefix.size()), c.binding_prefix) << b->binding;
  }
}

TEST(UpperBoundAllocation, ExcludesPairsThatNeverFit) {
  // (d) again: the 8-GPU type has no variable; the 1-GPU type one (one shape).
  Result<AllocationBound> b =
      UpperBoundAllocation(Nodes(2, 4, "V100M16"), Pods(3, 8, 1000) + Pods(2, 1, 1000));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->pod_types, 2);
  EXPECT_EQ(b->node_shapes, 1);
  EXPECT_EQ(b->variables, 1);
}

TEST(UpperBoundAllocation, EmptyClusterAndBadInput) {
  Result<AllocationBound> empty = UpperBoundAllocation({}, Pods(2, 1, 1000));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->total_milli, 0);
  EXPECT_EQ(empty->bound_milli, 0);
  EXPECT_EQ(empty->bound_percent, 0);
  std::vector<core::Workload> bad = Pods(1, 1, 1000, -5);
  Result<AllocationBound> r = UpperBoundAllocation(Nodes(1, 2, "T4"), bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(UpperBoundAllocation, OpenbDefaultTrace) {
  const std::string dir = std::string(GPOOL_SHARED_DIR) + "/traces/openb/";
  auto nodes = ReadOpenbNodes(dir + "openb_node_list_gpu_node.csv");
  auto pods = ReadOpenbPods(dir + "openb_pod_list_default.csv");
  ASSERT_TRUE(nodes.ok() && pods.ok());
  auto trace = ToPoolModel(*nodes, *pods);
  ASSERT_TRUE(trace.ok()) << trace.status().ToString();

  // The trace's own pods: 6,086,800 milli arrive, 98.0 % of 6,212,000.
  const auto t0 = std::chrono::steady_clock::now();
  Result<AllocationBound> own = UpperBoundAllocation(trace->nodes, trace->pods);
  const double own_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  EXPECT_EQ(own->total_milli, 6'212'000);
  EXPECT_LE(own->bound_milli, 6'086'800);
  std::printf(
      "trace pods: bound %.3f %% (%lld milli), %d types x %d shapes, %d variables, %d rows, %.1f "
      "ms\n"
      "  binding: %s\n",
      own->bound_percent, static_cast<long long>(own->bound_milli), own->pod_types,
      own->node_shapes, own->variables, own->rows, own_ms, own->binding.c_str());

  // A fill run at 130 % (seed 42) computes the bound over its own arrivals: at least what FGD
  // allocates there, at most 100 %, and not below the bound of the trace's own pods (a superset).
  FillOptions options;
  options.policy = "fgd";
  Result<FillRun> run = RunFillSeed(*trace, options, 42);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  const double fgd = 100.0 * static_cast<double>(run->final_used_milli) / 6'212'000;
  std::printf("fill seed 42: LP bound %.3f %%, fgd allocates %.3f %%\n", run->relaxation_bound,
              fgd);
  EXPECT_GE(run->relaxation_bound, fgd);
  EXPECT_LE(run->relaxation_bound, 100.0);
  EXPECT_GE(run->relaxation_bound, own->bound_percent);
}

}  // namespace
}  // namespace gpool::sim
