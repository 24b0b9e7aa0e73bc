// The agents' side of the API (node registration, heartbeats with assignments, status reports
// with epoch fencing), together with the reconciler that produces the assignments.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "controller/api.h"
#include "controller/clock.h"
#include "controller/reconciler.h"
#include "controller/token_source.h"

namespace gpool::controller {
namespace {

using nlohmann::json;

class AgentApi : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_.Set(1000);
    admin_ = handler_.Bootstrap().value().value();
    auto r = Call("POST", "/v1/tenants", admin_, json{{"name", "t"}, {"guaranteed_gpus", 2}});
    ASSERT_EQ(r.status, 201) << r.body;
    tenant_ = json::parse(r.body)["token"];
  }
  HttpResponse Call(const std::string& method, const std::string& path, const std::string& token,
                    const json& body = json()) {
    HttpRequest q;
    q.method = method;
    q.path = path;
    q.headers["authorization"] = "Bearer " + token;
    if (!body.is_null()) q.body = body.dump();
    return handler_.Handle(q);
  }
  json Node(const std::string& name, int gpus) {
    return {{"name", name}, {"cpu_milli", 64000}, {"memory_mib", 262144},
            {"gpus", gpus}, {"model", "h100"},    {"simulated", true}};
  }

  std::unique_ptr<store::KvStore> store_ = store::NewMemoryStore();
  FakeClock clock_;
  FakeTokenSource tokens_{7};
  ApiHandler handler_{*store_, clock_, tokens_};
  std::string admin_;
  std::string tenant_;
};

TEST_F(AgentApi, RegisterValidatesAndOnlyTheAdminMay) {
  struct Case {
    json body;
    int status;
    std::string field;
  };
  json unknown = Node("n1", 2);
  unknown["colour"] = "red";
  json too_many = Node("n1", 17);
  json no_model = Node("n1", 2);
  no_model.erase("model");
  json bad_model = Node("n1", 2);
  bad_model["model"] = "Z80";
  json negative = Node("n1", 2);
  negative["cpu_milli"] = -1;
  json bad_name = Node("N 1", 2);
  const std::vector<Case> cases = {
      {Node("n1", 2), 200, ""}, {unknown, 400, "colour"},       {too_many, 400, "gpus"},
      {no_model, 400, "model"}, {bad_model, 400, "model"},      {negative, 400, "cpu_milli"},
      {bad_name, 400, "name"},  {Node("cpu-only", 0), 200, ""},
  };
  for (const Case& c : cases) {
    const HttpResponse r = Call("POST", "/v1/nodes", admin_, c.body);
    EXPECT_EQ(r.status, c.status) << c.body << " -> " << r.body;
    if (!c.field.empty()) {
      EXPECT_EQ(json::parse(r.body)["error"]["field"], c.field) << r.body;
    }
  }
  // The model is stored under its canonical name; the node is ready with a fresh heartbeat.
  const json stored = json::parse(store_->Get("/gpool/nodes/n1")->value);
  EXPECT_EQ(stored["model"], "H100-80GB");
  EXPECT_EQ(stored["state"], "ready");
  EXPECT_EQ(stored["last_heartbeat"], 1000.0);
  EXPECT_EQ(Call("POST", "/v1/nodes", tenant_, Node("n2", 1)).status, 403);
  EXPECT_EQ(Call("POST", "/v1/nodes/n1/heartbeat", tenant_).status, 403);
  EXPECT_EQ(Call("POST", "/v1/nodes/nope/heartbeat", admin_).status, 404);
}

TEST_F(AgentApi, HeartbeatCarriesAssignmentsAndStatusIsFencedByEpoch) {
  ASSERT_EQ(Call("POST", "/v1/nodes", admin_, Node("n1", 2)).status, 200);
  auto sub = Call("POST", "/v1/workloads", tenant_,
                  json{{"name", "a"}, {"command", "true"}, {"resources", {{"gpus", 1}}}});
  ASSERT_EQ(sub.status, 201) << sub.body;
  const int id = json::parse(sub.body)["id"];
  // Before a reconcile pass nothing is assigned.
  auto hb = Call("POST", "/v1/nodes/n1/heartbeat", admin_);
  ASSERT_EQ(hb.status, 200) << hb.body;
  EXPECT_EQ(json::parse(hb.body)["assignments"].size(), 0u);
  ASSERT_TRUE(ReconcileOnce(*store_, clock_.NowSeconds(), {}, &handler_.index(), &handler_.liveness()).ok());
  hb = Call("POST", "/v1/nodes/n1/heartbeat", admin_);
  const json assignments = json::parse(hb.body)["assignments"];
  ASSERT_EQ(assignments.size(), 1u) << hb.body;
  EXPECT_EQ(assignments[0]["id"], id);
  EXPECT_EQ(assignments[0]["epoch"], 1);
  EXPECT_EQ(assignments[0]["bindings"][0]["slices"][0]["kind"], "whole");

  const std::string status = "/v1/workloads/" + std::to_string(id) + "/status";
  // A stale epoch is refused (the agent must stop what it runs); so is a bad state.
  EXPECT_EQ(Call("POST", status, admin_, json{{"state", "running"}, {"epoch", 0}}).status, 409);
  EXPECT_EQ(Call("POST", status, admin_, json{{"state", "done"}, {"epoch", 1}}).status, 400);
  EXPECT_EQ(Call("POST", status, admin_, json{{"state", "running"}}).status, 400);
  EXPECT_EQ(Call("POST", status, tenant_, json{{"state", "running"}, {"epoch", 1}}).status, 403);
  auto run = Call("POST", status, admin_, json{{"state", "running"}, {"epoch", 1}});
  ASSERT_EQ(run.status, 200) << run.body;
  EXPECT_EQ(json::parse(run.body)["state"], "running");
  auto end =
      Call("POST", status, admin_, json{{"state", "succeeded"}, {"epoch", 1}, {"exit_code", 0}});
  ASSERT_EQ(end.status, 200) << end.body;
  EXPECT_EQ(json::parse(end.body)["exit_code"], 0);
  // Finished: no more reports, and no longer an assignment.
  EXPECT_EQ(Call("POST", status, admin_, json{{"state", "failed"}, {"epoch", 1}}).status, 409);
  hb = Call("POST", "/v1/nodes/n1/heartbeat", admin_);
  EXPECT_EQ(json::parse(hb.body)["assignments"].size(), 0u);
}

TEST_F(AgentApi, ACancelledAssignmentTellsTheAgentToStop) {
  ASSERT_EQ(Call("POST", "/v1/nodes", admin_, Node("n1", 1)).status, 200);
  auto sub = Call("POST", "/v1/workloads", tenant_, json{{"name", "a"}, {"command", "true"}});
  const int id = json::parse(sub.body)["id"];
  ASSERT_TRUE(ReconcileOnce(*store_, clock_.NowSeconds(), {}, &handler_.index(), &handler_.liveness()).ok());
  EXPECT_EQ(Call("POST", "/v1/workloads/" + std::to_string(id) + "/cancel", tenant_).status, 200);
  auto r = Call("POST", "/v1/workloads/" + std::to_string(id) + "/status", admin_,
                json{{"state", "running"}, {"epoch", 1}});
  EXPECT_EQ(r.status, 409);
  EXPECT_NE(r.body.find("cancelled; stop it"), std::string::npos) << r.body;
}

TEST_F(AgentApi, ACancelledRunningWorkloadIsReleasedWhenItsAgentConfirmsTheStop) {
  ASSERT_EQ(Call("POST", "/v1/nodes", admin_, Node("n1", 1)).status, 200);
  auto sub = Call("POST", "/v1/workloads", tenant_,
                  json{{"name", "a"}, {"command", "sleep 60"}, {"resources", {{"gpus", 1}}}});
  const std::string id = std::to_string(json::parse(sub.body)["id"].get<int>());
  ASSERT_TRUE(
      ReconcileOnce(*store_, clock_.NowSeconds(), {}, &handler_.index(), &handler_.liveness())
          .ok());
  ASSERT_EQ(Call("POST", "/v1/workloads/" + id + "/status", admin_,
                 json{{"state", "running"}, {"epoch", 1}})
                .status,
            200);
  ASSERT_EQ(Call("POST", "/v1/workloads/" + id + "/cancel", tenant_).status, 200);
  // The heartbeat no longer assigns it, and orders it stopped.
  json hb = json::parse(Call("POST", "/v1/nodes/n1/heartbeat", admin_).body);
  EXPECT_EQ(hb["assignments"].size(), 0u);
  ASSERT_EQ(hb["stop"].size(), 1u) << hb.dump();
  EXPECT_EQ(hb["stop"][0]["epoch"], 1);
  json record = json::parse(Call("GET", "/v1/workloads/" + id, tenant_).body);
  EXPECT_TRUE(record["releasing"].get<bool>());
  // A stale epoch cannot release it; the right one does, once.
  EXPECT_EQ(Call("POST", "/v1/workloads/" + id + "/status", admin_,
                 json{{"state", "stopped"}, {"epoch", 0}})
                .status,
            409);
  EXPECT_EQ(Call("POST", "/v1/workloads/" + id + "/status", admin_,
                 json{{"state", "stopped"}, {"epoch", 1}})
                .status,
            200);
  record = json::parse(Call("GET", "/v1/workloads/" + id, tenant_).body);
  EXPECT_FALSE(record.contains("releasing"));
  EXPECT_EQ(record["state"], "cancelled");
  hb = json::parse(Call("POST", "/v1/nodes/n1/heartbeat", admin_).body);
  EXPECT_EQ(hb["stop"].size(), 0u);
}

TEST_F(AgentApi, EventsTellWhatChangedAndATenantSeesOnlyItsOwn) {
  ASSERT_EQ(Call("POST", "/v1/nodes", admin_, Node("n1", 1)).status, 200);
  auto other = Call("POST", "/v1/tenants", admin_, json{{"name", "u"}});
  const std::string other_token = json::parse(other.body)["token"];
  ASSERT_EQ(Call("POST", "/v1/workloads", tenant_, json{{"name", "a"}, {"command", "true"}}).status,
            201);
  ASSERT_TRUE(
      ReconcileOnce(*store_, clock_.NowSeconds(), {}, &handler_.index(), &handler_.liveness())
          .ok());
  ASSERT_EQ(Call("POST", "/v1/workloads/1/status", admin_, json{{"state", "running"}, {"epoch", 1}})
                .status,
            200);
  auto r = Call("GET", "/v1/events", tenant_);
  ASSERT_EQ(r.status, 200) << r.body;
  const json page = json::parse(r.body);
  std::vector<std::string> seen;
  for (const json& e : page["events"]) seen.push_back(e["kind"].get<std::string>() + ":" +
                                                      e["state"].get<std::string>());
  EXPECT_EQ(seen, (std::vector<std::string>{"workload:pending", "workload:assigned",
                                            "workload:running"}));
  EXPECT_EQ(page["events"][1]["nodes"][0], "n1");
  // Following from the last revision: nothing new yet.
  const std::string next = std::to_string(page["revision"].get<std::int64_t>() + 1);
  EXPECT_EQ(json::parse(Call("GET", "/v1/events?since=" + next, tenant_).body)["events"].size(),
            0u);
  // Another tenant sees none of it; the admin sees the node too; a paging limit holds.
  EXPECT_EQ(json::parse(Call("GET", "/v1/events", other_token).body)["events"].size(), 0u);
  const json all = json::parse(Call("GET", "/v1/events", admin_).body);
  EXPECT_EQ(all["events"][0]["kind"], "node");
  EXPECT_EQ(all["events"].size(), 4u);
  // Paging one store change at a time (tenant and token changes are not shown) finds the same 4.
  std::size_t paged = 0;
  std::int64_t since = 0;
  for (int page_no = 0; page_no < 50; ++page_no) {
    const json p = json::parse(
        Call("GET", "/v1/events?limit=1&since=" + std::to_string(since), admin_).body);
    EXPECT_LE(p["events"].size(), 1u);
    paged += p["events"].size();
    if (p["revision"].get<std::int64_t>() >= store_->CurrentRevision()) break;
    since = p["revision"].get<std::int64_t>() + 1;
  }
  EXPECT_EQ(paged, 4u);
  // Events that were compacted away are named as such.
  ASSERT_TRUE(store_->Compact(store_->CurrentRevision()).ok());
  r = Call("GET", "/v1/events?since=1", admin_);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body)["error"]["field"], "since");
  EXPECT_EQ(Call("GET", "/v1/events?since=x", admin_).status, 400);
}

TEST_F(AgentApi, MetricsAreForTheAdminInPrometheusText) {
  ASSERT_EQ(Call("POST", "/v1/nodes", admin_, Node("n1", 2)).status, 200);
  ASSERT_EQ(Call("POST", "/v1/workloads", tenant_,
                 json{{"name", "a"}, {"command", "true"}, {"resources", {{"gpus", 1}}}})
                .status,
            201);
  ASSERT_TRUE(
      ReconcileOnce(*store_, clock_.NowSeconds(), {}, &handler_.index(), &handler_.liveness())
          .ok());
  EXPECT_EQ(Call("GET", "/metrics", tenant_).status, 403);
  EXPECT_EQ(Call("GET", "/metrics", "").status, 401);
  const HttpResponse r = Call("GET", "/metrics", admin_);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type.rfind("text/plain; version=0.0.4", 0), 0u);
  EXPECT_NE(r.body.find("gpool_workloads{state=\"assigned\",tenant=\"t\"} 1"), std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("gpool_node_gpus_allocated{model=\"H100-80GB\",node=\"n1\"} 1"),
            std::string::npos)
      << r.body;
}

TEST_F(AgentApi, AGangSpreadOverNodesEndsMemberByMember) {
  // Two nodes of 1 GPU; gangs of 2 x 1 GPU take one GPU on each. Gang 1: n1's member ends
  // first, n2's keeps running; both done -> succeeded. Gang 2: n1's member fails -> the gang has
  // failed, n2 is ordered to stop its member and confirm.
  ASSERT_EQ(Call("POST", "/v1/nodes", admin_, Node("n1", 1)).status, 200);
  ASSERT_EQ(Call("POST", "/v1/nodes", admin_, Node("n2", 1)).status, 200);
  const json gang = {{"name", "g"}, {"command", "true"}, {"gang", 2}, {"resources", {{"gpus", 1}}}};
  ASSERT_EQ(Call("POST", "/v1/workloads", tenant_, gang).status, 201);
  const auto pass = [&] {
    ASSERT_TRUE(
        ReconcileOnce(*store_, clock_.NowSeconds(), {}, &handler_.index(), &handler_.liveness())
            .ok());
  };
  const auto report = [&](int id, const std::string& node, const std::string& state) {
    json body = {{"state", state}, {"epoch", 1}, {"node", node}};
    if (state == "succeeded" || state == "failed") body["exit_code"] = state == "failed" ? 1 : 0;
    return Call("POST", "/v1/workloads/" + std::to_string(id) + "/status", admin_, body);
  };
  const auto beat = [&](const std::string& node) {
    return json::parse(Call("POST", "/v1/nodes/" + node + "/heartbeat", admin_).body);
  };
  const auto state_of = [&](int id) {
    return json::parse(Call("GET", "/v1/workloads/" + std::to_string(id), admin_).body);
  };
  pass();
  ASSERT_EQ(beat("n1")["assignments"].size(), 1u);
  ASSERT_EQ(beat("n2")["assignments"].size(), 1u);
  ASSERT_EQ(report(1, "n1", "running").status, 200);
  ASSERT_EQ(report(1, "n2", "running").status, 200);
  ASSERT_EQ(report(1, "n1", "succeeded").status, 200);
  EXPECT_EQ(state_of(1)["state"], "running");
  EXPECT_EQ(beat("n1")["assignments"].size(), 0u);  // n1's part is over: not started again
  EXPECT_EQ(beat("n2")["assignments"].size(), 1u);  // n2's runs on
  ASSERT_EQ(report(1, "n2", "succeeded").status, 200);
  EXPECT_EQ(state_of(1)["state"], "succeeded");

  ASSERT_EQ(Call("POST", "/v1/workloads", tenant_, gang).status, 201);
  pass();
  ASSERT_EQ(report(2, "n1", "running").status, 200);
  ASSERT_EQ(report(2, "n2", "running").status, 200);
  ASSERT_EQ(report(2, "n1", "failed").status, 200);
  const json failed = state_of(2);
  EXPECT_EQ(failed["state"], "failed");
  EXPECT_EQ(failed["releasing_nodes"], json::array({"n2"}));
  EXPECT_EQ(beat("n1")["stop"].size(), 0u);
  const json n2 = beat("n2");
  EXPECT_EQ(n2["assignments"].size(), 0u);
  ASSERT_EQ(n2["stop"].size(), 1u);
  // n2's late report of its own end is refused (the gang is over); its stop confirmation frees it.
  EXPECT_EQ(report(2, "n2", "succeeded").status, 409);
  ASSERT_EQ(report(2, "n2", "stopped").status, 200);
  EXPECT_FALSE(state_of(2).contains("releasing"));
}

TEST_F(AgentApi, BadAgentInputIsRefusedNamingTheField) {
  struct Case {
    std::string path;
    json body;
    int status;
    std::string field;
  };
  json bad_memory = Node("n1", 1);
  bad_memory["gpu_memory_mib"] = "x";
  json bad_simulated = Node("n1", 1);
  bad_simulated["simulated"] = "yes";
  ASSERT_EQ(Call("POST", "/v1/nodes", admin_, Node("n1", 1)).status, 200);
  ASSERT_EQ(Call("POST", "/v1/workloads", tenant_, json{{"name", "a"}, {"command", "true"}}).status,
            201);
  const Case cases[] = {
      {"/v1/nodes", bad_memory, 400, "gpu_memory_mib"},
      {"/v1/nodes", bad_simulated, 400, "simulated"},
      {"/v1/workloads/1/status", {{"state", "failed"}, {"epoch", 0}, {"exit_code", "boom"}}, 400,
       "exit_code"},
      {"/v1/workloads/1/status", {{"state", "failed"}, {"epoch", 0}, {"message", json::array()}},
       400, "message"},
      {"/v1/workloads/1/status", {{"state", "running"}, {"epoch", 4294967297}}, 400, "epoch"},
      {"/v1/workloads/1/status", {{"state", "running"}, {"epoch", 0}, {"node", 3}}, 400, "node"},
  };
  for (const Case& c : cases) {
    const HttpResponse r = Call("POST", c.path, admin_, c.body);
    EXPECT_EQ(r.status, c.status) << c.body.dump() << " -> " << r.body;
    EXPECT_EQ(json::parse(r.body)["error"].value("field", ""), c.field) << r.body;
  }
  // "/v1/nodes/heartbeat" is not the heartbeat of a node called "heartbeat".
  EXPECT_EQ(Call("POST", "/v1/nodes/heartbeat", admin_).status, 404);
  // A registration with a wrong type never reached the store: the loop still runs.
  EXPECT_TRUE(
      ReconcileOnce(*store_, clock_.NowSeconds(), {}, &handler_.index(), &handler_.liveness())
          .ok());
}

TEST_F(AgentApi, ALostNodeThatComesBackIsReadyAgainAndItsWorkWasMoved) {
  ASSERT_EQ(Call("POST", "/v1/nodes", admin_, Node("n1", 1)).status, 200);
  ASSERT_EQ(Call("POST", "/v1/nodes", admin_, Node("n2", 1)).status, 200);
  auto sub = Call("POST", "/v1/workloads", tenant_,
                  json{{"name", "a"}, {"command", "true"}, {"resources", {{"gpus", 1}}}});
  const int id = json::parse(sub.body)["id"];
  ASSERT_TRUE(ReconcileOnce(*store_, clock_.NowSeconds(), {}, &handler_.index(), &handler_.liveness()).ok());
  const json first =
      json::parse(store_->Get("/gpool/workloads/" + std::string(19, '0') + "1")->value);
  const std::string node = first["bindings"][0]["node"];
  const std::string other = node == "n1" ? "n2" : "n1";
  // 60 s later only `other` has heartbeaten: `node` is lost, the job moves with epoch 2.
  clock_.Advance(60);
  ASSERT_EQ(Call("POST", "/v1/nodes/" + other + "/heartbeat", admin_).status, 200);
  auto pass = ReconcileOnce(*store_, clock_.NowSeconds(), {}, &handler_.index(), &handler_.liveness());
  ASSERT_TRUE(pass.ok());
  EXPECT_EQ(pass->nodes_lost_now, 1);
  auto hb = Call("POST", "/v1/nodes/" + other + "/heartbeat", admin_);
  const json moved = json::parse(hb.body)["assignments"];
  ASSERT_EQ(moved.size(), 1u) << hb.body;
  EXPECT_EQ(moved[0]["id"], id);
  EXPECT_EQ(moved[0]["epoch"], 2);
  // The old node's agent comes back: it is ready again, has no assignment, and its late report
  // for epoch 1 is refused, so the job never runs twice under the store's eyes.
  hb = Call("POST", "/v1/nodes/" + node + "/heartbeat", admin_);
  EXPECT_TRUE(json::parse(hb.body)["was_lost"].get<bool>());
  EXPECT_EQ(json::parse(hb.body)["assignments"].size(), 0u);
  EXPECT_EQ(Call("POST", "/v1/workloads/" + std::to_string(id) + "/status", admin_,
                 json{{"state", "running"}, {"epoch", 1}})
                .status,
            409);
}

}  // namespace
}  // namespace gpool::controller
