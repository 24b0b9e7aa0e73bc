// `gpool ckpt serve|push|pull`: move checkpoints between stores on two machines over HTTP
// (src/ckpt/checkpoint_transfer.h), sending only the chunks the other side lacks; a transfer
// cut short and run again sends only the rest.
//
//   gpool ckpt serve --store DIR [--listen 127.0.0.1:7070] [--token-file F] [--insecure]
//   gpool ckpt push [NAME] --store DIR --to URL|DIR [--token-file F] [--no-latest] [-o json]
//   gpool ckpt pull [NAME] --from URL|DIR --store DIR [--token-file F] [--latest] [-o json]
//
// `latest`: push points the remote's `latest` at what it pushed (--no-latest: leave it); pull
// does so in the local store only when that store has no `latest` yet (--latest: always).
// Exit codes: 0 ok, 1 the transfer or the other side failed (the message names the chunk, or
// the HTTP status and URL), 2 bad usage (no such store or checkpoint, a bad URL or token file).
// Progress goes to stderr, and only when stderr is a terminal.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "ckpt/checkpoint_remote.h"
#include "ckpt/checkpoint_store.h"
#include "ckpt/checkpoint_store_api.h"
#include "ckpt/checkpoint_store_server.h"
#include "ckpt/checkpoint_transfer.h"
#include "ckpt/http_checkpoint_remote.h"
#include "cli/commands.h"
#include "core/text.h"
#include "controller/http_server.h"

namespace gpool::cli {
namespace {

using nlohmann::json;

struct TransferArgs {
  std::string store;       // the local store
  std::string other;       // push --to / pull --from: a URL or a store's folder
  std::string name;        // empty: latest
  std::string token_file;  // empty: no token
  std::string output = "table";
  int parallel = 4;
  bool no_latest = false;  // push
  bool latest = false;     // pull
};

struct ServeArgs {
  std::string store;
  std::string listen = "127.0.0.1:7070";
  std::string token_file;
  bool insecure = false;
};

int Fail(const std::string& message, int code) {
  std::fprintf(stderr, "gpool ckpt: %s\n", message.c_str());
  return code;
}


// The token in `path` (surrounding white space dropped); "" when no file is named.
Result<std::string> ReadToken(const std::string& path) {
  if (path.empty()) return std::string();
  std::ifstream in(path);
  if (!in) return Status::InvalidArgument("cannot read the token file " + path);
  std::stringstream text;
  text << in.rdbuf();
  std::string token = text.str();
  const auto first = token.find_first_not_of(" \t\r\n");
  if (first == std::string::npos)
    return Status::InvalidArgument("the token file " + path + " is empty");
  token = token.substr(first, token.find_last_not_of(" \t\r\n") - first + 1);
  return token;
}

bool IsUrl(const std::string& target) { return target.find("://") != std::string::npos; }

// The other end of a transfer: a URL, or the folder of a store on this machine (a filesystem
// two nodes share). A folder is created when `create` (the destination of a push).
struct OtherEnd {
  std::unique_ptr<ckpt::CheckpointStore> store;  // for a folder
  std::unique_ptr<ckpt::CheckpointRemote> remote;
};

Result<OtherEnd> OpenOtherEnd(const std::string& target, const std::string& token, bool create) {
  OtherEnd end;
  if (target.empty()) return Status::InvalidArgument("no URL or store folder given");
  if (IsUrl(target)) {
    auto remote = ckpt::HttpCheckpointRemote::Create(target, {.token = token});
    if (!remote.ok()) return remote.status();
    end.remote = std::move(*remote);
    return end;
  }
  // "10.0.0.2:7070" is a server without its scheme, not a folder to create.
  const std::size_t colon = target.rfind(':');
  if (target.find('/') == std::string::npos && colon != std::string::npos &&
      colon + 1 < target.size() &&
      target.find_first_not_of("0123456789", colon + 1) == std::string::npos) {
    return Status::InvalidArgument("'" + target + "' looks like HOST:PORT: write http://" + target);
  }
  std::error_code ec;
  if (!create && !std::filesystem::is_directory(target + "/manifests", ec)) {
    return Status::InvalidArgument("no checkpoint store at " + target + " (expected " + target +
                                   "/manifests)");
  }
  auto store = ckpt::CheckpointStore::Open(target);
  if (!store.ok()) return Status::InvalidArgument(store.status().message());
  end.store = std::make_unique<ckpt::CheckpointStore>(std::move(*store));
  end.remote = std::make_unique<ckpt::LocalCheckpointRemote>(*end.store);
  return end;
}

// Prints "\rpushing step-100: 12/256 chunks, 48.0 MiB sent, 200 skipped" when stderr is a
// terminal, and ends the line when it goes away.
class ProgressLine {
 public:
  explicit ProgressLine(std::string verb) : verb_(std::move(verb)), on_(::isatty(2) == 1) {}
  ~ProgressLine() {
    if (printed_) std::fputc('\n', stderr);
  }
  ckpt::TransferProgress Callback() {
    if (!on_) return {};
    return [this](const ckpt::TransferReport& r) {
      std::fprintf(stderr, "\r%s %s: %llu/%llu chunks, %s sent, %llu skipped", verb_.c_str(),
                   r.name.c_str(),
                   static_cast<unsigned long long>(r.chunks_sent + r.chunks_skipped),
                   static_cast<unsigned long long>(r.chunks_total),
                   core::HumanBytes(r.bytes_sent).c_str(),
                   static_cast<unsigned long long>(r.chunks_skipped));
      std::fflush(stderr);
      printed_ = true;
    };
  }

 private:
  std::string verb_;
  bool on_;
  bool printed_ = false;
};

int RunTransfer(const TransferArgs& args, bool push) {
  const std::string verb = push ? "push" : "pull";
  const std::string name = args.name.empty() ? std::string(ckpt::kLatest) : args.name;
  auto token = ReadToken(args.token_file);
  if (!token.ok()) return Fail(token.status().message(), 2);
  std::error_code ec;
  if (push && !std::filesystem::is_directory(args.store + "/manifests", ec)) {
    return Fail("no checkpoint store at " + args.store + " (expected " + args.store + "/manifests)",
                2);
  }
  // A pull creates its destination store when missing.
  auto local = ckpt::CheckpointStore::Open(args.store);
  if (!local.ok()) return Fail(local.status().message(), push ? 2 : 1);
  auto other = OpenOtherEnd(args.other, *token, /*create=*/push);
  if (!other.ok()) return Fail(other.status().message(), 2);

  ckpt::TransferOptions options;
  options.parallel = args.parallel;
  if (push) {
    options.set_latest = args.no_latest ? ckpt::SetLatest::kNo : ckpt::SetLatest::kYes;
  } else {
    options.set_latest = args.latest ? ckpt::SetLatest::kYes : ckpt::SetLatest::kIfNone;
  }
  Result<ckpt::TransferReport> report = Status::Internal("not run");
  {
    ProgressLine line(push ? "pushing" : "pulling");
    report = push ? ckpt::Push(*local, name, *other->remote, options, line.Callback())
                  : ckpt::Pull(*other->remote, name, *local, options, line.Callback());
  }
  const std::string where = push ? "to " + other->remote->Describe()
                                 : "from " + other->remote->Describe() + " into " + args.store;
  if (!report.ok()) {
    const Status& s = report.status();
    return Fail(verb + " " + name + " " + where + ": " + s.message(),
                s.code() == StatusCode::kNotFound ? 2 : 1);
  }
  const ckpt::TransferReport& r = *report;
  if (args.output == "json") {
    json out = {{"name", r.name},
                {push ? "to" : "from", other->remote->Describe()},
                {"chunks_total", r.chunks_total},
                {"chunks_sent", r.chunks_sent},
                {"bytes_sent", r.bytes_sent},
                {"chunks_skipped", r.chunks_skipped},
                {"latest", r.made_latest}};
    if (!push) out["store"] = args.store;
    std::printf("%s\n", out.dump(2, ' ', false, json::error_handler_t::replace).c_str());
    return 0;
  }
  std::printf("%s %s %s: %llu of %llu chunks sent (%s), %llu already there%s\n",
              push ? "pushed" : "pulled", r.name.c_str(), where.c_str(),
              static_cast<unsigned long long>(r.chunks_sent),
              static_cast<unsigned long long>(r.chunks_total),
              core::HumanBytes(r.bytes_sent).c_str(),
              static_cast<unsigned long long>(r.chunks_skipped),
              r.made_latest ? (push ? ", now latest there" : ", now latest here") : "");
  return 0;
}

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

int RunServe(const ServeArgs& args) {
  auto listen = controller::ParseListenAddress(args.listen);
  if (!listen.ok()) return Fail(listen.status().message(), 2);
  auto token = ReadToken(args.token_file);
  if (!token.ok()) return Fail(token.status().message(), 2);
  const auto& [host, port] = *listen;
  if (!IsLoopback(host) && token->empty() && !args.insecure) {
    return Fail("refusing to serve on " + host +
                    " without a token: anyone who reaches it could read and add checkpoints. "
                    "Pass --token-file F (clients pass the same file), or --insecure on a "
                    "network you trust",
                2);
  }
  std::error_code ec;
  const bool existed = std::filesystem::is_directory(args.store + "/manifests", ec);
  auto store = ckpt::CheckpointStore::Open(args.store);
  if (!store.ok()) return Fail(store.status().message(), 1);

  // SIGINT/SIGTERM stop the server from a thread of their own (blocked everywhere else,
  // including httplib's workers, which inherit this mask).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  ckpt::CheckpointStoreApi api(*store, {.token = *token});
  ckpt::CheckpointStoreServer server(api);
  auto bound = server.Bind(host, port);
  if (!bound.ok()) return Fail(bound.status().message(), 1);
  const std::string shown_host = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  std::printf("gpool ckpt serve: serving %s%s on http://%s:%d%s\n", args.store.c_str(),
              existed ? "" : " (a new, empty store)", shown_host.c_str(), *bound,
              token->empty() ? "" : " (token required)");
  std::fflush(stdout);
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::printf("gpool ckpt serve: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    std::fflush(stdout);
    server.Stop();
  });
  server.Serve();
  // Serve returned without a signal (e.g. a fatal socket error): wake the stopper.
  ::kill(::getpid(), SIGTERM);
  stopper.join();
  return 0;
}

}  // namespace

void AddCkptTransferCommands(CLI::App* ckpt, int* exit_code) {
  auto serve_args = std::make_shared<ServeArgs>();
  CLI::App* serve = ckpt->add_subcommand(
      "serve",
      "Serve a store over HTTP for push and pull from other machines (created if missing); "
      "SIGINT or SIGTERM stops it");
  serve->add_option("--store", serve_args->store, "the store's folder")->required();
  serve
      ->add_option("--listen", serve_args->listen,
                   "HOST:PORT (port 0: any free port, printed); an address other than "
                   "loopback needs --token-file or --insecure")
      ->capture_default_str();
  serve->add_option("--token-file", serve_args->token_file,
                    "every request must carry 'Authorization: Bearer <the token in this file>'");
  serve->add_flag("--insecure", serve_args->insecure,
                  "serve on a non-loopback address without a token");
  serve->callback([serve_args, exit_code] { *exit_code = RunServe(*serve_args); });

  const auto transfer = [&](const std::string& verb, bool push) {
    auto args = std::make_shared<TransferArgs>();
    CLI::App* cmd = ckpt->add_subcommand(
        verb, push ? "Send a checkpoint to another store (only the chunks it lacks) and point "
                     "its latest at it (--no-latest: leave it)"
                   : "Fetch a checkpoint from another store (only the chunks this one lacks; "
                     "the store is created if missing); it becomes latest here only if there "
                     "is none yet (--latest: always)");
    cmd->footer(
        "Each chunk is checked (size, SHA-256) by the receiving store before it is written, and "
        "the checkpoint is published there only once all its chunks are: if the transfer is cut, "
        "run it again and only the chunks still missing move. Reports chunks_total, "
        "chunks_sent, bytes_sent (compressed), chunks_skipped and latest. Exit 1: the transfer "
        "or the other side failed; 2: no such store or checkpoint, a bad URL or token file.");
    cmd->add_option("name", args->name, "checkpoint (default: latest)");
    cmd->add_option(
           "--store", args->store,
           push ? "the local store's folder" : "the local store's folder (created if missing)")
        ->required();
    cmd->add_option(push ? "--to" : "--from", args->other,
                    push ? "http://HOST:PORT of `gpool ckpt serve`, or a store's folder (created "
                           "if missing) on a filesystem both machines share"
                         : "http://HOST:PORT of `gpool ckpt serve`, or a store's folder")
        ->required();
    cmd->add_option("--token-file", args->token_file, "the server's token (see serve)");
    if (push) {
      cmd->add_flag("--no-latest", args->no_latest, "leave the remote's latest as it is");
    } else {
      cmd->add_flag("--latest", args->latest, "make it the local latest even if there is one");
    }
    cmd->add_option("--parallel", args->parallel, "chunks in flight at once")
        ->capture_default_str()
        ->check(CLI::Range(1, 16));
    cmd->add_option("-o,--output", args->output, "table or json")
        ->capture_default_str()
        ->check(CLI::IsMember({"table", "json"}));
    cmd->callback([args, push, exit_code] { *exit_code = RunTransfer(*args, push); });
  };
  transfer("push", true);
  transfer("pull", false);
}

}  // namespace gpool::cli
