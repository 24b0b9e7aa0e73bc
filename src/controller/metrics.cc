#include "controller/metrics.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "core/gpu_model.h"

namespace gpool::controller {
namespace {

using nlohmann::json;

constexpr std::int64_t kMilliPerGpu = 1000;
// Bounds that keep every sum far from overflow: a slice of at most a million GPUs, a node of at
// most a million GPUs.
constexpr std::int64_t kMaxSliceMilli = std::int64_t{1'000'000} * kMilliPerGpu;
constexpr std::int64_t kMaxNodeGpus = 1'000'000;

constexpr std::array<std::string_view, 6> kWorkloadStates = {"pending",   "assigned", "running",
                                                             "succeeded", "failed",   "cancelled"};

std::string FormatDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::trunc(v) && std::fabs(v) < 1e15) {
    return std::to_string(static_cast<std::int64_t>(v));
  }
  std::array<char, 64> buf{};
  const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  assert(r.ec == std::errc());
  return std::string(buf.data(), r.ptr);
}

// Exact: milli-GPUs as GPUs with the fraction's trailing zeros trimmed.
std::string FormatMilli(std::int64_t milli) {
  std::string out;
  if (milli < 0) {
    out = "-";
    milli = -milli;
  }
  out += std::to_string(milli / kMilliPerGpu);
  std::int64_t frac = milli % kMilliPerGpu;
  if (frac == 0) return out;
  std::string digits = std::to_string(frac);
  digits.insert(0, 3 - digits.size(), '0');
  while (digits.back() == '0') digits.pop_back();
  return out + "." + digits;
}

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (const char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view v) {
  std::string out;
  for (const char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

using Label = std::pair<std::string_view, std::string_view>;

// `{a="x",b="y"}` with the labels sorted by name; "" for no labels.
std::string LabelText(std::vector<Label> labels) {
  if (labels.empty()) return "";
  std::sort(labels.begin(), labels.end());
  std::string out = "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ',';
    out += labels[i].first;
    out += "=\"";
    out += EscapeLabelValue(labels[i].second);
    out += '"';
  }
  return out + "}";
}

// One gauge or counter family: series sorted by their label text.
struct Family {
  std::string_view name;
  std::string_view help;
  std::string_view type;
  std::map<std::string, std::string> series;  // label text -> value text

  void Set(std::vector<Label> labels, std::string value) {
    series[LabelText(std::move(labels))] = std::move(value);
  }
  void AppendTo(std::string& out) const {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += EscapeHelp(help);
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
    for (const auto& [labels, value] : series) {
      out += name;
      out += labels;
      out += ' ';
      out += value;
      out += '\n';
    }
  }
};

void AppendCounter(std::string& out, std::string_view name, std::string_view help,
                   const std::atomic<std::uint64_t>& counter) {
  Family f{name, help, "counter", {}};
  f.Set({}, std::to_string(counter.load(std::memory_order_relaxed)));
  f.AppendTo(out);
}

// An integer in [lo, hi] (JSON signed or unsigned integer; floats are rejected).
bool IntIn(const json& j, std::int64_t lo, std::int64_t hi, std::int64_t* out) {
  if (j.is_number_unsigned()) {
    const std::uint64_t u = j.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(hi)) return false;
    *out = static_cast<std::int64_t>(u);
  } else if (j.is_number_integer()) {
    *out = j.get<std::int64_t>();
  } else {
    return false;
  }
  return *out >= lo && *out <= hi;
}

std::optional<std::string_view> StringField(const json& obj, const char* key) {
  const auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return std::nullopt;
  return std::string_view(it->get_ref<const std::string&>());
}

struct BindingMilli {
  std::string_view node;
  std::int64_t milli = 0;
};

// The GPU milli of each binding of a workload; false when `bindings` is malformed.
bool ParseBindings(const json& w, std::vector<BindingMilli>* out) {
  const auto it = w.find("bindings");
  if (it == w.end() || !it->is_array()) return false;
  for (const json& b : *it) {
    if (!b.is_object()) return false;
    const auto node = StringField(b, "node");
    const auto slices = b.find("slices");
    if (!node || slices == b.end() || !slices->is_array()) return false;
    BindingMilli bm{*node, 0};
    for (const json& s : *slices) {
      if (!s.is_object()) return false;
      const auto milli = s.find("milli");
      std::int64_t m = 0;
      if (milli == s.end() || !IntIn(*milli, 0, kMaxSliceMilli, &m)) return false;
      bm.milli += m;
    }
    out->push_back(bm);
  }
  return true;
}

std::string ModelLabel(const json& node) {
  const auto it = node.find("model");
  if (it == node.end() || it->get_ref<const std::string&>().empty()) return "none";
  const std::string& raw = it->get_ref<const std::string&>();
  const auto id = core::FindGpuModel(raw);
  return id.ok() ? std::string(core::GetGpuModel(*id).name) : raw;
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)), buckets_(upper_bounds_.size() + 1, 0) {
  assert(!upper_bounds_.empty());
  for (std::size_t i = 0; i < upper_bounds_.size(); ++i) {
    assert(std::isfinite(upper_bounds_[i]));
    assert(i == 0 || upper_bounds_[i - 1] < upper_bounds_[i]);
  }
}

void Histogram::Observe(double seconds) {
  if (std::isnan(seconds)) return;
  seconds = std::max(seconds, 0.0);
  const std::size_t bucket = static_cast<std::size_t>(
      std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), seconds) -
      upper_bounds_.begin());
  std::lock_guard lock(mu_);
  ++buckets_[bucket];
  sum_ += seconds;
  ++count_;
}

HistogramSnapshot Histogram::Snapshot() const {
  HistogramSnapshot s;
  s.upper_bounds = upper_bounds_;
  s.cumulative.reserve(buckets_.size());
  std::lock_guard lock(mu_);
  std::uint64_t running = 0;
  for (const std::uint64_t b : buckets_) {
    running += b;
    s.cumulative.push_back(running);
  }
  s.sum = sum_;
  s.count = count_;
  return s;
}

std::string RenderHistogram(std::string_view name, std::string_view help,
                            const HistogramSnapshot& snapshot) {
  assert(snapshot.cumulative.size() == snapshot.upper_bounds.size() + 1);
  std::string out;
  out += "# HELP ";
  out += name;
  out += ' ';
  out += EscapeHelp(help);
  out += "\n# TYPE ";
  out += name;
  out += " histogram\n";
  for (std::size_t i = 0; i < snapshot.cumulative.size(); ++i) {
    const std::string le = i < snapshot.upper_bounds.size() ? FormatDouble(snapshot.upper_bounds[i])
                                                            : std::string("+Inf");
    out += name;
    out += "_bucket{le=\"" + le + "\"} " + std::to_string(snapshot.cumulative[i]) + "\n";
  }
  out += name;
  out += "_sum " + FormatDouble(snapshot.sum) + "\n";
  out += name;
  out += "_count " + std::to_string(snapshot.count) + "\n";
  return out;
}

std::vector<double> DefaultSchedulingPassBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
}

std::vector<double> DefaultQueueWaitBuckets() {
  return {0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400};
}

ControllerMetrics::ControllerMetrics()
    : scheduling_pass_seconds(DefaultSchedulingPassBuckets()),
      queue_wait_seconds(DefaultQueueWaitBuckets()) {}

void ControllerMetrics::RecordPass(double duration_s, int binds_now, int conflicts_now,
                                   int nodes_lost_now, int requeued_now, int timed_out_now,
                                   std::span<const double> queue_waits_s) {
  const auto add = [](std::atomic<std::uint64_t>& counter, int n) {
    if (n > 0) counter.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
  };
  add(binds, binds_now);
  add(conflicts, conflicts_now);
  add(nodes_lost, nodes_lost_now);
  add(requeued, requeued_now);
  add(timed_out, timed_out_now);
  for (const double w : queue_waits_s) queue_wait_seconds.Observe(w);
  scheduling_pass_seconds.Observe(duration_s);
  reconcile_passes.fetch_add(1, std::memory_order_relaxed);
}

void ControllerMetrics::RecordFailedPass(double duration_s) {
  scheduling_pass_seconds.Observe(duration_s);
  reconcile_errors.fetch_add(1, std::memory_order_relaxed);
  reconcile_passes.fetch_add(1, std::memory_order_relaxed);
}

std::string RenderMetrics(std::span<const json> workloads, std::span<const json> nodes,
                          const ControllerMetrics& m) {
  // Workloads: counts per (tenant, state), GPUs per (tenant, state), milli per node.
  std::map<std::string, std::map<std::string_view, std::int64_t>> count_by_tenant;
  std::map<std::string, std::map<std::string_view, std::int64_t>> milli_by_tenant;
  std::map<std::string, std::int64_t, std::less<>> milli_by_node;
  std::int64_t malformed_workloads = 0;
  for (const json& w : workloads) {
    if (!w.is_object()) {
      ++malformed_workloads;
      continue;
    }
    const auto tenant = StringField(w, "tenant");
    const auto state_field = StringField(w, "state");
    const auto state_it =
        state_field ? std::find(kWorkloadStates.begin(), kWorkloadStates.end(), *state_field)
                    : kWorkloadStates.end();
    if (!tenant || tenant->empty() || state_it == kWorkloadStates.end()) {
      ++malformed_workloads;
      continue;
    }
    const std::string_view state = *state_it;  // points at the constant table
    std::vector<BindingMilli> bindings;
    // Assigned and running workloads hold their slices, and so do finished ones still
    // `releasing` them (their processes are being stopped): those count on the nodes only.
    const bool active = state == "assigned" || state == "running";
    const auto releasing_it = w.find("releasing");
    const bool releasing = !active && releasing_it != w.end() && releasing_it->is_boolean() &&
                           releasing_it->get<bool>();
    if ((active || releasing) && !ParseBindings(w, &bindings)) {
      ++malformed_workloads;
      continue;
    }
    ++count_by_tenant[std::string(*tenant)][state];
    auto& tenant_milli = milli_by_tenant[std::string(*tenant)];
    for (const std::string_view s : {std::string_view("assigned"), std::string_view("running")}) {
      tenant_milli[s] += 0;  // both states for every tenant
    }
    for (const BindingMilli& b : bindings) {
      if (active) tenant_milli[state] += b.milli;
      milli_by_node[std::string(b.node)] += b.milli;
    }
  }

  Family workloads_f{"gpool_workloads", "Workloads by state and tenant.", "gauge", {}};
  for (const auto& [tenant, counts] : count_by_tenant) {
    for (const std::string_view state : kWorkloadStates) {
      const auto it = counts.find(state);
      workloads_f.Set({{"state", state}, {"tenant", tenant}},
                      std::to_string(it == counts.end() ? 0 : it->second));
    }
  }
  Family workload_gpus_f{"gpool_workload_gpus",
                         "GPUs held by assigned and running workloads, by tenant.",
                         "gauge",
                         {}};
  for (const auto& [tenant, milli] : milli_by_tenant) {
    for (const auto& [state, value] : milli) {
      workload_gpus_f.Set({{"state", state}, {"tenant", tenant}}, FormatMilli(value));
    }
  }

  // Nodes.
  Family up_f{"gpool_node_up", "1 when the node is ready, 0 when it is not (lost).", "gauge", {}};
  Family node_gpus_f{"gpool_node_gpus", "GPUs on the node.", "gauge", {}};
  Family node_alloc_f{"gpool_node_gpus_allocated",
                      "GPUs booked on the node by assigned, running and releasing workloads.",
                      "gauge",
                      {}};
  Family simulated_f{"gpool_node_simulated", "1 when the node's GPUs are simulated.", "gauge", {}};
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> pool_by_model;  // gpus, milli
  std::set<std::string, std::less<>> seen_nodes;
  std::int64_t malformed_nodes = 0;
  for (const json& n : nodes) {
    if (!n.is_object()) {
      ++malformed_nodes;
      continue;
    }
    const auto name = StringField(n, "name");
    std::int64_t gpus = 0;
    const auto gpus_it = n.find("gpus");
    const bool gpus_ok = gpus_it == n.end() || IntIn(*gpus_it, 0, kMaxNodeGpus, &gpus);
    const auto model_it = n.find("model");
    const auto state_it = n.find("state");
    if (!name || name->empty() || !gpus_ok || (model_it != n.end() && !model_it->is_string()) ||
        (state_it != n.end() && !state_it->is_string()) || seen_nodes.contains(*name)) {
      ++malformed_nodes;
      continue;
    }
    seen_nodes.emplace(*name);
    const std::string model = ModelLabel(n);
    const std::string state =
        state_it == n.end() ? "ready" : state_it->get_ref<const std::string&>();
    const bool ready = state == "ready";
    const auto alloc_it = milli_by_node.find(*name);
    const std::int64_t alloc = alloc_it == milli_by_node.end() ? 0 : alloc_it->second;
    const auto sim_it = n.find("simulated");
    const bool simulated = sim_it != n.end() && sim_it->is_boolean() && sim_it->get<bool>();

    up_f.Set({{"model", model}, {"node", *name}, {"state", state}}, ready ? "1" : "0");
    node_gpus_f.Set({{"model", model}, {"node", *name}}, std::to_string(gpus));
    node_alloc_f.Set({{"model", model}, {"node", *name}}, FormatMilli(alloc));
    simulated_f.Set({{"node", *name}}, simulated ? "1" : "0");
    auto& pool = pool_by_model[model];
    if (ready) {
      pool.first += gpus;
      pool.second += alloc;
    }
  }
  Family gpus_f{"gpool_gpus", "GPUs on ready nodes, by model.", "gauge", {}};
  Family gpus_alloc_f{
      "gpool_gpus_allocated", "GPUs allocated on ready nodes, by model.", "gauge", {}};
  for (const auto& [model, totals] : pool_by_model) {
    gpus_f.Set({{"model", model}}, std::to_string(totals.first));
    gpus_alloc_f.Set({{"model", model}}, FormatMilli(totals.second));
  }
  Family malformed_f{"gpool_malformed_records",
                     "Store records skipped by this scrape because they are malformed.",
                     "gauge",
                     {}};
  malformed_f.Set({{"kind", "node"}}, std::to_string(malformed_nodes));
  malformed_f.Set({{"kind", "workload"}}, std::to_string(malformed_workloads));

  std::string out;
  for (const Family* f : {&workloads_f, &workload_gpus_f, &up_f, &node_gpus_f, &node_alloc_f,
                          &simulated_f, &gpus_f, &gpus_alloc_f, &malformed_f}) {
    f->AppendTo(out);
  }
  out += RenderHistogram("gpool_scheduling_pass_seconds", "Duration of a reconcile pass.",
                         m.scheduling_pass_seconds.Snapshot());
  out += RenderHistogram("gpool_queue_wait_seconds",
                         "Time from submission to assignment, per assignment.",
                         m.queue_wait_seconds.Snapshot());
  AppendCounter(out, "gpool_reconcile_passes_total", "Reconcile passes run.", m.reconcile_passes);
  AppendCounter(out, "gpool_reconcile_errors_total", "Reconcile passes that returned an error.",
                m.reconcile_errors);
  AppendCounter(out, "gpool_binds_total", "Workloads bound to nodes.", m.binds);
  AppendCounter(out, "gpool_bind_conflicts_total",
                "Binds that lost a race and were re-decided in a later pass.", m.conflicts);
  AppendCounter(out, "gpool_nodes_lost_total", "Nodes marked lost.", m.nodes_lost);
  AppendCounter(out, "gpool_requeued_total", "Workloads taken back from lost nodes.", m.requeued);
  AppendCounter(out, "gpool_timed_out_total",
                "Running workloads failed for exceeding their max_runtime.", m.timed_out);
  AppendCounter(out, "gpool_preempted_total", "Workloads preempted.", m.preempted);
  return out;
}

}  // namespace gpool::controller
