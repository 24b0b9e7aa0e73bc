#include "controller/job_spec.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/gpu_model.h"
#include "core/mig_geometry.h"

namespace gpool::controller {
namespace {

using nlohmann::json;

JobSpec MustParse(const std::string& yaml) {
  auto spec = ParseJobSpecYaml(yaml, "job.yaml");
  EXPECT_TRUE(spec.ok()) << spec.status().message();
  return spec.ok() ? *spec : JobSpec{};
}

TEST(JobSpec, MinimalSpecGetsTheDefaults) {
  const JobSpec s = MustParse("name: hello\ncommand: echo hi\n");
  EXPECT_EQ(s.name, "hello");
  EXPECT_EQ(s.tenant, "");
  EXPECT_EQ(s.priority, core::PriorityClass::kStandard);
  EXPECT_EQ(s.command, (std::vector<std::string>{"/bin/sh", "-c", "echo hi"}));
  EXPECT_EQ(s.cpu_milli, 1000);
  EXPECT_EQ(s.memory_mib, 1024);
  EXPECT_EQ(s.gpu.count, 0);
  EXPECT_EQ(s.gang_size, 1);
  EXPECT_FALSE(s.checkpointable);
  EXPECT_EQ(s.max_runtime_s, 0);
}

TEST(JobSpec, EveryFieldIsRead) {
  const JobSpec s = MustParse(R"(
name: resnet-train
tenant: vision
priority: production
command: ["python3", "train.py", "--epochs", 3]
env:
  DATA: /data/imagenet
  SEED: 42
resources:
  cpu: 8
  memory: 64Gi
  gpus:
    count: 4
    model: H100-80GB
gang: 2
checkpointable: true
max_runtime: 1d2h
)");
  EXPECT_EQ(s.tenant, "vision");
  EXPECT_EQ(s.priority, core::PriorityClass::kProduction);
  EXPECT_EQ(s.command, (std::vector<std::string>{"python3", "train.py", "--epochs", "3"}));
  EXPECT_EQ(s.env, (std::vector<std::pair<std::string, std::string>>{{"DATA", "/data/imagenet"},
                                                                     {"SEED", "42"}}));
  EXPECT_EQ(s.cpu_milli, 8000);
  EXPECT_EQ(s.memory_mib, 64 * 1024);
  EXPECT_EQ(s.gpu.count, 4);
  EXPECT_EQ(s.gpu.milli_per_gpu, 1000);
  EXPECT_EQ(s.gpu.models, core::ModelBit(core::FindGpuModel("H100-80GB").value()));
  EXPECT_EQ(s.gang_size, 2);
  EXPECT_TRUE(s.checkpointable);
  EXPECT_EQ(s.max_runtime_s, 86400 + 2 * 3600);
}

TEST(JobSpec, TheCheckpointStoreIsTheOneGpoolVariableAJobSets) {
  const JobSpec s = MustParse("name: t\ncommand: x\nenv: {GPOOL_CKPT_STORE: /data/ckpt/t}\n");
  EXPECT_EQ(s.env, (std::vector<std::pair<std::string, std::string>>{
                       {"GPOOL_CKPT_STORE", "/data/ckpt/t"}}));
}

TEST(JobSpec, GpuRequestShapes) {
  struct Case {
    std::string gpus;
    int count;
    core::Milli milli;
    core::MiB memory;
    bool mig;
  };
  const std::vector<Case> cases = {
      {"2", 2, 1000, 0, false},  // shorthand: whole GPUs
      {"{count: 8}", 8, 1000, 0, false},
      {"{share: {compute: 0.25}}", 1, 250, 0, false},  // a quarter of one GPU
      {"{share: {compute: 500m, memory: 8Gi}}", 1, 500, 8192, false},
      {"{mig: 3g.40gb}", 1, 428, 0, true},       // 3 of 7 slices: 3000/7
      {"{mig: 1g, count: 2}", 2, 142, 0, true},  // 1000/7 = 142
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.gpus);
    const JobSpec s = MustParse("name: a\ncommand: x\nresources:\n  gpus: " + c.gpus + "\n");
    EXPECT_EQ(s.gpu.count, c.count);
    EXPECT_EQ(s.gpu.milli_per_gpu, c.milli);
    EXPECT_EQ(s.gpu.memory_per_gpu, c.memory);
    EXPECT_EQ(s.gpu.mig.has_value(), c.mig);
  }
}

TEST(JobSpec, Quantities) {
  struct Case {
    json value;
    std::int64_t want;  // -1: error
  };
  const std::vector<Case> cpu = {{2, 2000},  {0.5, 500}, {"250m", 250},  {"1.5", 1500},
                                 {0, -1},    {-1, -1},   {"0.0001", -1}, {"2 cores", -1},
                                 {true, -1}, {"m", -1}};
  for (const Case& c : cpu) {
    auto r = ParseCpu(c.value, "resources.cpu");
    if (c.want < 0) {
      EXPECT_FALSE(r.ok()) << c.value;
      if (!r.ok()) {
        EXPECT_EQ(r.status().message().rfind("resources.cpu: ", 0), 0u);
      }
    } else {
      ASSERT_TRUE(r.ok()) << c.value << ": " << r.status().message();
      EXPECT_EQ(*r, c.want) << c.value;
    }
  }
  // Memory in MiB, rounded up: 1G = 10^9 B = 953.67 MiB -> 954.
  const std::vector<Case> memory = {{"16Gi", 16384},
                                    {"512Mi", 512},
                                    {"1G", 954},
                                    {"1Ti", 1048576},
                                    {"1536Ki", 2 /* 1.5 MiB, rounded up */},
                                    {"1.5Gi", 1536},
                                    {1024, -1},
                                    {"1024", -1},
                                    {"16GB", -1},
                                    {"0Mi", -1},
                                    {"-1Gi", -1}};
  for (const Case& c : memory) {
    auto r = ParseMemory(c.value, "resources.memory");
    if (c.want < 0) {
      EXPECT_FALSE(r.ok()) << c.value;
    } else {
      ASSERT_TRUE(r.ok()) << c.value << ": " << r.status().message();
      EXPECT_EQ(*r, c.want) << c.value;
    }
  }
  const std::vector<Case> durations = {{90, 90},        {"90s", 90},   {"30m", 1800}, {"2h", 7200},
                                       {"1h30m", 5400}, {"1d", 86400}, {"0s", -1},    {"2w", -1},
                                       {"h", -1},       {-5, -1},      {"", -1}};
  for (const Case& c : durations) {
    auto r = ParseDuration(c.value, "max_runtime");
    if (c.want < 0) {
      EXPECT_FALSE(r.ok()) << c.value;
    } else {
      ASSERT_TRUE(r.ok()) << c.value << ": " << r.status().message();
      EXPECT_EQ(*r, c.want) << c.value;
    }
  }
}

TEST(JobSpec, BadInputNamesTheField) {
  struct Case {
    std::string yaml;
    std::string error;  // the message must contain this
  };
  const std::vector<Case> cases = {
      {"command: x\n", "name: is required"},
      {"name: a\n", "command: is required"},
      {"name: Hello\ncommand: x\n", "name: 'Hello' is not a valid name"},
      {"name: a\ncommand: []\n", "command: is empty"},
      {"name: a\ncommand: x\nresourcs: {}\n",
       "resourcs: unknown field 'resourcs' (did you mean 'resources'?)"},
      {"name: a\ncommand: x\nresources: {gpus: {count: 0}}\n",
       "resources.gpus.count: must be between 1 and 16, got 0"},
      {"name: a\ncommand: x\nresources: {gpus: -2}\n", "resources.gpus: must be between 0 and 16"},
      {"name: a\ncommand: x\nresources: {gpus: {count: 1, model: Z80}}\n", "resources.gpus.model:"},
      {"name: a\ncommand: x\nresources: {gpus: {mig: 9g}}\n", "resources.gpus.mig:"},
      {"name: a\ncommand: x\nresources: {gpus: {share: {compute: 1.5}}}\n",
       "resources.gpus.share.compute: a share is more than 0 and less than one GPU"},
      {"name: a\ncommand: x\nresources: {gpus: {share: {compute: 0.5}, mig: 1g}}\n",
       "give mig or share, not both"},
      {"name: a\ncommand: x\nresources: {memory: 1024}\n", "resources.memory: give a unit"},
      {"name: a\ncommand: x\nresources: {cpu: -1}\n", "resources.cpu:"},
      {"name: a\ncommand: x\npriority: urgent\n", "priority: 'urgent' is not a priority class"},
      {"name: a\ncommand: x\ngang: 0\n", "gang: must be between 1 and 1024, got 0"},
      {"name: a\ncommand: x\ncheckpointable: yes\n",
       "checkpointable: expected true or false, got a string"},
      {"name: a\ncommand: x\nenv: {GPOOL_SLICE: x}\n", "env.GPOOL_SLICE: is set by gpool"},
      {"name: a\ncommand: x\nenv: {1BAD: x}\n", "env.1BAD: not a valid variable name"},
      {"name: a\ncommand: x\nmax_runtime: soon\n", "max_runtime: expected a duration"},
      {"- name: a\n", "job spec: expected a mapping"},
      {"name: a\nname: b\ncommand: x\n", "job.yaml:2:1: duplicate key 'name'"},
      {"name: a\ncommand: [x\n", "job.yaml:"},
      {"name: a\ncommand: x\n---\nname: b\ncommand: y\n", "holds several YAML documents"},
      {"", "the file is empty"},
      {"name: a\ncommand: *x\n", "job.yaml:2:10:"},  // an alias (undefined, so a parse error)
      {"a: &x 1\nb: *x\n", "aliases (*name) are not supported"},
      {"name: !!binary aGk=\ncommand: x\n", "tag 'tag:yaml.org,2002:binary' is not supported"},
      // Found by fuzz/job_spec_fuzz.cc: Debian's yaml-cpp 0.7 loops forever on this; libyaml
      // reports the syntax error.
      {"  , \"4\"\n", "job.yaml:1:3:"},
      {"# A note on a quarter of one GP8\" 8U88\"]\xd7  compute: 0.25\n  , \"4\", \"--nprocs\n",
       "job.yaml:"},
  };
  for (const Case& c : cases) {
    auto r = ParseJobSpecYaml(c.yaml, "job.yaml");
    ASSERT_FALSE(r.ok()) << c.yaml;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.error), std::string::npos)
        << "yaml:\n"
        << c.yaml << "\nmessage: " << r.status().message();
  }
}

TEST(JobSpec, YamlScalarsFollowTheCoreSchema) {
  auto j = YamlToJson("a: 12\nb: '12'\nc: 1.5\nd: true\ne: ~\nf: 0x1F\ng: hello\nh: -3\ni: 1e3\n",
                      "t.yaml");
  ASSERT_TRUE(j.ok()) << j.status().message();
  EXPECT_EQ((*j)["a"], 12);
  EXPECT_EQ((*j)["b"], "12");  // quoted: a string
  EXPECT_EQ((*j)["c"], 1.5);
  EXPECT_EQ((*j)["d"], true);
  EXPECT_TRUE((*j)["e"].is_null());
  EXPECT_EQ((*j)["f"], 31);
  EXPECT_EQ((*j)["g"], "hello");
  EXPECT_EQ((*j)["h"], -3);
  EXPECT_EQ((*j)["i"], 1000.0);
}

TEST(JobSpec, JsonRoundTrip) {
  const std::vector<std::string> specs = {
      "name: a\ncommand: x\n",
      "name: b\ntenant: t\npriority: opportunistic\ncommand: [a, b]\nenv: {X: '1'}\n"
      "resources: {cpu: 250m, memory: 3Gi, gpus: {share: {compute: 300m, memory: 2Gi}}}\n",
      "name: c\ncommand: x\nresources: {gpus: {mig: 2g.20gb, count: 3, models: [A100-80GB]}}\n"
      "gang: 4\ncheckpointable: true\nmax_runtime: 3h\n",
      "name: d\ncommand: x\nresources: {gpus: {count: 2, models: [A100-80GB, H100-80GB]}}\n",
  };
  for (const std::string& y : specs) {
    const JobSpec s = MustParse(y);
    auto again = ParseJobSpec(JobSpecToJson(s));
    ASSERT_TRUE(again.ok()) << JobSpecToJson(s).dump() << ": " << again.status().message();
    EXPECT_EQ(*again, s) << JobSpecToJson(s).dump();
  }
}

TEST(JobSpec, ShippedExamplesParse) {
  const std::filesystem::path dir = std::filesystem::path(GPOOL_SOURCE_DIR) / "examples";
  int seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    std::ifstream in(entry.path());
    std::stringstream ss;
    ss << in.rdbuf();
    auto spec = ParseJobSpecYaml(ss.str(), entry.path().filename().string());
    EXPECT_TRUE(spec.ok()) << spec.status().message();
    ++seen;
  }
  EXPECT_GE(seen, 4);
}

}  // namespace
}  // namespace gpool::controller
