// Queue order: which pending workload the scheduler considers first.
//
// Order: priority class first (production, then standard, then opportunistic); within a class,
// the tenant with the smaller fair-share value first; then the older workload (earlier submit
// time); then the smaller id, so the order is total and deterministic.
//
// Fair share is dominant-resource fairness (DRF) over decayed usage: a tenant's usage of each
// resource (GPU milli, CPU milli, memory MiB) is integrated over time with exponential decay of
// half-life H, and its share is the largest of usage_r / capacity_r over the resources. A tenant
// that used little recently goes first. FairShareLedger is a plain value: time is passed in
// (seconds, any origin), never read from a clock.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/workload.h"

namespace gpool::sched {

// What a tenant holds right now.
struct TenantAllocation {
  double gpu_milli = 0;
  double cpu_milli = 0;
  double memory_mib = 0;
};

// The pool's capacity, the denominators of the dominant share.
struct PoolCapacity {
  double gpu_milli = 0;
  double cpu_milli = 0;
  double memory_mib = 0;
};

class FairShareLedger {
 public:
  // REQUIRES: half_life_s > 0.
  explicit FairShareLedger(double half_life_s);

  // Advances the ledger to `now_s`: every tenant's decayed usage first decays over the elapsed
  // time, then gains what it held during it (allocations are what was set by the last call).
  // Times going backwards are treated as no time passing.
  void Advance(double now_s);
  // Sets what `tenant` holds from the current time on.
  void SetAllocation(const std::string& tenant, TenantAllocation a);

  // max over resources of decayed usage / (capacity * half-life-weighted time): 0 for an unknown
  // tenant or a resource of zero capacity. Comparable across tenants at one instant.
  double DominantShare(const std::string& tenant, const PoolCapacity& capacity) const;

  double now_s() const { return now_s_; }

 private:
  struct Entry {
    TenantAllocation holding;
    TenantAllocation decayed;  // resource-seconds, decayed
  };
  double half_life_s_;
  double now_s_ = 0;
  bool started_ = false;
  std::map<std::string, Entry> tenants_;
};

struct QueuedWorkload {
  const core::Workload* workload = nullptr;
  double submit_time_s = 0;
};

// Returns the queue sorted as described above. Pure.
std::vector<QueuedWorkload> OrderQueue(std::vector<QueuedWorkload> queue,
                                       const FairShareLedger& ledger, const PoolCapacity& capacity);

}  // namespace gpool::sched
