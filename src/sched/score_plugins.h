// The score plugins: each rates one candidate placement from 0 to 100 (higher is better).
//
// The first six reproduce the published Kubernetes/Alibaba policies exactly as the FGD
// artifact computes them (see ../shared/specs/openb-experiment.md, section 4.3 and 5), integer
// truncation included, because ties and truncation decide the published numbers:
//   dot-product, best-fit, gpu-packing, gpu-clustering, fgd.
// The remaining ones are gpool's own (see docs/architecture.md, "The gpool policy").
// Every plugin is a pure function of its ScoreInput.
#pragma once

#include <string_view>

#include "sched/plugin.h"

namespace gpool::sched {

// Constants of the published scorers: a "max machine" of 128 cores and 8 GPUs.
inline constexpr double kMaxCpuMilli = 128000;
inline constexpr double kMaxGpuMilli = 8000;

// Tetris-style alignment of the request with what is left: 100*(1 - mean of cpu and gpu products).
struct DotProductScore {
  static constexpr std::string_view kName = "dot-product";
  static double Score(const ScoreInput& in);
};
// Least CPU and GPU left after placement scores highest.
struct BestFitScore {
  static constexpr std::string_view kName = "best-fit";
  static double Score(const ScoreInput& in);
};
// Prefers partly used GPUs, then partly used nodes, then idle nodes (Alibaba's GPU packing).
struct GpuPackingScore {
  static constexpr std::string_view kName = "gpu-packing";
  static double Score(const ScoreInput& in);
};
// Puts GPU workloads of one kind (share, k-GPU) together.
struct GpuClusteringScore {
  static constexpr std::string_view kName = "gpu-clustering";
  static double Score(const ScoreInput& in);
};
// Fragmentation gradient descent: trunc(100 * sigmoid((Frag(before) - Frag(after)) / 1000)).
struct FgdScore {
  static constexpr std::string_view kName = "fgd";
  static double Score(const ScoreInput& in);
};
// gpool: prefers leaving CPU in proportion to free GPU (so GPUs are not stranded without CPU).
struct CpuBalanceScore {
  static constexpr std::string_view kName = "cpu-balance";
  static double Score(const ScoreInput& in);
};

static_assert(ScorePlugin<DotProductScore> && ScorePlugin<BestFitScore> &&
              ScorePlugin<GpuPackingScore> && ScorePlugin<GpuClusteringScore> &&
              ScorePlugin<FgdScore> && ScorePlugin<CpuBalanceScore>);

}  // namespace gpool::sched
