#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "sim/allocation_curve.h"

namespace gpool::sim {
namespace {

TEST(Rounding, PythonAndNumpyRules) {
  // 2.675 is 2.67499999999999982236431605997495353221893310546875 in binary: Python rounds down.
  EXPECT_DOUBLE_EQ(PythonRound2(2.675), 2.67);
  EXPECT_DOUBLE_EQ(PythonRound2(0.125), 0.12);  // exact tie, to even
  EXPECT_DOUBLE_EQ(PythonRound2(0.375), 0.38);  // exact tie, to even
  // numpy: rint(x * 100) / 100; 0.125 * 100 = 12.5 exactly -> rint to even 12 -> 0.12
  EXPECT_DOUBLE_EQ(NumpyRound2(0.125), 0.12);
  EXPECT_DOUBLE_EQ(NumpyRound2(0.135), std::nearbyint(0.135 * 100) / 100);
}

TEST(PairwiseMean, MatchesPlainMeanOnExactValues) {
  std::vector<double> v;
  for (int i = 1; i <= 300; ++i) v.push_back(i);  // > 128: the recursive split is used
  EXPECT_DOUBLE_EQ(PairwiseMean(v), 150.5);       // (1 + 300) / 2
  EXPECT_DOUBLE_EQ(PairwiseMean(std::vector<double>{1, 2, 3}), 2);
}

TEST(Discretise, ColumnsFallBackToNeighboursAndStayEmptyOtherwise) {
  // Total 10 GPUs: a = round(arrived / 10 / 10) in %, u = round(used / 10 / 10, 2).
  // Records: arrived 0 -> col 0; 2000 -> col 20 (twice: used 1500 and 2000 -> 15.0, 20.0,
  // mean 17.5); 4000 -> col 40. Column 21 has no record: falls back to columns 20..22 -> 17.5.
  // Column 30 has no record and no neighbour: NaN.
  const std::vector<AllocationRecord> r = {{0, 0}, {2000, 1500}, {2000, 2000}, {4000, 3000}};
  const std::vector<double> cells = Discretise(r, 10);
  ASSERT_EQ(cells.size(), 131u);
  EXPECT_DOUBLE_EQ(cells[0], 0);
  EXPECT_DOUBLE_EQ(cells[20], 17.5);
  EXPECT_DOUBLE_EQ(cells[21], 17.5);
  EXPECT_DOUBLE_EQ(cells[40], 30);
  EXPECT_TRUE(std::isnan(cells[30]));
}

}  // namespace
}  // namespace gpool::sim
