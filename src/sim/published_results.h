// PublishedResults: the FGD authors' per-seed curves: allocation (analysis_allo_discrete.csv) or
// fragmentation (analysis_frag_discrete.csv, which lacks the total_gpus column).
//
// One row per (workload, policy, seed) with 131 cells (allocation % at 0..130 % arrived).
// Policy names are mapped to gpool's registry names (01-Random -> random, 06-FGD -> fgd, ...).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace gpool::sim {

struct PublishedRow {
  std::string workload;  // e.g. "default" (the "openb_pod_list_" prefix removed)
  std::string policy;    // gpool registry name
  std::uint64_t seed = 0;
  std::vector<double> cells;  // 131 values, NaN where empty
};

class PublishedResults {
 public:
  static Result<PublishedResults> Parse(std::string_view csv, std::string_view source_name);
  static Result<PublishedResults> Read(const std::string& path);

  const std::vector<PublishedRow>& rows() const { return rows_; }
  std::vector<std::string> Workloads() const;
  // Mean over seeds of the cell at `column` for (workload, policy); NaN if no rows.
  double Mean(std::string_view workload, std::string_view policy, int column) const;
  std::vector<std::uint64_t> Seeds(std::string_view workload, std::string_view policy) const;

 private:
  std::vector<PublishedRow> rows_;
};

// "06-FGD" -> "fgd"; unknown names are returned lower-cased.
std::string PolicyFromPublishedName(std::string_view name);

}  // namespace gpool::sim
