#include "core/gpu_model.h"

#include <cassert>
#include <cstddef>

#include "core/text.h"

namespace gpool::core {
namespace {

// Memory figures are nvidia-smi's `memory.total` for the card (MiB), as reported in public logs:
//   T4 15360, L4 23034, A10 23028, A100-40GB 40960, A100-80GB 81920, H100 80GB HBM3 81559
//   (modal-labs/modal-client#2797 lists these); P100-PCIE-16GB 16276; V100-SXM2-16GB 16160;
//   V100-SXM2-32GB 32510; H200 143771 (many `nvidia-smi` tables show "0MiB / 143771MiB").
// The H200's nominal 141 GB would be 141 * 1024 = 144384 MiB; we use the smaller figure the driver
// actually exposes, so a request that fits the catalog also fits the card.
// SM counts are the SXM/datacenter parts: the H100 PCIe (114 SMs) is deliberately not an alias.
constexpr std::array<GpuModel, 12> kCatalog = {{
    {"T4", 15360, 40, MigFamily::kNone, {"Tesla T4", "NVIDIA T4"}},
    {"L4", 23034, 58, MigFamily::kNone, {"NVIDIA L4"}},
    {"A10", 23028, 72, MigFamily::kNone, {"NVIDIA A10"}},
    {"P100", 16276, 56, MigFamily::kNone, {"P100-16GB", "Tesla P100-PCIE-16GB"}},
    {"V100-16GB",
     16160,
     80,
     MigFamily::kNone,
     {"V100M16", "Tesla V100-SXM2-16GB", "Tesla V100-PCIE-16GB"}},
    {"V100-32GB",
     32510,
     80,
     MigFamily::kNone,
     {"V100M32", "Tesla V100-SXM2-32GB", "Tesla V100-PCIE-32GB"}},
    {"A100-40GB", 40960, 108, MigFamily::kA100_40GB, {"A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB"}},
    {"A100-80GB", 81920, 108, MigFamily::kA100_80GB, {"A100-SXM4-80GB", "NVIDIA A100-SXM4-80GB"}},
    {"H100-80GB", 81559, 132, MigFamily::kH100_80GB, {"H100", "NVIDIA H100 80GB HBM3"}},
    {"H200-141GB", 143771, 132, MigFamily::kH200_141GB, {"H200", "NVIDIA H200"}},
    // Alibaba openb trace (clusterdata cluster-trace-gpu-v2023): anonymised models, nothing known.
    {"G2", 0, 0, MigFamily::kNone, {}},
    {"G3", 0, 0, MigFamily::kNone, {}},
}};
static_assert(kCatalog.size() <= kMaxGpuModels, "every model needs a bit in a ModelSet");

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string KnownModelNames() {
  std::string out;
  for (const GpuModel& m : kCatalog) {
    if (!out.empty()) out += ", ";
    out += m.name;
  }
  return out;
}

}  // namespace

std::span<const GpuModel> GpuCatalog() { return kCatalog; }

const GpuModel& GetGpuModel(GpuModelId id) {
  assert(id < kCatalog.size());
  return kCatalog[id];
}

Result<GpuModelId> FindGpuModel(std::string_view name) {
  for (std::size_t i = 0; i < kCatalog.size(); ++i) {
    const GpuModel& m = kCatalog[i];
    bool match = EqualsIgnoreCase(name, m.name);
    for (std::string_view alias : m.aliases) {
      match = match || (!alias.empty() && EqualsIgnoreCase(name, alias));
    }
    if (match) return static_cast<GpuModelId>(i);
  }
  return Status::NotFound("unknown GPU model \"" + std::string(name) +
                          "\"; known models: " + KnownModelNames());
}

bool ModelAllowed(ModelSet set, GpuModelId id) {
  assert(id < kMaxGpuModels);
  return set == 0 || (set & ModelBit(id)) != 0;
}

Result<ModelSet> ParseModelSet(std::string_view spec) {
  const std::string_view full = spec;
  ModelSet set = 0;
  while (true) {
    const std::size_t bar = spec.find('|');
    const std::string_view piece = TrimSpaces(spec.substr(0, bar));
    if (!piece.empty()) {
      Result<GpuModelId> id = FindGpuModel(piece);
      if (!id.ok()) {
        return Status::InvalidArgument("GPU model set \"" + std::string(full) +
                                       "\": unknown model \"" + std::string(piece) +
                                       "\"; known models: " + KnownModelNames());
      }
      set |= ModelBit(*id);
    }
    if (bar == std::string_view::npos) break;
    spec.remove_prefix(bar + 1);
  }
  return set;
}

std::string FormatModelSet(ModelSet set) {
  if (set == 0) return "any";
  std::string out;
  for (int bit = 0; bit < kMaxGpuModels; ++bit) {
    if ((set & ModelBit(static_cast<GpuModelId>(bit))) == 0) continue;
    if (!out.empty()) out += '|';
    if (static_cast<std::size_t>(bit) < kCatalog.size()) {
      out += kCatalog[bit].name;
    } else {
      out += "model#" + std::to_string(bit);
    }
  }
  return out;
}

}  // namespace gpool::core
