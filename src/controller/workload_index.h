// WorkloadIndex: an in-memory view of the workloads that are not finished, kept up to date from
// the store's event log (a watch cache, like a Kubernetes informer).
//
// The reconcile pass and the agents' heartbeats need the pending, assigned and running workloads
// — a small part of all records once a pool has run for a while. Reading and parsing every record
// for each heartbeat and each pass does not scale (1,000 nodes beating every second); the index
// reads the store once, then applies only the events since the revision it has seen. Finished
// workloads (succeeded, failed, cancelled) leave the index once they no longer hold slices (see
// `releasing` in reconciler.h). If the events it needs were compacted
// away, it reloads everything. Each entry keeps its key's mod_revision, so callers change a
// workload with a transaction that compares it: a stale index costs a lost race, never a wrong
// write.
//
// Job specs are parsed once, when a workload's record changes, not on every pass.
//
// Thread-safe: every method may be called from any thread. Sync serialises on one mutex; reads
// return shared, immutable entries.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "controller/job_spec.h"
#include "core/status.h"
#include "store/kv_store.h"

namespace gpool::controller {

struct IndexedWorkload {
  std::string key;
  store::Revision mod_revision = 0;
  std::int64_t id = 0;
  std::string state;  // pending | assigned | running, or a finished state while releasing
  double submitted_at = 0;  // the queue's sort key, read once
  bool releasing = false;
  nlohmann::json record;
  std::optional<JobSpec> spec;  // nullopt: the stored spec does not parse (counted as malformed)
  std::set<std::string> nodes;  // nodes of its bindings (assigned, running)
};

class WorkloadIndex {
 public:
  // Brings the index up to the store's current revision. Errors: the store's.
  Status Sync(store::KvStore& store);

  // Every unfinished workload, in key (= id) order.
  std::vector<std::shared_ptr<const IndexedWorkload>> Active() const;
  // The assigned, running and releasing workloads with a binding on `node`, in id order.
  std::vector<std::shared_ptr<const IndexedWorkload>> OnNode(const std::string& node) const;
  // Records seen that were not JSON objects (skipped).
  int malformed() const;
  store::Revision revision() const;

 private:
  void Apply(const store::KeyValue& kv);  // REQUIRES: mu_ held
  void Erase(const std::string& key);      // REQUIRES: mu_ held
  Status Reload(store::KvStore& store);    // REQUIRES: mu_ held

  mutable std::mutex mu_;
  bool loaded_ = false;
  store::Revision revision_ = 0;
  std::map<std::string, std::shared_ptr<const IndexedWorkload>> active_;
  std::map<std::string, std::set<std::string>> by_node_;  // node -> keys
  std::set<std::string> malformed_;
};

}  // namespace gpool::controller
