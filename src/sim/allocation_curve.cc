#include "sim/allocation_curve.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace gpool::sim {
namespace {

// numpy's pairwise_sum for doubles (blocks of 128, 8 accumulators).
double PairwiseSum(const double* a, std::size_t n) {
  if (n < 8) {
    double res = 0.;
    for (std::size_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (int k = 0; k < 8; ++k) r[k] = a[k];
    std::size_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (int k = 0; k < 8; ++k) r[k] += a[i + static_cast<std::size_t>(k)];
    }
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  std::size_t n2 = n / 2;
  n2 -= n2 % 8;
  return PairwiseSum(a, n2) + PairwiseSum(a + n2, n - n2);
}

}  // namespace

double PythonRound2(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", x);
  return std::strtod(buf, nullptr);
}

double NumpyRound2(double x) { return std::nearbyint(x * 100) / 100; }

double PairwiseMean(std::span<const double> v) {
  return PairwiseSum(v.data(), v.size()) / static_cast<double>(v.size());
}

namespace {

// Column r gets cell_of(values of the records whose arrived % rounds to r), else of the records in
// r-1..r+1, else NaN.
template <typename CellOf>
std::vector<double> Columns(const std::vector<int>& a, const std::vector<double>& u,
                            CellOf cell_of) {
  std::vector<double> out(kAllocationColumns, std::numeric_limits<double>::quiet_NaN());
  std::vector<double> values;
  for (int r = 0; r < kAllocationColumns; ++r) {
    values.clear();
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (a[i] == r) values.push_back(u[i]);
    }
    if (values.empty()) {
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i] >= r - 1 && a[i] <= r + 1) values.push_back(u[i]);
      }
    }
    if (!values.empty()) out[static_cast<std::size_t>(r)] = cell_of(values);
  }
  return out;
}

int ArrivedColumn(std::int64_t arrived_milli, double total) {
  return static_cast<int>(std::nearbyint(static_cast<double>(arrived_milli) / total / 10));
}

}  // namespace

std::vector<double> Discretise(std::span<const AllocationRecord> records, std::int64_t total_gpus) {
  const auto total = static_cast<double>(total_gpus);
  std::vector<int> a(records.size());
  std::vector<double> u(records.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    a[i] = ArrivedColumn(records[i].arrived_milli, total);
    u[i] = PythonRound2(static_cast<double>(records[i].used_milli) / total / 10);
  }
  return Columns(a, u, [](const std::vector<double>& v) { return NumpyRound2(PairwiseMean(v)); });
}

std::vector<double> DiscretiseFragmentation(std::span<const FragmentationRecord> records,
                                            std::int64_t total_gpus) {
  const auto total = static_cast<double>(total_gpus);
  std::vector<int> a(records.size());
  std::vector<double> f(records.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    a[i] = ArrivedColumn(records[i].arrived_milli, total);
    f[i] = PythonRound2(records[i].fragmentation_milli);
  }
  return Columns(a, f, [total](const std::vector<double>& v) {
    return NumpyRound2(100 * PairwiseMean(v) / 1000 / total);
  });
}

}  // namespace gpool::sim
