#include "controller/workload_index.h"

#include <utility>

#include "controller/state_keys.h"

namespace gpool::controller {

using nlohmann::json;

void WorkloadIndex::Erase(const std::string& key) {
  const auto it = active_.find(key);
  if (it == active_.end()) return;
  for (const std::string& node : it->second->nodes) {
    auto n = by_node_.find(node);
    if (n == by_node_.end()) continue;
    n->second.erase(key);
    if (n->second.empty()) by_node_.erase(n);
  }
  active_.erase(it);
}

void WorkloadIndex::Apply(const store::KeyValue& kv) {
  Erase(kv.key);
  malformed_.erase(kv.key);
  json record = json::parse(kv.value, nullptr, false);
  if (record.is_discarded() || !record.is_object()) {
    malformed_.insert(kv.key);
    return;
  }
  const std::string state = record.value("state", std::string());
  const bool releasing = record.value("releasing", false);
  if (state != "pending" && state != "assigned" && state != "running" && !releasing) return;
  auto entry = std::make_shared<IndexedWorkload>();
  entry->key = kv.key;
  entry->mod_revision = kv.mod_revision;
  entry->id = record.value("id", std::int64_t{0});
  entry->state = state;
  entry->releasing = releasing;
  if (const auto it = record.find("submitted_at"); it != record.end() && it->is_number()) {
    entry->submitted_at = it->get<double>();
  }
  auto spec = ParseJobSpec(record.value("spec", json()));
  if (spec.ok()) entry->spec = std::move(*spec);
  if (const auto b = record.find("bindings"); state != "pending" && b != record.end() &&
                                               b->is_array()) {
    for (const json& binding : *b) {
      if (binding.is_object()) entry->nodes.insert(binding.value("node", std::string()));
    }
  }
  entry->record = std::move(record);
  for (const std::string& node : entry->nodes) by_node_[node].insert(kv.key);
  active_.emplace(kv.key, std::move(entry));
}

Status WorkloadIndex::Reload(store::KvStore& store) {
  store::RangeRequest r;
  r.key = std::string(kWorkloadsPrefix);
  r.range_end = store::PrefixEnd(kWorkloadsPrefix);
  auto rr = store.Range(r);
  if (!rr.ok()) return rr.status();
  active_.clear();
  by_node_.clear();
  malformed_.clear();
  for (const store::KeyValue& kv : rr->kvs) Apply(kv);
  revision_ = rr->revision;
  loaded_ = true;
  return Status();
}

Status WorkloadIndex::Sync(store::KvStore& store) {
  std::lock_guard lock(mu_);
  if (!loaded_) return Reload(store);
  if (store.CurrentRevision() <= revision_) return Status();
  auto batch = store.EventsSince(kWorkloadsPrefix, store::PrefixEnd(kWorkloadsPrefix),
                                 revision_ + 1, 0);
  if (!batch.ok()) {
    if (batch.status().code() == StatusCode::kNotFound) return Reload(store);  // compacted
    return batch.status();
  }
  for (const store::Event& e : batch->events) {
    if (e.type == store::EventType::kDelete) {
      Erase(e.kv.key);
      malformed_.erase(e.kv.key);
    } else {
      Apply(e.kv);
    }
  }
  revision_ = std::max(revision_, batch->revision);
  return Status();
}

std::vector<std::shared_ptr<const IndexedWorkload>> WorkloadIndex::Active() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<const IndexedWorkload>> out;
  out.reserve(active_.size());
  for (const auto& [key, entry] : active_) out.push_back(entry);
  return out;
}

std::vector<std::shared_ptr<const IndexedWorkload>> WorkloadIndex::OnNode(
    const std::string& node) const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<const IndexedWorkload>> out;
  const auto it = by_node_.find(node);
  if (it == by_node_.end()) return out;
  for (const std::string& key : it->second) out.push_back(active_.at(key));
  return out;
}

int WorkloadIndex::malformed() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(malformed_.size());
}

store::Revision WorkloadIndex::revision() const {
  std::lock_guard lock(mu_);
  return revision_;
}

}  // namespace gpool::controller
