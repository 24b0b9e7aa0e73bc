#include "controller/reconciler.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>
#include <vector>

#include "controller/job_spec.h"
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

struct WorkloadEntry {
  store::KeyValue kv;
  json record;
};

Result<std::vector<store::KeyValue>> ReadPrefix(store::KvStore& s, std::string_view prefix) {
  store::RangeRequest r;
  r.key = std::string(prefix);
  r.range_end = store::PrefixEnd(prefix);
  auto rr = s.Range(r);
  if (!rr.ok()) return rr.status();
  return std::move(rr->kvs);
}

bool ParseNode(const json& j, core::Node* n) {
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string()) return false;
  n->name = j["name"];
  n->cpu_milli = j.value("cpu_milli", core::Milli{0});
  n->memory_mib = j.value("memory_mib", core::MiB{0});
  n->gpu_count = j.value("gpus", 0);
  if (n->gpu_count < 0 || n->gpu_count > core::kMaxDevicesPerNode) return false;
  if (n->gpu_count > 0) {
    auto model = core::FindGpuModel(j.value("model", std::string()));
    if (!model.ok()) return false;
    n->model = *model;
    n->gpu_memory_mib = j.value("gpu_memory_mib", core::GetGpuModel(*model).memory_mib);
  }
  return true;
}

json SliceJson(const core::Slice& s) {
  json j = {{"kind", s.kind == core::SliceKind::kWhole ? "whole"
                     : s.kind == core::SliceKind::kMig ? "mig"
                                                       : "share"},
            {"device", s.device},
            {"milli", s.milli}};
  if (s.memory_mib > 0) j["memory_mib"] = s.memory_mib;
  if (s.kind == core::SliceKind::kMig) {
    j["mig_profile"] = static_cast<int>(s.mig.profile);
    j["mig_start"] = s.mig.start;
  }
  return j;
}

bool ParseSlice(const json& j, core::Slice* s) {
  if (!j.is_object()) return false;
  const std::string kind = j.value("kind", std::string());
  if (kind == "whole") {
    s->kind = core::SliceKind::kWhole;
  } else if (kind == "mig") {
    s->kind = core::SliceKind::kMig;
    s->mig.profile = static_cast<core::MigProfile>(j.value("mig_profile", 0));
    s->mig.start = j.value("mig_start", 0);
  } else if (kind == "share") {
    s->kind = core::SliceKind::kShare;
  } else {
    return false;
  }
  s->device = j.value("device", 0);
  s->milli = j.value("milli", core::Milli{0});
  s->memory_mib = j.value("memory_mib", core::MiB{0});
  return true;
}

json BindingJson(const core::Binding& b, const std::string& node) {
  json slices = json::array();
  for (const core::Slice& s : b.slices) slices.push_back(SliceJson(s));
  return {
      {"node", node}, {"cpu_milli", b.cpu_milli}, {"memory_mib", b.memory_mib}, {"slices", slices}};
}

core::Workload ToWorkload(const JobSpec& spec, core::WorkloadId id, int member) {
  core::Workload w;
  w.id = id;
  w.name = spec.name + (spec.gang_size > 1 ? "-" + std::to_string(member) : "");
  w.tenant = spec.tenant;
  w.cpu_milli = spec.cpu_milli;
  w.memory_mib = spec.memory_mib;
  w.gpu = spec.gpu;
  w.priority = spec.priority;
  w.gang_size = spec.gang_size;
  w.checkpointable = spec.checkpointable;
  return w;
}

}  // namespace

Result<ReconcileReport> ReconcileOnce(store::KvStore& store, double now_s,
                                      const ReconcileConfig& config) {
  ReconcileReport report;
  // 1. Nodes, and liveness.
  auto node_kvs = ReadPrefix(store, kNodesPrefix);
  if (!node_kvs.ok()) return node_kvs.status();
  std::vector<NodeEntry> nodes;
  std::vector<std::string> lost_now;
  for (store::KeyValue& kv : *node_kvs) {
    NodeEntry e;
    e.record = json::parse(kv.value, nullptr, false);
    if (e.record.is_discarded() || !ParseNode(e.record, &e.node)) {
      ++report.malformed;
      continue;
    }
    e.kv = std::move(kv);
    const std::string state = e.record.value("state", std::string("ready"));
    if (state == "ready" && now_s - e.record.value("last_heartbeat", 0.0) > config.node_timeout_s) {
      json lost = e.record;
      lost["state"] = "lost";
      lost["lost_at"] = now_s;
      store::TxnRequest txn;
      txn.compare.push_back(store::ModRevisionIs(e.kv.key, e.kv.mod_revision));
      txn.success.push_back(store::PutOp(e.kv.key, lost.dump()));
      auto r = store.Txn(txn);
      if (!r.ok()) return r.status();
      if (r->succeeded) {
        ++report.nodes_lost_now;
        lost_now.push_back(e.node.name);
        e.record = lost;
      }
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

  // 2. Workloads: bindings in force, requeues from lost nodes, and the pending queue.
  auto wl_kvs = ReadPrefix(store, kWorkloadsPrefix);
  if (!wl_kvs.ok()) return wl_kvs.status();
  struct Pending {
    WorkloadEntry entry;
    JobSpec spec;
    std::int64_t id;
  };
  std::vector<Pending> pending;
  for (store::KeyValue& kv : *wl_kvs) {
    WorkloadEntry e{std::move(kv), json()};
    e.record = json::parse(e.kv.value, nullptr, false);
    if (e.record.is_discarded() || !e.record.is_object()) {
      ++report.malformed;
      continue;
    }
    const std::string state = e.record.value("state", std::string());
    if (state == "assigned" || state == "running") {
      bool on_ready_node = true;
      std::vector<core::Binding> held;
      for (const json& b : e.record.value("bindings", json::array())) {
        const auto it = node_index.find(b.value("node", std::string()));
        if (it == node_index.end()) {
          on_ready_node = false;
          break;
        }
        core::Binding binding;
        binding.workload = e.record.value("id", std::int64_t{0});
        binding.node = it->second;
        binding.cpu_milli = b.value("cpu_milli", core::Milli{0});
        binding.memory_mib = b.value("memory_mib", core::MiB{0});
        for (const json& s : b.value("slices", json::array())) {
          core::Slice slice;
          if (ParseSlice(s, &slice)) binding.slices.push_back(slice);
        }
        held.push_back(std::move(binding));
      }
      if (on_ready_node) {
        for (const core::Binding& b : held) {
          // A binding that no longer fits is a broken invariant of an earlier pass or a node
          // that shrank; it is left in place and counted, never double-booked.
          if (!cluster.Bind(b).ok()) ++report.malformed;
        }
        continue;
      }
      // Its node is gone: back to the queue (the agent there fences itself).
      json requeued = e.record;
      requeued["state"] = "pending";
      requeued.erase("bindings");
      requeued["attempts"] = e.record.value("attempts", 0) + 1;
      requeued["updated_at"] = now_s;
      store::TxnRequest txn;
      txn.compare.push_back(store::ModRevisionIs(e.kv.key, e.kv.mod_revision));
      txn.success.push_back(store::PutOp(e.kv.key, requeued.dump()));
      auto r = store.Txn(txn);
      if (!r.ok()) return r.status();
      if (!r->succeeded) continue;
      ++report.requeued;
      e.record = requeued;
      e.kv.mod_revision = r->revision;
      e.kv.value = requeued.dump();
    } else if (state != "pending") {
      continue;
    }
    auto spec = ParseJobSpec(e.record.value("spec", json()));
    if (!spec.ok()) {
      ++report.malformed;
      continue;
    }
    const std::int64_t id = e.record.value("id", std::int64_t{0});
    pending.push_back({std::move(e), std::move(*spec), id});
  }
  report.pending = static_cast<int>(pending.size());
  std::stable_sort(pending.begin(), pending.end(), [](const Pending& a, const Pending& b) {
    return std::make_tuple(a.spec.priority, a.entry.record.value("submitted_at", 0.0), a.id) <
           std::make_tuple(b.spec.priority, b.entry.record.value("submitted_at", 0.0), b.id);
  });

  // 3. Decide, then commit each workload's binds (all of a gang's members together).
  std::vector<core::Workload> queue;
  std::map<core::WorkloadId, std::size_t> owner;  // scheduler workload id -> pending index
  for (std::size_t i = 0; i < pending.size(); ++i) {
    const Pending& p = pending[i];
    for (int m = 0; m < p.spec.gang_size; ++m) {
      // Gang members get ids (workload id << 10) + member; a plain workload keeps id << 10.
      const auto wid =
          (static_cast<core::WorkloadId>(p.id) << 10) + static_cast<core::WorkloadId>(m);
      core::Workload w = ToWorkload(p.spec, wid, m);
      if (p.spec.gang_size > 1) w.gang = static_cast<std::uint64_t>(p.id);
      owner[wid] = i;
      queue.push_back(std::move(w));
    }
  }
  if (!queue.empty() && cluster.size() > 0) {
    sched::Config sc;
    sc.policy = config.policy;
    auto scheduler = sched::Scheduler::Create(sc);
    if (!scheduler.ok()) return scheduler.status();
    const sched::Snapshot snapshot{&cluster, queue, {}, static_cast<std::uint64_t>(now_s)};
    const std::vector<sched::Action> actions = scheduler->Decide(snapshot);
    std::map<std::size_t, std::vector<const sched::Action*>> by_workload;
    for (const sched::Action& a : actions) {
      if (a.kind == sched::ActionKind::kBind) by_workload[owner.at(a.workload)].push_back(&a);
    }
    for (const auto& [i, binds] : by_workload) {
      Pending& p = pending[i];
      json assigned = p.entry.record;
      json bindings = json::array();
      for (const sched::Action* a : binds) {
        bindings.push_back(BindingJson(a->to, cluster.node(a->to.node).name));
      }
      assigned["state"] = "assigned";
      assigned["bindings"] = bindings;
      assigned["epoch"] = p.entry.record.value("epoch", 0) + 1;
      assigned["assigned_at"] = now_s;
      assigned["updated_at"] = now_s;
      store::TxnRequest txn;
      txn.compare.push_back(store::ModRevisionIs(p.entry.kv.key, p.entry.kv.mod_revision));
      txn.success.push_back(store::PutOp(p.entry.kv.key, assigned.dump()));
      auto r = store.Txn(txn);
      if (!r.ok()) return r.status();
      if (r->succeeded) {
        ++report.bound;
      } else {
        ++report.conflicts;
      }
    }
  }
  report.revision = store.CurrentRevision();
  return report;
}

}  // namespace gpool::controller
