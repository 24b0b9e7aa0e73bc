// JobSpec: what a user submits (`gpool submit job.yaml`, `POST /v1/workloads`), validated.
//
// The same rules apply to YAML (the CLI) and JSON (the API): YAML is first turned into the JSON
// value it denotes (YamlToJson), then ParseJobSpec validates it. Every field is documented in
// docs/jobspec.md. Validation is strict: an unknown field, a wrong type, a negative or impossible
// quantity is InvalidArgument with a message that starts with the field's path
// ("resources.gpus.count: must be between 1 and 16, got 0"), so the API can answer 400 with it.
//
// Quantities are converted to the model's integers: CPU in milli-cores, memory in MiB (rounded
// up), GPU compute in milli-GPU. Pure: no I/O; thread-compatible.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/workload.h"

namespace gpool::controller {

struct JobSpec {
  std::string name;    // [a-z0-9-], 1..63, starts and ends alphanumeric
  std::string tenant;  // same alphabet; empty: the submitter's tenant (the server decides)
  core::PriorityClass priority = core::PriorityClass::kStandard;
  std::vector<std::string> command;                      // argv; never empty
  std::vector<std::pair<std::string, std::string>> env;  // sorted by name, names unique
  core::Milli cpu_milli = 1000;                          // default 1 core
  core::MiB memory_mib = 1024;                           // default 1 GiB
  core::GpuRequest gpu;                                  // count 0: no GPU
  int gang_size = 1;
  bool checkpointable = false;
  std::int64_t max_runtime_s = 0;  // 0: no limit

  bool operator==(const JobSpec&) const = default;
};

// Validates a JSON value as a job spec (see the header comment for errors).
Result<JobSpec> ParseJobSpec(const nlohmann::json& doc);

// The canonical JSON of a spec: ParseJobSpec(JobSpecToJson(s)) == s.
nlohmann::json JobSpecToJson(const JobSpec& spec);

// Parses YAML text into the JSON value it denotes: mappings -> objects, sequences -> arrays,
// plain scalars -> null/bool/integer/number/string by their YAML 1.2 core-schema spelling,
// quoted scalars -> strings. InvalidArgument "<source>:<line>:<column>: <message>" on a syntax
// error, a duplicate key, a non-string key, an alias, a tag other than !!str, or more than one
// document.
Result<nlohmann::json> YamlToJson(std::string_view text, std::string_view source);

// YamlToJson then ParseJobSpec.
Result<JobSpec> ParseJobSpecYaml(std::string_view text, std::string_view source);

// The names of jobs, tenants and nodes: 1 to 63 lowercase letters, digits and '-', starting and
// ending with a letter or digit.
bool IsValidName(std::string_view s);

// Quantity parsers, exposed for the CLI and tests. Each names `field` in its errors.
// CPU: a number of cores (2, 0.5) or milli-cores ("500m").
Result<core::Milli> ParseCpu(const nlohmann::json& v, std::string_view field);
// Memory: a string with a unit: Ki, Mi, Gi, Ti (powers of 1024) or K, M, G, T (powers of 1000);
// rounded up to whole MiB. A bare number is refused (bytes or MiB? the message asks for a unit).
Result<core::MiB> ParseMemory(const nlohmann::json& v, std::string_view field);
// Duration: seconds as an integer, or a string like "90s", "30m", "2h", "1d", "1h30m".
Result<std::int64_t> ParseDuration(const nlohmann::json& v, std::string_view field);

}  // namespace gpool::controller
