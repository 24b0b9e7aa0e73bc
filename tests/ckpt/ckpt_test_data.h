// Seeded test data for the checkpoint tests: tensors of every dtype and float-like weights.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ckpt/checkpoint.h"

namespace gpool::ckpt::test {

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

}  // namespace gpool::ckpt::test
