// LogStore on a temporary folder, and the logs endpoints of the API over it.
#include "controller/log_store.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "controller/api.h"
#include "controller/reconciler.h"
#include "../temp_dir.h"

namespace gpool::controller {
namespace {

using nlohmann::json;

TEST(LogStore, AppendsOnlyAtTheEndAndKeepsEpochsAndStreamsApart) {
  test::TempDir dir("logstore");
  LogStore logs(dir.path().string());
  EXPECT_EQ(logs.Append(1, 1, LogStream::kStdout, 0, "hello ")->size, 6);
  EXPECT_EQ(logs.Append(1, 1, LogStream::kStdout, 6, "world\n")->size, 12);
  // A retried chunk (offset already passed) and a gap (offset beyond) change nothing.
  EXPECT_EQ(logs.Append(1, 1, LogStream::kStdout, 6, "world\n")->size, 12);
  EXPECT_FALSE(logs.Append(1, 1, LogStream::kStdout, 6, "world\n")->written);
  EXPECT_EQ(logs.Append(1, 1, LogStream::kStdout, 20, "x")->size, 12);
  EXPECT_EQ(logs.Append(1, 1, LogStream::kStderr, 0, "oops\n")->size, 5);
  EXPECT_EQ(logs.Append(1, 2, LogStream::kStdout, 0, "again\n")->size, 6);
  auto all = logs.Read(1, 1, LogStream::kStdout, 0, 1 << 20);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->data, "hello world\n");
  EXPECT_EQ(all->size, 12);
  auto tail = logs.Read(1, 1, LogStream::kStdout, 6, 3);
  EXPECT_EQ(tail->data, "wor");
  EXPECT_EQ(tail->offset, 6);
  EXPECT_EQ(logs.Read(1, 1, LogStream::kStderr, 0, 100)->data, "oops\n");
  EXPECT_EQ(logs.Read(1, 2, LogStream::kStdout, 0, 100)->data, "again\n");
  EXPECT_EQ(logs.Read(1, 1, LogStream::kStdout, 99, 100)->data, "");  // past the end
  auto never = logs.Read(5, 1, LogStream::kStdout, 0, 100);  // never written: empty
  ASSERT_TRUE(never.ok());
  EXPECT_EQ(never->size, 0);
  EXPECT_FALSE(ParseLogStream("stdin").ok());
}

class LogsApi : public ::testing::Test {
 protected:
  void SetUp() override {
    admin_ = handler_.Bootstrap().value().value();
    for (const char* t : {"a", "b"}) {
      auto r = Call("POST", "/v1/tenants", admin_, json{{"name", t}}.dump());
      ASSERT_EQ(r.status, 201);
      tokens_[t] = json::parse(r.body)["token"];
    }
    auto r = Call("POST", "/v1/workloads", tokens_["a"],
                  json{{"name", "j"}, {"command", "true"}}.dump());
    ASSERT_EQ(r.status, 201) << r.body;
  }
  HttpResponse Call(const std::string& method, const std::string& path, const std::string& token,
                    const std::string& body = "") {
    HttpRequest q;
    q.method = method;
    q.path = path;
    q.headers["authorization"] = "Bearer " + token;
    q.body = body;
    return handler_.Handle(q);
  }

  test::TempDir dir_{"logsapi"};
  LogStore logs_{dir_.path().string()};
  std::unique_ptr<store::KvStore> store_ = store::NewMemoryStore();
  FakeClock clock_;
  FakeTokenSource tokens_source_{11};
  ApiHandler handler_{*store_, clock_, tokens_source_, &logs_};
  std::string admin_;
  std::map<std::string, std::string> tokens_;
};

TEST_F(LogsApi, TheAgentAppendsTheOwnerReadsNobodyElse) {
  // Workload 1 (tenant a) is assigned: epoch 1.
  ASSERT_EQ(Call("POST", "/v1/nodes", admin_,
                 json{{"name", "n1"}, {"cpu_milli", 8000}, {"memory_mib", 8192}, {"gpus", 0}}
                     .dump())
                .status,
            200);
  ASSERT_TRUE(ReconcileOnce(*store_, clock_.NowSeconds(), {}).ok());
  const std::string path = "/v1/workloads/1/logs";
  EXPECT_EQ(Call("POST", path + "?epoch=1&offset=0", admin_, "line 1\n").status, 200);
  // A chunk at a wrong offset: 409 with the size to resume from.
  auto conflict = Call("POST", path + "?epoch=1&offset=0", admin_, "line 1\n");
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(json::parse(conflict.body)["size"], 7);
  EXPECT_EQ(Call("POST", path + "?stream=stderr&epoch=1&offset=0", admin_, "warn\n").status, 200);
  // The owner reads (the latest epoch by default), in pieces.
  auto r = Call("GET", path, tokens_["a"]);
  ASSERT_EQ(r.status, 200) << r.body;
  json chunk = json::parse(r.body);
  EXPECT_EQ(chunk["data"], "line 1\n");
  EXPECT_EQ(chunk["epoch"], 1);
  EXPECT_EQ(chunk["finished"], false);  // assigned: more may come
  chunk = json::parse(Call("GET", path + "?offset=5&limit=1", tokens_["a"]).body);
  EXPECT_EQ(chunk["data"], "1");
  EXPECT_EQ(chunk["size"], 7);
  EXPECT_EQ(json::parse(Call("GET", path + "?stream=stderr", tokens_["a"]).body)["data"],
            "warn\n");
  // Tenant b sees no such workload; a tenant may not write; bad parameters are named.
  EXPECT_EQ(Call("GET", path, tokens_["b"]).status, 404);
  EXPECT_EQ(Call("POST", path + "?epoch=1&offset=7", tokens_["a"], "x").status, 403);
  EXPECT_EQ(Call("GET", path, "f00d").status, 401);
  auto bad = Call("GET", path + "?stream=stdin", tokens_["a"]);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(json::parse(bad.body)["error"]["field"], "stream");
  bad = Call("GET", path + "?offset=-1", tokens_["a"]);
  EXPECT_EQ(json::parse(bad.body)["error"]["field"], "offset");
  bad = Call("GET", path + "?colour=red", tokens_["a"]);
  EXPECT_EQ(json::parse(bad.body)["error"]["field"], "colour");
  EXPECT_EQ(Call("GET", path + "?epoch=5", tokens_["a"]).status, 404);
  // Once the run has finished, its log says so.
  ASSERT_EQ(Call("POST", "/v1/workloads/1/status", admin_,
                 json{{"state", "succeeded"}, {"epoch", 1}, {"exit_code", 0}}.dump())
                .status,
            200);
  EXPECT_EQ(json::parse(Call("GET", path, tokens_["a"]).body)["finished"], true);
}

TEST_F(LogsApi, AServerWithoutALogStoreSaysSo) {
  ApiHandler bare(*store_, clock_, tokens_source_);
  HttpRequest q;
  q.method = "GET";
  q.path = "/v1/workloads/1/logs";
  q.headers["authorization"] = "Bearer " + admin_;
  EXPECT_EQ(bare.Handle(q).status, 503);
}

}  // namespace
}  // namespace gpool::controller
