// CheckpointManifest: the one file that makes a checkpoint exist — its tensors, each as an
// ordered list of content-addressed chunks, and its metadata. JSON, "format_version": 1:
//
//   {"format_version": 1, "name": "step-100", "chunk_size": 4194304,
//    "metadata": {"step": 100, "epoch": 2, "loader_position": "...", "extra": {"k": "v"}},
//    "tensors": [{"name": "w", "dtype": "f32", "shape": [2, 3], "size": 24,
//                 "chunks": [{"hash": "<sha-256 hex of the original bytes>", "size": 24}]}]}
//
// A tensor's bytes are its chunks' original bytes concatenated in order; every chunk but the
// last holds chunk_size bytes; a chunk never spans two tensors; an empty tensor has no chunks.
// Pure: serialisation and parsing only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ckpt/checkpoint.h"
#include "core/status.h"

namespace gpool::ckpt {

inline constexpr std::int64_t kManifestFormatVersion = 1;
// The largest chunk (original bytes) a manifest may reference and a store may be opened with:
// what any reader may have to hold at once per chunk.
inline constexpr std::uint64_t kMaxChunkSize = 64ull << 20;

struct ChunkRef {
  std::string hash;        // 64 lower-case hex digits
  std::uint64_t size = 0;  // original (uncompressed) bytes
  bool operator==(const ChunkRef&) const = default;
};

struct TensorEntry {
  std::string name;
  DType dtype = DType::kBlob;
  std::vector<std::int64_t> shape;
  std::uint64_t size = 0;  // bytes; the sum of the chunk sizes
  std::vector<ChunkRef> chunks;
  bool operator==(const TensorEntry&) const = default;
};

struct CheckpointManifest {
  std::string name;
  std::uint64_t chunk_size = 0;
  CheckpointMetadata metadata;
  std::vector<TensorEntry> tensors;
  bool operator==(const CheckpointManifest&) const = default;
};

std::string ManifestToJson(const CheckpointManifest& manifest);

// InvalidArgument "unknown format_version N" for a version this build cannot read; Internal
// naming the field for anything else malformed (not JSON, a missing or mistyped field, a hash
// that is not 64 hex digits, chunk sizes that do not add up). Never throws.
Result<CheckpointManifest> ParseManifest(std::string_view json);

}  // namespace gpool::ckpt
