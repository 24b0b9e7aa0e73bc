#include "core/cluster.h"

#include <algorithm>
#include <cassert>
#include <string>

namespace gpool::core {

std::string FormatSlice(const Slice& s, MigFamily family) {
  const std::string dev = "#" + std::to_string(s.device);
  switch (s.kind) {
    case SliceKind::kWhole:
      return "whole" + dev;
    case SliceKind::kShare: {
      std::string out = "share" + dev + ":" + std::to_string(s.milli) + "m";
      if (s.memory_mib > 0) out += "/" + std::to_string(s.memory_mib) + "MiB";
      return out;
    }
    case SliceKind::kMig:
      return "mig" + dev + ":" + FormatMigPlacement(s.mig, family);
  }
  return "?";
}

Milli NodeState::FreeGpuMilli() const {
  Milli f = 0;
  for (int j = 0; j < gpu_count; ++j) f += devices[static_cast<size_t>(j)].free_milli;
  return f;
}

int NodeState::IdleDevices() const {
  int n = 0;
  for (int j = 0; j < gpu_count; ++j) n += devices[static_cast<size_t>(j)].Idle() ? 1 : 0;
  return n;
}

NodeState InitialState(const Node& node) {
  assert(node.gpu_count >= 0 && node.gpu_count <= kMaxDevicesPerNode);
  NodeState s;
  s.cpu_free = node.cpu_milli;
  s.memory_free = node.memory_mib;
  s.gpu_count = node.gpu_count;
  for (int j = 0; j < node.gpu_count; ++j) {
    s.devices[static_cast<size_t>(j)].free_memory_mib =
        static_cast<std::int32_t>(node.gpu_memory_mib);
  }
  return s;
}

NodeSummary Summarize(const Node& node, const NodeState& state) {
  NodeSummary s;
  s.cpu_free = state.cpu_free;
  s.memory_free = state.memory_free;
  s.model = node.model;
  s.gpu_count = static_cast<std::uint8_t>(state.gpu_count);
  const bool mig_capable = node.gpu_count > 0 && GetGpuModel(node.model).mig != MigFamily::kNone;
  for (int j = 0; j < state.gpu_count; ++j) {
    const DeviceState& d = state.devices[static_cast<size_t>(j)];
    if (d.Idle()) s.idle_devices += 1;
    if (!d.InMigMode()) s.max_share_milli = std::max(s.max_share_milli, d.free_milli);
    if (mig_capable && (d.Idle() || d.InMigMode())) s.mig_open_devices += 1;
  }
  return s;
}

bool MayFit(const NodeSummary& s, const Workload& w) {
  if (s.cpu_free < w.cpu_milli || s.memory_free < w.memory_mib) return false;
  const GpuRequest& g = w.gpu;
  if (!g.NeedsGpu()) return true;
  if (s.gpu_count < g.count || !ModelAllowed(g.models, s.model)) return false;
  switch (g.Kind()) {
    case SliceKind::kWhole:
      return s.idle_devices >= g.count;
    case SliceKind::kShare:
      return s.max_share_milli >= g.milli_per_gpu;
    case SliceKind::kMig:
      return s.mig_open_devices > 0;
  }
  return true;
}

bool DeviceCanHost(const DeviceState& d, const GpuRequest& gpu, MigFamily family, int* mig_start) {
  switch (gpu.Kind()) {
    case SliceKind::kWhole:
      return d.Idle();
    case SliceKind::kShare:
      if (d.InMigMode()) return false;
      if (d.free_milli < gpu.milli_per_gpu) return false;
      return gpu.memory_per_gpu == 0 || d.free_memory_mib >= gpu.memory_per_gpu;
    case SliceKind::kMig: {
      if (family == MigFamily::kNone) return false;
      if (d.shares > 0 || (d.free_milli < kWholeGpuMilli && d.mig.Empty())) return false;
      const int start = d.mig.FirstFit(*gpu.mig);
      if (mig_start != nullptr) *mig_start = start;
      return start >= 0;
    }
  }
  return false;
}

MiB MigSliceMemory(MigProfile p, MiB device_memory) {
  return device_memory * GetMigShape(p).memory_slices / kMigMemorySlices;
}

void TakeSlice(NodeState& n, const Slice& s) {
  assert(s.device >= 0 && s.device < n.gpu_count);
  DeviceState& d = n.devices[static_cast<size_t>(s.device)];
  switch (s.kind) {
    case SliceKind::kWhole:
      assert(d.Idle());
      d.free_milli = 0;
      break;
    case SliceKind::kShare:
      assert(!d.InMigMode() && d.free_milli >= s.milli && d.free_memory_mib >= s.memory_mib);
      d.free_milli -= static_cast<std::int32_t>(s.milli);
      d.free_memory_mib -= static_cast<std::int32_t>(s.memory_mib);
      d.shares += 1;
      break;
    case SliceKind::kMig:
      assert(d.mig.CanPlace(s.mig.profile, s.mig.start));
      d.mig.Place(s.mig.profile, s.mig.start);
      d.free_milli -= static_cast<std::int32_t>(s.milli);
      d.free_memory_mib -= static_cast<std::int32_t>(s.memory_mib);
      break;
  }
}

void ReturnSlice(NodeState& n, const Slice& s) {
  assert(s.device >= 0 && s.device < n.gpu_count);
  DeviceState& d = n.devices[static_cast<size_t>(s.device)];
  switch (s.kind) {
    case SliceKind::kWhole:
      assert(d.free_milli == 0);
      d.free_milli = kWholeGpuMilli;
      break;
    case SliceKind::kShare:
      assert(d.shares > 0);
      d.free_milli += static_cast<std::int32_t>(s.milli);
      d.free_memory_mib += static_cast<std::int32_t>(s.memory_mib);
      d.shares -= 1;
      break;
    case SliceKind::kMig:
      d.mig.Remove(s.mig.profile, s.mig.start);
      d.free_milli += static_cast<std::int32_t>(s.milli);
      d.free_memory_mib += static_cast<std::int32_t>(s.memory_mib);
      break;
  }
}

ClusterState::ClusterState(std::vector<Node> nodes) : nodes_(std::move(nodes)) {
  states_.reserve(nodes_.size());
  for (const Node& n : nodes_) {
    states_.push_back(InitialState(n));
    summaries_.push_back(Summarize(n, states_.back()));
    total_gpu_milli_ += n.gpu_count * kWholeGpuMilli;
  }
}

int WorkloadTag(const Binding& b) {
  if (b.slices.empty()) return -1;
  switch (b.slices.front().kind) {
    case SliceKind::kShare:
      return 0;
    case SliceKind::kMig:
      return 17;
    case SliceKind::kWhole:
      return static_cast<int>(std::min<size_t>(b.slices.size(), 16));
  }
  return -1;
}

Status CheckBinding(const Node& node, const NodeState& state, const Binding& b) {
  if (state.cpu_free < b.cpu_milli || state.memory_free < b.memory_mib) {
    return Status::Conflict("node " + node.name + " lacks CPU or memory for workload " +
                            std::to_string(b.workload));
  }
  NodeState next = state;
  const MigFamily family = node.gpu_count > 0 ? GetGpuModel(node.model).mig : MigFamily::kNone;
  for (const Slice& s : b.slices) {
    if (s.device < 0 || s.device >= node.gpu_count) {
      return Status::InvalidArgument("slice names device " + std::to_string(s.device) +
                                     " on node " + node.name + " which has " +
                                     std::to_string(node.gpu_count));
    }
    // The compute a slice takes follows from its kind: callers cannot book less than they use.
    const bool amount_ok =
        (s.kind == SliceKind::kWhole && s.milli == kWholeGpuMilli) ||
        (s.kind == SliceKind::kShare && s.milli > 0 && s.milli < kWholeGpuMilli) ||
        (s.kind == SliceKind::kMig && s.milli == MigMilli(s.mig.profile));
    if (!amount_ok || s.memory_mib < 0) {
      return Status::InvalidArgument("slice " + FormatSlice(s, family) + " on node " + node.name +
                                     " books " + std::to_string(s.milli) +
                                     " milli, which does not match its kind");
    }
    const DeviceState& d = next.devices[static_cast<size_t>(s.device)];
    bool fits = false;
    switch (s.kind) {
      case SliceKind::kWhole:
        fits = d.Idle();
        break;
      case SliceKind::kShare:
        fits = !d.InMigMode() && s.milli > 0 && d.free_milli >= s.milli &&
               d.free_memory_mib >= s.memory_mib;
        break;
      case SliceKind::kMig:
        fits = family != MigFamily::kNone && d.shares == 0 &&
               !(d.mig.Empty() && d.free_milli < kWholeGpuMilli) &&
               d.mig.CanPlace(s.mig.profile, s.mig.start);
        break;
    }
    if (!fits) {
      return Status::Conflict("slice " + FormatSlice(s, family) + " is not free on node " +
                              node.name);
    }
    TakeSlice(next, s);
  }
  return Status::Ok();
}

void ApplyBinding(NodeState& st, const Binding& b) {
  st.cpu_free -= b.cpu_milli;
  st.memory_free -= b.memory_mib;
  st.workloads += 1;
  for (const Slice& s : b.slices) TakeSlice(st, s);
  const int tag = WorkloadTag(b);
  if (tag >= 0) st.tag_counts[static_cast<size_t>(tag)] += 1;
}

void UnapplyBinding(NodeState& st, const Binding& b) {
  st.cpu_free += b.cpu_milli;
  st.memory_free += b.memory_mib;
  st.workloads -= 1;
  for (const Slice& s : b.slices) ReturnSlice(st, s);
  const int tag = WorkloadTag(b);
  if (tag >= 0) {
    assert(st.tag_counts[static_cast<size_t>(tag)] > 0);
    st.tag_counts[static_cast<size_t>(tag)] -= 1;
  }
}

Status ClusterState::Bind(const Binding& b) {
  if (b.node < 0 || b.node >= size()) {
    return Status::InvalidArgument("binding names node index " + std::to_string(b.node) +
                                   " but the cluster has " + std::to_string(size()) + " nodes");
  }
  NodeState& st = states_[static_cast<size_t>(b.node)];
  if (Status s = CheckBinding(nodes_[static_cast<size_t>(b.node)], st, b); !s.ok()) return s;
  ApplyBinding(st, b);
  summaries_[static_cast<size_t>(b.node)] = Summarize(nodes_[static_cast<size_t>(b.node)], st);
  for (const Slice& s : b.slices) used_gpu_milli_ += s.milli;
  return Status::Ok();
}

void ClusterState::Release(const Binding& b) {
  UnapplyBinding(states_[static_cast<size_t>(b.node)], b);
  summaries_[static_cast<size_t>(b.node)] =
      Summarize(nodes_[static_cast<size_t>(b.node)], states_[static_cast<size_t>(b.node)]);
  for (const Slice& s : b.slices) used_gpu_milli_ -= s.milli;
}

static_assert(sizeof(DeviceState) <= 16, "DeviceState sits on the hot path: keep it small");
static_assert(sizeof(NodeSummary) <= 32,
              "NodeSummary is scanned for every placement: keep it small");

}  // namespace gpool::core
