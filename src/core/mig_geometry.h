// MigGeometry: which Multi-Instance GPU layouts an A100, H100 or H200 accepts.
//
// A MIG-capable GPU has 8 memory slices and 7 compute slices. An instance of a profile takes a
// contiguous run of memory slices starting at its `start` (the first memory slice) and a number
// of compute slices (modelled as a pooled count). Profiles, the product's contract:
//
//   profile     memory  compute  legal starts     max per GPU
//   1g            1       1      0,1,2,3,4,5,6        7
//   1g-double     2       1      0,2,4,6              4
//   2g            2       2      0,2,4                3
//   3g            4       3      0,4                  2
//   4g            4       4      0                    1
//   7g            8       7      0                    1
//
// A layout is legal iff every instance is at a legal start for its profile, there are at most 7
// instances, the compute slices sum to at most 7, and no two instances share a memory slice.
// This agrees with NVIDIA's MIG user guide ("Supported MIG Profiles", A100/H100 placement
// diagrams). Two notes on the table:
//  * "max per GPU" is implied by the legal starts (they are the disjoint runs that fit), and
//    with these shapes the instance and compute limits are implied by the memory rule too:
//    8 instances or 8 compute slices would each need all 8 memory slices covered by 1-compute-
//    per-memory-slice instances (1g, 2g, 4g), and none of those can cover slice 7. They are still
//    checked, as stated, because they are the contract.
//  * NVIDIA also has "+me" (media extension) variants, e.g. 1g.10gb+me; they are not modelled.
//    Real hardware binds each instance to specific compute slices; the pooled count is exact for
//    every layout legal under the memory rule above.
//
// Profile names depend on the GPU family (memory per slice differs):
//   A100-40GB:            1g.5gb   1g.10gb  2g.10gb  3g.20gb  4g.20gb  7g.40gb
//   A100-80GB, H100-80GB: 1g.10gb  1g.20gb  2g.20gb  3g.40gb  4g.40gb  7g.80gb
//   H200-141GB:           1g.18gb  1g.35gb  2g.35gb  3g.71gb  4g.71gb  7g.141gb
//   generic (kNone):      1g       1g-double 2g      3g       4g       7g
// The generic names avoid NVIDIA's "+me" suffix, which means media extensions, not memory.
// Note "1g.10gb" is 1g-double on A100-40GB but 1g on A100-80GB/H100-80GB.
//
// MigOccupancy is the per-GPU state the scheduler tests on its hot path: three bytes, trivially
// copyable, and its methods allocate nothing. It records which memory slices are used and the
// compute/instance totals, not which profile sits where; callers remember their placements.
//
// Thread safety: pure functions and plain values. EnumerateAllLegalLayouts builds a cache on first
// call (a function-local static, thread-safe) and returns it read-only.
#pragma once

#include <array>
#include <cassert>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/gpu_model.h"
#include "core/status.h"

namespace gpool::core {

enum class MigProfile : std::uint8_t { k1g, k1gDoubleMemory, k2g, k3g, k4g, k7g };
inline constexpr int kMigProfileCount = 6;
inline constexpr std::array<MigProfile, kMigProfileCount> kAllMigProfiles = {
    MigProfile::k1g, MigProfile::k1gDoubleMemory, MigProfile::k2g, MigProfile::k3g, MigProfile::k4g,
    MigProfile::k7g};

struct MigProfileShape {
  int memory_slices;
  int compute_slices;
  std::uint8_t legal_start_mask;  // bit s set: the profile may start at memory slice s
  int max_per_gpu;
};

inline constexpr int kMigMemorySlices = 8, kMigComputeSlices = 7, kMigMaxInstances = 7;

namespace mig_internal {
// Indexed by MigProfile. Masks: 1g 0b0111'1111, 1g-double 0b0101'0101 (0,2,4,6),
// 2g 0b0001'0101 (0,2,4), 3g 0b0001'0001 (0,4), 4g and 7g 0b0000'0001 (0).
inline constexpr std::array<MigProfileShape, kMigProfileCount> kShapes = {{
    {1, 1, 0x7F, 7},
    {2, 1, 0x55, 4},
    {2, 2, 0x15, 3},
    {4, 3, 0x11, 2},
    {4, 4, 0x01, 1},
    {8, 7, 0x01, 1},
}};
}  // namespace mig_internal

inline const MigProfileShape& GetMigShape(MigProfile p) {
  assert(static_cast<int>(p) < kMigProfileCount);
  return mig_internal::kShapes[static_cast<int>(p)];
}

// "A100-40GB", "A100-80GB", "H100-80GB", "H200-141GB"; "none" for kNone.
std::string_view MigFamilyName(MigFamily family);

// The family's name for p, e.g. "1g.10gb"; for kNone the generic name ("1g", "1g-double", ...).
std::string_view MigProfileName(MigProfile p, MigFamily family);

// Accepts the family's names and the generic names, case-insensitively. Unknown: InvalidArgument
// listing the family's valid names.
Result<MigProfile> ParseMigProfile(std::string_view name, MigFamily family);

// Accepts a generic name or a name valid in some family ("3g.40gb" -> k3g), case-insensitively.
// A name that means different profiles in different families ("1g.10gb") is InvalidArgument
// saying so: use the family-aware ParseMigProfile or a generic name.
Result<MigProfile> ParseMigProfileAnyFamily(std::string_view name);

struct MigPlacement {
  MigProfile profile;
  int start;  // first memory slice
  bool operator==(const MigPlacement&) const = default;
};

// Occupancy of one GPU in MIG mode. Zero-initialised = no instances.
struct MigOccupancy {
  std::uint8_t memory_mask = 0;   // bit i set = memory slice i used
  std::uint8_t compute_used = 0;  // compute slices in use
  std::uint8_t instances = 0;

  bool Empty() const { return instances == 0; }
  // Legal start for p (any int accepted; out of range is false), memory slices free, and the
  // compute and instance limits respected.
  bool CanPlace(MigProfile p, int start) const {
    if (start < 0 || start >= kMigMemorySlices) return false;
    const MigProfileShape& s = GetMigShape(p);
    if (((s.legal_start_mask >> start) & 1u) == 0) return false;
    if ((memory_mask & SliceMask(s, start)) != 0) return false;
    if (compute_used + s.compute_slices > kMigComputeSlices) return false;
    return instances < kMigMaxInstances;
  }
  // REQUIRES: CanPlace(p, start)
  void Place(MigProfile p, int start) {
    assert(CanPlace(p, start));
    const MigProfileShape& s = GetMigShape(p);
    memory_mask = static_cast<std::uint8_t>(memory_mask | SliceMask(s, start));
    compute_used = static_cast<std::uint8_t>(compute_used + s.compute_slices);
    ++instances;
  }
  // REQUIRES: an instance of p at start is present (checked as far as the occupancy can tell).
  void Remove(MigProfile p, int start) {
    const MigProfileShape& s = GetMigShape(p);
    assert(start >= 0 && start < kMigMemorySlices && ((s.legal_start_mask >> start) & 1u) != 0);
    const unsigned mask = SliceMask(s, start);
    assert((memory_mask & mask) == mask && compute_used >= s.compute_slices && instances > 0);
    memory_mask = static_cast<std::uint8_t>(memory_mask & ~mask);
    compute_used = static_cast<std::uint8_t>(compute_used - s.compute_slices);
    --instances;
  }
  // Lowest start where CanPlace(p, start), or -1.
  int FirstFit(MigProfile p) const {
    for (int start = 0; start < kMigMemorySlices; ++start) {
      if (CanPlace(p, start)) return start;
    }
    return -1;
  }
  // Number of starts where CanPlace(p, start).
  int LegalPlacementCount(MigProfile p) const {
    int n = 0;
    for (int start = 0; start < kMigMemorySlices; ++start) n += CanPlace(p, start) ? 1 : 0;
    return n;
  }
  bool operator==(const MigOccupancy&) const = default;

 private:
  static unsigned SliceMask(const MigProfileShape& s, int start) {
    return ((1u << s.memory_slices) - 1u) << start;
  }
};

// Checks each instance in order, against the instances before it: legal start, then the instance
// limit, then the compute limit, then memory overlap. The first failure is InvalidArgument naming
// the instance in generic names, e.g. "2g@1: start must be one of 0,2,4",
// "2g@2: memory slices overlap 3g@0".
Status ValidateMigLayout(std::span<const MigPlacement> layout);

// Every placement of p that could be added to `layout`, by ascending start.
// REQUIRES: ValidateMigLayout(layout).ok()
std::vector<MigPlacement> EnumerateLegalPlacements(std::span<const MigPlacement> layout,
                                                   MigProfile p);

// Every legal layout of one GPU (723 of them, the empty layout first), each sorted by start.
// Order is deterministic: depth-first over memory slices 0..7, at each slice "leave it free"
// first, then profiles in enum order. Built once and cached.
const std::vector<std::vector<MigPlacement>>& EnumerateAllLegalLayouts();

// "3g.40gb@4" (family names; generic for kNone).
std::string FormatMigPlacement(MigPlacement pl, MigFamily family);

}  // namespace gpool::core
