// A fake libnvidia-ml for the NVML discovery tests: the handful of NVML functions DlopenNvml
// resolves, with the same C signatures and return codes, describing devices chosen by environment
// variables read at nvmlInit_v2:
//   FAKE_NVML_INIT_FAIL=1       nvmlInit_v2 fails with NVML_ERROR_DRIVER_NOT_LOADED (9)
//   FAKE_NVML_DEVICES=N         number of devices (default 8, at most 64)
//   FAKE_NVML_NAME=...          every device's name (default "NVIDIA H100 80GB HBM3")
//   FAKE_NVML_MEMORY_MIB=M      every device's memory.total in MiB (default 81559)
//   FAKE_NVML_MIG=1             MIG mode enabled on every device; "unsupported": the MIG query
//                               fails with NVML_ERROR_NOT_SUPPORTED (3); otherwise disabled
// Device i has UUID "GPU-fa4e0000-0000-4000-8000-00000000000i" (i in hex, 12 digits).
// Like NVML, device calls fail with NVML_ERROR_UNINITIALIZED (1) unless initialised.
// fake_nvml_live_inits() (not an NVML function) returns successful inits minus shutdowns, so a
// test holding its own handle to the library can check that every init was shut down.
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr int kSuccess = 0;
constexpr int kErrorUninitialized = 1;
constexpr int kErrorInvalidArgument = 2;
constexpr int kErrorNotSupported = 3;
constexpr int kErrorInsufficientSize = 7;
constexpr int kErrorDriverNotLoaded = 9;
constexpr unsigned kMaxDevices = 64;

struct FakeDevice {
  unsigned index;
};

struct FakeState {
  int live_inits = 0;
  unsigned count = 0;
  char name[96] = {};
  unsigned long long memory_bytes = 0;
  int mig = 0;  // 0 disabled, 1 enabled, -1 not supported
  FakeDevice devices[kMaxDevices] = {};
};

FakeState state;

const char* EnvOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : fallback;
}

// The device behind a handle, or nullptr when the handle is not one of ours.
FakeDevice* Device(void* handle) {
  for (unsigned i = 0; i < state.count; ++i) {
    if (handle == &state.devices[i]) return &state.devices[i];
  }
  return nullptr;
}

int CopyOut(const char* text, char* out, unsigned length) {
  if (out == nullptr) return kErrorInvalidArgument;
  if (std::strlen(text) + 1 > length) return kErrorInsufficientSize;
  std::memcpy(out, text, std::strlen(text) + 1);
  return kSuccess;
}

}  // namespace

extern "C" {

struct fake_nvml_memory {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};

int nvmlInit_v2() {
  if (std::strcmp(EnvOr("FAKE_NVML_INIT_FAIL", "0"), "1") == 0) return kErrorDriverNotLoaded;
  long count = std::strtol(EnvOr("FAKE_NVML_DEVICES", "8"), nullptr, 10);
  if (count < 0) count = 0;
  if (count > static_cast<long>(kMaxDevices)) count = kMaxDevices;
  state.count = static_cast<unsigned>(count);
  for (unsigned i = 0; i < state.count; ++i) state.devices[i].index = i;
  std::snprintf(state.name, sizeof state.name, "%s",
                EnvOr("FAKE_NVML_NAME", "NVIDIA H100 80GB HBM3"));
  state.memory_bytes =
      std::strtoull(EnvOr("FAKE_NVML_MEMORY_MIB", "81559"), nullptr, 10) * 1024ULL * 1024ULL;
  const char* mig = EnvOr("FAKE_NVML_MIG", "0");
  state.mig = std::strcmp(mig, "1") == 0 ? 1 : std::strcmp(mig, "unsupported") == 0 ? -1 : 0;
  ++state.live_inits;
  return kSuccess;
}

int nvmlShutdown() {
  if (state.live_inits == 0) return kErrorUninitialized;
  --state.live_inits;
  return kSuccess;
}

int nvmlDeviceGetCount_v2(unsigned* count) {
  if (state.live_inits == 0) return kErrorUninitialized;
  if (count == nullptr) return kErrorInvalidArgument;
  *count = state.count;
  return kSuccess;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned index, void** device) {
  if (state.live_inits == 0) return kErrorUninitialized;
  if (device == nullptr || index >= state.count) return kErrorInvalidArgument;
  *device = &state.devices[index];
  return kSuccess;
}

int nvmlDeviceGetName(void* device, char* name, unsigned length) {
  if (state.live_inits == 0) return kErrorUninitialized;
  if (Device(device) == nullptr) return kErrorInvalidArgument;
  return CopyOut(state.name, name, length);
}

int nvmlDeviceGetUUID(void* device, char* uuid, unsigned length) {
  if (state.live_inits == 0) return kErrorUninitialized;
  FakeDevice* d = Device(device);
  if (d == nullptr) return kErrorInvalidArgument;
  char text[96];
  std::snprintf(text, sizeof text, "GPU-fa4e0000-0000-4000-8000-%012x", d->index);
  return CopyOut(text, uuid, length);
}

int nvmlDeviceGetMemoryInfo(void* device, fake_nvml_memory* memory) {
  if (state.live_inits == 0) return kErrorUninitialized;
  if (Device(device) == nullptr || memory == nullptr) return kErrorInvalidArgument;
  memory->total = state.memory_bytes;
  memory->used = 0;
  memory->free = state.memory_bytes;
  return kSuccess;
}

int nvmlDeviceGetMigMode(void* device, unsigned* current, unsigned* pending) {
  if (state.live_inits == 0) return kErrorUninitialized;
  if (Device(device) == nullptr || current == nullptr || pending == nullptr) {
    return kErrorInvalidArgument;
  }
  if (state.mig < 0) return kErrorNotSupported;
  *current = static_cast<unsigned>(state.mig);
  *pending = static_cast<unsigned>(state.mig);
  return kSuccess;
}

const char* nvmlErrorString(int result) {
  switch (result) {
    case kSuccess:
      return "Success";
    case kErrorUninitialized:
      return "Uninitialized";
    case kErrorInvalidArgument:
      return "Invalid Argument";
    case kErrorNotSupported:
      return "Not Supported";
    case kErrorInsufficientSize:
      return "Insufficient Size";
    case kErrorDriverNotLoaded:
      return "Driver Not Loaded";
    default:
      return "Unknown Error";
  }
}

int fake_nvml_live_inits() { return state.live_inits; }

}  // extern "C"
