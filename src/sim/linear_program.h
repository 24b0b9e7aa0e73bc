// LinearProgram and MaximizeLp: a small, self-contained dense simplex solver for the linear
// programs the simulator builds for its bounds (a few thousand variables, a few hundred rows).
//
// Problem form:
//     maximise    c · x
//     subject to  a_i · x  (<=, >= or =)  b_i    for every row i
//                 x >= 0
// Any sign of b_i is accepted. The solver is a two-phase primal simplex on a dense tableau:
// phase 1 drives artificial variables out to find a feasible basis (skipped when every row is
// "<=" with b_i >= 0, as the origin is then feasible), phase 2 optimises c. Entering variables
// are chosen by Dantzig's rule (most negative reduced cost); after a run of degenerate pivots it
// switches to Bland's rule (lowest index enters, lowest basic index leaves on ties), which cannot
// cycle, until the objective moves again. So it always terminates in exact arithmetic.
//
// Numerics: doubles throughout, with one absolute tolerance (LpOptions::tolerance) for reduced
// costs, pivot elements and feasibility. Scale rows so that coefficients and right-hand sides are
// of order 1..1e4; badly scaled rows (say 1 next to 1e9) can make the answer inaccurate. Callers
// that need a rigorous bound should use the duals (weak duality, see LpSolution::duals), which a
// caller can check and repair cheaply.
//
// Cost: memory (rows + 1) x (variables + 2 * rows + 1) doubles; each pivot touches only the rows
// with a non-zero in the entering column.
//
// Thread safety: a pure function; safe to call from several threads at once.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"

namespace gpool::sim {

enum class RowSense : std::uint8_t { kAtMost, kAtLeast, kEqual };  // <=, >=, =

struct LpTerm {
  int variable = 0;  // index into LinearProgram::objective
  double coefficient = 0;
};

// One constraint row, sparse: variables not named have coefficient 0; a variable named twice
// gets the sum of its coefficients.
struct LpRow {
  std::vector<LpTerm> terms;
  RowSense sense = RowSense::kAtMost;
  double rhs = 0;
};

struct LinearProgram {
  std::vector<double> objective;  // c: one entry per variable; its size is the variable count
  std::vector<LpRow> rows;
};

enum class LpOutcome : std::uint8_t {
  kOptimal,     // x, objective and duals are set
  kInfeasible,  // no x >= 0 satisfies every row
  kUnbounded,   // feasible, and c · x grows without limit
};

struct LpSolution {
  LpOutcome outcome = LpOutcome::kOptimal;
  // The rest is set for kOptimal only (zero / empty otherwise).
  double objective = 0;   // c · x
  std::vector<double> x;  // one per variable, >= 0
  // One per row: an optimal solution of the dual program. Signs: >= 0 for "<=" rows, <= 0 for
  // ">=" rows, either for "=" rows. At optimum, within the tolerance,
  //     c_j - sum_i duals_i * a_ij <= 0  for every variable j   (dual feasibility)
  //     sum_i duals_i * b_i == objective                        (strong duality)
  // and by weak duality any duals with the first property and those signs bound c · x from
  // above for every feasible x.
  std::vector<double> duals;
  int iterations = 0;  // simplex pivots, both phases
};

struct LpOptions {
  double tolerance = 1e-9;  // see "Numerics" above
  int max_iterations = 0;   // 0: automatic, 20 * (rows + variables) + 1000
};

// InvalidArgument: a term names a variable out of range, a coefficient, bound or objective entry
// is not finite, or the tableau would exceed 50 million entries. Internal: the iteration limit
// was reached (numerical trouble: with Bland's rule the simplex terminates).
// Infeasible and unbounded programs are not errors: they are outcomes of an ok result.
Result<LpSolution> MaximizeLp(const LinearProgram& lp, const LpOptions& options = {});

}  // namespace gpool::sim
