#include "core/text.h"

#include <array>
#include <cstdint>
#include <cstdio>

namespace gpool::core {

bool IsUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t follow = 0;
    std::uint32_t cp = 0;
    if ((lead & 0xE0) == 0xC0) {
      follow = 1;
      cp = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      follow = 2;
      cp = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      follow = 3;
      cp = lead & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= follow) return false;
    for (std::size_t k = 1; k <= follow; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr std::array<std::uint32_t, 4> kMinForLength = {0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[follow] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += follow + 1;
  }
  return true;
}

std::string HumanBytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (v >= 1024 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  char buf[32];
  if (unit == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[unit]);
  }
  return buf;
}

}  // namespace gpool::core
