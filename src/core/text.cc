#include "core/text.h"

#include <array>
#include <cstdint>

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

}  // namespace gpool::core
