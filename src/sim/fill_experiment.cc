#include "sim/fill_experiment.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <thread>
#include <tuple>

#include "core/random.h"
#include "sched/scheduler.h"
#include "sim/allocation_bound.h"
#include "sim/locked_waste_bound.h"

namespace gpool::sim {

Result<OpenbWorkload> ToPoolModel(const std::vector<OpenbNode>& nodes,
                                  const std::vector<OpenbPod>& pods) {
  OpenbWorkload out;
  std::vector<const OpenbNode*> by_sn;
  for (const OpenbNode& n : nodes) by_sn.push_back(&n);
  std::sort(by_sn.begin(), by_sn.end(),
            [](const OpenbNode* a, const OpenbNode* b) { return a->sn < b->sn; });
  for (const OpenbNode* n : by_sn) {
    core::Node node;
    node.name = n->sn;
    node.cpu_milli = n->cpu_milli;
    node.memory_mib = n->memory_mib;
    node.gpu_count = n->gpus;
    if (n->gpus > core::kMaxDevicesPerNode) {
      return Status::InvalidArgument("node " + n->sn + " has " + std::to_string(n->gpus) +
                                     " GPUs; at most " + std::to_string(core::kMaxDevicesPerNode) +
                                     " per node are supported");
    }
    if (n->gpus > 0) {
      auto model = core::FindGpuModel(n->model);
      if (!model.ok())
        return Status::InvalidArgument("node " + n->sn + ": " + model.status().message());
      node.model = *model;
      node.gpu_memory_mib = core::GetGpuModel(*model).memory_mib;
    }
    out.nodes.push_back(std::move(node));
  }
  std::vector<const OpenbPod*> by_name;
  for (const OpenbPod& p : pods) by_name.push_back(&p);
  std::sort(by_name.begin(), by_name.end(),
            [](const OpenbPod* a, const OpenbPod* b) { return a->name < b->name; });
  std::map<std::tuple<core::Milli, core::Milli, int, std::string>, std::int64_t> counts;
  for (const OpenbPod* p : by_name) {
    core::Workload w;
    w.id = out.pods.size();
    w.name = p->name;
    w.tenant = "openb";
    w.cpu_milli = p->cpu_milli;
    w.memory_mib = p->memory_mib;
    const int k = p->num_gpu;
    core::Milli g = 0;
    if (k >= 1) {
      if (p->gpu_milli > 0 && p->gpu_milli <= 1000) g = p->gpu_milli;
      if (p->gpu_milli > 1000) g = 1000;
    }
    std::string spec;
    if (g > 0) {
      w.gpu.count = k;
      w.gpu.milli_per_gpu = g;
      spec = p->gpu_spec;
      auto models = core::ParseModelSet(spec);
      if (!models.ok())
        return Status::InvalidArgument("pod " + p->name + ": " + models.status().message());
      w.gpu.models = *models;
    }
    counts[{w.cpu_milli, g, g > 0 ? k : 0, spec}] += 1;
    out.pods.push_back(std::move(w));
  }
  for (const auto& [key, count] : counts) {
    const auto& [cpu, g, k, spec] = key;
    sched::ObservedType t;
    t.cpu_milli = cpu;
    t.milli_per_gpu = g;
    t.gpus = k;
    t.spec = spec;
    t.models = core::ParseModelSet(spec).value();
    t.count = count;
    out.types.push_back(t);
  }
  return out;
}

namespace {

constexpr double kTargetCoverage = 0.95;  // FGD's popularity threshold

template <typename T>
void Shuffle(std::vector<T>& v, core::DeterministicRng& rng) {
  for (std::size_t i = v.size(); i > 1; --i) {
    std::swap(v[i - 1], v[rng.Uniform(i)]);
  }
}

}  // namespace

Result<FillRun> RunFillSeed(const OpenbWorkload& trace, const FillOptions& options,
                            std::uint64_t seed) {
  if (!(options.inflate > 0) || options.inflate > 10) {
    return Status::InvalidArgument("--inflate must be in (0, 10], got " +
                                   std::to_string(options.inflate));
  }
  sched::Config config;
  config.policy = options.policy;
  config.max_moves = options.migrate;
  config.max_scored_nodes = options.max_scored_nodes;
  config.target = sched::BuildTargetWorkload(trace.types, kTargetCoverage);
  auto scheduler = sched::Scheduler::Create(config);
  if (!scheduler.ok()) return scheduler.status();

  core::DeterministicRng rng(seed);
  const std::vector<core::Workload>& w = trace.pods;
  // Arrival order: the original pods shuffled, then resampled copies appended (tune up),
  // or random removals (tune down), as the published simulator does.
  std::vector<std::uint32_t> arrivals(w.size());
  std::iota(arrivals.begin(), arrivals.end(), 0u);
  Shuffle(arrivals, rng);
  std::int64_t capacity = 0;
  for (const core::Node& n : trace.nodes) capacity += n.gpu_count * core::kWholeGpuMilli;
  const double tau = options.inflate * static_cast<double>(capacity);
  std::int64_t t_cur = 0;
  for (std::uint32_t i : arrivals) t_cur += w[i].gpu.TotalMilli();
  while (static_cast<double>(t_cur) < tau && !w.empty()) {
    const auto q = static_cast<std::uint32_t>(rng.Uniform(w.size()));
    // The published simulator compares with the per-GPU request, not the total: kept as is.
    if (static_cast<double>(t_cur + w[q].gpu.milli_per_gpu) > tau) break;
    arrivals.push_back(q);
    t_cur += w[q].gpu.TotalMilli();
  }
  while (static_cast<double>(t_cur) > tau && !arrivals.empty()) {
    const auto idx = static_cast<std::size_t>(rng.Uniform(arrivals.size()));
    t_cur -= w[arrivals[idx]].gpu.TotalMilli();
    arrivals.erase(arrivals.begin() + static_cast<std::ptrdiff_t>(idx));
  }
  // Node priority: a random permutation fixed for the run; earlier nodes win score ties.
  std::vector<core::Node> nodes = trace.nodes;
  Shuffle(nodes, rng);
  core::ClusterState cluster(std::move(nodes));

  // Workloads as they arrive (copies of resampled pods get fresh ids).
  std::vector<core::Workload> arrived;
  arrived.reserve(arrivals.size());
  for (std::uint32_t i : arrivals) {
    arrived.push_back(w[i]);
    arrived.back().id = arrived.size() - 1;
  }
  std::vector<sched::PlacedWorkload> placed;
  placed.reserve(arrived.size());
  std::vector<std::int32_t> placed_index(arrived.size(), -1);
  std::vector<AllocationRecord> records;
  records.reserve(arrived.size());
  // Fragmentation of every node for the target workload, kept current as nodes change.
  const sched::FragmentationModel frag(config.target);
  std::vector<double> node_frag(static_cast<std::size_t>(cluster.size()));
  double frag_total = 0;
  for (int i = 0; i < cluster.size(); ++i) {
    node_frag[static_cast<std::size_t>(i)] = frag.Fragmentation(cluster.node(i), cluster.state(i));
    frag_total += node_frag[static_cast<std::size_t>(i)];
  }
  auto refresh = [&](int i) {
    const double f = frag.Fragmentation(cluster.node(i), cluster.state(i));
    frag_total += f - node_frag[static_cast<std::size_t>(i)];
    node_frag[static_cast<std::size_t>(i)] = f;
  };
  std::vector<FragmentationRecord> frag_records;
  frag_records.reserve(arrived.size());

  FillRun run;
  run.seed = seed;
  run.arrivals = static_cast<std::int64_t>(arrived.size());
  std::int64_t arrived_milli = 0;
  for (std::size_t p = 0; p < arrived.size(); ++p) {
    sched::Snapshot snap;
    snap.cluster = &cluster;
    snap.pending = std::span<const core::Workload>(&arrived[p], 1);
    snap.placed = placed;
    snap.seed = core::MixSeed(seed, p);
    std::vector<sched::Action> actions = scheduler->Decide(snap);
    bool bound = false;
    for (sched::Action& a : actions) {
      if (a.kind == sched::ActionKind::kMigrate) {
        cluster.Release(a.from);
        if (Status s = cluster.Bind(a.to); !s.ok())
          return Status::Internal("migration failed: " + s.message());
        placed[static_cast<std::size_t>(placed_index[a.workload])].binding = a.to;
        refresh(a.from.node);
        refresh(a.to.node);
        run.moves += 1;
        run.moved_milli += a.moved_milli;
        continue;
      }
      if (Status s = cluster.Bind(a.to); !s.ok())
        return Status::Internal("bind failed: " + s.message());
      refresh(a.to.node);
      placed_index[a.workload] = static_cast<std::int32_t>(placed.size());
      placed.push_back({&arrived[a.workload], std::move(a.to)});
      bound = bound || a.workload == arrived[p].id;
    }
    if (!bound) {
      if (run.first_failure < 0) run.first_failure = static_cast<std::int64_t>(p);
      run.failed_pods += 1;
    }
    arrived_milli += arrived[p].gpu.TotalMilli();
    records.push_back({arrived_milli, cluster.used_gpu_milli()});
    frag_records.push_back({arrived_milli, frag_total});
  }
  run.allocation = Discretise(records, capacity / core::kWholeGpuMilli);
  run.fragmentation = DiscretiseFragmentation(frag_records, capacity / core::kWholeGpuMilli);
  run.final_used_milli = cluster.used_gpu_milli();
  const std::size_t prefix =
      run.first_failure < 0 ? arrived.size() : static_cast<std::size_t>(run.first_failure);
  run.locked_waste_bound =
      LockedWasteBound(std::span<const core::Workload>(arrived.data(), prefix), arrived, capacity)
          .bound_percent;
  auto relaxation = UpperBoundAllocation(trace.nodes, arrived);
  if (!relaxation.ok()) return relaxation.status();
  run.relaxation_bound = relaxation->bound_percent;
  run.arrived_milli = arrived_milli;
  return run;
}

Result<FillResult> RunFill(const OpenbWorkload& trace, const FillOptions& options,
                           const FillProgress& progress) {
  if (options.seeds.empty()) return Status::InvalidArgument("no seeds given");
  FillResult result;
  result.policy = options.policy;
  for (const core::Node& n : trace.nodes) result.total_gpus += n.gpu_count;
  const std::size_t n = options.seeds.size();
  std::vector<FillRun> runs(n);
  std::vector<Status> errors(n);
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> done{0};
  const int threads = std::clamp(options.threads, 1, static_cast<int>(n));
  auto worker = [&] {
    for (std::size_t i = next++; i < n; i = next++) {
      auto r = RunFillSeed(trace, options, options.seeds[i]);
      if (r.ok()) {
        runs[i] = std::move(r).value();
      } else {
        errors[i] = r.status();
      }
      const std::size_t d = ++done;
      if (threads == 1 && progress) progress(d, n);
    }
  };
  std::vector<std::thread> pool;
  const bool poll = threads > 1 && progress;  // the calling thread reports, the pool works
  for (int t = poll ? 0 : 1; t < threads; ++t) pool.emplace_back(worker);
  if (!poll) {
    worker();
  } else {
    // The calling thread reports progress while the pool works.
    std::size_t reported = 0;
    while (reported < n) {
      const std::size_t d = done.load();
      if (d != reported) {
        reported = d;
        progress(reported, n);
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }
  for (std::thread& t : pool) t.join();
  for (std::size_t i = 0; i < n; ++i) {
    if (!errors[i].ok()) return errors[i];
    result.runs.push_back(std::move(runs[i]));
  }
  auto mean_of = [&](std::vector<double> FillRun::*curve) {
    std::vector<double> mean(kAllocationColumns, 0);
    for (int c = 0; c < kAllocationColumns; ++c) {
      double sum = 0;
      int n = 0;
      for (const FillRun& r : result.runs) {
        const double v = (r.*curve)[static_cast<std::size_t>(c)];
        if (!std::isnan(v)) {
          sum += v;
          ++n;
        }
      }
      mean[static_cast<std::size_t>(c)] =
          n > 0 ? sum / n : std::numeric_limits<double>::quiet_NaN();
    }
    return mean;
  };
  result.mean_allocation = mean_of(&FillRun::allocation);
  result.mean_fragmentation = mean_of(&FillRun::fragmentation);
  return result;
}

}  // namespace gpool::sim
