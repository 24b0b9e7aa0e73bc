#include "sim/linear_program.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/random.h"

namespace gpool::sim {
namespace {

constexpr double kEps = 1e-7;

LpRow Row(std::vector<LpTerm> terms, RowSense sense, double rhs) {
  return {std::move(terms), sense, rhs};
}
constexpr RowSense kLe = RowSense::kAtMost;
constexpr RowSense kGe = RowSense::kAtLeast;
constexpr RowSense kEq = RowSense::kEqual;

LpSolution SolveOk(const LinearProgram& lp) {
  Result<LpSolution> r = MaximizeLp(lp);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : LpSolution{};
}

// Checks x against every row and the duals against dual feasibility and strong duality.
void ExpectOptimalityCertificate(const LinearProgram& lp, const LpSolution& s) {
  ASSERT_EQ(s.outcome, LpOutcome::kOptimal);
  ASSERT_EQ(s.x.size(), lp.objective.size());
  ASSERT_EQ(s.duals.size(), lp.rows.size());
  std::vector<double> reduced = lp.objective;  // c_j - sum_i y_i a_ij
  double dual_objective = 0;
  for (std::size_t i = 0; i < lp.rows.size(); ++i) {
    const LpRow& row = lp.rows[i];
    double lhs = 0;
    for (const LpTerm& t : row.terms) {
      lhs += t.coefficient * s.x[static_cast<std::size_t>(t.variable)];
      reduced[static_cast<std::size_t>(t.variable)] -= s.duals[i] * t.coefficient;
    }
    const double slack = 1e-6 * (1 + std::abs(row.rhs));
    if (row.sense != kGe) {
      EXPECT_LE(lhs, row.rhs + slack) << "row " << i;
    }
    if (row.sense != kLe) {
      EXPECT_GE(lhs, row.rhs - slack) << "row " << i;
    }
    if (row.sense == kLe) {
      EXPECT_GE(s.duals[i], -kEps) << "row " << i;
    }
    if (row.sense == kGe) {
      EXPECT_LE(s.duals[i], kEps) << "row " << i;
    }
    dual_objective += s.duals[i] * row.rhs;
  }
  for (std::size_t j = 0; j < reduced.size(); ++j) {
    EXPECT_GE(s.x[j], 0.0);
    EXPECT_LE(reduced[j], 1e-6) << "variable " << j;
  }
  EXPECT_NEAR(dual_objective, s.objective, 1e-6 * (1 + std::abs(s.objective)));
}

TEST(LinearProgram, TextbookMaximum) {
  // max 3x + 5y  s.t.  x <= 4,  2y <= 12,  3x + 2y <= 18  (Hillier & Lieberman's Wyndor example).
  // Vertices: (0,0)=0, (4,0)=12, (4,3)=27, (2,6)=36, (0,6)=30: the optimum is (2,6) with 36.
  // Duals (0, 3/2, 1): x: 3*1 = 3, y: 2*3/2 + 2*1 = 5 (tight), and 3/2*12 + 18 = 36.
  LinearProgram lp{{3, 5},
                   {Row({{0, 1}}, kLe, 4), Row({{1, 2}}, kLe, 12), Row({{0, 3}, {1, 2}}, kLe, 18)}};
  LpSolution s = SolveOk(lp);
  ASSERT_EQ(s.outcome, LpOutcome::kOptimal);
  EXPECT_NEAR(s.objective, 36, kEps);
  EXPECT_NEAR(s.x[0], 2, kEps);
  EXPECT_NEAR(s.x[1], 6, kEps);
  EXPECT_NEAR(s.duals[0], 0, kEps);
  EXPECT_NEAR(s.duals[1], 1.5, kEps);
  EXPECT_NEAR(s.duals[2], 1, kEps);
  ExpectOptimalityCertificate(lp, s);
}

TEST(LinearProgram, MinimumThroughAtLeastRows) {
  // min 2x + 3y  s.t.  x + y >= 4,  x + 3y >= 6, written as max -2x - 3y.
  // Vertices of the feasible region: (6,0) costs 12, (3,1) costs 9, (0,4) costs 12: optimum -9.
  // Duals: y1 + y2 = -2 and y1 + 3 y2 = -3 give y2 = -1/2, y1 = -3/2; 4(-3/2) + 6(-1/2) = -9.
  LinearProgram lp{{-2, -3}, {Row({{0, 1}, {1, 1}}, kGe, 4), Row({{0, 1}, {1, 3}}, kGe, 6)}};
  LpSolution s = SolveOk(lp);
  ASSERT_EQ(s.outcome, LpOutcome::kOptimal);
  EXPECT_NEAR(s.objective, -9, kEps);
  EXPECT_NEAR(s.x[0], 3, kEps);
  EXPECT_NEAR(s.x[1], 1, kEps);
  EXPECT_NEAR(s.duals[0], -1.5, kEps);
  EXPECT_NEAR(s.duals[1], -0.5, kEps);
  ExpectOptimalityCertificate(lp, s);
}

TEST(LinearProgram, EqualityRow) {
  // max x + y  s.t.  x + 2y = 4,  x <= 3. On the line y = (4 - x)/2 the objective is 2 + x/2,
  // largest at x = 3: (3, 1/2) with 3.5. Duals: y1 + y2 = 1, 2 y1 = 1: (1/2, 1/2); 2 + 3/2 = 3.5.
  LinearProgram lp{{1, 1}, {Row({{0, 1}, {1, 2}}, kEq, 4), Row({{0, 1}}, kLe, 3)}};
  LpSolution s = SolveOk(lp);
  ASSERT_EQ(s.outcome, LpOutcome::kOptimal);
  EXPECT_NEAR(s.objective, 3.5, kEps);
  EXPECT_NEAR(s.x[0], 3, kEps);
  EXPECT_NEAR(s.x[1], 0.5, kEps);
  EXPECT_NEAR(s.duals[0], 0.5, kEps);
  EXPECT_NEAR(s.duals[1], 0.5, kEps);
  ExpectOptimalityCertificate(lp, s);
}

TEST(LinearProgram, NegativeRightHandSide) {
  // max -x  s.t.  -x <= -2 (that is x >= 2): x = 2, objective -2; the dual y of the "<=" row is
  // >= 0 with -1 - y(-1) <= 0, and -2y = -2 gives y = 1.
  LinearProgram lp{{-1}, {Row({{0, -1}}, kLe, -2)}};
  LpSolution s = SolveOk(lp);
  ASSERT_EQ(s.outcome, LpOutcome::kOptimal);
  EXPECT_NEAR(s.objective, -2, kEps);
  EXPECT_NEAR(s.x[0], 2, kEps);
  EXPECT_NEAR(s.duals[0], 1, kEps);
}

TEST(LinearProgram, Unbounded) {
  // max x + y  s.t.  x - y <= 1: (t, t) is feasible for every t and scores 2t.
  LinearProgram lp{{1, 1}, {Row({{0, 1}, {1, -1}}, kLe, 1)}};
  LpSolution s = SolveOk(lp);
  EXPECT_EQ(s.outcome, LpOutcome::kUnbounded);
}

TEST(LinearProgram, Infeasible) {
  // x + y <= 1 and x + y >= 3 cannot both hold.
  LinearProgram lp{{1, 1}, {Row({{0, 1}, {1, 1}}, kLe, 1), Row({{0, 1}, {1, 1}}, kGe, 3)}};
  LpSolution s = SolveOk(lp);
  EXPECT_EQ(s.outcome, LpOutcome::kInfeasible);
  // A row with no terms: 0 >= 1.
  LinearProgram empty{{}, {Row({}, kGe, 1)}};
  EXPECT_EQ(SolveOk(empty).outcome, LpOutcome::kInfeasible);
}

TEST(LinearProgram, NoVariablesNoRows) {
  LpSolution s = SolveOk(LinearProgram{});
  EXPECT_EQ(s.outcome, LpOutcome::kOptimal);
  EXPECT_EQ(s.objective, 0);
}

TEST(LinearProgram, BealeCyclingExample) {
  // Beale (1955): Dantzig's rule with lowest-index ties cycles on this program at the origin,
  // which is degenerate (every rhs of the first two rows is 0). As a maximisation:
  //   max 3/4 x0 - 150 x1 + 1/50 x2 - 6 x3
  //   s.t. 1/4 x0 -  60 x1 - 1/25 x2 + 9 x3 <= 0
  //        1/2 x0 -  90 x1 - 1/50 x2 + 3 x3 <= 0
  //                             x2        <= 1
  // Known optimum 1/20 at x = (1/25, 0, 1, 0): rows give 1/100 - 1/25 < 0, 1/50 - 1/50 = 0, 1;
  // objective 3/100 + 1/50 = 1/20.
  LinearProgram lp{{0.75, -150, 0.02, -6},
                   {Row({{0, 0.25}, {1, -60}, {2, -0.04}, {3, 9}}, kLe, 0),
                    Row({{0, 0.5}, {1, -90}, {2, -0.02}, {3, 3}}, kLe, 0), Row({{2, 1}}, kLe, 1)}};
  LpSolution s = SolveOk(lp);
  ASSERT_EQ(s.outcome, LpOutcome::kOptimal);
  EXPECT_NEAR(s.objective, 0.05, kEps);
  EXPECT_NEAR(s.x[0], 0.04, kEps);
  EXPECT_NEAR(s.x[2], 1, kEps);
  ExpectOptimalityCertificate(lp, s);
}

TEST(LinearProgram, DegenerateVertexWithManyTightRows) {
  // max x + y with x <= 1, y <= 1, x + y <= 2, x + 2y <= 3, 2x + y <= 3: all five rows are
  // tight at (1, 1), the optimum 2 (x + y <= 2 alone proves it).
  LinearProgram lp{{1, 1},
                   {Row({{0, 1}}, kLe, 1), Row({{1, 1}}, kLe, 1), Row({{0, 1}, {1, 1}}, kLe, 2),
                    Row({{0, 1}, {1, 2}}, kLe, 3), Row({{0, 2}, {1, 1}}, kLe, 3)}};
  LpSolution s = SolveOk(lp);
  ASSERT_EQ(s.outcome, LpOutcome::kOptimal);
  EXPECT_NEAR(s.objective, 2, kEps);
  ExpectOptimalityCertificate(lp, s);
}

TEST(LinearProgram, RedundantEqualityRows) {
  // x + y = 2 and 2x + 2y = 4 are the same row; max x gives x = 2 (y = 0). Phase 1 leaves one
  // artificial basic at 0 in the redundant row.
  LinearProgram lp{{1, 0}, {Row({{0, 1}, {1, 1}}, kEq, 2), Row({{0, 2}, {1, 2}}, kEq, 4)}};
  LpSolution s = SolveOk(lp);
  ASSERT_EQ(s.outcome, LpOutcome::kOptimal);
  EXPECT_NEAR(s.objective, 2, kEps);
  EXPECT_NEAR(s.x[0], 2, kEps);
  ExpectOptimalityCertificate(lp, s);
}

TEST(LinearProgram, RepeatedTermsAdd) {
  // x named twice with 1 + 1: 2x <= 4, max x = 2.
  LinearProgram lp{{1}, {Row({{0, 1}, {0, 1}}, kLe, 4)}};
  LpSolution s = SolveOk(lp);
  EXPECT_NEAR(s.objective, 2, kEps);
}

TEST(LinearProgram, RejectsBadInput) {
  LinearProgram out_of_range{{1}, {Row({{1, 1}}, kLe, 1)}};
  Result<LpSolution> r = MaximizeLp(out_of_range);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  LinearProgram not_finite{{1}, {Row({{0, std::nan("")}}, kLe, 1)}};
  r = MaximizeLp(not_finite);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(LinearProgram, RandomPackingProgramsHaveCertificates) {
  // Random packing programs (like the allocation bound's, with upper-bound rows and a few ">="
  // rows) checked by their own certificate: x feasible, duals feasible, equal objectives.
  core::DeterministicRng rng(7);
  for (int round = 0; round < 20; ++round) {
    const int n = 60 + static_cast<int>(rng.Uniform(60));
    const int m = 20 + static_cast<int>(rng.Uniform(20));
    LinearProgram lp;
    for (int j = 0; j < n; ++j) lp.objective.push_back(static_cast<double>(rng.Uniform(5)));
    for (int i = 0; i < m; ++i) {
      LpRow row;
      for (int j = 0; j < n; ++j) {
        if (rng.Uniform(4) == 0) row.terms.push_back({j, static_cast<double>(rng.Uniform(8)) / 4});
      }
      row.rhs = static_cast<double>(1 + rng.Uniform(20));
      lp.rows.push_back(std::move(row));
    }
    for (int j = 0; j < n; ++j) lp.rows.push_back(Row({{j, 1}}, kLe, 3));
    // A covering row that the packing rows leave room for: sum x_j >= 1.
    LpRow cover;
    for (int j = 0; j < n; ++j) cover.terms.push_back({j, 1});
    cover.sense = kGe;
    cover.rhs = 1;
    lp.rows.push_back(cover);
    LpSolution s = SolveOk(lp);
    SCOPED_TRACE("round " + std::to_string(round));
    ExpectOptimalityCertificate(lp, s);
  }
}

}  // namespace
}  // namespace gpool::sim
