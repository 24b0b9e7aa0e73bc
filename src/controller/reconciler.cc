#include "controller/reconciler.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>
#include <vector>

#include "controller/job_spec.h"
#include "controller/node_liveness.h"
#include "controller/record_codec.h"
#include "controller/workload_index.h"
#include "controller/workload_record.h"
#include "controller/state_keys.h"
#include "core/cluster.h"
#include "core/gpu_model.h"

namespace gpool::controller {
namespace {

using nlohmann::json;

struct NodeEntry {
  store::KeyValue kv;
  json record;
  core::Node node;
  int index = -1;  // in the ClusterState, when ready
};

Result<std::vector<store::KeyValue>> ReadPrefix(store::KvStore& s, std::string_view prefix) {
  store::RangeRequest r;
  r.key = std::string(prefix);
  r.range_end = store::PrefixEnd(prefix);
  auto rr = s.Range(r);
  if (!rr.ok()) return rr.status();
  return std::move(rr->kvs);
}

// A tenant's cap on GPU use: guaranteed + borrow, in milli-GPU; 0 means no cap.
std::map<std::string, core::Milli> TenantCaps(store::KvStore& store, int* malformed) {
  std::map<std::string, core::Milli> caps;
  auto kvs = ReadPrefix(store, kTenantsPrefix);
  if (!kvs.ok()) return caps;
  for (const store::KeyValue& kv : *kvs) {
    const json t = json::parse(kv.value, nullptr, false);
    if (t.is_discarded() || !t.is_object() || !t.contains("name")) {
      ++*malformed;
      continue;
    }
    const core::Milli cap =
        (t.value("guaranteed_gpus", core::Milli{0}) + t.value("borrow_gpus", core::Milli{0})) *
        core::kWholeGpuMilli;
    caps[t["name"].get<std::string>()] = cap;
  }
  return caps;
}

core::Milli BindingsMilli(const json& bindings) {
  core::Milli sum = 0;
  for (const json& b : bindings) {
    for (const json& s : b.value("slices", json::array())) sum += s.value("milli", core::Milli{0});
  }
  return sum;
}

// One transaction that compares the workload's revision: the new revision, or 0 when it lost
// a race.
Result<store::Revision> Rewrite(store::KvStore& store, const IndexedWorkload& w,
                                const json& record) {
  store::TxnRequest txn;
  txn.compare.push_back(store::ModRevisionIs(w.key, w.mod_revision));
  txn.success.push_back(store::PutOp(w.key, record.dump()));
  auto r = store.Txn(txn);
  if (!r.ok()) return r.status();
  return r->succeeded ? r->revision : store::Revision{0};
}

}  // namespace

Result<ReconcileReport> ReconcileOnce(store::KvStore& store, double now_s,
                                      const ReconcileConfig& config, WorkloadIndex* index,
                                      NodeLiveness* liveness) {
  ReconcileReport report;
  WorkloadIndex local_index;
  if (index == nullptr) index = &local_index;
  // 1. Nodes, and liveness: the later of the record's heartbeat and the controller's own table.
  auto node_kvs = ReadPrefix(store, kNodesPrefix);
  if (!node_kvs.ok()) return node_kvs.status();
  std::vector<NodeEntry> nodes;
  for (store::KeyValue& kv : *node_kvs) {
    NodeEntry e;
    e.record = json::parse(kv.value, nullptr, false);
    if (e.record.is_discarded() || !NodeFromJson(e.record, &e.node)) {
      ++report.malformed;
      continue;
    }
    e.kv = std::move(kv);
    const std::string state = e.record.value("state", std::string("ready"));
    double last = e.record.value("last_heartbeat", 0.0);
    if (liveness != nullptr) last = std::max(last, liveness->LastSeen(e.node.name, now_s));
    if (state == "ready" && now_s - last > config.node_timeout_s) {
      json lost = e.record;
      lost["state"] = "lost";
      lost["lost_at"] = now_s;
      lost["last_heartbeat"] = last;
      store::TxnRequest txn;
      txn.compare.push_back(store::ModRevisionIs(e.kv.key, e.kv.mod_revision));
      txn.success.push_back(store::PutOp(e.kv.key, lost.dump()));
      auto r = store.Txn(txn);
      if (!r.ok()) return r.status();
      if (r->succeeded) ++report.nodes_lost_now;
      continue;  // lost (or changed meanwhile: next pass)
    }
    if (state != "ready") continue;
    nodes.push_back(std::move(e));
  }
  std::sort(nodes.begin(), nodes.end(),
            [](const NodeEntry& a, const NodeEntry& b) { return a.node.name < b.node.name; });
  std::vector<core::Node> cluster_nodes;
  std::map<std::string, int> node_index;
  for (NodeEntry& e : nodes) {
    e.index = static_cast<int>(cluster_nodes.size());
    node_index[e.node.name] = e.index;
    cluster_nodes.push_back(e.node);
  }
  report.nodes_ready = static_cast<int>(cluster_nodes.size());
  core::ClusterState cluster(cluster_nodes);
  const std::map<std::string, core::Milli> caps = TenantCaps(store, &report.malformed);

  // 2. Workloads: bindings in force (running, assigned, and finished ones whose processes are
  //    still being stopped), requeues from lost nodes, run-time limits, and the pending queue.
  if (Status s = index->Sync(store); !s.ok()) return s;
  report.malformed += index->malformed();
  std::map<std::string, core::Milli> usage;  // tenant -> GPU milli held
  std::vector<std::shared_ptr<const IndexedWorkload>> pending;
  static const json kNoBindings = json::array();
  for (const auto& w : index->Active()) {
    const json& record = w->record;
    const bool releasing = w->releasing;
    if (w->state == "pending") {
      if (!w->spec) {
        ++report.malformed;
        continue;
      }
      pending.push_back(w);
      continue;
    }
    const auto found = record.find("bindings");
    const json& bindings = found != record.end() && found->is_array() ? *found : kNoBindings;
    bool on_ready_node = true;
    std::vector<core::Binding> held;
    for (const json& b : bindings) {
      const auto it = node_index.find(b.value("node", std::string()));
      if (it == node_index.end()) {
        on_ready_node = false;
        break;
      }
      core::Binding binding = BindingFromJson(b, it->second, w->id);
      held.push_back(std::move(binding));
    }
    if (!on_ready_node) {
      json next = record;
      next["updated_at"] = now_s;
      if (releasing) {
        // Its node is gone, and its agent fences itself: nothing left to wait for.
        ReleasedOn(next, "");
      } else {
        // Back to the queue, to run elsewhere (the agent there fences itself).
        next["state"] = "pending";
        next.erase("bindings");
        next.erase("members_done");
        next["attempts"] = record.value("attempts", 0) + 1;
      }
      auto rev = Rewrite(store, *w, next);
      if (!rev.ok()) return rev.status();
      if (*rev != 0 && !releasing) {
        ++report.requeued;
        if (w->spec) {  // queued again in this very pass
          auto requeued = std::make_shared<IndexedWorkload>(*w);
          requeued->mod_revision = *rev;
          requeued->state = "pending";
          requeued->nodes.clear();
          requeued->record = std::move(next);
          pending.push_back(std::move(requeued));
        }
      }
      continue;
    }
    for (const core::Binding& b : held) {
      // A binding that no longer fits is a broken invariant of an earlier pass or a node that
      // shrank; it is left in place and counted, never double-booked.
      if (!cluster.Bind(b).ok()) ++report.malformed;
    }
    if (!releasing) usage[record.value("tenant", std::string())] += BindingsMilli(bindings);
    // The run-time limit: a running workload past its max_runtime fails; its slices stay booked
    // until its agent has stopped it.
    const double started = record.value("started_at", 0.0);
    if (w->state == "running" && w->spec && w->spec->max_runtime_s > 0 && started > 0 &&
        now_s - started > static_cast<double>(w->spec->max_runtime_s)) {
      json next = record;
      next["state"] = "failed";
      MarkReleasing(next);
      next["message"] = "exceeded its max_runtime of " + std::to_string(w->spec->max_runtime_s) +
                        " s; stopped";
      next["updated_at"] = now_s;
      next["finished_at"] = now_s;
      auto rev = Rewrite(store, *w, next);
      if (!rev.ok()) return rev.status();
      if (*rev != 0) ++report.timed_out;
    }
  }
  report.pending = static_cast<int>(pending.size());
  std::stable_sort(pending.begin(), pending.end(), [](const auto& a, const auto& b) {
    return std::make_tuple(a->spec->priority, a->submitted_at, a->id) <
           std::make_tuple(b->spec->priority, b->submitted_at, b->id);
  });

  // 3. Tenant caps, then decide, then commit each workload's binds (a gang's members together).
  std::vector<core::Workload> queue;
  std::map<core::WorkloadId, std::size_t> owner;  // scheduler workload id -> pending index
  for (std::size_t i = 0; i < pending.size(); ++i) {
    const IndexedWorkload& p = *pending[i];
    const JobSpec& spec = *p.spec;
    const auto cap = caps.find(spec.tenant);
    const core::Milli demand = spec.gpu.NeedsGpu() ? spec.gpu.TotalMilli() * spec.gang_size : 0;
    if (cap != caps.end() && cap->second > 0 && demand > 0) {
      core::Milli& used = usage[spec.tenant];
      if (used + demand > cap->second) {
        ++report.held_by_quota;
        continue;
      }
      used += demand;  // counted whether or not it is placed: the cap is never overshot
    }
    for (int m = 0; m < spec.gang_size; ++m) {
      // Gang members get ids (workload id << 10) + member; a plain workload keeps id << 10.
      const auto wid =
          (static_cast<core::WorkloadId>(p.id) << 10) + static_cast<core::WorkloadId>(m);
      core::Workload w = WorkloadFromSpec(spec, wid, m);
      if (spec.gang_size > 1) w.gang = static_cast<std::uint64_t>(p.id);
      owner[wid] = i;
      queue.push_back(std::move(w));
    }
  }
  if (!queue.empty() && cluster.size() > 0) {
    sched::Config sc;
    sc.policy = config.policy;
    sc.max_scored_nodes = config.max_scored_nodes;
    auto scheduler = sched::Scheduler::Create(sc);
    if (!scheduler.ok()) return scheduler.status();
    const sched::Snapshot snapshot{&cluster, queue, {}, static_cast<std::uint64_t>(now_s)};
    const std::vector<sched::Action> actions = scheduler->Decide(snapshot);
    std::map<std::size_t, std::vector<const sched::Action*>> by_workload;
    for (const sched::Action& a : actions) {
      if (a.kind == sched::ActionKind::kBind) by_workload[owner.at(a.workload)].push_back(&a);
    }
    // Every bind of the pass in one transaction (one disk sync), each compared on its workload's
    // revision; if any workload changed meanwhile, the binds are committed one by one instead so
    // the others still go through.
    struct Bind {
      const IndexedWorkload* workload;
      json record;
    };
    std::vector<Bind> binds_now;
    for (const auto& [i, binds] : by_workload) {
      const IndexedWorkload& p = *pending[i];
      json assigned = p.record;
      json bindings = json::array();
      for (const sched::Action* a : binds) {
        bindings.push_back(BindingToJson(a->to, cluster.node(a->to.node).name));
      }
      assigned["state"] = "assigned";
      assigned["bindings"] = bindings;
      assigned.erase("members_done");
      assigned["epoch"] = p.record.value("epoch", 0) + 1;
      assigned["assigned_at"] = now_s;
      assigned["updated_at"] = now_s;
      binds_now.push_back({&p, std::move(assigned)});
    }
    bool all_at_once = false;
    if (binds_now.size() > 1) {
      store::TxnRequest txn;
      for (const Bind& b : binds_now) {
        txn.compare.push_back(store::ModRevisionIs(b.workload->key, b.workload->mod_revision));
        txn.success.push_back(store::PutOp(b.workload->key, b.record.dump()));
      }
      auto r = store.Txn(txn);
      if (!r.ok()) return r.status();
      all_at_once = r->succeeded;
    }
    for (const Bind& b : binds_now) {
      bool bound = all_at_once;
      if (!all_at_once) {
        auto rev = Rewrite(store, *b.workload, b.record);
        if (!rev.ok()) return rev.status();
        bound = *rev != 0;
      }
      if (bound) {
        ++report.bound;
        report.queue_wait_s.push_back(now_s - b.workload->submitted_at);
      } else {
        ++report.conflicts;
      }
    }
  }
  report.revision = store.CurrentRevision();
  return report;
}

}  // namespace gpool::controller
