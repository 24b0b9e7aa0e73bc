// RecordCodec: the store's JSON records of nodes and bindings (api.h, reconciler.h) to and from
// the scheduler's model (core::Node, core::Binding, core::Slice, core::Workload). One place, so
// the reconcile pass, tools and benchmarks read records the same way.
//
// Readers never throw: a record of the wrong shape is `false` (nodes) or skipped (slices), for
// the caller to count as malformed. Pure; thread-compatible.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "controller/job_spec.h"
#include "core/cluster.h"
#include "core/workload.h"

namespace gpool::controller {

// A node record {name, cpu_milli, memory_mib, gpus, model, gpu_memory_mib?}: false for a record
// that is not a node (a wrong type anywhere included: the API validates what it writes, but a
// store edited by hand must not stop the loop).
bool NodeFromJson(const nlohmann::json& j, core::Node* n);

// A slice {kind: whole|mig|share, device, milli, memory_mib?, mig_profile?, mig_start?}.
nlohmann::json SliceToJson(const core::Slice& s);
bool SliceFromJson(const nlohmann::json& j, core::Slice* s);

// A binding {node, cpu_milli, memory_mib, slices}; `node` is the index of that node in the
// caller's ClusterState. Slices that do not parse are left out.
nlohmann::json BindingToJson(const core::Binding& b, const std::string& node);
core::Binding BindingFromJson(const nlohmann::json& b, int node, core::WorkloadId workload);

// The scheduler's workload for gang member `member` of `spec` (name suffixed "-<member>" in a
// gang).
core::Workload WorkloadFromSpec(const JobSpec& spec, core::WorkloadId id, int member);

}  // namespace gpool::controller
