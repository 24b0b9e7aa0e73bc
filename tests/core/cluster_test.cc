// ClusterState's named operations Bind and Release: CPU, memory and GPU accounting, conflicts
// (nothing is double-booked, nothing changes on a failed Bind), the exclusivity of device modes
// (whole / shares / MIG) and WorkloadTag.
#include "core/cluster.h"

#include <gtest/gtest.h>

#include <vector>

#include "../sched/test_builders.h"

namespace gpool::core {
namespace {

using test::BindingFor;
using test::MakeNode;
using test::MakeWorkload;

// 4 A100-80GB (81920 MiB each), 16 cores, 64 GiB; and a 2-T4 node (not MIG capable).
const Node kA100 = MakeNode("a100").Cpu(16000).Memory(65536).Gpus(4, "A100-80GB");
const Node kT4 = MakeNode("t4").Cpu(8000).Memory(32768).Gpus(2, "T4");

Milli SumOfNodeUsed(const ClusterState& c) {
  Milli used = 0;
  for (int i = 0; i < c.size(); ++i) used += c.state(i).UsedGpuMilli();
  return used;
}

TEST(ClusterBindRelease, AccountsCpuMemoryAndGpu) {
  ClusterState c({kA100, kT4});
  EXPECT_EQ(c.total_gpu_milli(), 6000);  // 4 + 2 GPUs
  const Binding share =
      BindingFor(kA100, 0, MakeWorkload(1).Cpu(2000).Memory(4096).Share(300, 10240), {1});
  const Binding whole =
      BindingFor(kA100, 0, MakeWorkload(2).Cpu(4000).Memory(8192).Whole(2), {0, 2});
  const Binding mig =
      BindingFor(kA100, 0, MakeWorkload(3).Cpu(1000).Memory(1024).Mig("3g"), {3}, 4);
  const Binding cpu_only = BindingFor(kT4, 1, MakeWorkload(4).Cpu(3000).Memory(2048));
  struct Step {
    const Binding* b;
    Milli used;      // cluster used_gpu_milli after the bind
    Milli cpu_free;  // node 0
    MiB memory_free;
  };
  // used: 300; + 2000 = 2300; + 3*1000/7 = 428 -> 2728; the CPU-only one adds none.
  // node 0 CPU: 16000 - 2000 = 14000, - 4000 = 10000, - 1000 = 9000.
  // node 0 memory: 65536 - 4096 = 61440, - 8192 = 53248, - 1024 = 52224.
  const Step steps[] = {
      {&share, 300, 14000, 61440},
      {&whole, 2300, 10000, 53248},
      {&mig, 2728, 9000, 52224},
      {&cpu_only, 2728, 9000, 52224},
  };
  for (const Step& s : steps) {
    ASSERT_TRUE(c.Bind(*s.b).ok());
    EXPECT_EQ(c.used_gpu_milli(), s.used);
    EXPECT_EQ(c.used_gpu_milli(), SumOfNodeUsed(c));
    EXPECT_EQ(c.state(0).cpu_free, s.cpu_free);
    EXPECT_EQ(c.state(0).memory_free, s.memory_free);
  }
  const NodeState& a = c.state(0);
  EXPECT_EQ(a.workloads, 3);
  EXPECT_EQ(a.devices[1].free_milli, 700);
  EXPECT_EQ(a.devices[1].free_memory_mib, 81920 - 10240);
  EXPECT_EQ(a.devices[1].shares, 1);
  EXPECT_EQ(a.devices[0].free_milli, 0);
  EXPECT_EQ(a.devices[3].free_milli, 1000 - 428);
  EXPECT_EQ(a.devices[3].free_memory_mib, 81920 - 81920 * 4 / 8);  // 3g owns 4 memory slices
  EXPECT_EQ(a.IdleDevices(), 0);
  EXPECT_EQ(c.state(1).cpu_free, 5000);
  EXPECT_EQ(c.state(1).memory_free, 30720);
  // The summary the filter reads follows: no idle device, most free on a non-MIG device 700.
  EXPECT_EQ(c.summary(0).idle_devices, 0);
  EXPECT_EQ(c.summary(0).max_share_milli, 700);
  EXPECT_EQ(c.summary(0).cpu_free, 9000);
  // Releasing everything restores the initial states exactly.
  for (const Binding* b : {&mig, &share, &cpu_only, &whole}) c.Release(*b);
  EXPECT_EQ(c.used_gpu_milli(), 0);
  for (int i = 0; i < 2; ++i) {
    const NodeState init = InitialState(c.node(i));
    EXPECT_EQ(c.state(i).cpu_free, init.cpu_free);
    EXPECT_EQ(c.state(i).memory_free, init.memory_free);
    EXPECT_EQ(c.state(i).workloads, 0);
    EXPECT_EQ(c.state(i).devices, init.devices);
    EXPECT_EQ(c.state(i).tag_counts, init.tag_counts);
  }
  EXPECT_EQ(c.summary(0).idle_devices, 4);
}

TEST(ClusterBindRelease, ConflictsChangeNothing) {
  // Each row: first bind (ok), then a second that must fail with `code`, leaving state as is.
  struct Case {
    const char* name;
    Binding first;
    Binding second;
    StatusCode code;
  };
  Binding bad_node = BindingFor(kA100, 0, MakeWorkload(2).Share(100), {0});
  bad_node.node = 7;
  const Case cases[] = {
      {"whole GPU twice on one device", BindingFor(kA100, 0, MakeWorkload(1).Whole(1), {0}),
       BindingFor(kA100, 0, MakeWorkload(2).Whole(1), {0}), StatusCode::kConflict},
      {"shares over 1000 milli: 600 + 500", BindingFor(kA100, 0, MakeWorkload(1).Share(600), {0}),
       BindingFor(kA100, 0, MakeWorkload(2).Share(500), {0}), StatusCode::kConflict},
      {"share on a whole-used device", BindingFor(kA100, 0, MakeWorkload(1).Whole(1), {0}),
       BindingFor(kA100, 0, MakeWorkload(2).Share(100), {0}), StatusCode::kConflict},
      {"share memory beyond what is left: 60000 + 30000 > 81920",
       BindingFor(kA100, 0, MakeWorkload(1).Share(100, 60000), {0}),
       BindingFor(kA100, 0, MakeWorkload(2).Share(100, 30000), {0}), StatusCode::kConflict},
      {"CPU beyond what is left: 12 + 5 > 16 cores",
       BindingFor(kA100, 0, MakeWorkload(1).Cpu(12000), {}),
       BindingFor(kA100, 0, MakeWorkload(2).Cpu(5000), {}), StatusCode::kConflict},
      {"memory beyond what is left: 60000 + 8000 > 65536",
       BindingFor(kA100, 0, MakeWorkload(1).Memory(60000), {}),
       BindingFor(kA100, 0, MakeWorkload(2).Memory(8000), {}), StatusCode::kConflict},
      {"two whole GPUs, the second device taken: atomic, the first is not taken either",
       BindingFor(kA100, 0, MakeWorkload(1).Whole(1), {3}),
       BindingFor(kA100, 0, MakeWorkload(2).Whole(2), {2, 3}), StatusCode::kConflict},
      {"a device the node does not have", BindingFor(kA100, 0, MakeWorkload(1).Share(100), {0}),
       BindingFor(kA100, 0, MakeWorkload(2).Share(100), {4}), StatusCode::kInvalidArgument},
      {"a node the cluster does not have", BindingFor(kA100, 0, MakeWorkload(1).Share(100), {0}),
       bad_node, StatusCode::kInvalidArgument},
  };
  for (const Case& c : cases) {
    ClusterState cluster({kA100});
    ASSERT_TRUE(cluster.Bind(c.first).ok()) << c.name;
    const NodeState before = cluster.state(0);
    const Milli used = cluster.used_gpu_milli();
    const Status s = cluster.Bind(c.second);
    EXPECT_EQ(s.code(), c.code) << c.name << ": " << s.ToString();
    EXPECT_FALSE(s.message().empty()) << c.name;
    EXPECT_EQ(cluster.state(0).devices, before.devices) << c.name;
    EXPECT_EQ(cluster.state(0).cpu_free, before.cpu_free) << c.name;
    EXPECT_EQ(cluster.state(0).memory_free, before.memory_free) << c.name;
    EXPECT_EQ(cluster.state(0).workloads, before.workloads) << c.name;
    EXPECT_EQ(cluster.used_gpu_milli(), used) << c.name;
  }
}

TEST(ClusterBindRelease, MigAndSharesExcludeEachOtherOnADevice) {
  struct Case {
    const char* name;
    Node node;
    std::vector<Binding> binds;  // in order
    std::vector<bool> ok;        // expected outcome of each
  };
  const auto share = [](WorkloadId id, int device) {
    return BindingFor(kA100, 0, MakeWorkload(id).Share(200), {device});
  };
  const auto mig = [](WorkloadId id, const char* profile, int device, int start) {
    return BindingFor(kA100, 0, MakeWorkload(id).Mig(profile), {device}, start);
  };
  const Case cases[] = {
      {"MIG on a device holding a share", kA100, {share(1, 0), mig(2, "1g", 0, 0)}, {true, false}},
      {"share on a device in MIG mode", kA100, {mig(1, "1g", 0, 0), share(2, 0)}, {true, false}},
      {"whole GPU on a device in MIG mode",
       kA100,
       {mig(1, "1g", 0, 0), BindingFor(kA100, 0, MakeWorkload(2).Whole(1), {0})},
       {true, false}},
      {"MIG on a whole-used device",
       kA100,
       {BindingFor(kA100, 0, MakeWorkload(1).Whole(1), {0}), mig(2, "1g", 0, 0)},
       {true, false}},
      {"MIG and shares on different devices",
       kA100,
       {share(1, 0), mig(2, "3g", 1, 0)},
       {true, true}},
      {"3g@0 and 3g@4 share a device",
       kA100,
       {mig(1, "3g", 0, 0), mig(2, "3g", 0, 4)},
       {true, true}},
      {"2g@2 overlaps 3g@0 (memory slices 0-3)",
       kA100,
       {mig(1, "3g", 0, 0), mig(2, "2g", 0, 2)},
       {true, false}},
      {"3g may not start at 2", kA100, {mig(1, "3g", 0, 2)}, {false}},
      {"MIG on a T4 (not MIG capable)",
       kT4,
       {BindingFor(kT4, 0, MakeWorkload(1).Mig("1g"), {0}, 0)},
       {false}},
  };
  for (const Case& c : cases) {
    ClusterState cluster({c.node});
    for (size_t i = 0; i < c.binds.size(); ++i) {
      const Status s = cluster.Bind(c.binds[i]);
      EXPECT_EQ(s.ok(), c.ok[i]) << c.name << " bind " << i << ": " << s.ToString();
      if (!c.ok[i]) {
        EXPECT_EQ(s.code(), StatusCode::kConflict) << c.name;
      }
    }
  }
  // Once the last MIG instance leaves, the device is idle again and takes a share.
  ClusterState cluster({kA100});
  const Binding m = mig(1, "3g", 0, 0);
  ASSERT_TRUE(cluster.Bind(m).ok());
  EXPECT_FALSE(cluster.Bind(share(2, 0)).ok());
  cluster.Release(m);
  EXPECT_TRUE(cluster.state(0).devices[0].Idle());
  EXPECT_TRUE(cluster.Bind(share(2, 0)).ok());
}

TEST(ClusterBindRelease, UsedGpuMilliMatchesTheDevicesWhateverTheSliceSays) {
  // Slice::milli is the caller's. For a whole slice it must be 1000 and for a MIG slice
  // MigMilli(profile); Bind either rejects a slice that says otherwise or accounts what the device
  // really gives. Either way the cluster's used_gpu_milli equals the node states' used milli, and
  // a MIG instance takes MigMilli from its device.
  struct Case {
    const char* name;
    Binding b;
    Milli device_used_if_bound;
  };
  Binding whole = BindingFor(kA100, 0, MakeWorkload(1).Whole(1), {0});
  whole.slices[0].milli = 0;  // as a default-constructed Slice leaves it
  Binding mig = BindingFor(kA100, 0, MakeWorkload(2).Mig("3g"), {1}, 0);
  mig.slices[0].milli = 0;
  const Case cases[] = {
      {"whole slice with milli 0", whole, 1000},
      {"3g slice with milli 0", mig, 428},
  };
  for (const Case& c : cases) {
    ClusterState cluster({kA100});
    const Status s = cluster.Bind(c.b);
    if (s.ok()) {
      EXPECT_EQ(cluster.state(0).UsedGpuMilli(), c.device_used_if_bound) << c.name;
    }
    EXPECT_EQ(cluster.used_gpu_milli(), SumOfNodeUsed(cluster)) << c.name;
  }
}

TEST(ClusterWorkloadTag, KindsBySlices) {
  // -1 CPU-only, 0 share, k for k whole GPUs, 17 MIG; Bind counts tags per node, Release uncounts.
  struct Case {
    const char* name;
    Binding b;
    int tag;
  };
  const Case cases[] = {
      {"CPU-only", BindingFor(kA100, 0, MakeWorkload(1)), -1},
      {"share", BindingFor(kA100, 0, MakeWorkload(1).Share(300), {0}), 0},
      {"1 whole GPU", BindingFor(kA100, 0, MakeWorkload(1).Whole(1), {0}), 1},
      {"3 whole GPUs", BindingFor(kA100, 0, MakeWorkload(1).Whole(3), {0, 1, 2}), 3},
      {"MIG", BindingFor(kA100, 0, MakeWorkload(1).Mig("2g"), {0}, 0), 17},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(WorkloadTag(c.b), c.tag) << c.name;
    ClusterState cluster({kA100});
    ASSERT_TRUE(cluster.Bind(c.b).ok()) << c.name;
    int counted = 0;
    for (std::uint16_t n : cluster.state(0).tag_counts) counted += n;
    EXPECT_EQ(counted, c.tag >= 0 ? 1 : 0) << c.name;
    if (c.tag >= 0) {
      EXPECT_EQ(cluster.state(0).tag_counts[static_cast<size_t>(c.tag)], 1) << c.name;
    }
    cluster.Release(c.b);
    EXPECT_EQ(cluster.state(0).tag_counts, InitialState(kA100).tag_counts) << c.name;
  }
}

}  // namespace
}  // namespace gpool::core
