// Cluster: the pool's nodes, their devices and what is allocated on them.
//
// A Node is static description (capacity, GPU model, labels); a NodeState is its current
// allocation. All GPUs of a node are of one model (true of the servers gpool targets; a node
// with mixed cards is registered as several nodes). A device is used in one of three modes:
// idle, whole (one workload owns it), shared (shares of compute/memory), or MIG (instances).
// Changing mode needs the device idle; an idle MIG-capable device is reconfigured on demand.
//
// ClusterState changes only through the named operations Bind and Release, which check their
// preconditions and return a Status; NodeState's inspection helpers are pure and allocation
// free (they sit on the scheduler's hot path).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/workload.h"

namespace gpool::core {

inline constexpr int kMaxDevicesPerNode = 16;

struct NodeLabels {
  std::string site;
  std::string rack;
  std::int64_t cost_micro_per_gpu_hour =
      0;  // price of one GPU-hour in millionths of a currency unit
};

struct Node {
  std::string name;
  Milli cpu_milli = 0;
  MiB memory_mib = 0;
  int gpu_count = 0;       // <= kMaxDevicesPerNode
  GpuModelId model = 0;    // meaningful only when gpu_count > 0
  MiB gpu_memory_mib = 0;  // per device
  NodeLabels labels;
};

// One slice of one device given to a workload.
struct Slice {
  SliceKind kind = SliceKind::kWhole;
  int device = 0;      // index of the device on its node
  Milli milli = 0;     // compute taken (whole: 1000; MIG: MigMilli)
  MiB memory_mib = 0;  // share: memory limit taken (0 = none)
  MigPlacement mig{};  // kind == kMig only
  bool operator==(const Slice&) const = default;
};

// "whole#3", "share#0:500m/4096MiB", "mig#2:3g.40gb@4"
std::string FormatSlice(const Slice& s, MigFamily family);

struct DeviceState {
  std::int32_t free_milli = kWholeGpuMilli;
  std::int32_t free_memory_mib = 0;
  MigOccupancy mig;         // non-empty: device is in MIG mode
  std::uint8_t shares = 0;  // number of share slices on it

  bool Idle() const { return free_milli == kWholeGpuMilli && shares == 0 && mig.Empty(); }
  bool InMigMode() const { return !mig.Empty(); }
  bool operator==(const DeviceState&) const = default;
};

struct NodeState {
  Milli cpu_free = 0;
  MiB memory_free = 0;
  std::int32_t workloads = 0;
  std::int32_t gpu_count = 0;
  std::array<DeviceState, kMaxDevicesPerNode> devices{};
  // How many GPU workloads of each kind the node holds, by WorkloadTag.
  std::array<std::uint16_t, 18> tag_counts{};

  Milli FreeGpuMilli() const;
  Milli UsedGpuMilli() const { return gpu_count * kWholeGpuMilli - FreeGpuMilli(); }
  int IdleDevices() const;
};

NodeState InitialState(const Node& node);

// A compact digest of a node's state: the filter's first pass reads only these (32 bytes a node,
// so a scan of thousands of nodes stays in cache). Kept current by ClusterState.
struct NodeSummary {
  Milli cpu_free = 0;
  MiB memory_free = 0;
  std::int32_t max_share_milli = 0;  // most free compute on one device not in MIG mode
  std::uint8_t idle_devices = 0;
  std::uint8_t mig_open_devices = 0;  // MIG-capable devices that are idle or in MIG mode
  GpuModelId model = 0;
  std::uint8_t gpu_count = 0;
};
NodeSummary Summarize(const Node& node, const NodeState& state);
// False only if w certainly does not fit now (a necessary condition; FitFilter decides).
bool MayFit(const NodeSummary& s, const Workload& w);

// Can device `d` host one unit of request `gpu` (one whole GPU, one share, one MIG instance)?
// For MIG also reports the lowest legal start in *mig_start. Pure.
bool DeviceCanHost(const DeviceState& d, const GpuRequest& gpu, MigFamily family, int* mig_start);

// Device memory that a MIG instance of profile p owns: eighths of the device's memory.
MiB MigSliceMemory(MigProfile p, MiB device_memory);

// Apply / undo one slice on a node's state. REQUIRES: the slice fits (checked by assert).
void TakeSlice(NodeState& n, const Slice& s);
void ReturnSlice(NodeState& n, const Slice& s);

// The kind of a GPU workload by its slices: 0 = share, k = k whole GPUs, 17 = MIG; -1 = CPU-only.
struct Binding;
int WorkloadTag(const Binding& b);

// A workload's allocation on one node.
struct Binding {
  WorkloadId workload = 0;
  int node = 0;  // index into ClusterState::nodes
  Milli cpu_milli = 0;
  MiB memory_mib = 0;
  std::vector<Slice> slices;
};

// Does binding b fit node's state?  Ok, or Conflict / InvalidArgument saying what does not fit.
Status CheckBinding(const Node& node, const NodeState& state, const Binding& b);
// REQUIRES: CheckBinding(...) was ok.
void ApplyBinding(NodeState& state, const Binding& b);
// REQUIRES: b was applied to state.
void UnapplyBinding(NodeState& state, const Binding& b);

class ClusterState {
 public:
  ClusterState() = default;
  explicit ClusterState(std::vector<Node> nodes);

  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<NodeState>& states() const { return states_; }
  const Node& node(int i) const { return nodes_[static_cast<size_t>(i)]; }
  const NodeState& state(int i) const { return states_[static_cast<size_t>(i)]; }
  const NodeSummary& summary(int i) const { return summaries_[static_cast<size_t>(i)]; }
  int size() const { return static_cast<int>(nodes_.size()); }

  Milli total_gpu_milli() const { return total_gpu_milli_; }
  Milli used_gpu_milli() const { return used_gpu_milli_; }

  // BindWorkload: takes the binding's CPU, memory and slices on its node.
  // Conflict if anything no longer fits (nothing is changed then).
  Status Bind(const Binding& b);
  // ReleaseWorkload: gives back what Bind took. REQUIRES: b was bound.
  void Release(const Binding& b);

 private:
  std::vector<Node> nodes_;
  std::vector<NodeState> states_;
  std::vector<NodeSummary> summaries_;
  Milli total_gpu_milli_ = 0;
  Milli used_gpu_milli_ = 0;
};

}  // namespace gpool::core
