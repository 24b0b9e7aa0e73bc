// placement_bench: placements per second of the placement policies on a large synthetic pool.
//
// Builds a pool of --nodes nodes (8 GPUs, 128 cores, 1 TiB each; 40% H100-80GB, 20% A100-80GB,
// 20% A100-40GB, 10% L4, 10% T4, in a seeded shuffled order) and a seeded stream of requests:
// whole GPUs (1, 2, 4, 8), MIG instances (1g, 2g, 3g, 4g, 7g), shares (100m-900m, half of them
// with a GPU memory limit) and CPU-only workloads. It then fills the pool from empty the way the
// fill experiment (src/sim/fill_experiment.cc) does: one sched::Scheduler::Decide per request,
// with a Snapshot holding that one pending workload, then ClusterState::Bind of the returned
// action. Only Decide + Bind is timed (std::chrono::steady_clock around each request).
//
// A run stops when GPU allocation reaches --fill (default 90%) or after --requests requests.
// Each policy runs --repeat times on a fresh pool and a fresh Scheduler (empty memo caches) with
// the same request stream; the table shows every run and the median, and one line per policy
// starts with "RESULT " for scripts:
//   RESULT policy=gpool nodes=5000 gpus=40000 placements_per_s=12345 ... median_of=3
// placements_per_s counts successful placements over the time of all requests, failed ones
// included (a request that fits nowhere costs a full scan).
//
// The FGD-style policies get a target workload built from the shapes of the first 10,000
// requests (sched::BuildTargetWorkload, 95% coverage, as the fill experiment does).
#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <vector>

#include "core/cluster.h"
#include "core/gpu_model.h"
#include "core/mig_geometry.h"
#include "core/random.h"
#include "core/workload.h"
#include "sched/fragmentation.h"
#include "sched/scheduler.h"
#include "timing.h"

namespace gpool {
namespace {

using Clock = std::chrono::steady_clock;

constexpr core::Milli kNodeCpuMilli = 128'000;
constexpr core::MiB kNodeMemoryMib = 1024 * 1024;  // 1 TiB
constexpr int kGpusPerNode = 8;
constexpr core::MiB kGiB = 1024;
constexpr int kTargetSample = 10'000;     // requests whose shapes make the target workload
constexpr double kTargetCoverage = 0.95;  // FGD's popularity threshold

struct Options {
  int nodes = 5000;
  std::int64_t requests = 100'000;  // upper bound; --fill usually stops the run first
  double fill = 0.90;
  std::vector<std::string> policies = {"gpool", "fgd", "best-fit"};
  int repeat = 3;
  std::uint64_t seed = 1;
  int max_scored_nodes = 0;  // sched::Config::max_scored_nodes; 0 scores every feasible node
};

// ---- The synthetic pool and request stream ----------------------------------------------------

struct ModelShare {
  std::string_view model;
  int percent;
};
constexpr std::array<ModelShare, 5> kModelMix = {{
    {"H100-80GB", 40},
    {"A100-80GB", 20},
    {"A100-40GB", 20},
    {"L4", 10},
    {"T4", 10},
}};

Result<std::vector<core::Node>> MakeNodes(int count, core::DeterministicRng& rng) {
  std::vector<core::Node> nodes;
  nodes.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    // Node i gets the model whose cumulative share covers i; the shuffle below mixes them.
    const int percentile = static_cast<int>(static_cast<std::int64_t>(i) * 100 / count);
    int cumulative = 0;
    std::string_view model_name = kModelMix.back().model;
    for (const ModelShare& m : kModelMix) {
      cumulative += m.percent;
      if (percentile < cumulative) {
        model_name = m.model;
        break;
      }
    }
    auto model = core::FindGpuModel(model_name);
    if (!model.ok()) return model.status();
    core::Node n;
    n.name = "node-" + std::to_string(i);
    n.cpu_milli = kNodeCpuMilli;
    n.memory_mib = kNodeMemoryMib;
    n.gpu_count = kGpusPerNode;
    n.model = *model;
    n.gpu_memory_mib = core::GetGpuModel(*model).memory_mib;
    nodes.push_back(std::move(n));
  }
  for (size_t i = nodes.size(); i > 1; --i) std::swap(nodes[i - 1], nodes[rng.Uniform(i)]);
  return nodes;
}

template <typename T, size_t N>
T Pick(const std::array<T, N>& choices, core::DeterministicRng& rng) {
  return choices[rng.Uniform(N)];
}

// One request of the mix (percent of requests):
//   whole GPUs 42: 1 GPU 25, 2 GPUs 8, 4 GPUs 5, 8 GPUs 4; 4-16 cores per GPU
//   MIG        15: 1g 5, 2g 3, 3g 3, 4g 2, 7g 2;            1-8 cores
//   shares     30: 100m..900m in steps of 100m, half with a 2-16 GiB memory limit; 1-4 cores
//   CPU-only   13:                                          1-32 cores
// Host memory is 4 or 8 GiB per core (the node has 8 GiB per core).
core::Workload DrawRequest(core::DeterministicRng& rng, core::WorkloadId id) {
  core::Workload w;
  w.id = id;
  w.tenant = "bench";
  const auto roll = static_cast<int>(rng.Uniform(100));
  core::Milli cores = 0;
  if (roll < 42) {
    const int count = roll < 25 ? 1 : roll < 33 ? 2 : roll < 38 ? 4 : 8;
    w.gpu.count = count;
    w.gpu.milli_per_gpu = core::kWholeGpuMilli;
    cores = count * Pick(std::array<core::Milli, 4>{4, 8, 12, 16}, rng);
  } else if (roll < 57) {
    const int r = roll - 42;
    const std::string_view profile = r < 5    ? "1g"
                                     : r < 8  ? "2g"
                                     : r < 11 ? "3g"
                                     : r < 13 ? "4g"
                                              : "7g";
    w.gpu.count = 1;
    w.gpu.mig = core::ParseMigProfileAnyFamily(profile).value();
    w.gpu.milli_per_gpu = core::MigMilli(*w.gpu.mig);
    cores = Pick(std::array<core::Milli, 4>{1, 2, 4, 8}, rng);
  } else if (roll < 87) {
    w.gpu.count = 1;
    w.gpu.milli_per_gpu = 100 * static_cast<core::Milli>(1 + rng.Uniform(9));
    if (rng.Uniform(2) == 0) {
      w.gpu.memory_per_gpu = Pick(std::array<core::MiB, 4>{2, 4, 8, 16}, rng) * kGiB;
    }
    cores = Pick(std::array<core::Milli, 3>{1, 2, 4}, rng);
  } else {
    cores = Pick(std::array<core::Milli, 6>{1, 2, 4, 8, 16, 32}, rng);
  }
  w.cpu_milli = cores * 1000;
  w.memory_mib = cores * Pick(std::array<core::MiB, 2>{4, 8}, rng) * kGiB;
  return w;
}

// The MIG-capable models of the pool: the model set that marks MIG shapes in ObservedType,
// which has no MIG field (see BuildTarget).
core::ModelSet MigModels(const std::vector<core::Node>& nodes) {
  core::ModelSet set = 0;
  for (const core::Node& n : nodes) {
    if (core::GetGpuModel(n.model).mig != core::MigFamily::kNone) set |= core::ModelBit(n.model);
  }
  return set;
}

// FGD's target workload from the shape counts of `sample`. A MIG shape is observed as one GPU of
// MigMilli(profile) restricted to the MIG-capable models, and turned back into a MIG request
// afterwards (MigMilli differs between profiles, and shares have no model restriction).
std::vector<sched::TargetType> BuildTarget(std::span<const core::Workload> sample,
                                           core::ModelSet mig_models) {
  std::map<std::tuple<core::Milli, core::Milli, int, std::string>, std::int64_t> counts;
  for (const core::Workload& w : sample) {
    std::string spec;
    if (w.gpu.mig) spec = std::string(core::MigProfileName(*w.gpu.mig, core::MigFamily::kNone));
    const int gpus = w.gpu.count;
    counts[{w.cpu_milli, gpus > 0 ? w.gpu.milli_per_gpu : 0, gpus, spec}] += 1;
  }
  std::vector<sched::ObservedType> observed;
  for (const auto& [key, count] : counts) {
    const auto& [cpu, milli, gpus, spec] = key;
    observed.push_back({cpu, milli, gpus, spec, spec.empty() ? 0 : mig_models, count});
  }
  std::vector<sched::TargetType> target = sched::BuildTargetWorkload(observed, kTargetCoverage);
  for (sched::TargetType& t : target) {
    if (t.gpu.models != mig_models || mig_models == 0) continue;
    for (core::MigProfile p : core::kAllMigProfiles) {
      if (core::MigMilli(p) == t.gpu.milli_per_gpu) t.gpu.mig = p;
    }
  }
  return target;
}

// ---- One fill run -----------------------------------------------------------------------------

constexpr int kPhases = 2;  // allocation below 50%, from 50% to --fill

struct PhaseStats {
  std::int64_t decisions = 0;
  std::int64_t placed = 0;
  double seconds = 0;
  double PlacementsPerSecond() const { return seconds > 0 ? placed / seconds : 0; }
};

struct RunStats {
  std::int64_t decisions = 0;
  std::int64_t placed = 0;
  std::int64_t failed = 0;
  double seconds = 0;
  double allocation = 0;      // used / total GPU milli at the end, 0..1
  double cpu_allocation = 0;  // used / total CPU at the end, 0..1
  std::array<PhaseStats, kPhases> phases{};
  double PlacementsPerSecond() const { return seconds > 0 ? placed / seconds : 0; }
  double DecisionsPerSecond() const { return seconds > 0 ? decisions / seconds : 0; }
};

Result<RunStats> RunFill(const std::vector<core::Node>& nodes,
                         const std::vector<core::Workload>& requests, const Options& opt,
                         const sched::Config& config) {
  auto scheduler = sched::Scheduler::Create(config);
  if (!scheduler.ok()) return scheduler.status();
  core::ClusterState cluster(nodes);
  const auto total = static_cast<double>(cluster.total_gpu_milli());
  RunStats run;
  for (size_t p = 0; p < requests.size(); ++p) {
    const double allocation = static_cast<double>(cluster.used_gpu_milli()) / total;
    if (allocation >= opt.fill) break;
    sched::Snapshot snap;
    snap.cluster = &cluster;
    snap.pending = std::span<const core::Workload>(&requests[p], 1);
    snap.seed = core::MixSeed(opt.seed, p);

    const Clock::time_point start = Clock::now();
    std::vector<sched::Action> actions = scheduler->Decide(snap);
    bool bound = false;
    for (const sched::Action& a : actions) {
      if (Status s = cluster.Bind(a.to); !s.ok()) {
        return Status::Internal("bind of request " + std::to_string(p) + " failed: " + s.message());
      }
      bound = bound || a.workload == requests[p].id;
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

    PhaseStats& phase = run.phases[allocation < 0.5 ? 0 : 1];
    phase.decisions += 1;
    phase.placed += bound ? 1 : 0;
    phase.seconds += seconds;
    run.decisions += 1;
    run.placed += bound ? 1 : 0;
    run.failed += bound ? 0 : 1;
    run.seconds += seconds;
  }
  run.allocation = static_cast<double>(cluster.used_gpu_milli()) / total;
  core::Milli cpu_free = 0, cpu_total = 0;
  for (int i = 0; i < cluster.size(); ++i) {
    cpu_free += cluster.state(i).cpu_free;
    cpu_total += cluster.node(i).cpu_milli;
  }
  run.cpu_allocation = 1 - static_cast<double>(cpu_free) / static_cast<double>(cpu_total);
  return run;
}

using gpool::bench::Median;

// ---- Command line -----------------------------------------------------------------------------

constexpr std::string_view kUsage =
    "usage: placement_bench [--nodes N] [--requests N] [--fill F] [--policy NAME]... "
    "[--repeat R] [--seed S] [--max-scored-nodes K]\n"
    "  --nodes N      nodes of 8 GPUs (default 5000)\n"
    "  --requests N   at most N requests per run (default 100000)\n"
    "  --fill F       stop at this GPU allocation, 0 < F <= 1 (default 0.9)\n"
    "  --policy NAME  policy to run; repeatable (default: gpool, fgd, best-fit)\n"
    "  --repeat R     runs per policy, median reported (default 3)\n"
    "  --seed S       seed of the pool and the request stream (default 1)\n"
    "  --max-scored-nodes K  score at most K feasible nodes per request (default 0: all)\n";

template <typename T>
bool ParseNumber(std::string_view s, T& out) {
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

Result<Options> ParseOptions(int argc, char** argv) {
  Options opt;
  bool policy_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") return Status::InvalidArgument("");
    constexpr std::array<std::string_view, 7> kFlags = {
        "--nodes", "--requests", "--fill", "--repeat", "--seed", "--policy", "--max-scored-nodes"};
    if (std::find(kFlags.begin(), kFlags.end(), flag) == kFlags.end()) {
      return Status::InvalidArgument("unknown flag " + std::string(flag));
    }
    if (i + 1 >= argc) return Status::InvalidArgument(std::string(flag) + " needs a value");
    const std::string_view value = argv[++i];
    bool ok = true;
    if (flag == "--nodes") {
      ok = ParseNumber(value, opt.nodes) && opt.nodes > 0;
    } else if (flag == "--requests") {
      ok = ParseNumber(value, opt.requests) && opt.requests > 0;
    } else if (flag == "--fill") {
      ok = ParseNumber(value, opt.fill) && opt.fill > 0 && opt.fill <= 1;
    } else if (flag == "--repeat") {
      ok = ParseNumber(value, opt.repeat) && opt.repeat > 0;
    } else if (flag == "--max-scored-nodes") {
      ok = ParseNumber(value, opt.max_scored_nodes) && opt.max_scored_nodes >= 0;
    } else if (flag == "--seed") {
      ok = ParseNumber(value, opt.seed);
    } else if (flag == "--policy") {
      if (!policy_given) opt.policies.clear();
      policy_given = true;
      if (auto p = sched::FindPolicy(value); !p.ok()) return p.status();
      opt.policies.emplace_back(value);
    } else {
      return Status::InvalidArgument("unknown flag " + std::string(flag));
    }
    if (!ok)
      return Status::InvalidArgument("bad value for " + std::string(flag) + ": " +
                                     std::string(value));
  }
  return opt;
}

int Main(int argc, char** argv) {
  auto parsed = ParseOptions(argc, argv);
  if (!parsed.ok()) {
    if (!parsed.status().message().empty())
      std::fprintf(stderr, "%s\n", parsed.status().message().c_str());
    std::fputs(kUsage.data(), stderr);
    return 2;
  }
  const Options& opt = *parsed;

  core::DeterministicRng rng(opt.seed);
  auto nodes = MakeNodes(opt.nodes, rng);
  if (!nodes.ok()) {
    std::fprintf(stderr, "%s\n", nodes.status().ToString().c_str());
    return 1;
  }
  std::vector<core::Workload> requests;
  requests.reserve(static_cast<size_t>(opt.requests));
  for (std::int64_t i = 0; i < opt.requests; ++i) {
    requests.push_back(DrawRequest(rng, static_cast<core::WorkloadId>(i)));
  }
  sched::Config config;
  config.max_scored_nodes = opt.max_scored_nodes;
  config.target =
      BuildTarget(std::span<const core::Workload>(requests.data(),
                                                  std::min<size_t>(requests.size(), kTargetSample)),
                  MigModels(*nodes));

  const int gpus = opt.nodes * kGpusPerNode;
  std::printf(
      "pool: %d nodes, %d GPUs; %zu requests at most, stop at %.0f%% GPU allocation; "
      "target workload: %zu types; max scored nodes: %d\n\n",
      opt.nodes, gpus, requests.size(), opt.fill * 100, config.target.size(), opt.max_scored_nodes);
  std::printf("%-10s %4s %9s %9s %7s %7s %6s %11s %11s %11s %10s %8s\n", "policy", "run",
              "decisions", "placed", "failed", "gpu%", "cpu%", "placed/s", "0-50%/s", "50-90%/s",
              "us/decide", "time s");
  std::vector<std::string> results;
  for (const std::string& policy : opt.policies) {
    config.policy = policy;
    std::vector<RunStats> runs;
    for (int r = 0; r < opt.repeat; ++r) {
      auto run = RunFill(*nodes, requests, opt, config);
      if (!run.ok()) {
        std::fprintf(stderr, "%s: %s\n", policy.c_str(), run.status().ToString().c_str());
        return 1;
      }
      const RunStats& s = *run;
      std::printf("%-10s %4d %9lld %9lld %7lld %7.2f %6.2f %11.0f %11.0f %11.0f %10.1f %8.2f\n",
                  policy.c_str(), r + 1, static_cast<long long>(s.decisions),
                  static_cast<long long>(s.placed), static_cast<long long>(s.failed),
                  s.allocation * 100, s.cpu_allocation * 100, s.PlacementsPerSecond(),
                  s.phases[0].PlacementsPerSecond(), s.phases[1].PlacementsPerSecond(),
                  s.decisions > 0 ? s.seconds / static_cast<double>(s.decisions) * 1e6 : 0,
                  s.seconds);
      std::fflush(stdout);
      runs.push_back(s);
    }
    auto median = [&](auto metric) {
      std::vector<double> v;
      for (const RunStats& s : runs) v.push_back(metric(s));
      return Median(std::move(v));
    };
    const double total = median([](const RunStats& s) { return s.PlacementsPerSecond(); });
    const double decisions = median([](const RunStats& s) { return s.DecisionsPerSecond(); });
    const double low = median([](const RunStats& s) { return s.phases[0].PlacementsPerSecond(); });
    const double high = median([](const RunStats& s) { return s.phases[1].PlacementsPerSecond(); });
    const RunStats& first = runs.front();  // placed/failed/allocation are the same in every run
    std::printf("%-10s %4s %9lld %9lld %7lld %7.2f %6.2f %11.0f %11.0f %11.0f %10.1f\n",
                policy.c_str(), "med", static_cast<long long>(first.decisions),
                static_cast<long long>(first.placed), static_cast<long long>(first.failed),
                first.allocation * 100, first.cpu_allocation * 100, total, low, high,
                decisions > 0 ? 1e6 / decisions : 0);
    char line[512];
    std::snprintf(line, sizeof line,
                  "RESULT policy=%s nodes=%d gpus=%d placements_per_s=%.0f decisions_per_s=%.0f "
                  "phase_0_50_per_s=%.0f phase_50_90_per_s=%.0f placed=%lld failed=%lld "
                  "allocation_pct=%.2f max_scored_nodes=%d median_of=%d",
                  policy.c_str(), opt.nodes, gpus, total, decisions, low, high,
                  static_cast<long long>(first.placed), static_cast<long long>(first.failed),
                  first.allocation * 100, opt.max_scored_nodes, opt.repeat);
    results.emplace_back(line);
  }
  std::printf("\n");
  for (const std::string& r : results) std::printf("%s\n", r.c_str());
  return 0;
}

}  // namespace
}  // namespace gpool

int main(int argc, char** argv) { return gpool::Main(argc, argv); }
