// `gpool sim fill`: replay the openb trace through the scheduler and report allocation.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli/commands.h"
#include "sched/registry.h"
#include "sim/fill_experiment.h"
#include "sim/fill_report.h"
#include "sim/openb_trace.h"
#include "sim/philly_replay.h"
#include "sim/philly_trace.h"
#include "sim/published_results.h"
#include "sim/replay_report.h"

namespace gpool::cli {
namespace {

struct FillArgs {
  std::string nodes;
  std::string pods;
  std::string policy = "gpool";
  std::uint64_t seed = 42;
  std::string seeds;
  double inflate = 1.3;
  int migrate = 0;
  int max_scored_nodes = 0;
  int threads = 2;
  std::string json_out;
  std::string svg_out;
};

Result<std::vector<std::uint64_t>> ParseSeedRange(const std::string& text) {
  const auto dash = text.find('-');
  try {
    if (dash == std::string::npos) return std::vector<std::uint64_t>{std::stoull(text)};
    std::size_t used_a = 0, used_b = 0;
    const std::string a = text.substr(0, dash), b = text.substr(dash + 1);
    const std::uint64_t lo = std::stoull(a, &used_a), hi = std::stoull(b, &used_b);
    if (used_a != a.size() || used_b != b.size() || hi < lo || hi - lo > 100000)
      throw std::invalid_argument("");
    std::vector<std::uint64_t> out;
    for (std::uint64_t s = lo; s <= hi; ++s) out.push_back(s);
    return out;
  } catch (const std::exception&) {
    return Status::InvalidArgument("--seeds expects A-B with A <= B (e.g. 42-51), got '" + text +
                                   "'");
  }
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    std::fprintf(stderr, "gpool: cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

int RunFillCommand(const FillArgs& args) {
  auto nodes = sim::ReadOpenbNodes(args.nodes);
  if (!nodes.ok()) {
    std::fprintf(stderr, "gpool: %s\n", nodes.status().message().c_str());
    return 2;
  }
  auto pods = sim::ReadOpenbPods(args.pods);
  if (!pods.ok()) {
    std::fprintf(stderr, "gpool: %s\n", pods.status().message().c_str());
    return 2;
  }
  auto trace = sim::ToPoolModel(*nodes, *pods);
  if (!trace.ok()) {
    std::fprintf(stderr, "gpool: %s\n", trace.status().message().c_str());
    return 2;
  }
  sim::FillOptions options;
  options.policy = args.policy;
  options.inflate = args.inflate;
  options.migrate = args.migrate;
  options.threads = args.threads;
  options.max_scored_nodes = args.max_scored_nodes;
  if (!args.seeds.empty()) {
    auto seeds = ParseSeedRange(args.seeds);
    if (!seeds.ok()) {
      std::fprintf(stderr, "gpool: %s\n", seeds.status().message().c_str());
      return 2;
    }
    options.seeds = *seeds;
  } else {
    options.seeds = {args.seed};
  }
  const bool tty = isatty(STDERR_FILENO) != 0;
  const auto start = std::chrono::steady_clock::now();
  auto progress = [&](std::size_t done, std::size_t total) {
    if (!tty || total < 2) return;
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "\r%s: seed %zu/%zu done, %.1f s", args.policy.c_str(), done, total, s);
    if (done == total) std::fprintf(stderr, "\n");
  };
  auto result = sim::RunFill(*trace, options, progress);
  if (!result.ok()) {
    std::fprintf(stderr, "gpool: %s\n", result.status().message().c_str());
    return 2;
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s", sim::FillSummaryTable(*result, options).c_str());
  std::printf("wall time: %.2f s\n", wall);
  if (!args.json_out.empty() &&
      !WriteFile(args.json_out, sim::FillResultJson(*result, options, wall).dump(2) + "\n")) {
    return 1;
  }
  if (!args.svg_out.empty() && !WriteFile(args.svg_out, sim::FillResultSvg({&*result}))) return 1;
  return 0;
}

// Where the shared traces are when no path is given: $GPOOL_TRACES, else ../shared/traces next to
// the source tree the binary was built from, else ../shared/traces from the working directory.
std::string DefaultTraceDir() {
  if (const char* env = std::getenv("GPOOL_TRACES"); env != nullptr && *env != '\0') return env;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (std::filesystem::path p = exe.parent_path(); !p.empty() && p != p.root_path();
         p = p.parent_path()) {
      const auto candidate = p.parent_path() / "shared" / "traces";
      if (std::filesystem::exists(candidate / "openb", ec)) return candidate.string();
    }
  }
  return "../shared/traces";
}

struct CompareArgs {
  std::string traces;
  std::string workload = "default";
  std::string policies = "random,dot-product,gpu-clustering,gpu-packing,best-fit,fgd,gpool";
  std::string seeds = "42-51";
  int migrate = 4;
  int threads = 2;
  std::string out = "out";
};

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

int RunCompareCommand(const CompareArgs& args) {
  const std::string dir = args.traces.empty() ? DefaultTraceDir() : args.traces;
  const std::string nodes_path = dir + "/openb/openb_node_list_gpu_node.csv";
  const std::string pods_path = dir + "/openb/openb_pod_list_" + args.workload + ".csv";
  auto nodes = sim::ReadOpenbNodes(nodes_path);
  if (!nodes.ok()) {
    std::fprintf(stderr,
                 "gpool: %s\n(set --traces DIR or GPOOL_TRACES to the folder holding openb/)\n",
                 nodes.status().message().c_str());
    return 2;
  }
  auto pods = sim::ReadOpenbPods(pods_path);
  if (!pods.ok()) {
    std::fprintf(stderr, "gpool: %s\n", pods.status().message().c_str());
    return 2;
  }
  auto trace = sim::ToPoolModel(*nodes, *pods);
  if (!trace.ok()) {
    std::fprintf(stderr, "gpool: %s\n", trace.status().message().c_str());
    return 2;
  }
  auto seeds = ParseSeedRange(args.seeds);
  if (!seeds.ok()) {
    std::fprintf(stderr, "gpool: %s\n", seeds.status().message().c_str());
    return 2;
  }
  auto published = sim::PublishedResults::Read(dir + "/openb/expected/analysis_allo_discrete.csv");
  struct Row {
    std::string label;
    sim::FillOptions options;
  };
  std::vector<Row> rows;
  for (const std::string& p : SplitList(args.policies)) {
    if (auto found = sched::FindPolicy(p); !found.ok()) {
      std::fprintf(stderr, "gpool: %s\n", found.status().message().c_str());
      return 2;
    }
    sim::FillOptions o;
    o.policy = p;
    o.seeds = *seeds;
    o.threads = args.threads;
    rows.push_back({p, o});
    if (p == "gpool" && args.migrate > 0) {
      o.migrate = args.migrate;
      rows.push_back({p + " --migrate " + std::to_string(args.migrate), o});
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(args.out, ec);
  if (ec) {
    std::fprintf(stderr, "gpool: cannot create %s: %s\n", args.out.c_str(), ec.message().c_str());
    return 1;
  }
  const bool tty = isatty(STDERR_FILENO) != 0;
  std::printf(
      "openb fill experiment, workload '%s', %zu nodes, seeds %s, arrivals up to 130%% of GPU "
      "capacity\n",
      args.workload.c_str(), trace->nodes.size(), args.seeds.c_str());
  std::printf("%-22s %10s %10s %8s %8s %8s %8s\n", "policy", "alloc@130", "published", "delta",
              "failed", "moves", "seconds");
  std::vector<sim::FillResult> results;
  nlohmann::json doc = nlohmann::json::array();
  for (Row& row : rows) {
    const auto start = std::chrono::steady_clock::now();
    auto progress = [&](std::size_t done, std::size_t total) {
      if (!tty) return;
      std::fprintf(stderr, "\r  %s: %zu/%zu seeds...", row.label.c_str(), done, total);
      if (done == total) std::fprintf(stderr, "\r\033[K");
    };
    auto result = sim::RunFill(*trace, row.options, progress);
    if (!result.ok()) {
      std::fprintf(stderr, "gpool: %s\n", result.status().message().c_str());
      return 1;
    }
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result->policy = row.label;
    const double ours = result->mean_allocation.back();
    double pub = std::nan("");
    if (published.ok() && row.options.migrate == 0)
      pub = published->Mean(args.workload, row.options.policy, 130);
    double failed = 0, moves = 0;
    for (const auto& r : result->runs) {
      failed += static_cast<double>(r.failed_pods);
      moves += static_cast<double>(r.moves);
    }
    failed /= static_cast<double>(result->runs.size());
    moves /= static_cast<double>(result->runs.size());
    if (std::isnan(pub)) {
      std::printf("%-22s %9.2f%% %10s %8s %8.1f %8.1f %8.2f\n", row.label.c_str(), ours, "-", "-",
                  failed, moves, wall);
    } else {
      std::printf("%-22s %9.2f%% %9.2f%% %+8.2f %8.1f %8.1f %8.2f\n", row.label.c_str(), ours, pub,
                  ours - pub, failed, moves, wall);
    }
    std::fflush(stdout);
    nlohmann::json j = sim::FillResultJson(*result, row.options, wall);
    j["label"] = row.label;
    if (!std::isnan(pub)) j["published_mean_at_130"] = pub;
    doc.push_back(j);
    results.push_back(std::move(*result));
  }
  std::vector<const sim::FillResult*> ptrs;
  for (const auto& r : results) ptrs.push_back(&r);
  if (!WriteFile(args.out + "/fill.svg", sim::FillResultSvg(ptrs))) return 1;
  if (!WriteFile(args.out + "/fill-zoom.svg", sim::FillResultSvg(ptrs, /*zoom=*/true))) return 1;
  if (!WriteFile(args.out + "/fill.json", doc.dump(2) + "\n")) return 1;
  std::printf("wrote %s/fill.svg, %s/fill-zoom.svg and %s/fill.json\n", args.out.c_str(),
              args.out.c_str(), args.out.c_str());
  if (!published.ok())
    std::printf("(published results not found: %s)\n", published.status().message().c_str());
  return 0;
}

struct ReplayArgs {
  std::string philly;
  std::string throughputs;
  int gpus = 0;
  std::string gpu_model = "v100";
  std::string mode = "both";
  double interval_s = 60;
  double checkpoint_interval_s = 1800;
  double restore_s = 60;
  double half_life_h = 24;
  bool no_sharing = false;
  double min_pair_throughput = sched::PlannerConfig{}.min_pair_throughput;
  double min_pair_speed = sched::PlannerConfig{}.min_pair_speed;
  std::string json_out;
  std::string svg_out;
};

int RunReplayCommand(const ReplayArgs& args) {
  auto trace = sim::ReadPhillyDir(args.philly);
  if (!trace.ok()) {
    std::fprintf(stderr, "gpool: %s\n", trace.status().message().c_str());
    return 2;
  }
  auto table = sim::ThroughputTable::Read(args.throughputs);
  if (!table.ok()) {
    std::fprintf(stderr, "gpool: %s\n", table.status().message().c_str());
    return 2;
  }
  std::vector<sim::ReplayMode> modes;
  if (args.mode == "static" || args.mode == "both") modes.push_back(sim::ReplayMode::kStatic);
  if (args.mode == "pool" || args.mode == "both") modes.push_back(sim::ReplayMode::kPool);
  std::printf(
      "Philly replay: %zu jobs, %d %s GPUs, rounds every %.0f s, checkpoints every %.0f s\n",
      trace->size(), args.gpus, args.gpu_model.c_str(), args.interval_s,
      args.checkpoint_interval_s);
  std::vector<sim::ReplayResult> results;
  std::vector<sim::ReplayConfig> configs;
  nlohmann::json doc = nlohmann::json::object();
  for (sim::ReplayMode mode : modes) {
    sim::ReplayConfig config;
    config.mode = mode;
    config.gpus = args.gpus;
    config.gpu_type = args.gpu_model;
    config.interval_s = args.interval_s;
    config.half_life_s = args.half_life_h * 3600;
    config.planner.checkpoint_interval_s = args.checkpoint_interval_s;
    config.planner.restore_s = args.restore_s;
    config.planner.time_sharing = !args.no_sharing;
    config.planner.min_pair_throughput = args.min_pair_throughput;
    config.planner.min_pair_speed = args.min_pair_speed;
    const auto start = std::chrono::steady_clock::now();
    auto result = sim::RunPhillyReplay(*trace, *table, config);
    if (!result.ok()) {
      std::fprintf(stderr, "gpool: %s\n", result.status().message().c_str());
      return result.status().code() == StatusCode::kInternal ? 1 : 2;
    }
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%s: %.2f s, %d rounds\n", sim::ReplayModeName(mode), wall, result->rounds);
    nlohmann::json j = sim::ReplayResultJson(*result, config);
    j["wall_seconds"] = std::round(wall * 1000) / 1000;
    if (modes.size() == 1) {
      doc = j;
    } else {
      doc[sim::ReplayModeName(mode)] = j;
    }
    results.push_back(std::move(*result));
    configs.push_back(config);
  }
  std::vector<const sim::ReplayResult*> ptrs;
  for (const auto& r : results) ptrs.push_back(&r);
  std::printf("\n%s", sim::ReplaySummaryTable(ptrs).c_str());
  if (results.size() == 2) {
    const auto& s = results[0].overall;
    const auto& p = results[1].overall;
    std::printf(
        "\npool vs static: allocation %.1f %% vs %.1f %%, mean JCT %.2fx lower, delivered "
        "%.2fx\n",
        p.time_avg_allocation, s.time_avg_allocation,
        p.mean_jct_s > 0 ? s.mean_jct_s / p.mean_jct_s : 0.0,
        s.delivered_gpu_hours > 0 ? p.delivered_gpu_hours / s.delivered_gpu_hours : 0.0);
  }
  for (const auto& r : results) {
    if (r.mode == sim::ReplayMode::kPool && r.guarantee_violations > 0) {
      std::printf("warning: %d rounds left a team within its guaranteed quota waiting\n",
                  r.guarantee_violations);
    }
  }
  if (!args.json_out.empty() && !WriteFile(args.json_out, doc.dump(2) + "\n")) return 1;
  if (!args.svg_out.empty() && !WriteFile(args.svg_out, sim::ReplayAllocationSvg(ptrs))) return 1;
  return 0;
}

}  // namespace

void AddSimCommand(CLI::App& app, int* exit_code) {
  CLI::App* sim = app.add_subcommand("sim", "Simulate the scheduler on real cluster traces");
  sim->require_subcommand(1);
  auto args = std::make_shared<FillArgs>();
  CLI::App* fill = sim->add_subcommand("fill",
                                       "Openb fill experiment: pods arrive until 130% of GPU "
                                       "capacity is requested; report allocation");
  fill->add_option("--nodes", args->nodes, "openb node list CSV (openb_node_list_gpu_node.csv)")
      ->required();
  fill->add_option("--pods", args->pods, "openb pod list CSV (openb_pod_list_<workload>.csv)")
      ->required();
  fill->add_option("--policy", args->policy, "placement policy: " + sched::PolicyNames())
      ->capture_default_str();
  auto* seed = fill->add_option("--seed", args->seed, "one seed")->capture_default_str();
  fill->add_option("--seeds", args->seeds, "a range of seeds A-B (e.g. 42-51); means are reported")
      ->excludes(seed);
  fill->add_option("--inflate", args->inflate, "arrive until this multiple of GPU capacity")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 10.0));
  fill->add_option("--migrate", args->migrate,
                   "moves the scheduler may plan to make room for a pod (0 = off)")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  fill->add_option("--max-scored-nodes", args->max_scored_nodes,
                   "score at most this many feasible nodes per pod (0 = all; large pools trade "
                   "quality for speed)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  fill->add_option("--threads", args->threads,
                   "seeds simulated in parallel (results do not depend on it)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  fill->add_option("--json", args->json_out, "write results as JSON to this file");
  fill->add_option("--svg", args->svg_out, "write the allocation curve as SVG to this file");
  fill->callback([args, exit_code] { *exit_code = RunFillCommand(*args); });

  auto cmp = std::make_shared<CompareArgs>();
  CLI::App* compare = sim->add_subcommand(
      "compare",
      "Run the fill experiment for several policies side by side with the published results");
  compare->add_option("--traces", cmp->traces,
                      "folder holding openb/ (default: $GPOOL_TRACES or ../shared/traces)");
  compare
      ->add_option("--workload", cmp->workload,
                   "openb pod list variant (default, gpushare100, multigpu20, ...)")
      ->capture_default_str();
  compare->add_option("--policies", cmp->policies, "comma-separated policies")
      ->capture_default_str();
  compare->add_option("--seeds", cmp->seeds, "seed range A-B")->capture_default_str();
  compare
      ->add_option("--migrate", cmp->migrate,
                   "also run gpool with this many moves per failing pod (0 = skip)")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  compare->add_option("--threads", cmp->threads, "seeds simulated in parallel")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  compare->add_option("--out", cmp->out, "folder for fill.svg, fill-zoom.svg and fill.json")
      ->capture_default_str();
  compare->callback([cmp, exit_code] { *exit_code = RunCompareCommand(*cmp); });

  auto rep = std::make_shared<ReplayArgs>();
  CLI::App* replay = sim->add_subcommand(
      "replay",
      "Replay the Philly traces (one team per file) on N GPUs as static per-team partitions "
      "and/or one shared pool with quotas, borrowing, preemption and time-sharing");
  replay->add_option("--philly", rep->philly, "folder of <team>.trace files (gavel/philly_vcs)")
      ->required();
  replay
      ->add_option("--throughputs", rep->throughputs,
                   "simulation_throughputs.json (speeds alone and co-located)")
      ->required();
  replay->add_option("--gpus", rep->gpus, "cluster size N (whole GPUs)")
      ->required()
      ->check(CLI::Range(1, 1000000));
  replay->add_option("--gpu-model", rep->gpu_model, "GPU type in the throughput table")
      ->capture_default_str();
  replay->add_option("--mode", rep->mode, "static, pool, or both side by side")
      ->capture_default_str()
      ->check(CLI::IsMember({"static", "pool", "both"}));
  replay->add_option("--interval", rep->interval_s, "scheduling round period, seconds")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 86400.0));
  replay
      ->add_option("--checkpoint-interval", rep->checkpoint_interval_s,
                   "seconds between checkpoints of running jobs (0 = jobs never checkpoint)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e9));
  replay->add_option("--restore", rep->restore_s, "seconds to restore a checkpoint on restart")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e9));
  replay->add_option("--half-life", rep->half_life_h, "fair-share history half-life, hours")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 1e6));
  replay->add_flag("--no-sharing", rep->no_sharing, "pool: never time-share a GPU");
  replay
      ->add_option("--min-pair-throughput", rep->min_pair_throughput,
                   "pool: pair two jobs on one GPU only if together they deliver at least this "
                   "many times one job alone")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 2.0));
  replay
      ->add_option("--min-pair-speed", rep->min_pair_speed,
                   "pool: and only if each keeps at least this fraction of its speed alone")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  replay->add_option("--json", rep->json_out, "write metrics per mode and team as JSON");
  replay->add_option("--svg", rep->svg_out, "write allocation over time as SVG");
  replay->callback([rep, exit_code] { *exit_code = RunReplayCommand(*rep); });
}

}  // namespace gpool::cli
