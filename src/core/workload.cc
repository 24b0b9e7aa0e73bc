#include "core/workload.h"

namespace gpool::core {

const char* PriorityClassName(PriorityClass p) {
  switch (p) {
    case PriorityClass::kProduction:
      return "production";
    case PriorityClass::kStandard:
      return "standard";
    case PriorityClass::kOpportunistic:
      return "opportunistic";
  }
  return "unknown";
}

Milli MigMilli(MigProfile p) {
  const int c = GetMigShape(p).compute_slices;
  return c * kWholeGpuMilli / kMigComputeSlices;
}

Milli GpuRequest::TotalMilli() const {
  if (count == 0) return 0;
  if (mig) return count * MigMilli(*mig);
  return count * milli_per_gpu;
}

}  // namespace gpool::core
