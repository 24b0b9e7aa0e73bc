// libFuzzer target: the job-spec parser (YAML text -> JSON -> validated JobSpec) must never crash,
// hang or leak on any input, and every spec it accepts must survive a JSON round trip.
// Built with -DGPOOL_FUZZ=ON and clang (scripts/fuzz.sh); seeds in examples/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "controller/job_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto spec = gpool::controller::ParseJobSpecYaml(text, "fuzz.yaml");
  if (spec.ok()) {
    auto again = gpool::controller::ParseJobSpec(gpool::controller::JobSpecToJson(*spec));
    if (!again.ok() || !(*again == *spec)) std::abort();  // the canonical form must round-trip
  }
  return 0;
}
