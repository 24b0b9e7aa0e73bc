// TenantPlanner (sched/tenant_planner.h): LostWorkGpuSeconds, GoodPair and PlanRound's rules, one
// table per rule: queue order, quota, borrowing, reclaim (victim order, whole slots, minimal
// victims), gang all-or-nothing, EASY backfill, time-sharing, split, and determinism.
//
// Every expected value is derived in a comment from the header's contract. Inputs are built with
// the small builders below; a test states only what matters to it. Numbers: GPUs are whole GPUs
// (the builders multiply by 1000 for milli), times are seconds, lost work is GPU-seconds with the
// config of MakeConfig() (checkpoint every 1800 s from started_s, restore 60 s, pair thresholds
// 0.4 and 1.2) unless a row says else.
#include "sched/tenant_planner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

namespace gpool::sched {
namespace {

using core::PriorityClass;
using ::testing::AnyOf;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

constexpr PriorityClass kProd = PriorityClass::kProduction;
constexpr PriorityClass kStd = PriorityClass::kStandard;
constexpr PriorityClass kOpp = PriorityClass::kOpportunistic;

// ---- builders ------------------------------------------------------------------------------

// MakePending(7).Tenant(1).Gpus(2).Submit(30).Estimate(600).Kind(0)
class PendingBuilder {
 public:
  explicit PendingBuilder(JobId id) { job_.id = id; }
  PendingBuilder& Tenant(int t) {
    job_.tenant = t;
    return *this;
  }
  PendingBuilder& Gpus(int g) {
    job_.gpus = g;
    return *this;
  }
  PendingBuilder& Priority(PriorityClass p) {
    job_.priority = p;
    return *this;
  }
  PendingBuilder& Submit(double s) {
    job_.submit_s = s;
    return *this;
  }
  PendingBuilder& Estimate(double s) {
    job_.estimate_s = s;
    return *this;
  }
  PendingBuilder& Kind(int k) {
    job_.share_kind = k;
    return *this;
  }
  operator PendingJob() const { return job_; }  // NOLINT: builders convert implicitly

 private:
  PendingJob job_;
};
PendingBuilder MakePending(JobId id) { return PendingBuilder(id); }

// MakeRunning(10).Tenant(0).Gpus(2).Started(100).Ends(900).NoCheckpoint().Kind(1).SharesWith(11)
class RunningBuilder {
 public:
  explicit RunningBuilder(JobId id) {
    job_.id = id;
    job_.expected_end_s = 1e9;  // far away unless a test cares
  }
  RunningBuilder& Tenant(int t) {
    job_.tenant = t;
    return *this;
  }
  RunningBuilder& Gpus(int g) {
    job_.gpus = g;
    return *this;
  }
  RunningBuilder& Priority(PriorityClass p) {
    job_.priority = p;
    return *this;
  }
  RunningBuilder& Started(double s) {
    job_.started_s = s;
    return *this;
  }
  RunningBuilder& Ends(double s) {
    job_.expected_end_s = s;
    return *this;
  }
  RunningBuilder& NoCheckpoint() {
    job_.checkpointable = false;
    return *this;
  }
  RunningBuilder& Kind(int k) {
    job_.share_kind = k;
    return *this;
  }
  RunningBuilder& SharesWith(JobId other) {
    job_.shares_with = other;
    return *this;
  }
  operator RunningJob() const { return job_; }  // NOLINT: builders convert implicitly

 private:
  RunningJob job_;
};
RunningBuilder MakeRunning(JobId id) { return RunningBuilder(id); }

// MakeConfig().NoBackfill().Checkpoints(600, 30).PairSpeed(0.65)
// Every field is set here, not taken from the header's defaults (which get tuned): all rules on,
// a checkpoint every 1800 s, restore 60 s, pair thresholds 0.4 (speed) and 1.2 (throughput).
// The derivations in this file assume these numbers.
class ConfigBuilder {
 public:
  ConfigBuilder() {
    config_.reclaim = true;
    config_.backfill = true;
    config_.time_sharing = true;
    config_.split = true;
    config_.checkpoint_interval_s = 1800;
    config_.restore_s = 60;
    config_.min_pair_speed = 0.4;
    config_.min_pair_throughput = 1.2;
  }
  ConfigBuilder& NoReclaim() {
    config_.reclaim = false;
    return *this;
  }
  ConfigBuilder& NoBackfill() {
    config_.backfill = false;
    return *this;
  }
  ConfigBuilder& NoTimeSharing() {
    config_.time_sharing = false;
    return *this;
  }
  ConfigBuilder& NoSplit() {
    config_.split = false;
    return *this;
  }
  ConfigBuilder& Checkpoints(double interval_s, double restore_s) {
    config_.checkpoint_interval_s = interval_s;
    config_.restore_s = restore_s;
    return *this;
  }
  ConfigBuilder& PairSpeed(double min_speed) {
    config_.min_pair_speed = min_speed;
    return *this;
  }
  ConfigBuilder& PairThroughput(double min_throughput) {
    config_.min_pair_throughput = min_throughput;
    return *this;
  }
  operator PlannerConfig() const { return config_; }  // NOLINT: builders convert implicitly

 private:
  PlannerConfig config_;
};
ConfigBuilder MakeConfig() { return ConfigBuilder(); }

TenantQuota Quota(int guaranteed_gpus, int borrow_gpus) {
  return TenantQuota{guaranteed_gpus * core::kWholeGpuMilli, borrow_gpus * core::kWholeGpuMilli};
}

// One round's input, owning what RoundInput only views.
struct Round {
  double now_s = 0;
  int gpus = 0;
  std::vector<TenantQuota> tenants;
  std::vector<RunningJob> running;
  std::vector<PendingJob> pending;
  std::vector<double> fair_share;  // empty: all equal
  const SharingTable* sharing = nullptr;

  RoundPlan Plan(const ConfigBuilder& config = MakeConfig()) const {
    RoundInput in;
    in.now_s = now_s;
    in.capacity_milli = gpus * core::kWholeGpuMilli;
    in.tenants = tenants;
    in.fair_share = fair_share;
    in.running = running;
    in.pending = pending;
    in.sharing = sharing;
    return PlanRound(in, config);
  }
};

std::vector<JobId> Started(const RoundPlan& plan) {
  std::vector<JobId> ids;
  for (const Start& s : plan.start) ids.push_back(s.job);
  return ids;
}

// "job" for a start on idle GPUs, "job@host" for a start that time-shares `host`'s GPU.
std::vector<std::string> StartsWithHosts(const RoundPlan& plan) {
  std::vector<std::string> out;
  for (const Start& s : plan.start) {
    out.push_back(std::to_string(s.job) + (s.host ? "@" + std::to_string(s.host) : ""));
  }
  return out;
}

std::string Describe(const RoundPlan& plan) {
  std::ostringstream os;
  os << "preempt[";
  for (JobId id : plan.preempt) os << id << ' ';
  os << "] start[";
  for (const std::string& s : StartsWithHosts(plan)) os << s << ' ';
  os << "] split[";
  for (JobId id : plan.split) os << id << ' ';
  os << "] reservations[";
  for (const Reservation& r : plan.reservations) {
    os << r.job << '@' << r.start_s << "+" << r.extra_milli << ' ';
  }
  os << ']';
  return os.str();
}

// ---- LostWorkGpuSeconds --------------------------------------------------------------------

TEST(TenantPlannerLostWork, CheckpointableLosesSinceLastCheckpointPlusRestore) {
  struct Row {
    const char* name;
    RunningJob job;
    double now_s;
    ConfigBuilder config;
    double expected;
  };
  const Row rows[] = {
      // Checkpoints at 1800 and 3600; at 4000: 400 s since + 60 restore = 460 s * 2 GPUs = 920.
      {"after_two_checkpoints", MakeRunning(1).Gpus(2).Started(0), 4000, {}, 920},
      // First checkpoint would be at 2300; at 1500: 1000 s + 60 = 1060 s * 1 GPU.
      {"before_first_checkpoint", MakeRunning(1).Started(500), 1500, {}, 1060},
      // Exactly at the checkpoint at 3600: 0 s + 60 restore = 60.
      {"right_at_a_checkpoint", MakeRunning(1).Started(0), 3600, {}, 60},
      // Interval 600 from started 100: checkpoint at 700; at 1000: 300 + restore 30 = 330 * 4.
      {"interval_counts_from_started", MakeRunning(1).Gpus(4).Started(100), 1000,
       MakeConfig().Checkpoints(600, 30), 1320},
      // Not checkpointable: everything since started 1000, 3000 s * 2 GPUs = 6000 (no restore).
      {"not_checkpointable", MakeRunning(1).Gpus(2).Started(1000).NoCheckpoint(), 4000, {}, 6000},
      // Not checkpointable, just started: nothing to lose.
      {"not_checkpointable_just_started", MakeRunning(1).Started(4000).NoCheckpoint(), 4000, {}, 0},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    EXPECT_DOUBLE_EQ(LostWorkGpuSeconds(r.job, r.now_s, r.config), r.expected);
  }
}

// ---- GoodPair ------------------------------------------------------------------------------

// own[a][b]: fraction of its alone speed a job of kind a keeps next to a job of kind b.
//   a\b    0     1     2     3
//   0     0.6   0.8   0.9   0.7
//   1     0.7   0     0.6   0.4
//   2     0.3   0.55  0.4   0
//   3     0.6   0.8   0     0.5
SharingTable FourKinds() {
  return SharingTable{4,
                      {0.6, 0.8, 0.9, 0.7,    //
                       0.7, 0.0, 0.6, 0.4,    //
                       0.3, 0.55, 0.4, 0.0,   //
                       0.6, 0.8, 0.0, 0.5}};  //
}

TEST(TenantPlannerGoodPair, ThresholdsOnEachSpeedAndOnThroughput) {
  const SharingTable table = FourKinds();
  struct Row {
    const char* name;
    int a, b;
    ConfigBuilder config;
    bool good;
  };
  const Row rows[] = {
      // 0.7 + 0.6 = 1.3 >= 1.2 and both >= 0.4: good.
      {"good_pair", 0, 3, {}, true},
      {"good_pair_either_order", 3, 0, {}, true},
      // 0.8 + 0.7 = 1.5: good.
      {"better_pair", 0, 1, {}, true},
      // 0.9 + 0.3 = 1.2 is enough throughput, but 0.3 < 0.4: bad.
      {"one_job_too_slow", 0, 2, {}, false},
      {"one_job_too_slow_either_order", 2, 0, {}, false},
      // 0.6 and 0.55 are both >= 0.4, but 0.6 + 0.55 = 1.15 < 1.2: bad.
      {"too_little_throughput", 1, 2, {}, false},
      // 0.4 + 0.4 = 0.8 < 1.2: bad.
      {"same_kind_too_little_throughput", 2, 2, {}, false},
      // 0.6 + 0.6 = 1.2 >= 1.2 ("at least"): good.
      {"throughput_exactly_at_threshold", 0, 0, {}, true},
      // 0.4 >= 0.4 ("at least") and 0.4 + 0.8 = 1.2: good.
      {"speed_exactly_at_threshold", 1, 3, {}, true},
      // own 0: cannot share.
      {"cannot_share", 1, 1, {}, false},
      {"cannot_share_mixed", 2, 3, {}, false},
      // kind -1 never time-shares.
      {"first_kind_none", -1, 0, {}, false},
      {"second_kind_none", 0, -1, {}, false},
      // Stricter speed 0.65: 0.6 < 0.65: bad.
      {"stricter_speed", 0, 3, MakeConfig().PairSpeed(0.65), false},
      // Stricter throughput 1.4: 1.3 < 1.4 bad, but 1.5 >= 1.4 good.
      {"stricter_throughput_bad", 0, 3, MakeConfig().PairThroughput(1.4), false},
      {"stricter_throughput_good", 0, 1, MakeConfig().PairThroughput(1.4), true},
      // Looser speed 0.25 and throughput 1.1: 0.3 >= 0.25 and 1.2 >= 1.1: good.
      {"looser", 0, 2, MakeConfig().PairSpeed(0.25).PairThroughput(1.1), true},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    EXPECT_EQ(GoodPair(table, r.a, r.b, r.config), r.good);
  }
}

TEST(TenantPlannerGoodPair, UnknownKindIsNotAPair) {
  // Kind 4 is outside a 4-kind table: "an unknown pairing" -> false, in either position.
  const SharingTable table = FourKinds();
  EXPECT_FALSE(GoodPair(table, 4, 0, {}));
  EXPECT_FALSE(GoodPair(table, 0, 4, {}));
  // An empty table knows no pairing at all.
  EXPECT_FALSE(GoodPair(SharingTable{}, 0, 0, {}));
}

// ---- queue order ---------------------------------------------------------------------------

TEST(TenantPlannerQueueOrder, PriorityThenFairShareThenSubmitThenId) {
  // Two tenants with guarantee 0 (nobody is entitled, every start is rule 3's borrowing, in
  // queue order) and room to borrow 8 GPUs each. Tenant 0's fair share 0.5, tenant 1's 0.1.
  // 5 idle GPUs, six 1-GPU jobs, backfill off so the sixth cannot jump ahead.
  //   5: production (beats fair share)                               -> 1st
  //   4, 6: standard, light tenant 1, submit 10: the smaller id 4     -> 2nd, 3rd
  //   3: standard, light tenant 1, submit 30                          -> 4th
  //   2: standard, heavy tenant 0, submit 0 (fair share beats age)    -> 5th
  //   1: opportunistic, light tenant, submit 0                        -> 6th: no GPU left
  Round round;
  round.gpus = 5;
  round.tenants = {Quota(0, 8), Quota(0, 8)};
  round.fair_share = {0.5, 0.1};
  round.pending = {
      MakePending(1).Tenant(1).Priority(kOpp).Submit(0),
      MakePending(2).Tenant(0).Priority(kStd).Submit(0),
      MakePending(3).Tenant(1).Priority(kStd).Submit(30),
      MakePending(4).Tenant(1).Priority(kStd).Submit(10),
      MakePending(5).Tenant(0).Priority(kProd).Submit(50),
      MakePending(6).Tenant(1).Priority(kStd).Submit(10),
  };
  const RoundPlan plan = round.Plan(MakeConfig().NoBackfill());
  EXPECT_THAT(Started(plan), ElementsAre(5, 4, 6, 3, 2)) << Describe(plan);
  EXPECT_THAT(plan.preempt, IsEmpty());
}

TEST(TenantPlannerQueueOrder, EachTieBreakInTurn) {
  // One idle GPU and two 1-GPU jobs that both may borrow (guarantee 0, borrow 1 each): the one
  // first in queue order starts, the other finds no GPU.
  struct Row {
    const char* name;
    std::vector<double> fair_share;
    std::vector<PendingJob> pending;
    JobId winner;
  };
  const Row rows[] = {
      // Production beats standard despite the worse fair share, later submit and larger id.
      {"priority_over_fair_share",
       {0.9, 0.1},
       {MakePending(1).Tenant(1).Priority(kStd).Submit(0),
        MakePending(2).Tenant(0).Priority(kProd).Submit(100)},
       2},
      // Standard beats opportunistic.
      {"standard_over_opportunistic",
       {0.5, 0.5},
       {MakePending(1).Tenant(0).Priority(kOpp).Submit(0),
        MakePending(2).Tenant(1).Priority(kStd).Submit(100)},
       2},
      // Same class: the smaller fair share (tenant 1: 0.2 < 0.7) beats the earlier submit.
      {"fair_share_over_submit",
       {0.7, 0.2},
       {MakePending(1).Tenant(0).Submit(0), MakePending(2).Tenant(1).Submit(100)},
       2},
      // Same class and fair share: the earlier submit (10 < 20) beats the smaller id.
      {"submit_over_id",
       {0.5, 0.5},
       {MakePending(1).Tenant(0).Submit(20), MakePending(2).Tenant(1).Submit(10)},
       2},
      // Everything equal: the smaller id.
      {"id_last",
       {0.5, 0.5},
       {MakePending(2).Tenant(1).Submit(5), MakePending(1).Tenant(0).Submit(5)},
       1},
      // Empty fair_share = all equal: submit decides (tenant 0 would not win on index alone).
      {"empty_fair_share_is_equal",
       {},
       {MakePending(1).Tenant(0).Submit(20), MakePending(2).Tenant(1).Submit(10)},
       2},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    Round round;
    round.gpus = 1;
    round.tenants = {Quota(0, 1), Quota(0, 1)};
    round.fair_share = r.fair_share;
    round.pending = r.pending;
    const RoundPlan plan = round.Plan(MakeConfig().NoBackfill());
    EXPECT_THAT(Started(plan), ElementsAre(r.winner)) << Describe(plan);
  }
}

TEST(TenantPlannerQueueOrder, EntitledStartsComeBeforeBorrowing) {
  // Rule 2 runs before rule 3. 2 idle GPUs. Job 1 (tenant 0, guarantee 0: borrows) is first in
  // queue order (production), but jobs 2 and 3 of tenant 1 are entitled (usage 0 + 1 and then
  // 1 + 1 <= guarantee 2), so they take both GPUs first and job 1 finds none.
  Round round;
  round.gpus = 2;
  round.tenants = {Quota(0, 2), Quota(2, 0)};
  round.pending = {
      MakePending(1).Tenant(0).Priority(kProd).Submit(0),
      MakePending(2).Tenant(1).Priority(kStd).Submit(10),
      MakePending(3).Tenant(1).Priority(kStd).Submit(20),
  };
  const RoundPlan plan = round.Plan();
  EXPECT_THAT(Started(plan), ElementsAre(2, 3)) << Describe(plan);
  EXPECT_THAT(plan.preempt, IsEmpty());
}

// ---- quota ---------------------------------------------------------------------------------

constexpr double kNever = std::numeric_limits<double>::infinity();

TEST(TenantPlannerQuota, GuaranteePlusBorrowLimitBoundsATenant) {
  // 8 GPUs, only tenant 0; no other tenant runs anything, so GPUs are idle in every row.
  struct Row {
    const char* name;
    TenantQuota quota;
    std::vector<RunningJob> running;
    PendingJob job;
    bool starts;
  };
  const Row rows[] = {
      // 0 + 4 <= guarantee 4: entitled, starts on idle GPUs.
      {"within_guarantee", Quota(4, 0), {}, MakePending(1).Gpus(4), true},
      // 0 + 3 <= 2 + 1: borrows 1 GPU, starts.
      {"up_to_guarantee_plus_borrow", Quota(2, 1), {}, MakePending(1).Gpus(3), true},
      // 0 + 4 > 2 + 1: never starts, even with 8 idle GPUs.
      {"beyond_guarantee_plus_borrow", Quota(2, 1), {}, MakePending(1).Gpus(4), false},
      // Running 2 + 1 > guarantee 2 + borrow 0: borrow limit 0 means no borrowing, 6 GPUs idle.
      {"borrow_limit_zero", Quota(2, 0), {MakeRunning(10).Gpus(2)}, MakePending(1).Gpus(1), false},
      // Running 3 + 2 > 2 + 2: usage counts what the tenant already holds.
      {"usage_counts_running_jobs",
       Quota(2, 2),
       {MakeRunning(10).Gpus(3)},
       MakePending(1).Gpus(2),
       false},
      // Running 3 + 1 <= 2 + 2: starts.
      {"usage_plus_job_fits", Quota(2, 2), {MakeRunning(10).Gpus(3)}, MakePending(1).Gpus(1), true},
      // Opportunistic: never entitled, but 0 + 1 <= guarantee 4 + borrow 0 and GPUs are idle
      // ("opportunistic work runs only on idle or borrowed capacity"): starts.
      {"opportunistic_within_guarantee_on_idle",
       Quota(4, 0),
       {},
       MakePending(1).Priority(kOpp),
       true},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    Round round;
    round.gpus = 8;
    round.tenants = {r.quota};
    round.running = r.running;
    round.pending = {r.job};
    const RoundPlan plan = round.Plan();
    EXPECT_EQ(Started(plan), r.starts ? std::vector<JobId>{r.job.id} : std::vector<JobId>{})
        << Describe(plan);
    EXPECT_THAT(plan.preempt, IsEmpty());
    if (!r.starts) {
      // Not "allowed" (rule 3), so it is no job that "does not fit": no pool reservation. A job
      // that fits the guarantee but not beside what the tenant holds gets the tenant's (rule 2):
      // at the end of the running job (1e9), when room frees up; one too big never does.
      for (const Reservation& res : plan.reservations) {
        EXPECT_EQ(res.start_s, r.running.empty() ? kNever : 1e9) << Describe(plan);
      }
    }
  }
}

TEST(TenantPlannerQuota, EntitlementKeepsTheTenantsOwnReservation) {
  // 8 GPUs, tenant 0 (guarantee 4, borrow 0) runs 10 (2 GPUs, ends 500): usage 2, 6 GPUs idle.
  //   job 1 (4 GPUs, first in queue): 2 + 4 = 6 > 4: not entitled. It gets the tenant
  //     reservation (rule 2): room 2 now, + 2 when job 10 ends at 500 = 4: shadow 500, extra 0.
  //     6 > 4 + 0: not allowed to borrow either (rule 3), so no pool reservation.
  //   job 2 (2 GPUs): 2 + 2 <= 4 fits the guarantee, but it starts only if it ends by 500
  //     (as it would in a static partition of 4 GPUs with EASY backfill):
  //       estimate 1000 -> ends 1000 > 500, extra 0: waits;  estimate 400 -> ends 400: starts.
  for (const auto& [estimate, starts] :
       std::vector<std::pair<double, bool>>{{1000, false}, {400, true}}) {
    SCOPED_TRACE(estimate);
    Round round;
    round.gpus = 8;
    round.tenants = {Quota(4, 0)};
    round.running = {MakeRunning(10).Gpus(2).Ends(500)};
    round.pending = {MakePending(1).Gpus(4).Submit(0).Estimate(100),
                     MakePending(2).Gpus(2).Submit(10).Estimate(estimate)};
    const RoundPlan plan = round.Plan();
    EXPECT_EQ(Started(plan), starts ? std::vector<JobId>{2} : std::vector<JobId>{})
        << Describe(plan);
    ASSERT_EQ(plan.reservations.size(), 1u) << Describe(plan);
    EXPECT_EQ(plan.reservations[0].job, 1u);
    EXPECT_EQ(plan.reservations[0].start_s, 500);
    EXPECT_EQ(plan.reservations[0].extra_milli, 0);
    EXPECT_THAT(plan.preempt, IsEmpty()) << Describe(plan);
  }
}

// ---- borrowing -----------------------------------------------------------------------------

TEST(TenantPlannerBorrow, IdleGuaranteedCapacityOfAnotherTenantIsLent) {
  // 4 GPUs, all guaranteed to tenant a (0), which runs nothing. Tenant b (1) has guarantee 0.
  struct Row {
    const char* name;
    int b_borrow_gpus;
    std::vector<RunningJob> running;
    bool starts;
  };
  const Row rows[] = {
      // b: 0 + 2 <= 0 + 2: borrows a's idle guaranteed GPUs.
      {"borrow_limit_allows", 2, {}, true},
      // b: 0 + 2 > 0 + 1: the borrow limit forbids it.
      {"borrow_limit_too_small", 1, {}, false},
      // b already borrows 2 (job 20): 2 + 2 > 3.
      {"already_borrowing", 3, {MakeRunning(20).Tenant(1).Gpus(2)}, false},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    Round round;
    round.gpus = 4;
    round.tenants = {Quota(4, 0), Quota(0, r.b_borrow_gpus)};
    round.running = r.running;
    round.pending = {MakePending(1).Tenant(1).Gpus(2)};
    const RoundPlan plan = round.Plan();
    EXPECT_EQ(Started(plan), r.starts ? std::vector<JobId>{1} : std::vector<JobId>{})
        << Describe(plan);
    EXPECT_THAT(plan.preempt, IsEmpty());
  }
}

// ---- reclaim -------------------------------------------------------------------------------

TEST(TenantPlannerReclaim, VictimOrderPriorityThenLostWorkThenMostRecent) {
  // 8 GPUs, all held by tenant a (0, guarantee 4, borrow 4): jobs 10 (started 0) and 11
  // (started 10), 2 GPUs each, fill a's guarantee and are its guaranteed slots; 12 and 13, 2 GPUs
  // each, started later (or opportunistic), are borrowed. Tenant b (1, guarantee 4) submits job
  // 20 of 2 GPUs: 0 + 2 <= 4, entitled, no idle GPU, so one of a's borrowed slots is reclaimed.
  // now 4000, checkpoint every 1800, restore 60.
  struct Row {
    const char* name;
    RunningJob j12, j13;
    ConfigBuilder config;
    std::vector<JobId> preempt;
  };
  const Row rows[] = {
      // 12: standard, checkpointable from 3500: (500 + 60) * 2 = 1120.
      // 13: opportunistic, not checkpointable from 100: 3900 * 2 = 7800.
      // The lowest priority goes first although it loses more and started earlier: 13.
      {"lowest_priority_first",
       MakeRunning(12).Gpus(2).Started(3500),
       MakeRunning(13).Gpus(2).Started(100).Priority(kOpp).NoCheckpoint(),
       {},
       {13}},
      // 12: checkpointable from 200, checkpoints at 2000 and 3800: (200 + 60) * 2 = 520.
      // 13: checkpointable from 1000, checkpoint at 2800: (1200 + 60) * 2 = 2520.
      // Same priority: the least lost work, 12, although 13 started more recently.
      {"least_lost_work",
       MakeRunning(12).Gpus(2).Started(200),
       MakeRunning(13).Gpus(2).Started(1000),
       {},
       {12}},
      // 12: not checkpointable from 3000: 1000 * 2 = 2000.
      // 13: checkpointable from 100, checkpoints at 1900 and 3700: (300 + 60) * 2 = 720.
      // 13 loses less although 12 started more recently and ran for a shorter time.
      {"non_checkpointable_loses_everything",
       MakeRunning(12).Gpus(2).Started(3000).NoCheckpoint(),
       MakeRunning(13).Gpus(2).Started(100),
       {},
       {13}},
      // 12: from 200, (200 + 60) * 2 = 520. 13: from 2000, checkpoint at 3800: (200 + 60) * 2 =
      // 520. Equal loss: the most recently started, 13.
      {"most_recent_on_equal_loss",
       MakeRunning(12).Gpus(2).Started(200),
       MakeRunning(13).Gpus(2).Started(2000),
       {},
       {13}},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    Round round;
    round.now_s = 4000;
    round.gpus = 8;
    round.tenants = {Quota(4, 4), Quota(4, 0)};
    round.running = {MakeRunning(10).Gpus(2).Started(0), MakeRunning(11).Gpus(2).Started(10), r.j12,
                     r.j13};
    round.pending = {MakePending(20).Tenant(1).Gpus(2)};
    const RoundPlan plan = round.Plan(r.config);
    EXPECT_THAT(plan.preempt, UnorderedElementsAreArray(r.preempt)) << Describe(plan);
    EXPECT_THAT(StartsWithHosts(plan), ElementsAre("20")) << Describe(plan);
  }
}

TEST(TenantPlannerReclaim, NoPreemptionWhenReclaimIsOff) {
  // The "least_lost_work" setup above with reclaim off: b's entitled job 20 has no idle GPU and
  // may not preempt, so nothing happens.
  Round round;
  round.now_s = 4000;
  round.gpus = 8;
  round.tenants = {Quota(4, 4), Quota(4, 0)};
  round.running = {MakeRunning(10).Gpus(2).Started(0), MakeRunning(11).Gpus(2).Started(10),
                   MakeRunning(12).Gpus(2).Started(200), MakeRunning(13).Gpus(2).Started(1000)};
  round.pending = {MakePending(20).Tenant(1).Gpus(2)};
  const RoundPlan plan = round.Plan(MakeConfig().NoReclaim());
  EXPECT_THAT(plan.preempt, IsEmpty()) << Describe(plan);
  EXPECT_THAT(plan.start, IsEmpty()) << Describe(plan);
}

TEST(TenantPlannerReclaim, GuaranteedSlotsAreNeverVictimsEvenWhenCheapest) {
  // 6 GPUs held by tenant a (guarantee 4, borrow 2): 10 (from 0) and 11 (from 10), 2 GPUs each,
  // are guaranteed (4 of 4); 12 (from 1000, 2 GPUs) is borrowed. now 3700:
  //   10: checkpoint at 3600: (100 + 60) * 2 = 320
  //   11: checkpoint at 3610: (90 + 60) * 2 = 300
  //   12: not checkpointable: 2700 * 2 = 5400
  // b (guarantee 2) needs 2 GPUs: only 12 may go, although 10 and 11 lose far less.
  Round round;
  round.now_s = 3700;
  round.gpus = 6;
  round.tenants = {Quota(4, 2), Quota(2, 0)};
  round.running = {MakeRunning(10).Gpus(2).Started(0), MakeRunning(11).Gpus(2).Started(10),
                   MakeRunning(12).Gpus(2).Started(1000).NoCheckpoint()};
  round.pending = {MakePending(20).Tenant(1).Gpus(2)};
  const RoundPlan plan = round.Plan();
  EXPECT_THAT(plan.preempt, ElementsAre(12)) << Describe(plan);
  EXPECT_THAT(Started(plan), ElementsAre(20)) << Describe(plan);
}

TEST(TenantPlannerReclaim, SlotsAreClassifiedByPriorityThenStartTime) {
  // Tenant a (guarantee 2, borrow 1) holds three 1-GPU jobs: 10 standard from 100, 11 standard
  // from 200, 12 production from 300. In (priority, start) order: 12 (1 of 2 guaranteed), 10
  // (2 of 2), then 11 is borrowed. now 400, losses: 10: 300 + 60 = 360, 11: 260, 12: 160.
  // b (guarantee 1) needs 1 GPU: the only borrowed slot is 11, although 12 loses least and
  // started last (a start-time-only classification would pick 12).
  Round round;
  round.now_s = 400;
  round.gpus = 3;
  round.tenants = {Quota(2, 1), Quota(1, 0)};
  round.running = {MakeRunning(10).Started(100), MakeRunning(11).Started(200),
                   MakeRunning(12).Started(300).Priority(kProd)};
  round.pending = {MakePending(20).Tenant(1)};
  const RoundPlan plan = round.Plan();
  EXPECT_THAT(plan.preempt, ElementsAre(11)) << Describe(plan);
  EXPECT_THAT(Started(plan), ElementsAre(20)) << Describe(plan);
}

TEST(TenantPlannerReclaim, OpportunisticJobsAreNeverEntitled) {
  // The "least_lost_work" setup, but b's job 20 is opportunistic: never entitled, so it does
  // not reclaim a's borrowed slots 12 and 13, and there is no idle GPU to borrow.
  Round round;
  round.now_s = 4000;
  round.gpus = 8;
  round.tenants = {Quota(4, 4), Quota(4, 0)};
  round.running = {MakeRunning(10).Gpus(2).Started(0), MakeRunning(11).Gpus(2).Started(10),
                   MakeRunning(12).Gpus(2).Started(200), MakeRunning(13).Gpus(2).Started(1000)};
  round.pending = {MakePending(20).Tenant(1).Gpus(2).Priority(kOpp)};
  const RoundPlan plan = round.Plan();
  EXPECT_THAT(plan.preempt, IsEmpty()) << Describe(plan);
  EXPECT_THAT(plan.start, IsEmpty()) << Describe(plan);
}

TEST(TenantPlannerReclaim, OpportunisticSlotsAreAlwaysReclaimable) {
  // 6 GPUs. Tenant a (guarantee 4) holds 10 (standard, 2 GPUs) and 13 (opportunistic, 2 GPUs,
  // not checkpointable, from 100): usage 4 = its guarantee, yet 13 is borrowed (opportunistic
  // slots always are). Tenant c (2, guarantee 0) borrows 2 GPUs with 30 (standard, from 3500).
  // b (1, guarantee 2) needs 2 GPUs at 3700. Losses: 13: 3600 * 2 = 7200; 30: (200 + 60) * 2 =
  // 520. Lowest priority first: 13 goes, although a is within its guarantee and 13 loses more.
  Round round;
  round.now_s = 3700;
  round.gpus = 6;
  round.tenants = {Quota(4, 0), Quota(2, 0), Quota(0, 2)};
  round.running = {MakeRunning(10).Gpus(2).Started(0),
                   MakeRunning(13).Gpus(2).Started(100).Priority(kOpp).NoCheckpoint(),
                   MakeRunning(30).Tenant(2).Gpus(2).Started(3500)};
  round.pending = {MakePending(20).Tenant(1).Gpus(2)};
  const RoundPlan plan = round.Plan();
  EXPECT_THAT(plan.preempt, ElementsAre(13)) << Describe(plan);
  EXPECT_THAT(Started(plan), ElementsAre(20)) << Describe(plan);
}

TEST(TenantPlannerReclaim, ASharedGpuIsPreemptedWithBothJobs) {
  // 4 GPUs. Tenant a (guarantee 2, borrow 2): 10 (2 GPUs from 0) is its guaranteed slot; 13
  // (1 GPU from 50, not checkpointable) and the shared GPU of 11 (from 3000) + 12 (from 3100)
  // are borrowed. a's usage: 2 + 1 + 1 (the shared GPU once) = 4 = capacity.
  // b (guarantee 2) needs 1 GPU at 3700. Losses: 13: 3650; 11: 700 + 60 = 760; 12: 600 + 60 =
  // 660, so the shared slot loses least (however its two jobs are summed up). The slot goes
  // whole: both 11 and 12 are preempted, 13 stays.
  Round round;
  round.now_s = 3700;
  round.gpus = 4;
  round.tenants = {Quota(2, 2), Quota(2, 0)};
  round.running = {MakeRunning(10).Gpus(2).Started(0), MakeRunning(13).Started(50).NoCheckpoint(),
                   MakeRunning(11).Started(3000).Kind(0).SharesWith(12),
                   MakeRunning(12).Started(3100).Kind(0).SharesWith(11)};
  round.pending = {MakePending(20).Tenant(1)};
  const RoundPlan plan = round.Plan();
  EXPECT_THAT(plan.preempt, UnorderedElementsAre(11, 12)) << Describe(plan);
  EXPECT_THAT(StartsWithHosts(plan), ElementsAre("20")) << Describe(plan);
}

TEST(TenantPlannerReclaim, MinimalVictims) {
  // Tenant a (guarantee 2, borrow 4): 10 (2 GPUs from 0) guaranteed; 13, 14, 15 (1 GPU each,
  // from 1000, 1100, 1200) borrowed. now 1300, losses 13: 300 + 60 = 360, 14: 260, 15: 160.
  // b (guarantee 3) needs 2 GPUs.
  struct Row {
    const char* name;
    int gpus;
    std::vector<JobId> preempt;
  };
  const Row rows[] = {
      // 5 GPUs, none idle: victims in order 15, 14; 2 GPUs freed, so 13 stays.
      {"no_idle_gpu", 5, {14, 15}},
      // 6 GPUs, 1 idle: one victim (15) frees the second GPU.
      {"one_idle_gpu", 6, {15}},
      // 7 GPUs, 2 idle: nobody is preempted.
      {"enough_idle", 7, {}},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    Round round;
    round.now_s = 1300;
    round.gpus = r.gpus;
    round.tenants = {Quota(2, 4), Quota(3, 0)};
    round.running = {MakeRunning(10).Gpus(2).Started(0), MakeRunning(13).Started(1000),
                     MakeRunning(14).Started(1100), MakeRunning(15).Started(1200)};
    round.pending = {MakePending(20).Tenant(1).Gpus(2)};
    const RoundPlan plan = round.Plan();
    EXPECT_THAT(plan.preempt, UnorderedElementsAreArray(r.preempt)) << Describe(plan);
    EXPECT_THAT(Started(plan), ElementsAre(20)) << Describe(plan);
  }
}

TEST(TenantPlannerReclaim, ASharedGpuIsChargedOnce) {
  // 2 GPUs. Tenant a (guarantee 2, borrow 0) runs 10 + 11 on one shared GPU: usage 1, not 2.
  // Tenant b (guarantee 0) borrows the other GPU with 20. a's job 1 of 1 GPU: 1 + 1 <= 2, so it
  // is entitled and reclaims b's borrowed 20. (Charging the shared GPU twice would make it
  // 3 > 2: not entitled, no reclaim.)
  Round round;
  round.now_s = 100;
  round.gpus = 2;
  round.tenants = {Quota(2, 0), Quota(0, 1)};
  round.running = {MakeRunning(10).Kind(0).SharesWith(11), MakeRunning(11).Kind(0).SharesWith(10),
                   MakeRunning(20).Tenant(1)};
  round.pending = {MakePending(1).Tenant(0)};
  const RoundPlan plan = round.Plan(MakeConfig().NoTimeSharing().NoSplit());
  EXPECT_THAT(plan.preempt, ElementsAre(20)) << Describe(plan);
  EXPECT_THAT(StartsWithHosts(plan), ElementsAre("1")) << Describe(plan);
}

// ---- gang ----------------------------------------------------------------------------------

TEST(TenantPlannerGang, AJobStartsOnAllItsGpusOrNotAtAll) {
  // 4 GPUs; tenant a holds 1 (job 10, ends at 500): 3 idle. b (guarantee 0, borrow 4) asks 4:
  // allowed (0 + 4 <= 4) but 3 < 4 idle, so it does not start, not even on 3 of them. It gets
  // the reservation: at 500, 3 + 1 = 4 GPUs are free -> shadow 500, extra 4 - 4 = 0.
  Round round;
  round.gpus = 4;
  round.tenants = {Quota(1, 0), Quota(0, 4)};
  round.running = {MakeRunning(10).Ends(500)};
  round.pending = {MakePending(20).Tenant(1).Gpus(4).Estimate(100)};
  const RoundPlan plan = round.Plan();
  EXPECT_THAT(plan.start, IsEmpty()) << Describe(plan);
  EXPECT_THAT(plan.preempt, IsEmpty()) << Describe(plan);
  ASSERT_EQ(plan.reservations.size(), 1u) << Describe(plan);
  EXPECT_EQ(plan.reservations[0].job, 20u);
  EXPECT_DOUBLE_EQ(plan.reservations[0].start_s, 500);
  EXPECT_EQ(plan.reservations[0].extra_milli, 0);
}

// ---- backfill ------------------------------------------------------------------------------

TEST(TenantPlannerBackfill, EasyBackfillAroundTheHeadReservation) {
  // now 1000, 10 GPUs. Tenant 1 runs 10 (4 GPUs, ends 1100) and 11 (3 GPUs, ends 1300): 3 idle.
  // Tenant 0 (guarantee 0, borrow 20: every job allowed, none entitled) submits the head job 1
  // of 8 GPUs first, then the candidates. Head's reservation: at 1100, 3 + 4 = 7 < 8; at 1300,
  // 10 >= 8 -> shadow time 1300, extra 10 - 8 = 2 GPUs. A long job that starts in the extra
  // "uses it up": the plan's reservation then shows what is left over at 1300 after it.
  struct Row {
    const char* name;
    std::vector<PendingJob> candidates;
    ConfigBuilder config;
    std::vector<JobId> started;
    core::Milli extra = 2000;
    bool reservation = true;
  };
  const Row rows[] = {
      // 3 GPUs for 250 s: ends 1250 <= 1300, fits the 3 idle GPUs: starts. Extra stays 2.
      {"short_job_ends_before_shadow", {MakePending(2).Gpus(3).Estimate(250).Submit(1)}, {}, {2}},
      // Ends at 1300, "by the shadow time": starts.
      {"job_ends_at_shadow", {MakePending(2).Gpus(3).Estimate(300).Submit(1)}, {}, {2}},
      // 3 GPUs for 1000 s: ends 2000 > 1300 and 3 > extra 2: would delay the head, waits.
      {"long_job_would_delay_head", {MakePending(2).Gpus(3).Estimate(1000).Submit(1)}, {}, {}},
      // 2 GPUs for 1000 s: ends after the shadow time but fits in extra 2: starts; extra 2 - 2.
      {"long_job_fits_extra", {MakePending(2).Gpus(2).Estimate(1000).Submit(1)}, {}, {2}, 0},
      // 1 GPU for 1000 s: fits in extra 2, starts; extra 2 - 1 = 1 left.
      {"long_job_uses_part_of_extra",
       {MakePending(2).Gpus(1).Estimate(1000).Submit(1)},
       {},
       {2},
       1000},
      // 2 (long, 2 GPUs) takes the extra 2; 3 (long, 1 GPU) then finds extra 0 although 1 GPU
      // is idle: waits; 4 (1 GPU, ends 1100 <= 1300) starts on that GPU. Extra left: 0.
      {"extra_is_used_up",
       {MakePending(2).Gpus(2).Estimate(1000).Submit(1),
        MakePending(3).Gpus(1).Estimate(1000).Submit(2),
        MakePending(4).Gpus(1).Estimate(100).Submit(3)},
       {},
       {2, 4},
       0},
      // Backfill off: strict order, nothing passes the blocked head.
      {"backfill_off",
       {MakePending(2).Gpus(3).Estimate(250).Submit(1)},
       MakeConfig().NoBackfill(),
       {},
       0,
       false},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    Round round;
    round.now_s = 1000;
    round.gpus = 10;
    round.tenants = {Quota(0, 20), Quota(0, 10)};
    round.running = {MakeRunning(10).Tenant(1).Gpus(4).Started(0).Ends(1100),
                     MakeRunning(11).Tenant(1).Gpus(3).Started(0).Ends(1300)};
    round.pending = {MakePending(1).Gpus(8).Estimate(500).Submit(0)};
    round.pending.insert(round.pending.end(), r.candidates.begin(), r.candidates.end());
    const RoundPlan plan = round.Plan(r.config);
    EXPECT_THAT(Started(plan), ElementsAreArray(r.started)) << Describe(plan);
    EXPECT_THAT(plan.preempt, IsEmpty()) << Describe(plan);
    if (r.reservation) {
      ASSERT_EQ(plan.reservations.size(), 1u) << Describe(plan);
      EXPECT_EQ(plan.reservations[0].job, 1u);
      EXPECT_DOUBLE_EQ(plan.reservations[0].start_s, 1300);
      EXPECT_EQ(plan.reservations[0].extra_milli, r.extra);
    }
  }
}

// ---- time-sharing --------------------------------------------------------------------------

TEST(TenantPlannerTimeSharing, ABlockedOneGpuJobJoinsTheBestHostOfItsTenant) {
  // Every GPU is held, so pending job 1 (tenant 0, 1 GPU, kind 0 unless a row says else) cannot
  // start on idle GPUs; both tenants may borrow, nobody is entitled, nobody is preempted.
  // Pairs with kind 0 (FourKinds): with 0: 0.6 + 0.6 = 1.2 good; with 1: 0.8 + 0.7 = 1.5 good
  // (best on every measure); with 2: 0.3 < 0.4 bad.
  const SharingTable table = FourKinds();
  struct Row {
    const char* name;
    std::vector<RunningJob> running;
    std::vector<std::string> starts;
    PendingJob job = MakePending(1).Kind(0);
    ConfigBuilder config;
    bool with_table = true;
  };
  const Row rows[] = {
      // Hosts 10 (kind 0, 1.2), 11 (kind 1, 1.5), 12 (kind 2, bad): the best is 11.
      {"best_host",
       {MakeRunning(10).Kind(0), MakeRunning(11).Kind(1), MakeRunning(12).Kind(2)},
       {"1@11"}},
      // 10 (kind 1) would be the better pair but belongs to tenant 1: the host is 11 (1.2).
      {"own_tenant_only", {MakeRunning(10).Tenant(1).Kind(1), MakeRunning(11).Kind(0)}, {"1@11"}},
      // Only a host of another tenant: no start.
      {"never_another_tenant", {MakeRunning(10).Tenant(1).Kind(1)}, {}},
      // Only a bad pair (0.3 < 0.4): no start.
      {"bad_pair", {MakeRunning(10).Kind(2)}, {}},
      // The only kind-1 job runs on 2 GPUs: not a 1-GPU host.
      {"host_is_multi_gpu", {MakeRunning(10).Gpus(2).Kind(1)}, {}},
      // 10 and 11 already share their GPU: not a solo host.
      {"host_already_shared",
       {MakeRunning(10).Kind(1).SharesWith(11), MakeRunning(11).Kind(3).SharesWith(10)},
       {}},
      // The host has no sharing kind.
      {"host_kind_none", {MakeRunning(10)}, {}},
      // The pending job has no sharing kind.
      {"job_kind_none", {MakeRunning(10).Kind(1)}, {}, MakePending(1)},
      // A 2-GPU job never time-shares, even with two good 1-GPU hosts.
      {"job_is_multi_gpu",
       {MakeRunning(10).Kind(1), MakeRunning(11).Kind(1)},
       {},
       MakePending(1).Gpus(2).Kind(0)},
      // Rule 4 off.
      {"time_sharing_off",
       {MakeRunning(10).Kind(0), MakeRunning(11).Kind(1)},
       {},
       MakePending(1).Kind(0),
       MakeConfig().NoTimeSharing()},
      // No sharing table: no time-sharing.
      {"no_table",
       {MakeRunning(10).Kind(0), MakeRunning(11).Kind(1)},
       {},
       MakePending(1).Kind(0),
       {},
       false},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    Round round;
    round.now_s = 100;
    round.tenants = {Quota(0, 8), Quota(0, 8)};
    round.running = r.running;
    for (RunningJob& j : round.running) j.expected_end_s = 5000;
    // Capacity = the GPUs held: a shared GPU once.
    for (const RunningJob& j : round.running) {
      if (j.shares_with == 0 || j.id < j.shares_with) round.gpus += j.gpus;
    }
    round.pending = {r.job};
    round.sharing = r.with_table ? &table : nullptr;
    const RoundPlan plan = round.Plan(r.config);
    EXPECT_THAT(StartsWithHosts(plan), ElementsAreArray(r.starts)) << Describe(plan);
    EXPECT_THAT(plan.preempt, IsEmpty()) << Describe(plan);
    EXPECT_THAT(plan.split, IsEmpty()) << Describe(plan);
  }
}

// ---- split ---------------------------------------------------------------------------------

TEST(TenantPlannerSplit, AGuestMovesToAnIdleGpuWithinItsTenantsAllowance) {
  // Tenant 0 runs 10 (from 0) and its guest 11 (joined at 500) on one shared GPU: usage 1.
  // The guest is the later started job of the pair: 11.
  const SharingTable table = FourKinds();
  struct Row {
    const char* name;
    int gpus;
    TenantQuota quota;
    std::vector<RunningJob> others;
    std::vector<PendingJob> pending;
    ConfigBuilder config;
    bool splits;
  };
  const Row rows[] = {
      // 2 GPUs, 1 idle; 1 + 1 <= guarantee 1 + borrow 1: the guest moves.
      {"idle_gpu_within_allowance", 2, Quota(1, 1), {}, {}, {}, true},
      // 1 + 1 > 1 + 0: the tenant may not hold one more GPU.
      {"would_exceed_borrow_limit", 2, Quota(1, 0), {}, {}, {}, false},
      // Rule 5 off.
      {"split_off", 2, Quota(1, 1), {}, {}, MakeConfig().NoSplit(), false},
      // Tenant 1's job 30 (may borrow 1) takes the idle GPU first: none is left after the starts.
      {"starts_first", 2, Quota(1, 1), {}, {MakePending(30).Tenant(1)}, {}, false},
      // 3 GPUs: tenant 1 runs 20 (ends 500), 1 idle. Its job 30 of 2 GPUs (1 + 2 <= 0 + 3) does
      // not fit: reservation at 500 (1 + 1 = 2 free), extra 0. The idle GPU is held by the
      // reservation (a guest on it would leave 1 < 2 GPUs at 500): no split.
      {"idle_gpu_held_by_reservation",
       3,
       Quota(1, 1),
       {MakeRunning(20).Tenant(1).Ends(500)},
       {MakePending(30).Tenant(1).Gpus(2).Estimate(100)},
       {},
       false},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    Round round;
    round.now_s = 1000;
    round.gpus = r.gpus;
    round.tenants = {r.quota, Quota(0, 3)};
    round.running = {MakeRunning(10).Started(0).Ends(1e6).Kind(0).SharesWith(11),
                     MakeRunning(11).Started(500).Ends(1e6).Kind(0).SharesWith(10)};
    round.running.insert(round.running.end(), r.others.begin(), r.others.end());
    round.pending = r.pending;
    round.sharing = &table;
    const RoundPlan plan = round.Plan(r.config);
    if (r.splits) {
      EXPECT_THAT(plan.split, ElementsAre(11u)) << Describe(plan);
    } else {
      EXPECT_THAT(plan.split, IsEmpty()) << Describe(plan);
    }
    EXPECT_THAT(plan.preempt, IsEmpty()) << Describe(plan);
  }
}

// ---- determinism ---------------------------------------------------------------------------

// A round that exercises every rule: a's borrowed 12 is reclaimed for b's entitled 30, 31
// borrows, 33 is blocked (reservation) and 32 may join a host or backfill.
Round BusyRound() {
  Round round;
  round.now_s = 4000;
  round.gpus = 10;
  round.tenants = {Quota(4, 4), Quota(4, 2), Quota(0, 4)};
  round.fair_share = {0.3, 0.2, 0.1};
  round.running = {
      MakeRunning(10).Gpus(2).Started(0).Ends(9000),
      MakeRunning(11).Gpus(2).Started(10).Ends(9000),
      MakeRunning(12).Gpus(2).Started(200).Ends(6000),
      MakeRunning(13).Started(300).Ends(5000).Kind(0),
      MakeRunning(20).Tenant(1).Started(400).Ends(4500).Kind(1),
      MakeRunning(21).Tenant(2).Started(3000).Ends(4200).Priority(kOpp),
  };
  round.pending = {
      MakePending(30).Tenant(1).Gpus(2).Submit(100).Estimate(1000),
      MakePending(31).Tenant(1).Submit(200).Estimate(100).Kind(1),
      MakePending(32).Tenant(0).Submit(50).Estimate(3000).Kind(3),
      MakePending(33).Tenant(2).Gpus(4).Submit(10).Estimate(600),
      MakePending(34).Tenant(2).Submit(20).Estimate(100).Priority(kOpp),
      MakePending(35).Tenant(0).Submit(60).Estimate(100).Priority(kProd),
  };
  return round;
}

TEST(TenantPlannerDeterminism, SameInputSamePlan) {
  const SharingTable table = FourKinds();
  Round round = BusyRound();
  round.sharing = &table;
  const RoundPlan first = round.Plan();
  const RoundPlan second = round.Plan();
  EXPECT_EQ(Describe(first), Describe(second));
  EXPECT_FALSE(first.start.empty()) << Describe(first);
}

TEST(TenantPlannerDeterminism, UnsortedPendingGivesTheSamePlanAsSorted) {
  const SharingTable table = FourKinds();
  Round sorted = BusyRound();
  sorted.sharing = &table;
  // The documented fast order: by tenant, then (priority, submit_s, id).
  std::ranges::sort(sorted.pending, {}, [](const PendingJob& j) {
    return std::tuple(j.tenant, j.priority, j.submit_s, j.id);
  });
  const std::string expected = Describe(sorted.Plan());

  Round reversed = sorted;
  std::ranges::reverse(reversed.pending);
  EXPECT_EQ(Describe(reversed.Plan()), expected);

  Round by_id_desc = sorted;
  std::ranges::sort(by_id_desc.pending, std::ranges::greater{}, &PendingJob::id);
  EXPECT_EQ(Describe(by_id_desc.Plan()), expected);
}

// ---- reservations seen by the review of the first version ----------------------------------

TEST(TenantPlannerBackfill, TenantReservationCountsJobsEntitledEarlierInTheRound) {
  // Guarantee 4, 8 GPUs, nothing running. Pending in order: A (2 GPUs, 1 h), B (4 GPUs),
  // C (2 GPUs, 100 h). A is entitled (room 4 -> 2). B does not fit the room left: its
  // reservation must count A's end (now + 3600 frees 2: room 4 at 3600), extra 0. C would end
  // after 3600 and there is no extra: C waits (a static 4-GPU partition would not run it either).
  Round round;
  round.gpus = 8;
  round.tenants = {Quota(4, 0)};
  round.pending = {MakePending(1).Gpus(2).Submit(0).Estimate(3600),
                   MakePending(2).Gpus(4).Submit(1).Estimate(600),
                   MakePending(3).Gpus(2).Submit(2).Estimate(360000)};
  const RoundPlan plan = round.Plan();
  EXPECT_THAT(Started(plan), ElementsAre(1)) << Describe(plan);
  ASSERT_EQ(plan.reservations.size(), 1u) << Describe(plan);
  EXPECT_EQ(plan.reservations[0].job, 2u);
  EXPECT_EQ(plan.reservations[0].start_s, 3600);
  EXPECT_EQ(plan.reservations[0].extra_milli, 0);
}

TEST(TenantPlannerBackfill, ATenantsBorrowingNeverOvertakesItsOwnReservation) {
  // 8 GPUs; tenants 0 and 1 each guarantee 4, borrow up to 8; tenant 1 has the smaller share.
  // Running: X (tenant 0, 3 GPUs, ends 100), Y (tenant 1, 3 GPUs, ends 1000): 2 GPUs idle.
  // Pending: A (tenant 0, 4 GPUs): 3 + 4 > 4, tenant reservation at 100 (X ends: room 4),
  // extra 0. B (tenant 0, 2 GPUs, ends 900): 3 + 2 > 4 is borrowing; it fits the idle GPUs,
  // but it would still run at 100 and hold tenant 0 above its guarantee, delaying A: B waits.
  // B2 (tenant 0, 2 GPUs, ends 90 <= 100): passes the reservation and starts.
  Round round;
  round.gpus = 8;
  round.tenants = {Quota(4, 8), Quota(4, 8)};
  round.fair_share = {0.5, 0.1};
  round.running = {MakeRunning(10).Tenant(0).Gpus(3).Ends(100),
                   MakeRunning(11).Tenant(1).Gpus(3).Ends(1000)};
  for (double b_estimate : {900.0, 90.0}) {
    SCOPED_TRACE(b_estimate);
    round.pending = {MakePending(1).Tenant(0).Gpus(4).Submit(0).Estimate(500),
                     MakePending(2).Tenant(0).Gpus(2).Submit(1).Estimate(b_estimate)};
    const RoundPlan plan = round.Plan();
    EXPECT_EQ(Started(plan), b_estimate <= 100 ? std::vector<JobId>{2} : std::vector<JobId>{})
        << Describe(plan);
    ASSERT_FALSE(plan.reservations.empty());
    EXPECT_EQ(plan.reservations.back().job, 1u);
    EXPECT_EQ(plan.reservations.back().start_s, 100);
  }
}

TEST(TenantPlannerGoodPair, AZeroSpeedIsNeverAPairWhateverTheThresholds) {
  // own(0,1) = 0 means the two cannot share a GPU: no thresholds make it a pair.
  SharingTable t;
  t.kinds = 2;
  t.own = {0.5, 0.0, 1.0, 0.5};
  const PlannerConfig zero = MakeConfig().PairSpeed(0).PairThroughput(0);
  EXPECT_FALSE(GoodPair(t, 0, 1, zero));
  EXPECT_FALSE(GoodPair(t, 1, 0, zero));
  EXPECT_TRUE(GoodPair(t, 0, 0, zero));
}

}  // namespace
}  // namespace gpool::sched
