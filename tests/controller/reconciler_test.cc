#include "controller/reconciler.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>

#include "controller/job_spec.h"
#include "../store/forwarding_store.h"

namespace gpool::controller {
namespace {

using nlohmann::json;

void PutNode(store::KvStore& s, const std::string& name, int gpus, double heartbeat,
             const std::string& state = "ready") {
  const json n = {{"name", name},   {"cpu_milli", 64000},         {"memory_mib", 262144},
                  {"gpus", gpus},   {"model", "H100-80GB"},       {"simulated", true},
                  {"state", state}, {"last_heartbeat", heartbeat}};
  ASSERT_TRUE(s.Put("/gpool/nodes/" + name, n.dump()).ok());
}

std::string Key(int id) {
  std::string d = std::to_string(id);
  return "/gpool/workloads/" + std::string(20 - d.size(), '0') + d;
}

// A workload record as the API writes it, from a YAML spec.
void PutWorkload(store::KvStore& s, int id, const std::string& yaml, double submitted_at,
                 const std::string& state = "pending") {
  auto spec = ParseJobSpecYaml(yaml, "t.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  spec->tenant = "t";
  const json w = {{"id", id},
                  {"tenant", "t"},
                  {"spec", JobSpecToJson(*spec)},
                  {"state", state},
                  {"submitted_at", submitted_at},
                  {"updated_at", submitted_at}};
  ASSERT_TRUE(s.Put(Key(id), w.dump()).ok());
}

json Get(store::KvStore& s, int id) { return json::parse(s.Get(Key(id))->value); }

// (node, device) of every whole-GPU slice held by assigned workloads; fails on a duplicate.
std::set<std::pair<std::string, int>> HeldDevices(store::KvStore& s, int max_id) {
  std::set<std::pair<std::string, int>> held;
  for (int id = 1; id <= max_id; ++id) {
    auto kv = s.Get(Key(id));
    if (!kv.ok()) continue;
    const json w = json::parse(kv->value);
    if (w["state"] != "assigned") continue;
    for (const json& b : w["bindings"]) {
      for (const json& sl : b["slices"]) {
        const auto inserted =
            held.insert({b["node"].get<std::string>(), sl["device"].get<int>()}).second;
        EXPECT_TRUE(inserted) << "device booked twice: " << b["node"] << "#" << sl["device"];
      }
    }
  }
  return held;
}

TEST(Reconciler, BindsInQueueOrderWithoutDoubleBooking) {
  // Two nodes of 2 GPUs (4 in all). Pending: 1-GPU jobs 1, 2, 3 (submitted 10, 20, 30) and a
  // production 2-GPU job 4 (submitted 40). Queue order: 4 (production) first, then 1, 2, 3:
  // 4 takes one node whole, 1 and 2 the other; 3 finds no GPU and stays pending.
  auto s = store::NewMemoryStore();
  PutNode(*s, "n1", 2, 100);
  PutNode(*s, "n2", 2, 100);
  const std::string one = "name: a\ncommand: x\nresources: {gpus: 1}\n";
  PutWorkload(*s, 1, one, 10);
  PutWorkload(*s, 2, one, 20);
  PutWorkload(*s, 3, one, 30);
  PutWorkload(*s, 4, "name: b\ncommand: x\npriority: production\nresources: {gpus: 2}\n", 40);
  auto r = ReconcileOnce(*s, 110, {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->nodes_ready, 2);
  EXPECT_EQ(r->pending, 4);
  EXPECT_EQ(r->bound, 3);
  EXPECT_EQ(Get(*s, 4)["state"], "assigned");
  EXPECT_EQ(Get(*s, 4)["bindings"][0]["slices"].size(), 2u);
  EXPECT_EQ(Get(*s, 1)["state"], "assigned");
  EXPECT_EQ(Get(*s, 2)["state"], "assigned");
  EXPECT_EQ(Get(*s, 3)["state"], "pending");
  EXPECT_EQ(Get(*s, 1)["epoch"], 1);
  EXPECT_EQ(HeldDevices(*s, 4).size(), 4u);

  // A second pass sees the bindings in force: nothing new fits, nothing is booked twice.
  auto again = ReconcileOnce(*s, 120, {});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->bound, 0);
  EXPECT_EQ(again->pending, 1);
  EXPECT_EQ(HeldDevices(*s, 4).size(), 4u);

  // Job 1 finishes (the agent's report): its GPU goes to job 3 on the next pass.
  json done = Get(*s, 1);
  done["state"] = "succeeded";
  ASSERT_TRUE(s->Put(Key(1), done.dump()).ok());
  auto third = ReconcileOnce(*s, 130, {});
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->bound, 1);
  EXPECT_EQ(Get(*s, 3)["state"], "assigned");
  EXPECT_EQ(HeldDevices(*s, 4).size(), 4u);
}

TEST(Reconciler, ALostNodesWorkRunsElsewhere) {
  // n1 stopped heartbeating at 0; n2 at 95. At 100 with a 30 s timeout n1 is lost: job 1 bound
  // there goes back to pending (attempts 1) and is bound to n2 in the same pass (epoch 2).
  auto s = store::NewMemoryStore();
  PutNode(*s, "n1", 1, 0);
  PutNode(*s, "n2", 1, 95);
  PutWorkload(*s, 1, "name: a\ncommand: x\nresources: {gpus: 1}\n", 0, "running");
  json w = Get(*s, 1);
  w["bindings"] = json::array(
      {{{"node", "n1"},
        {"cpu_milli", 1000},
        {"memory_mib", 1024},
        {"slices", json::array({{{"kind", "whole"}, {"device", 0}, {"milli", 1000}}})}}});
  w["epoch"] = 1;
  ASSERT_TRUE(s->Put(Key(1), w.dump()).ok());
  auto r = ReconcileOnce(*s, 100, {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->nodes_lost_now, 1);
  EXPECT_EQ(r->requeued, 1);
  EXPECT_EQ(r->bound, 1);
  const json after = Get(*s, 1);
  EXPECT_EQ(after["state"], "assigned");
  EXPECT_EQ(after["bindings"][0]["node"], "n2");
  EXPECT_EQ(after["attempts"], 1);
  EXPECT_EQ(after["epoch"], 2);
  EXPECT_EQ(json::parse(s->Get("/gpool/nodes/n1")->value)["state"], "lost");
}

TEST(Reconciler, GangsAndCpuOnlyJobsAndBadRecords) {
  // Two 2-GPU nodes. A gang of two 2-GPU members takes both nodes whole (one binding each);
  // a CPU-only job binds too (no slices); a cancelled job and a malformed record are ignored.
  auto s = store::NewMemoryStore();
  PutNode(*s, "n1", 2, 100);
  PutNode(*s, "n2", 2, 100);
  PutWorkload(*s, 1, "name: g\ncommand: x\ngang: 2\nresources: {gpus: 2}\n", 10);
  PutWorkload(*s, 2, "name: c\ncommand: x\n", 20);
  PutWorkload(*s, 3, "name: z\ncommand: x\nresources: {gpus: 1}\n", 30, "cancelled");
  ASSERT_TRUE(s->Put(Key(4), "{not json").ok());
  auto r = ReconcileOnce(*s, 110, {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->bound, 2);
  EXPECT_EQ(r->malformed, 1);
  const json gang = Get(*s, 1);
  ASSERT_EQ(gang["bindings"].size(), 2u);
  EXPECT_NE(gang["bindings"][0]["node"], gang["bindings"][1]["node"]);
  EXPECT_EQ(Get(*s, 2)["bindings"][0]["slices"].size(), 0u);
  EXPECT_EQ(Get(*s, 3)["state"], "cancelled");
  EXPECT_EQ(HeldDevices(*s, 3).size(), 4u);
  // A gang that cannot be placed whole binds no member.
  PutWorkload(*s, 5, "name: h\ncommand: x\ngang: 2\nresources: {gpus: 1}\n", 40);
  auto r2 = ReconcileOnce(*s, 120, {});
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->bound, 0);
  EXPECT_EQ(Get(*s, 5)["state"], "pending");
}


// Gives workload `id` a binding of whole GPU `device` on `node` (as a pass would have).
void BindWhole(store::KvStore& s, int id, const std::string& node, int device, json extra = {}) {
  json w = Get(s, id);
  w["bindings"] = json::array(
      {{{"node", node},
        {"cpu_milli", 1000},
        {"memory_mib", 1024},
        {"slices", json::array({{{"kind", "whole"}, {"device", device}, {"milli", 1000}}})}}});
  w["epoch"] = 1;
  if (extra.is_object()) w.update(extra);
  ASSERT_TRUE(s.Put(Key(id), w.dump()).ok());
}

TEST(Reconciler, ACancelledWorkloadsSlicesStayBookedUntilItsAgentConfirms) {
  // One node of 1 GPU. Job 1 was cancelled while running: `releasing` until the agent reports
  // the process gone. Job 2 waits for the GPU meanwhile, and gets it once released.
  auto s = store::NewMemoryStore();
  PutNode(*s, "n1", 1, 100);
  PutWorkload(*s, 1, "name: a\ncommand: x\nresources: {gpus: 1}\n", 0, "cancelled");
  BindWhole(*s, 1, "n1", 0, {{"releasing", true}});
  PutWorkload(*s, 2, "name: b\ncommand: x\nresources: {gpus: 1}\n", 10);
  WorkloadIndex index;
  auto r = ReconcileOnce(*s, 110, {}, &index);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->bound, 0);
  EXPECT_EQ(Get(*s, 2)["state"], "pending");
  json released = Get(*s, 1);
  released.erase("releasing");
  ASSERT_TRUE(s->Put(Key(1), released.dump()).ok());
  r = ReconcileOnce(*s, 111, {}, &index);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->bound, 1);
  EXPECT_EQ(Get(*s, 2)["state"], "assigned");
}

TEST(Reconciler, AWorkloadPastItsMaxRuntimeFailsAndReleases) {
  // Job 1 started at 30 with max_runtime 60: still fine at 90, failed at 91 (91 - 30 > 60).
  auto s = store::NewMemoryStore();
  PutNode(*s, "n1", 1, 100);
  PutWorkload(*s, 1, "name: a\ncommand: x\nmax_runtime: 60\nresources: {gpus: 1}\n", 0,
              "running");
  BindWhole(*s, 1, "n1", 0, {{"started_at", 30.0}});
  WorkloadIndex index;
  auto r = ReconcileOnce(*s, 90, {}, &index);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->timed_out, 0);
  r = ReconcileOnce(*s, 91, {}, &index);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->timed_out, 1);
  const json w = Get(*s, 1);
  EXPECT_EQ(w["state"], "failed");
  EXPECT_TRUE(w["releasing"].get<bool>());
  EXPECT_NE(w["message"].get<std::string>().find("max_runtime of 60 s"), std::string::npos);
}

TEST(Reconciler, ATenantsCapHoldsBackWhatWouldGoOverIt) {
  // Tenant t: guaranteed 1 + borrow 1 = a cap of 2 GPUs. One node of 4 GPUs, four 1-GPU jobs
  // and one 0.5-GPU share: jobs 1 and 2 bind (2 GPUs), 3 and 4 are held (3 > 2), and the share
  // too (2 + 0.5 > 2), though the node has room. A tenant with no cap (0 + 0) is not held.
  auto s = store::NewMemoryStore();
  PutNode(*s, "n1", 4, 100);
  ASSERT_TRUE(
      s->Put("/gpool/tenants/t", json{{"name", "t"}, {"guaranteed_gpus", 1}, {"borrow_gpus", 1}}
                                     .dump())
          .ok());
  const std::string one = "name: a\ncommand: x\nresources: {gpus: 1}\n";
  for (int id = 1; id <= 4; ++id) PutWorkload(*s, id, one, id);
  PutWorkload(*s, 5, "name: s\ncommand: x\nresources: {gpus: {share: {compute: 0.5}}}\n", 5);
  auto r = ReconcileOnce(*s, 110, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->bound, 2);
  EXPECT_EQ(r->held_by_quota, 3);
  EXPECT_EQ(Get(*s, 3)["state"], "pending");
  ASSERT_TRUE(
      s->Put("/gpool/tenants/t", json{{"name", "t"}, {"guaranteed_gpus", 0}, {"borrow_gpus", 0}}
                                     .dump())
          .ok());
  r = ReconcileOnce(*s, 111, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->bound, 2);  // jobs 3 and 4 take the last two GPUs: the node is full
  EXPECT_EQ(r->held_by_quota, 0);
  EXPECT_EQ(Get(*s, 5)["state"], "pending");
}

// A store that, just before the first transaction of several compares (the pass's batch of
// binds), lets "someone else" change workload 2: the batch fails on that compare.
class InterferingStore : public test::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  Result<store::TxnResult> Txn(const store::TxnRequest& r) override {
    if (r.compare.size() > 1 && !interfered_) {
      interfered_ = true;
      json w = json::parse(inner().Get(Key(2))->value);
      w["state"] = "cancelled";
      (void)inner().Put(Key(2), w.dump());
    }
    return ForwardingStore::Txn(r);
  }

 private:
  bool interfered_ = false;
};

TEST(Reconciler, BindsCommitTogetherAndOneByOneWhenOneOfThemChanged) {
  // Three 1-GPU jobs on a 4-GPU node: the pass commits the three binds in one transaction. Here
  // job 2 is cancelled just before: the batch fails, 1 and 3 are bound one by one, 2 conflicts.
  auto inner = store::NewMemoryStore();
  PutNode(*inner, "n1", 4, 100);
  const std::string one = "name: a\ncommand: x\nresources: {gpus: 1}\n";
  for (int id = 1; id <= 3; ++id) PutWorkload(*inner, id, one, id);
  InterferingStore s(*inner);
  auto r = ReconcileOnce(s, 110, {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->bound, 2);
  EXPECT_EQ(r->conflicts, 1);
  EXPECT_EQ(Get(*inner, 1)["state"], "assigned");
  EXPECT_EQ(Get(*inner, 2)["state"], "cancelled");
  EXPECT_EQ(Get(*inner, 3)["state"], "assigned");
  EXPECT_EQ(r->queue_wait_s, (std::vector<double>{109, 107}));  // 110 - submitted 1 and 3
}

TEST(WorkloadIndex, FollowsTheStoreAndReloadsAfterCompaction) {
  auto s = store::NewMemoryStore();
  PutWorkload(*s, 1, "name: a\ncommand: x\n", 0);
  PutWorkload(*s, 2, "name: b\ncommand: x\n", 0, "succeeded");
  WorkloadIndex index;
  ASSERT_TRUE(index.Sync(*s).ok());
  ASSERT_EQ(index.Active().size(), 1u);  // finished workloads are not kept
  EXPECT_EQ(index.Active()[0]->id, 1);
  ASSERT_TRUE(index.Active()[0]->spec.has_value());
  // Job 1 is bound to n1: it shows on n1; then it finishes and leaves the index.
  BindWhole(*s, 1, "n1", 0, {{"state", "running"}});
  ASSERT_TRUE(index.Sync(*s).ok());
  ASSERT_EQ(index.OnNode("n1").size(), 1u);
  EXPECT_EQ(index.OnNode("n1")[0]->mod_revision, s->Get(Key(1))->mod_revision);
  EXPECT_TRUE(index.OnNode("n2").empty());
  json done = Get(*s, 1);
  done["state"] = "succeeded";
  ASSERT_TRUE(s->Put(Key(1), done.dump()).ok());
  // Events it has not read are compacted away: it reloads and still sees the truth.
  PutWorkload(*s, 3, "name: c\ncommand: x\n", 0);
  ASSERT_TRUE(s->Put(Key(4), "{broken").ok());
  ASSERT_TRUE(s->Compact(s->CurrentRevision()).ok());
  ASSERT_TRUE(index.Sync(*s).ok());
  EXPECT_TRUE(index.OnNode("n1").empty());
  ASSERT_EQ(index.Active().size(), 1u);
  EXPECT_EQ(index.Active()[0]->id, 3);
  EXPECT_EQ(index.malformed(), 1);
  EXPECT_EQ(index.revision(), s->CurrentRevision());
}

}  // namespace
}  // namespace gpool::controller
