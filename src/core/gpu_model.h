// GpuModel: the catalog of GPU models the pool knows, and sets of allowed models.
//
// The catalog is a fixed, compile-time table: a GpuModelId is an index into it and is stable for
// the life of the program (new models are appended, never inserted). Each model has one canonical
// name (what gpool prints) and up to four aliases accepted on input (trace spellings such as the
// Alibaba openb "V100M16", and names nvidia-smi prints). Names and aliases are unique across the
// catalog, compared case-insensitively (ASCII).
//
// Units: memory in MiB as nvidia-smi reports `memory.total` for the card (not the nominal GB
// figure); 0 for opaque models whose memory is unknown (the openb trace's "G2", "G3").
//
// A ModelSet is a bitmask over GpuModelId (bit i = model i allowed); 0 means "any model". The
// catalog has at most 32 entries so every id has a bit.
//
// Thread safety: everything here is pure or reads constant data; safe from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace gpool::core {

using GpuModelId = std::uint8_t;
using ModelSet = std::uint32_t;  // bitmask over GpuModelId; 0 means "any model"

inline constexpr int kMaxGpuModels = 32;  // bits in a ModelSet

// Which MIG geometry a model follows (see core/mig_geometry.h); kNone: not MIG capable.
enum class MigFamily : std::uint8_t { kNone, kA100_40GB, kA100_80GB, kH100_80GB, kH200_141GB };

struct GpuModel {
  std::string_view name;                    // canonical, e.g. "A100-80GB"
  std::int64_t memory_mib;                  // per device; 0 for opaque models (unknown)
  int sm_count;                             // streaming multiprocessors; 0 when unknown
  MigFamily mig;                            // kNone if not MIG capable
  std::array<std::string_view, 4> aliases;  // other spellings accepted on input; empty = unused
};

// All models; index == GpuModelId. Size <= kMaxGpuModels.
std::span<const GpuModel> GpuCatalog();

// REQUIRES: id < GpuCatalog().size()
const GpuModel& GetGpuModel(GpuModelId id);

// Looks a model up by canonical name or alias, case-insensitively.
// NotFound (message lists the canonical names) when nothing matches.
Result<GpuModelId> FindGpuModel(std::string_view name);

// REQUIRES: id < kMaxGpuModels
constexpr ModelSet ModelBit(GpuModelId id) { return ModelSet{1} << id; }

// True when `set` is 0 ("any") or contains `id`. REQUIRES: id < kMaxGpuModels
bool ModelAllowed(ModelSet set, GpuModelId id);

// Parses "V100M16|V100M32" into a set. Pieces are split on '|'; surrounding spaces are trimmed
// and empty pieces ignored, so "" and "|" give 0 ("any"). A piece that names no model gives
// InvalidArgument naming the piece.
Result<ModelSet> ParseModelSet(std::string_view spec);

// "any" for 0, otherwise canonical names in id order joined by '|', e.g. "V100-16GB|V100-32GB".
// Bits beyond the catalog (a bug in the caller) print as "model#<bit>".
std::string FormatModelSet(ModelSet set);

}  // namespace gpool::core
