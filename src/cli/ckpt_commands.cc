// `gpool ckpt ls|show|verify|gc|export|import --store DIR`: look after a checkpoint store
// (src/ckpt) from the shell, and move checkpoints to and from safetensors files
// (ckpt/safetensors.h). Exit codes: 0 ok, 1 the store is damaged or cannot be read or written
// (the message names the checkpoint, tensor and chunk, or the path), 2 bad usage (no such store,
// unknown checkpoint name, a malformed safetensors file). Progress goes to stderr, and only when
// stderr is a terminal.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "ckpt/checkpoint_store.h"
#include "ckpt/safetensors.h"
#include "cli/commands.h"
#include "core/text.h"

namespace gpool::cli {
namespace {

using nlohmann::json;

struct CkptArgs {
  std::string store;
  std::string output = "table";
  std::string name;         // empty: latest
  std::string out;          // export: the safetensors file written
  std::string file;         // import: the safetensors file read
  std::string import_name;  // import --name; empty: from the file's name
};

int Fail(const std::string& message, int code) {
  std::fprintf(stderr, "gpool ckpt: %s\n", message.c_str());
  return code;
}

// Opens an existing store only: a typo in --store must not create an empty one.
Result<ckpt::CheckpointStore> OpenExisting(const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("--store DIR is required");
  return ckpt::CheckpointStore::OpenExisting(dir);
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


// The name import gives a checkpoint read from `path`: the file's name without its extension,
// each character outside [A-Za-z0-9._-] replaced by '_', leading dots dropped, at most 200
// characters; "imported" if nothing is left, "imported-latest" for the reserved "latest".
std::string CheckpointNameFromFile(const std::string& path) {
  std::string name = std::filesystem::path(path).stem().string();
  for (char& c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  name.erase(0, name.find_first_not_of('.'));
  if (name.size() > 200) name.resize(200);
  if (name.empty()) return "imported";
  if (name == ckpt::kLatest) return "imported-latest";
  return name;
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
    std::printf("%s\n", rows.dump(2, ' ', false, json::error_handler_t::replace).c_str());
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
  if (args.output == "json") std::printf("%s\n", out.dump(2, ' ', false, json::error_handler_t::replace).c_str());
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
                            .dump(2, ' ', false, json::error_handler_t::replace)
                            .c_str());
  } else {
    std::printf("removed %llu unreferenced chunk(s), %llu bytes, and %llu temp file(s)\n",
                static_cast<unsigned long long>(r->chunks_removed),
                static_cast<unsigned long long>(r->bytes_removed),
                static_cast<unsigned long long>(r->temp_files_removed));
  }
  return 0;
}

int RunExport(const CkptArgs& args) {
  auto store = OpenExisting(args.store);
  if (!store.ok()) return Fail(store.status().message(), 2);
  std::string name = args.name;
  if (name.empty() || name == ckpt::kLatest) {
    auto latest = store->Latest();
    if (!latest.ok()) return Fail(latest.status().message(), ExitFor(latest.status()));
    name = *latest;
  }
  const bool tty = isatty(STDERR_FILENO) != 0;
  if (tty) std::fprintf(stderr, "loading %s...\n", name.c_str());
  // The store loads a whole checkpoint; the export then streams it tensor by tensor.
  auto checkpoint = store->Load(name);
  if (!checkpoint.ok()) return Fail(checkpoint.status().message(), ExitFor(checkpoint.status()));
  ckpt::ExportProgressFn progress;
  if (tty) {
    progress = [](const ckpt::ExportProgress& p) {
      std::fprintf(stderr, "\rexporting %zu/%zu tensors, %s/%s\033[K", p.tensors_done,
                   p.tensors_total, core::HumanBytes(p.bytes_done).c_str(),
                   core::HumanBytes(p.bytes_total).c_str());
    };
  }
  auto file_bytes = ckpt::WriteSafetensorsFile(*checkpoint, args.out, progress);
  if (tty) std::fprintf(stderr, "\n");
  if (!file_bytes.ok()) {
    // InvalidArgument: this checkpoint or path cannot be written as asked; else the disk failed.
    return Fail(file_bytes.status().message(),
                file_bytes.status().code() == StatusCode::kInvalidArgument ? 2 : 1);
  }
  std::uint64_t bytes_total = 0;
  for (const ckpt::Tensor& t : checkpoint->tensors) bytes_total += t.bytes.size();
  if (args.output == "json") {
    std::printf("%s\n", json{{"name", name},
                             {"file", args.out},
                             {"step", checkpoint->metadata.step},
                             {"tensors", checkpoint->tensors.size()},
                             {"bytes_total", bytes_total},
                             {"file_bytes", *file_bytes}}
                            .dump(2, ' ', false, json::error_handler_t::replace)
                            .c_str());
  } else {
    std::printf(
        "exported %s (step %lld) to %s: %zu tensors, %llu bytes of data, a file of %llu "
        "bytes\n",
        name.c_str(), static_cast<long long>(checkpoint->metadata.step), args.out.c_str(),
        checkpoint->tensors.size(), static_cast<unsigned long long>(bytes_total),
        static_cast<unsigned long long>(*file_bytes));
  }
  return 0;
}

int RunImport(const CkptArgs& args) {
  const bool tty = isatty(STDERR_FILENO) != 0;
  if (tty) std::fprintf(stderr, "reading %s...\n", args.file.c_str());
  // The whole checkpoint is held in memory; the file's header is validated before its data is
  // read, and a bad file creates no store.
  auto checkpoint = ckpt::ReadSafetensorsFile(args.file);
  if (!checkpoint.ok()) {
    return Fail(checkpoint.status().message(),
                checkpoint.status().code() == StatusCode::kUnavailable ? 1 : 2);
  }
  const std::string name =
      args.import_name.empty() ? CheckpointNameFromFile(args.file) : args.import_name;
  if (Status s = ckpt::ValidateCheckpointName(name); !s.ok()) return Fail(s.message(), 2);
  auto store = ckpt::CheckpointStore::Open(args.store);  // import may start a store
  if (!store.ok()) {
    return Fail(store.status().message(),
                store.status().code() == StatusCode::kInvalidArgument ? 2 : 1);
  }
  if (tty) {
    std::fprintf(stderr, "saving %zu tensors as %s...\n", checkpoint->tensors.size(), name.c_str());
  }
  auto report = store->Save(name, *checkpoint);
  if (!report.ok()) {
    return Fail(report.status().message(),
                report.status().code() == StatusCode::kInvalidArgument ? 2 : 1);
  }
  if (args.output == "json") {
    std::printf("%s\n", json{{"name", name},
                             {"file", args.file},
                             {"step", checkpoint->metadata.step},
                             {"tensors", checkpoint->tensors.size()},
                             {"bytes_total", report->bytes_total},
                             {"chunks_total", report->chunks_total},
                             {"chunks_written", report->chunks_written},
                             {"bytes_written", report->bytes_written}}
                            .dump(2, ' ', false, json::error_handler_t::replace)
                            .c_str());
  } else {
    std::printf(
        "imported %s as %s (step %lld): %zu tensors, %llu bytes; wrote %llu new chunk(s) "
        "of %llu, %llu bytes compressed\n",
        args.file.c_str(), name.c_str(), static_cast<long long>(checkpoint->metadata.step),
        checkpoint->tensors.size(), static_cast<unsigned long long>(report->bytes_total),
        static_cast<unsigned long long>(report->chunks_written),
        static_cast<unsigned long long>(report->chunks_total),
        static_cast<unsigned long long>(report->bytes_written));
  }
  return 0;
}

}  // namespace

void AddCkptCommands(CLI::App& app, int* exit_code) {
  CLI::App* ckpt = app.add_subcommand(
      "ckpt",
      "Look after a checkpoint store: list, show, verify, collect garbage, export to and import "
      "from safetensors");
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
  CLI::App* exp = ckpt->add_subcommand(
      "export", "Write a checkpoint as a safetensors file (atomically: complete or absent)");
  exp->footer(
      "Metadata go to __metadata__ as strings: gpool.step, gpool.epoch, gpool.loader_position, "
      "extra keys verbatim (gpool.extra.<k> for keys starting 'gpool.'); a blob becomes a U8 "
      "tensor marked by gpool.blob.<name>. Import reverses it exactly.");
  exp->add_option("name", args->name, "checkpoint (default: latest)");
  exp->add_option("--out", args->out, "the .safetensors file to write (replaced if it exists)")
      ->required();
  common(exp);
  exp->callback([args, exit_code] { *exit_code = RunExport(*args); });
  CLI::App* imp = ckpt->add_subcommand(
      "import", "Save a safetensors file as a checkpoint and make it latest (creates the store)");
  imp->footer(
      "Reports tensors, bytes_total, chunks_written and bytes_written: the compressed bytes of "
      "new chunk files (0 when the store already held every chunk). Exit 2 for a malformed "
      "file, naming what is wrong.");
  imp->add_option("file", args->file, "the .safetensors file to read")->required();
  imp->add_option("--name", args->import_name,
                  "checkpoint name (default: the file's name without extension, characters "
                  "outside [A-Za-z0-9._-] replaced by '_')");
  common(imp);
  imp->callback([args, exit_code] { *exit_code = RunImport(*args); });
  AddCkptTransferCommands(ckpt, exit_code);
}

}  // namespace gpool::cli
