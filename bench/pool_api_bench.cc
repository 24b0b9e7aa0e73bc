// pool_api_bench: the control plane under load — submissions through the REST API, submit-to-
// running latency with 1,000 simulated agents, and the reconciler's pass at 10,000 pending
// workloads (docs/benchmarks.md §5).
//
// Everything runs in this process, against the product's code: a SQLite store in a temporary
// directory (store::OpenSqliteStore, WAL + synchronous=FULL: every acknowledged transaction is on
// disk), controller::ApiHandler with the system clock and /dev/urandom tokens, the
// controller::HttpServer on 127.0.0.1 (port 0), and a reconcile thread that loops as `gpool
// server` does (ReconcileOnce, then WaitForChange(seen, 1 s)). Clients are httplib::Client objects
// (keep-alive unless said otherwise). Phases (--only picks some):
//
//  peer    The storage bound, on a store file of its own: commits/s of a Txn of one put (about
//          the size of a workload record) from 1 thread and from --threads threads, and
//          submissions/s through ApiHandler::Handle called directly (no HTTP).
//  submit  A fresh pool: --tenants tenants, --nodes nodes registered through POST /v1/nodes (8
//          simulated H100-80GB each, 128 cores, 1 TiB), no reconciler, no heartbeats. Bursts of
//          --submissions job specs (JSON; 40 % 1 GPU, 20 % 2 GPUs, 25 % a 0.25 share, 15 % CPU
//          only) from --threads clients, each with a tenant token; a burst stops early after
//          --burst-seconds. Rate = answered / wall time; latency of each request. Four setups,
//          --runs runs each (medians): HttpServer as it is with plain keep-alive httplib clients;
//          the same with a connection per request (as `gpool submit` and the agent connect);
//          keep-alive clients with TCP_NODELAY (one run: a diagnostic); and TCP_NODELAY on both
//          ends (TunedServer below: HttpServer's forwarding with TCP_NODELAY and a listen backlog
//          of 1024; for these keep-alive clients only TCP_NODELAY matters), which sizes that
//          change.
//  live    A fresh pool with the reconcile loop running and --agent-threads threads playing the
//          --nodes agents: each node heartbeats (POST /v1/nodes/{name}/heartbeat) at most once
//          per --heartbeat-interval seconds (the agent's tick); an assignment it has not started
//          is reported running (POST /v1/workloads/{id}/status, its epoch), and succeeded
//          --run-seconds later. --threads clients submit at --rate per second in total for
//          --latency-seconds, a connection per request as `gpool submit` does: submit-to-running
//          latency = from the 201 of the submission to the 200 of the agent's "running" report.
//          Then one burst of --submissions with everything running (a connection per request;
//          keep-alive with --nodelay). Agents open a connection per request as the product's
//          agent does (--agent-keep-alive: one keep-alive connection per agent thread).
//          Node registration goes through TunedServer (setup, not measured). --tuned-server:
//          every client of this phase and the submit headline use TCP_NODELAY and TunedServer
//          (for agents that connect per request, its listen backlog is what matters). The
//          kernel's listen-queue overflows (TcpExt ListenOverflows, system-wide) during the
//          phase are reported: each one is a dropped SYN that its client retries after 1 s.
//  pass    ReconcileOnce at --pending pending workloads on --nodes ready nodes. The states are
//          built in an in-memory store with ReconcileOnce itself (so the records are exactly the
//          product's), then copied into a fresh SQLite store (one txn) for each measured pass:
//            full      every GPU bound (mixed shapes, topped up with 1-GPU jobs and 0.25 shares
//                      until a pass binds nothing); --pending GPU workloads pending: nothing fits,
//                      so the pass changes nothing and is repeated (--passes, median);
//            full+fin  the same with --finished succeeded records in the store;
//            batch     the full state with --batch bound workloads finished: the pass binds what
//                      fits in the freed capacity (a steady-state pass; --runs fresh copies);
//            half      half the GPUs bound; --pending mixed workloads: the pass binds until the
//                      pool is full (thousands of commits: one run).
//          Each pass is timed warm (the server's WorkloadIndex synced before it: the steady
//          state of `gpool server`) and, for the passes that bind nothing, cold (no index handed
//          in: the pass loads one, as after a restart); the warm pass on an in-memory copy is the
//          pass without its commits. Each state is also split, without writing, into reading the
//          records, loading a fresh index (read + parse), building the cluster state and queue (a
//          mirror of reconciler.cc steps 1-3), and sched::Scheduler::Decide.
//
// usage: pool_api_bench [--quick] [--json] [--only peer,submit,live,pass] [--nodes 1000]
//          [--submissions 5000] [--threads 4] [--pending 10000] [--runs 3] [--passes 5]
//          [--finished 20000] [--batch 100] [--agent-threads 8] [--rate 100]
//          [--latency-seconds 20] [--run-seconds 2] [--burst-seconds 8] [--nodelay]
//          [--tuned-server] ...   (main() lists every flag)
// Output: a markdown table per phase on stdout (with --json, one JSON object instead); progress and
// a RESULT line on stderr.
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <queue>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "controller/api.h"
#include "controller/clock.h"
#include "controller/http_server.h"
#include "controller/job_spec.h"
#include "controller/reconciler.h"
#include "controller/record_codec.h"
#include "controller/state_keys.h"
#include "controller/token_source.h"
#include "core/cluster.h"
#include "core/gpu_model.h"
#include "core/random.h"
#include "core/status.h"
#include "core/workload.h"
#include "sched/scheduler.h"
#include "store/kv_store.h"
#include "timing.h"

namespace gpool {
namespace {

using bench::Median;
using bench::Seconds;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr int kGpusPerNode = 8;
constexpr std::int64_t kNodeCpuMilli = 128'000;
constexpr std::int64_t kNodeMemoryMib = 1024 * 1024;  // 1 TiB
constexpr const char* kNodeModel = "H100-80GB";

struct Options {
  int nodes = 1000;
  int submissions = 5000;  // per burst
  int threads = 4;         // submitting clients
  int tenants = 4;
  int runs = 3;
  int pending = 10'000;
  int finished = 20'000;  // succeeded records for the full+fin pass
  int batch = 100;        // bound workloads finished for the batch pass
  int passes = 5;
  int cold_passes = -1;  // -1: as many as --passes
  int peer_commits = 1000;
  int agent_threads = 8;
  double heartbeat_interval_s = 1.0;
  double rate = 100;  // submissions/s in the latency measurement
  double latency_seconds = 20;
  double run_seconds = 2;
  double drain_seconds = 60;      // how long to wait for the last submissions to run
  double burst_seconds = 8;       // a burst stops early after this long (rate = done / time)
  bool nodelay = false;           // TCP_NODELAY on the bench's clients (the product's are without)
  bool tuned_server = false;      // submit headline and live against TunedServer
  bool agent_keep_alive = false;  // the product's agent opens a connection per request
  bool quick = false;
  bool json = false;
  std::set<std::string> only;  // empty: every phase
  std::uint64_t seed = 1;

  bool Runs(const std::string& phase) const { return only.empty() || only.contains(phase); }
};

void Log(const char* format, auto... args) {
  std::fprintf(stderr, format, args...);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "pool_api_bench: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Check(Result<T> r, const char* what) {
  if (!r.ok()) Die(std::string(what) + ": " + r.status().ToString());
  return std::move(r).value();
}

void CheckOk(const Status& s, const char* what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.ToString());
}

double Ms(SteadyClock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Nearest-rank percentile (p in [0, 100]) of a sample; 0 for an empty one.
double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

struct Spread {
  double p50 = 0, p99 = 0, max = 0;
  std::size_t n = 0;
};

Spread SpreadOf(const std::vector<double>& v) {
  Spread s;
  s.n = v.size();
  if (v.empty()) return s;
  s.p50 = Percentile(v, 50);
  s.p99 = Percentile(v, 99);
  s.max = *std::max_element(v.begin(), v.end());
  return s;
}

json ToJson(const Spread& s) {
  return {{"p50", s.p50}, {"p99", s.p99}, {"max", s.max}, {"n", s.n}};
}

// A directory under $TMPDIR (or /tmp) removed with everything in it at the end.
class ScratchDir {
 public:
  ScratchDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/pool-api-bench-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) Die("mkdtemp " + pattern + " failed");
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// TcpExt ListenOverflows from /proc/net/netstat (system-wide); -1 if unreadable.
std::int64_t ListenOverflows() {
  std::FILE* f = std::fopen("/proc/net/netstat", "r");
  if (f == nullptr) return -1;
  std::vector<std::string> lines;
  char buf[8192];
  while (std::fgets(buf, sizeof buf, f) != nullptr) lines.emplace_back(buf);
  std::fclose(f);
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    if (!lines[i].starts_with("TcpExt:") || !lines[i + 1].starts_with("TcpExt:")) continue;
    std::stringstream names(lines[i]), values(lines[i + 1]);
    std::string name, value;
    while (names >> name && values >> value) {
      if (name == "ListenOverflows") return std::atoll(value.c_str());
    }
  }
  return -1;
}

// ---- Job specs and node records ------------------------------------------------------------

enum class Shape { kOneGpu, kTwoGpu, kShare, kCpu };

// 40 % 1 GPU, 20 % 2 GPUs, 25 % a quarter of a GPU, 15 % CPU only; gpu_only: the CPU share goes
// to the 1-GPU shape.
Shape DrawShape(core::DeterministicRng& rng, bool gpu_only) {
  const auto roll = rng.Uniform(100);
  if (roll < 40) return Shape::kOneGpu;
  if (roll < 60) return Shape::kTwoGpu;
  if (roll < 85) return Shape::kShare;
  return gpu_only ? Shape::kOneGpu : Shape::kCpu;
}

std::string SpecJson(Shape shape, const std::string& name) {
  std::string resources;
  switch (shape) {
    case Shape::kOneGpu:
      resources = R"({"cpu":4,"memory":"32Gi","gpus":1})";
      break;
    case Shape::kTwoGpu:
      resources = R"({"cpu":8,"memory":"64Gi","gpus":2})";
      break;
    case Shape::kShare:
      resources = R"({"cpu":2,"memory":"8Gi","gpus":{"share":{"compute":0.25,"memory":"10Gi"}}})";
      break;
    case Shape::kCpu:
      resources = R"({"cpu":2,"memory":"4Gi"})";
      break;
  }
  return R"({"name":")" + name + R"(","command":["python3","train.py","--epochs","90"],)" +
         R"("checkpointable":true,"resources":)" + resources + "}";
}

std::string NodeName(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "node-%04d", i);
  return buf;
}

std::string NodeJson(int i) {
  return json{{"name", NodeName(i)},  {"cpu_milli", kNodeCpuMilli}, {"memory_mib", kNodeMemoryMib},
              {"gpus", kGpusPerNode}, {"model", kNodeModel},        {"simulated", true}}
      .dump();
}

// The workload id in a 201 body ({"id":N,...}: nlohmann sorts keys, "id" comes first); 0 if none.
std::int64_t IdOf(const std::string& body) {
  const std::size_t at = body.find("\"id\":");
  if (at == std::string::npos) return 0;
  std::int64_t id = 0;
  const char* begin = body.data() + at + 5;
  std::from_chars(begin, body.data() + body.size(), id);
  return id;
}

// ---- HTTP clients ---------------------------------------------------------------------------

class ApiClient {
 public:
  ApiClient(int port, const std::string& token, bool nodelay, bool keep_alive = true)
      : client_("127.0.0.1", port) {
    client_.set_keep_alive(keep_alive);
    client_.set_tcp_nodelay(nodelay);
    client_.set_connection_timeout(5, 0);
    client_.set_read_timeout(300, 0);
    client_.set_write_timeout(60, 0);
    headers_.emplace("Authorization", "Bearer " + token);
  }
  // The status and body; status 0 on a transport error.
  std::pair<int, std::string> Post(const std::string& path, const std::string& body) {
    auto r = client_.Post(path, headers_, body, "application/json");
    if (!r) return {0, httplib::to_string(r.error())};
    return {r->status, std::move(r->body)};
  }

 private:
  httplib::Client client_;
  httplib::Headers headers_;
};

// The forwarding of src/controller/http_server.cc on a server with two settings changed, to size
// those changes: TCP_NODELAY on the accepted sockets (`set_tcp_nodelay(true)`; without it a
// keep-alive connection waits for a delayed ACK, about 40 ms, each time one side writes headers
// and body in two sends), and a listen backlog of 1024 instead of the 5 that Debian's
// libcpp-httplib is compiled with (a full backlog drops SYNs, and the client retries after 1 s,
// then 3 s). httplib has no setting for the backlog: the listening socket is taken in the
// socket-options hook and listen() is called again with the larger backlog, which Linux allows.
class TunedServer {
 public:
  explicit TunedServer(controller::ApiHandler& handler) {
    auto forward = [&handler](const httplib::Request& req, httplib::Response& res) {
      controller::HttpRequest r;
      r.method = req.method;
      r.path = req.target.empty() ? req.path : req.target;
      for (const auto& [name, value] : req.headers) {
        std::string lower = name;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        r.headers[lower] = value;
      }
      r.body = req.body;
      const controller::HttpResponse out = handler.Handle(r);
      res.status = out.status;
      res.set_content(out.body, out.content_type.c_str());
    };
    server_.set_tcp_nodelay(true);
    server_.set_socket_options([this](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<void*>(&yes), sizeof(yes));
      listening_ = sock;
    });
    server_.set_payload_max_length(controller::kMaxBodyBytes + 1024);
    server_.Get(".*", forward);
    server_.Post(".*", forward);
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) Die("the tuned server cannot bind");
    if (::listen(listening_, 1024) != 0) Die("the tuned server: listen(1024) failed");
    serving_ = std::thread([this] { server_.listen_after_bind(); });
    httplib::Client probe("127.0.0.1", port_);
    for (int i = 0; i < 500; ++i) {
      if (auto r = probe.Get("/healthz"); r && r->status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    Die("the tuned server did not answer /healthz");
  }
  ~TunedServer() {
    server_.stop();
    serving_.join();
  }
  TunedServer(const TunedServer&) = delete;
  TunedServer& operator=(const TunedServer&) = delete;
  int port() const { return port_; }

 private:
  httplib::Server server_;
  socket_t listening_ = -1;
  int port_ = 0;
  std::thread serving_;
};

// ---- The controller in this process ----------------------------------------------------------

struct ReconcileStats {
  int passes = 0;
  int errors = 0;
  int bound = 0;
  int conflicts = 0;
  int nodes_lost = 0;
  int requeued = 0;
  int max_pending = 0;
  std::vector<double> pass_ms;
};

class Controller {
 public:
  explicit Controller(std::unique_ptr<store::KvStore> store)
      : store_(std::move(store)), handler_(*store_, clock_, tokens_), server_(handler_) {}
  ~Controller() {
    StopReconciler();
    tuned_.reset();
    if (serving_.joinable()) {
      server_.Stop();
      serving_.join();
    }
  }
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Bootstrap, `tenants` tenants (tokens kept), and the HTTP server on 127.0.0.1:0; with
  // `tuned_server`, port() is that of a TunedServer on the same handler instead.
  void Start(int tenants, bool tuned_server) {
    auto admin = Check(handler_.Bootstrap(), "bootstrap");
    if (!admin.has_value()) Die("bootstrap: the store already had an admin token");
    admin_ = *admin;
    for (int t = 0; t < tenants; ++t) {
      controller::HttpRequest r;
      r.method = "POST";
      r.path = "/v1/tenants";
      r.headers["authorization"] = "Bearer " + admin_;
      r.body = json{{"name", "team-" + std::to_string(t)}, {"guaranteed_gpus", 2000}}.dump();
      const controller::HttpResponse out = handler_.Handle(r);
      if (out.status != 201) Die("creating a tenant: " + out.body);
      tenant_tokens_.push_back(json::parse(out.body).at("token").get<std::string>());
    }
    port_ = Check(server_.Bind("127.0.0.1", 0), "binding the HTTP server");
    serving_ = std::thread([this] { server_.Serve(); });
    httplib::Client probe("127.0.0.1", port_);
    bool up = false;
    for (int i = 0; i < 500 && !up; ++i) {
      if (auto r = probe.Get("/healthz"); r && r->status == 200) {
        up = true;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    if (!up) Die("the HTTP server did not answer /healthz");
    product_port_ = port_;
    tuned_ = std::make_unique<TunedServer>(handler_);
    if (tuned_server) port_ = tuned_->port();
  }

  // The reconcile loop of `gpool server` (src/cli/pool_commands.cc RunServer: the handler's index
  // and liveness table; its compaction every 60 s is left out), with timings.
  void StartReconciler() {
    stop_reconciler_ = false;
    reconciler_ = std::thread([this] {
      controller::ReconcileConfig config;
      store::Revision seen = -1;
      while (!stop_reconciler_.load()) {
        const auto start = SteadyClock::now();
        auto report = controller::ReconcileOnce(*store_, clock_.NowSeconds(), config,
                                                &handler_.index(), &handler_.liveness());
        const double ms = Ms(SteadyClock::now() - start);
        {
          std::lock_guard lock(mu_);
          ++stats_.passes;
          stats_.pass_ms.push_back(ms);
          if (!report.ok()) {
            ++stats_.errors;
          } else {
            stats_.bound += report->bound;
            stats_.conflicts += report->conflicts;
            stats_.nodes_lost += report->nodes_lost_now;
            stats_.requeued += report->requeued;
            stats_.max_pending = std::max(stats_.max_pending, report->pending);
          }
        }
        if (report.ok()) seen = report->revision;
        store_->WaitForChange(seen, std::chrono::milliseconds(1000));
      }
    });
  }

  ReconcileStats TakeReconcileStats() {
    std::lock_guard lock(mu_);
    return std::exchange(stats_, ReconcileStats{});
  }

  void StopReconciler() {
    if (!reconciler_.joinable()) return;
    stop_reconciler_ = true;
    // Wakes WaitForChange at once; a key outside the pool's /gpool/ layout.
    (void)store_->Put("/bench/wake", "1");
    reconciler_.join();
  }

  int port() const { return port_; }
  int product_port() const { return product_port_; }
  // The same handler behind TunedServer: for setup (node registration) that is not measured.
  int fast_port() const { return tuned_->port(); }
  const std::string& admin() const { return admin_; }
  const std::vector<std::string>& tenant_tokens() const { return tenant_tokens_; }
  controller::ApiHandler& handler() { return handler_; }

 private:
  std::unique_ptr<store::KvStore> store_;
  controller::SystemClock clock_;
  controller::UrandomTokenSource tokens_;
  controller::ApiHandler handler_;
  controller::HttpServer server_;
  std::thread serving_;
  std::unique_ptr<TunedServer> tuned_;
  int port_ = 0;
  int product_port_ = 0;
  std::string admin_;
  std::vector<std::string> tenant_tokens_;
  std::thread reconciler_;
  std::atomic<bool> stop_reconciler_{false};
  std::mutex mu_;
  ReconcileStats stats_;
};

// Registers nodes 0..count-1 through POST /v1/nodes from `threads` clients; seconds taken.
double RegisterNodes(int port, const std::string& admin, int count, int threads, bool nodelay) {
  const auto start = SteadyClock::now();
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      ApiClient client(port, admin, nodelay);
      for (int i = t; i < count; i += threads) {
        if (client.Post("/v1/nodes", NodeJson(i)).first != 200) ++failures;
      }
    });
  }
  for (std::thread& w : workers) w.join();
  if (failures > 0) Die(std::to_string(failures.load()) + " node registrations failed");
  return Seconds(start);
}

// ---- Submission bursts ----------------------------------------------------------------------

std::vector<std::string> MakeSpecs(int count, const std::string& prefix, std::uint64_t seed) {
  core::DeterministicRng rng(seed);
  std::vector<std::string> specs;
  specs.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    specs.push_back(SpecJson(DrawShape(rng, false), prefix + "-" + std::to_string(i)));
  }
  return specs;
}

struct Burst {
  double seconds = 0;
  double rate = 0;
  int done = 0;  // requests answered (a burst stops early after max_seconds)
  int failed = 0;
  std::vector<double> latency_ms;
};

// `specs` submitted by `threads` threads; `submit(thread, body)` does one request and returns
// whether it got its 201, with its id (0 if unknown).
Burst RunBurst(
    const std::vector<std::string>& specs, int threads, double max_seconds,
    const std::function<std::function<std::pair<bool, std::int64_t>(const std::string&)>(int)>&
        make_submitter,
    const std::function<void(std::int64_t, SteadyClock::time_point)>& on_created) {
  Burst b;
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(threads));
  std::atomic<int> failed{0};
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  SteadyClock::time_point deadline;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      auto submit = make_submitter(t);
      auto& mine = lat[static_cast<std::size_t>(t)];
      ++ready;
      while (!go.load()) std::this_thread::yield();
      for (std::size_t i = static_cast<std::size_t>(t);
           i < specs.size() && SteadyClock::now() < deadline;
           i += static_cast<std::size_t>(threads)) {
        const auto start = SteadyClock::now();
        const auto [ok, id] = submit(specs[i]);
        const auto end = SteadyClock::now();
        mine.push_back(Ms(end - start));
        if (!ok) {
          ++failed;
        } else if (on_created) {
          on_created(id, end);
        }
      }
    });
  }
  while (ready.load() < threads) std::this_thread::yield();
  const auto start = SteadyClock::now();
  deadline = start + std::chrono::duration_cast<SteadyClock::duration>(
                         std::chrono::duration<double>(max_seconds));
  go = true;
  for (std::thread& w : workers) w.join();
  b.seconds = Seconds(start);
  b.failed = failed.load();
  for (auto& v : lat) b.latency_ms.insert(b.latency_ms.end(), v.begin(), v.end());
  b.done = static_cast<int>(b.latency_ms.size());
  b.rate = static_cast<double>(b.done - b.failed) / b.seconds;
  return b;
}

auto HttpSubmitter(int port, const std::vector<std::string>& tokens, bool nodelay,
                   bool keep_alive = true) {
  return [port, &tokens, nodelay, keep_alive](int t) {
    auto client = std::make_shared<ApiClient>(
        port, tokens[static_cast<std::size_t>(t) % tokens.size()], nodelay, keep_alive);
    return std::function<std::pair<bool, std::int64_t>(const std::string&)>(
        [client](const std::string& body) {
          auto [status, text] = client->Post("/v1/workloads", body);
          return std::make_pair(status == 201, status == 201 ? IdOf(text) : 0);
        });
  };
}

// ---- The agents -----------------------------------------------------------------------------

// Submission and running times by workload id; either may come first.
class LatencyBook {
 public:
  void Submitted(std::int64_t id, SteadyClock::time_point t) { Record(id, t, true); }
  void Running(std::int64_t id, SteadyClock::time_point t) { Record(id, t, false); }
  void StartMeasuring() {
    std::lock_guard lock(mu_);
    measuring_ = true;
  }
  void StopMeasuring() {
    std::lock_guard lock(mu_);
    measuring_ = false;
  }
  // Measured submissions not yet running.
  std::size_t Outstanding() {
    std::lock_guard lock(mu_);
    return submitted_.size();
  }
  std::vector<double> TakeLatencies() {
    std::lock_guard lock(mu_);
    return std::exchange(latency_ms_, {});
  }

 private:
  void Record(std::int64_t id, SteadyClock::time_point t, bool submitted) {
    std::lock_guard lock(mu_);
    auto& mine = submitted ? submitted_ : running_;
    auto& other = submitted ? running_ : submitted_;
    if (auto it = other.find(id); it != other.end()) {
      latency_ms_.push_back(submitted ? Ms(it->second - t) : Ms(t - it->second));
      other.erase(it);
    } else if (submitted ? measuring_ : true) {
      mine.emplace(id, t);
    }
  }

  std::mutex mu_;
  bool measuring_ = false;
  std::unordered_map<std::int64_t, SteadyClock::time_point> submitted_;
  std::unordered_map<std::int64_t, SteadyClock::time_point> running_;
  std::vector<double> latency_ms_;
};

struct FleetStats {
  std::int64_t heartbeats = 0;
  std::int64_t heartbeat_errors = 0;
  std::int64_t started = 0;
  std::int64_t finished = 0;
  std::int64_t report_conflicts = 0;
  std::vector<double> heartbeat_ms;
  std::vector<double> cycle_s;  // time for one thread to visit all its nodes once
};

// --threads threads playing the agents of nodes 0..nodes-1 (node i belongs to thread i % threads).
class AgentFleet {
 public:
  AgentFleet(int port, std::string admin, int nodes, int threads, double interval_s, double run_s,
             bool nodelay, bool keep_alive, LatencyBook& book)
      : port_(port),
        admin_(std::move(admin)),
        nodes_(nodes),
        interval_s_(interval_s),
        run_s_(run_s),
        nodelay_(nodelay),
        keep_alive_(keep_alive),
        book_(book) {
    for (int t = 0; t < threads; ++t)
      workers_.emplace_back([this, t, threads] { Loop(t, threads); });
  }
  ~AgentFleet() { Stop(); }
  AgentFleet(const AgentFleet&) = delete;
  AgentFleet& operator=(const AgentFleet&) = delete;

  void Stop() {
    stop_ = true;
    for (std::thread& w : workers_) {
      if (w.joinable()) w.join();
    }
  }
  // Completed full cycles of the slowest thread.
  int MinCycles() {
    std::lock_guard lock(mu_);
    return min_cycles_;
  }
  FleetStats TakeStats() {
    std::lock_guard lock(mu_);
    return std::exchange(stats_, FleetStats{});
  }

 private:
  struct Due {
    SteadyClock::time_point at;
    std::int64_t id;
    int epoch;
    bool operator>(const Due& o) const { return at > o.at; }
  };

  void Loop(int t, int threads) {
    ApiClient client(port_, admin_, nodelay_, keep_alive_);
    std::unordered_map<std::int64_t, int> started;  // id -> epoch, until reported finished
    std::priority_queue<Due, std::vector<Due>, std::greater<>> due;
    std::vector<SteadyClock::time_point> last_beat(static_cast<std::size_t>(nodes_));
    int cycles = 0;
    const auto interval = std::chrono::duration_cast<SteadyClock::duration>(
        std::chrono::duration<double>(interval_s_));
    while (!stop_.load()) {
      const auto cycle_start = SteadyClock::now();
      for (int i = t; i < nodes_ && !stop_.load(); i += threads) {
        auto& last = last_beat[static_cast<std::size_t>(i)];
        const auto next = last + interval;
        while (SteadyClock::now() < next && !stop_.load()) {
          FinishDue(client, due, started);
          std::this_thread::sleep_until(
              std::min(next, SteadyClock::now() + std::chrono::milliseconds(20)));
        }
        const auto beat_start = SteadyClock::now();
        last = beat_start;
        auto [status, body] = client.Post("/v1/nodes/" + NodeName(i) + "/heartbeat", "");
        const double beat_ms = Ms(SteadyClock::now() - beat_start);
        {
          std::lock_guard lock(mu_);
          ++stats_.heartbeats;
          stats_.heartbeat_ms.push_back(beat_ms);
          if (status != 200) ++stats_.heartbeat_errors;
        }
        if (status == 200) StartAssigned(client, body, due, started);
        FinishDue(client, due, started);
      }
      ++cycles;
      std::lock_guard lock(mu_);
      stats_.cycle_s.push_back(Seconds(cycle_start));
      cycle_counts_[t] = cycles;
      min_cycles_ = cycles;
      for (const auto& [thread, c] : cycle_counts_) min_cycles_ = std::min(min_cycles_, c);
      if (static_cast<int>(cycle_counts_.size()) < threads) min_cycles_ = 0;
    }
  }

  void StartAssigned(ApiClient& client, const std::string& body,
                     std::priority_queue<Due, std::vector<Due>, std::greater<>>& due,
                     std::unordered_map<std::int64_t, int>& started) {
    const json reply = json::parse(body, nullptr, false);
    if (reply.is_discarded()) return;
    for (const json& a : reply.value("assignments", json::array())) {
      const std::int64_t id = a.value("id", std::int64_t{0});
      const int epoch = a.value("epoch", 0);
      if (id == 0 || started.contains(id)) continue;
      const std::string report = json{{"state", "running"}, {"epoch", epoch}}.dump();
      auto [status, text] = client.Post("/v1/workloads/" + std::to_string(id) + "/status", report);
      const auto now = SteadyClock::now();
      if (status == 200) {
        started.emplace(id, epoch);
        book_.Running(id, now);
        due.push({now + std::chrono::duration_cast<SteadyClock::duration>(
                            std::chrono::duration<double>(run_s_)),
                  id, epoch});
        std::lock_guard lock(mu_);
        ++stats_.started;
      } else {
        std::lock_guard lock(mu_);
        ++stats_.report_conflicts;
      }
    }
  }

  void FinishDue(ApiClient& client, std::priority_queue<Due, std::vector<Due>, std::greater<>>& due,
                 std::unordered_map<std::int64_t, int>& started) {
    while (!due.empty() && due.top().at <= SteadyClock::now()) {
      const Due d = due.top();
      due.pop();
      const std::string report =
          json{{"state", "succeeded"}, {"epoch", d.epoch}, {"exit_code", 0}}.dump();
      auto [status, text] =
          client.Post("/v1/workloads/" + std::to_string(d.id) + "/status", report);
      started.erase(d.id);
      std::lock_guard lock(mu_);
      if (status == 200) {
        ++stats_.finished;
      } else {
        ++stats_.report_conflicts;
      }
    }
  }

  const int port_;
  const std::string admin_;
  const int nodes_;
  const double interval_s_;
  const double run_s_;
  const bool nodelay_;
  const bool keep_alive_;
  LatencyBook& book_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  FleetStats stats_;
  std::map<int, int> cycle_counts_;
  int min_cycles_ = 0;
  std::vector<std::thread> workers_;
};

// ---- Phase: peer --------------------------------------------------------------------------

struct PeerResult {
  double commit_rate_1 = 0;
  Spread commit_ms_1;
  double commit_rate_k = 0;
  double handler_rate = 0;
  Spread handler_ms;
};

PeerResult RunPeer(const Options& o, const ScratchDir& dir) {
  PeerResult out;
  auto store = Check(store::OpenSqliteStore(dir.File("peer.db")), "opening the peer store");
  // A value about the size of a workload record.
  const std::string value(600, 'x');
  {
    std::vector<double> ms;
    const auto start = SteadyClock::now();
    for (int i = 0; i < o.peer_commits; ++i) {
      const auto t0 = SteadyClock::now();
      store::TxnRequest txn;
      txn.success.push_back(store::PutOp("/bench/one/" + std::to_string(i), value));
      CheckOk(store->Txn(txn).ok() ? Status::Ok() : Status::Internal("txn"), "peer commit");
      ms.push_back(Ms(SteadyClock::now() - t0));
    }
    out.commit_rate_1 = o.peer_commits / Seconds(start);
    out.commit_ms_1 = SpreadOf(ms);
  }
  {
    const auto start = SteadyClock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < o.threads; ++t) {
      workers.emplace_back([&, t] {
        for (int i = t; i < o.peer_commits; i += o.threads) {
          store::TxnRequest txn;
          txn.success.push_back(store::PutOp("/bench/many/" + std::to_string(i), value));
          if (!store->Txn(txn).ok()) Die("peer commit");
        }
      });
    }
    for (std::thread& w : workers) w.join();
    out.commit_rate_k = o.peer_commits / Seconds(start);
  }
  {
    // Submissions through the handler alone: no sockets.
    controller::SystemClock clock;
    controller::UrandomTokenSource tokens;
    controller::ApiHandler handler(*store, clock, tokens);
    const std::string admin = *Check(handler.Bootstrap(), "bootstrap");
    controller::HttpRequest create{
        "POST", "/v1/tenants", {{"authorization", "Bearer " + admin}}, R"({"name":"peer"})"};
    const auto created = handler.Handle(create);
    if (created.status != 201) Die("peer tenant: " + created.body);
    const std::string token = json::parse(created.body).at("token").get<std::string>();
    const auto specs = MakeSpecs(o.peer_commits, "peer", o.seed + 99);
    Burst b = RunBurst(
        specs, o.threads, o.burst_seconds,
        [&](int) {
          return std::function<std::pair<bool, std::int64_t>(const std::string&)>(
              [&](const std::string& body) {
                controller::HttpRequest r{
                    "POST", "/v1/workloads", {{"authorization", "Bearer " + token}}, body};
                return std::make_pair(handler.Handle(r).status == 201, std::int64_t{0});
              });
        },
        nullptr);
    out.handler_rate = b.rate;
    out.handler_ms = SpreadOf(b.latency_ms);
  }
  return out;
}

// ---- Phase: submit --------------------------------------------------------------------------

struct SubmitVariant {
  std::string name;
  std::vector<Burst> runs;
};

struct SubmitResult {
  double register_s = 0;
  std::vector<SubmitVariant> variants;  // the first is the product as it is
};

SubmitResult RunSubmit(const Options& o, const ScratchDir& dir) {
  SubmitResult out;
  Controller c(Check(store::OpenSqliteStore(dir.File("submit.db")), "opening the store"));
  c.Start(o.tenants, false);
  out.register_s = RegisterNodes(c.fast_port(), c.admin(), o.nodes, o.threads, true);
  Log("submit: %d nodes registered in %.2f s", o.nodes, out.register_s);
  struct Setup {
    std::string name;
    int port;
    bool nodelay;
    int runs;
    bool keep_alive = true;
  };
  // --runs runs each, but one of client_nd (a diagnostic between the two ends).
  std::vector<Setup> setups;
  const Setup as_is{"HttpServer as it is, plain keep-alive clients", c.port(), false, 1};
  const Setup per_request{"HttpServer as it is, plain clients, a connection per request", c.port(),
                          false, 1, false};
  const Setup client_nd{"HttpServer as it is, keep-alive clients with TCP_NODELAY", c.port(), true,
                        1};
  const Setup both_nd{"TunedServer (TCP_NODELAY, backlog 1024), keep-alive TCP_NODELAY clients",
                      c.fast_port(), true, 1};
  if (o.tuned_server) {
    setups = {both_nd, as_is, per_request, client_nd};
  } else if (o.nodelay) {
    setups = {client_nd, as_is, per_request, both_nd};
  } else {
    setups = {as_is, per_request, client_nd, both_nd};
  }
  for (Setup& setup : setups) {
    if (setup.name != client_nd.name) setup.runs = o.runs;
  }
  int burst_no = 0;
  for (const Setup& setup : setups) {
    SubmitVariant v{setup.name, {}};
    for (int r = 0; r < setup.runs; ++r, ++burst_no) {
      const auto specs = MakeSpecs(o.submissions, "burst" + std::to_string(burst_no),
                                   o.seed + static_cast<unsigned>(burst_no));
      v.runs.push_back(RunBurst(
          specs, o.threads, o.burst_seconds,
          HttpSubmitter(setup.port, c.tenant_tokens(), setup.nodelay, setup.keep_alive), nullptr));
      const Burst& b = v.runs.back();
      Log("submit: %s, run %d: %d in %.2f s = %.0f/s (p50 %.2f ms, p99 %.2f ms, %d failed)",
          setup.name.c_str(), r + 1, b.done, b.seconds, b.rate, Percentile(b.latency_ms, 50),
          Percentile(b.latency_ms, 99), b.failed);
    }
    out.variants.push_back(std::move(v));
  }
  return out;
}

// ---- Phase: live ----------------------------------------------------------------------------

struct LiveResult {
  std::int64_t listen_overflows = -1;  // during the phase, system-wide
  double register_s = 0;
  double warmup_s = 0;
  int submitted = 0;
  int submit_failed = 0;
  double offered_rate = 0;
  std::vector<double> latency_ms;  // submit -> running
  std::size_t never_ran = 0;
  FleetStats fleet_latency;
  ReconcileStats reconcile_latency;
  Burst burst;
  FleetStats fleet_burst;
  ReconcileStats reconcile_burst;
};

LiveResult RunLive(const Options& o, const ScratchDir& dir) {
  LiveResult out;
  const std::int64_t overflows_before = ListenOverflows();
  Controller c(Check(store::OpenSqliteStore(dir.File("live.db")), "opening the store"));
  c.Start(o.tenants, o.tuned_server);
  out.register_s = RegisterNodes(c.fast_port(), c.admin(), o.nodes, o.threads, true);
  c.StartReconciler();
  LatencyBook book;
  AgentFleet fleet(c.port(), c.admin(), o.nodes, o.agent_threads, o.heartbeat_interval_s,
                   o.run_seconds, o.nodelay, o.agent_keep_alive, book);
  const auto warm = SteadyClock::now();
  while (fleet.MinCycles() < 1) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  out.warmup_s = Seconds(warm);
  (void)fleet.TakeStats();
  (void)c.TakeReconcileStats();
  Log("live: %d nodes registered in %.2f s; first heartbeat cycle %.2f s", o.nodes, out.register_s,
      out.warmup_s);

  // Submit-to-running at a moderate rate: slot i at start + i / rate, slots dealt round-robin
  // to --threads clients (one plain client cannot keep up with a high rate on its own). Like
  // `gpool submit`, a connection per request: an idle keep-alive connection would hold one of the
  // server's worker threads between submissions.
  book.StartMeasuring();
  {
    const int count = static_cast<int>(o.rate * o.latency_seconds);
    const auto specs = MakeSpecs(count, "lat", o.seed + 7);
    const auto gap = std::chrono::duration_cast<SteadyClock::duration>(
        std::chrono::duration<double>(1.0 / o.rate));
    std::atomic<int> submitted{0};
    std::atomic<int> failed{0};
    const auto start = SteadyClock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < o.threads; ++t) {
      workers.emplace_back([&, t] {
        ApiClient client(c.port(),
                         c.tenant_tokens()[static_cast<std::size_t>(t) % c.tenant_tokens().size()],
                         o.nodelay, /*keep_alive=*/false);
        for (int i = t; i < count; i += o.threads) {
          std::this_thread::sleep_until(start + i * gap);
          auto [status, body] = client.Post("/v1/workloads", specs[static_cast<std::size_t>(i)]);
          if (status != 201) {
            ++failed;
            continue;
          }
          book.Submitted(IdOf(body), SteadyClock::now());
          ++submitted;
        }
      });
    }
    for (std::thread& w : workers) w.join();
    out.submitted = submitted.load();
    out.submit_failed = failed.load();
    out.offered_rate = out.submitted / Seconds(start);
  }
  book.StopMeasuring();
  const auto drain = SteadyClock::now();
  while (book.Outstanding() > 0 && Seconds(drain) < o.drain_seconds) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  out.never_ran = book.Outstanding();
  out.latency_ms = book.TakeLatencies();
  out.fleet_latency = fleet.TakeStats();
  out.reconcile_latency = c.TakeReconcileStats();
  const Spread lat = SpreadOf(out.latency_ms);
  Log("live: submit-to-running at %.0f/s: p50 %.0f ms, p99 %.0f ms (%zu measured, %zu not running "
      "after %.0f s)",
      out.offered_rate, lat.p50, lat.p99, lat.n, out.never_ran, o.drain_seconds);

  // A full-speed burst with the reconciler and the agents running.
  const auto specs = MakeSpecs(o.submissions, "live", o.seed + 11);
  // Clients as `gpool submit` connects (a connection per request), or keep-alive with --nodelay.
  out.burst = RunBurst(specs, o.threads, o.burst_seconds,
                       HttpSubmitter(c.port(), c.tenant_tokens(), o.nodelay, o.nodelay), nullptr);
  out.fleet_burst = fleet.TakeStats();
  out.reconcile_burst = c.TakeReconcileStats();
  Log("live: burst of %d with the reconciler and agents running: %.0f/s", o.submissions,
      out.burst.rate);
  fleet.Stop();
  c.StopReconciler();
  const std::int64_t overflows_after = ListenOverflows();
  if (overflows_before >= 0 && overflows_after >= 0) {
    out.listen_overflows = overflows_after - overflows_before;
  }
  return out;
}

// ---- Phase: pass ----------------------------------------------------------------------------

// Writes pool records into a store directly, as the API would have written them.
class RecordWriter {
 public:
  RecordWriter(store::KvStore& store, double now) : store_(store), now_(now) {
    const auto model = Check(core::FindGpuModel(kNodeModel), "model");
    model_name_ = std::string(core::GetGpuModel(model).name);
  }

  void Nodes(int count) {
    store::TxnRequest txn;
    for (int i = 0; i < count; ++i) {
      json n = json::parse(NodeJson(i));
      n["model"] = model_name_;
      n["state"] = "ready";
      n["last_heartbeat"] = now_;
      txn.success.push_back(store::PutOp(controller::NodeKey(NodeName(i)), n.dump()));
    }
    Commit(txn);
  }

  // `count` pending workloads of `shape` (or drawn from the mix when nullopt); their ids.
  std::vector<std::int64_t> Pending(int count, std::optional<Shape> shape, bool gpu_only,
                                    core::DeterministicRng& rng) {
    store::TxnRequest txn;
    std::vector<std::int64_t> ids;
    for (int i = 0; i < count; ++i) {
      const Shape s = shape ? *shape : DrawShape(rng, gpu_only);
      const std::int64_t id = next_id_++;
      json spec = SpecTemplate(s);
      spec["name"] = "w-" + std::to_string(id);
      spec["tenant"] = "team-" + std::to_string(id % 4);
      const json record = {{"id", id},           {"tenant", spec["tenant"]}, {"spec", spec},
                           {"state", "pending"}, {"submitted_at", now_},     {"updated_at", now_}};
      txn.success.push_back(store::PutOp(controller::WorkloadKey(id), record.dump()));
      ids.push_back(id);
    }
    txn.success.push_back(
        store::PutOp(std::string(controller::kCounterKey), std::to_string(next_id_)));
    Commit(txn);
    return ids;
  }

 private:
  json SpecTemplate(Shape s) {
    auto it = templates_.find(s);
    if (it == templates_.end()) {
      auto spec = Check(controller::ParseJobSpec(json::parse(SpecJson(s, "w"))), "job spec");
      it = templates_.emplace(s, controller::JobSpecToJson(spec)).first;
    }
    return it->second;
  }
  void Commit(const store::TxnRequest& txn) {
    if (!Check(store_.Txn(txn), "writing records").succeeded) Die("writing records: compare");
  }

  store::KvStore& store_;
  double now_;
  std::string model_name_;
  std::int64_t next_id_ = 1;
  std::map<Shape, json> templates_;
};

std::vector<store::KeyValue> ReadWorkloads(store::KvStore& s) {
  store::RangeRequest r;
  r.key = std::string(controller::kWorkloadsPrefix);
  r.range_end = store::PrefixEnd(controller::kWorkloadsPrefix);
  return Check(s.Range(r), "reading workloads").kvs;
}

std::vector<store::KeyValue> WithState(const std::vector<store::KeyValue>& kvs,
                                       const std::string& state) {
  std::vector<store::KeyValue> out;
  for (const store::KeyValue& kv : kvs) {
    if (json::parse(kv.value).value("state", std::string()) == state) out.push_back(kv);
  }
  return out;
}

// Every key of `from` written to `to` in one transaction.
void CopyStore(store::KvStore& from, store::KvStore& to) {
  store::RangeRequest r;
  r.key = "/";
  r.range_end = std::string(1, '\0');
  auto all = Check(from.Range(r), "reading the state");
  store::TxnRequest txn;
  for (store::KeyValue& kv : all.kvs) {
    txn.success.push_back(store::PutOp(std::move(kv.key), std::move(kv.value)));
  }
  Check(to.Txn(txn), "copying the state");
}

// Where one pass's time goes, measured without writing: loading a WorkloadIndex from scratch
// (every workload record read and parsed: what a pass without a warm index does), then a mirror
// of reconciler.cc steps 1-3 on the index (nodes, the ClusterState with the bindings in force, the
// queue in order; no tenant caps: the pass states have no tenant records), then
// sched::Scheduler::Decide.
struct PassSplit {
  double read_ms = 0;        // the Range of every workload record alone
  double index_load_ms = 0;  // a fresh WorkloadIndex's first Sync: read + parse
  double build_ms = 0;
  double decide_ms = 0;
  int records = 0;
  int active = 0;
  int pending = 0;
  int binds = 0;
};

PassSplit SplitPass(store::KvStore& store) {
  PassSplit out;
  auto t = SteadyClock::now();
  auto lap = [&t] {
    const auto now = SteadyClock::now();
    const double ms = Ms(now - t);
    t = now;
    return ms;
  };
  out.records = static_cast<int>(ReadWorkloads(store).size());
  out.read_ms = lap();
  controller::WorkloadIndex index;
  CheckOk(index.Sync(store), "loading the index");
  out.index_load_ms = lap();

  store::RangeRequest nr;
  nr.key = std::string(controller::kNodesPrefix);
  nr.range_end = store::PrefixEnd(controller::kNodesPrefix);
  std::vector<core::Node> nodes;
  for (const auto& kv : Check(store.Range(nr), "reading nodes").kvs) {
    core::Node n;
    if (!controller::NodeFromJson(json::parse(kv.value), &n)) Die("split: a malformed node");
    nodes.push_back(std::move(n));
  }
  std::sort(nodes.begin(), nodes.end(),
            [](const core::Node& a, const core::Node& b) { return a.name < b.name; });
  std::map<std::string, int> node_index;
  for (std::size_t i = 0; i < nodes.size(); ++i) node_index[nodes[i].name] = static_cast<int>(i);
  core::ClusterState cluster(nodes);
  std::vector<std::shared_ptr<const controller::IndexedWorkload>> pending;
  for (const auto& w : index.Active()) {
    ++out.active;
    if (w->state == "pending") {
      if (w->spec) pending.push_back(w);
      continue;
    }
    for (const json& b : w->record.value("bindings", json::array())) {
      const core::Binding binding = controller::BindingFromJson(
          b, node_index.at(b.value("node", std::string())), w->id);
      if (!cluster.Bind(binding).ok()) Die("split: a held binding does not fit");
    }
  }
  std::stable_sort(pending.begin(), pending.end(), [](const auto& a, const auto& b) {
    return std::make_tuple(a->spec->priority, a->record.value("submitted_at", 0.0), a->id) <
           std::make_tuple(b->spec->priority, b->record.value("submitted_at", 0.0), b->id);
  });
  std::vector<core::Workload> queue;
  for (const auto& p : pending) {
    queue.push_back(
        controller::WorkloadFromSpec(*p->spec, static_cast<core::WorkloadId>(p->id) << 10, 0));
  }
  out.pending = static_cast<int>(queue.size());
  out.build_ms = lap();

  auto scheduler = Check(sched::Scheduler::Create(sched::Config{}), "scheduler");
  const sched::Snapshot snapshot{&cluster, queue, {}, 0};
  const auto actions = scheduler.Decide(snapshot);
  out.decide_ms = lap();
  out.binds = static_cast<int>(actions.size());
  return out;
}

struct PassRow {
  std::string name;
  std::string what;
  int records = 0;
  int pending = 0;
  int bound = 0;
  std::vector<double> warm_ms;    // SQLite, the server's WorkloadIndex synced before the pass
  std::vector<double> cold_ms;    // SQLite, no index handed in: the pass loads its own
  std::vector<double> memory_ms;  // warm, on an in-memory copy: the pass without its commits
  PassSplit split;
};

double MedianOr0(const std::vector<double>& v) { return v.empty() ? 0.0 : Median(v); }

json ToJson(const PassRow& r) {
  return {{"name", r.name},
          {"records", r.records},
          {"pending", r.pending},
          {"bound", r.bound},
          {"warm_pass_ms_median", MedianOr0(r.warm_ms)},
          {"warm_pass_ms", r.warm_ms},
          {"cold_pass_ms_median", MedianOr0(r.cold_ms)},
          {"cold_pass_ms", r.cold_ms},
          {"memory_store_warm_pass_ms_median", MedianOr0(r.memory_ms)},
          {"split_ms",
           {{"read", r.split.read_ms},
            {"index_load", r.split.index_load_ms},
            {"build", r.split.build_ms},
            {"decide", r.split.decide_ms}}}};
}

struct PassResult {
  std::vector<PassRow> rows;
  double build_s = 0;
};

PassResult RunPass(const Options& o, const ScratchDir& dir) {
  PassResult out;
  const auto build_start = SteadyClock::now();
  const double now = 1.8e9;  // a fixed clock: every node heartbeated at `now`
  const controller::ReconcileConfig config;
  core::DeterministicRng rng(o.seed + 1000);
  const double total_gpus = static_cast<double>(o.nodes) * kGpusPerNode;

  // Fills `mem` (nodes written) until about `fraction` of the GPUs are requested, binds them.
  auto fill = [&](store::KvStore& mem, controller::WorkloadIndex& index, RecordWriter& w,
                  double fraction) {
    double asked = 0;
    core::DeterministicRng fill_rng(o.seed + 2000);
    std::vector<Shape> shapes;
    while (asked < fraction * total_gpus) {
      const Shape s = DrawShape(fill_rng, false);
      asked += s == Shape::kOneGpu ? 1 : s == Shape::kTwoGpu ? 2 : s == Shape::kShare ? 0.25 : 0;
      shapes.push_back(s);
    }
    for (std::size_t i = 0; i < shapes.size(); i += 2000) {
      for (std::size_t j = i; j < std::min(shapes.size(), i + 2000); ++j) {
        w.Pending(1, shapes[j], false, fill_rng);
      }
      Check(controller::ReconcileOnce(mem, now, config, &index), "fill pass");
    }
  };
  auto pending_left = [](store::KvStore& mem) { return WithState(ReadWorkloads(mem), "pending"); };

  // The full state: every GPU bound.
  auto full = store::NewMemoryStore();
  RecordWriter full_writer(*full, now);
  controller::WorkloadIndex full_index;
  full_writer.Nodes(o.nodes);
  fill(*full, full_index, full_writer, 1.0);
  for (Shape top_up : {Shape::kOneGpu, Shape::kShare}) {
    for (;;) {
      full_writer.Pending(std::max(100, o.nodes), top_up, true, rng);
      const auto report =
          Check(controller::ReconcileOnce(*full, now, config, &full_index), "top-up pass");
      if (report.bound == 0) break;
    }
  }
  {
    store::TxnRequest drop;  // the top-ups that did not fit
    for (const store::KeyValue& kv : pending_left(*full))
      drop.success.push_back(store::DeleteOp(kv.key));
    if (!drop.success.empty()) Check(full->Txn(drop), "dropping top-ups");
  }
  const std::vector<store::KeyValue> full_bound = WithState(ReadWorkloads(*full), "assigned");
  full_writer.Pending(o.pending, std::nullopt, true, rng);

  // The half state: half the GPUs bound, mixed pending.
  auto half = store::NewMemoryStore();
  RecordWriter half_writer(*half, now);
  controller::WorkloadIndex half_index;
  half_writer.Nodes(o.nodes);
  fill(*half, half_index, half_writer, 0.5);
  if (!pending_left(*half).empty()) Die("half: the fill did not all bind");
  half_writer.Pending(o.pending, std::nullopt, false, rng);
  out.build_s = Seconds(build_start);
  Log("pass: states built in %.1f s (%zu workloads bound in the full state)", out.build_s,
      full_bound.size());

  int copy_no = 0;
  auto sqlite_copy = [&](store::KvStore& from) {
    auto s = Check(store::OpenSqliteStore(dir.File("pass-" + std::to_string(copy_no++) + ".db")),
                   "opening a pass store");
    CopyStore(from, *s);
    return s;
  };
  auto memory_copy = [](store::KvStore& from) {
    auto s = store::NewMemoryStore();
    CopyStore(from, *s);
    return s;
  };
  auto timed_pass = [&](store::KvStore& s, controller::WorkloadIndex* index,
                        controller::ReconcileReport* report) {
    const auto start = SteadyClock::now();
    *report = Check(controller::ReconcileOnce(s, now + 1, config, index), "pass");
    return Ms(SteadyClock::now() - start);
  };
  auto log_row = [](const PassRow& row) {
    Log("pass: %s: warm %.0f ms, cold %.0f ms, in-memory %.0f ms; %d pending, %d bound",
        row.name.c_str(), MedianOr0(row.warm_ms), MedianOr0(row.cold_ms), MedianOr0(row.memory_ms),
        row.pending, row.bound);
  };

  // Passes that bind nothing: repeated on one store.
  auto repeated = [&](const std::string& name, const std::string& what, store::KvStore& state) {
    PassRow row{name, what};
    auto s = sqlite_copy(state);
    row.split = SplitPass(*s);
    controller::ReconcileReport report;
    const int cold = o.cold_passes < 0 ? o.passes : o.cold_passes;
    for (int i = 0; i < cold; ++i) row.cold_ms.push_back(timed_pass(*s, nullptr, &report));
    controller::WorkloadIndex index;
    CheckOk(index.Sync(*s), "index");
    for (int i = 0; i < o.passes; ++i) {
      row.warm_ms.push_back(timed_pass(*s, &index, &report));
      row.pending = report.pending;
      row.bound = std::max(row.bound, report.bound);
    }
    auto m = memory_copy(state);
    controller::WorkloadIndex memory_index;
    CheckOk(memory_index.Sync(*m), "index");
    for (int i = 0; i < o.passes; ++i) {
      row.memory_ms.push_back(timed_pass(*m, &memory_index, &report));
    }
    row.records = row.split.records;
    log_row(row);
    return row;
  };
  // Passes that bind: one per fresh copy, with a warm index (synced before, not timed).
  auto fresh = [&](const std::string& name, const std::string& what, store::KvStore& state,
                   int runs) {
    PassRow row{name, what};
    for (int i = 0; i < runs; ++i) {
      auto s = sqlite_copy(state);
      if (i == 0) row.split = SplitPass(*s);
      controller::WorkloadIndex index;
      CheckOk(index.Sync(*s), "index");
      controller::ReconcileReport report;
      row.warm_ms.push_back(timed_pass(*s, &index, &report));
      row.pending = report.pending;
      row.bound = report.bound;
      auto m = memory_copy(state);
      controller::WorkloadIndex memory_index;
      CheckOk(memory_index.Sync(*m), "index");
      row.memory_ms.push_back(timed_pass(*m, &memory_index, &report));
    }
    row.records = row.split.records;
    log_row(row);
    return row;
  };

  out.rows.push_back(repeated("full", "every GPU bound; nothing fits", *full));
  {
    auto fin = memory_copy(*full);
    // Succeeded copies of bound records (bindings kept, as an agent leaves them), with ids after
    // every existing one.
    const auto all = ReadWorkloads(*fin);
    std::int64_t max_id = 0;
    for (const auto& kv : all) max_id = std::max(max_id, json::parse(kv.value).value("id", 0L));
    store::TxnRequest txn;
    for (int i = 0; i < o.finished; ++i) {
      json r = json::parse(full_bound[static_cast<std::size_t>(i) % full_bound.size()].value);
      const std::int64_t id = max_id + 1 + i;
      r["id"] = id;
      r["state"] = "succeeded";
      r["started_at"] = now;
      r["exit_code"] = 0;
      txn.success.push_back(store::PutOp(controller::WorkloadKey(id), r.dump()));
    }
    Check(fin->Txn(txn), "writing finished records");
    out.rows.push_back(repeated(
        "full+fin", "the same and " + std::to_string(o.finished) + " succeeded records", *fin));
  }
  {
    auto batch = memory_copy(*full);
    store::TxnRequest txn;
    for (int i = 0; i < o.batch && i < static_cast<int>(full_bound.size()); ++i) {
      // Spread over the pool: every k-th bound workload finishes.
      const auto& kv = full_bound[static_cast<std::size_t>(i) * full_bound.size() /
                                  static_cast<std::size_t>(o.batch)];
      json r = json::parse(kv.value);
      r["state"] = "succeeded";
      r["exit_code"] = 0;
      txn.success.push_back(store::PutOp(kv.key, r.dump()));
    }
    Check(batch->Txn(txn), "finishing a batch");
    out.rows.push_back(fresh("batch",
                             std::to_string(o.batch) + " bound workloads finished; the pass "
                                                       "fills the freed room",
                             *batch, o.runs));
  }
  // Thousands of binds, each a commit: one run (--runs for more).
  out.rows.push_back(fresh("half", "half the GPUs bound; binds until full", *half, 1));
  return out;
}

// ---- Output ---------------------------------------------------------------------------------

void PrintPeer(const Options& o, const PeerResult& p) {
  std::printf("\n### peer: the store alone (SQLite, WAL, synchronous=FULL)\n\n");
  std::printf("| what | rate /s | p50 ms | p99 ms |\n|---|---|---|---|\n");
  std::printf("| Txn of one 600-byte put, 1 thread, %d commits | %.0f | %.3f | %.3f |\n",
              o.peer_commits, p.commit_rate_1, p.commit_ms_1.p50, p.commit_ms_1.p99);
  std::printf("| Txn of one put, %d threads | %.0f | | |\n", o.threads, p.commit_rate_k);
  std::printf(
      "| submissions through ApiHandler::Handle (no HTTP), %d threads | %.0f | %.3f | %.3f |\n",
      o.threads, p.handler_rate, p.handler_ms.p50, p.handler_ms.p99);
}

void PrintSubmit(const Options& o, const SubmitResult& s) {
  std::printf(
      "\n### submit: POST /v1/workloads, %d nodes registered, %d clients, no reconciler\n\n",
      o.nodes, o.threads);
  std::printf("node registration: %d in %.2f s = %.0f/s\n\n", o.nodes, s.register_s,
              o.nodes / s.register_s);
  std::printf("| setup | run | submissions | seconds | rate /s | p50 ms | p99 ms | failed |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (const SubmitVariant& v : s.variants) {
    std::vector<double> rates, p50, p99;
    for (std::size_t i = 0; i < v.runs.size(); ++i) {
      const Burst& b = v.runs[i];
      const Spread sp = SpreadOf(b.latency_ms);
      rates.push_back(b.rate);
      p50.push_back(sp.p50);
      p99.push_back(sp.p99);
      std::printf("| %s | %zu | %d | %.2f | %.0f | %.2f | %.2f | %d |\n", v.name.c_str(), i + 1,
                  b.done, b.seconds, b.rate, sp.p50, sp.p99, b.failed);
    }
    if (v.runs.size() > 1) {
      std::printf("| %s | **median** | | | **%.0f** | %.2f | %.2f | |\n", v.name.c_str(),
                  Median(rates), Median(p50), Median(p99));
    }
  }
  std::printf("\ntarget >= 1,000/s:");
  for (const SubmitVariant& v : s.variants) {
    std::vector<double> rates;
    for (const Burst& b : v.runs) rates.push_back(b.rate);
    std::printf(" %s %.2fx;", v.name.c_str(), Median(rates) / 1000.0);
  }
  std::printf("\n");
}

void PrintLive(const Options& o, const LiveResult& l) {
  const Spread lat = SpreadOf(l.latency_ms);
  const Spread hb = SpreadOf(l.fleet_latency.heartbeat_ms);
  const Spread cyc = SpreadOf(l.fleet_latency.cycle_s);
  const Spread pass = SpreadOf(l.reconcile_latency.pass_ms);
  std::printf("\n### live: reconciler + %d agents (%d threads, heartbeat every >= %.1f s), %s\n\n",
              o.nodes, o.agent_threads, o.heartbeat_interval_s,
              o.tuned_server ? "TunedServer (TCP_NODELAY, backlog 1024), TCP_NODELAY clients"
                             : (o.nodelay ? "HttpServer, TCP_NODELAY clients"
                                          : "HttpServer as it is, plain clients"));
  std::printf("first full heartbeat cycle: %.2f s\n\n", l.warmup_s);
  std::printf("| measure | value |\n|---|---|\n");
  std::printf("| submitted at %.0f/s for %.0f s (achieved %.1f/s) | %d (%d failed) |\n", o.rate,
              o.latency_seconds, l.offered_rate, l.submitted, l.submit_failed);
  std::printf("| submit-to-running p50 / p99 / max | **%.0f / %.0f / %.0f ms** (n = %zu) |\n",
              lat.p50, lat.p99, lat.max, lat.n);
  std::printf("| not running %.0f s after the last submission | %zu |\n", o.drain_seconds,
              l.never_ran);
  std::printf("| heartbeats / heartbeat p50 / p99 | %lld / %.1f / %.1f ms |\n",
              static_cast<long long>(l.fleet_latency.heartbeats), hb.p50, hb.p99);
  std::printf("| heartbeat cycle over all nodes p50 / max | %.2f / %.2f s |\n", cyc.p50, cyc.max);
  std::printf("| reconcile passes / pass p50 / p99 | %d / %.1f / %.1f ms |\n",
              l.reconcile_latency.passes, pass.p50, pass.p99);
  std::printf("| nodes marked lost / workloads requeued | %d / %d |\n",
              l.reconcile_latency.nodes_lost, l.reconcile_latency.requeued);
  std::printf("| listen-queue overflows during the phase (dropped SYNs, system-wide) | %lld |\n",
              static_cast<long long>(l.listen_overflows));
  const Spread b = SpreadOf(l.burst.latency_ms);
  const Spread bpass = SpreadOf(l.reconcile_burst.pass_ms);
  std::printf(
      "| burst of %d, %d clients, everything running | **%.0f/s**, p50 %.1f ms, p99 %.1f "
      "ms, %d failed |\n",
      o.submissions, o.threads, l.burst.rate, b.p50, b.p99, l.burst.failed);
  std::printf(
      "| during the burst: passes, pass p50 / max, heartbeats | %d, %.0f / %.0f ms, %lld |\n",
      l.reconcile_burst.passes, bpass.p50, bpass.max,
      static_cast<long long>(l.fleet_burst.heartbeats));
  std::printf(
      "| during the burst: bound by passes / reported running / succeeded | %d / %lld / "
      "%lld |\n",
      l.reconcile_burst.bound, static_cast<long long>(l.fleet_burst.started),
      static_cast<long long>(l.fleet_burst.finished));
}

void PrintPass(const Options& o, const PassResult& p) {
  std::printf("\n### pass: ReconcileOnce, %d ready nodes (%d GPUs), SQLite store\n\n", o.nodes,
              o.nodes * kGpusPerNode);
  std::printf(
      "warm: the server's WorkloadIndex synced before the pass (steady state); cold: no index "
      "handed in, the pass loads one (a restarted controller). Split, without writing: reading "
      "every workload record; a fresh index's first Sync (read + parse); building the cluster "
      "and the queue from it; Decide.\n\n");
  std::printf(
      "| state | workload records | pending | bound by the pass | warm pass ms | cold pass ms | "
      "warm, in-memory store | read | index load | build | decide |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const PassRow& r : p.rows) {
    const std::string cold =
        r.cold_ms.empty() ? "–" : std::to_string(static_cast<long>(std::lround(Median(r.cold_ms))));
    std::printf("| %s: %s | %d | %d | %d | **%.0f** | %s | %.0f | %.0f | %.0f | %.0f | %.0f |\n",
                r.name.c_str(), r.what.c_str(), r.records, r.pending, r.bound, MedianOr0(r.warm_ms),
                cold.c_str(), MedianOr0(r.memory_ms), r.split.read_ms, r.split.index_load_ms,
                r.split.build_ms, r.split.decide_ms);
  }
  std::printf("\ntarget < 100 ms at %d pending; states built in %.1f s\n", o.pending, p.build_s);
}

json BurstJson(const Burst& b) {
  return {{"seconds", b.seconds},
          {"done", b.done},
          {"rate", b.rate},
          {"failed", b.failed},
          {"latency_ms", ToJson(SpreadOf(b.latency_ms))}};
}

}  // namespace
}  // namespace gpool

int main(int argc, char** argv) {
  using namespace gpool;
  Options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (std::find(args.begin(), args.end(), "--quick") != args.end()) {
    o.quick = true;
    o.nodes = 100;
    o.submissions = 500;
    o.pending = 1000;
    o.finished = 2000;
    o.batch = 20;
    o.passes = 3;
    o.peer_commits = 200;
    o.rate = 10;
    o.burst_seconds = 4;
    o.latency_seconds = 4;
    o.drain_seconds = 20;
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= args.size()) Die(a + " needs a value");
      return args[++i];
    };
    if (a == "--quick") continue;
    if (a == "--json") {
      o.json = true;
    } else if (a == "--nodes") {
      o.nodes = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--submissions") {
      o.submissions = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--threads") {
      o.threads = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--pending") {
      o.pending = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--runs") {
      o.runs = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--passes") {
      o.passes = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--cold-passes") {
      o.cold_passes = std::max(0, std::atoi(next().c_str()));
    } else if (a == "--finished") {
      o.finished = std::max(0, std::atoi(next().c_str()));
    } else if (a == "--batch") {
      o.batch = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--tenants") {
      o.tenants = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--agent-threads") {
      o.agent_threads = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--heartbeat-interval") {
      o.heartbeat_interval_s = std::max(0.0, std::atof(next().c_str()));
    } else if (a == "--rate") {
      o.rate = std::max(1.0, std::atof(next().c_str()));
    } else if (a == "--latency-seconds") {
      o.latency_seconds = std::max(1.0, std::atof(next().c_str()));
    } else if (a == "--run-seconds") {
      o.run_seconds = std::max(0.0, std::atof(next().c_str()));
    } else if (a == "--drain-seconds") {
      o.drain_seconds = std::max(1.0, std::atof(next().c_str()));
    } else if (a == "--burst-seconds") {
      o.burst_seconds = std::max(1.0, std::atof(next().c_str()));
    } else if (a == "--nodelay") {
      o.nodelay = true;
    } else if (a == "--agent-keep-alive") {
      o.agent_keep_alive = true;
    } else if (a == "--tuned-server") {
      o.tuned_server = true;
      o.nodelay = true;
    } else if (a == "--peer-commits") {
      o.peer_commits = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--only") {
      std::stringstream ss(next());
      std::string phase;
      while (std::getline(ss, phase, ',')) {
        if (phase != "peer" && phase != "submit" && phase != "live" && phase != "pass") {
          Die("--only: unknown phase " + phase + " (peer, submit, live, pass)");
        }
        o.only.insert(phase);
      }
    } else {
      Die("unknown argument " + a +
          " (--nodes --submissions --threads --pending --runs --passes --finished --batch "
          "--cold-passes --tenants --agent-threads --heartbeat-interval --rate --latency-seconds "
          "--run-seconds "
          "--drain-seconds --burst-seconds --nodelay --tuned-server --agent-keep-alive "
          "--peer-commits --only "
          "--quick --json)");
    }
  }

  const ScratchDir dir;
  const auto start = SteadyClock::now();
  json out = {{"nodes", o.nodes},     {"gpus", o.nodes * kGpusPerNode},
              {"threads", o.threads}, {"submissions", o.submissions},
              {"pending", o.pending}, {"runs", o.runs},
              {"quick", o.quick},     {"cores", std::thread::hardware_concurrency()}};
  if (!o.json) {
    std::printf("pool_api_bench: %d nodes, %d GPUs, %d client threads, %u cores%s\n", o.nodes,
                o.nodes * kGpusPerNode, o.threads, std::thread::hardware_concurrency(),
                o.quick ? " (--quick)" : "");
  }
  if (o.Runs("peer")) {
    const PeerResult p = RunPeer(o, dir);
    out["peer"] = {{"commit_rate_1_thread", p.commit_rate_1},
                   {"commit_ms_1_thread", ToJson(p.commit_ms_1)},
                   {"commit_rate_k_threads", p.commit_rate_k},
                   {"handler_submit_rate", p.handler_rate},
                   {"handler_submit_ms", ToJson(p.handler_ms)}};
    if (!o.json) PrintPeer(o, p);
    Log("peer: commits %.0f/s (1 thread), %.0f/s (%d threads); handler submissions %.0f/s",
        p.commit_rate_1, p.commit_rate_k, o.threads, p.handler_rate);
  }
  if (o.Runs("submit")) {
    const SubmitResult s = RunSubmit(o, dir);
    json variants = json::array();
    for (const SubmitVariant& v : s.variants) {
      json runs = json::array();
      std::vector<double> rates, p50, p99;
      for (const Burst& b : v.runs) {
        runs.push_back(BurstJson(b));
        rates.push_back(b.rate);
        p50.push_back(Percentile(b.latency_ms, 50));
        p99.push_back(Percentile(b.latency_ms, 99));
      }
      variants.push_back({{"setup", v.name},
                          {"runs", runs},
                          {"rate_median", Median(rates)},
                          {"latency_p50_ms_median", Median(p50)},
                          {"latency_p99_ms_median", Median(p99)}});
    }
    out["submit"] = {{"register_seconds", s.register_s}, {"variants", variants}};
    if (!o.json) PrintSubmit(o, s);
  }
  if (o.Runs("live")) {
    const LiveResult l = RunLive(o, dir);
    out["live"] = {{"register_seconds", l.register_s},
                   {"first_heartbeat_cycle_s", l.warmup_s},
                   {"submitted", l.submitted},
                   {"offered_rate", l.offered_rate},
                   {"submit_to_running_ms", ToJson(SpreadOf(l.latency_ms))},
                   {"not_running_after_drain", l.never_ran},
                   {"heartbeats", l.fleet_latency.heartbeats},
                   {"heartbeat_ms", ToJson(SpreadOf(l.fleet_latency.heartbeat_ms))},
                   {"heartbeat_cycle_s", ToJson(SpreadOf(l.fleet_latency.cycle_s))},
                   {"reconcile_pass_ms", ToJson(SpreadOf(l.reconcile_latency.pass_ms))},
                   {"nodes_lost", l.reconcile_latency.nodes_lost},
                   {"listen_overflows", l.listen_overflows},
                   {"burst_bound", l.reconcile_burst.bound},
                   {"burst_started", l.fleet_burst.started},
                   {"burst_finished", l.fleet_burst.finished},
                   {"burst", BurstJson(l.burst)},
                   {"burst_reconcile_pass_ms", ToJson(SpreadOf(l.reconcile_burst.pass_ms))}};
    if (!o.json) PrintLive(o, l);
  }
  if (o.Runs("pass")) {
    const PassResult p = RunPass(o, dir);
    json rows = json::array();
    for (const PassRow& r : p.rows) rows.push_back(ToJson(r));
    out["pass"] = {{"rows", rows}, {"build_seconds", p.build_s}};
    if (!o.json) PrintPass(o, p);
  }
  out["seconds"] = Seconds(start);
  if (o.json) {
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("\ntotal %.1f s\n", Seconds(start));
  }
  Log("RESULT bench=pool_api seconds=%.1f", Seconds(start));
  return 0;
}
