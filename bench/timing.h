// Wall-clock helpers shared by the benchmarks (bench/ only; the library never reads a clock).
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

namespace gpool::bench {

inline double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// The median of a non-empty sample (the mean of the middle two for an even size).
inline double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace gpool::bench
