#include "sched/registry.h"

#include "sched/score_plugins.h"

namespace gpool::sched {
namespace {

template <ScorePlugin P>
constexpr ScorePluginEntry Entry(bool needs_fragmentation) {
  return {P::kName, &P::Score, needs_fragmentation};
}

constexpr std::array kScorePlugins = {
    Entry<DotProductScore>(false),    Entry<BestFitScore>(false), Entry<GpuPackingScore>(false),
    Entry<GpuClusteringScore>(false), Entry<FgdScore>(true),      Entry<CpuBalanceScore>(false),
};

constexpr WeightedPlugin kNone{"", 0};

constexpr std::array kPolicies = {
    PolicySpec{"random",
               "a feasible node drawn uniformly; a random fitting GPU for shares",
               NodePick::kUniform,
               SliceSelector::kRandom,
               {kNone, kNone, kNone, kNone}},
    PolicySpec{"dot-product",
               "Tetris: align the request with the node's free CPU and GPU",
               NodePick::kBestScore,
               SliceSelector::kBestFit,
               {WeightedPlugin{"dot-product", 1}, kNone, kNone, kNone}},
    PolicySpec{"gpu-clustering",
               "keep GPU workloads of one kind together",
               NodePick::kBestScore,
               SliceSelector::kBestFit,
               {WeightedPlugin{"gpu-clustering", 1}, kNone, kNone, kNone}},
    PolicySpec{"gpu-packing",
               "fill partly used GPUs, then partly used nodes, then idle nodes",
               NodePick::kBestScore,
               SliceSelector::kBestFit,
               {WeightedPlugin{"gpu-packing", 1}, kNone, kNone, kNone}},
    PolicySpec{"best-fit",
               "leave the least CPU and GPU free",
               NodePick::kBestScore,
               SliceSelector::kBestFit,
               {WeightedPlugin{"best-fit", 1}, kNone, kNone, kNone}},
    PolicySpec{"fgd",
               "fragmentation gradient descent (Weng et al., ATC'23)",
               NodePick::kBestScore,
               SliceSelector::kEvery,
               {WeightedPlugin{"fgd", 1}, kNone, kNone, kNone}},
    PolicySpec{"gpool",
               "gpool's default: fragmentation gradient plus CPU headroom for the GPUs left free",
               NodePick::kBestScore,
               SliceSelector::kEvery,
               {WeightedPlugin{"fgd", 1}, WeightedPlugin{"cpu-balance", 0.3}, kNone, kNone}},
};

constexpr bool PluginsExist() {
  for (const PolicySpec& p : kPolicies) {
    for (const WeightedPlugin& w : p.plugins) {
      if (w.weight == 0) continue;
      bool found = false;
      for (const ScorePluginEntry& e : kScorePlugins) found = found || e.name == w.plugin;
      if (!found) return false;
    }
  }
  return true;
}
static_assert(PluginsExist(), "every policy names registered score plugins only");

}  // namespace

std::span<const ScorePluginEntry> ScorePlugins() { return kScorePlugins; }
std::span<const PolicySpec> Policies() { return kPolicies; }

const ScorePluginEntry* FindScorePlugin(std::string_view name) {
  for (const ScorePluginEntry& e : kScorePlugins) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

std::string PolicyNames() {
  std::string out;
  for (const PolicySpec& p : kPolicies) {
    if (!out.empty()) out += ", ";
    out += p.name;
  }
  return out;
}

Result<const PolicySpec*> FindPolicy(std::string_view name) {
  for (const PolicySpec& p : kPolicies) {
    if (p.name == name) return &p;
  }
  return Status::NotFound("unknown policy '" + std::string(name) + "' (known: " + PolicyNames() +
                          ")");
}

}  // namespace gpool::sched
