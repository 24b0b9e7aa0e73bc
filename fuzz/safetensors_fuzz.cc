// libFuzzer target: importing a .safetensors file (which comes from anywhere) must never crash,
// hang or leak, and every file it accepts must survive export and import unchanged. Built with
// -DGPOOL_FUZZ=ON and clang (scripts/fuzz.sh), seeded with fuzz/seeds/small.safetensors.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ckpt/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view file(reinterpret_cast<const char*>(data), size);
  auto checkpoint = gpool::ckpt::DecodeSafetensors(file);
  if (checkpoint.ok()) {
    auto encoded = gpool::ckpt::EncodeSafetensors(*checkpoint);
    if (!encoded.ok()) std::abort();  // what was read must be writable
    auto again = gpool::ckpt::DecodeSafetensors(*encoded);
    if (!again.ok() || !(*again == *checkpoint)) std::abort();
  }
  return 0;
}
