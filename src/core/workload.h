// Workload: what a user asks the pool to run, and the tenant it runs for.
//
// A workload asks for CPU, host memory and optionally GPUs in one of three slice kinds:
//   whole GPUs   (gpu.count GPUs, milli_per_gpu == 1000),
//   MIG instances (gpu.count instances of gpu.mig on MIG-capable GPUs),
//   shares       (gpu.count == 1, 0 < milli_per_gpu < 1000, optional memory limit).
// Quantities are integers: CPU and GPU compute in milli (1000 = one core / one GPU),
// memory in MiB. Plain values; safe to copy between threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/gpu_model.h"
#include "core/mig_geometry.h"

namespace gpool::core {

using Milli = std::int64_t;
using MiB = std::int64_t;
using WorkloadId = std::uint64_t;

inline constexpr Milli kWholeGpuMilli = 1000;

enum class PriorityClass : std::uint8_t { kProduction = 0, kStandard = 1, kOpportunistic = 2 };
const char* PriorityClassName(PriorityClass p);

enum class SliceKind : std::uint8_t { kWhole, kMig, kShare };

struct GpuRequest {
  int count = 0;                  // 0: CPU-only workload
  Milli milli_per_gpu = 0;        // 1000 = whole GPU; 1..999 = share of one GPU
  MiB memory_per_gpu = 0;         // share: memory limit on the GPU; 0 = none asked
  std::optional<MigProfile> mig;  // set: count MIG instances of this profile
  ModelSet models = 0;            // allowed GPU models; 0 = any

  bool NeedsGpu() const { return count > 0; }
  // REQUIRES: NeedsGpu()
  SliceKind Kind() const {
    if (mig) return SliceKind::kMig;
    return milli_per_gpu >= kWholeGpuMilli ? SliceKind::kWhole : SliceKind::kShare;
  }
  // GPU compute the request takes from the pool, in milli-GPU (MIG: compute slices / 7).
  Milli TotalMilli() const;
  bool operator==(const GpuRequest&) const = default;
};

struct Workload {
  WorkloadId id = 0;
  std::string name;
  std::string tenant;
  Milli cpu_milli = 0;
  MiB memory_mib = 0;
  GpuRequest gpu;
  PriorityClass priority = PriorityClass::kStandard;
  int gang_size = 1;       // >1: placed all-or-nothing with gang_size - 1 siblings
  std::uint64_t gang = 0;  // the gang's id (nonzero), shared by its members (gang_size > 1)
  bool checkpointable = false;
  bool movable = true;  // may the scheduler migrate it once placed
};

struct Tenant {
  std::string name;
  Milli guaranteed_gpu_milli = 0;  // capacity the tenant can always reclaim
  Milli borrow_limit_milli = 0;    // how much idle capacity beyond its guarantee it may borrow
};

// Milli-GPU that one MIG instance of profile p stands for (compute slices * 1000 / 7, 7g = 1000).
Milli MigMilli(MigProfile p);

}  // namespace gpool::core
