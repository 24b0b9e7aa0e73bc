#include "sim/published_results.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "sim/allocation_curve.h"
#include "sim/text_file.h"

namespace gpool::sim {
namespace {

std::vector<std::string_view> SplitComma(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = line.find(',', start);
    if (comma == std::string_view::npos) {
      out.push_back(line.substr(start));
      return out;
    }
    out.push_back(line.substr(start, comma - start));
    start = comma + 1;
  }
}

}  // namespace

std::string PolicyFromPublishedName(std::string_view name) {
  static const std::map<std::string, std::string, std::less<>> kNames = {
      {"01-Random", "random"},
      {"02-DotProd", "dot-product"},
      {"03-GpuClustering", "gpu-clustering"},
      {"04-GpuPacking", "gpu-packing"},
      {"05-BestFit", "best-fit"},
      {"06-FGD", "fgd"}};
  auto it = kNames.find(name);
  if (it != kNames.end()) return it->second;
  std::string out(name);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Result<PublishedResults> PublishedResults::Parse(std::string_view csv,
                                                 std::string_view source_name) {
  PublishedResults out;
  std::size_t pos = 0;
  int line_no = 0;
  std::size_t lead = 5;  // columns before the 131 cells
  const std::string src(source_name);
  while (pos < csv.size()) {
    std::size_t end = csv.find('\n', pos);
    if (end == std::string_view::npos) end = csv.size();
    std::string_view line = csv.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    auto f = SplitComma(line);
    if (line_no == 1) {
      // The allocation file has a total_gpus column, the fragmentation file does not.
      lead = f.size() > 4 && f[4] == "total_gpus" ? 5 : 4;
      if (f.size() != lead + kAllocationColumns || f[0] != "workload" || f[1] != "sc_policy" ||
          f[3] != "seed") {
        return Status::InvalidArgument(
            src + ":1: expected header workload,sc_policy,tune,seed[,total_gpus],0,1,...,130");
      }
      continue;
    }
    if (f.size() != lead + kAllocationColumns) {
      return Status::InvalidArgument(src + ":" + std::to_string(line_no) + ": expected " +
                                     std::to_string(lead + kAllocationColumns) + " fields, got " +
                                     std::to_string(f.size()));
    }
    PublishedRow row;
    row.workload = std::string(f[0]);
    if (row.workload.rfind("openb_pod_list_", 0) == 0) row.workload = row.workload.substr(15);
    row.policy = PolicyFromPublishedName(f[1]);
    row.seed = std::strtoull(std::string(f[3]).c_str(), nullptr, 10);
    for (int c = 0; c < kAllocationColumns; ++c) {
      const std::string cell(f[lead + static_cast<std::size_t>(c)]);
      if (cell.empty()) {
        row.cells.push_back(std::numeric_limits<double>::quiet_NaN());
        continue;
      }
      char* endp = nullptr;
      const double v = std::strtod(cell.c_str(), &endp);
      if (endp == cell.c_str() || *endp != '\0') {
        return Status::InvalidArgument(src + ":" + std::to_string(line_no) + ":" +
                                       std::to_string(lead + 1 + static_cast<std::size_t>(c)) +
                                       ": expected a number, got \"" + cell + "\"");
      }
      row.cells.push_back(v);
    }
    out.rows_.push_back(std::move(row));
  }
  if (out.rows_.empty()) return Status::InvalidArgument(src + ": no rows");
  return out;
}

Result<PublishedResults> PublishedResults::Read(const std::string& path) {
  auto text = ReadWholeFile(path);
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

std::vector<std::string> PublishedResults::Workloads() const {
  std::set<std::string> s;
  for (const PublishedRow& r : rows_) s.insert(r.workload);
  return {s.begin(), s.end()};
}

double PublishedResults::Mean(std::string_view workload, std::string_view policy,
                              int column) const {
  double sum = 0;
  int n = 0;
  for (const PublishedRow& r : rows_) {
    if (r.workload != workload || r.policy != policy) continue;
    const double v = r.cells[static_cast<std::size_t>(column)];
    if (std::isnan(v)) continue;
    sum += v;
    ++n;
  }
  return n == 0 ? std::numeric_limits<double>::quiet_NaN() : sum / n;
}

std::vector<std::uint64_t> PublishedResults::Seeds(std::string_view workload,
                                                   std::string_view policy) const {
  std::vector<std::uint64_t> out;
  for (const PublishedRow& r : rows_) {
    if (r.workload == workload && r.policy == policy) out.push_back(r.seed);
  }
  return out;
}

}  // namespace gpool::sim
