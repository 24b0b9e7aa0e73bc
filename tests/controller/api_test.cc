#include "controller/api.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "controller/clock.h"
#include "controller/job_spec.h"
#include "controller/token_source.h"
#include "store/kv_store.h"

namespace gpool::controller {
namespace {

using nlohmann::json;

// A small builder for requests: Req("POST", "/v1/workloads").Token(t).Json({...}).
struct Req {
  HttpRequest r;
  Req(std::string method, std::string path) {
    r.method = std::move(method);
    r.path = std::move(path);
  }
  Req& Token(const std::string& t) {
    r.headers["authorization"] = "Bearer " + t;
    return *this;
  }
  Req& Header(const std::string& k, const std::string& v) {
    r.headers[k] = v;
    return *this;
  }
  Req& Body(std::string b) {
    r.body = std::move(b);
    return *this;
  }
  Req& Json(const json& j) { return Body(j.dump()); }
};

json SpecJson(const std::string& name, const std::string& tenant = "") {
  json j = {{"name", name}, {"command", {"python3", "train.py"}}, {"resources", {{"gpus", 1}}}};
  if (!tenant.empty()) j["tenant"] = tenant;
  return j;
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = store::NewMemoryStore();
    api_ = std::make_unique<ApiHandler>(*store_, clock_, tokens_);
    auto admin = api_->Bootstrap();
    ASSERT_TRUE(admin.ok());
    ASSERT_TRUE(admin->has_value());
    admin_ = **admin;
    alpha_ = CreateTenant("alpha", 4, 2);
    beta_ = CreateTenant("beta", 2, 0);
  }

  HttpResponse Call(const Req& req) { return api_->Handle(req.r); }
  static json Body(const HttpResponse& r) { return json::parse(r.body); }

  std::string CreateTenant(const std::string& name, int guaranteed, int borrow) {
    auto r =
        Call(Req("POST", "/v1/tenants")
                 .Token(admin_)
                 .Json({{"name", name}, {"guaranteed_gpus", guaranteed}, {"borrow_gpus", borrow}}));
    EXPECT_EQ(r.status, 201) << r.body;
    return Body(r)["token"].get<std::string>();
  }

  std::int64_t Submit(const std::string& token, const json& spec) {
    auto r = Call(Req("POST", "/v1/workloads").Token(token).Json(spec));
    EXPECT_EQ(r.status, 201) << r.body;
    return Body(r)["id"].get<std::int64_t>();
  }

  FakeClock clock_;
  FakeTokenSource tokens_{7};
  std::unique_ptr<store::KvStore> store_;
  std::unique_ptr<ApiHandler> api_;
  std::string admin_, alpha_, beta_;
};

TEST_F(ApiTest, HealthzNeedsNoToken) {
  auto r = Call(Req("GET", "/healthz"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(Body(r)["status"], "ok");
  EXPECT_EQ(Body(r)["revision"], store_->CurrentRevision());
}

TEST_F(ApiTest, BootstrapCreatesTheAdminTokenExactlyOnce) {
  // SetUp bootstrapped already: a second call returns nothing new and writes nothing.
  const store::Revision before = store_->CurrentRevision();
  auto again = api_->Bootstrap();
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());
  EXPECT_EQ(store_->CurrentRevision(), before);
  // Only the hash is stored.
  auto meta = store_->Get("/gpool/meta/admin");
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(json::parse(meta->value)["token_sha256"], Sha256Hex(admin_));
  EXPECT_EQ(meta->value.find(admin_), std::string::npos);
  EXPECT_TRUE(store_->Get("/gpool/tokens/" + Sha256Hex(admin_)).ok());
}

TEST(ApiBootstrap, ConcurrentBootstrapsHandOutOneToken) {
  auto store = store::NewMemoryStore();
  FakeClock clock;
  FakeTokenSource tokens;
  ApiHandler api(*store, clock, tokens);
  std::vector<std::thread> threads;
  std::vector<int> got(4, 0);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto t = api.Bootstrap();
      got[i] = t.ok() && t->has_value() ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(got[0] + got[1] + got[2] + got[3], 1);
}

TEST(TokenSource, TokensAreHexAndDistinct) {
  UrandomTokenSource real;
  auto a = real.NewToken();
  auto b = real.NewToken();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(LooksLikeToken(*a));
  EXPECT_NE(*a, *b);
  // SHA-256("abc"), FIPS 180-2 test vector.
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// Every status code the API gives, one request each.
TEST_F(ApiTest, StatusCodes) {
  const std::int64_t alpha_job = Submit(alpha_, SpecJson("a1"));
  const std::string wrong = std::string(64, 'a');
  struct Case {
    const char* what;
    Req req;
    int status;
    const char* code;   // "" for success
    const char* field;  // "" when no field is expected
  };
  const std::string big(kMaxBodyBytes + 1, ' ');
  std::vector<Case> cases = {
      {"list own workloads", Req("GET", "/v1/workloads").Token(alpha_), 200, "", ""},
      {"no token", Req("GET", "/v1/workloads"), 401, "unauthenticated", ""},
      {"unknown token", Req("GET", "/v1/workloads").Token(wrong), 401, "unauthenticated", ""},
      {"malformed token", Req("GET", "/v1/workloads").Token("abc"), 401, "unauthenticated", ""},
      {"not bearer", Req("GET", "/v1/workloads").Header("authorization", "Basic " + alpha_), 401,
       "unauthenticated", ""},
      {"tenant reads nodes", Req("GET", "/v1/nodes").Token(alpha_), 403, "forbidden", ""},
      {"tenant creates tenant", Req("POST", "/v1/tenants").Token(alpha_).Json({{"name", "x"}}), 403,
       "forbidden", ""},
      {"submit for another tenant",
       Req("POST", "/v1/workloads").Token(alpha_).Json(SpecJson("x", "beta")), 403, "forbidden",
       "tenant"},
      {"unknown path", Req("GET", "/v1/nothing").Token(admin_), 404, "not_found", ""},
      {"unknown id", Req("GET", "/v1/workloads/999").Token(admin_), 404, "not_found", ""},
      {"bad id", Req("GET", "/v1/workloads/abc").Token(admin_), 404, "not_found", ""},
      {"wrong method", Req("DELETE", "/v1/workloads").Token(admin_), 405, "invalid_argument", ""},
      {"wrong method on cancel",
       Req("GET", "/v1/workloads/" + std::to_string(alpha_job) + "/cancel").Token(admin_), 405,
       "invalid_argument", ""},
      {"existing tenant", Req("POST", "/v1/tenants").Token(admin_).Json({{"name", "alpha"}}), 409,
       "conflict", "name"},
      {"body over 1 MiB", Req("POST", "/v1/workloads").Token(alpha_).Body(big), 413,
       "invalid_argument", ""},
      {"malformed JSON", Req("POST", "/v1/workloads").Token(alpha_).Body("{\"name\": "), 400,
       "invalid_argument", ""},
      {"wrong content type",
       Req("POST", "/v1/workloads").Token(alpha_).Header("content-type", "text/plain").Body("x"),
       400, "invalid_argument", ""},
      {"unknown field",
       Req("POST", "/v1/workloads").Token(alpha_).Json({{"name", "a"}, {"comand", "x"}}), 400,
       "invalid_argument", "comand"},
      {"impossible resources",
       Req("POST", "/v1/workloads")
           .Token(alpha_)
           .Json({{"name", "a"}, {"command", "x"}, {"resources", {{"gpus", {{"count", 0}}}}}}),
       400, "invalid_argument", "resources.gpus.count"},
      {"negative cpu",
       Req("POST", "/v1/workloads")
           .Token(alpha_)
           .Json({{"name", "a"}, {"command", "x"}, {"resources", {{"cpu", -2}}}}),
       400, "invalid_argument", "resources.cpu"},
      {"admin names unknown tenant",
       Req("POST", "/v1/workloads").Token(admin_).Json(SpecJson("a", "nobody")), 400,
       "invalid_argument", "tenant"},
      {"admin names no tenant", Req("POST", "/v1/workloads").Token(admin_).Json(SpecJson("a")), 400,
       "invalid_argument", "tenant"},
      {"bad state filter", Req("GET", "/v1/workloads?state=sleeping").Token(admin_), 400,
       "invalid_argument", "state"},
      {"unknown query parameter", Req("GET", "/v1/workloads?colour=red").Token(admin_), 400,
       "invalid_argument", "colour"},
      {"tenant negative gpus",
       Req("POST", "/v1/tenants").Token(admin_).Json({{"name", "g"}, {"guaranteed_gpus", -1}}), 400,
       "invalid_argument", "guaranteed_gpus"},
      {"tenant bad name", Req("POST", "/v1/tenants").Token(admin_).Json({{"name", "Bad_Name"}}),
       400, "invalid_argument", "name"},
      {"tenant unknown field",
       Req("POST", "/v1/tenants").Token(admin_).Json({{"name", "g"}, {"quota", 1}}), 400,
       "invalid_argument", "quota"},
      {"deeply nested JSON",
       Req("POST", "/v1/workloads").Token(alpha_).Body(std::string(100000, '[')), 400,
       "invalid_argument", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const HttpResponse r = Call(c.req);
    EXPECT_EQ(r.status, c.status) << r.body;
    const json body = Body(r);
    if (std::string(c.code).empty()) continue;
    EXPECT_EQ(body["error"]["code"], c.code) << r.body;
    EXPECT_FALSE(body["error"]["message"].get<std::string>().empty());
    if (std::string(c.field).empty()) {
      EXPECT_FALSE(body["error"].contains("field")) << r.body;
    } else {
      EXPECT_EQ(body["error"].value("field", ""), c.field) << r.body;
    }
  }
}

TEST_F(ApiTest, MalformedJsonGivesTheBytePosition) {
  auto r = Call(Req("POST", "/v1/workloads").Token(alpha_).Body("{\"name\": \"a\",, }"));
  ASSERT_EQ(r.status, 400);
  const std::string message = Body(r)["error"]["message"];
  EXPECT_NE(message.find("malformed JSON at byte 14"), std::string::npos) << message;
}

TEST_F(ApiTest, YamlBodiesAreAcceptedAndTheirErrorsNameTheField) {
  auto ok = Call(Req("POST", "/v1/workloads")
                     .Token(alpha_)
                     .Header("content-type", "application/yaml")
                     .Body("name: y1\ncommand: echo hi\nresources:\n  gpus: 2\n"));
  ASSERT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(Body(ok)["spec"]["tenant"], "alpha");

  auto bad = Call(Req("POST", "/v1/workloads")
                      .Token(alpha_)
                      .Header("content-type", "application/yaml; charset=utf-8")
                      .Body("name: y2\ncommand: echo hi\nresources:\n  memory: -5Gi\n"));
  ASSERT_EQ(bad.status, 400) << bad.body;
  EXPECT_EQ(Body(bad)["error"]["field"], "resources.memory") << bad.body;

  auto syntax = Call(Req("POST", "/v1/workloads")
                         .Token(alpha_)
                         .Header("content-type", "application/yaml")
                         .Body("name: [unclosed\n"));
  ASSERT_EQ(syntax.status, 400) << syntax.body;
  EXPECT_NE(Body(syntax)["error"]["message"].get<std::string>().find("body:"), std::string::npos);
}

TEST_F(ApiTest, TenantsAreCreatedOnceAndListedByRole) {
  auto created = Call(
      Req("POST", "/v1/tenants").Token(admin_).Json({{"name", "gamma"}, {"guaranteed_gpus", 8}}));
  ASSERT_EQ(created.status, 201) << created.body;
  const json body = Body(created);
  EXPECT_EQ(body["tenant"]["name"], "gamma");
  EXPECT_EQ(body["tenant"]["guaranteed_gpus"], 8);
  EXPECT_EQ(body["tenant"]["borrow_gpus"], 0);
  EXPECT_FALSE(body["tenant"].contains("token_sha256"));
  const std::string token = body["token"];
  EXPECT_TRUE(LooksLikeToken(token));

  // In the store: the tenant with the token's hash, never the token.
  auto stored = store_->Get("/gpool/tenants/gamma");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(json::parse(stored->value)["token_sha256"], Sha256Hex(token));
  EXPECT_EQ(stored->value.find(token), std::string::npos);

  auto all = Call(Req("GET", "/v1/tenants").Token(admin_));
  ASSERT_EQ(all.status, 200);
  std::vector<std::string> names;
  const json all_body = Body(all);
  for (const auto& t : all_body["tenants"]) names.push_back(t["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"alpha", "beta", "gamma"}));

  auto own = Call(Req("GET", "/v1/tenants").Token(token));
  ASSERT_EQ(own.status, 200);
  ASSERT_EQ(Body(own)["tenants"].size(), 1u);
  EXPECT_EQ(Body(own)["tenants"][0]["name"], "gamma");

  // The new token works for submissions.
  Submit(token, SpecJson("g1"));
}

TEST_F(ApiTest, SubmittedWorkloadsAreCommittedInTheStore) {
  clock_.Set(1000.5);
  auto r = Call(Req("POST", "/v1/workloads").Token(alpha_).Json(SpecJson("train")));
  ASSERT_EQ(r.status, 201) << r.body;
  const json body = Body(r);
  EXPECT_EQ(body["id"], 1);
  EXPECT_EQ(body["state"], "pending");
  EXPECT_EQ(body["tenant"], "alpha");
  EXPECT_DOUBLE_EQ(body["submitted_at"].get<double>(), 1000.5);

  auto kv = store_->Get("/gpool/workloads/00000000000000000001");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->mod_revision, body["revision"].get<store::Revision>());
  const json stored = json::parse(kv->value);
  EXPECT_EQ(stored["state"], "pending");
  EXPECT_EQ(stored["spec"]["name"], "train");
  EXPECT_EQ(stored["spec"]["tenant"], "alpha");
  auto spec = ParseJobSpec(stored["spec"]);
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->gpu.count, 1);
  auto counter = store_->Get("/gpool/meta/next_workload_id");
  ASSERT_TRUE(counter.ok());
  EXPECT_EQ(counter->value, "2");

  // Admin submits for a named tenant; ids go on.
  EXPECT_EQ(Submit(admin_, SpecJson("b", "beta")), 2);
  EXPECT_EQ(Submit(beta_, SpecJson("c", "beta")), 3);
}

TEST_F(ApiTest, GetAndListWorkloadsWithFilters) {
  const std::int64_t a1 = Submit(alpha_, SpecJson("a1"));
  const std::int64_t a2 = Submit(alpha_, SpecJson("a2"));
  const std::int64_t b1 = Submit(beta_, SpecJson("b1"));
  ASSERT_EQ(
      Call(Req("POST", "/v1/workloads/" + std::to_string(a2) + "/cancel").Token(alpha_)).status,
      200);

  auto ids = [&](const Req& req) {
    auto r = Call(req);
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<std::int64_t> out;
    const json body = Body(r);
    for (const auto& w : body["workloads"]) out.push_back(w["id"]);
    return out;
  };
  using V = std::vector<std::int64_t>;
  EXPECT_EQ(ids(Req("GET", "/v1/workloads").Token(admin_)), (V{a1, a2, b1}));
  EXPECT_EQ(ids(Req("GET", "/v1/workloads?tenant=beta").Token(admin_)), (V{b1}));
  EXPECT_EQ(ids(Req("GET", "/v1/workloads?state=pending").Token(admin_)), (V{a1, b1}));
  EXPECT_EQ(ids(Req("GET", "/v1/workloads?state=cancelled&tenant=alpha").Token(admin_)), (V{a2}));
  EXPECT_EQ(ids(Req("GET", "/v1/workloads").Token(alpha_)), (V{a1, a2}));
  EXPECT_EQ(ids(Req("GET", "/v1/workloads?tenant=alpha").Token(alpha_)), (V{a1, a2}));
  EXPECT_EQ(ids(Req("GET", "/v1/workloads").Token(beta_)), (V{b1}));

  auto one = Call(Req("GET", "/v1/workloads/" + std::to_string(a1)).Token(alpha_));
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(Body(one)["spec"]["name"], "a1");
  auto admin_reads = Call(Req("GET", "/v1/workloads/" + std::to_string(b1)).Token(admin_));
  EXPECT_EQ(admin_reads.status, 200);
}

TEST_F(ApiTest, TenantIsolation) {
  const std::int64_t b1 = Submit(beta_, SpecJson("b1"));
  const std::string b1_path = "/v1/workloads/" + std::to_string(b1);
  const store::Revision before = store_->CurrentRevision();

  // Another tenant's workload looks exactly like a missing one (404), so ids do not leak.
  auto read = Call(Req("GET", b1_path).Token(alpha_));
  auto missing = Call(Req("GET", "/v1/workloads/424242").Token(alpha_));
  EXPECT_EQ(read.status, 404);
  EXPECT_EQ(Body(read)["error"]["code"], Body(missing)["error"]["code"]);
  EXPECT_EQ(Call(Req("POST", b1_path + "/cancel").Token(alpha_)).status, 404);

  auto list = Call(Req("GET", "/v1/workloads").Token(alpha_));
  ASSERT_EQ(list.status, 200);
  EXPECT_TRUE(Body(list)["workloads"].empty());
  EXPECT_EQ(Call(Req("GET", "/v1/workloads?tenant=beta").Token(alpha_)).status, 403);
  EXPECT_EQ(Call(Req("GET", "/v1/nodes").Token(alpha_)).status, 403);
  EXPECT_EQ(Call(Req("POST", "/v1/tenants").Token(alpha_).Json({{"name", "evil"}})).status, 403);
  EXPECT_EQ(Call(Req("POST", "/v1/workloads").Token(alpha_).Json(SpecJson("x", "beta"))).status,
            403);

  // Nothing was written by any of it; beta's workload is still pending.
  EXPECT_EQ(store_->CurrentRevision(), before);
  auto b = Call(Req("GET", b1_path).Token(beta_));
  EXPECT_EQ(Body(b)["state"], "pending");
}

TEST_F(ApiTest, CancelMovesPendingAndRunningAndRefusesFinished) {
  const std::int64_t id = Submit(alpha_, SpecJson("c1"));
  const std::string path = "/v1/workloads/" + std::to_string(id) + "/cancel";
  clock_.Advance(30);
  auto r = Call(Req("POST", path).Token(alpha_));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["state"], "cancelled");
  EXPECT_GT(Body(r)["updated_at"].get<double>(), Body(r)["submitted_at"].get<double>());
  auto stored = store_->Get("/gpool/workloads/00000000000000000001");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(json::parse(stored->value)["state"], "cancelled");

  auto again = Call(Req("POST", path).Token(alpha_));
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(Body(again)["error"]["code"], "conflict");

  // A running workload (as the reconcile loop will write it) can be cancelled by the admin; a
  // succeeded one cannot.
  for (const auto& [state, want] : std::vector<std::pair<std::string, int>>{
           {"running", 200}, {"succeeded", 409}, {"failed", 409}}) {
    SCOPED_TRACE(state);
    const std::int64_t w = Submit(alpha_, SpecJson("s"));
    char key[64];
    std::snprintf(key, sizeof(key), "/gpool/workloads/%020lld", static_cast<long long>(w));
    json record = json::parse(store_->Get(key)->value);
    record["state"] = state;
    ASSERT_TRUE(store_->Put(key, record.dump()).ok());
    EXPECT_EQ(
        Call(Req("POST", "/v1/workloads/" + std::to_string(w) + "/cancel").Token(admin_)).status,
        want);
  }
}

TEST_F(ApiTest, NodesAreListedForTheAdmin) {
  auto empty = Call(Req("GET", "/v1/nodes").Token(admin_));
  ASSERT_EQ(empty.status, 200);
  EXPECT_TRUE(Body(empty)["nodes"].empty());
  ASSERT_TRUE(store_->Put("/gpool/nodes/n1", R"({"name":"n1","gpus":8})").ok());
  auto one = Call(Req("GET", "/v1/nodes").Token(admin_));
  ASSERT_EQ(one.status, 200);
  ASSERT_EQ(Body(one)["nodes"].size(), 1u);
  EXPECT_EQ(Body(one)["nodes"][0]["name"], "n1");
}

TEST_F(ApiTest, IdsAreUniqueUnderConcurrentSubmissions) {
  // 4 threads x 25 submissions: ids 1..100, each once, every one in the store.
  constexpr int kThreads = 4;
  constexpr int kEach = 25;
  std::vector<std::vector<std::int64_t>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string& token = t % 2 == 0 ? alpha_ : beta_;
      for (int i = 0; i < kEach; ++i) {
        HttpRequest req;
        req.method = "POST";
        req.path = "/v1/workloads";
        req.headers["authorization"] = "Bearer " + token;
        req.body = SpecJson("job-" + std::to_string(t) + "-" + std::to_string(i)).dump();
        const HttpResponse r = api_->Handle(req);
        if (r.status == 201) ids[t].push_back(json::parse(r.body)["id"].get<std::int64_t>());
      }
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::int64_t> all;
  std::size_t total = 0;
  for (const auto& v : ids) {
    total += v.size();
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(total, std::size_t{kThreads * kEach});
  EXPECT_EQ(all.size(), total);
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), kThreads * kEach);
  store::RangeRequest range{"/gpool/workloads/", store::PrefixEnd("/gpool/workloads/")};
  range.count_only = true;
  auto rr = store_->Range(range);
  ASSERT_TRUE(rr.ok());
  EXPECT_EQ(rr->count, kThreads * kEach);
}

TEST_F(ApiTest, HandleNeverThrowsOnOddInput) {
  const std::vector<HttpRequest> odd = {
      {"", "", {}, ""},
      {"POST",
       "/v1/workloads",
       {{"authorization", "Bearer " + alpha_}},
       std::string("\xff\xfe", 2)},
      {"POST", "/v1/workloads", {{"authorization", "Bearer " + alpha_}}, "\"\\ud800\""},
      {"POST", "/v1/workloads", {{"authorization", "Bearer " + alpha_}}, "null"},
      {"POST",
       "/v1/workloads",
       {{"authorization", "Bearer " + alpha_}, {"content-type", "application/yaml"}},
       "name: \xff\ncommand: x\n"},
      {"GET", "/v1/workloads/99999999999999999999999", {{"authorization", "Bearer " + admin_}}, ""},
      {"GET", "/v1/workloads?&&=x", {{"authorization", "Bearer " + admin_}}, ""},
      {"GET", "/v1/workloads/1/cancel/x", {{"authorization", "Bearer " + admin_}}, ""},
  };
  for (const HttpRequest& req : odd) {
    SCOPED_TRACE(req.method + " " + req.path + " " + req.body);
    const HttpResponse r = api_->Handle(req);
    EXPECT_GE(r.status, 400);
    EXPECT_LT(r.status, 500) << r.body;
    EXPECT_FALSE(json::parse(r.body, nullptr, false).is_discarded());
  }
}

}  // namespace
}  // namespace gpool::controller
