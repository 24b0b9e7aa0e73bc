#include "sim/locked_waste_bound.h"

#include <gtest/gtest.h>

#include <vector>

namespace gpool::sim {
namespace {

core::Workload Share(core::Milli milli) {
  core::Workload w;
  w.gpu.count = 1;
  w.gpu.milli_per_gpu = milli;
  return w;
}

core::Workload Whole(int k) {
  core::Workload w;
  w.gpu.count = k;
  w.gpu.milli_per_gpu = 1000;
  return w;
}

TEST(LockedWasteBound, GapsBesideLargeSharesWithoutSmallPods) {
  // Two 810 pods leave 190 + 190 = 380 milli that nothing can use; 4 GPUs = 4000 milli.
  // bound = (4000 - 380) / 4000 = 90.5 %.
  const std::vector<core::Workload> prefix = {Share(810), Share(810), Whole(1)};
  const LockedWaste lw = LockedWasteBound(prefix, prefix, 4000);
  EXPECT_EQ(lw.gap_milli, 380);
  EXPECT_EQ(lw.fillable_milli, 0);
  EXPECT_DOUBLE_EQ(lw.bound_percent, 90.5);
}

TEST(LockedWasteBound, SmallPodsFillOnlyGapsTheyFit) {
  // Gaps {190, 190}; small pods {100, 150, 300}: 300 fits no gap, 100 and 150 fit one each.
  // Cut at t = 191: pods < 191 = 250, gaps >= 191 = 0  -> fill <= 250 (and 250 is reachable).
  // locked = 380 - 250 = 130; bound = (4000 - 130) / 4000 = 96.75 %.
  const std::vector<core::Workload> prefix = {Share(810), Share(810)};
  const std::vector<core::Workload> arrived = {Share(810), Share(810), Share(100), Share(150),
                                               Share(300)};
  const LockedWaste lw = LockedWasteBound(prefix, arrived, 4000);
  EXPECT_EQ(lw.gap_milli, 380);
  EXPECT_EQ(lw.fillable_milli, 250);
  EXPECT_DOUBLE_EQ(lw.bound_percent, 96.75);
}

TEST(LockedWasteBound, SmallPodsCannotOverfillOneGap) {
  // One gap of 190 and three pods of 100: at most one fits (two would need 200).
  // Cut at t = 100: pods < 100 = 0, gaps >= 100 = 190 -> fill <= 190: the flow bound is fractional
  // (it may split pods), so it allows 190, not 100. locked = 0; bound = 100 %.
  const std::vector<core::Workload> prefix = {Share(810)};
  const std::vector<core::Workload> arrived = {Share(810), Share(100), Share(100), Share(100)};
  const LockedWaste lw = LockedWasteBound(prefix, arrived, 1000);
  EXPECT_EQ(lw.fillable_milli, 190);
  EXPECT_DOUBLE_EQ(lw.bound_percent, 100.0);
}

TEST(LockedWasteBound, HalfGpuAndWholePodsLockNothing) {
  // g = 500 pairs with another 500; whole pods leave no gap: nothing is locked.
  const std::vector<core::Workload> prefix = {Share(500), Whole(2), Share(300)};
  const LockedWaste lw = LockedWasteBound(prefix, prefix, 4000);
  EXPECT_EQ(lw.gap_milli, 0);
  EXPECT_DOUBLE_EQ(lw.bound_percent, 100.0);
}

}  // namespace
}  // namespace gpool::sim
