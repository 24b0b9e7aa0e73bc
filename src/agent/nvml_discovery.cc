#include "agent/nvml_discovery.h"

#include <dlfcn.h>

#include <array>
#include <cassert>
#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>

#include "core/gpu_model.h"
#include "core/text.h"

namespace gpool::agent {
namespace {

// ---- The slice of the NVML C API gpool uses, declared here so no NVML header is needed. ----
// Facts from NVIDIA's nvml.h: nvmlReturn_t is a C enum (an int), NVML_SUCCESS is 0,
// NVML_ERROR_NOT_SUPPORTED is 3; nvmlDevice_t is a pointer to an opaque struct; the name and UUID
// buffers need NVML_DEVICE_NAME_V2_BUFFER_SIZE / NVML_DEVICE_UUID_V2_BUFFER_SIZE (96) bytes;
// nvmlMemory_t is {unsigned long long total, free, used} in bytes; MIG mode is
// NVML_DEVICE_MIG_DISABLE (0) or NVML_DEVICE_MIG_ENABLE (1).
using NvmlReturn = int;
struct NvmlDeviceSt;
using NvmlDevice = NvmlDeviceSt*;
struct NvmlMemory {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
constexpr NvmlReturn kNvmlSuccess = 0;
constexpr NvmlReturn kNvmlErrorNotSupported = 3;
constexpr unsigned kNvmlNameBufferSize = 96;
constexpr unsigned kNvmlUuidBufferSize = 96;
constexpr unsigned kNvmlMigEnable = 1;

using InitFn = NvmlReturn (*)();
using ShutdownFn = NvmlReturn (*)();
using CountFn = NvmlReturn (*)(unsigned*);
using HandleByIndexFn = NvmlReturn (*)(unsigned, NvmlDevice*);
using StringFn = NvmlReturn (*)(NvmlDevice, char*, unsigned);
using MemoryInfoFn = NvmlReturn (*)(NvmlDevice, NvmlMemory*);
using MigModeFn = NvmlReturn (*)(NvmlDevice, unsigned*, unsigned*);
using ErrorStringFn = const char* (*)(NvmlReturn);

// ---- NVML name -> catalog model. ----

// One row of the mapping. A device matches when its name has the word `family` (and `variant`,
// when set) and its memory is that of a card sold as `sold_as_gb` GB: drivers expose a little
// less than the nominal size (T4: 15360 of 16384 MiB), so the window is
// (0.9 * sold_as_gb * 1024, sold_as_gb * 1024] MiB. Rows are tried in order; the first match wins.
struct NvmlModelRule {
  std::string_view family;   // a word of the NVML name, e.g. "A100" (case-insensitive)
  std::string_view variant;  // another word the name must have ("" = any), e.g. "PCIe"
  int sold_as_gb;
  std::string_view model;    // canonical catalog name; "" = recognised but not schedulable
  std::string_view refusal;  // why, when model is ""
};

// NVML names these rows are for (examples): "Tesla T4", "NVIDIA L4", "NVIDIA A10",
// "Tesla P100-PCIE-16GB", "Tesla V100-SXM2-16GB", "Tesla V100-PCIE-32GB", "NVIDIA A100-SXM4-40GB",
// "NVIDIA A100-PCIE-40GB", "NVIDIA A100-SXM4-80GB", "NVIDIA A100 80GB PCIe",
// "NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe", "NVIDIA H200".
constexpr std::array<NvmlModelRule, 11> kNvmlModelRules = {{
    {"T4", "", 16, "T4", ""},
    {"L4", "", 24, "L4", ""},
    {"A10", "", 24, "A10", ""},
    {"P100", "", 16, "P100", ""},
    {"V100", "", 16, "V100-16GB", ""},
    {"V100", "", 32, "V100-32GB", ""},
    {"A100", "", 40, "A100-40GB", ""},
    {"A100", "", 80, "A100-80GB", ""},
    {"H100", "PCIe", 80, "",
     "the H100 PCIe has 114 SMs, the catalog's H100-80GB is the 132-SM SXM part"},
    {"H100", "", 80, "H100-80GB", ""},
    {"H200", "", 141, "H200-141GB", ""},
}};

// Whether `name`, split into words at spaces and '-', has the word `word` (case-insensitive).
bool HasWord(std::string_view name, std::string_view word) {
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find_first_of(" -", start);
    if (end == std::string_view::npos) end = name.size();
    if (core::EqualsIgnoreCase(name.substr(start, end - start), word)) return true;
    start = end + 1;
  }
  return false;
}

bool InMemoryWindow(core::MiB memory_mib, int sold_as_gb) {
  const core::MiB nominal = static_cast<core::MiB>(sold_as_gb) * 1024;
  return memory_mib * 10 > nominal * 9 && memory_mib <= nominal;
}

// "T4 16GB, L4 24GB, ..., H200 141GB; not supported: H100 PCIe (why)".
std::string KnownNvidiaGpus() {
  std::string known;
  std::string refused;
  for (const NvmlModelRule& r : kNvmlModelRules) {
    std::string& out = r.model.empty() ? refused : known;
    if (!out.empty()) out += ", ";
    out += std::string(r.family);
    if (r.model.empty()) {
      out += " " + std::string(r.variant) + " (" + std::string(r.refusal) + ")";
    } else {
      out += " " + std::to_string(r.sold_as_gb) + "GB";
    }
  }
  return known + (refused.empty() ? "" : "; not supported: " + refused);
}

// Calls nvml.Shutdown() when it goes out of scope.
class ShutdownOnExit {
 public:
  explicit ShutdownOnExit(NvmlApi& nvml) : nvml_(nvml) {}
  ~ShutdownOnExit() { nvml_.Shutdown(); }
  ShutdownOnExit(const ShutdownOnExit&) = delete;
  ShutdownOnExit& operator=(const ShutdownOnExit&) = delete;

 private:
  NvmlApi& nvml_;
};

std::string GpuContext(unsigned index) { return "NVIDIA GPU " + std::to_string(index) + ": "; }

}  // namespace

// ---- DlopenNvml ----

struct DlopenNvml::Symbols {
  InitFn init = nullptr;
  ShutdownFn shutdown = nullptr;
  CountFn device_count = nullptr;
  HandleByIndexFn handle_by_index = nullptr;
  StringFn name = nullptr;
  StringFn uuid = nullptr;
  MemoryInfoFn memory_info = nullptr;
  MigModeFn mig_mode = nullptr;  // absent from drivers older than MIG (R450): no MIG then
  ErrorStringFn error_string = nullptr;

  // NVML's words for `r`, e.g. "Driver Not Loaded".
  std::string Text(NvmlReturn r) const {
    const char* text = error_string(r);
    return text != nullptr ? text : "NVML error " + std::to_string(r);
  }
  std::string Error(const char* call, NvmlReturn r) const { return call + (": " + Text(r)); }
};

DlopenNvml::DlopenNvml(std::string library) : library_(std::move(library)) {}

DlopenNvml::~DlopenNvml() {
  if (handle_ != nullptr) ::dlclose(handle_);
}

Status DlopenNvml::Init() {
  if (handle_ == nullptr) {
    void* handle = ::dlopen(library_.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = ::dlerror();
      return Status::NotFound("no NVML: cannot load " + library_ + " (" +
                              (why != nullptr ? why : "unknown reason") + ")");
    }
    auto fn = std::make_unique<Symbols>();
    std::string missing;
    auto resolve = [&](auto& slot, const char* symbol, bool required) {
      void* sym = ::dlsym(handle, symbol);
      slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(sym);
      if (sym == nullptr && required) {
        missing += (missing.empty() ? "" : ", ") + std::string(symbol);
      }
    };
    resolve(fn->init, "nvmlInit_v2", true);
    resolve(fn->shutdown, "nvmlShutdown", true);
    resolve(fn->device_count, "nvmlDeviceGetCount_v2", true);
    resolve(fn->handle_by_index, "nvmlDeviceGetHandleByIndex_v2", true);
    resolve(fn->name, "nvmlDeviceGetName", true);
    resolve(fn->uuid, "nvmlDeviceGetUUID", true);
    resolve(fn->memory_info, "nvmlDeviceGetMemoryInfo", true);
    resolve(fn->mig_mode, "nvmlDeviceGetMigMode", false);
    resolve(fn->error_string, "nvmlErrorString", true);
    if (!missing.empty()) {
      ::dlclose(handle);
      return Status::Unavailable("NVML found (" + library_ + ") but it lacks " + missing +
                                 ": not NVML, or an NVIDIA driver too old for gpool");
    }
    handle_ = handle;
    fn_ = std::move(fn);
  }
  if (NvmlReturn r = fn_->init(); r != kNvmlSuccess) {
    return Status::Unavailable("NVML found (" + library_ +
                               ") but nvmlInit failed: " + fn_->Text(r));
  }
  return Status::Ok();
}

void DlopenNvml::Shutdown() {
  assert(fn_ != nullptr && "Shutdown without a successful Init");
  fn_->shutdown();  // nothing useful to do if it fails
}

Result<unsigned> DlopenNvml::DeviceCount() {
  unsigned count = 0;
  if (NvmlReturn r = fn_->device_count(&count); r != kNvmlSuccess) {
    return Status::Unavailable(fn_->Error("nvmlDeviceGetCount", r));
  }
  return count;
}

Result<std::string> DlopenNvml::DeviceName(unsigned index) {
  NvmlDevice device = nullptr;
  if (NvmlReturn r = fn_->handle_by_index(index, &device); r != kNvmlSuccess) {
    return Status::Unavailable(fn_->Error("nvmlDeviceGetHandleByIndex", r));
  }
  std::array<char, kNvmlNameBufferSize> buf{};
  if (NvmlReturn r = fn_->name(device, buf.data(), kNvmlNameBufferSize); r != kNvmlSuccess) {
    return Status::Unavailable(fn_->Error("nvmlDeviceGetName", r));
  }
  buf.back() = '\0';
  return std::string(buf.data());
}

Result<std::string> DlopenNvml::DeviceUuid(unsigned index) {
  NvmlDevice device = nullptr;
  if (NvmlReturn r = fn_->handle_by_index(index, &device); r != kNvmlSuccess) {
    return Status::Unavailable(fn_->Error("nvmlDeviceGetHandleByIndex", r));
  }
  std::array<char, kNvmlUuidBufferSize> buf{};
  if (NvmlReturn r = fn_->uuid(device, buf.data(), kNvmlUuidBufferSize); r != kNvmlSuccess) {
    return Status::Unavailable(fn_->Error("nvmlDeviceGetUUID", r));
  }
  buf.back() = '\0';
  return std::string(buf.data());
}

Result<std::uint64_t> DlopenNvml::DeviceMemoryTotalBytes(unsigned index) {
  NvmlDevice device = nullptr;
  if (NvmlReturn r = fn_->handle_by_index(index, &device); r != kNvmlSuccess) {
    return Status::Unavailable(fn_->Error("nvmlDeviceGetHandleByIndex", r));
  }
  NvmlMemory memory{};
  if (NvmlReturn r = fn_->memory_info(device, &memory); r != kNvmlSuccess) {
    return Status::Unavailable(fn_->Error("nvmlDeviceGetMemoryInfo", r));
  }
  return static_cast<std::uint64_t>(memory.total);
}

Result<bool> DlopenNvml::DeviceMigEnabled(unsigned index) {
  if (fn_->mig_mode == nullptr) return false;
  NvmlDevice device = nullptr;
  if (NvmlReturn r = fn_->handle_by_index(index, &device); r != kNvmlSuccess) {
    return Status::Unavailable(fn_->Error("nvmlDeviceGetHandleByIndex", r));
  }
  unsigned current = 0;
  unsigned pending = 0;
  NvmlReturn r = fn_->mig_mode(device, &current, &pending);
  if (r == kNvmlErrorNotSupported) return false;
  if (r != kNvmlSuccess) return Status::Unavailable(fn_->Error("nvmlDeviceGetMigMode", r));
  return current == kNvmlMigEnable;
}

// ---- Mapping and discovery ----

Result<std::string> CatalogModelForNvml(std::string_view nvml_name, core::MiB memory_mib) {
  for (const NvmlModelRule& r : kNvmlModelRules) {
    if (!HasWord(nvml_name, r.family)) continue;
    if (!r.variant.empty() && !HasWord(nvml_name, r.variant)) continue;
    if (!InMemoryWindow(memory_mib, r.sold_as_gb)) continue;
    if (r.model.empty()) {
      return Status::NotFound("no gpool GPU model for \"" + std::string(nvml_name) + "\" (" +
                              std::to_string(memory_mib) + " MiB): " + std::string(r.refusal));
    }
    return std::string(r.model);
  }
  return Status::NotFound("no gpool GPU model for \"" + std::string(nvml_name) + "\" (" +
                          std::to_string(memory_mib) +
                          " MiB); the NVIDIA GPUs gpool knows: " + KnownNvidiaGpus());
}

Result<std::optional<DiscoveredGpus>> DiscoverNvidiaGpus(NvmlApi& nvml) {
  if (Status s = nvml.Init(); !s.ok()) {
    if (s.code() == StatusCode::kNotFound) return std::optional<DiscoveredGpus>();
    return Status(s.code(), s.message() +
                                "; the agent cannot see this machine's GPUs (is the NVIDIA driver "
                                "loaded? does nvidia-smi work?)");
  }
  ShutdownOnExit shutdown(nvml);

  Result<unsigned> count = nvml.DeviceCount();
  if (!count.ok()) return Status(count.status().code(), "NVML: " + count.status().message());
  if (*count == 0) return std::optional<DiscoveredGpus>();

  DiscoveredGpus found;
  // Models in order of first appearance, each with its device indices (for the mixed-model error).
  std::vector<std::pair<std::string, std::string>> models;
  for (unsigned i = 0; i < *count; ++i) {
    NvidiaGpu gpu;
    gpu.index = i;
    Result<std::string> name = nvml.DeviceName(i);
    if (!name.ok()) return Status(name.status().code(), GpuContext(i) + name.status().message());
    gpu.name = *name;
    Result<std::string> uuid = nvml.DeviceUuid(i);
    if (!uuid.ok()) return Status(uuid.status().code(), GpuContext(i) + uuid.status().message());
    gpu.uuid = *uuid;
    Result<std::uint64_t> bytes = nvml.DeviceMemoryTotalBytes(i);
    if (!bytes.ok()) {
      return Status(bytes.status().code(), GpuContext(i) + bytes.status().message());
    }
    gpu.memory_mib = static_cast<core::MiB>(*bytes / (1024 * 1024));
    Result<bool> mig = nvml.DeviceMigEnabled(i);
    if (!mig.ok()) return Status(mig.status().code(), GpuContext(i) + mig.status().message());
    gpu.mig_enabled = *mig;

    Result<std::string> model = CatalogModelForNvml(gpu.name, gpu.memory_mib);
    if (!model.ok()) {
      return Status(model.status().code(), GpuContext(i) + "(" + gpu.uuid + ") " +
                                               model.status().message() +
                                               "; the pool needs a catalog model to schedule it");
    }
    bool seen = false;
    for (auto& [m, indices] : models) {
      if (m == *model) {
        indices += ", " + std::to_string(i);
        seen = true;
      }
    }
    if (!seen) models.emplace_back(*model, std::to_string(i));
    found.devices.push_back(std::move(gpu));
  }

  if (models.size() > 1) {
    std::string detail;
    for (const auto& [m, indices] : models) {
      detail += (detail.empty() ? "" : "; ") + m + " on GPU " + indices;
    }
    return Status::Conflict("this node has NVIDIA GPUs of more than one model (" + detail +
                            "); gpool models one GPU model per node, so the node cannot join "
                            "the pool with all of them");
  }
  found.model = models.front().first;
  return std::optional<DiscoveredGpus>(std::move(found));
}

}  // namespace gpool::agent
