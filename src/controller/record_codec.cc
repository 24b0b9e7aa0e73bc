#include "controller/record_codec.h"

#include <string>

#include "core/gpu_model.h"

namespace gpool::controller {

using nlohmann::json;

bool NodeFromJson(const json& j, core::Node* n) try {
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string()) return false;
  n->name = j["name"];
  n->cpu_milli = j.value("cpu_milli", core::Milli{0});
  n->memory_mib = j.value("memory_mib", core::MiB{0});
  n->gpu_count = j.value("gpus", 0);
  if (n->gpu_count < 0 || n->gpu_count > core::kMaxDevicesPerNode) return false;
  if (n->gpu_count > 0) {
    auto model = core::FindGpuModel(j.value("model", std::string()));
    if (!model.ok()) return false;
    n->model = *model;
    n->gpu_memory_mib = j.value("gpu_memory_mib", core::GetGpuModel(*model).memory_mib);
  }
  return true;
} catch (const json::exception&) {
  return false;
}

json SliceToJson(const core::Slice& s) {
  json j = {{"kind", s.kind == core::SliceKind::kWhole ? "whole"
                     : s.kind == core::SliceKind::kMig ? "mig"
                                                       : "share"},
            {"device", s.device},
            {"milli", s.milli}};
  if (s.memory_mib > 0) j["memory_mib"] = s.memory_mib;
  if (s.kind == core::SliceKind::kMig) {
    j["mig_profile"] = static_cast<int>(s.mig.profile);
    j["mig_start"] = s.mig.start;
  }
  return j;
}

bool SliceFromJson(const json& j, core::Slice* s) {
  if (!j.is_object()) return false;
  const std::string kind = j.value("kind", std::string());
  if (kind == "whole") {
    s->kind = core::SliceKind::kWhole;
  } else if (kind == "mig") {
    s->kind = core::SliceKind::kMig;
    s->mig.profile = static_cast<core::MigProfile>(j.value("mig_profile", 0));
    s->mig.start = j.value("mig_start", 0);
  } else if (kind == "share") {
    s->kind = core::SliceKind::kShare;
  } else {
    return false;
  }
  s->device = j.value("device", 0);
  s->milli = j.value("milli", core::Milli{0});
  s->memory_mib = j.value("memory_mib", core::MiB{0});
  return true;
}

json BindingToJson(const core::Binding& b, const std::string& node) {
  json slices = json::array();
  for (const core::Slice& s : b.slices) slices.push_back(SliceToJson(s));
  return {
      {"node", node}, {"cpu_milli", b.cpu_milli}, {"memory_mib", b.memory_mib}, {"slices", slices}};
}

core::Binding BindingFromJson(const json& b, int node, core::WorkloadId workload) {
  core::Binding binding;
  binding.workload = workload;
  binding.node = node;
  binding.cpu_milli = b.value("cpu_milli", core::Milli{0});
  binding.memory_mib = b.value("memory_mib", core::MiB{0});
  if (const auto sl = b.find("slices"); sl != b.end() && sl->is_array()) {
    for (const json& s : *sl) {
      core::Slice slice;
      if (SliceFromJson(s, &slice)) binding.slices.push_back(slice);
    }
  }
  return binding;
}

core::Workload WorkloadFromSpec(const JobSpec& spec, core::WorkloadId id, int member) {
  core::Workload w;
  w.id = id;
  w.name = spec.name + (spec.gang_size > 1 ? "-" + std::to_string(member) : "");
  w.tenant = spec.tenant;
  w.cpu_milli = spec.cpu_milli;
  w.memory_mib = spec.memory_mib;
  w.gpu = spec.gpu;
  w.priority = spec.priority;
  w.gang_size = spec.gang_size;
  w.checkpointable = spec.checkpointable;
  return w;
}

}  // namespace gpool::controller
