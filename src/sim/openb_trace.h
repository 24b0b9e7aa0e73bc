// OpenbTrace: the node and pod lists of the Alibaba GPU-sharing cluster trace "openb"
// (alibaba/clusterdata cluster-trace-gpu-v2023, the trace of the FGD paper, USENIX ATC'23).
//
// What the parser guarantees:
//   - Columns are found by header name, in any order. Required columns:
//       nodes: sn, cpu_milli, memory_mib, gpu, model
//       pods:  name, cpu_milli, memory_mib, num_gpu, gpu_milli   (gpu_spec optional: the
//              multigpu* files stop after gpu_milli)
//     Other columns (qos, pod_phase, times) are ignored.
//   - A UTF-8 byte order mark, CRLF line ends and blank lines (e.g. a trailing empty line) are
//     accepted. Fields are not quoted in this trace: a comma always separates two fields.
//   - Values are kept raw, in file order: gpu_milli is not clamped and num_gpu == 0 pods keep their
//     gpu_milli (the simulator normalises, see shared/specs/openb-experiment.md section 1.2). The
//     one exception is gpu_spec: split on '|', empty pieces dropped, re-joined with '|', otherwise
//     verbatim (duplicate models stay); "NaN", "nan" or empty become "" (no constraint).
//   - Validation: every integer field parses completely and is non-negative; gpu and num_gpu are at
//     most 64; sn and name are non-empty; node sn are unique; every row has exactly as many fields
//     as the header. A file with no header, or a header without a required column, is an error.
//   - Errors are InvalidArgument, "source:line:column (name): message", line 1-based counting the
//     header, column the 1-based field index, e.g.
//       pods.csv:17:3 (memory_mib): expected a non-negative integer, got "12x"
//     Errors not about one field read "source:line: message".
//   - Read* return NotFound (no such file) or Unavailable (any other I/O failure) with the path and
//     the system's reason; then they behave exactly like Parse*, with the path as source name.
//
// Units: CPU in milli-cores, memory in MiB, gpu_milli in thousandths of one GPU per GPU.
// Thread safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace gpool::sim {

// One row of openb_node_list_*.csv.
struct OpenbNode {
  std::string sn;  // the node's identity, unique in a file
  std::int64_t cpu_milli = 0;
  std::int64_t memory_mib = 0;
  int gpus = 0;       // column "gpu"; 0 for the CPU-only nodes of openb_node_list_all_node.csv
  std::string model;  // P100, T4, V100M16, V100M32, G2, G3, A10; empty on CPU-only nodes
};

// One row of openb_pod_list_*.csv.
struct OpenbPod {
  std::string name;
  std::int64_t cpu_milli = 0;
  std::int64_t memory_mib = 0;
  int num_gpu = 0;             // > 1: that many whole GPUs
  std::int64_t gpu_milli = 0;  // per GPU, raw (may be 0 or above 1000)
  std::string gpu_spec;        // normalised; "" = any model, else models joined by '|'
};

Result<std::vector<OpenbNode>> ParseOpenbNodes(std::string_view csv_text,
                                               std::string_view source_name);
Result<std::vector<OpenbPod>> ParseOpenbPods(std::string_view csv_text,
                                             std::string_view source_name);

Result<std::vector<OpenbNode>> ReadOpenbNodes(const std::string& path);
Result<std::vector<OpenbPod>> ReadOpenbPods(const std::string& path);

// The gpu_spec normalisation described above, exposed for the callers that build specs themselves.
std::string NormalizeGpuSpec(std::string_view raw);

}  // namespace gpool::sim
