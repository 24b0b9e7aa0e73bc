// FragmentationModel: how much of a node's free GPU capacity the expected workload cannot use.
//
// This is the fragmentation measure of FGD (Weng et al., USENIX ATC'23): given a target
// workload (a weighted list of typical request shapes), a node's fragmentation is the expected
// amount of its free GPU milli that a request drawn from the target cannot use:
//   for each target type t (weight w_t):
//     CPU-only type           -> all free GPU milli counts (bins XL/XR)
//     GPU model not allowed   -> all free GPU milli (bin NA)
//     t fits (GPU and CPU)    -> free milli of devices that cannot host one unit of t (bin Q2)
//     t lacks CPU             -> all free GPU milli (bin Q4)
//     t lacks GPU             -> all free GPU milli (Q2), lacks both -> all (Q1)
//   Frag(n) = sum of bins except Q3, added in the order Q1, Q2, Q4, XL, XR, NA.
// Memory is ignored, as in the published model. Values are in milli-GPU.
//
// Frag depends only on (GPU model, free CPU, multiset of device states), so results are
// memoised on that key. Not thread safe (the memo): one model per scheduler.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/cluster.h"
#include "core/workload.h"

namespace gpool::sched {

struct TargetType {
  core::Milli cpu_milli = 0;
  core::GpuRequest gpu;  // count and milli_per_gpu (or MIG profile), models
  double weight = 0;     // share of the workload, weights sum to 1
};

// A request shape with how often it occurred, for building a target workload. `spec` is the
// constraint's original spelling: two spellings of one model set are distinct types.
struct ObservedType {
  core::Milli cpu_milli = 0;
  core::Milli milli_per_gpu = 0;
  int gpus = 0;
  std::string spec;
  core::ModelSet models = 0;
  std::int64_t count = 0;
};

// The most popular types covering `coverage` (0..1) of all observations, weights
// renormalised: FGD's "typical pods". Ties in count are ordered by (cpu, milli, gpus, spec)
// descending. Weight of type t = (count_t / N) / (C / N) with C the covered count.
std::vector<TargetType> BuildTargetWorkload(std::vector<ObservedType> observed, double coverage);

class FragmentationModel {
 public:
  explicit FragmentationModel(std::vector<TargetType> target);

  // Frag(node) in milli-GPU.
  double Fragmentation(const core::Node& node, const core::NodeState& state) const;
  const std::vector<TargetType>& target() const { return target_; }
  std::size_t memo_size() const { return memo_count_; }

 private:
  struct Key {
    std::int64_t cpu_free;
    std::uint32_t devices[core::kMaxDevicesPerNode];  // sorted packed device states
    std::uint8_t model;
    std::uint8_t count;
    bool operator==(const Key& o) const;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const;
  };
  double Compute(const core::Node& node, const core::NodeState& state) const;
  Key MakeKey(const core::Node& node, const core::NodeState& state) const;

  std::vector<TargetType> target_;
  // The memo: an open-addressing table (linear probing, grown at half load).
  struct Slot {
    Key key;
    double value;
    bool used;
  };
  const double* Find(const Key& key, std::size_t hash) const;
  void Insert(const Key& key, std::size_t hash, double value) const;
  mutable std::vector<Slot> memo_;  // a cache of a pure function
  mutable std::size_t memo_count_ = 0;
};

}  // namespace gpool::sched
