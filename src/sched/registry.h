// The registry: every score plugin and every named policy, in two explicit tables.
//
// A policy is a node pick rule, a slice selector and a weighted list of score plugins.
// Plugins are registered here and nowhere else (no static-initialiser registration); each
// entry is checked against the ScorePlugin concept at compile time.
#pragma once

#include <array>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"
#include "sched/plugin.h"

namespace gpool::sched {

struct ScorePluginEntry {
  std::string_view name;
  ScoreFn score;
  bool needs_fragmentation;  // reads ScoreInput::fragmentation
};

enum class NodePick : std::uint8_t {
  kBestScore,  // highest score, first in snapshot order on ties
  kUniform,    // one feasible node drawn uniformly (the "random" policy)
};

struct WeightedPlugin {
  std::string_view plugin;
  double weight;
};

inline constexpr int kMaxPluginsPerPolicy = 4;

struct PolicySpec {
  std::string_view name;
  std::string_view summary;
  NodePick pick;
  SliceSelector selector;
  std::array<WeightedPlugin, kMaxPluginsPerPolicy> plugins;  // unused entries have weight 0
};

std::span<const ScorePluginEntry> ScorePlugins();
std::span<const PolicySpec> Policies();
// NotFound listing the known policies.
Result<const PolicySpec*> FindPolicy(std::string_view name);
const ScorePluginEntry* FindScorePlugin(std::string_view name);
// "random, dot-product, ..." for help texts.
std::string PolicyNames();

}  // namespace gpool::sched
