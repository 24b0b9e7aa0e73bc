#include "sim/allocation_bound.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <tuple>
#include <utility>

#include "core/gpu_model.h"
#include "core/mig_geometry.h"
#include "sim/linear_program.h"

namespace gpool::sim {

namespace {

using core::MiB;
using core::Milli;

// A group of identical arrived GPU workloads. Each pod is k "items" of g milli on k GPUs: k
// distinct whole GPUs (g = 1000), one GPU (a share, g < 1000), or k MIG instances of g =
// MigMilli(profile) each (several may share one GPU).
struct PodType {
  Milli cpu = 0;
  MiB memory = 0;
  core::SliceKind kind = core::SliceKind::kWhole;
  int k = 0;
  Milli g = 0;
  int mig_profile = -1;  // index of the MIG profile; -1 when not MIG
  core::ModelSet models = 0;
  std::int64_t count = 0;

  auto key() const { return std::tuple(cpu, memory, kind, k, g, mig_profile, models); }
};

struct NodeShape {
  core::GpuModelId model = 0;
  int gpus = 0;
  Milli cpu = 0;
  MiB memory = 0;
  std::int64_t count = 0;

  auto key() const { return std::tuple(model, gpus, cpu, memory); }
};

// Can one pod of type t run on an empty node of shape s? (The filter's rules on a fresh node.)
bool FitsEmptyNode(const PodType& t, const NodeShape& s) {
  if (t.cpu > s.cpu || t.memory > s.memory) return false;
  if (s.gpus < 1 || !core::ModelAllowed(t.models, s.model)) return false;
  if (t.kind == core::SliceKind::kMig) {
    if (core::GetGpuModel(s.model).mig == core::MigFamily::kNone) return false;
    const int per_gpu =
        core::GetMigShape(core::kAllMigProfiles[static_cast<std::size_t>(t.mig_profile)])
            .max_per_gpu;
    return t.k <= s.gpus * per_gpu;
  }
  return t.k <= s.gpus;  // whole GPUs and shares take k distinct devices
}

// Dual-feasible ("large item") weights. Let a bin of capacity c hold items of integer sizes
// a_1..a_r with sum a_i <= c. Then sum u(a_i) <= 1 for the two functions below, so for any
// placement, summed over the bins of a shape: sum over items of u(a) <= number of bins. These are
// the first two of Fekete and Schepers' dual-feasible functions u^(1), u^(2) (2001); proofs:
//
// u1(a) = 1 if 2a > c, 1/2 if 2a == c, else 0.
//   At most one item has 2a > c (two would exceed c); if one does, the rest sum to < c/2 and
//   weigh 0. Otherwise items with 2a == c number at most 2 and weigh 1/2 each. Total <= 1.
// u2(a) = 1 if 3a > 2c, 2/3 if 3a == 2c, 1/2 if c < 3a < 2c, 1/3 if 3a == c, else 0.
//   An item with 3a > 2c leaves < c/3 for the rest, which weigh 0: total 1. An item with
//   3a == 2c leaves c/3: at most one more item of weight 1/3: total <= 1. Otherwise, items in
//   (c/3, 2c/3) number at most 2 (three exceed c); with 2 of them the rest is < c/3 and weighs 0
//   (total 1); with 1, the rest is < 2c/3, so at most one item of exactly c/3 (total 1/2 + 1/3);
//   with none, at most 3 items of exactly c/3 (total 1).
// Where u(a) <= a / c for every item present, the row is implied by the capacity row and skipped.
double LargeItemWeight(int order, std::int64_t a, std::int64_t c) {
  if (order == 1) {
    if (2 * a > c) return 1;
    return 2 * a == c ? 0.5 : 0;
  }
  if (3 * a > 2 * c) return 1;
  if (3 * a == 2 * c) return 2.0 / 3;
  if (3 * a > c) return 0.5;
  return 3 * a == c ? 1.0 / 3 : 0;
}

enum class Family { kArrived, kCpu, kMemory, kGpuCapacity, kWholeGpusPerNode };

std::string FamilyLabel(Family f, const NodeShape* shape) {
  std::string name;
  switch (f) {
    case Family::kArrived:
      return "pods that arrived";
    case Family::kCpu:
      name = "CPU";
      break;
    case Family::kMemory:
      name = "memory";
      break;
    case Family::kGpuCapacity:
      name = "GPU capacity";
      break;
    case Family::kWholeGpusPerNode:
      name = "whole GPUs per node";
      break;
  }
  return name + " on " + std::string(core::GetGpuModel(shape->model).name) + " nodes";
}

struct RowLabel {
  Family family;
  const NodeShape* shape;  // null for kArrived
};

Status ValidateInputs(const std::vector<core::Node>& nodes,
                      const std::vector<core::Workload>& arrived) {
  const std::size_t catalog = core::GpuCatalog().size();
  for (const core::Node& n : nodes) {
    if (n.cpu_milli < 0 || n.memory_mib < 0 || n.gpu_count < 0 ||
        n.gpu_count > core::kMaxDevicesPerNode) {
      return Status::InvalidArgument("node " + n.name + ": negative capacity or more than " +
                                     std::to_string(core::kMaxDevicesPerNode) + " GPUs");
    }
    if (n.gpu_count > 0 && n.model >= catalog) {
      return Status::InvalidArgument("node " + n.name + ": GPU model id " +
                                     std::to_string(n.model) + " is not in the catalog");
    }
  }
  for (const core::Workload& w : arrived) {
    if (w.cpu_milli < 0 || w.memory_mib < 0 || w.gpu.count < 0 || w.gpu.milli_per_gpu < 0) {
      return Status::InvalidArgument("workload " + w.name + ": negative request");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<AllocationBound> UpperBoundAllocation(const std::vector<core::Node>& nodes,
                                             const std::vector<core::Workload>& arrived) {
  if (Status s = ValidateInputs(nodes, arrived); !s.ok()) return s;
  AllocationBound out;

  // Node shapes (nodes without GPUs can host no GPU pod and are left out).
  std::map<decltype(NodeShape{}.key()), NodeShape> shape_map;
  for (const core::Node& n : nodes) {
    out.total_milli += n.gpu_count * core::kWholeGpuMilli;
    if (n.gpu_count == 0) continue;
    NodeShape s{n.model, n.gpu_count, n.cpu_milli, n.memory_mib, 0};
    shape_map.try_emplace(s.key(), s).first->second.count += 1;
  }
  // Pod types. A workload allocating no GPU milli cannot raise the objective: left out.
  std::map<decltype(PodType{}.key()), PodType> type_map;
  for (const core::Workload& w : arrived) {
    if (!w.gpu.NeedsGpu()) continue;
    PodType t;
    t.cpu = w.cpu_milli;
    t.memory = w.memory_mib;
    t.kind = w.gpu.Kind();
    t.k = w.gpu.count;
    t.models = w.gpu.models;
    if (t.kind == core::SliceKind::kMig) {
      t.mig_profile = static_cast<int>(*w.gpu.mig);
      t.g = core::MigMilli(*w.gpu.mig);
    } else {
      // A whole GPU allocates 1000 milli whatever was asked above that.
      t.g = std::min(w.gpu.milli_per_gpu, core::kWholeGpuMilli);
    }
    if (t.g == 0) continue;
    type_map.try_emplace(t.key(), t).first->second.count += 1;
  }
  std::vector<NodeShape> shapes;
  for (const auto& [key, s] : shape_map) shapes.push_back(s);
  std::vector<PodType> types;
  for (const auto& [key, t] : type_map) types.push_back(t);
  out.node_shapes = static_cast<int>(shapes.size());
  out.pod_types = static_cast<int>(types.size());

  // Variables y_{t,s}, scaled to GPUs in the objective: k_t * g_t / 1000 per pod.
  struct Var {
    int type;
    int shape;
  };
  std::vector<Var> vars;
  std::vector<std::vector<int>> vars_of_type(types.size()), vars_of_shape(shapes.size());
  LinearProgram lp;
  for (std::size_t t = 0; t < types.size(); ++t) {
    for (std::size_t s = 0; s < shapes.size(); ++s) {
      if (!FitsEmptyNode(types[t], shapes[s])) continue;
      const int v = static_cast<int>(vars.size());
      vars.push_back({static_cast<int>(t), static_cast<int>(s)});
      vars_of_type[t].push_back(v);
      vars_of_shape[s].push_back(v);
      lp.objective.push_back(static_cast<double>(types[t].k * types[t].g) / core::kWholeGpuMilli);
    }
  }
  out.variables = static_cast<int>(vars.size());

  std::vector<RowLabel> labels;
  // Demand: no more pods of a type are placed than arrived. Valid: each placed pod is one of
  // the arrived ones, placed once.
  for (std::size_t t = 0; t < types.size(); ++t) {
    if (vars_of_type[t].empty()) continue;
    LpRow row;
    for (int v : vars_of_type[t]) row.terms.push_back({v, 1.0});
    row.rhs = static_cast<double>(types[t].count);
    lp.rows.push_back(std::move(row));
    labels.push_back({Family::kArrived, nullptr});
  }

  // Capacity rows of one shape, all "<=" with coefficients per variable of the shape. A row is
  // added unless it cannot bind: if every arrived pod of every type went to this shape it would
  // still hold (then it is implied by the demand rows).
  auto add_shape_row = [&](std::size_t s, Family family, const std::vector<double>& coef,
                           double rhs) {
    const std::vector<int>& vs = vars_of_shape[s];
    double most = 0;
    for (std::size_t i = 0; i < vs.size(); ++i) {
      most +=
          coef[i] *
          static_cast<double>(
              types[static_cast<std::size_t>(vars[static_cast<std::size_t>(vs[i])].type)].count);
    }
    if (most <= rhs * (1 + 1e-12)) return;
    LpRow row;
    for (std::size_t i = 0; i < vs.size(); ++i) {
      if (coef[i] != 0) row.terms.push_back({vs[i], coef[i]});
    }
    row.rhs = rhs;
    lp.rows.push_back(std::move(row));
    labels.push_back({family, &shapes[s]});
  };
  // A capacity row (sizes / capacity <= bins) and its large-item rows u1, u2 (weights <= bins),
  // the latter only where some weight exceeds the linear coefficient (else they are implied).
  auto add_dimension = [&](std::size_t s, Family family, const std::vector<std::int64_t>& size,
                           const std::vector<int>& items, std::int64_t capacity, double bins,
                           bool linear_implied) {
    // Capacity 0: everything that fits is of size 0, so no row can bind.
    if (capacity <= 0) return;
    const std::size_t nv = vars_of_shape[s].size();
    std::vector<double> linear(nv);
    for (std::size_t i = 0; i < nv; ++i) {
      linear[i] = static_cast<double>(items[i]) * static_cast<double>(size[i]) /
                  static_cast<double>(capacity);
    }
    if (!linear_implied) add_shape_row(s, family, linear, bins);
    for (int order = 1; order <= 2; ++order) {
      std::vector<double> weight(nv);
      bool stronger = false;
      for (std::size_t i = 0; i < nv; ++i) {
        if (items[i] == 0 || size[i] == 0) continue;
        weight[i] = items[i] * LargeItemWeight(order, size[i], capacity);
        stronger = stronger || weight[i] > linear[i] * (1 + 1e-12);
      }
      if (stronger) add_shape_row(s, family, weight, bins);
    }
  };

  for (std::size_t s = 0; s < shapes.size(); ++s) {
    const NodeShape& shape = shapes[s];
    const std::size_t nv = vars_of_shape[s].size();
    if (nv == 0) continue;
    const auto n_nodes = static_cast<double>(shape.count);
    std::vector<std::int64_t> cpu(nv), memory(nv), milli(nv), whole_k(nv);
    std::vector<int> one(nv, 1), gpu_items(nv), whole_items(nv);
    for (std::size_t i = 0; i < nv; ++i) {
      const PodType& t =
          types[static_cast<std::size_t>(vars[static_cast<std::size_t>(vars_of_shape[s][i])].type)];
      cpu[i] = t.cpu;
      memory[i] = t.memory;
      milli[i] = t.g;
      gpu_items[i] = t.k;
      const bool whole = t.kind == core::SliceKind::kWhole;
      whole_k[i] = whole ? t.k : 0;
      whole_items[i] = whole ? 1 : 0;
    }
    // CPU and memory: each node is one bin of its capacity; each pod one item of its request.
    // Valid because a node's placed pods together request at most its CPU and its memory.
    add_dimension(s, Family::kCpu, cpu, one, shape.cpu, n_nodes, false);
    add_dimension(s, Family::kMemory, memory, one, shape.memory, n_nodes, false);
    // GPU capacity: each GPU is one bin of 1000 milli; a pod is k items of g milli. Valid because
    // a whole GPU holds one whole-GPU pod (1000) or shares summing to <= 1000 or MIG instances
    // whose compute slices sum to <= 7 (MigMilli rounds down, so their milli sum to <= 1000);
    // modes never mix on one GPU. The linear row is the GPU milli capacity (it includes the
    // whole-GPU count: whole pods weigh 1 per GPU); u1 says at most one share above 500 milli
    // per GPU, and none beside a whole-GPU pod; u2 that at most two shares of 334..666 fit.
    add_dimension(s, Family::kGpuCapacity, milli, gpu_items, core::kWholeGpuMilli,
                  n_nodes * shape.gpus, false);
    // Whole GPUs per node: each node is one bin of G GPUs; a whole-GPU pod is one item of k.
    // Valid because a k-GPU pod takes k distinct GPUs of one node. Its linear row (sum k y <= N G)
    // is implied by the GPU capacity row (whole pods weigh k there) and is left out; u1 is "at
    // most one pod of more than G/2 GPUs per node", u2 "at most two pods of more than G/3 GPUs,
    // or one above 2G/3".
    add_dimension(s, Family::kWholeGpusPerNode, whole_k, whole_items, shape.gpus, n_nodes, true);
  }
  out.rows = static_cast<int>(lp.rows.size());

  if (vars.empty()) {
    out.binding = types.empty() ? "no GPU pods arrived" : "no GPU pod fits any node";
    out.bound_percent = 0;
    return out;
  }
  Result<LpSolution> solved = MaximizeLp(lp);
  if (!solved.ok()) return Status::Internal("allocation bound LP: " + solved.status().message());
  if (solved->outcome != LpOutcome::kOptimal) {
    // The origin is feasible and every variable is capped by its demand row: neither can happen.
    return Status::Internal("allocation bound LP was not solved to optimality");
  }

  // Weak duality makes any duals >= 0 with sum_i dual_i a_ij >= c_j an upper bound on the LP
  // optimum. The simplex's duals satisfy that up to rounding; repair the remainder by raising
  // the demand row of the variable's type (coefficient 1 in that row), so the bound is valid
  // whatever the rounding.
  std::vector<double> duals = solved->duals;
  for (double& y : duals) y = std::max(y, 0.0);
  std::vector<double> priced(vars.size(), 0.0);
  for (std::size_t i = 0; i < lp.rows.size(); ++i) {
    for (const LpTerm& term : lp.rows[i].terms) {
      priced[static_cast<std::size_t>(term.variable)] += duals[i] * term.coefficient;
    }
  }
  std::vector<int> demand_row(types.size(), -1);
  for (std::size_t i = 0, t = 0; t < types.size(); ++t) {
    if (!vars_of_type[t].empty()) demand_row[t] = static_cast<int>(i++);
  }
  for (std::size_t v = 0; v < vars.size(); ++v) {
    const double gap = lp.objective[v] - priced[v];
    if (gap > 0) {
      double& y =
          duals[static_cast<std::size_t>(demand_row[static_cast<std::size_t>(vars[v].type)])];
      y += gap;
      // Every variable of the type gains the same amount; later ones see it through `priced`.
      for (int w : vars_of_type[static_cast<std::size_t>(vars[v].type)])
        priced[static_cast<std::size_t>(w)] += gap;
    }
  }
  long double dual_bound = 0;
  std::map<std::string, long double> by_label;
  for (std::size_t i = 0; i < lp.rows.size(); ++i) {
    const long double part = static_cast<long double>(duals[i]) * lp.rows[i].rhs;
    dual_bound += part;
    if (part > 0) by_label[FamilyLabel(labels[i].family, labels[i].shape)] += part;
  }
  out.bound_milli =
      static_cast<std::int64_t>(std::floor(dual_bound * core::kWholeGpuMilli + 1e-6L));
  out.bound_percent = out.total_milli == 0
                          ? 0
                          : 100.0 *
                                static_cast<double>(std::min(out.bound_milli, out.total_milli)) /
                                static_cast<double>(out.total_milli);

  // Binding: the families with the largest dual shares of the bound.
  std::vector<std::pair<std::string, long double>> parts(by_label.begin(), by_label.end());
  std::stable_sort(parts.begin(), parts.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  for (std::size_t i = 0; i < parts.size() && i < 4; ++i) {
    const double share =
        dual_bound > 0 ? static_cast<double>(100 * parts[i].second / dual_bound) : 0;
    if (i > 0 && share < 1) break;
    if (i > 0) out.binding += ", ";
    out.binding +=
        parts[i].first + " " + std::to_string(static_cast<int>(std::lround(share))) + "%";
  }
  if (out.binding.empty()) out.binding = "nothing";
  return out;
}

}  // namespace gpool::sim
