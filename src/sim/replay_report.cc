#include "sim/replay_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "sim/svg_plot.h"

namespace gpool::sim {
namespace {

double Round(double x, double unit) { return std::round(x / unit) * unit; }

nlohmann::json MetricsJson(const ReplayMetrics& m) {
  nlohmann::json j;
  j["jobs"] = m.jobs;
  j["time_avg_allocation"] = Round(m.time_avg_allocation, 0.01);
  j["delivered_gpu_hours"] = Round(m.delivered_gpu_hours, 0.1);
  j["mean_jct_s"] = Round(m.mean_jct_s, 1);
  j["p95_jct_s"] = Round(m.p95_jct_s, 1);
  j["mean_queue_s"] = Round(m.mean_queue_s, 1);
  j["preemptions"] = m.preemptions;
  j["lost_gpu_hours"] = Round(m.lost_gpu_hours, 0.1);
  j["migrations"] = m.migrations;
  j["allocation_while_waiting"] = Round(m.allocation_while_waiting, 0.01);
  j["waiting_hours"] = Round(m.waiting_hours, 0.1);
  j["makespan_s"] = Round(m.makespan_s, 1);
  return j;
}

std::string Hours(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f h", s / 3600);
  return buf;
}

}  // namespace

nlohmann::json ReplayResultJson(const ReplayResult& result, const ReplayConfig& config) {
  nlohmann::json j = MetricsJson(result.overall);
  j["mode"] = ReplayModeName(result.mode);
  j["gpus"] = result.gpus;
  j["gpu_model"] = config.gpu_type;
  j["window_s"] = Round(result.window_s, 1);
  j["interval_s"] = config.interval_s;
  j["checkpoint_interval_s"] = config.planner.checkpoint_interval_s;
  j["restore_s"] = config.planner.restore_s;
  j["rounds"] = result.rounds;
  j["guarantee_violations"] = result.guarantee_violations;
  nlohmann::json teams = nlohmann::json::object();
  for (const TeamReplay& t : result.teams) {
    nlohmann::json tj = MetricsJson(t.metrics);
    tj["quota_gpus"] = t.quota_gpus;
    tj["demand_gpu_hours"] = Round(t.demand_gpu_hours, 0.1);
    teams[t.name] = tj;
  }
  j["teams"] = teams;
  return j;
}

std::string ReplaySummaryTable(const std::vector<const ReplayResult*>& results) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-7s %8s %9s %14s %10s %10s %10s %8s %9s %8s\n", "mode",
                "alloc %", "waiting %", "delivered GPUh", "mean JCT", "p95 JCT", "mean queue",
                "preempt", "lost GPUh", "migrate");
  out += line;
  for (const ReplayResult* r : results) {
    const ReplayMetrics& m = r->overall;
    std::snprintf(line, sizeof line, "%-7s %8.2f %9.2f %14.0f %10s %10s %10s %8d %9.1f %8d\n",
                  ReplayModeName(r->mode), m.time_avg_allocation, m.allocation_while_waiting,
                  m.delivered_gpu_hours, Hours(m.mean_jct_s).c_str(), Hours(m.p95_jct_s).c_str(),
                  Hours(m.mean_queue_s).c_str(), m.preemptions, m.lost_gpu_hours, m.migrations);
    out += line;
  }
  if (results.empty()) return out;
  out += "\nper team: quota GPUs, demand GPU-hours, then mean JCT and mean queue per mode\n";
  std::snprintf(line, sizeof line, "%-8s %6s %10s", "team", "quota", "demand");
  out += line;
  for (const ReplayResult* r : results) {
    std::snprintf(line, sizeof line, " %13s %13s",
                  (std::string(ReplayModeName(r->mode)) + " JCT").c_str(),
                  (std::string(ReplayModeName(r->mode)) + " queue").c_str());
    out += line;
  }
  out += "\n";
  for (std::size_t t = 0; t < results[0]->teams.size(); ++t) {
    const TeamReplay& team = results[0]->teams[t];
    std::snprintf(line, sizeof line, "%-8s %6d %10.0f", team.name.c_str(), team.quota_gpus,
                  team.demand_gpu_hours);
    out += line;
    for (const ReplayResult* r : results) {
      const ReplayMetrics& m = r->teams[t].metrics;
      std::snprintf(line, sizeof line, " %13s %13s", Hours(m.mean_jct_s).c_str(),
                    Hours(m.mean_queue_s).c_str());
      out += line;
    }
    out += "\n";
  }
  return out;
}

std::string ReplayAllocationSvg(const std::vector<const ReplayResult*>& results) {
  LinePlot plot;
  plot.title = "Philly replay: GPUs allocated over time";
  plot.x_label = "hours from trace start";
  plot.y_label = "GPUs allocated (%)";
  plot.y_min = 0;
  plot.y_max = 100;
  plot.x_min = 0;
  plot.x_max = 1;
  for (const ReplayResult* r : results) {
    PlotSeries s;
    char label[96];
    std::snprintf(label, sizeof label, "%s, %d GPUs (%.1f %%)", ReplayModeName(r->mode), r->gpus,
                  r->overall.time_avg_allocation);
    s.label = label;
    s.points = r->allocation_series;
    s.color = r->mode == ReplayMode::kPool ? "#1f77b4" : "#d62728";
    plot.x_max = std::max(plot.x_max, r->overall.makespan_s / 3600);
    plot.series.push_back(std::move(s));
  }
  if (!results.empty()) {
    const double end = results.front()->window_s / 3600;
    PlotSeries window;
    window.label = "last arrival";
    window.points = {{end, 0}, {end, 100}};
    window.color = "#888888";
    window.dashed = true;
    plot.series.push_back(std::move(window));
  }
  return RenderSvg(plot);
}

}  // namespace gpool::sim
