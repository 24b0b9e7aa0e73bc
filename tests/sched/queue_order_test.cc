#include "sched/queue_order.h"

#include <gtest/gtest.h>

#include <cmath>

namespace gpool::sched {
namespace {

constexpr double kHour = 3600;
const PoolCapacity kPool{8000, 64000, 512 * 1024};

TEST(FairShareLedger, LongRunShareIsTheHeldFraction) {
  // Holding half the GPUs for 50 half-lives: decayed -> 4000 * H / ln 2 (1 - 2^-50) ~ share 0.5.
  FairShareLedger l(kHour);
  l.Advance(0);
  l.SetAllocation("a", {4000, 0, 0});
  l.Advance(50 * kHour);
  EXPECT_NEAR(l.DominantShare("a", kPool), 0.5, 1e-9);
  EXPECT_EQ(l.DominantShare("nobody", kPool), 0);
}

TEST(FairShareLedger, UsageDecaysWithTheHalfLife) {
  // Full GPU capacity for one half-life from zero: share = 1 - 2^-1 = 0.5.
  // Then nothing for one half-life: 0.5 * 2^-1 = 0.25; another: 0.125.
  FairShareLedger l(kHour);
  l.Advance(0);
  l.SetAllocation("a", {8000, 0, 0});
  l.Advance(kHour);
  EXPECT_NEAR(l.DominantShare("a", kPool), 0.5, 1e-12);
  l.SetAllocation("a", {});
  l.Advance(2 * kHour);
  EXPECT_NEAR(l.DominantShare("a", kPool), 0.25, 1e-12);
  l.Advance(3 * kHour);
  EXPECT_NEAR(l.DominantShare("a", kPool), 0.125, 1e-12);
  l.Advance(1 * kHour);  // going back in time changes nothing
  EXPECT_NEAR(l.DominantShare("a", kPool), 0.125, 1e-12);
}

TEST(FairShareLedger, TheDominantResourceCounts) {
  // 20 % of the GPUs but 60 % of the CPU for a long time: share 0.6 (CPU dominates).
  FairShareLedger l(kHour);
  l.Advance(0);
  l.SetAllocation("a", {1600, 38400, 0});
  l.Advance(60 * kHour);
  EXPECT_NEAR(l.DominantShare("a", kPool), 0.6, 1e-9);
}

core::Workload W(core::WorkloadId id, const char* tenant, core::PriorityClass p) {
  core::Workload w;
  w.id = id;
  w.tenant = tenant;
  w.priority = p;
  return w;
}

TEST(OrderQueue, PriorityThenFairShareThenAgeThenId) {
  // Tenant "heavy" has used half the GPUs for a long time, "light" nothing.
  FairShareLedger l(kHour);
  l.Advance(0);
  l.SetAllocation("heavy", {4000, 0, 0});
  l.Advance(20 * kHour);
  using P = core::PriorityClass;
  const core::Workload ws[] = {
      W(1, "light", P::kOpportunistic),  // last: opportunistic
      W(2, "heavy", P::kStandard),       // standard, heavy tenant
      W(3, "light", P::kStandard),       // standard, light tenant, submitted later than 4
      W(4, "light", P::kStandard),       // standard, light tenant, submitted first
      W(5, "heavy", P::kProduction),     // first: production beats fair share
      W(6, "light", P::kStandard),       // same submit time as 4: the smaller id (4) first
  };
  const std::vector<QueuedWorkload> queue = {{&ws[0], 0},  {&ws[1], 0},  {&ws[2], 30},
                                             {&ws[3], 10}, {&ws[4], 50}, {&ws[5], 10}};
  const auto ordered = OrderQueue(queue, l, kPool);
  std::vector<core::WorkloadId> ids;
  for (const auto& q : ordered) ids.push_back(q.workload->id);
  EXPECT_EQ(ids, (std::vector<core::WorkloadId>{5, 4, 6, 3, 2, 1}));
}

}  // namespace
}  // namespace gpool::sched
