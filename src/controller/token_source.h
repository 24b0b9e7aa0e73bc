// TokenSource: where bearer tokens come from, handed in at construction (STYLE.md rule 2).
//
// A token is 32 random bytes, hex encoded (64 lowercase hex digits). The controller never stores a
// token, only Sha256Hex(token); a token is shown once, when it is created.
//
//  - UrandomTokenSource reads /dev/urandom (the server's source); Unavailable if it cannot.
//  - FakeTokenSource is deterministic (tests): the n-th token is SHA-256("fake-token-<seed>-<n>")
//    in hex, so tokens are well formed, distinct and reproducible.
//
// Thread safety: NewToken() may be called from any thread for both implementations.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/sha256.h"
#include "core/status.h"

namespace gpool::controller {

inline constexpr std::size_t kTokenBytes = 32;
inline constexpr std::size_t kTokenHexChars = 2 * kTokenBytes;

class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // A fresh token: kTokenHexChars lowercase hex digits.
  virtual Result<std::string> NewToken() = 0;
};

class UrandomTokenSource final : public TokenSource {
 public:
  Result<std::string> NewToken() override;
};

class FakeTokenSource final : public TokenSource {
 public:
  explicit FakeTokenSource(std::uint64_t seed = 0) : seed_(seed) {}
  Result<std::string> NewToken() override;

 private:
  std::uint64_t seed_;
  std::atomic<std::uint64_t> next_{0};
};

using core::Sha256Hex;

// Lowercase hex of arbitrary bytes.
std::string HexEncode(std::string_view bytes);

// Whether `s` has the shape of a token (kTokenHexChars lowercase hex digits).
bool LooksLikeToken(std::string_view s);

}  // namespace gpool::controller
