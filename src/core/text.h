// Small text helpers shared by the catalogs (GPU models, MIG profiles), device discovery and the
// checkpoint formats. Locale-independent, pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gpool::core {

constexpr char LowerAscii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (LowerAscii(a[i]) != LowerAscii(b[i])) return false;
  }
  return true;
}

// Well-formed UTF-8: no overlong form, surrogate or code point above U+10FFFF — what a JSON
// string (a manifest, a safetensors header) may hold.
bool IsUtf8(std::string_view s);

// A byte count for people, in binary units: "512 B", "48.0 MiB", "1.2 GiB".
std::string HumanBytes(std::uint64_t bytes);

}  // namespace gpool::core
