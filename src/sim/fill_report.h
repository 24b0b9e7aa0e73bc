// Reports of a fill experiment: a text table, the JSON document of the CLI contract and an SVG
// plot of the allocation curves. Pure: they return text; callers write files.
//
// JSON fields: policy, seeds, total_gpus, allocation (131 cells of the first seed, null where
// absent), mean_allocation (per cell, mean over seeds), fragmentation and mean_fragmentation
// (the same columns: FGD-fragmented GPUs in % of all GPUs), failed_pods and moves (first seed),
// mean_failed_pods, mean_moves, per_seed (seed, arrivals, failed_pods, moves, moved_gpu_milli,
// allocation_at_130), inflate, migrate, wall_seconds.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sim/fill_experiment.h"

namespace gpool::sim {

nlohmann::json FillResultJson(const FillResult& result, const FillOptions& options,
                              double wall_seconds);
std::string FillSummaryTable(const FillResult& result, const FillOptions& options);
// zoom: only 70..130 % arrived and 80..100 % allocated, where the policies differ.
std::string FillResultSvg(const std::vector<const FillResult*>& results, bool zoom = false);

}  // namespace gpool::sim
