// libFuzzer target: the checkpoint manifest reader must never crash, hang or leak on any input
// (a manifest on disk may be truncated or damaged), and every manifest it accepts must survive a
// round trip through its canonical JSON. Built with -DGPOOL_FUZZ=ON and clang (scripts/fuzz.sh);
// seeds are made by the script from a small valid manifest.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ckpt/checkpoint_manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto manifest = gpool::ckpt::ParseManifest(text);
  if (manifest.ok()) {
    const std::string canonical = gpool::ckpt::ManifestToJson(*manifest);
    auto again = gpool::ckpt::ParseManifest(canonical);
    if (!again.ok() || gpool::ckpt::ManifestToJson(*again) != canonical) std::abort();
  }
  return 0;
}
