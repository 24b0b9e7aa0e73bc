// `gpool server` and the user commands that talk to it (submit, ps, show, cancel, tenants).
//
// Where the server is and which token to use: --server/--token, else $GPOOL_SERVER/$GPOOL_TOKEN,
// else ~/.gpool/config (JSON {"server": URL, "token": T}, written by `gpool up`). Exit codes: 0 ok,
// 1 the server refused or failed (its message is printed), 2 bad usage or input.
#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "agent/agent.h"
#include "agent/nvml_discovery.h"
#include "agent/cgroup.h"
#include "agent/process_runner.h"
#include "cli/commands.h"
#include "controller/api.h"
#include "controller/clock.h"
#include "controller/http_server.h"
#include "controller/job_spec.h"
#include "controller/reconciler.h"
#include "controller/token_source.h"
#include "store/kv_store.h"

namespace gpool::cli {
namespace {

using nlohmann::json;

int Fail(const std::string& message, int code = 2) {
  std::fprintf(stderr, "gpool: %s\n", message.c_str());
  return code;
}

std::string HomeDir() {
  const char* home = std::getenv("HOME");
  return home != nullptr && *home != '\0' ? home : "/root";
}

// ---- gpool server ------------------------------------------------------------------------

struct ServerArgs {
  std::string data_dir;
  std::string listen = "127.0.0.1:8470";
  double node_timeout_s = 30;
  std::string policy = "gpool";
};

// Writes `text` to a new file readable only by its owner; refuses to overwrite.
Status WritePrivateFile(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Unavailable("cannot create " + path + ": " + std::strerror(errno));
  const ssize_t n = ::write(fd, text.data(), text.size());
  const bool ok = n == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return Status::Unavailable("cannot write " + path + ": " + std::strerror(errno));
  return Status();
}

// Runs beside the server once it listens (gpool up: the local agent); returns when `stopping`.
using Companion =
    std::function<void(const std::string& url, const std::string& admin_token,
                       controller::ApiHandler& handler, const std::atomic<bool>& stopping)>;

// The reconcile loop runs a pass at most this often (and at least every second).
constexpr auto kMinPassInterval = std::chrono::milliseconds(25);

// How many store revisions of history the server keeps for watches and /v1/events.
constexpr store::Revision kKeepRevisions = 100'000;

int RunServer(const ServerArgs& args, const Companion& companion = {}) {
  const std::string dir = args.data_dir.empty() ? HomeDir() + "/.gpool/data" : args.data_dir;
  auto listen = controller::ParseListenAddress(args.listen);
  if (!listen.ok()) return Fail(listen.status().message());
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Fail("cannot create the data directory " + dir + ": " + ec.message(), 1);
  ::chmod(dir.c_str(), 0700);  // the state and the admin token are the pool's keys
  // One server per data directory: the lock is held until the process exits.
  const std::string lock_path = dir + "/server.lock";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    return Fail("another gpool server is using " + dir + " (" + lock_path + " is locked)", 1);
  }
  auto store = store::OpenSqliteStore(dir + "/state.db");
  if (!store.ok()) return Fail(store.status().message(), 1);
  controller::SystemClock clock;
  controller::UrandomTokenSource tokens;
  controller::LogStore logs(dir + "/logs");
  controller::ApiHandler handler(**store, clock, tokens, &logs);
  auto admin = handler.Bootstrap();
  if (!admin.ok()) return Fail(admin.status().message(), 1);
  const std::string token_path = dir + "/admin.token";
  if (admin->has_value()) {
    // First start: the only copy of the admin token goes to a 0600 file.
    std::filesystem::remove(token_path, ec);
    if (Status s = WritePrivateFile(token_path, **admin + "\n"); !s.ok()) {
      return Fail(s.message(), 1);
    }
  }
  // SIGINT/SIGTERM stop the server from a thread of their own (blocked everywhere else).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  controller::HttpServer server(handler);
  auto port = server.Bind(listen->first, listen->second);
  if (!port.ok()) return Fail(port.status().message(), 1);
  std::printf("gpool server: listening on http://%s:%d, state in %s/state.db\n",
              listen->first.c_str(), *port, dir.c_str());
  std::printf("gpool server: admin token in %s%s\n", token_path.c_str(),
              admin->has_value() ? " (created now)" : "");
  std::fflush(stdout);
  std::string admin_token;
  if (admin->has_value()) {
    admin_token = **admin;
  } else {
    std::ifstream in(token_path);
    in >> admin_token;
  }
  // The reconcile loop: a pass whenever the store changes, and at least every second (node
  // liveness needs the clock to move even when nothing is written).
  std::atomic<bool> stopping{false};
  std::thread reconciler([&] {
    controller::ReconcileConfig rc;
    rc.node_timeout_s = args.node_timeout_s;
    rc.policy = args.policy;
    store::Revision seen = -1;
    double last_compaction = clock.NowSeconds();
    while (!stopping.load()) {
      const auto pass_start = std::chrono::steady_clock::now();
      Result<controller::ReconcileReport> report = Status::Internal("not run");
      try {
        report = controller::ReconcileOnce(**store, clock.NowSeconds(), rc, &handler.index(),
                                           &handler.liveness());
      } catch (const std::exception& e) {
        // A record the pass could not read is a bug to fix, never a reason to stop serving.
        report = Status::Internal(std::string("reconcile pass failed: ") + e.what());
      }
      const double pass_s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - pass_start).count();
      if (report.ok()) {
        handler.metrics().RecordPass(pass_s, report->bound, report->conflicts,
                                     report->nodes_lost_now, report->requeued, report->timed_out,
                                     report->queue_wait_s);
      } else {
        handler.metrics().RecordFailedPass(pass_s);
      }
      if (!report.ok()) {
        std::fprintf(stderr, "gpool server: reconcile: %s\n", report.status().message().c_str());
      } else {
        if (report->bound > 0 || report->nodes_lost_now > 0 || report->requeued > 0 ||
            report->timed_out > 0) {
          std::printf("gpool server: bound %d, nodes lost %d, requeued %d, timed out %d, "
                      "pending %d\n",
                      report->bound, report->nodes_lost_now, report->requeued, report->timed_out,
                      report->pending - report->bound);
          std::fflush(stdout);
        }
        seen = report->revision;
      }
      // The event log (watches, /v1/events) keeps the last kKeepRevisions changes.
      if (clock.NowSeconds() - last_compaction > 60) {
        last_compaction = clock.NowSeconds();
        const store::Revision upto = (*store)->CurrentRevision() - kKeepRevisions;
        if (upto > (*store)->CompactedRevision()) {
          if (Status s = (*store)->Compact(upto); !s.ok()) {
            std::fprintf(stderr, "gpool server: compaction: %s\n", s.message().c_str());
          }
        }
      }
      (*store)->WaitForChange(seen, std::chrono::milliseconds(1000));
      // At most one pass per kMinPassInterval: under a burst of changes, one pass takes them
      // all (each pass reads the nodes and decides the whole queue).
      std::this_thread::sleep_until(pass_start + kMinPassInterval);
    }
  });
  std::thread companion_thread;
  if (companion) {
    const std::string host = listen->first == "0.0.0.0" ? "127.0.0.1" : listen->first;
    const std::string url = "http://" + host + ":" + std::to_string(*port);
    companion_thread = std::thread([&, url] { companion(url, admin_token, handler, stopping); });
  }
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    stopping.store(true);  // the companion first: the agent stops its workloads
    std::printf("gpool server: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    std::fflush(stdout);
    server.Stop();
  });
  server.Serve();
  // Serve returned without a signal (e.g. a fatal socket error): wake the stopper.
  ::kill(::getpid(), SIGTERM);
  stopper.join();
  stopping.store(true);
  if (companion_thread.joinable()) companion_thread.join();
  reconciler.join();
  return 0;
}

// ---- the client ----------------------------------------------------------------------------

struct ClientArgs {
  std::string server;
  std::string token;
  std::string output = "table";  // or json
};

struct Endpoint {
  std::string server;
  std::string token;
};

Result<Endpoint> ResolveEndpoint(const ClientArgs& args) {
  Endpoint e{args.server, args.token};
  if (e.server.empty()) {
    if (const char* v = std::getenv("GPOOL_SERVER"); v != nullptr) e.server = v;
  }
  if (e.token.empty()) {
    if (const char* v = std::getenv("GPOOL_TOKEN"); v != nullptr) e.token = v;
  }
  if (e.server.empty() || e.token.empty()) {
    const std::string path = HomeDir() + "/.gpool/config";
    std::ifstream in(path);
    if (in) {
      try {
        const json config = json::parse(in);
        if (e.server.empty()) e.server = config.value("server", "");
        if (e.token.empty()) e.token = config.value("token", "");
      } catch (const json::exception& ex) {
        return Status::InvalidArgument(path + ": not valid JSON: " + ex.what());
      }
    }
  }
  if (e.server.empty()) {
    return Status::InvalidArgument(
        "no server: pass --server URL, set GPOOL_SERVER, or run `gpool up`");
  }
  if (e.token.empty()) {
    return Status::InvalidArgument("no token: pass --token T, set GPOOL_TOKEN, or run `gpool up`");
  }
  return e;
}

struct Reply {
  int status = 0;
  json body;
};

Result<Reply> Call(const Endpoint& e, const std::string& method, const std::string& path,
                   const json* body = nullptr) {
  httplib::Client client(e.server);
  client.set_tcp_nodelay(true);
  client.set_connection_timeout(5);
  client.set_read_timeout(30);
  const httplib::Headers headers = {{"Authorization", "Bearer " + e.token}};
  httplib::Result r =
      method == "GET"
          ? client.Get(path, headers)
          : client.Post(path, headers, body != nullptr ? body->dump() : "{}", "application/json");
  if (!r) {
    return Status::Unavailable("cannot reach the gpool server at " + e.server + ": " +
                               httplib::to_string(r.error()));
  }
  Reply reply;
  reply.status = r->status;
  try {
    reply.body = r->body.empty() ? json() : json::parse(r->body);
  } catch (const json::exception&) {
    reply.body = r->body;
  }
  return reply;
}

// Prints the server's error and returns 1 (2 for a request the server judged malformed).
int ServerError(const Reply& r) {
  std::string message = "the server answered " + std::to_string(r.status);
  if (r.body.is_object() && r.body.contains("error")) {
    message = r.body["error"].value("message", message);
  }
  std::fprintf(stderr, "gpool: %s\n", message.c_str());
  return r.status == 400 ? 2 : 1;
}

std::string When(double unix_s) {
  if (unix_s <= 0) return "-";
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string GpuText(const json& spec) {
  const json res = spec.value("resources", json::object());
  if (!res.contains("gpus")) return "-";
  const json& g = res["gpus"];
  if (g.contains("share")) return g["share"].value("compute", std::string("?")) + " share";
  if (g.contains("mig"))
    return std::to_string(g.value("count", 1)) + "x mig " + g["mig"].get<std::string>();
  return std::to_string(g.value("count", 0)) + " whole";
}

void PrintWorkloads(const json& list) {
  std::printf("%-8s %-10s %-24s %-11s %-12s %s\n", "ID", "TENANT", "NAME", "STATE", "GPUS",
              "SUBMITTED (UTC)");
  for (const json& w : list) {
    const json spec = w.value("spec", json::object());
    std::printf("%-8s %-10s %-24s %-11s %-12s %s\n", w["id"].dump().c_str(),
                w.value("tenant", std::string("")).c_str(),
                spec.value("name", std::string("")).c_str(),
                w.value("state", std::string("")).c_str(), GpuText(spec).c_str(),
                When(w.value("submitted_at", 0.0)).c_str());
  }
}

int RunSubmit(const ClientArgs& args, const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Fail("cannot read " + file + ": " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  // Checked here first, so errors name the file, line and field before anything is sent.
  auto spec = controller::ParseJobSpecYaml(ss.str(), file);
  if (!spec.ok()) return Fail(spec.status().message());
  auto e = ResolveEndpoint(args);
  if (!e.ok()) return Fail(e.status().message());
  const json body = controller::JobSpecToJson(*spec);
  auto r = Call(*e, "POST", "/v1/workloads", &body);
  if (!r.ok()) return Fail(r.status().message(), 1);
  if (r->status != 201) return ServerError(*r);
  if (args.output == "json") {
    std::printf("%s\n", r->body.dump(2).c_str());
  } else {
    std::printf("submitted %s as workload %s (tenant %s)\n", spec->name.c_str(),
                r->body.value("id", json()).dump().c_str(),
                r->body.value("tenant", std::string("?")).c_str());
  }
  return 0;
}

int RunList(const ClientArgs& args, const std::string& state) {
  auto e = ResolveEndpoint(args);
  if (!e.ok()) return Fail(e.status().message());
  auto r = Call(*e, "GET", state.empty() ? "/v1/workloads" : "/v1/workloads?state=" + state);
  if (!r.ok()) return Fail(r.status().message(), 1);
  if (r->status != 200) return ServerError(*r);
  const json list = r->body.is_object() ? r->body.value("workloads", json::array()) : r->body;
  if (args.output == "json") {
    std::printf("%s\n", list.dump(2).c_str());
  } else {
    PrintWorkloads(list);
  }
  return 0;
}

int RunShow(const ClientArgs& args, const std::string& id) {
  auto e = ResolveEndpoint(args);
  if (!e.ok()) return Fail(e.status().message());
  auto r = Call(*e, "GET", "/v1/workloads/" + id);
  if (!r.ok()) return Fail(r.status().message(), 1);
  if (r->status != 200) return ServerError(*r);
  std::printf("%s\n", r->body.dump(2).c_str());
  return 0;
}

int RunCancel(const ClientArgs& args, const std::string& id) {
  auto e = ResolveEndpoint(args);
  if (!e.ok()) return Fail(e.status().message());
  auto r = Call(*e, "POST", "/v1/workloads/" + id + "/cancel");
  if (!r.ok()) return Fail(r.status().message(), 1);
  if (r->status != 200) return ServerError(*r);
  std::printf("cancelled workload %s\n", id.c_str());
  return 0;
}

int RunNodes(const ClientArgs& args) {
  auto e = ResolveEndpoint(args);
  if (!e.ok()) return Fail(e.status().message());
  auto r = Call(*e, "GET", "/v1/nodes");
  if (!r.ok()) return Fail(r.status().message(), 1);
  if (r->status != 200) return ServerError(*r);
  const json list = r->body.is_object() ? r->body.value("nodes", json::array()) : r->body;
  if (args.output == "json") {
    std::printf("%s\n", list.dump(2).c_str());
    return 0;
  }
  std::printf("%-20s %-6s %5s %-12s %8s %10s  %s\n", "NODE", "STATE", "GPUS", "MODEL", "CPU",
              "MEMORY", "LAST HEARTBEAT (UTC)");
  for (const json& n : list) {
    const bool simulated = n.value("simulated", false);
    std::printf("%-20s %-6s %5d %-12s %8.1f %8.0fGi  %s%s\n",
                n.value("name", std::string("")).c_str(), n.value("state", std::string("")).c_str(),
                n.value("gpus", 0), n.value("model", std::string("-")).c_str(),
                n.value("cpu_milli", 0) / 1000.0, n.value("memory_mib", 0) / 1024.0,
                When(n.value("last_heartbeat", 0.0)).c_str(),
                simulated ? "  (simulated devices)" : "");
  }
  return 0;
}

int RunTenants(const ClientArgs& args) {
  auto e = ResolveEndpoint(args);
  if (!e.ok()) return Fail(e.status().message());
  auto r = Call(*e, "GET", "/v1/tenants");
  if (!r.ok()) return Fail(r.status().message(), 1);
  if (r->status != 200) return ServerError(*r);
  const json list = r->body.is_object() ? r->body.value("tenants", json::array()) : r->body;
  if (args.output == "json") {
    std::printf("%s\n", list.dump(2).c_str());
    return 0;
  }
  std::printf("%-16s %11s %8s\n", "TENANT", "GUARANTEED", "BORROW");
  for (const json& t : list) {
    std::printf("%-16s %11s %8s\n", t.value("name", std::string("")).c_str(),
                t.value("guaranteed_gpus", json(0)).dump().c_str(),
                t.value("borrow_gpus", json(0)).dump().c_str());
  }
  return 0;
}

// gpool logs ID [-f] [--stderr]: the output of the workload's latest run (or --epoch), from the
// server; with -f, follows it until the run is over.
int RunLogs(const ClientArgs& args, const std::string& id, bool follow, bool stderr_stream,
            int epoch) {
  auto e = ResolveEndpoint(args);
  if (!e.ok()) return Fail(e.status().message());
  std::int64_t offset = 0;
  const std::string stream = stderr_stream ? "stderr" : "stdout";
  int shown_epoch = epoch;
  for (;;) {
    std::string path = "/v1/workloads/" + id + "/logs?stream=" + stream +
                       "&offset=" + std::to_string(offset);
    if (shown_epoch > 0) path += "&epoch=" + std::to_string(shown_epoch);
    auto r = Call(*e, "GET", path);
    if (!r.ok()) return Fail(r.status().message(), 1);
    if (r->status != 200) return ServerError(*r);
    const json& chunk = r->body;
    const int chunk_epoch = chunk.value("epoch", 0);
    if (shown_epoch == 0) shown_epoch = chunk_epoch;
    const std::string data = chunk.value("data", std::string());
    std::fwrite(data.data(), 1, data.size(), stdout);
    std::fflush(stdout);
    offset = chunk.value("next_offset", offset + static_cast<std::int64_t>(data.size()));
    if (offset < chunk.value("size", std::int64_t{0})) continue;  // more to read now
    if (!follow || chunk.value("finished", false)) break;
    const int current = chunk.value("current_epoch", chunk_epoch);
    if (current > shown_epoch) {
      if (epoch != 0) break;  // the run asked for is over: a newer one exists
      // Following the latest run: the workload runs again (moved or requeued); switch to it.
      shown_epoch = current;
      offset = 0;
      std::fprintf(stderr, "gpool logs: workload %s runs again (epoch %d)\n", id.c_str(), current);
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return 0;
}

// gpool top: the pool at a glance — nodes and GPUs (admin), workloads by state, each tenant's
// use against its quota, and the oldest waiting workloads.
int RunTop(const ClientArgs& args) {
  auto e = ResolveEndpoint(args);
  if (!e.ok()) return Fail(e.status().message());
  auto wr = Call(*e, "GET", "/v1/workloads");
  if (!wr.ok()) return Fail(wr.status().message(), 1);
  if (wr->status != 200) return ServerError(*wr);
  auto tr = Call(*e, "GET", "/v1/tenants");
  if (!tr.ok()) return Fail(tr.status().message(), 1);
  if (tr->status != 200) return ServerError(*tr);
  auto nr = Call(*e, "GET", "/v1/nodes");  // 403 for a tenant token: no node section
  if (!nr.ok()) return Fail(nr.status().message(), 1);
  const json workloads = wr->body.value("workloads", json::array());
  const json tenants = tr->body.value("tenants", json::array());
  const bool admin = nr->status == 200;
  const json nodes = admin ? nr->body.value("nodes", json::array()) : json::array();

  std::map<std::string, int> by_state;
  std::map<std::string, std::int64_t> tenant_milli;  // GPUs held by running/assigned work
  std::map<std::string, int> tenant_running, tenant_pending;
  std::map<std::string, std::int64_t> node_milli;
  std::vector<const json*> waiting;
  for (const json& w : workloads) {
    const std::string state = w.value("state", std::string());
    const std::string tenant = w.value("tenant", std::string());
    ++by_state[state];
    if (state == "pending") {
      ++tenant_pending[tenant];
      waiting.push_back(&w);
    }
    const bool holds = state == "assigned" || state == "running" || w.value("releasing", false);
    if (!holds) continue;
    if (state == "assigned" || state == "running") ++tenant_running[tenant];
    for (const json& b : w.value("bindings", json::array())) {
      std::int64_t milli = 0;
      for (const json& sl : b.value("slices", json::array())) milli += sl.value("milli", 0);
      node_milli[b.value("node", std::string())] += milli;
      if (state == "assigned" || state == "running") tenant_milli[tenant] += milli;
    }
  }
  std::sort(waiting.begin(), waiting.end(), [](const json* a, const json* b) {
    return a->value("submitted_at", 0.0) < b->value("submitted_at", 0.0);
  });
  std::int64_t gpus = 0, used = 0;
  int ready = 0, lost = 0;
  bool simulated = false;
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> by_model;  // model -> total, used
  for (const json& n : nodes) {
    const bool up = n.value("state", std::string()) == "ready";
    (up ? ready : lost)++;
    simulated = simulated || n.value("simulated", false);
    if (!up) continue;
    const std::int64_t g = n.value("gpus", 0);
    const std::int64_t u = node_milli[n.value("name", std::string())];
    gpus += g;
    used += u;
    auto& m = by_model[n.value("model", std::string("-"))];
    m.first += g;
    m.second += u;
  }
  if (args.output == "json") {
    json out = {{"workloads", by_state}, {"tenants", json::array()}};
    if (admin) {
      out["nodes"] = {{"ready", ready}, {"lost", lost}, {"simulated", simulated}};
      out["gpus"] = {{"total", gpus}, {"allocated", static_cast<double>(used) / 1000}};
    }
    for (const json& t : tenants) {
      const std::string name = t.value("name", std::string());
      out["tenants"].push_back({{"name", name},
                                {"guaranteed_gpus", t.value("guaranteed_gpus", 0)},
                                {"borrow_gpus", t.value("borrow_gpus", 0)},
                                {"gpus_in_use", static_cast<double>(tenant_milli[name]) / 1000},
                                {"running", tenant_running[name]},
                                {"pending", tenant_pending[name]}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  if (admin) {
    std::printf("NODES   %d ready, %d lost%s\n", ready, lost,
                simulated ? "   (SIMULATED devices on some nodes: no real GPU behind them)" : "");
    std::printf("GPUS    %.1f of %lld allocated (%.0f%%)\n", used / 1000.0,
                static_cast<long long>(gpus), gpus > 0 ? 100.0 * used / (1000.0 * gpus) : 0.0);
    for (const auto& [model, tu] : by_model) {
      std::printf("        %-12s %6.1f / %lld\n", model.c_str(), tu.second / 1000.0,
                  static_cast<long long>(tu.first));
    }
  }
  std::printf("JOBS   ");
  for (const char* st : {"pending", "assigned", "running", "succeeded", "failed", "cancelled"}) {
    std::printf(" %s %d ", st, by_state[st]);
  }
  std::printf("\n\n%-16s %11s %7s %10s %8s %8s\n", "TENANT", "GUARANTEED", "BORROW", "GPUS USED",
              "RUNNING", "PENDING");
  for (const json& t : tenants) {
    const std::string name = t.value("name", std::string());
    std::printf("%-16s %11d %7d %10.1f %8d %8d\n", name.c_str(), t.value("guaranteed_gpus", 0),
                t.value("borrow_gpus", 0), tenant_milli[name] / 1000.0, tenant_running[name],
                tenant_pending[name]);
  }
  if (!waiting.empty()) {
    std::printf("\nOLDEST WAITING\n");
    json shown = json::array();
    for (std::size_t i = 0; i < waiting.size() && i < 5; ++i) shown.push_back(*waiting[i]);
    PrintWorkloads(shown);
  }
  return 0;
}

int RunTenantCreate(const ClientArgs& args, const std::string& name, int guaranteed, int borrow) {
  auto e = ResolveEndpoint(args);
  if (!e.ok()) return Fail(e.status().message());
  const json body = {{"name", name}, {"guaranteed_gpus", guaranteed}, {"borrow_gpus", borrow}};
  auto r = Call(*e, "POST", "/v1/tenants", &body);
  if (!r.ok()) return Fail(r.status().message(), 1);
  if (r->status != 201) return ServerError(*r);
  if (args.output == "json") {
    std::printf("%s\n", r->body.dump(2).c_str());
  } else {
    std::printf("tenant %s created; its token (shown once, give it to the team):\n%s\n",
                name.c_str(), r->body.value("token", std::string("?")).c_str());
  }
  return 0;
}

void AddClientOptions(CLI::App* cmd, ClientArgs* args) {
  cmd->add_option("--server", args->server,
                  "server URL (default: $GPOOL_SERVER or ~/.gpool/config)");
  cmd->add_option("--token", args->token,
                  "bearer token (default: $GPOOL_TOKEN or ~/.gpool/config)");
  cmd->add_option("-o,--output", args->output, "table or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "json"}));
}

// ---- gpool agent ---------------------------------------------------------------------------

class HttpControlPlane final : public agent::ControlPlane {
 public:
  // Each call gives up within about `call_timeout_s` (a cut link must not hold a tick for long:
  // the agent fences by its lease).
  HttpControlPlane(const std::string& server, const std::string& token, double call_timeout_s)
      : client_(server), headers_{{"Authorization", "Bearer " + token}} {
    const auto ms = [](double s) {
      return std::chrono::milliseconds(static_cast<long>(std::max(0.1, s) * 1000));
    };
    client_.set_tcp_nodelay(true);
    client_.set_connection_timeout(ms(std::min(3.0, call_timeout_s / 2)));
    client_.set_read_timeout(ms(std::min(10.0, call_timeout_s)));
    client_.set_write_timeout(ms(std::min(10.0, call_timeout_s)));
  }
  Status Register(const agent::NodeInfo& n) override {
    node_ = n.name;  // reports name it: a gang spread over nodes ends member by member
    const json body = {{"name", n.name},
                       {"cpu_milli", n.cpu_milli},
                       {"memory_mib", n.memory_mib},
                       {"gpus", n.gpus},
                       {"simulated", n.simulated}};
    json b = body;
    if (n.gpus > 0) b["model"] = n.model;
    auto r = client_.Post("/v1/nodes", headers_, b.dump(), "application/json");
    if (!r) return Status::Unavailable("register: " + httplib::to_string(r.error()));
    if (r->status != 200) return Status::InvalidArgument("register: " + r->body);
    return Status();
  }
  Result<agent::HeartbeatReply> Heartbeat(const std::string& node) override {
    auto r = client_.Post("/v1/nodes/" + node + "/heartbeat", headers_, "", "application/json");
    if (!r) return Status::Unavailable("heartbeat: " + httplib::to_string(r.error()));
    if (r->status == 404) return Status::NotFound("node not registered");
    if (r->status != 200) return Status::Unavailable("heartbeat: " + r->body);
    const json doc = json::parse(r->body, nullptr, false);
    if (doc.is_discarded()) return Status::Unavailable("heartbeat: malformed answer");
    agent::HeartbeatReply out;
    for (const json& a : doc.value("assignments", json::array())) {
      agent::Assignment x;
      x.id = a.value("id", std::int64_t{0});
      x.epoch = a.value("epoch", 0);
      x.spec = a.value("spec", json::object());
      x.bindings = a.value("bindings", json::array());
      out.assignments.push_back(std::move(x));
    }
    for (const json& o : doc.value("stop", json::array())) {
      out.stop.push_back({o.value("id", std::int64_t{0}), o.value("epoch", 0)});
    }
    return out;
  }
  Status Report(std::int64_t id, int epoch, const std::string& state, int exit_code,
                const std::string& message) override {
    json body = {{"state", state}, {"epoch", epoch}, {"node", node_}};
    if (state == "succeeded" || state == "failed") body["exit_code"] = exit_code;
    if (!message.empty()) body["message"] = message;
    auto r = client_.Post("/v1/workloads/" + std::to_string(id) + "/status", headers_, body.dump(),
                          "application/json");
    if (!r) return Status::Unavailable("report: " + httplib::to_string(r.error()));
    if (r->status == 409) return Status::Conflict(r->body);
    if (r->status != 200) return Status::Unavailable("report: " + r->body);
    return Status();
  }
  Result<std::int64_t> AppendLog(std::int64_t id, int epoch, const std::string& stream,
                                 std::int64_t offset, const std::string& data) override {
    const std::string path = "/v1/workloads/" + std::to_string(id) + "/logs?stream=" + stream +
                             "&epoch=" + std::to_string(epoch) +
                             "&offset=" + std::to_string(offset);
    auto r = client_.Post(path, headers_, data, "application/octet-stream");
    if (!r) return Status::Unavailable("logs: " + httplib::to_string(r.error()));
    if (r->status != 200 && r->status != 409) return Status::Unavailable("logs: " + r->body);
    const json doc = json::parse(r->body, nullptr, false);
    if (doc.is_discarded() || !doc.contains("size")) return Status::Unavailable("logs: " + r->body);
    return doc["size"].get<std::int64_t>();
  }

 private:
  httplib::Client client_;
  httplib::Headers headers_;
  std::string node_;
};

struct AgentArgs {
  std::string devices;  // YAML {gpus, model, cpu?, memory?}; default 8 simulated H100s
  std::string name;
  std::string log_dir;
  std::string journal;  // default: journal.jsonl beside the log directory
  double interval_s = 1;
  double lease_s = 20;  // below the server's default --node-timeout (30): fenced before moved
};

Result<agent::NodeInfo> LocalNode(const AgentArgs& args) {
  agent::NodeInfo n;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::string name = args.name.empty() ? host : args.name;
  for (char& c : name) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '-';
  }
  n.name = name.empty() ? "node" : name;
  n.cpu_milli = 1000 * static_cast<std::int64_t>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)));
  n.memory_mib = static_cast<std::int64_t>(::sysconf(_SC_PHYS_PAGES)) *
                 static_cast<std::int64_t>(::sysconf(_SC_PAGESIZE)) / (1024 * 1024);
  // Without a devices file: the NVIDIA GPUs NVML finds; with none, 8 simulated H100s.
  n.gpus = 8;
  n.model = "H100-80GB";
  n.simulated = true;
  if (args.devices.empty()) {
    agent::DlopenNvml nvml;
    auto found = agent::DiscoverNvidiaGpus(nvml);
    if (!found.ok()) return found.status();
    if (found->has_value()) {
      n.gpus = (*found)->count();
      n.model = (*found)->model;
      n.simulated = false;
    }
  } else {
    std::ifstream in(args.devices);
    if (!in) return Status::InvalidArgument("cannot read " + args.devices);
    std::stringstream ss;
    ss << in.rdbuf();
    auto doc = controller::YamlToJson(ss.str(), args.devices);
    if (!doc.ok()) return doc.status();
    if (!doc->is_object()) return Status::InvalidArgument(args.devices + ": expected a mapping");
    n.gpus = doc->value("gpus", 0);
    n.model = doc->value("model", std::string("H100-80GB"));
    if (doc->contains("cpu")) {
      auto cpu = controller::ParseCpu((*doc)["cpu"], args.devices + ": cpu");
      if (!cpu.ok()) return cpu.status();
      n.cpu_milli = *cpu;
    }
    if (doc->contains("memory")) {
      auto mem = controller::ParseMemory((*doc)["memory"], args.devices + ": memory");
      if (!mem.ok()) return mem.status();
      n.memory_mib = *mem;
    }
  }
  return n;
}

// Registers, then ticks every interval until `stopping`; stops every workload on the way out.
int RunAgentLoop(const AgentArgs& args, const std::string& server, const std::string& token,
                 const std::atomic<bool>& stopping) {
  auto node = LocalNode(args);
  if (!node.ok()) return Fail(node.status().message());
  const std::string log_dir =
      args.log_dir.empty() ? HomeDir() + "/.gpool/agent/logs" : args.log_dir;
  std::error_code ec;
  std::filesystem::create_directories(log_dir, ec);
  if (ec) return Fail("cannot create " + log_dir + ": " + ec.message(), 1);
  auto cgroups = agent::DetectCgroups();
  if (!cgroups.ok()) return Fail(cgroups.status().message(), 1);
  agent::ProcessRunner runner(cgroups->get());
  if (!runner.cgroup_warning().empty()) {
    std::printf("gpool agent: warning: %s\n", runner.cgroup_warning().c_str());
  }
  HttpControlPlane control(server, token, args.lease_s / 4);
  agent::AgentConfig config;
  config.node = *node;
  config.log_dir = log_dir;
  config.lease_s = args.lease_s;
  config.clock = [] { return controller::SystemClock().NowSeconds(); };
  config.journal_path = args.journal.empty()
                            ? (std::filesystem::path(log_dir).parent_path() / "journal.jsonl").string()
                            : args.journal;
  agent::Agent agent(config, control, runner);
  std::printf("gpool agent: node %s, %d %s GPU(s)%s, %.1f cores, %lld MiB, logs in %s\n",
              node->name.c_str(), node->gpus, node->model.c_str(),
              node->simulated ? " (SIMULATED devices: no GPU is used)" : "",
              node->cpu_milli / 1000.0, static_cast<long long>(node->memory_mib), log_dir.c_str());
  std::fflush(stdout);
  while (!stopping.load()) {
    if (Status s = agent.Start(); s.ok())
      break;
    else
      std::fprintf(stderr, "gpool agent: %s; retrying\n", s.message().c_str());
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  controller::SystemClock clock;
  while (!stopping.load()) {
    for (const std::string& line : agent.Tick(clock.NowSeconds())) {
      std::printf("gpool agent: %s\n", line.c_str());
      std::fflush(stdout);
    }
    for (int i = 0; i < static_cast<int>(args.interval_s * 20) && !stopping.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  agent.StopAll("the agent stopped", clock.NowSeconds());
  return 0;
}

int RunAgent(const AgentArgs& args, const ClientArgs& client) {
  auto e = ResolveEndpoint(client);
  if (!e.ok()) return Fail(e.status().message());
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::atomic<bool> stopping{false};
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    stopping.store(true);
  });
  const int rc = RunAgentLoop(args, e->server, e->token, stopping);
  if (!stopping.load()) ::kill(::getpid(), SIGTERM);
  stopper.join();
  return rc;
}

// ---- gpool up ------------------------------------------------------------------------------

int RunUp(const ServerArgs& server_args, const AgentArgs& agent_args) {
  return RunServer(server_args, [&](const std::string& url, const std::string& admin,
                                    controller::ApiHandler& handler,
                                    const std::atomic<bool>& stopping) {
    // One tenant for a single-user pool, and the CLI's config.
    controller::HttpRequest create;
    create.method = "POST";
    create.path = "/v1/tenants";
    create.headers["authorization"] = "Bearer " + admin;
    create.body = R"({"name":"default"})";
    (void)handler.Handle(create);  // 409 when it exists
    std::error_code ec;
    std::filesystem::create_directories(HomeDir() + "/.gpool", ec);
    const std::string config_path = HomeDir() + "/.gpool/config";
    std::filesystem::remove(config_path, ec);
    if (Status s =
            WritePrivateFile(config_path, json{{"server", url}, {"token", admin}}.dump(2) + "\n");
        !s.ok()) {
      std::fprintf(stderr, "gpool up: %s\n", s.message().c_str());
    } else {
      std::printf("gpool up: ready at %s; %s lets gpool submit/ps/logs work without flags\n",
                  url.c_str(), config_path.c_str());
    }
    std::fflush(stdout);
    (void)RunAgentLoop(agent_args, url, admin, stopping);
  });
}

}  // namespace

void AddPoolCommands(CLI::App& app, int* exit_code) {
  auto srv = std::make_shared<ServerArgs>();
  CLI::App* server = app.add_subcommand(
      "server", "Run the controller: the REST API under /v1 with its state in a SQLite file");
  server->add_option("--data-dir", srv->data_dir,
                     "where state.db and admin.token live (default ~/.gpool/data)");
  server->add_option("--listen", srv->listen, "HOST:PORT to serve on")->capture_default_str();
  server
      ->add_option("--node-timeout", srv->node_timeout_s,
                   "seconds without a heartbeat before a node is lost and its work moves")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 86400.0));
  server->add_option("--policy", srv->policy, "placement policy")->capture_default_str();
  server->callback([srv, exit_code] { *exit_code = RunServer(*srv); });

  auto up_server = std::make_shared<ServerArgs>();
  auto up_agent = std::make_shared<AgentArgs>();
  CLI::App* up = app.add_subcommand(
      "up",
      "Start a pool on this machine: the server and one local agent (simulated GPUs unless "
      "--devices says otherwise); writes ~/.gpool/config for the other commands");
  up->add_option("--data-dir", up_server->data_dir, "server state (default ~/.gpool/data)");
  up->add_option("--listen", up_server->listen, "HOST:PORT")->capture_default_str();
  up->add_option("--devices", up_agent->devices,
                 "YAML {gpus, model, cpu, memory} of SIMULATED devices for the local node "
                 "(default: the NVIDIA GPUs NVML finds; none found: 8 simulated H100)");
  up->callback([up_server, up_agent, exit_code] { *exit_code = RunUp(*up_server, *up_agent); });

  auto client = std::make_shared<ClientArgs>();
  auto file = std::make_shared<std::string>();
  CLI::App* submit =
      app.add_subcommand("submit", "Submit a job from a YAML file (docs/jobspec.md)");
  submit->add_option("file", *file, "the job spec")->required();
  AddClientOptions(submit, client.get());
  submit->callback([client, file, exit_code] { *exit_code = RunSubmit(*client, *file); });

  auto state = std::make_shared<std::string>();
  CLI::App* ps = app.add_subcommand("ps", "List workloads (yours; all of them for the admin)");
  ps->add_option("--state", *state,
                 "only this state (pending, running, succeeded, failed, cancelled)");
  AddClientOptions(ps, client.get());
  ps->callback([client, state, exit_code] { *exit_code = RunList(*client, *state); });

  auto id = std::make_shared<std::string>();
  CLI::App* show = app.add_subcommand("show", "Show one workload as JSON");
  show->add_option("id", *id, "workload id")->required();
  AddClientOptions(show, client.get());
  show->callback([client, id, exit_code] { *exit_code = RunShow(*client, *id); });

  CLI::App* cancel = app.add_subcommand("cancel", "Cancel a pending or running workload");
  cancel->add_option("id", *id, "workload id")->required();
  AddClientOptions(cancel, client.get());
  cancel->callback([client, id, exit_code] { *exit_code = RunCancel(*client, *id); });

  auto follow = std::make_shared<bool>(false);
  auto err_stream = std::make_shared<bool>(false);
  auto epoch = std::make_shared<int>(0);
  CLI::App* logs = app.add_subcommand("logs", "Print a workload's output (its latest run)");
  logs->add_option("id", *id, "workload id")->required();
  logs->add_flag("-f,--follow", *follow, "keep printing new output until the run is over");
  logs->add_flag("--stderr", *err_stream, "standard error instead of standard output");
  logs->add_option("--epoch", *epoch, "an earlier run (1 = the first); default: the latest")
      ->check(CLI::Range(1, 1 << 30));
  AddClientOptions(logs, client.get());
  logs->callback([client, id, follow, err_stream, epoch, exit_code] {
    *exit_code = RunLogs(*client, *id, *follow, *err_stream, *epoch);
  });

  CLI::App* top = app.add_subcommand(
      "top", "The pool at a glance: nodes, GPUs in use, jobs by state, tenants against quotas");
  AddClientOptions(top, client.get());
  top->callback([client, exit_code] { *exit_code = RunTop(*client); });

  CLI::App* nodes = app.add_subcommand("nodes", "List nodes, their GPUs and liveness (admin)");
  AddClientOptions(nodes, client.get());
  nodes->callback([client, exit_code] { *exit_code = RunNodes(*client); });

  auto agent_args = std::make_shared<AgentArgs>();
  CLI::App* agent_cmd = app.add_subcommand(
      "agent", "Run this machine's agent: register the node, run the workloads assigned to it");
  agent_cmd->add_option("--devices", agent_args->devices,
                        "YAML {gpus, model, cpu, memory} of SIMULATED devices (default: the NVIDIA "
                        "GPUs NVML finds; none found: 8 simulated H100)");
  agent_cmd->add_option("--name", agent_args->name, "node name (default: the hostname)");
  agent_cmd->add_option("--log-dir", agent_args->log_dir,
                        "workload logs (default ~/.gpool/agent/logs)");
  agent_cmd->add_option("--journal", agent_args->journal,
                        "the agent's record of every start and end, one JSON line each "
                        "(default: journal.jsonl beside the log directory)");
  agent_cmd->add_option("--interval", agent_args->interval_s, "seconds between heartbeats")
      ->capture_default_str()
      ->check(CLI::Range(0.05, 60.0));
  agent_cmd
      ->add_option("--lease", agent_args->lease_s,
                   "stop every workload after this long without a heartbeat (fencing); keep it "
                   "below the server's --node-timeout so work is stopped before it is moved")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 3600.0));
  AddClientOptions(agent_cmd, client.get());
  agent_cmd->callback(
      [agent_args, client, exit_code] { *exit_code = RunAgent(*agent_args, *client); });

  CLI::App* tenants = app.add_subcommand("tenants", "List tenants and their quotas");
  AddClientOptions(tenants, client.get());
  tenants->callback([client, exit_code] { *exit_code = RunTenants(*client); });

  auto tname = std::make_shared<std::string>();
  auto guaranteed = std::make_shared<int>(0);
  auto borrow = std::make_shared<int>(0);
  CLI::App* tenant = app.add_subcommand("tenant", "Manage tenants (admin)");
  tenant->require_subcommand(1);
  CLI::App* create = tenant->add_subcommand("create", "Create a tenant and print its token");
  create->add_option("name", *tname, "tenant name")->required();
  create->add_option("--guaranteed", *guaranteed, "guaranteed GPUs")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  create->add_option("--borrow", *borrow, "GPUs it may borrow beyond its guarantee")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  AddClientOptions(create, client.get());
  create->callback([client, tname, guaranteed, borrow, exit_code] {
    *exit_code = RunTenantCreate(*client, *tname, *guaranteed, *borrow);
  });
}

}  // namespace gpool::cli
