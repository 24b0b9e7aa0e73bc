#include "sim/linear_program.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>

namespace gpool::sim {

namespace {

constexpr std::size_t kMaxTableauEntries = 50'000'000;
// Degenerate pivots in a row before switching from Dantzig's rule to Bland's.
constexpr int kDegeneratePivotsBeforeBland = 50;

enum class PhaseEnd { kOptimal, kUnbounded };

// The dense tableau [B^-1 A | B^-1 b] with the reduced-cost row d_j = c_B B^-1 a_j - c_j
// (so a column may enter while d_j < 0, and d[rhs] is the objective value c_B B^-1 b).
class Tableau {
 public:
  Tableau(int rows, int cols, double tolerance)
      : m_(rows),
        cols_(cols),
        width_(static_cast<std::size_t>(cols) + 1),
        tol_(tolerance),
        t_(static_cast<std::size_t>(rows) * width_, 0.0),
        d_(width_, 0.0),
        basis_(static_cast<std::size_t>(rows), -1),
        barred_(static_cast<std::size_t>(cols), 0) {}

  double& at(int i, int j) {
    return t_[static_cast<std::size_t>(i) * width_ + static_cast<std::size_t>(j)];
  }
  double rhs(int i) const {
    return t_[static_cast<std::size_t>(i) * width_ + static_cast<std::size_t>(cols_)];
  }
  double& rhs(int i) { return at(i, cols_); }
  double reduced_cost(int j) const { return d_[static_cast<std::size_t>(j)]; }
  double objective_value() const { return d_[static_cast<std::size_t>(cols_)]; }
  int basic(int i) const { return basis_[static_cast<std::size_t>(i)]; }
  void set_basic(int i, int j) { basis_[static_cast<std::size_t>(i)] = j; }
  void bar(int j) { barred_[static_cast<std::size_t>(j)] = 1; }

  // d_j = sum_i cost[basis_i] * t_ij - cost_j, and the objective value in d[rhs].
  void SetObjective(const std::vector<double>& cost) {
    std::fill(d_.begin(), d_.end(), 0.0);
    for (int j = 0; j < cols_; ++j)
      d_[static_cast<std::size_t>(j)] = -cost[static_cast<std::size_t>(j)];
    for (int i = 0; i < m_; ++i) {
      const double cb = cost[static_cast<std::size_t>(basic(i))];
      if (cb == 0) continue;
      const double* row = &t_[static_cast<std::size_t>(i) * width_];
      for (std::size_t j = 0; j < width_; ++j) d_[j] += cb * row[j];
    }
  }

  // Makes column q basic in row r. REQUIRES: at(r, q) != 0.
  void Pivot(int r, int q) {
    double* prow = &t_[static_cast<std::size_t>(r) * width_];
    const double inv = 1.0 / prow[q];
    nonzero_.clear();
    for (std::size_t j = 0; j < width_; ++j) {
      if (prow[j] == 0) continue;
      prow[j] *= inv;
      nonzero_.push_back(j);
    }
    prow[q] = 1.0;
    auto eliminate = [&](double* row) {
      const double f = row[q];
      if (f == 0) return;
      for (std::size_t j : nonzero_) {
        double v = row[j] - f * prow[j];
        if (std::abs(v) < 1e-14) v = 0;  // keep the tableau sparse: drop rounding dust
        row[j] = v;
      }
      row[q] = 0.0;
    };
    for (int i = 0; i < m_; ++i) {
      if (i != r) eliminate(&t_[static_cast<std::size_t>(i) * width_]);
    }
    eliminate(d_.data());
    set_basic(r, q);
  }

  // Primal simplex from the current (feasible) basis until optimal or unbounded.
  Result<PhaseEnd> Optimize(int* iterations, int limit) {
    int degenerate_run = 0;
    bool bland = false;
    while (true) {
      // Entering column: Dantzig (most negative reduced cost) or Bland (the first negative one).
      int q = -1;
      double best = -tol_;
      for (int j = 0; j < cols_; ++j) {
        if (barred_[static_cast<std::size_t>(j)] != 0) continue;
        const double dj = d_[static_cast<std::size_t>(j)];
        if (dj < best) {
          q = j;
          if (bland) break;
          best = dj;
        }
      }
      if (q < 0) return PhaseEnd::kOptimal;
      // Leaving row: minimum ratio; ties by lowest basic index (Bland) or largest pivot.
      int r = -1;
      double min_ratio = std::numeric_limits<double>::infinity();
      for (int i = 0; i < m_; ++i) {
        const double a = at(i, q);
        if (a <= tol_) continue;
        const double ratio = std::max(rhs(i), 0.0) / a;
        if (r < 0 || ratio < min_ratio - tol_) {
          r = i;
          min_ratio = ratio;
        } else if (ratio <= min_ratio + tol_) {
          const bool better = bland ? basic(i) < basic(r) : a > at(r, q);
          if (better) r = i;
          min_ratio = std::min(min_ratio, ratio);
        }
      }
      if (r < 0) return PhaseEnd::kUnbounded;
      if (*iterations >= limit) {
        return Status::Internal("simplex reached its limit of " + std::to_string(limit) +
                                " iterations (numerical trouble?)");
      }
      Pivot(r, q);
      ++*iterations;
      if (min_ratio <= tol_) {
        if (++degenerate_run >= kDegeneratePivotsBeforeBland) bland = true;
      } else {
        // The objective strictly improved, so no cycle can pass through this pivot: Dantzig's
        // rule is safe again.
        degenerate_run = 0;
        bland = false;
      }
    }
  }

 private:
  int m_;
  int cols_;
  std::size_t width_;  // cols_ + 1: the right-hand side is the last column
  double tol_;
  std::vector<double> t_;
  std::vector<double> d_;
  std::vector<int> basis_;
  std::vector<char> barred_;  // 1: may not enter (artificial columns in phase 2)
  std::vector<std::size_t> nonzero_;
};

}  // namespace

Result<LpSolution> MaximizeLp(const LinearProgram& lp, const LpOptions& options) {
  const int n = static_cast<int>(lp.objective.size());
  const int m = static_cast<int>(lp.rows.size());
  const double tol = options.tolerance;
  if (!(tol > 0) || !std::isfinite(tol))
    return Status::InvalidArgument("LP tolerance must be positive");
  for (int j = 0; j < n; ++j) {
    if (!std::isfinite(lp.objective[static_cast<std::size_t>(j)])) {
      return Status::InvalidArgument("LP objective coefficient of variable " + std::to_string(j) +
                                     " is not finite");
    }
  }
  // Normalised rows: b >= 0 (a row with b < 0 is negated, which swaps <= and >=).
  std::vector<RowSense> sense(static_cast<std::size_t>(m));
  std::vector<char> flipped(static_cast<std::size_t>(m), 0);
  int slacks = 0;
  int artificials = 0;
  double max_b = 0;
  for (int i = 0; i < m; ++i) {
    const LpRow& row = lp.rows[static_cast<std::size_t>(i)];
    if (!std::isfinite(row.rhs))
      return Status::InvalidArgument("LP row " + std::to_string(i) + ": rhs is not finite");
    for (const LpTerm& term : row.terms) {
      if (term.variable < 0 || term.variable >= n) {
        return Status::InvalidArgument("LP row " + std::to_string(i) + " names variable " +
                                       std::to_string(term.variable) + " of " + std::to_string(n));
      }
      if (!std::isfinite(term.coefficient)) {
        return Status::InvalidArgument("LP row " + std::to_string(i) +
                                       ": coefficient of variable " +
                                       std::to_string(term.variable) + " is not finite");
      }
    }
    RowSense s = row.sense;
    if (row.rhs < 0) {
      flipped[static_cast<std::size_t>(i)] = 1;
      if (s == RowSense::kAtMost) {
        s = RowSense::kAtLeast;
      } else if (s == RowSense::kAtLeast) {
        s = RowSense::kAtMost;
      }
    }
    sense[static_cast<std::size_t>(i)] = s;
    if (s != RowSense::kEqual) ++slacks;
    if (s != RowSense::kAtMost) ++artificials;
    max_b = std::max(max_b, std::abs(row.rhs));
  }
  // Columns: structural [0, n), slack or surplus [n, n + slacks), artificial after that.
  const int first_artificial = n + slacks;
  const int cols = first_artificial + artificials;
  if (static_cast<std::size_t>(m) * (static_cast<std::size_t>(cols) + 1) > kMaxTableauEntries) {
    return Status::InvalidArgument("LP with " + std::to_string(m) + " rows and " +
                                   std::to_string(n) +
                                   " variables is too large for the dense simplex");
  }
  Tableau tab(m, cols, tol);
  std::vector<int> identity_column(static_cast<std::size_t>(m));  // B^-1 e_i lives here
  {
    int next_slack = n;
    int next_artificial = first_artificial;
    for (int i = 0; i < m; ++i) {
      const LpRow& row = lp.rows[static_cast<std::size_t>(i)];
      const double sign = flipped[static_cast<std::size_t>(i)] != 0 ? -1.0 : 1.0;
      for (const LpTerm& term : row.terms) tab.at(i, term.variable) += sign * term.coefficient;
      tab.rhs(i) = sign * row.rhs;
      const RowSense s = sense[static_cast<std::size_t>(i)];
      int id = -1;
      if (s == RowSense::kAtMost) {
        id = next_slack++;
        tab.at(i, id) = 1.0;
      } else {
        if (s == RowSense::kAtLeast) tab.at(i, next_slack++) = -1.0;
        id = next_artificial++;
        tab.at(i, id) = 1.0;
      }
      identity_column[static_cast<std::size_t>(i)] = id;
      tab.set_basic(i, id);
    }
  }
  const int limit = options.max_iterations > 0 ? options.max_iterations : 20 * (m + cols) + 1000;
  LpSolution solution;

  // Phase 1: maximise -(sum of artificials); the program is feasible iff that reaches 0.
  if (artificials > 0) {
    std::vector<double> cost(static_cast<std::size_t>(cols), 0.0);
    for (int j = first_artificial; j < cols; ++j) cost[static_cast<std::size_t>(j)] = -1.0;
    tab.SetObjective(cost);
    auto end = tab.Optimize(&solution.iterations, limit);
    if (!end.ok()) return end.status();
    const double infeasibility = -tab.objective_value();
    if (infeasibility > 1e3 * tol * (1 + max_b)) {
      solution.outcome = LpOutcome::kInfeasible;
      return solution;
    }
    // Pivot artificials still basic (at value ~0) out for a structural or slack column. A row
    // with no such column is redundant: its artificial stays basic at 0, and no later pivot can
    // change it (the row is zero in every column that may enter).
    for (int i = 0; i < m; ++i) {
      if (tab.basic(i) < first_artificial) continue;
      int best = -1;
      for (int j = 0; j < first_artificial; ++j) {
        if (std::abs(tab.at(i, j)) > tol &&
            (best < 0 || std::abs(tab.at(i, j)) > std::abs(tab.at(i, best)))) {
          best = j;
        }
      }
      if (best >= 0) {
        tab.rhs(i) = 0;
        tab.Pivot(i, best);
        ++solution.iterations;
      }
    }
    for (int j = first_artificial; j < cols; ++j) tab.bar(j);
  }

  // Phase 2: maximise c from the feasible basis.
  std::vector<double> cost(static_cast<std::size_t>(cols), 0.0);
  std::copy(lp.objective.begin(), lp.objective.end(), cost.begin());
  tab.SetObjective(cost);
  auto end = tab.Optimize(&solution.iterations, limit);
  if (!end.ok()) return end.status();
  if (*end == PhaseEnd::kUnbounded) {
    solution.outcome = LpOutcome::kUnbounded;
    return solution;
  }
  solution.outcome = LpOutcome::kOptimal;
  solution.x.assign(static_cast<std::size_t>(n), 0.0);
  for (int i = 0; i < m; ++i) {
    if (tab.basic(i) < n)
      solution.x[static_cast<std::size_t>(tab.basic(i))] = std::max(0.0, tab.rhs(i));
  }
  for (int j = 0; j < n; ++j) {
    solution.objective +=
        lp.objective[static_cast<std::size_t>(j)] * solution.x[static_cast<std::size_t>(j)];
  }
  // The reduced cost of row i's identity column is (c_B B^-1)_i - 0: the dual of the
  // normalised row; a negated row has the negated dual.
  solution.duals.resize(static_cast<std::size_t>(m));
  for (int i = 0; i < m; ++i) {
    const double y = tab.reduced_cost(identity_column[static_cast<std::size_t>(i)]);
    solution.duals[static_cast<std::size_t>(i)] =
        flipped[static_cast<std::size_t>(i)] != 0 ? -y : y;
  }
  return solution;
}

}  // namespace gpool::sim
