// PhillyTrace: the Microsoft Philly job traces and the co-location throughput table as the Gavel
// scheduler (stanford-futuredata/gavel, OSDI'20) replays them; see shared/traces/README.md.
//
// Job traces (philly_vcs/<vc>.trace): one job per line, 7 tab-separated fields
//   job type, command, steps flag, needs-data flag (0/1), total steps, arrival time (s), GPUs.
// The job type carries no scale ("ResNet-18 (batch size 16)"); the GPU count is the last field.
// Fields are kept verbatim (commands may end with a space). Blank lines and a '\r' before '\n' are
// accepted. Errors are InvalidArgument "source:line: field N (name): message".
// What the shared traces hold (checked by tests/sim/philly_trace_test.cc): 15 files, 15,264 jobs;
// GPU counts 1, 2, 4, 7, 8, 12, 16, 20, 24, 32 and one job with 64 (the README says 1..32).
//
// Throughput table (simulation_throughputs.json): GPU type -> "('Job type', scale)" ->
//   {"null": steps/s alone, "('Other type', scale)": [own steps/s, other's steps/s] when the two
//   jobs share one GPU}. What the shared file holds:
//   - GPU types k80, p100, v100 and k80_unconsolidated, p100_unconsolidated, v100_unconsolidated.
//   - Scales 1, 2, 4 and 8 only, where scale = the job's number of GPUs. All 26 job types exist at
//     scale 1; A3C, CycleGAN and the five Recommendation types exist at scale 1 only (and
//     k80_unconsolidated also lacks ResNet-50 batch 64 and 128 at scales 2, 4, 8).
//   - Pairs are only listed between keys of the same scale, and the table is symmetric:
//     entry (a, b) = {x, y} exactly when entry (b, a) = {y, x}.
//   - A pair speed of 0.0 means the two jobs cannot share a GPU (they do not fit together).
// So a trace job maps to JobKey{job_type, gpus} only for gpus in {1, 2, 4, 8} (and, for the
// scale-1-only types, gpus == 1). Of the 15,264 shared trace jobs, 13,716 have such a key; 361 ask
// for 7, 12, 16, 20, 24, 32 or 64 GPUs, and 1,187 more are 2-, 4- or 8-GPU jobs of a
// scale-1-only type. Every job type has a scale-1 key on k80, p100 and v100. Which fallback to use
// for the rest is the caller's decision; this module only reports NotFound.
//
// Thread safety: ThroughputTable is immutable after Parse; const methods are safe to call from
// several threads. The free functions share no state.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace gpool::sim {

struct PhillyJob {
  std::string team;  // the virtual cluster: the trace file's stem
  std::string job_type;
  std::string command;
  std::string steps_flag;
  bool needs_data = false;
  std::int64_t total_steps = 0;  // >= 0
  double arrival_s = 0;          // seconds from the trace start, finite and >= 0
  int gpus = 1;                  // >= 1
};

// Parses one trace file's text; every job gets `team`. Jobs in line order.
Result<std::vector<PhillyJob>> ParsePhillyTrace(std::string_view text, std::string_view team,
                                                std::string_view source_name);

// Reads every regular file named *.trace in `dir` (not recursive), in sorted file-name order, with
// team = the file name without ".trace"; jobs of one file stay in file order. NotFound when the
// directory does not exist or holds no *.trace file; Unavailable on other I/O failures.
Result<std::vector<PhillyJob>> ReadPhillyDir(const std::string& dir);

// A throughput table key: the job type and its scale (number of GPUs).
struct JobKey {
  std::string job_type;
  int scale = 1;
  auto operator<=>(const JobKey&) const = default;
};

// "('ResNet-18 (batch size 16)', 1)" -> {ResNet-18 (batch size 16), 1}. The name may contain
// parentheses and commas; the scale is the integer after the last comma. Single or double quotes;
// the backslash escapes \\ \' \" of Python's repr are undone. InvalidArgument otherwise.
Result<JobKey> ParseJobKey(std::string_view text);
// The inverse, in the file's spelling: "('<type>', <scale>)".
std::string FormatJobKey(const JobKey& key);

struct ColocatedSpeed {
  double own;    // steps/s of the first job
  double other;  // steps/s of the second job
};

class ThroughputTable {
 public:
  // Errors are InvalidArgument naming the source: malformed JSON with the parser's byte position,
  // or a value of the wrong shape with the path of keys leading to it.
  static Result<ThroughputTable> Parse(std::string_view json_text, std::string_view source_name);
  // Read errors as in ReadPhillyDir, then Parse with the path as source name.
  static Result<ThroughputTable> Read(const std::string& path);

  // Steps/s of `job` alone on `gpu_type`; NotFound naming the job and the GPU type if absent.
  Result<double> Alone(std::string_view gpu_type, const JobKey& job) const;
  // Speeds when a and b share one GPU: {a's speed, b's speed}. Looks up a's entry for b, or else
  // b's entry for a (swapped). NotFound if neither exists.
  Result<ColocatedSpeed> Colocated(std::string_view gpu_type, const JobKey& a,
                                   const JobKey& b) const;

  // Sorted.
  std::vector<std::string> GpuTypes() const;
  // The keys of `gpu_type`, sorted by (job_type, scale); empty for an unknown GPU type.
  std::vector<JobKey> Jobs(std::string_view gpu_type) const;

 private:
  struct JobEntry {
    std::optional<double> alone;  // absent when the entry has no "null" member
    std::map<JobKey, ColocatedSpeed> pairs;
  };
  using GpuEntry = std::map<JobKey, JobEntry>;

  std::map<std::string, GpuEntry, std::less<>> gpus_;
};

}  // namespace gpool::sim
