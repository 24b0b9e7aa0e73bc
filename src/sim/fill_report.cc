#include "sim/fill_report.h"

#include <cmath>
#include <cstdio>

#include "sim/svg_plot.h"

namespace gpool::sim {
namespace {

nlohmann::json Cells(const std::vector<double>& v) {
  nlohmann::json out = nlohmann::json::array();
  for (double x : v) {
    if (std::isnan(x)) {
      out.push_back(nullptr);
    } else {
      out.push_back(std::round(x * 10000) / 10000);
    }
  }
  return out;
}

double Mean(const FillResult& r, std::int64_t FillRun::*field) {
  double s = 0;
  for (const FillRun& run : r.runs) s += static_cast<double>(run.*field);
  return r.runs.empty() ? 0 : s / static_cast<double>(r.runs.size());
}

}  // namespace

nlohmann::json FillResultJson(const FillResult& result, const FillOptions& options,
                              double wall_seconds) {
  nlohmann::json j;
  j["policy"] = result.policy;
  nlohmann::json seeds = nlohmann::json::array();
  for (const FillRun& r : result.runs) seeds.push_back(r.seed);
  j["seeds"] = seeds;
  j["total_gpus"] = result.total_gpus;
  j["inflate"] = options.inflate;
  j["migrate"] = options.migrate;
  j["allocation"] = Cells(result.runs.front().allocation);
  j["mean_allocation"] = Cells(result.mean_allocation);
  j["fragmentation"] = Cells(result.runs.front().fragmentation);
  j["mean_fragmentation"] = Cells(result.mean_fragmentation);
  j["failed_pods"] = result.runs.front().failed_pods;
  j["moves"] = result.runs.front().moves;
  j["mean_failed_pods"] = Mean(result, &FillRun::failed_pods);
  j["mean_moves"] = Mean(result, &FillRun::moves);
  nlohmann::json per_seed = nlohmann::json::array();
  for (const FillRun& r : result.runs) {
    const double last = r.allocation.back();
    per_seed.push_back(
        {{"seed", r.seed},
         {"arrivals", r.arrivals},
         {"failed_pods", r.failed_pods},
         {"moves", r.moves},
         {"moved_gpu_milli", r.moved_milli},
         {"first_failure", r.first_failure},
         {"locked_waste_bound", r.locked_waste_bound},
         {"relaxation_bound", r.relaxation_bound},
         {"allocation_at_130", std::isnan(last) ? nlohmann::json(nullptr) : nlohmann::json(last)}});
  }
  j["per_seed"] = per_seed;
  j["wall_seconds"] = wall_seconds;
  return j;
}

std::string FillSummaryTable(const FillResult& result, const FillOptions& options) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "policy %s, %lld GPUs, inflate %.2f, migrate %d, %zu seed(s)\n",
                result.policy.c_str(), static_cast<long long>(result.total_gpus), options.inflate,
                options.migrate, result.runs.size());
  out += line;
  out +=
      "seed   arrivals  failed  moves  alloc@100%  alloc@130%  bounds: LP relaxation, locked "
      "waste\n";
  for (const FillRun& r : result.runs) {
    std::snprintf(line, sizeof line,
                  "%-6llu %8lld  %6lld  %5lld  %9.2f%%  %9.2f%%  %14.2f%% %12.2f%%\n",
                  static_cast<unsigned long long>(r.seed), static_cast<long long>(r.arrivals),
                  static_cast<long long>(r.failed_pods), static_cast<long long>(r.moves),
                  r.allocation[100], r.allocation.back(), r.relaxation_bound, r.locked_waste_bound);
    out += line;
  }
  if (result.runs.size() > 1) {
    std::snprintf(line, sizeof line, "mean   %8s  %6.1f  %5.1f  %9.2f%%  %9.2f%%\n", "",
                  Mean(result, &FillRun::failed_pods), Mean(result, &FillRun::moves),
                  result.mean_allocation[100], result.mean_allocation.back());
    out += line;
  }
  return out;
}

std::string FillResultSvg(const std::vector<const FillResult*>& results, bool zoom) {
  LinePlot plot;
  plot.title = "GPU allocation as workload arrives (openb fill, mean over seeds)";
  plot.x_label = "arrived workload, % of GPU capacity";
  plot.y_label = "GPUs allocated, %";
  plot.x_min = zoom ? 70 : 0;
  plot.x_max = 130;
  plot.y_min = zoom ? 80 : 0;
  plot.y_max = 100;
  if (zoom) plot.title += ", zoomed";
  for (const FillResult* r : results) {
    PlotSeries s;
    s.label = r->policy;
    for (int c = 0; c < kAllocationColumns; ++c) {
      const double v = r->mean_allocation[static_cast<std::size_t>(c)];
      if (!std::isnan(v)) s.points.emplace_back(c, v);
    }
    plot.series.push_back(std::move(s));
  }
  PlotSeries ideal;
  ideal.label = "ideal (min(arrived, 100))";
  ideal.points = {{0, 0}, {100, 100}, {130, 100}};
  ideal.color = "#999999";
  ideal.dashed = true;
  plot.series.push_back(ideal);
  return RenderSvg(plot);
}

}  // namespace gpool::sim
