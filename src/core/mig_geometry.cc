#include "core/mig_geometry.h"

#include <cstddef>

#include "core/text.h"

namespace gpool::core {
namespace {

using Names = std::array<std::string_view, kMigProfileCount>;

// Indexed by MigFamily, then MigProfile. Names from NVIDIA's MIG user guide (A100-40GB, and the
// "respectively" list for A100-80GB, which H100-80GB shares) and from nvidia-smi on H200.
constexpr std::array<Names, 5> kNames = {{
    {"1g", "1g-double", "2g", "3g", "4g", "7g"},                          // kNone (generic)
    {"1g.5gb", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"},    // kA100_40GB
    {"1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"},   // kA100_80GB
    {"1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"},   // kH100_80GB
    {"1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"},  // kH200_141GB
}};

constexpr std::array<MigFamily, 4> kMigFamilies = {MigFamily::kA100_40GB, MigFamily::kA100_80GB,
                                                   MigFamily::kH100_80GB, MigFamily::kH200_141GB};

const Names& NamesOf(MigFamily family) {
  assert(static_cast<std::size_t>(family) < kNames.size());
  return kNames[static_cast<std::size_t>(family)];
}

// Index of `name` in `names`, or -1.
int IndexOf(const Names& names, std::string_view name) {
  for (int i = 0; i < kMigProfileCount; ++i) {
    if (EqualsIgnoreCase(names[i], name)) return i;
  }
  return -1;
}

std::string JoinNames(const Names& names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

std::string LegalStarts(const MigProfileShape& s) {
  std::string out;
  for (int start = 0; start < kMigMemorySlices; ++start) {
    if (((s.legal_start_mask >> start) & 1u) == 0) continue;
    if (!out.empty()) out += ',';
    out += std::to_string(start);
  }
  return out;
}

std::string Generic(MigPlacement pl) { return FormatMigPlacement(pl, MigFamily::kNone); }

bool Overlap(MigPlacement a, MigPlacement b) {
  const int a_end = a.start + GetMigShape(a.profile).memory_slices;
  const int b_end = b.start + GetMigShape(b.profile).memory_slices;
  return a.start < b_end && b.start < a_end;
}

void Enumerate(int slice, MigOccupancy& occ, std::vector<MigPlacement>& current,
               std::vector<std::vector<MigPlacement>>& out) {
  if (slice == kMigMemorySlices) {
    out.push_back(current);
    return;
  }
  Enumerate(slice + 1, occ, current, out);  // leave this slice free
  for (MigProfile p : kAllMigProfiles) {
    if (!occ.CanPlace(p, slice)) continue;
    occ.Place(p, slice);
    current.push_back({p, slice});
    Enumerate(slice + GetMigShape(p).memory_slices, occ, current, out);
    current.pop_back();
    occ.Remove(p, slice);
  }
}

}  // namespace

std::string_view MigFamilyName(MigFamily family) {
  switch (family) {
    case MigFamily::kNone:
      return "none";
    case MigFamily::kA100_40GB:
      return "A100-40GB";
    case MigFamily::kA100_80GB:
      return "A100-80GB";
    case MigFamily::kH100_80GB:
      return "H100-80GB";
    case MigFamily::kH200_141GB:
      return "H200-141GB";
  }
  assert(false && "unknown MigFamily");
  return "none";
}

std::string_view MigProfileName(MigProfile p, MigFamily family) {
  assert(static_cast<int>(p) < kMigProfileCount);
  return NamesOf(family)[static_cast<int>(p)];
}

Result<MigProfile> ParseMigProfile(std::string_view name, MigFamily family) {
  int i = IndexOf(NamesOf(family), name);
  if (i < 0) i = IndexOf(NamesOf(MigFamily::kNone), name);
  if (i >= 0) return static_cast<MigProfile>(i);
  return Status::InvalidArgument("unknown MIG profile \"" + std::string(name) + "\" for " +
                                 std::string(MigFamilyName(family)) +
                                 "; valid: " + JoinNames(NamesOf(family)));
}

Result<MigProfile> ParseMigProfileAnyFamily(std::string_view name) {
  const int generic = IndexOf(NamesOf(MigFamily::kNone), name);
  if (generic >= 0) return static_cast<MigProfile>(generic);
  int found = -1;
  for (MigFamily f : kMigFamilies) {
    const int i = IndexOf(NamesOf(f), name);
    if (i < 0) continue;
    if (found >= 0 && found != i) {
      return Status::InvalidArgument(
          "MIG profile \"" + std::string(name) + "\" is ambiguous: " +
          std::string(MigProfileName(static_cast<MigProfile>(found), MigFamily::kNone)) + " or " +
          std::string(MigProfileName(static_cast<MigProfile>(i), MigFamily::kNone)) +
          " depending on the GPU model; name the model or use a generic name (" +
          JoinNames(NamesOf(MigFamily::kNone)) + ")");
    }
    found = i;
  }
  if (found >= 0) return static_cast<MigProfile>(found);
  return Status::InvalidArgument("unknown MIG profile \"" + std::string(name) +
                                 "\"; expected a name such as 3g.40gb or a generic name (" +
                                 JoinNames(NamesOf(MigFamily::kNone)) + ")");
}

Status ValidateMigLayout(std::span<const MigPlacement> layout) {
  MigOccupancy occ;
  for (std::size_t i = 0; i < layout.size(); ++i) {
    const MigPlacement pl = layout[i];
    const MigProfileShape& s = GetMigShape(pl.profile);
    if (pl.start < 0 || pl.start >= kMigMemorySlices ||
        ((s.legal_start_mask >> pl.start) & 1u) == 0) {
      return Status::InvalidArgument(Generic(pl) + ": start must be one of " + LegalStarts(s));
    }
    if (occ.instances + 1 > kMigMaxInstances) {
      return Status::InvalidArgument(Generic(pl) + ": more than " +
                                     std::to_string(kMigMaxInstances) + " instances");
    }
    if (occ.compute_used + s.compute_slices > kMigComputeSlices) {
      return Status::InvalidArgument(Generic(pl) + ": compute slices would total " +
                                     std::to_string(occ.compute_used + s.compute_slices) +
                                     ", more than " + std::to_string(kMigComputeSlices));
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (Overlap(layout[j], pl)) {
        return Status::InvalidArgument(Generic(pl) + ": memory slices overlap " +
                                       Generic(layout[j]));
      }
    }
    occ.Place(pl.profile, pl.start);
  }
  return Status::Ok();
}

std::vector<MigPlacement> EnumerateLegalPlacements(std::span<const MigPlacement> layout,
                                                   MigProfile p) {
  MigOccupancy occ;
  for (const MigPlacement& pl : layout) occ.Place(pl.profile, pl.start);
  std::vector<MigPlacement> out;
  for (int start = 0; start < kMigMemorySlices; ++start) {
    if (occ.CanPlace(p, start)) out.push_back({p, start});
  }
  return out;
}

const std::vector<std::vector<MigPlacement>>& EnumerateAllLegalLayouts() {
  static const std::vector<std::vector<MigPlacement>> layouts = [] {
    std::vector<std::vector<MigPlacement>> out;
    MigOccupancy occ;
    std::vector<MigPlacement> current;
    Enumerate(0, occ, current, out);
    return out;
  }();
  return layouts;
}

std::string FormatMigPlacement(MigPlacement pl, MigFamily family) {
  return std::string(MigProfileName(pl.profile, family)) + "@" + std::to_string(pl.start);
}

}  // namespace gpool::core
