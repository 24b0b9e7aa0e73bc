// The published allocation metric's arithmetic: Python's and numpy's rounding, numpy's pairwise
// mean and the discretisation into 131 columns (../shared/specs/openb-experiment.md §6).
#include "sim/allocation_curve.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace gpool::sim {
namespace {

TEST(AllocationRounding, PythonRoundsTheExactBinaryValue) {
  struct Case {
    double x;
    double expected;
    const char* why;
  };
  const Case cases[] = {
      {2.675, 2.67, "2.675 is 2.67499999999999982236... in binary: below the tie"},
      {1.005, 1.00, "1.005 is 1.00499999999999989341...: below the tie"},
      {2.665, 2.67, "2.665 is 2.66500000000000003552...: above the tie"},
      {0.145, 0.14, "0.145 is 0.14499999999999999000...: below the tie"},
      {0.015, 0.01, "0.015 is 0.01499999999999999944...: below the tie"},
      {0.005, 0.01, "0.005 is 0.00500000000000000010...: above the tie"},
      {0.125, 0.12, "exact tie (1/8): to even, 12"},
      {0.375, 0.38, "exact tie (3/8): to even, 38"},
      {12.34, 12.34, "already two decimals"},
      {-1.005, -1.00, "symmetric for negatives"},
  };
  for (const Case& c : cases) EXPECT_DOUBLE_EQ(PythonRound2(c.x), c.expected) << c.why;
}

TEST(AllocationRounding, NumpyRoundsTheScaledDouble) {
  // rint(x * 100) / 100: the product is rounded to a double first, then ties go to even.
  struct Case {
    double x;
    double expected;
    const char* why;
  };
  const Case cases[] = {
      {2.675, 2.68, "2.675 * 100 = 267.5 exactly as a double: tie to even 268 (Python: 2.67)"},
      {2.665, 2.66, "2.665 * 100 = 266.5: tie to even 266 (Python: 2.67)"},
      {0.015, 0.02, "0.015 * 100 = 1.5: tie to even 2 (Python: 0.01)"},
      {0.005, 0.00, "0.005 * 100 = 0.5: tie to even 0 (Python: 0.01)"},
      {1.005, 1.00, "1.005 * 100 = 100.49999999999999: 100"},
      {0.125, 0.12, "12.5: to even 12"},
      {0.375, 0.38, "37.5: to even 38"},
  };
  for (const Case& c : cases) EXPECT_DOUBLE_EQ(NumpyRound2(c.x), c.expected) << c.why;
}

TEST(AllocationPairwiseMean, SumsInNumpysOrder) {
  const double big = std::ldexp(1.0, 53);  // 2^53: adding 1 to it rounds back to 2^53 (to even)
  // Fewer than 8 values: left to right. 1 + 2 + 3 + 4 = 10, / 4 = 2.5
  EXPECT_DOUBLE_EQ(PairwiseMean(std::vector<double>{1, 2, 3, 4}), 2.5);
  // 2^53, 1, 1: left to right 2^53 + 1 = 2^53 (tie to even), again: 2^53; / 3
  EXPECT_DOUBLE_EQ(PairwiseMean(std::vector<double>{big, 1, 1}), big / 3);
  // 16 values: v[0] = 2^53, v[8] = -2^53, the other 14 are 1. numpy keeps 8 accumulators,
  // r[k] = v[k] + v[k + 8]: r[0] = 0, r[1..7] = 2; ((0+2)+(2+2)) + ((2+2)+(2+2)) = 14;
  // mean 14/16 = 0.875. (Left to right would lose the seven 1s after 2^53: 7/16 = 0.4375.)
  std::vector<double> v(16, 1.0);
  v[0] = big;
  v[8] = -big;
  EXPECT_DOUBLE_EQ(PairwiseMean(v), 0.875);
  // More than 128: split in halves (multiple of 8). 1..256: 256*257/2 = 32896, / 256 = 128.5
  std::vector<double> w;
  for (int i = 1; i <= 256; ++i) w.push_back(i);
  EXPECT_DOUBLE_EQ(PairwiseMean(w), 128.5);
  EXPECT_DOUBLE_EQ(PairwiseMean(std::vector<double>{0.3}), 0.3);
}

TEST(AllocationDiscretise, ColumnsFromArrivedAndUsed) {
  // 10 GPUs: a = round_half_even(arrived / 10 / 10), u = PythonRound2(used / 10 / 10).
  //   {0, 0}       a = 0,  u = 0
  //   {250, 100}   a = round(2.5) = 2 (half to even), u = 1.0
  //   {350, 300}   a = round(3.5) = 4 (half to even), u = 3.0
  //   {1000, 1}    a = 10, u = 0.01
  //   {1000, 2}    a = 10, u = 0.02
  //   {13000, 9999} a = 130, u = 99.99
  const std::vector<AllocationRecord> r = {{0, 0},    {250, 100}, {350, 300},
                                           {1000, 1}, {1000, 2},  {13000, 9999}};
  const std::vector<double> cells = Discretise(r, 10);
  ASSERT_EQ(cells.size(), static_cast<size_t>(kAllocationColumns));
  struct Case {
    int column;
    double expected;  // NaN: no record in the column or its neighbours
    const char* why;
  };
  const double nan = std::nan("");
  const Case cases[] = {
      {0, 0, "the record at 0"},
      {1, 0.5, "empty: neighbours 0 and 2 give {0, 1.0}, mean 0.5"},
      {2, 1.0, "250 rounds to column 2"},
      {3, 2.0, "empty (350 went to 4): neighbours {1.0, 3.0}, mean 2.0"},
      {4, 3.0, "350 rounds to column 4"},
      {5, 3.0, "empty: neighbour 4 only"},
      {6, nan, "no record in 5..7"},
      // mean(0.01, 0.02) = 0.015 (0.01499999...); numpy: 1.5 -> 2 -> 0.02 (Python would say 0.01)
      {10, 0.02, "numpy rounding of the mean"},
      {9, 0.02, "empty: neighbour 10"},
      {129, 99.99, "empty: neighbour 130"},
      {130, 99.99, "the last column"},
      {50, nan, "nothing near"},
  };
  for (const Case& c : cases) {
    if (std::isnan(c.expected)) {
      EXPECT_TRUE(std::isnan(cells[static_cast<size_t>(c.column)])) << c.column << ": " << c.why;
    } else {
      EXPECT_DOUBLE_EQ(cells[static_cast<size_t>(c.column)], c.expected)
          << c.column << ": " << c.why;
    }
  }
}

TEST(AllocationDiscretise, UsedIsRoundedThePythonWay) {
  // 20 GPUs: u = used / 20 / 10. used 1: 0.005 (just above the tie): Python 0.01 (numpy 0.00);
  // used 3: 0.015 (just below): Python 0.01 (numpy 0.02). Each alone in its column.
  const std::vector<AllocationRecord> one = {{0, 1}};
  const std::vector<AllocationRecord> three = {{0, 3}};
  EXPECT_DOUBLE_EQ(Discretise(one, 20)[0], 0.01);
  EXPECT_DOUBLE_EQ(Discretise(three, 20)[0], 0.01);
}

TEST(AllocationDiscretise, NoRecordsAllNaN) {
  const std::vector<double> cells = Discretise({}, 10);
  ASSERT_EQ(cells.size(), static_cast<size_t>(kAllocationColumns));
  for (double c : cells) EXPECT_TRUE(std::isnan(c));
}

TEST(AllocationDiscretise, FragmentationCurve) {
  // 10 GPUs: cell = NumpyRound2(100 * mean(PythonRound2(frag)) / 1000 / 10).
  // Column 0: frags 5000.004 -> 5000.0 and 3000 -> mean 4000 -> 100*4000/1000/10 = 40.
  // Column 1: empty, falls back to column 0: 40. Column 3: NaN.
  const std::vector<FragmentationRecord> r = {{0, 5000.004}, {0, 3000}};
  const std::vector<double> cells = DiscretiseFragmentation(r, 10);
  ASSERT_EQ(cells.size(), static_cast<size_t>(kAllocationColumns));
  EXPECT_DOUBLE_EQ(cells[0], 40);
  EXPECT_DOUBLE_EQ(cells[1], 40);
  EXPECT_TRUE(std::isnan(cells[3]));
}

}  // namespace
}  // namespace gpool::sim
