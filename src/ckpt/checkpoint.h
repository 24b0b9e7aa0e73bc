// Checkpoint: what a training job saves and loads — named tensors (or opaque blobs) and the
// metadata that says where training was (step, epoch, data-loader position, free key/values).
//
// Plain values, no I/O. A tensor's `bytes` are its elements in row-major order, little-endian
// as the host wrote them; the store never reinterprets them, it only moves them bit for bit.
// For every dtype except kBlob, bytes.size() == product(shape) * DTypeSize(dtype) (a shape of
// [] is a scalar: one element). A blob has any size; its shape is ignored (conventionally []).
//
// Thread safety: plain values, safe to copy between threads.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace gpool::ckpt {

enum class DType : std::uint8_t {
  kF32,
  kF16,
  kBF16,
  kF64,
  kI8,
  kI16,
  kI32,
  kI64,
  kU8,
  kBool,
  kBlob,  // opaque bytes: no element size, never split into planes
};

// "f32", "f16", "bf16", "f64", "i8", "i16", "i32", "i64", "u8", "bool", "blob".
const char* DTypeName(DType dtype);
std::optional<DType> ParseDType(std::string_view name);
// Bytes per element; 1 for kBlob (a blob is a byte string).
std::size_t DTypeSize(DType dtype);
// True for the floating-point dtypes, whose bytes are split into planes before compression.
bool IsFloatingPoint(DType dtype);

struct Tensor {
  std::string name;  // unique within a checkpoint, non-empty
  DType dtype = DType::kBlob;
  std::vector<std::int64_t> shape;
  std::string bytes;
  bool operator==(const Tensor&) const = default;
};

struct CheckpointMetadata {
  std::int64_t step = 0;
  std::int64_t epoch = 0;
  std::string loader_position;  // opaque to gpool: whatever the data loader needs to resume
  std::map<std::string, std::string> extra;
  bool operator==(const CheckpointMetadata&) const = default;
};

struct Checkpoint {
  std::vector<Tensor> tensors;  // order is kept by save and load
  CheckpointMetadata metadata;
  bool operator==(const Checkpoint&) const = default;
};

// InvalidArgument naming the tensor when a name is empty or repeated, a dimension is negative,
// or the byte count does not match shape and dtype; InvalidArgument when a tensor name,
// loader_position or metadata key/value is not valid UTF-8 (the manifest is JSON).
Status ValidateCheckpoint(const Checkpoint& checkpoint);

}  // namespace gpool::ckpt
