// NVIDIA GPU discovery: what `gpool agent` registers when the machine has NVIDIA GPUs.
//
// NVML (libnvidia-ml, shipped with the NVIDIA driver) is reached through the NvmlApi interface.
// Its one production implementation, DlopenNvml, loads the library at run time with dlopen, so
// gpool builds and runs on machines without the driver: there is no link-time dependency on NVML
// and no NVML header is needed (the few types used are declared in nvml_discovery.cc).
//
// DiscoverNvidiaGpus turns what NVML reports into the node's devices and its one catalog model
// (core/gpu_model.h). It distinguishes three outcomes:
//   - no NVIDIA GPU here (the library is absent, or NVML reports zero devices): std::nullopt, not
//     an error; the caller falls back to simulated devices and says so;
//   - NVIDIA GPUs that gpool can schedule: their description;
//   - NVML present but unusable (init fails, e.g. the driver is not loaded), a device gpool has no
//     catalog model for, or GPUs of more than one model: an error whose message tells the user
//     what is wrong. The agent must not then pretend the node has no GPU.
//
// Mapping an NVML device name to a catalog model (CatalogModelForNvml) is a pure function over a
// fixed table: a word of the name picks the family ("H100", "A100", "V100" ...), the memory size
// picks the variant (A100 40 GB or 80 GB). Words, not substrings: "NVIDIA A10G" is not an A10 and
// "NVIDIA L40S" is not an L4.
//
// Units: memory in MiB (bytes / 2^20, rounded down), as nvidia-smi prints memory.total.
//
// Thread safety: CatalogModelForNvml is pure. An NvmlApi object (and so a DlopenNvml) is used by
// one thread at a time; DiscoverNvidiaGpus uses only the NvmlApi it is given.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/workload.h"

namespace gpool::agent {

// The part of NVML discovery needs. Devices are named by NVML index (0 .. DeviceCount()-1, the
// order of their PCI bus ids). Error messages name the NVML call and carry NVML's own error text.
class NvmlApi {
 public:
  virtual ~NvmlApi() = default;

  // Makes NVML usable (nvmlInit_v2). NotFound when there is no NVML on this machine (the library
  // cannot be loaded): the NVIDIA driver is not installed. Unavailable when the library is there
  // but cannot be used: it lacks a function gpool needs, or nvmlInit fails (the message then
  // includes NVML's reason, e.g. "Driver Not Loaded").
  virtual Status Init() = 0;
  // Releases what Init acquired (nvmlShutdown). REQUIRES: a successful Init not yet shut down.
  virtual void Shutdown() = 0;

  // The remaining calls REQUIRE a successful Init; `index` < DeviceCount().
  virtual Result<unsigned> DeviceCount() = 0;
  // The marketing name, e.g. "NVIDIA H100 80GB HBM3", "Tesla V100-SXM2-32GB".
  virtual Result<std::string> DeviceName(unsigned index) = 0;
  // "GPU-" followed by a UUID; what CUDA_VISIBLE_DEVICES also accepts.
  virtual Result<std::string> DeviceUuid(unsigned index) = 0;
  // Total framebuffer memory in bytes.
  virtual Result<std::uint64_t> DeviceMemoryTotalBytes(unsigned index) = 0;
  // Whether MIG mode is enabled now (not "pending after reset"). False for a device that does not
  // support MIG.
  virtual Result<bool> DeviceMigEnabled(unsigned index) = 0;
};

// NVML loaded with dlopen from `library` (default libnvidia-ml.so.1, searched the usual way; a
// path containing '/' is used as is). The library is loaded by the first Init and unloaded when
// the object is destroyed. Not thread safe. Destroying it while Init is not shut down leaks the
// NVML state it holds (nothing else); DiscoverNvidiaGpus always shuts down.
class DlopenNvml final : public NvmlApi {
 public:
  static constexpr const char* kDefaultLibrary = "libnvidia-ml.so.1";

  explicit DlopenNvml(std::string library = kDefaultLibrary);
  ~DlopenNvml() override;
  DlopenNvml(const DlopenNvml&) = delete;
  DlopenNvml& operator=(const DlopenNvml&) = delete;

  Status Init() override;
  void Shutdown() override;
  Result<unsigned> DeviceCount() override;
  Result<std::string> DeviceName(unsigned index) override;
  Result<std::string> DeviceUuid(unsigned index) override;
  Result<std::uint64_t> DeviceMemoryTotalBytes(unsigned index) override;
  Result<bool> DeviceMigEnabled(unsigned index) override;

 private:
  struct Symbols;  // the NVML functions, resolved by Init
  std::string library_;
  void* handle_ = nullptr;  // from dlopen; nullptr until Init loads the library
  std::unique_ptr<Symbols> fn_;
};

// One NVIDIA GPU as discovered.
struct NvidiaGpu {
  unsigned index = 0;        // NVML index
  std::string uuid;          // "GPU-..."
  std::string name;          // as NVML reports it, e.g. "NVIDIA H100 80GB HBM3"
  core::MiB memory_mib = 0;  // total memory the driver exposes
  bool mig_enabled = false;  // MIG mode on now
};

// This node's NVIDIA GPUs: at least one, all of the one catalog model `model`.
struct DiscoveredGpus {
  std::string model;               // catalog canonical name, e.g. "H100-80GB"
  std::vector<NvidiaGpu> devices;  // in NVML index order; never empty
  int count() const { return static_cast<int>(devices.size()); }
};

// The catalog model (its canonical name) for a device NVML calls `nvml_name` with `memory_mib`
// of memory. NotFound when gpool has no model for it; the message names the device and lists
// the NVIDIA GPUs gpool knows (and, for a device deliberately left out such as the H100 PCIe,
// says why).
Result<std::string> CatalogModelForNvml(std::string_view nvml_name, core::MiB memory_mib);

// Asks `nvml` for every device and maps each to a catalog model (see the top of this file).
// std::nullopt: no NVIDIA GPU here (Init says NotFound, or zero devices). Errors: Unavailable when
// NVML fails (init, or a query on some device; the message names the call and the GPU);
// NotFound when a device has no catalog model; Conflict when the devices are of more than one
// model (gpool models one GPU model per node). Shutdown is called after every successful Init,
// whatever the outcome.
Result<std::optional<DiscoveredGpus>> DiscoverNvidiaGpus(NvmlApi& nvml);

}  // namespace gpool::agent
