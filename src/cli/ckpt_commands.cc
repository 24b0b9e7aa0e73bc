// `gpool ckpt ls|show|verify|gc --store DIR`: look after a checkpoint store (src/ckpt) from the
// shell. Exit codes: 0 ok, 1 the store is damaged or cannot be read (the message names the
// checkpoint, tensor and chunk), 2 bad usage (no such store, unknown checkpoint name).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "ckpt/checkpoint_store.h"
#include "cli/commands.h"

namespace gpool::cli {
namespace {

using nlohmann::json;

struct CkptArgs {
  std::string store;
  std::string output = "table";
  std::string name;  // empty: latest
};

int Fail(const std::string& message, int code) {
  std::fprintf(stderr, "gpool ckpt: %s\n", message.c_str());
  return code;
}

// Opens an existing store only: a typo in --store must not create an empty one.
Result<ckpt::CheckpointStore> OpenExisting(const std::string& dir) {
  std::error_code ec;
  if (dir.empty()) return Status::InvalidArgument("--store DIR is required");
  if (!std::filesystem::is_directory(dir + "/manifests", ec)) {
    return Status::InvalidArgument("no checkpoint store at " + dir +
                                   " (expected " + dir + "/manifests)");
  }
  return ckpt::CheckpointStore::Open(dir);
}

int ExitFor(const Status& s) { return s.code() == StatusCode::kNotFound ? 2 : 1; }

std::uint64_t ManifestBytes(const ckpt::CheckpointManifest& m) {
  std::uint64_t sum = 0;
  for (const auto& t : m.tensors) sum += t.size;
  return sum;
}

std::string ShapeText(const std::vector<std::int64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? "," : "") + std::to_string(shape[i]);
  return out + "]";
}

int RunLs(const CkptArgs& args) {
  auto store = OpenExisting(args.store);
  if (!store.ok()) return Fail(store.status().message(), 2);
  auto names = store->List();
  if (!names.ok()) return Fail(names.status().message(), 1);
  auto latest = store->Latest();
  const std::string latest_name = latest.ok() ? *latest : "";
  json rows = json::array();
  for (const std::string& name : *names) {
    auto m = store->ReadManifest(name);
    if (!m.ok()) return Fail(m.status().message(), 1);
    rows.push_back({{"name", name},
                    {"step", m->metadata.step},
                    {"epoch", m->metadata.epoch},
                    {"tensors", m->tensors.size()},
                    {"bytes", ManifestBytes(*m)},
                    {"latest", name == latest_name}});
  }
  if (args.output == "json") {
    std::printf("%s\n", rows.dump(2).c_str());
    return 0;
  }
  std::printf("%-32s %10s %6s %8s %14s\n", "NAME", "STEP", "EPOCH", "TENSORS", "BYTES");
  for (const json& r : rows) {
    std::printf("%-32s %10lld %6lld %8zu %14llu%s\n", r["name"].get<std::string>().c_str(),
                static_cast<long long>(r["step"].get<std::int64_t>()),
                static_cast<long long>(r["epoch"].get<std::int64_t>()),
                r["tensors"].get<std::size_t>(),
                static_cast<unsigned long long>(r["bytes"].get<std::uint64_t>()),
                r["latest"].get<bool>() ? "  (latest)" : "");
  }
  return 0;
}

int RunShow(const CkptArgs& args) {
  auto store = OpenExisting(args.store);
  if (!store.ok()) return Fail(store.status().message(), 2);
  const std::string name = args.name.empty() ? std::string(ckpt::kLatest) : args.name;
  auto m = store->ReadManifest(name);
  if (!m.ok()) return Fail(m.status().message(), ExitFor(m.status()));
  if (args.output == "json") {
    std::printf("%s\n", ckpt::ManifestToJson(*m).c_str());
    return 0;
  }
  std::printf("checkpoint %s: step %lld, epoch %lld, %zu tensors, %llu bytes, chunks of %llu\n",
              m->name.c_str(), static_cast<long long>(m->metadata.step),
              static_cast<long long>(m->metadata.epoch), m->tensors.size(),
              static_cast<unsigned long long>(ManifestBytes(*m)),
              static_cast<unsigned long long>(m->chunk_size));
  if (!m->metadata.loader_position.empty()) {
    std::printf("loader position: %s\n", m->metadata.loader_position.c_str());
  }
  for (const auto& [k, v] : m->metadata.extra) std::printf("%s: %s\n", k.c_str(), v.c_str());
  std::printf("\n%-40s %-6s %-20s %14s %7s\n", "TENSOR", "DTYPE", "SHAPE", "BYTES", "CHUNKS");
  for (const auto& t : m->tensors) {
    std::printf("%-40s %-6s %-20s %14llu %7zu\n", t.name.c_str(), ckpt::DTypeName(t.dtype),
                ShapeText(t.shape).c_str(), static_cast<unsigned long long>(t.size),
                t.chunks.size());
  }
  return 0;
}

int RunVerify(const CkptArgs& args, bool all) {
  auto store = OpenExisting(args.store);
  if (!store.ok()) return Fail(store.status().message(), 2);
  std::vector<std::string> names;
  if (all) {
    auto listed = store->List();
    if (!listed.ok()) return Fail(listed.status().message(), 1);
    names = *listed;
  } else {
    names.push_back(args.name.empty() ? std::string(ckpt::kLatest) : args.name);
  }
  int bad = 0;
  json out = json::array();
  for (const std::string& name : names) {
    const Status s = store->Verify(name);
    if (!s.ok() && s.code() == StatusCode::kNotFound && !all) return Fail(s.message(), 2);
    out.push_back({{"name", name}, {"ok", s.ok()}, {"error", s.ok() ? "" : s.message()}});
    if (args.output != "json") {
      if (s.ok()) {
        std::printf("ok      %s\n", name.c_str());
      } else {
        std::printf("DAMAGED %s: %s\n", name.c_str(), s.message().c_str());
      }
    }
    bad += s.ok() ? 0 : 1;
  }
  if (args.output == "json") std::printf("%s\n", out.dump(2).c_str());
  return bad == 0 ? 0 : 1;
}

int RunGc(const CkptArgs& args) {
  auto store = OpenExisting(args.store);
  if (!store.ok()) return Fail(store.status().message(), 2);
  auto r = store->Gc();
  if (!r.ok()) return Fail(r.status().message(), 1);
  if (args.output == "json") {
    std::printf("%s\n", json{{"chunks_removed", r->chunks_removed},
                             {"bytes_removed", r->bytes_removed},
                             {"temp_files_removed", r->temp_files_removed}}
                            .dump(2)
                            .c_str());
  } else {
    std::printf("removed %llu unreferenced chunk(s), %llu bytes, and %llu temp file(s)\n",
                static_cast<unsigned long long>(r->chunks_removed),
                static_cast<unsigned long long>(r->bytes_removed),
                static_cast<unsigned long long>(r->temp_files_removed));
  }
  return 0;
}

}  // namespace

void AddCkptCommands(CLI::App& app, int* exit_code) {
  CLI::App* ckpt = app.add_subcommand(
      "ckpt", "Look after a checkpoint store: list, show, verify, collect garbage");
  ckpt->require_subcommand(1);
  auto args = std::make_shared<CkptArgs>();
  auto all = std::make_shared<bool>(false);
  const auto common = [&](CLI::App* cmd) {
    cmd->add_option("--store", args->store, "the store's folder")->required();
    cmd->add_option("-o,--output", args->output, "table or json")
        ->capture_default_str()
        ->check(CLI::IsMember({"table", "json"}));
  };
  CLI::App* ls = ckpt->add_subcommand("ls", "List the checkpoints (step, tensors, size, latest)");
  common(ls);
  ls->callback([args, exit_code] { *exit_code = RunLs(*args); });
  CLI::App* show = ckpt->add_subcommand("show", "A checkpoint's metadata and tensors");
  show->add_option("name", args->name, "checkpoint (default: latest)");
  common(show);
  show->callback([args, exit_code] { *exit_code = RunShow(*args); });
  CLI::App* verify = ckpt->add_subcommand(
      "verify", "Read every chunk and check its SHA-256 (exit 1 and the damage named if not)");
  verify->add_option("name", args->name, "checkpoint (default: latest)");
  verify->add_flag("--all", *all, "every checkpoint in the store");
  common(verify);
  verify->callback([args, all, exit_code] { *exit_code = RunVerify(*args, *all); });
  CLI::App* gc = ckpt->add_subcommand(
      "gc", "Remove chunks no checkpoint references and leftovers of interrupted saves");
  common(gc);
  gc->callback([args, exit_code] { *exit_code = RunGc(*args); });
  AddCkptTransferCommands(ckpt, exit_code);
}

}  // namespace gpool::cli
