#include "ckpt/checkpoint.h"

#include <array>
#include <set>
#include <utility>

#include "core/text.h"

namespace gpool::ckpt {
namespace {

struct DTypeInfo {
  DType dtype;
  const char* name;
  std::size_t size;
  bool floating;
};

constexpr std::array<DTypeInfo, 11> kDTypes = {{
    {DType::kF32, "f32", 4, true},
    {DType::kF16, "f16", 2, true},
    {DType::kBF16, "bf16", 2, true},
    {DType::kF64, "f64", 8, true},
    {DType::kI8, "i8", 1, false},
    {DType::kI16, "i16", 2, false},
    {DType::kI32, "i32", 4, false},
    {DType::kI64, "i64", 8, false},
    {DType::kU8, "u8", 1, false},
    {DType::kBool, "bool", 1, false},
    {DType::kBlob, "blob", 1, false},
}};

const DTypeInfo& Info(DType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) return info;
  }
  assert(false && "every DType is in kDTypes");
  return kDTypes.back();
}

}  // namespace

const char* DTypeName(DType dtype) { return Info(dtype).name; }
std::size_t DTypeSize(DType dtype) { return Info(dtype).size; }
bool IsFloatingPoint(DType dtype) { return Info(dtype).floating; }

std::optional<DType> ParseDType(std::string_view name) {
  for (const DTypeInfo& info : kDTypes) {
    if (name == info.name) return info.dtype;
  }
  return std::nullopt;
}

Status ValidateCheckpoint(const Checkpoint& checkpoint) {
  // The manifest is JSON: every string in it must be UTF-8.
  if (!core::IsUtf8(checkpoint.metadata.loader_position)) {
    return Status::InvalidArgument(
        "loader_position is not valid UTF-8 (encode a binary position, e.g. as base64)");
  }
  for (const auto& [key, value] : checkpoint.metadata.extra) {
    if (!core::IsUtf8(key) || !core::IsUtf8(value)) {
      return Status::InvalidArgument("a metadata key or its value is not valid UTF-8");
    }
  }
  std::set<std::string_view> names;
  for (const Tensor& t : checkpoint.tensors) {
    if (t.name.empty()) return Status::InvalidArgument("a tensor has an empty name");
    if (!core::IsUtf8(t.name)) {
      return Status::InvalidArgument("a tensor name is not valid UTF-8");
    }
    if (!names.insert(t.name).second) {
      return Status::InvalidArgument("tensor '" + t.name + "' appears twice");
    }
    if (t.dtype == DType::kBlob) continue;
    std::uint64_t elements = 1;
    for (std::int64_t d : t.shape) {
      if (d < 0) return Status::InvalidArgument("tensor '" + t.name + "' has a negative dimension");
      elements *= static_cast<std::uint64_t>(d);
    }
    const std::uint64_t want = elements * DTypeSize(t.dtype);
    if (want != t.bytes.size()) {
      return Status::InvalidArgument("tensor '" + t.name + "': shape and dtype " +
                                     DTypeName(t.dtype) + " need " + std::to_string(want) +
                                     " bytes, it has " + std::to_string(t.bytes.size()));
    }
  }
  return Status::Ok();
}

}  // namespace gpool::ckpt
