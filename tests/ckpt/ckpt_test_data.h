// Seeded test data for the checkpoint tests: tensors of every dtype and float-like weights.
#pragma once

#include <zstd.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ckpt/checkpoint.h"
#include "ckpt/chunk_codec.h"

namespace gpool::ckpt::test {

// A chunk file of `original` as written before chunk files carried a content checksum (until
// 2026-11-27): the same header and planes, a zstd frame without the checksum.
inline std::string LegacyChunkFile(std::string_view original, std::size_t plane_width) {
  const std::string planed =
      plane_width == 1 ? std::string(original) : SplitPlanes(original, plane_width);
  std::string frame(ZSTD_compressBound(planed.size()), '\0');
  frame.resize(ZSTD_compress(frame.data(), frame.size(), planed.data(), planed.size(), 1));
  return std::string("GPCK\x01") + static_cast<char>(plane_width) + frame;
}

// `size` pseudo-random bytes from `seed` (deterministic).
inline std::string RandomBytes(std::size_t size, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

// `count` f32 values drawn from N(0, 0.02) (like initialised weights), little-endian bytes.
inline std::string NormalF32(std::size_t count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::string out(count * sizeof(float), '\0');
  for (std::size_t i = 0; i < count; ++i) {
    const float v = normal(rng);
    std::memcpy(out.data() + i * sizeof(float), &v, sizeof v);
  }
  return out;
}

// `count` f32 values, roughly N(0, 0.02) like initialised weights: the sum of four 32-bit
// uniforms (Irwin-Hall) from splitmix64, seeded. Much faster than std::normal_distribution,
// which matters for 1 GiB.
inline std::string NormalishF32(std::size_t count, std::uint64_t seed) {
  std::string out(count * sizeof(float), '\0');
  std::uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  const auto next = [&state] {  // splitmix64
    state += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  constexpr double kMax = 4294967295.0;                          // 2^32 - 1
  constexpr double kScale = 0.02 / (4294967296.0 * 0.57735027);  // sd of the sum: 2^32 sqrt(4/12)
  for (std::size_t i = 0; i < count; ++i) {
    // Four 32-bit uniforms (more bits than a float's mantissa holds, so every bit varies).
    const std::uint64_t a = next(), b = next();
    const double sum =
        double(a & 0xffffffff) + double(a >> 32) + double(b & 0xffffffff) + double(b >> 32);
    const float v = static_cast<float>((sum - 2 * kMax) * kScale);
    std::memcpy(out.data() + i * sizeof v, &v, sizeof v);
  }
  return out;
}

// A tensor of `dtype` and `shape`, random bytes of the right size (f32: normal values).
inline Tensor MakeTensor(std::string name, DType dtype, std::vector<std::int64_t> shape,
                         std::uint64_t seed) {
  std::size_t elements = 1;
  for (std::int64_t d : shape) elements *= static_cast<std::size_t>(d);
  std::string bytes = dtype == DType::kF32 ? NormalF32(elements, seed)
                                           : RandomBytes(elements * DTypeSize(dtype), seed);
  if (dtype == DType::kBool) {
    for (char& c : bytes) c = static_cast<char>(c & 1);
  }
  return Tensor{std::move(name), dtype, std::move(shape), std::move(bytes)};
}

// One tensor of every element dtype (seeds 1..12), incl. a scalar and an empty tensor; with
// 64-byte chunks f32 makes 6 chunks, f16 64 + 2 bytes, bf16 exactly one chunk.
inline std::vector<Tensor> OneTensorOfEachDType() {
  return {
      MakeTensor("f32", DType::kF32, {7, 13}, 1),   // 364 bytes
      MakeTensor("f16", DType::kF16, {33}, 2),      // 66 bytes
      MakeTensor("bf16", DType::kBF16, {4, 8}, 3),  // 64 bytes
      MakeTensor("f64", DType::kF64, {9}, 4),       // 72 bytes
      MakeTensor("i8", DType::kI8, {5}, 5),         MakeTensor("i16", DType::kI16, {5}, 6),
      MakeTensor("i32", DType::kI32, {5}, 7),       MakeTensor("i64", DType::kI64, {5}, 8),
      MakeTensor("u8", DType::kU8, {100}, 9),       MakeTensor("bool", DType::kBool, {17}, 10),
      MakeTensor("scalar", DType::kF32, {}, 11),     // one element
      MakeTensor("empty", DType::kF32, {0, 4}, 12),  // no chunks
  };
}

}  // namespace gpool::ckpt::test
