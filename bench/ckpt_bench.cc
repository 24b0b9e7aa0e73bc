// ckpt_bench: the checkpoint store (src/ckpt) against its peers on the same bytes, in one run
// (docs/benchmarks.md §7; issue 5, acceptance 3).
//
// Data: --bytes (default 1 GiB) of f32 tensors, --tensors (100) of equal size, values roughly
// N(0, 0.02) like initialised weights (the sum of four uniforms from splitmix64, seed --seed: the
// same bytes every run). Held in memory as a ckpt::Checkpoint for gpool, and written once as raw
// files under --dir/raw (one file per tensor and an index.json, the format
// bench/ckpt_torch_bench.py reads) for the peers that start from files.
//
// Each of --runs rounds runs every tool in turn (so drift on a shared machine hits them alike);
// the table shows medians. Every save ends durable: gpool fsyncs each file and folder itself, the
// shell peers end with `sync FILE... DIR` (coreutils: fsync of each file named), torch.save with
// flush + fsync of the file and its folder; before each save a global `sync` (untimed) flushes
// what came before. Before each load the page cache is dropped (sync; echo 3 >
// /proc/sys/vm/drop_caches; root only, else every load is warm and the output says so); the
// sources of the saves that read files are read once first (warm), as gpool's and torch's
// sources are in memory.
//   cp          save: cp -r raw/ to a fresh folder + sync; load: cat of every file > /dev/null
//               (the disk's limit); also "read into memory": the raw files read into strings.
//   gpool       save: CheckpointStore::Open + Save into a fresh store; load: Load (every chunk
//               read, decompressed with its content checksum checked, planes joined, into the
//               tensors' bytes: the default LoadCheck::kChecksum). One row per entry of
//               --threads (CheckpointStoreOptions::threads; 0: the store's default).
//   gpool SHA   with the first --threads entry: Load with LoadCheck::kSha256 (every chunk's
//               SHA-256 checked too, as `gpool ckpt verify` and push/pull do).
//   gpool incr. after the first --threads entry's full save, Save of the state with --change of
//               its tensors (2 of 100 by default, the same share of bytes) holding new values;
//               only those tensors' chunks are new, every chunk is still hashed.
//   tar|zstd    save: tar -cf - -C raw . | zstd -1 -o x.tar.zst + sync; load: zstd -dc | tar -x
//               into a fresh folder (files extracted, not synced). With and without -T0.
//   torch       bench/ckpt_torch_bench.py saveload: torch.save of the {name: tensor} dict +
//               fsync, torch.load (tensors read from the raw files first, untimed).
// Also: SHA-256 and XXH3-128 of every chunk on one thread (what a save hashes without and with
// the memo of its last save).
//
// Compression (--weights DIR, made by `ckpt_torch_bench.py train --out DIR`): a small model
// trained here with its Adam moments, in DIR/f32, DIR/bf16 and DIR/f16. For each copy and each
// group (all, model weights, optimizer state): gpool's compressed / original bytes with planes
// at zstd level 1, without planes, with planes at level 3, against the zstd CLI at -1 and -3 on
// the same bytes concatenated into one stream.
//
// usage: ckpt_bench [--bytes 1GiB] [--runs 3] [--dir $TMPDIR/ckpt-bench] [--tensors 100]
//          [--change 0.02] [--threads 0,2,1] [--seed N] [--weights DIR] [--no-torch]
//          [--no-drop-caches] [--python /usr/bin/python3] [--torch-script PATH]
// Output: markdown tables on stdout; progress on stderr. bench/ckpt_bench.sh runs the trainer
// and this in one command.
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../tests/ckpt/ckpt_test_data.h"  // the seeded weights the slow test uses too
#include "ckpt/checkpoint_store.h"
#include "ckpt/chunk_codec.h"
#include "core/sha256.h"
#include "timing.h"
#include "xxhash.h"

namespace gpool::bench {
namespace {

namespace fs = std::filesystem;
using ckpt::Checkpoint;
using ckpt::CheckpointStore;
using ckpt::CheckpointStoreOptions;
using ckpt::DType;
using ckpt::Tensor;

constexpr std::string_view kUsage =
    "usage: ckpt_bench [--bytes 1GiB] [--runs 3] [--dir DIR] [--tensors 100] [--change 0.02]\n"
    "         [--threads 0,2,1] [--seed N] [--weights DIR] [--no-torch]\n"
    "         [--no-drop-caches] [--python /usr/bin/python3] [--torch-script PATH]\n";

struct Options {
  std::uint64_t bytes = 1ull << 30;
  int runs = 3;
  std::string dir;
  int tensors = 100;
  double change = 0.02;
  std::vector<int> threads = {0, 2, 1};  // a gpool row each; the first also saves incrementally
  std::uint64_t seed = 20261127;
  std::string weights;
  bool torch = true;
  bool drop_caches = true;
  std::string python = "/usr/bin/python3";
  std::string torch_script = std::string(GPOOL_SOURCE_DIR) + "/bench/ckpt_torch_bench.py";
};

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "ckpt_bench: %s\n", what.c_str());
  std::exit(1);
}

void Progress(const std::string& what) { std::fprintf(stderr, "[ckpt_bench] %s\n", what.c_str()); }

std::optional<std::uint64_t> ParseBytes(std::string_view s) {
  std::uint64_t n = 0;
  std::size_t i = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) n = n * 10 + std::uint64_t(s[i] - '0');
  if (i == 0) return std::nullopt;
  const std::string_view unit = s.substr(i);
  if (unit.empty() || unit == "B") return n;
  if (unit == "KiB" || unit == "K") return n << 10;
  if (unit == "MiB" || unit == "M") return n << 20;
  if (unit == "GiB" || unit == "G") return n << 30;
  return std::nullopt;
}

std::optional<Options> ParseOptions(int argc, char** argv) {
  Options o;
  const char* tmp = std::getenv("TMPDIR");
  o.dir = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/ckpt-bench";
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--no-torch") {
      o.torch = false;
      continue;
    }
    if (flag == "--no-drop-caches") {
      o.drop_caches = false;
      continue;
    }
    if (i + 1 >= argc) return std::nullopt;
    const std::string value = argv[++i];
    if (flag == "--bytes") {
      std::optional<std::uint64_t> b = ParseBytes(value);
      if (!b || *b == 0) return std::nullopt;
      o.bytes = *b;
    } else if (flag == "--runs") {
      o.runs = std::max(1, std::atoi(value.c_str()));
    } else if (flag == "--dir") {
      o.dir = value;
    } else if (flag == "--tensors") {
      o.tensors = std::max(1, std::atoi(value.c_str()));
    } else if (flag == "--change") {
      o.change = std::atof(value.c_str());
    } else if (flag == "--threads") {
      o.threads.clear();
      std::stringstream list(value);
      for (std::string item; std::getline(list, item, ',');) {
        o.threads.push_back(std::max(0, std::atoi(item.c_str())));
      }
      if (o.threads.empty()) return std::nullopt;
    } else if (flag == "--seed") {
      o.seed = std::strtoull(value.c_str(), nullptr, 10);
    } else if (flag == "--weights") {
      o.weights = value;
    } else if (flag == "--python") {
      o.python = value;
    } else if (flag == "--torch-script") {
      o.torch_script = value;
    } else {
      return std::nullopt;
    }
  }
  return o;
}

// --- data ---

using gpool::ckpt::test::NormalishF32;

// `tensors` f32 tensors [rows, 1024] of equal size, about `bytes` in all; tensor i from seed
// seed + i (made on two threads: each tensor is a pure function of its seed).
Checkpoint MakeState(std::uint64_t bytes, int tensors, std::uint64_t seed) {
  const std::int64_t cols = 1024;
  const std::int64_t rows = std::max<std::int64_t>(1, std::int64_t(bytes / tensors / 4 / cols));
  Checkpoint c;
  c.tensors.resize(static_cast<std::size_t>(tensors));
  const auto make = [&](int first, int step) {
    for (int i = first; i < tensors; i += step) {
      c.tensors[std::size_t(i)] = Tensor{"layers." + std::to_string(i) + ".weight",
                                         DType::kF32,
                                         {rows, cols},
                                         NormalishF32(std::size_t(rows * cols), seed + i)};
    }
  };
  std::thread other(make, 1, 2);
  make(0, 2);
  other.join();
  c.metadata.step = 1;
  return c;
}

std::uint64_t StateBytes(const Checkpoint& c) {
  std::uint64_t n = 0;
  for (const Tensor& t : c.tensors) n += t.bytes.size();
  return n;
}

void WriteBinary(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  if (!out) Fail("write " + path.string());
}

std::string ReadBinary(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail("read " + path.string());
  std::string s(fs::file_size(path), '\0');
  in.read(s.data(), std::streamsize(s.size()));
  return s;
}

// One file per tensor and index.json ({"tensors": [{name, dtype, shape, file, group}]}).
void WriteRaw(const Checkpoint& c, const fs::path& dir) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  nlohmann::json index = nlohmann::json::array();
  for (std::size_t i = 0; i < c.tensors.size(); ++i) {
    const Tensor& t = c.tensors[i];
    char file[32];
    std::snprintf(file, sizeof file, "%04zu.bin", i);
    WriteBinary(dir / file, t.bytes);
    index.push_back({{"name", t.name},
                     {"dtype", ckpt::DTypeName(t.dtype)},
                     {"shape", t.shape},
                     {"file", file},
                     {"group", "model"}});
  }
  std::ofstream(dir / "index.json") << nlohmann::json{{"tensors", index}}.dump(1);
}

// A folder written by WriteRaw or ckpt_torch_bench.py; `group` empty: every tensor.
Checkpoint ReadRaw(const fs::path& dir, const std::string& group) {
  std::ifstream in(dir / "index.json");
  if (!in) Fail("no " + (dir / "index.json").string());
  const nlohmann::json index = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (index.is_discarded() || !index.contains("tensors")) Fail("bad " + dir.string());
  Checkpoint c;
  for (const nlohmann::json& e : index["tensors"]) {
    if (!group.empty() && e.value("group", "") != group) continue;
    std::optional<DType> dtype = ckpt::ParseDType(e.at("dtype").get<std::string>());
    if (!dtype) Fail("unknown dtype in " + dir.string());
    c.tensors.push_back(Tensor{e.at("name").get<std::string>(), *dtype,
                               e.at("shape").get<std::vector<std::int64_t>>(),
                               ReadBinary(dir / e.at("file").get<std::string>())});
  }
  return c;
}

// --- environment ---

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char ch : s) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return q + "'";
}

void Sh(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) Fail("command failed: " + cmd);
}

std::string Capture(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) Fail("popen: " + cmd);
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int rc = ::pclose(p);
  if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) Fail("command failed: " + cmd);
  return out;
}

double TimeSh(const std::string& cmd) {
  const auto start = std::chrono::steady_clock::now();
  Sh(cmd);
  return Seconds(start);
}

// Drops the page cache (root only); false if not permitted.
bool DropCaches() {
  ::sync();
  std::ofstream f("/proc/sys/vm/drop_caches");
  if (!f) return false;
  f << "3\n";
  f.flush();
  return bool(f);
}

std::uint64_t DiskBytes(const fs::path& p) {
  if (fs::is_regular_file(p)) return fs::file_size(p);
  std::uint64_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(p)) {
    if (e.is_regular_file()) n += e.file_size();
  }
  return n;
}

// "ext4 on /dev/vda (mounted at /)": the mount holding `dir` (longest matching mount point).
std::string DescribeFilesystem(const fs::path& dir) {
  const std::string path = fs::canonical(dir).string();
  std::ifstream mounts("/proc/self/mounts");
  std::string dev, point, type, rest, best_dev, best_point, best_type;
  while (mounts >> dev >> point >> type && std::getline(mounts, rest)) {
    const bool under = path == point || point == "/" || path.starts_with(point + "/");
    if (under && point.size() >= best_point.size()) {
      best_dev = dev;
      best_point = point;
      best_type = type;
    }
  }
  struct statfs st;
  std::string free_space;
  if (::statfs(path.c_str(), &st) == 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, ", %.0f GiB free",
                  double(st.f_bavail) * double(st.f_bsize) / double(1ull << 30));
    free_space = buf;
  }
  return best_type + " on " + best_dev + " (mounted at " + best_point + ")" + free_space;
}

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

// --- measurements ---

// What CheckpointStoreOptions::threads = 0 stands for (checkpoint_store.h), for the labels.
int DefaultThreads() { return std::clamp(4 * int(std::thread::hardware_concurrency()), 1, 16); }

struct Row {
  std::string tool;
  std::vector<double> save, load;
  std::uint64_t disk = 0;
  std::string note;
  // gpool only: CPU seconds (user + sys, every thread of this process) and minor page faults.
  std::vector<double> save_cpu, load_cpu, save_faults, load_faults;
};

// CPU seconds (user + sys) and minor page faults of this process so far.
struct Usage {
  double cpu = 0;
  double faults = 0;
};
Usage UsageNow() {
  struct rusage r;
  ::getrusage(RUSAGE_SELF, &r);
  return {double(r.ru_utime.tv_sec) + double(r.ru_utime.tv_usec) * 1e-6 +
              double(r.ru_stime.tv_sec) + double(r.ru_stime.tv_usec) * 1e-6,
          double(r.ru_minflt)};
}

double Gbps(std::uint64_t bytes, double s) { return s > 0 ? double(bytes) / s / 1e9 : 0; }

CheckpointStore OpenStore(const fs::path& root, CheckpointStoreOptions options) {
  Result<CheckpointStore> store = CheckpointStore::Open(root.string(), options);
  if (!store.ok()) Fail(store.status().ToString());
  return std::move(*store);
}

void PrintTable(const std::vector<Row>& rows, std::uint64_t bytes) {
  const Row* cp = nullptr;
  for (const Row& r : rows) {
    if (r.tool.starts_with("cp")) cp = &r;
  }
  const double cp_save = cp != nullptr && !cp->save.empty() ? Median(cp->save) : 0;
  const double cp_load = cp != nullptr && !cp->load.empty() ? Median(cp->load) : 0;
  std::printf(
      "| tool | save s | save GB/s | load s | load GB/s | save / cp | load / cat | bytes on disk "
      "| |\n|---|---|---|---|---|---|---|---|---|\n");
  for (const Row& r : rows) {
    std::string save = "–", save_rate = "–", load = "–", load_rate = "–", save_x = "–",
                load_x = "–";
    char buf[64];
    if (!r.save.empty()) {
      const double s = Median(r.save);
      std::snprintf(buf, sizeof buf, "%.3f", s);
      save = buf;
      std::snprintf(buf, sizeof buf, "%.3f", Gbps(bytes, s));
      save_rate = buf;
      if (cp_save > 0) {
        std::snprintf(buf, sizeof buf, "%.2f×", s / cp_save);
        save_x = buf;
      }
    }
    if (!r.load.empty()) {
      const double s = Median(r.load);
      std::snprintf(buf, sizeof buf, "%.3f", s);
      load = buf;
      std::snprintf(buf, sizeof buf, "%.3f", Gbps(bytes, s));
      load_rate = buf;
      if (cp_load > 0) {
        std::snprintf(buf, sizeof buf, "%.2f×", s / cp_load);
        load_x = buf;
      }
    }
    std::string disk = "–";
    if (r.disk > 0) {
      std::snprintf(buf, sizeof buf, "%.1f MB (%.3f)", double(r.disk) / 1e6,
                    double(r.disk) / double(bytes));
      disk = buf;
    }
    std::printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.tool.c_str(), save.c_str(),
                save_rate.c_str(), load.c_str(), load_rate.c_str(), save_x.c_str(), load_x.c_str(),
                disk.c_str(), r.note.c_str());
  }
}

std::string Runs(const std::vector<double>& v) {
  std::string s;
  char buf[32];
  for (double x : v) {
    std::snprintf(buf, sizeof buf, "%s%.3f", s.empty() ? "" : " ", x);
    s += buf;
  }
  return s;
}

// Where a chunk's time goes: each step of its way through Save and Load on one thread, on up
// to 16 full chunks of the state (median per chunk), and what that makes per GB.
void ChunkCosts(const Checkpoint& state) {
  const std::uint64_t size = CheckpointStoreOptions{}.chunk_size;
  std::vector<std::string_view> chunks;
  for (const Tensor& t : state.tensors) {
    for (std::uint64_t off = 0; off + size <= t.bytes.size() && chunks.size() < 16; off += size) {
      chunks.push_back(std::string_view(t.bytes).substr(off, size));
    }
  }
  if (chunks.empty()) return;
  std::vector<std::string> encoded;
  for (std::string_view c : chunks) encoded.push_back(*ckpt::EncodeChunk(c, 4, 1));
  const auto per_chunk = [&](const std::function<void(std::size_t)>& step) {
    std::vector<double> s;
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      const auto start = std::chrono::steady_clock::now();
      step(i);
      s.push_back(Seconds(start));
    }
    return Median(s);
  };
  // As the store's threads do: one codec, its memory reused from chunk to chunk.
  ckpt::ChunkCodec codec;
  std::string out(size, '\0');
  struct Step {
    const char* name;
    double s;
  };
  const Step steps[] = {
      {"SHA-256 (core::Sha256Hex)",
       per_chunk([&](std::size_t i) { (void)core::Sha256Hex(chunks[i]); })},
      {"ChunkCodec::Encode, planes + zstd 1 + checksum (save)",
       per_chunk([&](std::size_t i) { (void)codec.Encode(chunks[i], 4, 1); })},
      {"ChunkCodec::DecodeInto, zstd + checksum + JoinPlanes (load)", per_chunk([&](std::size_t i) {
         if (!codec.DecodeInto(encoded[i], out).ok()) Fail("decode");
       })},
      {"SplitPlanes, width 4",
       per_chunk([&](std::size_t i) { (void)ckpt::SplitPlanes(chunks[i], 4); })},
      {"JoinPlanes, width 4",
       per_chunk([&](std::size_t i) { (void)ckpt::JoinPlanes(chunks[i], 4); })},
      {"EncodeChunk, no planes, zstd 1 (fresh codec)",
       per_chunk([&](std::size_t i) { (void)ckpt::EncodeChunk(chunks[i], 1, 1); })},
      {"copy of a chunk into fresh memory", per_chunk([&](std::size_t i) {
         std::string copy(chunks[i]);
         if (copy.size() != size) Fail("copy");
       })},
  };
  const double per_gb = 1e9 / double(size);
  std::printf("\nOne 4 MiB chunk of this data, one thread (median of %zu chunks):\n\n",
              chunks.size());
  std::printf("| step | ms per chunk | CPU s per GB |\n|---|---|---|\n");
  for (const Step& st : steps) {
    std::printf("| %s | %.2f | %.2f |\n", st.name, st.s * 1e3, st.s * per_gb);
  }
  std::printf(
      "\nCPU per GB, one thread: save (hash + encode) %.2f s; load (decode, checksum checked) "
      "%.2f s, %.2f s with SHA-256 (LoadCheck::kSha256); before any I/O, page faults of the "
      "output, or copies.\n",
      (steps[0].s + steps[1].s) * per_gb, steps[2].s * per_gb, (steps[2].s + steps[0].s) * per_gb);
}

void Throughput(const Options& o) {
  const fs::path dir = o.dir;
  const fs::path raw = dir / "raw";
  Progress("making " + std::to_string(o.bytes) + " bytes of f32 tensors (seed " +
           std::to_string(o.seed) + ")");
  Checkpoint state = MakeState(o.bytes, o.tensors, o.seed);
  const std::uint64_t bytes = StateBytes(state);
  Progress("writing the raw files to " + raw.string());
  WriteRaw(state, raw);
  // The incremental change: `changed` tensors spread over the state (25 and 75 of 100) get new
  // values; they are swapped in for that save and out after it.
  const int changed = std::clamp(int(std::lround(o.change * o.tensors)), 1, o.tensors);
  std::vector<std::size_t> changed_at;
  std::vector<Tensor> changed_tensors;
  std::uint64_t changed_bytes = 0;
  for (int k = 0; k < changed; ++k) {
    const std::size_t i = std::size_t(2 * k + 1) * state.tensors.size() / std::size_t(2 * changed);
    const Tensor& t = state.tensors[i];
    changed_at.push_back(i);
    changed_tensors.push_back(
        Tensor{t.name, t.dtype, t.shape, NormalishF32(t.bytes.size() / 4, o.seed + 1000000 + i)});
    changed_bytes += t.bytes.size();
  }

  bool cold = o.drop_caches && DropCaches();
  const std::string cache =
      cold ? "cold: page cache dropped before every load (sync; echo 3 > /proc/sys/vm/drop_caches)"
           : "warm: the page cache could not be dropped (not root, or --no-drop-caches); every "
             "load reads what the save left in memory";
  std::vector<Row> rows;
  Row cp{"cp -r + sync / cat", {}, {}, 0, "the disk's limit"};
  Row mem{"read raw files into memory (C++)", {}, {}, 0, ""};
  std::vector<Row> gpool;
  for (int t : o.threads) {
    gpool.push_back({"gpool, threads = " + std::to_string(t) +
                         (t == 0 ? " (" + std::to_string(DefaultThreads()) + ")" : ""),
                     {},
                     {},
                     0,
                     "load checks each chunk's content checksum (XXH64; the default)"});
  }
  Row sha_load{"gpool load checking every SHA-256 (LoadCheck::kSha256)",
               {},
               {},
               0,
               "what `gpool ckpt verify` and push/pull check"};
  Row incr{"gpool incremental save, " + std::to_string(changed) + " of " +
               std::to_string(o.tensors) + " tensors changed",
           {},
           {},
           0,
           ""};
  Row tz{"tar \\| zstd -1", {}, {}, 0, "load: zstd -dc \\| tar -x (not synced)"};
  Row tzt{"tar \\| zstd -1 -T0", {}, {}, 0, "zstd on every core"};
  Row torch{"torch.save / torch.load", {}, {}, 0, ""};
  std::vector<double> hash_s;
  std::vector<double> xxh_s;
  std::string torch_note;

  const auto before_save = [] { ::sync(); };
  const auto before_load = [&] {
    if (cold) cold = DropCaches();
  };
  const auto warm_raw = [&] { Sh("cat " + Quote(raw.string()) + "/* > /dev/null"); };

  for (int run = 1; run <= o.runs; ++run) {
    const std::string round = "round " + std::to_string(run) + "/" + std::to_string(o.runs) + ": ";
    // cp
    Progress(round + "cp");
    const fs::path copy = dir / "copy";
    fs::remove_all(copy);
    warm_raw();
    before_save();
    cp.save.push_back(TimeSh("cp -r " + Quote(raw.string()) + " " + Quote(copy.string()) +
                             " && sync " + Quote(copy.string()) + "/* " + Quote(copy.string())));
    cp.disk = DiskBytes(copy);
    before_load();
    cp.load.push_back(TimeSh("cat " + Quote(copy.string()) + "/* > /dev/null"));
    before_load();
    {
      const auto start = std::chrono::steady_clock::now();
      std::vector<std::string> files;
      for (std::size_t i = 0; i < state.tensors.size(); ++i) {
        char file[32];
        std::snprintf(file, sizeof file, "%04zu.bin", i);
        files.push_back(ReadBinary(copy / file));
      }
      mem.load.push_back(Seconds(start));
    }
    fs::remove_all(copy);

    // gpool, full save, incremental save, load
    for (std::size_t g = 0; g < gpool.size(); ++g) {
      Row* row = &gpool[g];
      Progress(round + row->tool);
      const fs::path root = dir / "store";
      fs::remove_all(root);
      const CheckpointStoreOptions options{.threads = o.threads[g]};
      before_save();
      Usage used = UsageNow();
      auto start = std::chrono::steady_clock::now();
      CheckpointStore store = OpenStore(root, options);
      Result<ckpt::SaveReport> full = store.Save("full", state);
      if (!full.ok()) Fail(full.status().ToString());
      row->save.push_back(Seconds(start));
      row->save_cpu.push_back(UsageNow().cpu - used.cpu);
      row->save_faults.push_back(UsageNow().faults - used.faults);
      row->disk = DiskBytes(root);
      if (g == 0) {
        for (std::size_t k = 0; k < changed_at.size(); ++k) {
          std::swap(state.tensors[changed_at[k]], changed_tensors[k]);
        }
        state.metadata.step = 2;
        before_save();
        start = std::chrono::steady_clock::now();
        Result<ckpt::SaveReport> inc = store.Save("incremental", state);
        incr.save.push_back(Seconds(start));
        for (std::size_t k = 0; k < changed_at.size(); ++k) {
          std::swap(state.tensors[changed_at[k]], changed_tensors[k]);
        }
        state.metadata.step = 1;
        if (!inc.ok()) Fail(inc.status().ToString());
        incr.disk = inc->bytes_written + inc->manifest_bytes;
        char note[300];
        std::snprintf(
            note, sizeof note,
            "changed %.1f MB (%.2f %%); wrote %.1f MB of chunks (%.3f × changed) + "
            "%.1f KB manifest; SHA-256 of %llu of %llu chunks (the rest remembered)",
            double(changed_bytes) / 1e6, 100.0 * double(changed_bytes) / double(bytes),
            double(inc->bytes_written) / 1e6, double(inc->bytes_written) / double(changed_bytes),
            double(inc->manifest_bytes) / 1e3, static_cast<unsigned long long>(inc->chunks_hashed),
            static_cast<unsigned long long>(inc->chunks_total));
        incr.note = note;
      }
      before_load();
      used = UsageNow();
      start = std::chrono::steady_clock::now();
      Result<Checkpoint> loaded = store.Load("full");
      row->load.push_back(Seconds(start));
      row->load_cpu.push_back(UsageNow().cpu - used.cpu);
      row->load_faults.push_back(UsageNow().faults - used.faults);
      if (!loaded.ok()) Fail(loaded.status().ToString());
      if (run == 1 && !(*loaded == state)) Fail("gpool loaded other bytes than it saved");
      loaded = Checkpoint{};
      if (g == 0) {
        Progress(round + sha_load.tool);
        CheckpointStore sha_store =
            OpenStore(root, {.threads = o.threads[g], .load_check = ckpt::LoadCheck::kSha256});
        before_load();
        used = UsageNow();
        start = std::chrono::steady_clock::now();
        Result<Checkpoint> checked = sha_store.Load("full");
        sha_load.load.push_back(Seconds(start));
        sha_load.load_cpu.push_back(UsageNow().cpu - used.cpu);
        sha_load.load_faults.push_back(UsageNow().faults - used.faults);
        if (!checked.ok()) Fail(checked.status().ToString());
      }
    }

    // SHA-256 of every chunk, one thread: what a save without a memo hashes (a fresh store
    // object); XXH3-128 of every chunk: what an incremental save through one object hashes.
    {
      const std::uint64_t chunk = CheckpointStoreOptions{}.chunk_size;
      auto start = std::chrono::steady_clock::now();
      for (const Tensor& t : state.tensors) {
        for (std::uint64_t off = 0; off < t.bytes.size(); off += chunk) {
          (void)core::Sha256Hex(std::string_view(t.bytes).substr(off, chunk));
        }
      }
      hash_s.push_back(Seconds(start));
      start = std::chrono::steady_clock::now();
      std::uint64_t sink = 0;
      for (const Tensor& t : state.tensors) {
        for (std::uint64_t off = 0; off < t.bytes.size(); off += chunk) {
          const std::string_view piece = std::string_view(t.bytes).substr(off, chunk);
          sink ^= XXH3_128bits(piece.data(), piece.size()).low64;
        }
      }
      xxh_s.push_back(Seconds(start));
      if (sink == 1) std::fprintf(stderr, " ");  // keeps the hashing from being optimised out
    }

    // tar | zstd
    for (Row* row : {&tz, &tzt}) {
      Progress(round + row->tool);
      const fs::path archive = dir / "state.tar.zst";
      const fs::path out = dir / "untar";
      fs::remove_all(archive);
      fs::remove_all(out);
      warm_raw();
      before_save();
      const std::string threads_flag = row == &tzt ? " -T0" : "";
      row->save.push_back(TimeSh("tar -cf - -C " + Quote(raw.string()) + " . | zstd -1 -q" +
                                 threads_flag + " -o " + Quote(archive.string()) + " && sync " +
                                 Quote(archive.string()) + " " + Quote(dir.string())));
      row->disk = DiskBytes(archive);
      fs::create_directories(out);
      before_load();
      row->load.push_back(TimeSh("zstd -dcq" + threads_flag + " " + Quote(archive.string()) +
                                 " | tar -xf - -C " + Quote(out.string())));
      fs::remove_all(out);
      fs::remove_all(archive);
    }

    // torch
    if (o.torch) {
      Progress(round + "torch.save / torch.load (" + o.python + ")");
      const fs::path file = dir / "state.pt";
      const std::string cmd = Quote(o.python) + " " + Quote(o.torch_script) + " saveload --index " +
                              Quote((raw / "index.json").string()) + " --out " +
                              Quote(file.string()) + (cold ? " --drop-caches" : "");
      FILE* p = ::popen(cmd.c_str(), "r");
      std::string out;
      if (p != nullptr) {
        char buf[4096];
        for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
        ::pclose(p);
      }
      const nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
      if (j.is_discarded() || !j.contains("save_s")) {
        Progress("torch peer failed (output: " + out + "); leaving it out");
        torch_note = "not run: " + cmd + " failed";
      } else {
        torch.save.push_back(j["save_s"].get<double>());
        torch.load.push_back(j["load_s"].get<double>());
        torch.disk = j["file_bytes"].get<std::uint64_t>();
        torch.note = "torch " + j.value("torch", std::string("?")) + ", fsync included";
      }
      fs::remove_all(file);
    }
  }

  rows = {cp, mem};
  rows.insert(rows.end(), gpool.begin(), gpool.end());
  rows.push_back(sha_load);
  rows.push_back(incr);
  rows.push_back(tz);
  rows.push_back(tzt);
  if (o.torch) {
    if (torch.save.empty()) torch.note = torch_note;
    rows.push_back(torch);
  }
  std::printf("%" PRIu64
              " bytes (%.3f GiB) of f32 in %d tensors, %d runs, medians; GB = 1e9 "
              "bytes of tensor data (the same figure for every tool, whatever it writes).\n",
              bytes, double(bytes) / double(1ull << 30), o.tensors, o.runs);
  std::printf("folder: %s, %s\n", dir.string().c_str(), DescribeFilesystem(dir).c_str());
  std::printf("page cache: %s\n", cache.c_str());
  std::printf("%s; tar: %s\n\n", FirstLine(Capture("zstd --version")).c_str(),
              FirstLine(Capture("tar --version")).c_str());
  PrintTable(rows, bytes);
  std::printf(
      "\ngpool's CPU (user + sys, all threads; medians) and minor page faults:\n\n"
      "| gpool | save CPU s | cores busy | page faults | load CPU s | cores busy | page "
      "faults |\n|---|---|---|---|---|---|---|\n");
  for (const Row& r : gpool) {
    std::printf("| %s | %.2f | %.2f | %.0f | %.2f | %.2f | %.0f |\n", r.tool.c_str(),
                Median(r.save_cpu), Median(r.save_cpu) / Median(r.save), Median(r.save_faults),
                Median(r.load_cpu), Median(r.load_cpu) / Median(r.load), Median(r.load_faults));
  }
  std::printf("| %s | – | – | – | %.2f | %.2f | %.0f |\n", sha_load.tool.c_str(),
              Median(sha_load.load_cpu), Median(sha_load.load_cpu) / Median(sha_load.load),
              Median(sha_load.load_faults));
  ChunkCosts(state);
  std::printf(
      "\nSHA-256 of every 4 MiB chunk, one thread: %.3f s (%.2f GB/s) — what a save through a "
      "fresh store object hashes; XXH3-128 of every chunk: %.3f s (%.2f GB/s) — what a save "
      "through the object of the last save hashes, plus the SHA-256 of the chunks that "
      "changed.\n",
      Median(hash_s), Gbps(bytes, Median(hash_s)), Median(xxh_s), Gbps(bytes, Median(xxh_s)));
  std::printf("\nper run (s):\n");
  for (const Row& r : rows) {
    if (!r.save.empty()) std::printf("  %s save: %s\n", r.tool.c_str(), Runs(r.save).c_str());
    if (!r.load.empty()) std::printf("  %s load: %s\n", r.tool.c_str(), Runs(r.load).c_str());
  }
  std::printf("  sha-256: %s\n", Runs(hash_s).c_str());
  std::printf("  xxh3-128: %s\n", Runs(xxh_s).c_str());

  const double cp_save = Median(cp.save), cp_load = Median(cp.load);
  const Row& gp = gpool[0];
  const double full = Median(gp.save), inc = Median(incr.save);
  std::printf("\ntargets:\n");
  std::printf("  (gpool: %s)\n", gp.tool.c_str());
  std::printf("  full save within 1.5× of cp: %.2f× — %s\n", full / cp_save,
              full <= 1.5 * cp_save ? "met" : "NOT met");
  std::printf("  load within 1.2× of cp (cat): %.2f× — %s (checking every SHA-256: %.2f×)\n",
              Median(gp.load) / cp_load, Median(gp.load) <= 1.2 * cp_load ? "met" : "NOT met",
              Median(sha_load.load) / cp_load);
  std::printf(
      "  incremental save proportional to the change: %.2f %% of the bytes changed, the "
      "save took %.1f %% of a full save's time and wrote %.3f × the changed bytes\n",
      100.0 * double(changed_bytes) / double(bytes), 100.0 * inc / full,
      double(incr.disk) / double(changed_bytes));
  fs::remove_all(dir / "store");
}

// --- compression on real weights ---

std::uint64_t ZstdBytes(const fs::path& file, int level) {
  const std::string out =
      Capture("zstd -" + std::to_string(level) + " -q -c " + Quote(file.string()) + " | wc -c");
  return std::strtoull(out.c_str(), nullptr, 10);
}

void Compression(const Options& o) {
  const fs::path weights = o.weights;
  std::ifstream train(weights / "train.json");
  const nlohmann::json info =
      train ? nlohmann::json::parse(train, nullptr, false) : nlohmann::json();
  std::printf("\n## Compression on trained weights (%s)\n\n", weights.string().c_str());
  if (!info.is_discarded() && info.is_object()) {
    std::printf("model: %s\n\n", info.dump().c_str());
  }
  std::printf(
      "| copy | group | tensors | original MB | gpool planes, zstd 1 | gpool no planes, zstd 1 | "
      "gpool planes, zstd 3 | zstd -1 | zstd -3 |\n|---|---|---|---|---|---|---|---|---|\n");
  for (const char* copy : {"f32", "bf16", "f16"}) {
    if (!fs::exists(weights / copy / "index.json")) continue;
    for (const char* group : {"", "model", "optimizer"}) {
      Progress(std::string("compression: ") + copy + " " + (*group ? group : "all"));
      const Checkpoint c = ReadRaw(weights / copy, group);
      if (c.tensors.empty()) continue;
      const std::uint64_t bytes = StateBytes(c);
      const auto gpool = [&](bool planes, int level) {
        const fs::path root = fs::path(o.dir) / "compression-store";
        fs::remove_all(root);
        CheckpointStore store =
            OpenStore(root, {.zstd_level = level, .planes = planes, .threads = o.threads[0]});
        Result<ckpt::SaveReport> r = store.Save("s", c);
        if (!r.ok()) Fail(r.status().ToString());
        fs::remove_all(root);
        return double(r->bytes_written) / double(bytes);
      };
      const fs::path concat = fs::path(o.dir) / "concat.bin";
      {
        std::ofstream out(concat, std::ios::binary | std::ios::trunc);
        for (const Tensor& t : c.tensors)
          out.write(t.bytes.data(), std::streamsize(t.bytes.size()));
      }
      const double z1 = double(ZstdBytes(concat, 1)) / double(bytes);
      const double z3 = double(ZstdBytes(concat, 3)) / double(bytes);
      fs::remove(concat);
      std::printf("| %s | %s | %zu | %.2f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", copy,
                  *group ? group : "all", c.tensors.size(), double(bytes) / 1e6, gpool(true, 1),
                  gpool(false, 1), gpool(true, 3), z1, z3);
    }
  }
  std::printf(
      "\n(compressed / original bytes: lower is better; gpool counts its chunk files, "
      "zstd one stream of the same bytes.)\n");
}

int Main(int argc, char** argv) {
  std::optional<Options> o = ParseOptions(argc, argv);
  if (!o) {
    std::fputs(kUsage.data(), stderr);
    return 2;
  }
  fs::create_directories(o->dir);
  Throughput(*o);
  if (!o->weights.empty()) Compression(*o);
  fs::remove_all(fs::path(o->dir) / "raw");
  return 0;
}

}  // namespace
}  // namespace gpool::bench

int main(int argc, char** argv) { return gpool::bench::Main(argc, argv); }
