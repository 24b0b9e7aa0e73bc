// Fill-experiment speed: one openb fill run (default trace, seed 42, fgd) and the six published
// policies x 10 seeds, timed on this machine. The published Go simulator (FGD artifact) needs about
// ten minutes for one run; we cannot run it here, so its figure is quoted, not measured.
//
// usage: fill_bench [--repeat N] [--threads T] [--traces DIR]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "sim/fill_experiment.h"
#include "sim/openb_trace.h"
#include "timing.h"

using gpool::sim::FillOptions;

namespace {

using gpool::bench::Median;
using gpool::bench::Seconds;
}  // namespace

int main(int argc, char** argv) {
  int repeat = 5;
  int threads = 1;
  std::string traces = std::string(GPOOL_SHARED_DIR) + "/traces";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--repeat") == 0) repeat = std::max(1, std::atoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::max(1, std::atoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--traces") == 0) traces = argv[i + 1];
  }
  const auto load_start = std::chrono::steady_clock::now();
  auto nodes = gpool::sim::ReadOpenbNodes(traces + "/openb/openb_node_list_gpu_node.csv");
  auto pods = gpool::sim::ReadOpenbPods(traces + "/openb/openb_pod_list_default.csv");
  if (!nodes.ok() || !pods.ok()) {
    std::fprintf(stderr, "cannot read the openb trace under %s\n", traces.c_str());
    return 2;
  }
  auto trace = gpool::sim::ToPoolModel(*nodes, *pods);
  if (!trace.ok()) {
    std::fprintf(stderr, "%s\n", trace.status().ToString().c_str());
    return 2;
  }
  std::printf("load + convert trace: %.3f s\n", Seconds(load_start));

  for (const char* policy : {"fgd", "gpool"}) {
    std::vector<double> t;
    for (int r = 0; r < repeat; ++r) {
      FillOptions o;
      o.policy = policy;
      const auto start = std::chrono::steady_clock::now();
      auto run = gpool::sim::RunFillSeed(*trace, o, 42);
      t.push_back(Seconds(start));
      if (!run.ok()) return 1;
    }
    std::printf("one fill run (default, seed 42, %s): median %.3f s of %d\n", policy, Median(t),
                repeat);
    std::printf("RESULT bench=fill_one_run policy=%s seconds=%.3f\n", policy, Median(t));
  }

  std::vector<double> grid;
  for (int r = 0; r < std::max(1, repeat / 2); ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (const char* policy :
         {"random", "dot-product", "gpu-clustering", "gpu-packing", "best-fit", "fgd"}) {
      FillOptions o;
      o.policy = policy;
      o.seeds = {42, 43, 44, 45, 46, 47, 48, 49, 50, 51};
      o.threads = threads;
      auto res = gpool::sim::RunFill(*trace, o);
      if (!res.ok()) return 1;
    }
    grid.push_back(Seconds(start));
  }
  std::printf("six policies x 10 seeds (default, %d thread(s)): median %.2f s of %zu\n", threads,
              Median(grid), grid.size());
  std::printf("RESULT bench=fill_six_policies_ten_seeds threads=%d seconds=%.2f\n", threads,
              Median(grid));
  return 0;
}
