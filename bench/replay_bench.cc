// Philly replay: static per-team partitions against the shared pool on the whole trace, for a
// range of cluster sizes, with the wall time of each replay (median of --repeat runs). Prints a
// markdown table for docs/benchmarks.md §4 and RESULT lines.
//
// usage: replay_bench [--repeat N] [--gpus 192,256,320,400] [--traces DIR]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "sim/philly_replay.h"
#include "timing.h"

namespace {

using gpool::bench::Median;
using gpool::bench::Seconds;
using gpool::sim::ReplayMode;

}  // namespace

int main(int argc, char** argv) {
  int repeat = 3;
  std::string sizes = "192,256,320,400";
  std::string traces = std::string(GPOOL_SHARED_DIR) + "/traces";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--repeat") == 0) repeat = std::max(1, std::atoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--gpus") == 0) sizes = argv[i + 1];
    if (std::strcmp(argv[i], "--traces") == 0) traces = argv[i + 1];
  }
  const auto load_start = std::chrono::steady_clock::now();
  auto jobs = gpool::sim::ReadPhillyDir(traces + "/gavel/philly_vcs");
  auto table = gpool::sim::ThroughputTable::Read(traces + "/gavel/simulation_throughputs.json");
  if (!jobs.ok() || !table.ok()) {
    std::fprintf(stderr, "cannot read the gavel traces under %s\n", traces.c_str());
    return 2;
  }
  std::printf("load traces: %.3f s, %zu jobs\n\n", Seconds(load_start), jobs->size());
  std::printf(
      "| GPUs | mode | alloc %% (window) | alloc %% while jobs wait | delivered GPU-h | mean JCT h "
      "| p95 JCT h | mean queue h | preemptions | lost GPU-h | migrations | replay s |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::stringstream ss(sizes);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const int gpus = std::atoi(item.c_str());
    double static_jct = 0;
    for (ReplayMode mode : {ReplayMode::kStatic, ReplayMode::kPool}) {
      gpool::sim::ReplayConfig c;
      c.mode = mode;
      c.gpus = gpus;
      std::vector<double> t;
      gpool::sim::ReplayResult last;
      for (int r = 0; r < repeat; ++r) {
        const auto start = std::chrono::steady_clock::now();
        auto res = gpool::sim::RunPhillyReplay(*jobs, *table, c);
        t.push_back(Seconds(start));
        if (!res.ok()) {
          std::fprintf(stderr, "%s\n", res.status().ToString().c_str());
          return 1;
        }
        last = std::move(*res);
      }
      const auto& m = last.overall;
      if (mode == ReplayMode::kStatic) static_jct = m.mean_jct_s;
      std::printf("| %d | %s | %.2f | %.2f | %.0f | %.1f | %.1f | %.1f | %d | %.1f | %d | %.2f |\n",
                  gpus, gpool::sim::ReplayModeName(mode), m.time_avg_allocation,
                  m.allocation_while_waiting, m.delivered_gpu_hours, m.mean_jct_s / 3600,
                  m.p95_jct_s / 3600, m.mean_queue_s / 3600, m.preemptions, m.lost_gpu_hours,
                  m.migrations, Median(t));
      std::fprintf(stderr,
                   "RESULT bench=philly_replay gpus=%d mode=%s seconds=%.3f alloc=%.2f "
                   "jct_ratio=%.2f violations=%d\n",
                   gpus, gpool::sim::ReplayModeName(mode), Median(t), m.time_avg_allocation,
                   mode == ReplayMode::kPool && m.mean_jct_s > 0 ? static_jct / m.mean_jct_s : 1.0,
                   last.guarantee_violations);
    }
  }
  return 0;
}
