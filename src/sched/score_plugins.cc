#include "sched/score_plugins.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "sched/fragmentation.h"

namespace gpool::sched {
namespace {

double Trunc(double x) { return std::trunc(x); }

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

double DotProductScore::Score(const ScoreInput& in) {
  const auto cpu_left = static_cast<double>(in.before.cpu_free);
  const auto c = static_cast<double>(in.workload.cpu_milli);
  if (cpu_left < c) return 0;
  const auto f = static_cast<double>(in.before.FreeGpuMilli());
  const auto t = static_cast<double>(in.workload.gpu.TotalMilli());
  const double d =
      ((cpu_left / kMaxCpuMilli) * (c / kMaxCpuMilli) + (f / kMaxGpuMilli) * (t / kMaxGpuMilli)) /
      2;
  return Trunc(100 * (1 - d));
}

double BestFitScore::Score(const ScoreInput& in) {
  const auto cpu_after = static_cast<double>(in.before.cpu_free - in.workload.cpu_milli);
  const auto gpu_after =
      static_cast<double>(in.before.FreeGpuMilli() - in.workload.gpu.TotalMilli());
  const double raw = cpu_after / kMaxCpuMilli * 0.5 + gpu_after / kMaxGpuMilli * 0.5;
  return Trunc((1 - raw) * 100);
}

double GpuPackingScore::Score(const ScoreInput& in) {
  const core::GpuRequest& req = in.workload.gpu;
  if (!req.NeedsGpu()) return 0;
  const core::NodeState& n = in.before;
  int idle = 0;
  for (int j = 0; j < n.gpu_count; ++j)
    idle += n.devices[static_cast<size_t>(j)].free_milli == core::kWholeGpuMilli;
  if (idle == n.gpu_count) return std::max(33 - idle, idle);
  // Devices in ascending order of free compute, stable by index.
  std::array<int, core::kMaxDevicesPerNode> order{};
  for (int j = 0; j < n.gpu_count; ++j) order[static_cast<size_t>(j)] = j;
  std::stable_sort(order.begin(), order.begin() + n.gpu_count, [&](int a, int b) {
    return n.devices[static_cast<size_t>(a)].free_milli <
           n.devices[static_cast<size_t>(b)].free_milli;
  });
  const core::Milli g = req.mig ? core::MigMilli(*req.mig) : req.milli_per_gpu;
  int taken = 0, from_idle = 0;
  core::Milli r = 0;
  for (int i = 0; i < n.gpu_count && taken < req.count; ++i) {
    const core::DeviceState& d = n.devices[static_cast<size_t>(order[static_cast<size_t>(i)])];
    if (d.free_milli < g) continue;
    ++taken;
    if (d.free_milli == core::kWholeGpuMilli) ++from_idle;
    r += d.free_milli * 100 / core::kWholeGpuMilli;
  }
  if (from_idle > 0) return std::max(50 - from_idle, 33);
  return static_cast<double>(std::max<core::Milli>(100 - r / 10, 50));
}

double GpuClusteringScore::Score(const ScoreInput& in) {
  const core::GpuRequest& req = in.workload.gpu;
  if (!req.NeedsGpu()) return 0;
  int tag = 0;
  switch (req.Kind()) {
    case core::SliceKind::kShare:
      tag = 0;
      break;
    case core::SliceKind::kWhole:
      tag = std::min(req.count, 16);
      break;
    case core::SliceKind::kMig:
      tag = 17;
      break;
  }
  const core::NodeState& n = in.before;
  const core::Milli b = (25 * (8000 - n.FreeGpuMilli())) / 8000;
  int distinct = 0;
  for (std::uint16_t c : n.tag_counts) distinct += c > 0;
  if (n.tag_counts[static_cast<size_t>(tag)] > 0)
    return static_cast<double>(b + (distinct == 1 ? 75 : 50));
  return static_cast<double>(b + (distinct == 0 ? 25 : 0));
}

double FgdScore::Score(const ScoreInput& in) {
  if (std::isnan(*in.before_fragmentation)) {
    *in.before_fragmentation = in.fragmentation->Fragmentation(in.node, in.before);
  }
  const double before = *in.before_fragmentation;
  const double after = in.fragmentation->Fragmentation(in.node, in.after);
  return Trunc(Sigmoid((before - after) / 1000) * 100);
}

double CpuBalanceScore::Score(const ScoreInput& in) {
  // Fraction of free CPU per free GPU after placement, compared with the node's own ratio:
  // 100 when the node keeps at least its proportional CPU for what GPU remains.
  const core::NodeState& a = in.after;
  if (a.gpu_count == 0 || in.node.cpu_milli == 0) return 50;
  // (free GPU after = free before minus what the candidate takes)
  const double gpu_free = static_cast<double>(a.FreeGpuMilli()) / (a.gpu_count * 1000.0);
  const double cpu_free = static_cast<double>(a.cpu_free) / static_cast<double>(in.node.cpu_milli);
  if (gpu_free == 0) return 100;
  return std::clamp(cpu_free / gpu_free, 0.0, 1.0) * 100;
}

}  // namespace gpool::sched
