#include "sim/philly_replay.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "sched/queue_order.h"

namespace gpool::sim {
namespace {

using sched::JobId;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kHour = 3600;

// Speed alone of `type` at `gpus`, falling back to the largest listed scale below (see header).
Result<double> SpeedAlone(const ThroughputTable& table, const std::string& gpu_type,
                          const std::string& type, int gpus) {
  for (int scale = gpus; scale >= 1; --scale) {
    auto speed = table.Alone(gpu_type, JobKey{type, scale});
    if (speed.ok()) return *speed * gpus / scale;
  }
  return Status::NotFound("job type '" + type + "' has no speed on '" + gpu_type +
                          "' in the throughput table");
}

// The table's co-located speeds of 1-GPU job types, normalised by their speeds alone.
sched::SharingTable BuildSharing(const ThroughputTable& table, const std::string& gpu_type,
                                 const std::vector<std::string>& types) {
  sched::SharingTable s;
  s.kinds = static_cast<int>(types.size());
  s.own.assign(types.size() * types.size(), 0.0);
  for (std::size_t a = 0; a < types.size(); ++a) {
    auto alone_a = table.Alone(gpu_type, JobKey{types[a], 1});
    if (!alone_a.ok() || *alone_a <= 0) continue;
    for (std::size_t b = 0; b < types.size(); ++b) {
      auto pair = table.Colocated(gpu_type, JobKey{types[a], 1}, JobKey{types[b], 1});
      if (pair.ok()) s.own[a * types.size() + b] = pair->own / *alone_a;
    }
  }
  return s;
}

struct Job {
  int team = 0;
  int gpus = 1;
  int width = 1;
  double work_s = 0;  // at its width, full speed
  int kind = -1;
  double arrival_s = 0;
  enum class State { kFuture, kPending, kRunning, kDone } state = State::kFuture;
  double progress = 0;  // seconds at full speed done
  double saved = 0;     // progress at the last checkpoint
  double restore_left = 0;
  double run_start = 0;
  double rate = 1;
  int partner = -1;
  double first_start = -1, finish = 0, queue_s = 0, queued_since = 0;
  int preemptions = 0;
  bool shared = false;
  double at_window = -1;  // progress when the window closed, if it was running then

  double TimeToFinish() const { return restore_left + std::max(0.0, work_s - progress) / rate; }
};

struct TeamTotals {
  double alloc_window = 0;   // GPU-seconds within the window
  double alloc_waiting = 0;  // GPU-seconds while the team had a job waiting
  double waiting_s = 0;
  double delivered = 0;  // GPU-seconds at full speed within the window
  double lost = 0;       // GPU-seconds
  int preemptions = 0;
  int migrations = 0;
};

class Replay {
 public:
  Replay(const ReplayConfig& config, std::vector<std::string> names, std::vector<Job> jobs,
         std::vector<int> quota, sched::SharingTable sharing, double window_s)
      : cfg_(config),
        names_(std::move(names)),
        jobs_(std::move(jobs)),
        quota_(std::move(quota)),
        sharing_(std::move(sharing)),
        window_s_(window_s),
        ledger_(config.half_life_s) {
    teams_ = quota_.size();
    pending_.resize(teams_);
    totals_.resize(teams_);
    team_waiting_.assign(teams_, false);
    for (int t : quota_) tenants_.push_back({t * core::kWholeGpuMilli, 0});
    if (cfg_.mode == ReplayMode::kPool) {
      for (auto& q : tenants_) q.borrow_limit_milli = config.gpus * core::kWholeGpuMilli;
    }
    arrivals_.resize(jobs_.size());
    for (std::size_t i = 0; i < jobs_.size(); ++i) arrivals_[i] = static_cast<int>(i);
    std::stable_sort(arrivals_.begin(), arrivals_.end(),
                     [&](int a, int b) { return At(a).arrival_s < At(b).arrival_s; });
  }

  Result<ReplayResult> Run() {
    double now = 0;
    bool first = true;
    std::size_t next_arrival = 0;
    std::size_t done = 0;
    while (done < jobs_.size()) {
      double next_event =
          next_arrival < arrivals_.size() ? At(arrivals_[next_arrival]).arrival_s : kInf;
      for (int j : running_) next_event = std::min(next_event, now + At(j).TimeToFinish());
      if (next_event == kInf) {
        return Status::Internal("replay stalled at " + std::to_string(now) + " s with " +
                                std::to_string(jobs_.size() - done) + " jobs unfinished");
      }
      double t = std::ceil(next_event / cfg_.interval_s) * cfg_.interval_s;
      if (!first) t = std::max(t, now + cfg_.interval_s);
      done += Advance(now, t);
      now = t;
      first = false;
      while (next_arrival < arrivals_.size() && At(arrivals_[next_arrival]).arrival_s <= now) {
        const int j = arrivals_[next_arrival++];
        At(j).state = Job::State::kPending;
        At(j).queued_since = At(j).arrival_s;
        Enqueue(j);
      }
      PlanAndApply(now);
      ++rounds_;
    }
    return Finish();
  }

 private:
  Job& At(int j) { return jobs_[static_cast<std::size_t>(j)]; }
  static JobId Id(int j) { return static_cast<JobId>(j) + 1; }
  static int Index(JobId id) { return static_cast<int>(id - 1); }

  void Enqueue(int j) {
    auto& q = pending_[static_cast<std::size_t>(At(j).team)];
    auto key = [&](int x) { return std::make_pair(At(x).arrival_s, x); };
    q.insert(std::upper_bound(q.begin(), q.end(), j, [&](int a, int b) { return key(a) < key(b); }),
             j);
  }

  // Adds `gpus` GPUs held over [a, b) to the window integral and the time series.
  void Occupy(int team, double gpus, double a, double b) {
    if (b <= a) return;
    const double in_window = std::max(0.0, std::min(b, window_s_) - a);
    TeamTotals& tt = totals_[static_cast<std::size_t>(team)];
    tt.alloc_window += gpus * in_window;
    if (team_waiting_[static_cast<std::size_t>(team)]) tt.alloc_waiting += gpus * (b - a);
    if (any_waiting_) alloc_any_waiting_ += gpus * (b - a);
    for (auto k = static_cast<std::size_t>(a / cfg_.sample_s);
         static_cast<double>(k) * cfg_.sample_s < b; ++k) {
      const double lo = std::max(a, static_cast<double>(k) * cfg_.sample_s);
      const double hi = std::min(b, static_cast<double>(k + 1) * cfg_.sample_s);
      if (series_.size() <= k) series_.resize(k + 1, 0.0);
      series_[k] += gpus * std::max(0.0, hi - lo);
    }
  }

  // Progress of j from t0 to t1 at its rate; records checkpoints and delivered work.
  void Step(Job& j, double t0, double t1) {
    if (t1 <= t0) return;
    auto progress_at = [&](double x) {
      return std::min(j.work_s, j.progress + j.rate * std::max(0.0, (x - t0) - j.restore_left));
    };
    const double I = cfg_.planner.checkpoint_interval_s;
    if (I > 0) {
      const double k0 = std::floor((t0 - j.run_start) / I);
      const double k1 = std::floor((t1 - j.run_start) / I);
      if (k1 > k0) j.saved = progress_at(j.run_start + k1 * I);
    }
    const double before = j.progress;
    const double in_window = t0 < window_s_ ? progress_at(std::min(t1, window_s_)) - before : 0.0;
    if (t0 < window_s_ && window_s_ <= t1) j.at_window = progress_at(window_s_);
    totals_[static_cast<std::size_t>(j.team)].delivered += in_window * j.width;
    j.progress = progress_at(t1);
    j.restore_left = std::max(0.0, j.restore_left - (t1 - t0));
  }

  void Complete(int j, double at) {
    Job& job = At(j);
    job.state = Job::State::kDone;
    job.finish = at;
    job.progress = job.work_s;
    if (job.partner >= 0) {
      At(job.partner).partner = -1;
      At(job.partner).rate = 1;
      job.partner = -1;
    }
  }

  // Runs every running job from t0 to t1; returns how many completed.
  std::size_t Advance(double t0, double t1) {
    if (any_waiting_) any_waiting_s_ += t1 - t0;
    for (std::size_t t = 0; t < teams_; ++t) {
      if (team_waiting_[t]) totals_[t].waiting_s += t1 - t0;
    }
    std::size_t completed = 0;
    std::vector<int> still;
    std::vector<bool> seen(jobs_.size(), false);
    for (int j : running_) {
      if (seen[static_cast<std::size_t>(j)]) continue;
      seen[static_cast<std::size_t>(j)] = true;
      Job& a = At(j);
      if (a.partner < 0) {
        const double end = t0 + a.TimeToFinish();
        const double stop = std::min(end, t1);
        Step(a, t0, stop);
        Occupy(a.team, a.width, t0, stop);
        if (end <= t1) {
          Complete(j, end);
          ++completed;
        } else {
          still.push_back(j);
        }
        continue;
      }
      // A shared GPU: run both until the first finishes, then the survivor alone.
      const int k = a.partner;
      seen[static_cast<std::size_t>(k)] = true;
      Job& b = At(k);
      const double ea = t0 + a.TimeToFinish(), eb = t0 + b.TimeToFinish();
      const double first_end = std::min({ea, eb, t1});
      Step(a, t0, first_end);
      Step(b, t0, first_end);
      Occupy(a.team, 1, t0, first_end);
      if (ea > t1 && eb > t1) {
        still.push_back(j);
        still.push_back(k);
        continue;
      }
      const int finisher = ea <= eb ? j : k;
      const int survivor = finisher == j ? k : j;
      Complete(finisher, first_end);
      ++completed;
      Job& s = At(survivor);
      const double end = first_end + s.TimeToFinish();
      const double stop = std::min(end, t1);
      Step(s, first_end, stop);
      Occupy(s.team, 1, first_end, stop);
      if (end <= t1) {
        Complete(survivor, end);
        ++completed;
      } else {
        still.push_back(survivor);
      }
    }
    running_ = std::move(still);
    return completed;
  }

  sched::PendingJob Pending(int j, int tenant, double now) {
    const Job& job = At(j);
    sched::PendingJob p;
    p.id = Id(j);
    p.tenant = tenant;
    p.gpus = job.width;
    p.submit_s = job.arrival_s;
    p.estimate_s = job.restore_left + (job.work_s - job.progress);
    p.share_kind = job.width == 1 ? job.kind : -1;
    (void)now;
    return p;
  }

  sched::RunningJob Running(int j, int tenant, double now) {
    const Job& job = At(j);
    sched::RunningJob r;
    r.id = Id(j);
    r.tenant = tenant;
    r.gpus = job.width;
    r.started_s = job.run_start;
    r.checkpointable = cfg_.planner.checkpoint_interval_s > 0;
    r.expected_end_s = now + job.TimeToFinish();
    r.share_kind = job.width == 1 ? job.kind : -1;
    r.shares_with = job.partner >= 0 ? Id(job.partner) : 0;
    return r;
  }

  void PlanAndApply(double now) {
    if (cfg_.mode == ReplayMode::kStatic) {
      sched::PlannerConfig pc = cfg_.planner;
      pc.reclaim = pc.time_sharing = pc.split = false;
      std::vector<std::vector<int>> by_team(teams_);
      for (int j : running_) by_team[static_cast<std::size_t>(At(j).team)].push_back(j);
      for (std::size_t t = 0; t < teams_; ++t) {
        if (pending_[t].empty()) continue;
        std::vector<sched::RunningJob> running;
        for (int j : by_team[t]) running.push_back(Running(j, 0, now));
        std::vector<sched::PendingJob> pending;
        for (int j : pending_[t]) pending.push_back(Pending(j, 0, now));
        const sched::TenantQuota quota = tenants_[t];
        sched::RoundInput in;
        in.now_s = now;
        in.capacity_milli = quota.guaranteed_milli;
        in.tenants = std::span<const sched::TenantQuota>(&quota, 1);
        in.running = running;
        in.pending = pending;
        Apply(sched::PlanRound(in, pc), now);
      }
    } else {
      ledger_.Advance(now);
      std::vector<double> shares(teams_);
      const sched::PoolCapacity capacity{static_cast<double>(cfg_.gpus) * 1000, 0, 0};
      for (std::size_t t = 0; t < teams_; ++t) shares[t] = ledger_.DominantShare(Name(t), capacity);
      std::vector<sched::RunningJob> running;
      for (int j : running_) running.push_back(Running(j, At(j).team, now));
      std::vector<sched::PendingJob> pending;
      for (std::size_t t = 0; t < teams_; ++t) {
        for (int j : pending_[t]) pending.push_back(Pending(j, static_cast<int>(t), now));
      }
      sched::RoundInput in;
      in.now_s = now;
      in.capacity_milli = static_cast<core::Milli>(cfg_.gpus) * core::kWholeGpuMilli;
      in.tenants = tenants_;
      in.fair_share = shares;
      in.running = running;
      in.pending = pending;
      in.sharing = &sharing_;
      Apply(sched::PlanRound(in, cfg_.planner), now);
      std::vector<double> held = Held();
      for (std::size_t t = 0; t < teams_; ++t) {
        ledger_.SetAllocation(Name(t), {held[t], 0, 0});
      }
      CheckGuarantees(held);
    }
    any_waiting_ = false;
    for (std::size_t t = 0; t < teams_; ++t) {
      auto& q = pending_[t];
      q.erase(std::remove_if(q.begin(), q.end(),
                             [&](int j) { return At(j).state != Job::State::kPending; }),
              q.end());
      team_waiting_[t] = !q.empty();
      any_waiting_ = any_waiting_ || !q.empty();
    }
  }

  // GPU milli each team holds (a shared GPU once).
  std::vector<double> Held() {
    std::vector<double> held(teams_, 0.0);
    for (int j : running_) {
      const Job& job = At(j);
      held[static_cast<std::size_t>(job.team)] += job.partner >= 0 ? 500.0 : 1000.0 * job.width;
    }
    return held;
  }

  // Counts the round once if some team's first waiting job fitted in its guarantee.
  void CheckGuarantees(const std::vector<double>& held) {
    for (std::size_t t = 0; t < teams_; ++t) {
      for (int j : pending_[t]) {
        if (At(j).state != Job::State::kPending) continue;
        if (held[t] + 1000.0 * At(j).width <= static_cast<double>(tenants_[t].guaranteed_milli)) {
          ++guarantee_violations_;
          return;
        }
        break;  // only the team's first waiting job
      }
    }
  }

  void Apply(const sched::RoundPlan& plan, double now) {
    for (JobId id : plan.preempt) {
      const int j = Index(id);
      Job& job = At(j);
      if (job.state != Job::State::kRunning) continue;
      TeamTotals& tt = totals_[static_cast<std::size_t>(job.team)];
      const double lost_progress = job.progress - job.saved;
      // Only what was delivered within the window is taken back from it.
      const double lost_in_window =
          now <= window_s_ ? lost_progress : std::max(0.0, job.at_window - job.saved);
      tt.delivered -= lost_in_window * job.width;
      job.progress = job.saved;
      job.restore_left = job.saved > 0 ? cfg_.planner.restore_s : 0;
      tt.lost += (lost_progress + job.restore_left) * job.width;
      ++tt.preemptions;
      ++job.preemptions;
      if (job.partner >= 0) {
        At(job.partner).partner = -1;
        At(job.partner).rate = 1;
        job.partner = -1;
      }
      job.rate = 1;
      job.state = Job::State::kPending;
      job.queued_since = now;
      running_.erase(std::find(running_.begin(), running_.end(), j));
      Enqueue(j);
    }
    for (const sched::Start& s : plan.start) {
      const int j = Index(s.job);
      Job& job = At(j);
      job.state = Job::State::kRunning;
      job.run_start = now;
      job.saved = job.progress;
      if (job.first_start < 0) job.first_start = now;
      job.queue_s += now - job.queued_since;
      job.rate = 1;
      if (s.host != 0) {
        const int h = Index(s.host);
        Job& host = At(h);
        job.partner = h;
        host.partner = j;
        job.rate = sharing_.Own(job.kind, host.kind);
        host.rate = sharing_.Own(host.kind, job.kind);
        job.shared = host.shared = true;
      }
      running_.push_back(j);
    }
    for (JobId id : plan.split) {
      Job& guest = At(Index(id));
      if (guest.partner < 0) continue;
      At(guest.partner).partner = -1;
      At(guest.partner).rate = 1;
      guest.partner = -1;
      guest.rate = 1;
      guest.saved = guest.progress;  // checkpointed to move
      guest.run_start = now;
      guest.restore_left += cfg_.planner.restore_s;
      TeamTotals& tt = totals_[static_cast<std::size_t>(guest.team)];
      tt.lost += cfg_.planner.restore_s;
      ++tt.migrations;
    }
  }

  const std::string& Name(std::size_t t) const { return names_[t]; }

  ReplayMetrics Metrics(const std::vector<std::size_t>& members, double quota_gpus,
                        const std::vector<std::size_t>& teams) const {
    ReplayMetrics m;
    m.jobs = static_cast<int>(members.size());
    std::vector<double> jct;
    for (std::size_t i : members) {
      const Job& j = jobs_[i];
      jct.push_back(j.finish - j.arrival_s);
      m.mean_queue_s += j.queue_s;
      m.makespan_s = std::max(m.makespan_s, j.finish);
    }
    if (!jct.empty()) {
      double sum = 0;
      for (double x : jct) sum += x;
      m.mean_jct_s = sum / static_cast<double>(jct.size());
      m.mean_queue_s /= static_cast<double>(jct.size());
      std::sort(jct.begin(), jct.end());
      const auto rank = static_cast<std::size_t>(std::ceil(0.95 * static_cast<double>(jct.size())));
      m.p95_jct_s = jct[std::max<std::size_t>(rank, 1) - 1];
    }
    double alloc = 0, alloc_waiting = 0, waiting_s = 0;
    for (std::size_t t : teams) {
      const TeamTotals& tt = totals_[t];
      alloc += tt.alloc_window;
      alloc_waiting += tt.alloc_waiting;
      waiting_s = std::max(waiting_s, tt.waiting_s);
      m.delivered_gpu_hours += tt.delivered / kHour;
      m.lost_gpu_hours += tt.lost / kHour;
      m.preemptions += tt.preemptions;
      m.migrations += tt.migrations;
    }
    m.time_avg_allocation =
        window_s_ > 0 && quota_gpus > 0 ? 100.0 * alloc / (quota_gpus * window_s_) : 0.0;
    if (teams.size() > 1) {  // the whole pool: time some job anywhere waited
      alloc_waiting = alloc_any_waiting_;
      waiting_s = any_waiting_s_;
    }
    m.waiting_hours = waiting_s / kHour;
    m.allocation_while_waiting =
        waiting_s > 0 && quota_gpus > 0 ? 100.0 * alloc_waiting / (quota_gpus * waiting_s) : 0.0;
    return m;
  }

  Result<ReplayResult> Finish() {
    ReplayResult r;
    r.mode = cfg_.mode;
    r.gpus = cfg_.gpus;
    r.window_s = window_s_;
    r.rounds = rounds_;
    r.guarantee_violations = guarantee_violations_;
    std::vector<std::size_t> all(jobs_.size());
    std::vector<std::vector<std::size_t>> by_team(teams_);
    for (std::size_t i = 0; i < jobs_.size(); ++i) {
      all[i] = i;
      by_team[static_cast<std::size_t>(jobs_[i].team)].push_back(i);
    }
    std::vector<std::size_t> every_team(teams_);
    for (std::size_t t = 0; t < teams_; ++t) every_team[t] = t;
    r.overall = Metrics(all, cfg_.gpus, every_team);
    for (std::size_t t = 0; t < teams_; ++t) {
      TeamReplay team;
      team.name = names_[t];
      team.quota_gpus = quota_[t];
      team.metrics = Metrics(by_team[t], quota_[t], {t});
      r.teams.push_back(std::move(team));
    }
    for (const Job& j : jobs_) {
      r.jobs.push_back({j.team, j.gpus, j.width, j.arrival_s, j.first_start, j.finish, j.queue_s,
                        j.preemptions, j.shared});
    }
    for (std::size_t k = 0; k < series_.size(); ++k) {
      const double lo = static_cast<double>(k) * cfg_.sample_s;
      const double hi = std::min(lo + cfg_.sample_s, r.overall.makespan_s);
      if (hi <= lo) break;
      r.allocation_series.push_back(
          {(lo + hi) / 2 / kHour, 100.0 * series_[k] / (cfg_.gpus * (hi - lo))});
    }
    return r;
  }

  const ReplayConfig& cfg_;
  std::vector<std::string> names_;
  std::vector<Job> jobs_;
  std::vector<int> quota_;
  sched::SharingTable sharing_;
  double window_s_;
  sched::FairShareLedger ledger_;
  std::size_t teams_ = 0;
  std::vector<sched::TenantQuota> tenants_;
  std::vector<int> arrivals_;
  std::vector<int> running_;
  std::vector<std::vector<int>> pending_;  // per team, by (arrival, index)
  std::vector<TeamTotals> totals_;
  std::vector<double> series_;      // GPU-seconds per bucket
  std::vector<bool> team_waiting_;  // since the last round
  bool any_waiting_ = false;
  double any_waiting_s_ = 0;
  double alloc_any_waiting_ = 0;
  int rounds_ = 0;
  int guarantee_violations_ = 0;
};

}  // namespace

const char* ReplayModeName(ReplayMode m) { return m == ReplayMode::kStatic ? "static" : "pool"; }

Result<std::vector<int>> PartitionByDemand(const std::vector<double>& demand, int gpus) {
  const auto teams = static_cast<int>(demand.size());
  if (teams == 0) return Status::InvalidArgument("no teams to partition GPUs between");
  if (gpus < teams) {
    return Status::InvalidArgument(
        "static partitions need at least one GPU per team: " + std::to_string(teams) + " teams, " +
        std::to_string(gpus) + " GPUs");
  }
  double total = 0;
  for (double d : demand) total += std::max(0.0, d);
  std::vector<int> out(demand.size(), 1);
  std::vector<double> remainder(demand.size(), 0.0);
  int given = teams;
  for (std::size_t t = 0; t < demand.size(); ++t) {
    const double exact = total > 0 ? gpus * std::max(0.0, demand[t]) / total : 1.0 * gpus / teams;
    const int floor = static_cast<int>(std::floor(exact));
    if (floor > 1) {
      given += floor - 1;
      out[t] = floor;
    }
    remainder[t] = exact - std::max(floor, 1);
  }
  // More than N after the one-GPU minimum: take back from the largest partitions.
  while (given > gpus) {
    auto it = std::max_element(out.begin(), out.end());
    --*it;
    remainder[static_cast<std::size_t>(it - out.begin())] += 1;
    --given;
  }
  std::vector<std::size_t> order(demand.size());
  for (std::size_t t = 0; t < order.size(); ++t) order[t] = t;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return remainder[a] > remainder[b]; });
  for (std::size_t k = 0; given < gpus; k = (k + 1) % order.size()) {
    ++out[order[k]];
    ++given;
  }
  return out;
}

Result<ReplayResult> RunPhillyReplay(const std::vector<PhillyJob>& trace,
                                     const ThroughputTable& table, const ReplayConfig& config) {
  if (config.gpus < 1) return Status::InvalidArgument("--gpus must be at least 1");
  if (!(config.interval_s > 0) || !(config.half_life_s > 0) || !(config.sample_s > 0)) {
    return Status::InvalidArgument("interval, half-life and sample width must be positive");
  }
  if (config.planner.checkpoint_interval_s < 0 || config.planner.restore_s < 0) {
    return Status::InvalidArgument("checkpoint interval and restore time must be >= 0");
  }
  const auto types = table.GpuTypes();
  if (std::find(types.begin(), types.end(), config.gpu_type) == types.end()) {
    std::string known;
    for (const auto& t : types) known += (known.empty() ? "" : ", ") + t;
    return Status::NotFound("GPU type '" + config.gpu_type +
                            "' is not in the throughput table (it has " + known + ")");
  }
  if (trace.empty()) return Status::InvalidArgument("the trace holds no jobs");

  std::vector<std::string> names;
  std::map<std::string, int> team_index;
  std::vector<std::string> kinds;
  for (const JobKey& k : table.Jobs(config.gpu_type)) {
    if (k.scale == 1) kinds.push_back(k.job_type);
  }
  std::vector<Job> jobs;
  std::vector<double> demand;
  double window = 0;
  for (std::size_t i = 0; i < trace.size(); ++i) {
    const PhillyJob& p = trace[i];
    auto [it, added] = team_index.try_emplace(p.team, static_cast<int>(names.size()));
    if (added) {
      names.push_back(p.team);
      demand.push_back(0);
    }
    auto speed = SpeedAlone(table, config.gpu_type, p.job_type, p.gpus);
    if (!speed.ok()) {
      return Status::NotFound("team " + p.team + ", job " + std::to_string(i + 1) + ": " +
                              speed.status().message());
    }
    Job j;
    j.team = it->second;
    j.gpus = p.gpus;
    j.width = p.gpus;
    j.work_s = *speed > 0 ? static_cast<double>(p.total_steps) / *speed : 0.0;
    j.arrival_s = p.arrival_s;
    const auto k = std::lower_bound(kinds.begin(), kinds.end(), p.job_type);
    if (k != kinds.end() && *k == p.job_type) j.kind = static_cast<int>(k - kinds.begin());
    demand[static_cast<std::size_t>(j.team)] += j.work_s * j.gpus;
    window = std::max(window, p.arrival_s);
    jobs.push_back(j);
  }
  auto quota = PartitionByDemand(demand, config.gpus);
  if (!quota.ok()) return quota.status();
  for (Job& j : jobs) {
    const int cap = config.mode == ReplayMode::kStatic ? (*quota)[static_cast<std::size_t>(j.team)]
                                                       : config.gpus;
    if (j.gpus > cap) {
      j.work_s = j.work_s * j.gpus / cap;
      j.width = cap;
    }
  }
  if (window <= 0) window = config.interval_s;
  Replay replay(config, names, std::move(jobs), *quota, BuildSharing(table, config.gpu_type, kinds),
                window);
  auto result = replay.Run();
  if (!result.ok()) return result;
  for (std::size_t t = 0; t < result->teams.size(); ++t) {
    result->teams[t].demand_gpu_hours = demand[t] / kHour;
  }
  return result;
}

}  // namespace gpool::sim
