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
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

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

int RunServer(const ServerArgs& args) {
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
  controller::ApiHandler handler(**store, clock, tokens);
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
  // The reconcile loop: a pass whenever the store changes, and at least every second (node
  // liveness needs the clock to move even when nothing is written).
  std::atomic<bool> stopping{false};
  std::thread reconciler([&] {
    controller::ReconcileConfig rc;
    rc.node_timeout_s = args.node_timeout_s;
    rc.policy = args.policy;
    store::Revision seen = -1;
    while (!stopping.load()) {
      auto report = controller::ReconcileOnce(**store, clock.NowSeconds(), rc);
      if (!report.ok()) {
        std::fprintf(stderr, "gpool server: reconcile: %s\n", report.status().message().c_str());
      } else {
        if (report->bound > 0 || report->nodes_lost_now > 0 || report->requeued > 0) {
          std::printf("gpool server: bound %d, nodes lost %d, requeued %d, pending %d\n",
                      report->bound, report->nodes_lost_now, report->requeued,
                      report->pending - report->bound);
          std::fflush(stdout);
        }
        seen = report->revision;
      }
      (*store)->WaitForChange(seen, std::chrono::milliseconds(1000));
    }
  });
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::printf("gpool server: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    std::fflush(stdout);
    server.Stop();
  });
  server.Serve();
  // Serve returned without a signal (e.g. a fatal socket error): wake the stopper.
  ::kill(::getpid(), SIGTERM);
  stopper.join();
  stopping.store(true);
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

  CLI::App* nodes = app.add_subcommand("nodes", "List nodes, their GPUs and liveness (admin)");
  AddClientOptions(nodes, client.get());
  nodes->callback([client, exit_code] { *exit_code = RunNodes(*client); });

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
