#include "sched/tenant_planner.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <queue>
#include <tuple>
#include <unordered_map>

namespace gpool::sched {
namespace {

using core::Milli;
using core::PriorityClass;

constexpr Milli kGpu = core::kWholeGpuMilli;
constexpr std::size_t kNone = static_cast<std::size_t>(-1);

// A solo job, or two 1-GPU jobs of one tenant on one GPU.
struct Slot {
  std::size_t first = kNone;   // index into running
  std::size_t second = kNone;  // the other job on the GPU, or kNone
  int tenant = 0;
  Milli milli = 0;
  PriorityClass priority = PriorityClass::kOpportunistic;  // the most important of its jobs
  double started_s = 0;                                    // the latest start of its jobs
  double end_s = 0;                                        // when the GPUs free up
  double lost = 0;                                         // GPU-seconds lost if preempted
  JobId id = 0;                                            // smallest job id, for tie-breaks
  bool borrowed = false;
  bool gone = false;  // preempted this round
};

bool PendingBefore(const PendingJob& a, const PendingJob& b) {
  return std::tie(a.tenant, a.priority, a.submit_s, a.id) <
         std::tie(b.tenant, b.priority, b.submit_s, b.id);
}

Milli NeedOf(const PendingJob& j) { return static_cast<Milli>(j.gpus) * kGpu; }

// Earliest time at which `have` plus the GPUs of `slots` (sorted by end) reach `need`, and what is
// left over then. Infinity and 0 if they never do.
Reservation Shadow(JobId job, Milli have, Milli need, std::vector<std::pair<double, Milli>> ends) {
  Reservation r;
  r.job = job;
  if (have >= need) {
    r.start_s = -std::numeric_limits<double>::infinity();
    r.extra_milli = have - need;
    return r;
  }
  std::sort(ends.begin(), ends.end());
  for (const auto& [end, milli] : ends) {
    have += milli;
    if (have >= need) {
      r.start_s = end;
      r.extra_milli = have - need;
      return r;
    }
  }
  return r;
}

// EASY backfill test against reservation r; consumes r's extra when the job uses it.
bool MayPass(Reservation& r, bool has, double now_s, const PendingJob& j) {
  if (!has) return true;
  if (now_s + j.estimate_s <= r.start_s) return true;
  if (NeedOf(j) <= r.extra_milli) {
    r.extra_milli -= NeedOf(j);
    return true;
  }
  return false;
}

class Round {
 public:
  Round(const RoundInput& in, const PlannerConfig& cfg) : in_(in), cfg_(cfg) {
    tenants_ = in.tenants.size();
    used_.assign(tenants_, 0);
    tenant_reserved_.assign(tenants_, false);
    tenant_res_.assign(tenants_, Reservation{});
    BuildSlots();
    Classify();
    SortPending();
  }

  RoundPlan Plan() {
    EntitledStarts();
    BorrowedStarts();
    if (cfg_.split) Splits();
    if (has_pool_reservation_) plan_.reservations.insert(plan_.reservations.begin(), pool_res_);
    return std::move(plan_);
  }

 private:
  double Share(int tenant) const {
    return in_.fair_share.empty() ? 0.0 : in_.fair_share[static_cast<std::size_t>(tenant)];
  }
  const TenantQuota& Quota(int tenant) const {
    return in_.tenants[static_cast<std::size_t>(tenant)];
  }

  void BuildSlots() {
    std::unordered_map<JobId, std::size_t> index;
    for (std::size_t i = 0; i < in_.running.size(); ++i) index[in_.running[i].id] = i;
    Milli used = 0;
    for (std::size_t i = 0; i < in_.running.size(); ++i) {
      const RunningJob& r = in_.running[i];
      std::size_t other = kNone;
      if (r.shares_with != 0) {
        auto it = index.find(r.shares_with);
        if (it != index.end()) {
          if (r.id > r.shares_with) continue;  // the pair is built from its smaller id
          other = it->second;
        }
      }
      Slot s;
      s.first = i;
      s.second = other;
      s.tenant = r.tenant;
      s.milli = static_cast<Milli>(r.gpus) * kGpu;
      s.priority = r.priority;
      s.started_s = r.started_s;
      s.end_s = r.expected_end_s;
      s.lost = LostWorkGpuSeconds(r, in_.now_s, cfg_);
      s.id = r.id;
      if (other != kNone) {
        const RunningJob& o = in_.running[other];
        s.priority = std::min(s.priority, o.priority);
        s.started_s = std::max(s.started_s, o.started_s);
        s.end_s = std::max(s.end_s, o.expected_end_s);
        s.lost += LostWorkGpuSeconds(o, in_.now_s, cfg_);
        s.id = std::min(s.id, o.id);
      }
      used += s.milli;
      slots_.push_back(s);
    }
    free_ = in_.capacity_milli - used;
  }

  void Classify() {
    std::vector<std::size_t> order(slots_.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      const Slot& x = slots_[a];
      const Slot& y = slots_[b];
      return std::tie(x.tenant, x.priority, x.started_s, x.id) <
             std::tie(y.tenant, y.priority, y.started_s, y.id);
    });
    std::vector<Milli> guaranteed(tenants_, 0);
    for (std::size_t i : order) {
      Slot& s = slots_[i];
      const auto t = static_cast<std::size_t>(s.tenant);
      used_[t] += s.milli;
      if (s.priority != PriorityClass::kOpportunistic &&
          guaranteed[t] + s.milli <= Quota(s.tenant).guaranteed_milli) {
        guaranteed[t] += s.milli;
      } else {
        s.borrowed = true;
      }
    }
  }

  void SortPending() {
    pending_.assign(in_.pending.begin(), in_.pending.end());
    if (!std::is_sorted(pending_.begin(), pending_.end(), PendingBefore)) {
      std::sort(pending_.begin(), pending_.end(), PendingBefore);
    }
    started_.assign(pending_.size(), false);
    group_begin_.assign(tenants_ + 1, pending_.size());
    for (std::size_t i = pending_.size(); i-- > 0;) {
      group_begin_[static_cast<std::size_t>(pending_[i].tenant)] = i;
    }
    for (std::size_t t = tenants_; t-- > 0;) {
      group_begin_[t] = std::min(group_begin_[t], group_begin_[t + 1]);
    }
  }

  // Queue order across tenants (rule 3): priority, fair share, submit time, id.
  auto QueueKey(std::size_t i) const {
    const PendingJob& j = pending_[i];
    return std::make_tuple(j.priority, Share(j.tenant), j.submit_s, j.id);
  }

  void StartOnIdle(std::size_t i, bool borrowed) {
    const PendingJob& j = pending_[i];
    const auto t = static_cast<std::size_t>(j.tenant);
    started_[i] = true;
    free_ -= NeedOf(j);
    used_[t] += NeedOf(j);
    plan_.start.push_back({j.id, 0});
    Slot s;
    s.tenant = j.tenant;
    s.milli = NeedOf(j);
    s.priority = j.priority;
    s.started_s = in_.now_s;
    s.end_s = in_.now_s + j.estimate_s;
    s.id = j.id;
    s.borrowed = borrowed;
    slots_.push_back(s);
    if (j.gpus == 1 && j.share_kind >= 0) new_hosts_.push_back({j.id, j.tenant, j.share_kind});
  }

  // Rule 2, per tenant: which jobs its guarantee lets start now; records the tenant's
  // reservation (if any) in tenant_res_.
  std::vector<std::size_t> EntitledOf(int tenant) {
    std::vector<std::size_t> out;
    const auto t = static_cast<std::size_t>(tenant);
    Milli room = Quota(tenant).guaranteed_milli - used_[t];
    Reservation& res = tenant_res_[t];
    for (std::size_t i = group_begin_[t]; i < group_begin_[t + 1]; ++i) {
      const PendingJob& j = pending_[i];
      if (j.priority == PriorityClass::kOpportunistic) continue;
      if (NeedOf(j) <= room && MayPass(res, tenant_reserved_[t], in_.now_s, j)) {
        out.push_back(i);
        room -= NeedOf(j);
        continue;
      }
      if (!tenant_reserved_[t]) {
        if (!cfg_.backfill) break;
        if (NeedOf(j) > Quota(tenant).guaranteed_milli) continue;  // never entitled
        // The tenant's slots end, and so do the jobs entitled before this one in this round.
        std::vector<std::pair<double, Milli>> ends;
        for (const Slot& s : slots_) {
          if (s.tenant == tenant && !s.gone) ends.push_back({s.end_s, s.milli});
        }
        for (std::size_t k : out) {
          ends.push_back({in_.now_s + pending_[k].estimate_s, NeedOf(pending_[k])});
        }
        res = Shadow(j.id, room, NeedOf(j), std::move(ends));
        tenant_reserved_[t] = true;
        plan_.reservations.push_back(res);
      }
      if (room < kGpu) break;  // nothing more fits in the guarantee
    }
    return out;
  }

  // Frees `need` by preempting borrowed slots; false (and nothing changed) if it cannot.
  bool Reclaim(Milli need) {
    if (!cfg_.reclaim) return false;
    std::vector<std::size_t> victims;
    Milli reachable = free_;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].borrowed && !slots_[i].gone && slots_[i].first != kNone) {
        victims.push_back(i);
        reachable += slots_[i].milli;
      }
    }
    if (reachable < need) return false;
    std::sort(victims.begin(), victims.end(), [&](std::size_t a, std::size_t b) {
      const Slot& x = slots_[a];
      const Slot& y = slots_[b];
      // Lowest priority (largest enum) first, least lost work, most recent start, smallest id.
      return std::make_tuple(-static_cast<int>(x.priority), x.lost, -x.started_s, x.id) <
             std::make_tuple(-static_cast<int>(y.priority), y.lost, -y.started_s, y.id);
    });
    for (std::size_t v : victims) {
      if (free_ >= need) break;
      Slot& s = slots_[v];
      s.gone = true;
      free_ += s.milli;
      used_[static_cast<std::size_t>(s.tenant)] -= s.milli;
      plan_.preempt.push_back(in_.running[s.first].id);
      if (s.second != kNone) plan_.preempt.push_back(in_.running[s.second].id);
    }
    assert(free_ >= need);
    return true;
  }

  void EntitledStarts() {
    std::vector<std::size_t> entitled;
    for (std::size_t t = 0; t < tenants_; ++t) {
      auto mine = EntitledOf(static_cast<int>(t));
      entitled.insert(entitled.end(), mine.begin(), mine.end());
    }
    std::sort(entitled.begin(), entitled.end(),
              [&](std::size_t a, std::size_t b) { return QueueKey(a) < QueueKey(b); });
    for (std::size_t i : entitled) {
      const Milli need = NeedOf(pending_[i]);
      if (free_ >= need || Reclaim(need)) StartOnIdle(i, /*borrowed=*/false);
    }
  }

  struct Host {
    JobId id;
    int tenant;
    int kind;
  };

  // Hosts for rule 4, by tenant and kind, each list in the order found.
  void AddHost(const Host& h) {
    if (!sharing_ || h.kind >= in_.sharing->kinds) return;
    auto& by_kind = hosts_[static_cast<std::size_t>(h.tenant)];
    if (by_kind.empty()) by_kind.resize(static_cast<std::size_t>(in_.sharing->kinds));
    by_kind[static_cast<std::size_t>(h.kind)].push_back(h.id);
    ++host_count_;
  }

  // Rule 4: takes the best host of j's tenant; 0 if none.
  JobId TakeBestHost(const PendingJob& j) {
    auto& by_kind = hosts_[static_cast<std::size_t>(j.tenant)];
    int best = -1;
    double best_value = -1;
    for (int k = 0; k < static_cast<int>(by_kind.size()); ++k) {
      if (by_kind[static_cast<std::size_t>(k)].empty()) continue;
      if (!GoodPair(*in_.sharing, j.share_kind, k, cfg_)) continue;
      const double value = in_.sharing->Own(j.share_kind, k) + in_.sharing->Own(k, j.share_kind);
      if (value > best_value) {
        best_value = value;
        best = k;
      }
    }
    if (best < 0) return 0;
    auto& list = by_kind[static_cast<std::size_t>(best)];
    const JobId id = list.front();
    list.erase(list.begin());
    --host_count_;
    return id;
  }

  void CollectHosts() {
    for (const Slot& s : slots_) {
      if (s.gone || s.second != kNone || s.first == kNone) continue;
      const RunningJob& r = in_.running[s.first];
      if (r.gpus == 1 && r.share_kind >= 0 && r.shares_with == 0)
        AddHost({r.id, r.tenant, r.share_kind});
    }
    for (const Host& h : new_hosts_) AddHost(h);
    new_hosts_.clear();
  }

  void BorrowedStarts() {
    sharing_ = cfg_.time_sharing && in_.sharing != nullptr && in_.sharing->kinds > 0;
    hosts_.assign(tenants_, {});
    CollectHosts();
    // Without borrowing, sharing or opportunistic work, rule 2 has decided everything.
    const bool any_borrowing =
        std::any_of(in_.tenants.begin(), in_.tenants.end(),
                    [](const TenantQuota& q) { return q.borrow_limit_milli > 0; });
    const bool any_opportunistic = std::any_of(
        pending_.begin(), pending_.end(),
        [](const PendingJob& j) { return j.priority == PriorityClass::kOpportunistic; });
    if (!any_borrowing && !sharing_ && !any_opportunistic) return;
    // k-way merge of the tenants' groups in queue order.
    using Head = std::pair<decltype(QueueKey(0)), std::size_t>;
    std::priority_queue<Head, std::vector<Head>, std::greater<>> heads;
    std::vector<std::size_t> next(group_begin_.begin(), group_begin_.end() - 1);
    for (std::size_t t = 0; t < tenants_; ++t) {
      if (next[t] < group_begin_[t + 1]) heads.push({QueueKey(next[t]), next[t]});
    }
    while (!heads.empty()) {
      const std::size_t i = heads.top().second;
      heads.pop();
      const PendingJob& j = pending_[i];
      const auto t = static_cast<std::size_t>(j.tenant);
      if (++next[t] < group_begin_[t + 1]) heads.push({QueueKey(next[t]), next[t]});
      if (started_[i]) continue;
      // Nothing more can start: no idle GPU and no host to share.
      if (free_ < kGpu && host_count_ == 0 && has_pool_reservation_) break;
      const Milli need = NeedOf(j);
      const TenantQuota& q = Quota(j.tenant);
      // Per-tenant EASY across rules 2 and 3: the tenant's reserved job may borrow; its other
      // jobs only if they do not delay it (within the guarantee, rule 2 already decided).
      const bool opportunistic = j.priority == PriorityClass::kOpportunistic;
      const bool holder = tenant_reserved_[t] && tenant_res_[t].job == j.id;
      const bool behind = tenant_reserved_[t] && !holder && !opportunistic;
      if (behind && used_[t] + need <= q.guaranteed_milli) continue;
      bool allowed = used_[t] + need <= q.guaranteed_milli + q.borrow_limit_milli;
      Reservation own = behind ? tenant_res_[t] : Reservation{};
      if (allowed && behind && free_ >= need) allowed = MayPass(own, true, in_.now_s, j);
      if (allowed && free_ >= need && MayPass(pool_res_, has_pool_reservation_, in_.now_s, j)) {
        if (behind) tenant_res_[t] = own;
        // The reserved job started: the tenant's next waiting job inherits a reservation the
        // next round (rule 2); until then nothing of the tenant waits behind it.
        if (holder) tenant_reserved_[t] = false;
        StartOnIdle(i, /*borrowed=*/true);
        for (const Host& h : new_hosts_) AddHost(h);
        new_hosts_.clear();
        continue;
      }
      if (sharing_ && j.gpus == 1 && j.share_kind >= 0 && host_count_ > 0) {
        if (const JobId host = TakeBestHost(j); host != 0) {
          started_[i] = true;
          plan_.start.push_back({j.id, host});
          continue;
        }
      }
      if (!allowed || has_pool_reservation_) continue;
      if (!cfg_.backfill) break;
      if (need > in_.capacity_milli) continue;  // can never fit: reserves nothing
      std::vector<std::pair<double, Milli>> ends;
      for (const Slot& s : slots_) {
        if (!s.gone) ends.push_back({s.end_s, s.milli});
      }
      pool_res_ = Shadow(j.id, free_, need, std::move(ends));
      has_pool_reservation_ = true;
    }
  }

  void Splits() {
    struct Guest {
      double started_s;
      JobId id;
      int tenant;
      double end_s;
    };
    std::vector<Guest> guests;
    for (const Slot& s : slots_) {
      if (s.gone || s.second == kNone) continue;
      const RunningJob& a = in_.running[s.first];
      const RunningJob& b = in_.running[s.second];
      const RunningJob& g = std::tie(a.started_s, a.id) > std::tie(b.started_s, b.id) ? a : b;
      guests.push_back({g.started_s, g.id, g.tenant, g.expected_end_s});
    }
    std::sort(guests.begin(), guests.end(), [](const Guest& x, const Guest& y) {
      return std::tie(x.started_s, x.id) < std::tie(y.started_s, y.id);
    });
    for (const Guest& g : guests) {
      if (free_ < kGpu) break;
      const auto t = static_cast<std::size_t>(g.tenant);
      const TenantQuota& q = Quota(g.tenant);
      if (used_[t] + kGpu > q.guaranteed_milli + q.borrow_limit_milli) continue;
      if (tenant_reserved_[t]) {  // the extra GPU counts against the tenant's reservation too
        Reservation& r = tenant_res_[t];
        if (g.end_s > r.start_s && r.extra_milli < kGpu) continue;
        if (g.end_s > r.start_s) r.extra_milli -= kGpu;
      }
      if (has_pool_reservation_) {
        if (g.end_s > pool_res_.start_s && pool_res_.extra_milli < kGpu) continue;
        if (g.end_s > pool_res_.start_s) pool_res_.extra_milli -= kGpu;
      }
      used_[t] += kGpu;
      free_ -= kGpu;
      plan_.split.push_back(g.id);
    }
  }

  const RoundInput& in_;
  const PlannerConfig& cfg_;
  std::size_t tenants_ = 0;
  std::vector<Slot> slots_;
  std::vector<Milli> used_;            // per tenant: every slot it holds
  std::vector<bool> tenant_reserved_;  // rule 2 made a reservation for the tenant
  std::vector<Reservation> tenant_res_;
  Milli free_ = 0;
  std::vector<PendingJob> pending_;
  std::vector<bool> started_;
  std::vector<std::size_t> group_begin_;  // tenants_ + 1 entries
  bool sharing_ = false;
  std::vector<std::vector<std::vector<JobId>>> hosts_;  // [tenant][kind]
  std::size_t host_count_ = 0;
  std::vector<Host> new_hosts_;
  Reservation pool_res_;
  bool has_pool_reservation_ = false;
  RoundPlan plan_;
};

}  // namespace

double LostWorkGpuSeconds(const RunningJob& job, double now_s, const PlannerConfig& config) {
  const double ran = std::max(0.0, now_s - job.started_s);
  double lost = ran;
  if (job.checkpointable && config.checkpoint_interval_s > 0) {
    lost = std::fmod(ran, config.checkpoint_interval_s) + config.restore_s;
  }
  return lost * job.gpus;
}

bool GoodPair(const SharingTable& table, int a, int b, const PlannerConfig& config) {
  if (a < 0 || b < 0 || a >= table.kinds || b >= table.kinds) return false;
  const double x = table.Own(a, b);
  const double y = table.Own(b, a);
  return x > 0 && y > 0 && x >= config.min_pair_speed && y >= config.min_pair_speed &&
         x + y >= config.min_pair_throughput;
}

RoundPlan PlanRound(const RoundInput& input, const PlannerConfig& config) {
  return Round(input, config).Plan();
}

}  // namespace gpool::sched
