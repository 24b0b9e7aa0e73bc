#include "sched/queue_order.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <tuple>

namespace gpool::sched {

FairShareLedger::FairShareLedger(double half_life_s) : half_life_s_(half_life_s) {
  assert(half_life_s > 0);
}

void FairShareLedger::Advance(double now_s) {
  if (!started_) {
    started_ = true;
    now_s_ = now_s;
    return;
  }
  const double dt = std::max(0.0, now_s - now_s_);
  now_s_ = std::max(now_s_, now_s);
  if (dt == 0) return;
  // decayed(t + dt) = decayed(t) f + holding * integral_0^dt 2^(-s/H) ds,  f = 2^(-dt/H);
  // the integral is H / ln 2 * (1 - f).
  const double f = std::exp2(-dt / half_life_s_);
  const double gain = half_life_s_ / std::log(2.0) * (1 - f);
  for (auto& [name, e] : tenants_) {
    e.decayed.gpu_milli = e.decayed.gpu_milli * f + e.holding.gpu_milli * gain;
    e.decayed.cpu_milli = e.decayed.cpu_milli * f + e.holding.cpu_milli * gain;
    e.decayed.memory_mib = e.decayed.memory_mib * f + e.holding.memory_mib * gain;
  }
}

void FairShareLedger::SetAllocation(const std::string& tenant, TenantAllocation a) {
  tenants_[tenant].holding = a;
}

double FairShareLedger::DominantShare(const std::string& tenant,
                                      const PoolCapacity& capacity) const {
  auto it = tenants_.find(tenant);
  if (it == tenants_.end()) return 0;
  // Holding a whole resource forever accumulates capacity * H / ln 2: that is share 1.
  const double full = half_life_s_ / std::log(2.0);
  auto share = [full](double used, double cap) { return cap > 0 ? used / (cap * full) : 0.0; };
  const TenantAllocation& d = it->second.decayed;
  return std::max({share(d.gpu_milli, capacity.gpu_milli), share(d.cpu_milli, capacity.cpu_milli),
                   share(d.memory_mib, capacity.memory_mib)});
}

std::vector<QueuedWorkload> OrderQueue(std::vector<QueuedWorkload> queue,
                                       const FairShareLedger& ledger,
                                       const PoolCapacity& capacity) {
  std::map<std::string, double> shares;
  for (const QueuedWorkload& q : queue) {
    if (!shares.contains(q.workload->tenant)) {
      shares[q.workload->tenant] = ledger.DominantShare(q.workload->tenant, capacity);
    }
  }
  auto key = [&](const QueuedWorkload& q) {
    return std::make_tuple(static_cast<int>(q.workload->priority), shares.at(q.workload->tenant),
                           q.submit_time_s, q.workload->id);
  };
  std::stable_sort(
      queue.begin(), queue.end(),
      [&](const QueuedWorkload& a, const QueuedWorkload& b) { return key(a) < key(b); });
  return queue;
}

}  // namespace gpool::sched
