// Reports of a Philly replay: the JSON document of `gpool sim replay`, a text table and an SVG
// plot of allocation over time. Pure: they return text; callers write files.
//
// JSON of one mode: mode, gpus, gpu_model, window_s, the ReplayMetrics fields
// (time_avg_allocation %, delivered_gpu_hours, mean_jct_s, p95_jct_s, mean_queue_s, preemptions,
// lost_gpu_hours, migrations, makespan_s, jobs), rounds, guarantee_violations, and teams: an object
// keyed by team name with quota_gpus, demand_gpu_hours and the same metrics (a team's
// time_avg_allocation is in % of its quota, so a borrowing team exceeds 100).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sim/philly_replay.h"

namespace gpool::sim {

nlohmann::json ReplayResultJson(const ReplayResult& result, const ReplayConfig& config);
// One row per mode, then per team (mean JCT of every mode side by side).
std::string ReplaySummaryTable(const std::vector<const ReplayResult*>& results);
std::string ReplayAllocationSvg(const std::vector<const ReplayResult*>& results);

}  // namespace gpool::sim
