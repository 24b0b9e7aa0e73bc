#include "controller/token_source.h"

#include <cstdio>
#include <memory>

namespace gpool::controller {

std::string HexEncode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

bool LooksLikeToken(std::string_view s) {
  if (s.size() != kTokenHexChars) return false;
  for (const char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Result<std::string> UrandomTokenSource::NewToken() {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen("/dev/urandom", "rb"), &std::fclose);
  if (!f) return Status::Unavailable("cannot open /dev/urandom for a token");
  char buf[kTokenBytes];
  if (std::fread(buf, 1, sizeof(buf), f.get()) != sizeof(buf)) {
    return Status::Unavailable("short read from /dev/urandom for a token");
  }
  return HexEncode(std::string_view(buf, sizeof(buf)));
}

Result<std::string> FakeTokenSource::NewToken() {
  const std::uint64_t n = next_.fetch_add(1);
  return Sha256Hex("fake-token-" + std::to_string(seed_) + "-" + std::to_string(n));
}

}  // namespace gpool::controller
