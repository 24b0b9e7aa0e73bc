#include "sim/philly_replay.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gpool::sim {
namespace {

// Speeds (steps/s) on "v100". Normalised co-located speeds:
//   A with A: 6/10 = 0.6 each, sum 1.2;  A with B: A 8/10 = 0.8, B 3/5 = 0.6, sum 1.4;
//   B with B: 2/5 = 0.4 each, sum 0.8.
// A also has scales 2 (18/s) and 4 (30/s); B has scale 1 only.
constexpr const char* kTable = R"json({"v100": {
  "('A', 1)": {"null": 10.0, "('A', 1)": [6.0, 6.0], "('B', 1)": [8.0, 3.0]},
  "('B', 1)": {"null": 5.0, "('A', 1)": [3.0, 8.0], "('B', 1)": [2.0, 2.0]},
  "('A', 2)": {"null": 18.0},
  "('A', 4)": {"null": 30.0}
}})json";

ThroughputTable Table() {
  auto t = ThroughputTable::Parse(kTable, "test.json");
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return *t;
}

// A job of `type` that runs `seconds` alone at `gpus` (steps = seconds * speed).
PhillyJob Job(const std::string& team, const std::string& type, double seconds, double arrival,
              int gpus = 1) {
  const double speed = type == "B" ? 5.0 : gpus == 1 ? 10.0 : gpus == 2 ? 18.0 : 30.0 * gpus / 4;
  PhillyJob j;
  j.team = team;
  j.job_type = type;
  j.total_steps = static_cast<std::int64_t>(seconds * speed + 0.5);
  j.arrival_s = arrival;
  j.gpus = gpus;
  return j;
}

ReplayConfig Config(ReplayMode mode, int gpus) {
  ReplayConfig c;
  c.mode = mode;
  c.gpus = gpus;
  return c;
}

ReplayResult Replay(const std::vector<PhillyJob>& jobs, const ReplayConfig& c) {
  auto r = RunPhillyReplay(jobs, Table(), c);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : ReplayResult{};
}

TEST(PartitionByDemand, ProportionalWithOneGpuMinimumAndLargestRemainder) {
  struct Case {
    std::vector<double> demand;
    int gpus;
    std::vector<int> want;
  };
  const std::vector<Case> cases = {
      {{3, 1}, 4, {3, 1}},          // exact
      {{1, 1, 1}, 4, {2, 1, 1}},    // 1.33 each: floors 1,1,1; the tie goes to the first
      {{5, 3, 2}, 7, {4, 2, 1}},    // 3.5, 2.1, 1.4: floors 3,2,1; remainders .5 .1 .4
      {{100, 0.0001}, 2, {1, 1}},   // the one-GPU minimum
      {{100, 1, 1}, 3, {1, 1, 1}},  // minimum everywhere
      {{9, 1, 0}, 12, {10, 1, 1}},  // 10.8, 1.2, 0 -> 10, 1, 1(min); 12 given
  };
  for (const Case& c : cases) {
    auto got = PartitionByDemand(c.demand, c.gpus);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, c.want) << "gpus " << c.gpus;
    int sum = 0;
    for (int g : *got) sum += g;
    EXPECT_EQ(sum, c.gpus);
  }
  auto too_few = PartitionByDemand({1, 1, 1}, 2);
  EXPECT_EQ(too_few.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_few.status().message().find("3 teams, 2 GPUs"), std::string::npos);
}

TEST(PhillyReplay, JobLengthIsStepsOverSpeedWithLinearFallback) {
  // A at 1 GPU: 3600 s. A at 8 GPUs: no scale 8, largest listed is 4 (30/s) -> 60/s.
  // A at 3 GPUs: scale 2 (18/s) -> 27/s. Each alone on 8 GPUs, one after another (arrivals far
  // apart, on round boundaries: multiples of the 60 s interval), so JCT = length, no queueing.
  PhillyJob a8 = Job("t", "A", 0, 9960, 8);
  a8.total_steps = 6000;  // 6000 / 60 = 100 s
  PhillyJob a3 = Job("t", "A", 0, 19980, 3);
  a3.total_steps = 2700;  // 2700 / 27 = 100 s
  const std::vector<PhillyJob> jobs = {Job("t", "A", 3600, 0), a8, a3};
  for (ReplayMode mode : {ReplayMode::kStatic, ReplayMode::kPool}) {
    const ReplayResult r = Replay(jobs, Config(mode, 8));
    ASSERT_EQ(r.jobs.size(), 3u);
    EXPECT_DOUBLE_EQ(r.jobs[0].finish_s, 3600);
    EXPECT_DOUBLE_EQ(r.jobs[1].finish_s - r.jobs[1].first_start_s, 100);
    EXPECT_DOUBLE_EQ(r.jobs[2].finish_s - r.jobs[2].first_start_s, 100);
    EXPECT_EQ(r.overall.mean_queue_s, 0);
  }
}

TEST(PhillyReplay, PoolLendsIdleGuaranteedGpus) {
  // Two teams of equal demand (7200 GPU-s) on 2 GPUs: quotas 1 and 1. x submits two 3600 s jobs
  // at 0; y one 7200 s job at 7200. B never pairs with B (0.4 + 0.4 < 1.5).
  //   static: x's second job waits for x's only GPU: JCTs 3600, 7200; y 7200.  mean 6000.
  //   pool:   x borrows y's idle GPU: JCTs 3600, 3600; y 7200 (its GPU is free).  mean 4800.
  const std::vector<PhillyJob> jobs = {Job("x", "B", 3600, 0), Job("x", "B", 3600, 0),
                                       Job("y", "B", 7200, 7200)};
  const ReplayResult s = Replay(jobs, Config(ReplayMode::kStatic, 2));
  const ReplayResult p = Replay(jobs, Config(ReplayMode::kPool, 2));
  ASSERT_EQ(s.teams.size(), 2u);
  EXPECT_EQ(s.teams[0].quota_gpus, 1);
  EXPECT_EQ(s.teams[1].quota_gpus, 1);
  EXPECT_DOUBLE_EQ(s.overall.mean_jct_s, 6000);
  EXPECT_DOUBLE_EQ(p.overall.mean_jct_s, 4800);
  EXPECT_DOUBLE_EQ(s.jobs[1].queue_s, 3600);
  EXPECT_DOUBLE_EQ(p.jobs[1].queue_s, 0);
  EXPECT_EQ(p.overall.preemptions, 0);
  // Window [0, 7200] (the last arrival): static holds x's GPU all along and y's not at all,
  // 7200 of 14400 GPU-s (50 %); the pool holds both GPUs for 3600 s: also 50 %, and both
  // deliver x's 2 GPU-hours in it. The pool is done sooner, not busier: while x waited in
  // static, half the GPUs were idle (allocation while some job waits: 50 % vs none waiting).
  EXPECT_DOUBLE_EQ(s.overall.time_avg_allocation, 50);
  EXPECT_DOUBLE_EQ(p.overall.time_avg_allocation, 50);
  EXPECT_NEAR(s.overall.delivered_gpu_hours, 2.0, 1e-9);
  EXPECT_NEAR(p.overall.delivered_gpu_hours, 2.0, 1e-9);
  EXPECT_DOUBLE_EQ(s.overall.allocation_while_waiting, 50);
  EXPECT_NEAR(s.overall.waiting_hours, 1.0, 1e-9);
  EXPECT_EQ(p.overall.waiting_hours, 0);
}

TEST(PhillyReplay, OwnerReclaimsBorrowedGpuAndTheVictimResumesFromItsCheckpoint) {
  // Quotas 1 and 1 (demands 14400 each). x: two 7200 s jobs at 0; y: one 14400 s job at 2700.
  // Pool: x's second job (id 2; same start as id 1, so it is the borrowed slot) runs on y's GPU.
  // At 2700 y is entitled and reclaims it: ran 2700 s, checkpoints every 1800 s, so it loses
  // 900 s of progress and pays a 60 s restore: lost (900 + 60) GPU-s = 0.2667 GPU-h.
  // x's first job ends at 7200; the victim restarts then with 7200 - 1800 = 5400 s left plus the
  // restore: it ends at 7200 + 60 + 5400 = 12660. y ends at 2700 + 14400 = 17100, never waiting.
  const std::vector<PhillyJob> jobs = {Job("x", "B", 7200, 0), Job("x", "B", 7200, 0),
                                       Job("y", "B", 14400, 2700)};
  const ReplayResult p = Replay(jobs, Config(ReplayMode::kPool, 2));
  EXPECT_EQ(p.overall.preemptions, 1);
  EXPECT_EQ(p.jobs[1].preemptions, 1);
  EXPECT_NEAR(p.overall.lost_gpu_hours, 960.0 / 3600, 1e-9);
  EXPECT_DOUBLE_EQ(p.jobs[0].finish_s, 7200);
  EXPECT_DOUBLE_EQ(p.jobs[1].finish_s, 12660);
  EXPECT_DOUBLE_EQ(p.jobs[1].queue_s, 7200 - 2700);
  EXPECT_DOUBLE_EQ(p.jobs[2].queue_s, 0);
  EXPECT_DOUBLE_EQ(p.jobs[2].finish_s, 17100);
  EXPECT_EQ(p.guarantee_violations, 0);
  // Without checkpoints the victim loses all 2700 s and restarts from zero: ends 7200 + 7200.
  ReplayConfig no_ckpt = Config(ReplayMode::kPool, 2);
  no_ckpt.planner.checkpoint_interval_s = 0;
  const ReplayResult q = Replay(jobs, no_ckpt);
  EXPECT_NEAR(q.overall.lost_gpu_hours, 2700.0 / 3600, 1e-9);
  EXPECT_DOUBLE_EQ(q.jobs[1].finish_s, 14400);
  // Static never preempts: x's second job waits for x's GPU (7200 -> 14400).
  const ReplayResult s = Replay(jobs, Config(ReplayMode::kStatic, 2));
  EXPECT_EQ(s.overall.preemptions, 0);
  EXPECT_DOUBLE_EQ(s.jobs[1].finish_s, 14400);
}

TEST(PhillyReplay, TimeSharingRunsAGoodPairAtItsCoLocatedSpeeds) {
  // One team, 1 GPU. A (3600 s alone) and B (1800 s alone) arrive at 0; A has the smaller id.
  // Pool: A starts; B cannot start and pairs with it (A keeps 0.8, B 0.6: 1.4 < 1.5 is too little
  // by default, so lower the threshold to 1.4). B ends at 1800 / 0.6 = 3000 s; A has done
  // 3000 * 0.8 = 2400 s of work and finishes the last 1200 s alone at 4200 s.
  // Static: A 0..3600, B 3600..5400.
  const std::vector<PhillyJob> jobs = {Job("t", "A", 3600, 0), Job("t", "B", 1800, 0)};
  ReplayConfig c = Config(ReplayMode::kPool, 1);
  c.planner.min_pair_throughput = 1.4;
  const ReplayResult p = Replay(jobs, c);
  EXPECT_NEAR(p.jobs[1].finish_s, 3000, 1e-6);
  EXPECT_NEAR(p.jobs[0].finish_s, 4200, 1e-6);
  EXPECT_TRUE(p.jobs[0].shared);
  EXPECT_TRUE(p.jobs[1].shared);
  // With the default threshold the pair is not good enough: B waits as in static.
  const ReplayResult d = Replay(jobs, Config(ReplayMode::kPool, 1));
  EXPECT_DOUBLE_EQ(d.jobs[1].finish_s, 5400);
  EXPECT_FALSE(d.jobs[1].shared);
  const ReplayResult s = Replay(jobs, Config(ReplayMode::kStatic, 1));
  EXPECT_DOUBLE_EQ(s.jobs[0].finish_s, 3600);
  EXPECT_DOUBLE_EQ(s.jobs[1].finish_s, 5400);
}

TEST(PhillyReplay, APairEndingOnARoundBoundaryFreesItsPlaceInThatRound) {
  // As above (threshold 1.4): A and B share from 0, B ends at exactly 3000 (a round boundary).
  // C (B-type, 1 GPU) arrives at 60 and waits: A is already hosting. In the round at 3000 B is
  // done, so C joins A at 3000, not one round later.
  const std::vector<PhillyJob> jobs = {Job("t", "A", 3600, 0), Job("t", "B", 1800, 0),
                                       Job("t", "B", 600, 60)};
  ReplayConfig c = Config(ReplayMode::kPool, 1);
  c.planner.min_pair_throughput = 1.4;
  const ReplayResult p = Replay(jobs, c);
  EXPECT_NEAR(p.jobs[1].finish_s, 3000, 1e-6);
  EXPECT_DOUBLE_EQ(p.jobs[2].first_start_s, 3000);
}

TEST(PhillyReplay, GuestMovesToAGpuThatFreesUp) {
  // One team, 2 GPUs, A jobs at 0 in id order: J1 6000 s, J2 600 s, J3 6000 s. J1 and J2 take
  // the GPUs; J3 pairs with the first good host, J1 (A+A: 0.6 + 0.6 = 1.2, so the threshold is
  // lowered to 1.2). At 600 J2 ends and its GPU is idle: the guest (J3: same start as J1, larger
  // id) moves there paying a 60 s restore. Both did 600 * 0.6 = 360 s of work by then.
  // J1 alone: 6000 - 360 = 5640 s more, ends at 6240. J3: 60 + 5640 s, ends at 6300.
  const std::vector<PhillyJob> jobs = {Job("t", "A", 6000, 0), Job("t", "A", 600, 0),
                                       Job("t", "A", 6000, 0)};
  ReplayConfig c = Config(ReplayMode::kPool, 2);
  c.planner.min_pair_throughput = 1.2;
  const ReplayResult p = Replay(jobs, c);
  EXPECT_EQ(p.overall.migrations, 1);
  EXPECT_DOUBLE_EQ(p.jobs[1].finish_s, 600);
  EXPECT_NEAR(p.jobs[0].finish_s, 6240, 1e-6);
  EXPECT_NEAR(p.jobs[2].finish_s, 6300, 1e-6);
  EXPECT_NEAR(p.overall.lost_gpu_hours, 60.0 / 3600, 1e-9);
  // Without splits the guest stays: both run at 0.6 until J1 ends at 6000 / 0.6 = 10000.
  c.planner.split = false;
  const ReplayResult q = Replay(jobs, c);
  EXPECT_EQ(q.overall.migrations, 0);
  EXPECT_NEAR(q.jobs[0].finish_s, 10000, 1e-6);
}

TEST(PhillyReplay, StaticPartitionBackfillKeepsTheReservation) {
  // One team owning 2 GPUs. L: 1 GPU, 9960 s at 0. W: 2 GPUs (A at scale 2), 1020 s at 60:
  // blocked, reserved for 9960 (when L ends). S: 1 GPU, 3600 s at 120: ends at 3720 <= 9960,
  // so it backfills at 120. T: 1 GPU, 20000 s at 120 would end after 9960 and there is no
  // extra GPU then: it waits until W is done (9960 + 1020 = 10980). (All on 60 s rounds.)
  const std::vector<PhillyJob> jobs = {Job("t", "A", 9960, 0), Job("t", "A", 1020, 60, 2),
                                       Job("t", "A", 3600, 120), Job("t", "A", 20000, 120)};
  for (ReplayMode mode : {ReplayMode::kStatic, ReplayMode::kPool}) {
    ReplayConfig c = Config(mode, 2);
    c.planner.time_sharing = false;
    const ReplayResult r = Replay(jobs, c);
    EXPECT_DOUBLE_EQ(r.jobs[2].first_start_s, 120) << ReplayModeName(mode);
    EXPECT_DOUBLE_EQ(r.jobs[1].first_start_s, 9960) << ReplayModeName(mode);
    EXPECT_DOUBLE_EQ(r.jobs[3].first_start_s, 10980) << ReplayModeName(mode);
  }
}

TEST(PhillyReplay, JobsWiderThanTheirPartitionRunNarrowerAndLonger) {
  // Team x's demand is 3x team y's on 4 GPUs: partitions 3 and 1. y asks 2 GPUs for 100 s
  // (A at scale 2: 18/s): static runs it on 1 GPU for 200 s; the pool on 2 GPUs for 100 s.
  std::vector<PhillyJob> jobs = {Job("x", "A", 600, 0, 1), Job("y", "A", 100, 0, 2)};
  jobs[0].total_steps = 6000;  // 600 s at 10/s: demand 600 GPU-s vs y's 200 GPU-s => 3 : 1
  const ReplayResult s = Replay(jobs, Config(ReplayMode::kStatic, 4));
  EXPECT_EQ(s.teams[0].quota_gpus, 3);
  EXPECT_EQ(s.jobs[1].width, 1);
  EXPECT_DOUBLE_EQ(s.jobs[1].finish_s, 200);
  const ReplayResult p = Replay(jobs, Config(ReplayMode::kPool, 4));
  EXPECT_EQ(p.jobs[1].width, 2);
  EXPECT_DOUBLE_EQ(p.jobs[1].finish_s, 100);
}

TEST(PhillyReplay, TeamWithinItsQuotaNeverWaitsLongerThanInItsPartition) {
  // A busy team floods the pool and borrows everything idle; a steady team submits one 1-GPU job
  // at a time, never more than its quota. In static it never waits beyond the round; in the pool
  // it reclaims at once: per job, pool wait <= static wait + one interval.
  std::vector<PhillyJob> jobs;
  for (int i = 0; i < 40; ++i) jobs.push_back(Job("busy", "B", 5000 + 37.0 * i, 10.0 * i));
  for (int i = 0; i < 20; ++i) jobs.push_back(Job("steady", "B", 1000, 1500.0 * i + 7));
  const ReplayResult s = Replay(jobs, Config(ReplayMode::kStatic, 8));
  const ReplayResult p = Replay(jobs, Config(ReplayMode::kPool, 8));
  ASSERT_EQ(p.teams[1].name, "steady");
  EXPECT_GE(p.teams[1].quota_gpus, 1);
  EXPECT_GT(p.overall.preemptions, 0);  // the busy team did borrow the steady team's GPU
  for (std::size_t i = 40; i < jobs.size(); ++i) {
    EXPECT_LE(p.jobs[i].queue_s, s.jobs[i].queue_s + 60) << "steady job " << i - 40;
  }
  EXPECT_EQ(p.guarantee_violations, 0);
}

TEST(PhillyReplay, IsDeterministic) {
  std::vector<PhillyJob> jobs;
  for (int i = 0; i < 60; ++i) {
    jobs.push_back(Job(i % 3 == 0 ? "x" : "y", i % 2 ? "A" : "B", 500 + 97.0 * (i % 7), 31.0 * i,
                       i % 5 == 0 && i % 2 ? 2 : 1));
  }
  for (ReplayMode mode : {ReplayMode::kStatic, ReplayMode::kPool}) {
    const ReplayResult a = Replay(jobs, Config(mode, 4));
    const ReplayResult b = Replay(jobs, Config(mode, 4));
    ASSERT_EQ(a.jobs.size(), b.jobs.size());
    for (std::size_t i = 0; i < a.jobs.size(); ++i) {
      EXPECT_EQ(a.jobs[i].finish_s, b.jobs[i].finish_s);
      EXPECT_EQ(a.jobs[i].queue_s, b.jobs[i].queue_s);
    }
    EXPECT_EQ(a.overall.time_avg_allocation, b.overall.time_avg_allocation);
  }
}

TEST(PhillyReplay, ExplainsBadInput) {
  const std::vector<PhillyJob> jobs = {Job("x", "A", 100, 0), Job("y", "A", 100, 0)};
  ReplayConfig c = Config(ReplayMode::kPool, 2);
  c.gpu_type = "k80";
  auto r = RunPhillyReplay(jobs, Table(), c);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("GPU type 'k80'"), std::string::npos);
  EXPECT_NE(r.status().message().find("v100"), std::string::npos);

  auto one_gpu = RunPhillyReplay(jobs, Table(), Config(ReplayMode::kStatic, 1));
  EXPECT_EQ(one_gpu.status().code(), StatusCode::kInvalidArgument);

  std::vector<PhillyJob> unknown = jobs;
  unknown[1].job_type = "Z";
  auto z = RunPhillyReplay(unknown, Table(), Config(ReplayMode::kPool, 2));
  EXPECT_EQ(z.status().code(), StatusCode::kNotFound);
  EXPECT_NE(z.status().message().find("team y, job 2: job type 'Z'"), std::string::npos)
      << z.status().message();

  EXPECT_EQ(RunPhillyReplay({}, Table(), Config(ReplayMode::kPool, 2)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(RunPhillyReplay(jobs, Table(), Config(ReplayMode::kPool, 0)).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gpool::sim
