// TestPool: a real pool for the integration tests — the `gpool server` binary in its own network
// namespace and `gpool agent` processes each in theirs, joined by a NetnsHub (netns.h).
//
// The controller listens on <controller address>:8470 in namespace "c"; agent i (1-based) runs in
// namespace "a<i>" with node name "a<i>", simulated devices from a YAML file, its workload logs in
// <dir>/a<i>/logs and its journal in <dir>/a<i>/journal.jsonl. Process output goes to
// <dir>/server.log and <dir>/a<i>.log; DumpLogs() prints their tails (for failing tests).
//
// `ip netns exec` mounts a fresh /sys for the namespace, so the agents see no cgroup hierarchy and
// run workloads without CPU/memory limits (they say so in their log); the tests do not need them.
//
// The test process stays in the root namespace; Call() and InController() run on a thread that has
// joined the controller's namespace. Every wait here is bounded. Everything is torn down by the
// destructor: agents get SIGTERM (they stop their workloads), then every process left in the
// namespaces is SIGKILLed and the namespaces are deleted.
#pragma once

#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../temp_dir.h"
#include "netns.h"

namespace gpool::test {

struct PoolOptions {
  int subnet = 1;  // 10.213.<subnet>.0/24; a different one per test
  int agents = 3;
  double node_timeout_s = 30;  // gpool server --node-timeout
  double lease_s = 30;         // gpool agent --lease
  double interval_s = 0.2;     // gpool agent --interval
  std::string devices_yaml = "gpus: 8\nmodel: H100-80GB\ncpu: 64\nmemory: 256Gi\n";
};

struct HttpReply {
  int status = 0;  // 0: no answer (error says why)
  nlohmann::json body;
  std::string error;
};

// Polls `done` every `poll` until it is true or `timeout` has passed; returns its last value.
inline bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                      std::chrono::milliseconds poll = std::chrono::milliseconds(100)) {
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (SteadyClock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
}

inline double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The nodes a workload record is bound to (its gang members' bindings).
inline std::set<std::string> BoundNodes(const nlohmann::json& workload) {
  std::set<std::string> out;
  for (const nlohmann::json& b : workload.value("bindings", nlohmann::json::array())) {
    out.insert(b.value("node", ""));
  }
  return out;
}

// An HTTP client of the controller. Use it only on a thread inside the controller's namespace
// (InController), where its sockets are made.
class PoolClient {
 public:
  PoolClient(const std::string& url, const std::string& token, double timeout_s = 10)
      : client_(url), headers_{{"Authorization", "Bearer " + token}} {
    const auto usec = static_cast<time_t>(timeout_s * 1e6);
    client_.set_connection_timeout(usec / 1000000, usec % 1000000);
    client_.set_read_timeout(usec / 1000000, usec % 1000000);
    client_.set_write_timeout(usec / 1000000, usec % 1000000);
  }
  HttpReply Get(const std::string& path) { return Reply(client_.Get(path, headers_)); }
  HttpReply Post(const std::string& path, const nlohmann::json& body) {
    return Reply(client_.Post(path, headers_, body.dump(), "application/json"));
  }

 private:
  static HttpReply Reply(const httplib::Result& r) {
    HttpReply out;
    if (!r) {
      out.error = httplib::to_string(r.error());
      return out;
    }
    out.status = r->status;
    out.body = nlohmann::json::parse(r->body, nullptr, false);
    return out;
  }
  httplib::Client client_;
  httplib::Headers headers_;
};

class TestPool {
 public:
  static constexpr int kPort = 8470;

  // Builds the namespaces (controller "c", agents "a1".."aN") and writes the devices file.
  // nullptr with *why set when the machine does not allow network namespaces.
  static std::unique_ptr<TestPool> Create(const PoolOptions& options, std::string* why) {
    std::vector<std::pair<std::string, int>> roles = {{"c", 1}};
    for (int i = 1; i <= options.agents; ++i) roles.emplace_back("a" + std::to_string(i), 10 + i);
    std::unique_ptr<NetnsHub> hub = NetnsHub::Create(options.subnet, roles, why);
    if (hub == nullptr) return nullptr;
    std::unique_ptr<TestPool> pool(new TestPool(options, std::move(hub)));
    std::ofstream(pool->dir_.File("devices.yaml")) << options.devices_yaml;
    pool->agents_.resize(static_cast<std::size_t>(options.agents));
    return pool;
  }

  TestPool(const TestPool&) = delete;
  TestPool& operator=(const TestPool&) = delete;
  ~TestPool() {
    for (ChildProcess& a : agents_) a.Stop(std::chrono::seconds(3));
    server_.Kill();
    hub_.reset();  // SIGKILLs what is left in the namespaces and deletes them
  }

  const NetnsHub& hub() const { return *hub_; }
  std::string url() const { return "http://" + hub_->member("c").address + ":" + Port(); }
  const std::string& admin_token() const { return admin_token_; }
  std::string dir() const { return dir_.path().string(); }
  std::string data_dir() const { return dir_.File("data"); }
  std::string journal(int agent) const {
    return dir_.File("a" + std::to_string(agent) + "/journal.jsonl");
  }
  std::string log_dir(int agent) const { return dir_.File("a" + std::to_string(agent) + "/logs"); }
  std::string agent_netns(int agent) const {
    return hub_->member("a" + std::to_string(agent)).netns;
  }
  std::string controller_netns() const { return hub_->member("c").netns; }

  // Starts `gpool server` and waits (bounded) until /healthz answers; reads the admin token.
  // False with *error set when it did not come up.
  bool StartServer(std::string* error,
                   std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
    server_.Kill();
    server_ =
        ChildProcess::Start(hub_->Exec("c", {GPOOL_BINARY, "server", "--data-dir", data_dir(),
                                             "--listen", hub_->member("c").address + ":" + Port(),
                                             "--node-timeout", Number(options_.node_timeout_s)}),
                            dir_.File("server.log"));
    if (!server_.started()) {
      *error = "fork failed";
      return false;
    }
    const bool up = WaitUntil(
        [&] {
          if (!server_.Running()) return true;  // exited: reported below
          return InController<bool>([&] {
            httplib::Client c(url());
            c.set_connection_timeout(0, 200000);
            c.set_read_timeout(1, 0);
            auto r = c.Get("/healthz");
            return r && r->status == 200;
          });
        },
        timeout, std::chrono::milliseconds(20));
    if (!up || !server_.Running()) {
      *error = std::string(up ? "the server exited" : "the server did not answer /healthz") +
               "; its log:\n" + Tail(dir_.File("server.log"));
      return false;
    }
    std::ifstream in(data_dir() + "/admin.token");
    in >> admin_token_;
    if (admin_token_.empty()) {
      *error = "no admin token in " + data_dir();
      return false;
    }
    return true;
  }
  ChildProcess& server() { return server_; }

  // Starts agent i (1-based) with the pool's options.
  void StartAgent(int i) {
    const std::string name = "a" + std::to_string(i);
    std::filesystem::create_directories(log_dir(i));
    agents_[static_cast<std::size_t>(i - 1)] = ChildProcess::Start(
        hub_->Exec(name, {GPOOL_BINARY, "agent", "--server", url(), "--token", admin_token_,
                          "--name", name, "--devices", dir_.File("devices.yaml"), "--log-dir",
                          log_dir(i), "--journal", journal(i), "--interval",
                          Number(options_.interval_s), "--lease", Number(options_.lease_s)}),
        dir_.File(name + ".log"));
  }
  // SIGTERM (the agent stops its workloads and journals their ends), SIGKILL after `grace`.
  void StopAgent(int i, std::chrono::milliseconds grace = std::chrono::seconds(5)) {
    agents_[static_cast<std::size_t>(i - 1)].Stop(grace);
  }

  // Runs f on a thread inside the controller's namespace.
  template <typename T>
  T InController(const std::function<T()>& f) const {
    return InNetns<T>(controller_netns(), f, T{});
  }

  // One request as `token` (default: the admin), from inside the controller's namespace.
  HttpReply Get(const std::string& path, const std::string& token = "") const {
    return InNetns<HttpReply>(
        controller_netns(),
        [&] { return PoolClient(url(), token.empty() ? admin_token_ : token).Get(path); },
        HttpReply{0, nullptr, "cannot join the controller's namespace"});
  }
  HttpReply Post(const std::string& path, const nlohmann::json& body,
                 const std::string& token = "") const {
    return InNetns<HttpReply>(
        controller_netns(),
        [&] { return PoolClient(url(), token.empty() ? admin_token_ : token).Post(path, body); },
        HttpReply{0, nullptr, "cannot join the controller's namespace"});
  }

  // Creates a tenant; returns its token ("" on failure, with *error set).
  std::string CreateTenant(const std::string& name, int guaranteed, int borrow,
                           std::string* error) const {
    const HttpReply r = Post(
        "/v1/tenants", {{"name", name}, {"guaranteed_gpus", guaranteed}, {"borrow_gpus", borrow}});
    if (r.status != 201 || !r.body.is_object() || !r.body.contains("token")) {
      *error = "POST /v1/tenants " + name + ": " + std::to_string(r.status) + " " + r.error + " " +
               r.body.dump();
      return "";
    }
    return r.body["token"].get<std::string>();
  }

  // Every workload (admin view) by id; empty map if the server did not answer.
  std::map<std::int64_t, nlohmann::json> Workloads() const {
    std::map<std::int64_t, nlohmann::json> out;
    const HttpReply r = Get("/v1/workloads");
    if (r.status != 200 || !r.body.is_object()) return out;
    for (const nlohmann::json& w : r.body.value("workloads", nlohmann::json::array())) {
      out[w.value("id", std::int64_t{0})] = w;
    }
    return out;
  }
  // Node name -> record; empty if the server did not answer.
  std::map<std::string, nlohmann::json> Nodes() const {
    std::map<std::string, nlohmann::json> out;
    const HttpReply r = Get("/v1/nodes");
    if (r.status != 200 || !r.body.is_object()) return out;
    for (const nlohmann::json& n : r.body.value("nodes", nlohmann::json::array())) {
      out[n.value("name", std::string())] = n;
    }
    return out;
  }
  // True once every agent's node is registered and ready.
  bool WaitForNodesReady(int count, std::chrono::milliseconds timeout) const {
    return WaitUntil(
        [&] {
          int ready = 0;
          for (const auto& [name, n] : Nodes()) ready += n.value("state", "") == "ready" ? 1 : 0;
          return ready >= count;
        },
        timeout, std::chrono::milliseconds(100));
  }

  // The last lines of the server's and agents' output, for a failing test.
  std::string DumpLogs(std::size_t lines = 25) const {
    std::string out = "--- server.log\n" + Tail(dir_.File("server.log"), lines);
    for (std::size_t i = 1; i <= agents_.size(); ++i) {
      const std::string name = "a" + std::to_string(i);
      out += "--- " + name + ".log\n" + Tail(dir_.File(name + ".log"), lines);
    }
    return out;
  }

  static std::string Tail(const std::string& path, std::size_t lines = 25) {
    std::ifstream in(path);
    std::vector<std::string> all;
    for (std::string l; std::getline(in, l);) all.push_back(l);
    std::string out;
    for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
      out += all[i] + "\n";
    }
    return out;
  }

 private:
  TestPool(const PoolOptions& options, std::unique_ptr<NetnsHub> hub)
      : options_(options), hub_(std::move(hub)), dir_("gpool-it") {}

  static std::string Port() { return std::to_string(kPort); }
  static std::string Number(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
  }

  PoolOptions options_;
  std::unique_ptr<NetnsHub> hub_;
  TempDir dir_;
  ChildProcess server_;
  std::vector<ChildProcess> agents_;
  std::string admin_token_;
};

}  // namespace gpool::test
