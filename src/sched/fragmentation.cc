#include "sched/fragmentation.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <tuple>

namespace gpool::sched {

std::vector<TargetType> BuildTargetWorkload(std::vector<ObservedType> observed, double coverage) {
  std::int64_t n = 0;
  for (const auto& o : observed) n += o.count;
  if (n == 0) return {};
  std::sort(observed.begin(), observed.end(), [](const ObservedType& a, const ObservedType& b) {
    if (a.count != b.count) return a.count > b.count;
    return std::tie(a.cpu_milli, a.milli_per_gpu, a.gpus, a.spec) >
           std::tie(b.cpu_milli, b.milli_per_gpu, b.gpus, b.spec);
  });
  std::int64_t covered = 0;
  std::size_t taken = 0;
  while (taken < observed.size() &&
         static_cast<double>(covered) < coverage * static_cast<double>(n)) {
    covered += observed[taken].count;
    ++taken;
  }
  std::vector<TargetType> out;
  out.reserve(taken);
  const double nd = static_cast<double>(n);
  for (std::size_t i = 0; i < taken; ++i) {
    const ObservedType& o = observed[i];
    TargetType t;
    t.cpu_milli = o.cpu_milli;
    t.gpu.count = o.milli_per_gpu > 0 ? o.gpus : 0;
    t.gpu.milli_per_gpu = t.gpu.count > 0 ? o.milli_per_gpu : 0;
    t.gpu.models = o.models;
    t.weight = (static_cast<double>(o.count) / nd) / (static_cast<double>(covered) / nd);
    out.push_back(t);
  }
  return out;
}

FragmentationModel::FragmentationModel(std::vector<TargetType> target)
    : target_(std::move(target)) {
  for (auto& t : target_) t.gpu.memory_per_gpu = 0;  // memory is not part of the measure
  memo_.resize(1 << 14);
}

bool FragmentationModel::Key::operator==(const Key& o) const {
  return cpu_free == o.cpu_free && model == o.model && count == o.count &&
         std::memcmp(devices, o.devices, sizeof(std::uint32_t) * count) == 0;
}

std::size_t FragmentationModel::KeyHash::operator()(const Key& k) const {
  std::uint64_t h = static_cast<std::uint64_t>(k.cpu_free) * 0x9e3779b97f4a7c15ULL;
  h ^= (static_cast<std::uint64_t>(k.model) << 8 | k.count) + 0x632be59bd9b4e019ULL + (h << 6) +
       (h >> 2);
  for (int i = 0; i < k.count; ++i) {
    h ^= k.devices[i] + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return static_cast<std::size_t>(h);
}

namespace {

std::uint32_t PackDevice(const core::DeviceState& d) {
  return static_cast<std::uint32_t>(d.free_milli) |
         (static_cast<std::uint32_t>(d.mig.memory_mask) << 11) |
         (static_cast<std::uint32_t>(d.mig.compute_used) << 19) | ((d.shares > 0 ? 1u : 0u) << 23) |
         (static_cast<std::uint32_t>(d.mig.instances) << 24);
}

}  // namespace

FragmentationModel::Key FragmentationModel::MakeKey(const core::Node& node,
                                                    const core::NodeState& state) const {
  Key key;
  key.cpu_free = state.cpu_free;
  key.model = node.model;
  key.count = static_cast<std::uint8_t>(state.gpu_count);
  for (int j = 0; j < state.gpu_count; ++j)
    key.devices[j] = PackDevice(state.devices[static_cast<size_t>(j)]);
  // Insertion sort: at most 16 values, usually 8.
  for (int i = 1; i < key.count; ++i) {
    const std::uint32_t v = key.devices[i];
    int j = i - 1;
    while (j >= 0 && key.devices[j] > v) {
      key.devices[j + 1] = key.devices[j];
      --j;
    }
    key.devices[j + 1] = v;
  }
  return key;
}

double FragmentationModel::Fragmentation(const core::Node& node,
                                         const core::NodeState& state) const {
  if (state.gpu_count == 0) return 0;
  const Key key = MakeKey(node, state);
  const std::size_t hash = KeyHash()(key);
  if (const double* hit = Find(key, hash)) return *hit;
  const double f = Compute(node, state);
  Insert(key, hash, f);
  return f;
}

const double* FragmentationModel::Find(const Key& key, std::size_t hash) const {
  const std::size_t mask = memo_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = memo_[i];
    if (!slot.used) return nullptr;
    if (slot.key == key) return &slot.value;
  }
}

void FragmentationModel::Insert(const Key& key, std::size_t hash, double value) const {
  if (2 * (memo_count_ + 1) > memo_.size()) {
    std::vector<Slot> old(memo_.size() * 2);
    old.swap(memo_);
    memo_count_ = 0;
    for (const Slot& slot : old) {
      if (slot.used) Insert(slot.key, KeyHash()(slot.key), slot.value);
    }
  }
  const std::size_t mask = memo_.size() - 1;
  std::size_t i = hash & mask;
  while (memo_[i].used) i = (i + 1) & mask;
  memo_[i] = Slot{key, value, true};
  ++memo_count_;
}

double FragmentationModel::Compute(const core::Node& node, const core::NodeState& state) const {
  const core::Milli free_total = state.FreeGpuMilli();
  if (free_total == 0) return 0;
  const double g = static_cast<double>(free_total);
  const core::MigFamily family = core::GetGpuModel(node.model).mig;
  double q1 = 0, q2 = 0, q3 = 0, q4 = 0, xl = 0, xr = 0, na = 0;
  for (const TargetType& t : target_) {
    const bool cpu_ok = state.cpu_free >= t.cpu_milli;
    if (!t.gpu.NeedsGpu()) {
      (cpu_ok ? xl : xr) += t.weight * g;
      continue;
    }
    if (!core::ModelAllowed(t.gpu.models, node.model)) {
      na += t.weight * g;
      continue;
    }
    int hosts = 0;
    core::Milli unusable = 0;
    for (int j = 0; j < state.gpu_count; ++j) {
      const core::DeviceState& d = state.devices[static_cast<size_t>(j)];
      if (core::DeviceCanHost(d, t.gpu, family, nullptr)) {
        ++hosts;
      } else {
        unusable += d.free_milli;
      }
    }
    const bool gpu_ok = hosts >= t.gpu.count;
    if (gpu_ok && cpu_ok) {
      q2 += t.weight * static_cast<double>(unusable);
      q3 += t.weight * static_cast<double>(free_total - unusable);
    } else if (gpu_ok) {
      q4 += t.weight * g;
    } else if (cpu_ok) {
      q2 += t.weight * g;
    } else {
      q1 += t.weight * g;
    }
  }
  (void)q3;
  return q1 + q2 + q4 + xl + xr + na;
}

}  // namespace gpool::sched
