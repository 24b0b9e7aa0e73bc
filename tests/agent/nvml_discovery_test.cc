// NVIDIA discovery: the NVML name -> catalog model table; DiscoverNvidiaGpus against a recording
// fake NvmlApi (every outcome, and Shutdown after every successful Init); and DlopenNvml, the real
// dlopen path, against a fake libnvidia-ml built by CMake (GPOOL_FAKE_NVML is its path; see
// tests/agent/fake_nvml/fake_nvml.cc for the environment variables that shape its devices).
#include "agent/nvml_discovery.h"

#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/gpu_model.h"

#ifndef GPOOL_FAKE_NVML
#error "GPOOL_FAKE_NVML (the path of the fake libnvidia-ml) must be defined by the build"
#endif

namespace gpool::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::uint64_t kMiB = 1024 * 1024;

// ---- CatalogModelForNvml ----

// Memory windows (MiB) a device must fall in, from the card's nominal size N GB:
// (0.9 * N * 1024, N * 1024]:
//   16 GB: (14745.6, 16384]   24 GB: (22118.4, 24576]    32 GB: (29491.2, 32768]
//   40 GB: (36864, 40960]     80 GB: (73728, 81920]      141 GB: (129945.6, 144384]
struct MappingCase {
  std::string_view nvml_name;
  core::MiB memory_mib;
  std::string_view want;  // canonical catalog name; "" = NotFound
};

constexpr MappingCase kMappingCases[] = {
    {"Tesla T4", 15360, "T4"},
    {"Tesla T4", 15109, "T4"},  // older drivers expose less; still in the 16 GB window
    {"NVIDIA L4", 23034, "L4"},
    {"NVIDIA A10", 23028, "A10"},
    {"Tesla P100-PCIE-16GB", 16276, "P100"},
    {"Tesla V100-SXM2-16GB", 16160, "V100-16GB"},
    {"Tesla V100-PCIE-16GB", 16160, "V100-16GB"},
    {"Tesla V100-SXM2-32GB", 32510, "V100-32GB"},  // same family, memory picks the variant
    {"Tesla V100-PCIE-32GB", 32510, "V100-32GB"},
    {"NVIDIA A100-SXM4-40GB", 40960, "A100-40GB"},
    {"NVIDIA A100-PCIE-40GB", 40536, "A100-40GB"},
    {"NVIDIA A100-SXM4-80GB", 81920, "A100-80GB"},  // 81920 = 80 * 1024: the window's top, kept
    {"NVIDIA A100 80GB PCIe", 81920, "A100-80GB"},
    {"NVIDIA H100 80GB HBM3", 81559, "H100-80GB"},
    {"nvidia h100 80gb hbm3", 81559, "H100-80GB"},  // words compare case-insensitively
    {"NVIDIA H200", 143771, "H200-141GB"},
    // Not schedulable:
    {"NVIDIA H100 PCIe", 81559, ""},         // refused: 114 SMs, not the catalog's 132-SM part
    {"NVIDIA H100 NVL", 95830, ""},          // 94 GB: above the 80 GB window, no such model
    {"NVIDIA A10G", 23028, ""},              // the word is "A10G", not "A10"
    {"NVIDIA L40S", 46068, ""},              // the word is "L40S", not "L4"
    {"Tesla V100S-PCIE-32GB", 32510, ""},    // "V100S", not "V100"
    {"Tesla P100-PCIE-12GB", 12198, ""},     // 12198 <= 14745.6: below the 16 GB window
    {"NVIDIA A100-SXM4-40GB", 30000, ""},    // family known, memory in no A100 window
    {"NVIDIA GeForce RTX 4090", 24564, ""},  // no such family
    {"", 0, ""},
};

TEST(NvmlModelMapping, EachRowGivesTheExpectedCatalogModel) {
  for (const MappingCase& c : kMappingCases) {
    SCOPED_TRACE(std::string(c.nvml_name) + " / " + std::to_string(c.memory_mib) + " MiB");
    Result<std::string> got = CatalogModelForNvml(c.nvml_name, c.memory_mib);
    if (c.want.empty()) {
      ASSERT_FALSE(got.ok()) << "mapped to " << *got;
      EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
      EXPECT_THAT(got.status().message(), HasSubstr(std::string(c.nvml_name)));
    } else {
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_EQ(*got, c.want);
    }
  }
}

TEST(NvmlModelMapping, ResultsAreCanonicalCatalogNames) {
  for (const MappingCase& c : kMappingCases) {
    if (c.want.empty()) continue;
    Result<core::GpuModelId> id = core::FindGpuModel(c.want);
    ASSERT_TRUE(id.ok()) << c.want;
    EXPECT_EQ(core::GetGpuModel(*id).name, c.want);
  }
}

// Every catalog model with a known memory size is reachable from at least one of its own
// NVML-style aliases with its own memory figure, and no alias maps to another model.
TEST(NvmlModelMapping, AgreesWithTheCatalog) {
  for (const core::GpuModel& m : core::GpuCatalog()) {
    if (m.memory_mib == 0) continue;  // opaque trace models (G2, G3): not NVIDIA names
    SCOPED_TRACE(std::string(m.name));
    int reached = 0;
    for (std::string_view alias : m.aliases) {
      if (alias.empty()) continue;
      Result<std::string> got = CatalogModelForNvml(alias, m.memory_mib);
      if (!got.ok()) continue;  // trace spellings such as "V100M16" are not NVML names
      EXPECT_EQ(*got, m.name) << "alias " << alias;
      ++reached;
    }
    EXPECT_GE(reached, 1) << "no NVML rule reaches this catalog model";
  }
}

TEST(NvmlModelMapping, UnknownDeviceListsTheKnownOnes) {
  Result<std::string> got = CatalogModelForNvml("NVIDIA L40S", 46068);
  ASSERT_FALSE(got.ok());
  const std::string& m = got.status().message();
  EXPECT_THAT(m, HasSubstr("\"NVIDIA L40S\" (46068 MiB)"));
  EXPECT_THAT(m, HasSubstr("the NVIDIA GPUs gpool knows: T4 16GB, L4 24GB, A10 24GB"));
  EXPECT_THAT(m, HasSubstr("A100 40GB, A100 80GB, H100 80GB, H200 141GB"));
  EXPECT_THAT(m, HasSubstr("not supported: H100 PCIe"));
}

TEST(NvmlModelMapping, RefusedDeviceSaysWhy) {
  Result<std::string> got = CatalogModelForNvml("NVIDIA H100 PCIe", 81559);
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(), HasSubstr("114 SMs"));
  EXPECT_THAT(got.status().message(), HasSubstr("132-SM SXM part"));
}

// ---- DiscoverNvidiaGpus against a recording fake ----

// Answers from `gpus`, records every call as "Init", "DeviceName(3)", ..., and fails the call
// named `fail_call` (same spelling) with Unavailable("<call>: GPU is lost").
class RecordingNvml final : public NvmlApi {
 public:
  struct Gpu {
    std::string name;
    std::uint64_t memory_bytes;
    bool mig;
  };

  RecordingNvml& Gpus(int n, const std::string& name, core::MiB mib, bool mig = false) {
    for (int i = 0; i < n; ++i) gpus.push_back({name, static_cast<std::uint64_t>(mib) * kMiB, mig});
    return *this;
  }

  Status Init() override {
    calls.push_back("Init");
    return init;
  }
  void Shutdown() override { calls.push_back("Shutdown"); }
  Result<unsigned> DeviceCount() override {
    if (Status s = Record("DeviceCount"); !s.ok()) return s;
    return static_cast<unsigned>(gpus.size());
  }
  Result<std::string> DeviceName(unsigned i) override {
    if (Status s = Record("DeviceName", i); !s.ok()) return s;
    return gpus.at(i).name;
  }
  Result<std::string> DeviceUuid(unsigned i) override {
    if (Status s = Record("DeviceUuid", i); !s.ok()) return s;
    return "GPU-test-" + std::to_string(i);
  }
  Result<std::uint64_t> DeviceMemoryTotalBytes(unsigned i) override {
    if (Status s = Record("DeviceMemoryTotalBytes", i); !s.ok()) return s;
    return gpus.at(i).memory_bytes;
  }
  Result<bool> DeviceMigEnabled(unsigned i) override {
    if (Status s = Record("DeviceMigEnabled", i); !s.ok()) return s;
    return gpus.at(i).mig;
  }

  std::vector<Gpu> gpus;
  Status init;            // what Init returns
  std::string fail_call;  // e.g. "DeviceUuid(1)"
  std::vector<std::string> calls;

 private:
  Status Record(const std::string& call, std::optional<unsigned> index = std::nullopt) {
    const std::string full = index ? call + "(" + std::to_string(*index) + ")" : call;
    calls.push_back(full);
    if (full == fail_call) return Status::Unavailable("nvml" + call + ": GPU is lost");
    return Status::Ok();
  }
};

int Count(const std::vector<std::string>& calls, const std::string& call) {
  return static_cast<int>(std::count(calls.begin(), calls.end(), call));
}

TEST(NvmlDiscovery, EightH100s) {
  RecordingNvml nvml;
  nvml.Gpus(8, "NVIDIA H100 80GB HBM3", 81559);
  auto got = DiscoverNvidiaGpus(nvml);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->has_value());
  const DiscoveredGpus& d = **got;
  EXPECT_EQ(d.model, "H100-80GB");
  EXPECT_EQ(d.count(), 8);
  for (unsigned i = 0; i < 8; ++i) {
    EXPECT_EQ(d.devices[i].index, i);
    EXPECT_EQ(d.devices[i].uuid, "GPU-test-" + std::to_string(i));
    EXPECT_EQ(d.devices[i].name, "NVIDIA H100 80GB HBM3");
    EXPECT_EQ(d.devices[i].memory_mib, 81559);
    EXPECT_FALSE(d.devices[i].mig_enabled);
  }
  // Init, the count, four queries per device (8 * 4 = 32), Shutdown: 35 calls.
  ASSERT_EQ(nvml.calls.size(), 35u);
  EXPECT_EQ(nvml.calls.front(), "Init");
  EXPECT_EQ(nvml.calls[1], "DeviceCount");
  EXPECT_EQ(nvml.calls[2], "DeviceName(0)");
  EXPECT_EQ(nvml.calls[33], "DeviceMigEnabled(7)");
  EXPECT_EQ(nvml.calls.back(), "Shutdown");
}

TEST(NvmlDiscovery, MigModeIsPerDevice) {
  RecordingNvml nvml;
  nvml.Gpus(2, "NVIDIA A100-SXM4-80GB", 81920, /*mig=*/true)
      .Gpus(2, "NVIDIA A100-SXM4-80GB", 81920);
  auto got = DiscoverNvidiaGpus(nvml);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->model, "A100-80GB");
  std::vector<bool> mig;
  for (const NvidiaGpu& g : (*got)->devices) mig.push_back(g.mig_enabled);
  EXPECT_EQ(mig, (std::vector<bool>{true, true, false, false}));
}

TEST(NvmlDiscovery, MemoryIsRoundedDownToMiB) {
  RecordingNvml nvml;
  nvml.gpus.push_back({"NVIDIA H100 80GB HBM3", 81559 * kMiB + kMiB - 1, false});
  auto got = DiscoverNvidiaGpus(nvml);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->devices[0].memory_mib, 81559);
}

TEST(NvmlDiscovery, NoLibraryMeansNoGpusNotAnError) {
  RecordingNvml nvml;
  nvml.init = Status::NotFound("no NVML: cannot load libnvidia-ml.so.1");
  auto got = DiscoverNvidiaGpus(nvml);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_FALSE(got->has_value());
  EXPECT_EQ(nvml.calls, std::vector<std::string>{"Init"});  // no Shutdown without an Init
}

TEST(NvmlDiscovery, ZeroDevicesMeansNoGpus) {
  RecordingNvml nvml;
  auto got = DiscoverNvidiaGpus(nvml);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_FALSE(got->has_value());
  EXPECT_EQ(nvml.calls, (std::vector<std::string>{"Init", "DeviceCount", "Shutdown"}));
}

TEST(NvmlDiscovery, InitFailureIsAnErrorThatSaysSo) {
  RecordingNvml nvml;
  nvml.Gpus(8, "NVIDIA H100 80GB HBM3", 81559);
  nvml.init =
      Status::Unavailable("NVML found (libnvidia-ml.so.1) but nvmlInit failed: Driver Not Loaded");
  auto got = DiscoverNvidiaGpus(nvml);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(got.status().message(), HasSubstr("nvmlInit failed: Driver Not Loaded"));
  EXPECT_THAT(got.status().message(), HasSubstr("is the NVIDIA driver loaded?"));
  EXPECT_EQ(nvml.calls, std::vector<std::string>{"Init"});
}

TEST(NvmlDiscovery, UnknownModelNamesTheDevice) {
  RecordingNvml nvml;
  nvml.Gpus(2, "NVIDIA L4", 23034).Gpus(1, "NVIDIA L40S", 46068);
  auto got = DiscoverNvidiaGpus(nvml);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(got.status().message(),
              HasSubstr("NVIDIA GPU 2: (GPU-test-2) no gpool GPU model for \"NVIDIA L40S\""));
  EXPECT_THAT(got.status().message(), HasSubstr("the NVIDIA GPUs gpool knows: T4 16GB"));
  EXPECT_THAT(got.status().message(), HasSubstr("the pool needs a catalog model"));
  EXPECT_EQ(nvml.calls.back(), "Shutdown");
}

TEST(NvmlDiscovery, MixedModelsAreAnError) {
  RecordingNvml nvml;
  nvml.Gpus(4, "NVIDIA H100 80GB HBM3", 81559).Gpus(3, "NVIDIA A100-SXM4-80GB", 81920);
  nvml.Gpus(1, "NVIDIA H100 80GB HBM3", 81559);
  auto got = DiscoverNvidiaGpus(nvml);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kConflict);
  EXPECT_THAT(got.status().message(),
              HasSubstr("more than one model (H100-80GB on GPU 0, 1, 2, 3, 7; "
                        "A100-80GB on GPU 4, 5, 6)"));
  EXPECT_THAT(got.status().message(), HasSubstr("gpool models one GPU model per node"));
  EXPECT_EQ(nvml.calls.back(), "Shutdown");
}

// Two NVML names, one catalog model: the node is of one model.
TEST(NvmlDiscovery, DifferentNamesOfOneModelAreOneModel) {
  RecordingNvml nvml;
  nvml.Gpus(1, "NVIDIA A100-SXM4-80GB", 81920).Gpus(1, "NVIDIA A100 80GB PCIe", 81920);
  auto got = DiscoverNvidiaGpus(nvml);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ((*got)->model, "A100-80GB");
  EXPECT_EQ((*got)->count(), 2);
}

// Whatever call fails after a successful Init, the error names it (and the GPU) and Shutdown is
// called exactly once, last.
TEST(NvmlDiscovery, ShutdownFollowsEverySuccessfulInit) {
  struct FailCase {
    std::string call;
    std::string want_message;
  };
  const FailCase cases[] = {
      {"DeviceCount", "NVML: nvmlDeviceCount: GPU is lost"},
      {"DeviceName(0)", "NVIDIA GPU 0: nvmlDeviceName: GPU is lost"},
      {"DeviceUuid(1)", "NVIDIA GPU 1: nvmlDeviceUuid: GPU is lost"},
      {"DeviceMemoryTotalBytes(7)", "NVIDIA GPU 7: nvmlDeviceMemoryTotalBytes: GPU is lost"},
      {"DeviceMigEnabled(2)", "NVIDIA GPU 2: nvmlDeviceMigEnabled: GPU is lost"},
  };
  for (const FailCase& c : cases) {
    SCOPED_TRACE(c.call);
    RecordingNvml nvml;
    nvml.Gpus(8, "NVIDIA H100 80GB HBM3", 81559);
    nvml.fail_call = c.call;
    auto got = DiscoverNvidiaGpus(nvml);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), StatusCode::kUnavailable);
    EXPECT_EQ(got.status().message(), c.want_message);
    EXPECT_EQ(Count(nvml.calls, "Shutdown"), 1);
    EXPECT_EQ(nvml.calls.back(), "Shutdown");
  }
}

// ---- DlopenNvml against the fake libnvidia-ml ----

// Sets environment variables for one test and restores what was there before.
class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (const auto& [k, v] : vars) {
      const char* old = std::getenv(k);
      saved_.emplace_back(k, old ? std::optional<std::string>(old) : std::nullopt);
      ::setenv(k, v, 1);
    }
  }
  ~ScopedEnv() {
    for (const auto& [k, old] : saved_) {
      if (old) {
        ::setenv(k.c_str(), old->c_str(), 1);
      } else {
        ::unsetenv(k.c_str());
      }
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// Holds its own handle on the fake so that its init counter outlives each DlopenNvml.
class DlopenNvmlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    handle_ = ::dlopen(GPOOL_FAKE_NVML, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(handle_, nullptr) << ::dlerror();
    live_inits_ = reinterpret_cast<int (*)()>(::dlsym(handle_, "fake_nvml_live_inits"));
    ASSERT_NE(live_inits_, nullptr);
  }
  void TearDown() override {
    if (handle_ != nullptr) ::dlclose(handle_);
  }

  // Discovers through a fresh DlopenNvml on the fake, then checks every init was shut down.
  Result<std::optional<DiscoveredGpus>> Discover() {
    Result<std::optional<DiscoveredGpus>> got = [] {
      DlopenNvml nvml(GPOOL_FAKE_NVML);
      return DiscoverNvidiaGpus(nvml);
    }();
    EXPECT_EQ(live_inits_(), 0) << "nvmlInit_v2 without a matching nvmlShutdown";
    return got;
  }

  void* handle_ = nullptr;
  int (*live_inits_)() = nullptr;
};

TEST(DlopenNvml, MissingLibraryIsNotFoundAndMeansNoGpus) {
  DlopenNvml nvml("/nonexistent/libnvidia-ml.so.1");
  Status s = nvml.Init();
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("cannot load /nonexistent/libnvidia-ml.so.1"));

  DlopenNvml again("/nonexistent/libnvidia-ml.so.1");
  auto got = DiscoverNvidiaGpus(again);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_FALSE(got->has_value());
}

TEST(DlopenNvml, LibraryWithoutNvmlIsUnavailable) {
  DlopenNvml nvml("libm.so.6");  // loads, but is not NVML
  Status s = nvml.Init();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("NVML found (libm.so.6) but it lacks nvmlInit_v2, "));
  EXPECT_THAT(s.message(), Not(HasSubstr("nvmlDeviceGetMigMode")));  // optional: old drivers
}

// The calls one by one; also shows the harness's counter sees the library DlopenNvml loaded.
TEST_F(DlopenNvmlTest, CallsOneByOne) {
  DlopenNvml nvml(GPOOL_FAKE_NVML);
  ASSERT_TRUE(nvml.Init().ok());
  EXPECT_EQ(live_inits_(), 1);
  Result<unsigned> count = nvml.DeviceCount();
  ASSERT_TRUE(count.ok()) << count.status().ToString();
  EXPECT_EQ(*count, 8u);
  Result<std::uint64_t> bytes = nvml.DeviceMemoryTotalBytes(3);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(*bytes, 81559 * kMiB);
  Result<std::string> uuid = nvml.DeviceUuid(3);
  ASSERT_TRUE(uuid.ok()) << uuid.status().ToString();
  EXPECT_EQ(*uuid, "GPU-fa4e0000-0000-4000-8000-000000000003");
  nvml.Shutdown();
  EXPECT_EQ(live_inits_(), 0);
}

TEST_F(DlopenNvmlTest, DiscoversTheFakesEightH100s) {
  // No FAKE_NVML_* variables: the fake's defaults, 8 x "NVIDIA H100 80GB HBM3", 81559 MiB, MIG off.
  auto got = Discover();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->has_value());
  const DiscoveredGpus& d = **got;
  EXPECT_EQ(d.model, "H100-80GB");
  ASSERT_EQ(d.count(), 8);
  EXPECT_EQ(d.devices[7].index, 7u);
  EXPECT_EQ(d.devices[7].name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(d.devices[7].uuid, "GPU-fa4e0000-0000-4000-8000-000000000007");
  EXPECT_EQ(d.devices[7].memory_mib, 81559);
  EXPECT_FALSE(d.devices[7].mig_enabled);
}

TEST_F(DlopenNvmlTest, ReadsMigModeAndOtherModels) {
  {
    ScopedEnv env{{"FAKE_NVML_DEVICES", "4"},
                  {"FAKE_NVML_NAME", "NVIDIA A100-SXM4-40GB"},
                  {"FAKE_NVML_MEMORY_MIB", "40960"},
                  {"FAKE_NVML_MIG", "1"}};
    auto got = Discover();
    ASSERT_TRUE(got.ok() && got->has_value()) << got.status().ToString();
    EXPECT_EQ((*got)->model, "A100-40GB");
    EXPECT_EQ((*got)->count(), 4);
    for (const NvidiaGpu& g : (*got)->devices) EXPECT_TRUE(g.mig_enabled);
  }
  {
    // A V100 has no MIG: NVML answers Not Supported, which is "MIG off", not an error.
    ScopedEnv env{{"FAKE_NVML_DEVICES", "2"},
                  {"FAKE_NVML_NAME", "Tesla V100-SXM2-32GB"},
                  {"FAKE_NVML_MEMORY_MIB", "32510"},
                  {"FAKE_NVML_MIG", "unsupported"}};
    auto got = Discover();
    ASSERT_TRUE(got.ok() && got->has_value()) << got.status().ToString();
    EXPECT_EQ((*got)->model, "V100-32GB");
    EXPECT_FALSE((*got)->devices[1].mig_enabled);
  }
}

TEST_F(DlopenNvmlTest, InitFailureCarriesNvmlsReason) {
  ScopedEnv env{{"FAKE_NVML_INIT_FAIL", "1"}};
  auto got = Discover();
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(got.status().message(), HasSubstr(std::string("NVML found (") + GPOOL_FAKE_NVML +
                                                ") but nvmlInit failed: Driver Not Loaded"));
}

TEST_F(DlopenNvmlTest, ZeroDevicesMeansNoGpus) {
  ScopedEnv env{{"FAKE_NVML_DEVICES", "0"}};
  auto got = Discover();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_FALSE(got->has_value());
}

TEST_F(DlopenNvmlTest, UnschedulableModelIsAnError) {
  ScopedEnv env{{"FAKE_NVML_NAME", "NVIDIA H100 PCIe"}};
  auto got = Discover();
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(got.status().message(), HasSubstr("NVIDIA GPU 0: (GPU-fa4e0000-0000-4000-8000-"
                                                "000000000000) no gpool GPU model for "
                                                "\"NVIDIA H100 PCIe\" (81559 MiB): the H100 PCIe "
                                                "has 114 SMs"));
}

}  // namespace
}  // namespace gpool::agent
