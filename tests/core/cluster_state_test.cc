#include <gtest/gtest.h>

#include "core/cluster.h"

namespace gpool::core {
namespace {

Node MakeNode(const char* model, int gpus) {
  Node n;
  n.name = "n";
  n.cpu_milli = 16000;
  n.memory_mib = 65536;
  n.gpu_count = gpus;
  n.model = FindGpuModel(model).value();
  n.gpu_memory_mib = GetGpuModel(n.model).memory_mib;
  return n;
}

Binding On(int device, SliceKind kind, Milli milli, Milli cpu = 1000, MiB memory = 0) {
  Binding b;
  b.workload = 1;
  b.node = 0;
  b.cpu_milli = cpu;
  b.memory_mib = 1024;
  Slice s;
  s.kind = kind;
  s.device = device;
  s.milli = milli;
  s.memory_mib = memory;
  b.slices.push_back(s);
  return b;
}

Binding Mig(int device, MigProfile p, int start) {
  Binding b = On(device, SliceKind::kMig, MigMilli(p));
  b.slices[0].mig = {p, start};
  return b;
}

TEST(ClusterState, BindAndReleaseAccountCpuMemoryAndGpu) {
  ClusterState c({MakeNode("A100-80GB", 2)});
  EXPECT_EQ(c.total_gpu_milli(), 2000);
  ASSERT_TRUE(c.Bind(On(0, SliceKind::kShare, 300, 4000)).ok());
  ASSERT_TRUE(c.Bind(On(1, SliceKind::kWhole, 1000, 2000)).ok());
  EXPECT_EQ(c.used_gpu_milli(), 1300);
  EXPECT_EQ(c.state(0).cpu_free, 16000 - 4000 - 2000);
  EXPECT_EQ(c.state(0).memory_free, 65536 - 2048);
  EXPECT_EQ(c.summary(0).idle_devices, 0);
  EXPECT_EQ(c.summary(0).max_share_milli, 700);
  c.Release(On(1, SliceKind::kWhole, 1000, 2000));
  EXPECT_EQ(c.used_gpu_milli(), 300);
  EXPECT_EQ(c.summary(0).idle_devices, 1);
  EXPECT_EQ(c.summary(0).max_share_milli, 1000);
}

TEST(ClusterState, NothingIsDoubleBooked) {
  ClusterState c({MakeNode("A100-80GB", 1)});
  ASSERT_TRUE(c.Bind(On(0, SliceKind::kShare, 600)).ok());
  // 600 + 500 > 1000 milli on one device.
  EXPECT_EQ(c.Bind(On(0, SliceKind::kShare, 500)).code(), StatusCode::kConflict);
  // A whole GPU needs the device idle; MIG needs no shares on it.
  EXPECT_EQ(c.Bind(On(0, SliceKind::kWhole, 1000)).code(), StatusCode::kConflict);
  EXPECT_EQ(c.Bind(Mig(0, MigProfile::k1g, 0)).code(), StatusCode::kConflict);
  // A failed Bind changes nothing.
  EXPECT_EQ(c.used_gpu_milli(), 600);
  // More CPU than is left.
  EXPECT_EQ(c.Bind(On(0, SliceKind::kShare, 100, 99000)).code(), StatusCode::kConflict);
  // A device index the node does not have.
  EXPECT_EQ(c.Bind(On(3, SliceKind::kShare, 100)).code(), StatusCode::kInvalidArgument);
}

TEST(ClusterState, MigInstancesFollowTheGeometryAndExcludeShares) {
  ClusterState c({MakeNode("H100-80GB", 1)});
  ASSERT_TRUE(c.Bind(Mig(0, MigProfile::k4g, 0)).ok());
  ASSERT_TRUE(c.Bind(Mig(0, MigProfile::k3g, 4)).ok());
  // 4g@0 + 3g@4 use all 7 compute slices: 4*1000/7 + 3*1000/7 = 571 + 428 = 999 milli.
  EXPECT_EQ(c.used_gpu_milli(), 999);
  EXPECT_EQ(c.Bind(Mig(0, MigProfile::k1g, 6)).code(), StatusCode::kConflict)
      << "memory slice 6 is taken";
  EXPECT_EQ(c.Bind(On(0, SliceKind::kShare, 1)).code(), StatusCode::kConflict)
      << "no shares on a MIG device";
  // A T4 has no MIG.
  ClusterState t({MakeNode("T4", 1)});
  EXPECT_EQ(t.Bind(Mig(0, MigProfile::k1g, 0)).code(), StatusCode::kConflict);
}

TEST(WorkloadTag, KindsBySlices) {
  EXPECT_EQ(WorkloadTag(On(0, SliceKind::kShare, 300)), 0);
  Binding two = On(0, SliceKind::kWhole, 1000);
  two.slices.push_back(two.slices[0]);
  two.slices[1].device = 1;
  EXPECT_EQ(WorkloadTag(two), 2);
  EXPECT_EQ(WorkloadTag(Mig(0, MigProfile::k1g, 0)), 17);
  Binding cpu_only = On(0, SliceKind::kShare, 1);
  cpu_only.slices.clear();
  EXPECT_EQ(WorkloadTag(cpu_only), -1);
}

}  // namespace
}  // namespace gpool::core
