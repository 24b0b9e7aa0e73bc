// DeterministicRng: a small seeded pseudo-random generator (xoshiro256** seeded by splitmix64).
//
// Same seed, same sequence, on every platform and standard library (unlike std::*_distribution),
// so simulations and tests are reproducible. Not for cryptography. Not thread safe: one per user.
#pragma once

#include <cstdint>

namespace gpool::core {

class DeterministicRng {
 public:
  explicit DeterministicRng(std::uint64_t seed);

  std::uint64_t Next();
  // Uniform integer in [0, n). REQUIRES: n > 0. Unbiased (Lemire's method).
  std::uint64_t Uniform(std::uint64_t n);
  // Uniform double in [0, 1).
  double UniformDouble();

 private:
  std::uint64_t s_[4];
};

// Mixes two 64-bit values into one well-spread seed (for per-event seeds from a run seed).
std::uint64_t MixSeed(std::uint64_t a, std::uint64_t b);

}  // namespace gpool::core
