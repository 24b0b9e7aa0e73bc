// The directory CheckpointStore. Every file is written by files::WriteFileDurably
// (store_files.h): a fresh temp file (O_EXCL) in the target's folder, write, fsync, rename over
// the target, fsync the folder (for the chunks of a Save: once per folder, after the last
// rename into it and before the manifest).
#include "ckpt/checkpoint_store.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <new>
#include <set>
#include <span>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "ckpt/buffer_memory.h"
#include "ckpt/chunk_codec.h"
#include "ckpt/store_files.h"
#include "xxhash.h"

namespace gpool::ckpt {
namespace {

namespace fs = std::filesystem;
using files::EnsureDir;
using files::FileExists;
using files::IsTemp;
using files::ReadFile;
using files::WriteFileDurably;

}  // namespace

Status ValidateCheckpointName(std::string_view name) {
  if (name.empty() || name.size() > 200) {
    return Status::InvalidArgument("checkpoint name must have 1-200 characters");
  }
  if (name == kLatest) return Status::InvalidArgument("'latest' is reserved");
  if (name.front() == '.') return Status::InvalidArgument("checkpoint name starts with '.'");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return Status::InvalidArgument("checkpoint name '" + std::string(name) +
                                     "' may hold only [A-Za-z0-9._-]");
    }
  }
  return Status::Ok();
}

namespace {

bool IsChunkHash(std::string_view hash) {
  if (hash.size() != 64) return false;
  for (char c : hash) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::size_t PlaneWidth(DType dtype, bool planes) {
  return planes && IsFloatingPoint(dtype) ? DTypeSize(dtype) : 1;
}

// CheckpointStoreOptions::threads, 0 resolved: four threads per core (while some wait for the
// disk, in fsync or a read, the others have the cores), at most 16.
int ResolveThreads(int threads) {
  if (threads > 0) return threads;
  return std::clamp(4 * static_cast<int>(std::thread::hardware_concurrency()), 1, 16);
}

// Memory a thread of the chunk loops keeps from one chunk to the next.
struct ChunkScratch {
  ChunkCodec codec;
  files::AlignedBuffer file;  // a chunk file's bytes, as read or to be written
  std::string original;       // a chunk's bytes when they have no tensor to go to (Verify)
};

// Runs work(i, scratch) for every i in [0, n) on up to `threads` threads, the calling one among
// them, each with its own scratch; each thread takes the lowest index not yet taken. Once
// work(i) fails, indexes above i not yet taken are skipped, and every index below i still runs;
// so the result is the failure of the lowest index — the one a loop in order would have stopped
// at — or Ok.
Status ForEachIndex(std::size_t n, int threads,
                    const std::function<Status(std::size_t, ChunkScratch&)>& work) {
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> first_failed{n};
  std::mutex mu;
  Status failure;  // of index first_failed; guarded by mu
  const auto run = [&] {
    ChunkScratch scratch;
    for (;;) {
      const std::size_t i = next.fetch_add(1);
      if (i >= n || i > first_failed.load()) return;
      Status s = CatchAsStatus([&] { return work(i, scratch); });
      if (!s.ok()) {
        std::lock_guard lock(mu);
        if (i < first_failed.load()) {
          first_failed.store(i);
          failure = std::move(s);
        }
      }
    }
  };
  std::vector<std::thread> helpers;
  const std::size_t wanted = std::min(n, static_cast<std::size_t>(std::max(threads, 1)));
  for (std::size_t t = 1; t < wanted; ++t) {
    try {
      helpers.emplace_back(run);
    } catch (const std::system_error&) {
      break;  // no more threads to be had: the ones running (and this one) do the rest
    }
  }
  run();
  for (std::thread& h : helpers) h.join();
  return failure;
}

Status ForEachIndex(std::size_t n, int threads, const std::function<Status(std::size_t)>& work) {
  return ForEachIndex(n, threads, [&](std::size_t i, ChunkScratch&) { return work(i); });
}

// A chunk file, as read for decode(i, file, scratch); an error if it could not be read.
using ChunkFileRead = Result<files::FileRead>;
using DecodeChunkFile = std::function<Status(std::size_t, const ChunkFileRead&, ChunkScratch&)>;

// Reads the file path_of(i) (files::ReadFileDirect) and then runs decode(i, file, scratch), for
// every i in [0, n), with the failure semantics of ForEachIndex (the lowest failing index's
// error, or Ok). With threads > 1, reading and decoding are apart: `threads` threads only read,
// each into a buffer of a pool, and one thread per core (at most `threads`; the calling thread
// is one) decodes what they read. Each reading thread keeps a request at the disk while the
// cores decode; when every thread did both, a thread's next read waited for its decode, and on
// the 2-core VM of docs/benchmarks.md §7 a load left the disk idle a third of the time. The
// pool has a buffer per thread (readers and decoders), so at most that many chunk files are in
// memory at once. threads <= 1: all on the calling thread, a file read, then decoded.
Status ReadThenDecode(std::size_t n, int threads,
                      const std::function<std::string(std::size_t)>& path_of,
                      const DecodeChunkFile& decode) {
  const auto on_the_calling_thread = [&] {
    return ForEachIndex(n, 1, [&](std::size_t i, ChunkScratch& scratch) {
      return decode(i, files::ReadFileDirect(path_of(i), &scratch.file), scratch);
    });
  };
  if (threads <= 1 || n <= 1) return on_the_calling_thread();
  const auto cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int readers = static_cast<int>(std::min<std::size_t>(threads, n));
  const int decoders = std::min(readers, cores);
  // A slot per buffer: the chunk file in it and its index. Everything is allocated here, before
  // any thread starts, so that what the threads do under the lock cannot throw.
  const std::size_t slots = static_cast<std::size_t>(readers + decoders);
  std::vector<files::AlignedBuffer> buffers(slots);
  std::vector<ChunkFileRead> files(slots, Status::Internal("not read"));
  std::vector<std::size_t> index_of(slots);
  std::mutex mu;
  std::condition_variable changed;
  // Guarded by mu:
  std::vector<std::size_t> free_slots;
  free_slots.reserve(slots);
  for (std::size_t b = 0; b < slots; ++b) free_slots.push_back(b);
  std::vector<std::size_t> read_ring(slots);  // slots read, not yet decoded, oldest first
  std::size_t read_head = 0;
  std::size_t read_count = 0;
  std::size_t next = 0;  // the lowest index not yet taken by a reader
  int reading = 0;       // readers with a file in hand
  std::size_t first_failed = n;
  Status failure;
  const auto no_more_reads = [&] { return next >= n || next > first_failed; };

  const auto reader = [&] {
    std::unique_lock lock(mu);
    for (;;) {
      changed.wait(lock, [&] { return no_more_reads() || !free_slots.empty(); });
      if (no_more_reads()) break;
      const std::size_t i = next++;
      const std::size_t b = free_slots.back();
      free_slots.pop_back();
      ++reading;
      lock.unlock();
      index_of[b] = i;
      files[b] = CatchAsStatus([&] { return files::ReadFileDirect(path_of(i), &buffers[b]); });
      lock.lock();
      --reading;
      read_ring[(read_head + read_count++) % slots] = b;
      changed.notify_all();
    }
    changed.notify_all();  // decoders wait for the last reader to finish
  };
  const auto decoder = [&] {
    ChunkScratch scratch;
    std::unique_lock lock(mu);
    for (;;) {
      changed.wait(lock, [&] { return read_count > 0 || (no_more_reads() && reading == 0); });
      if (read_count == 0) break;
      const std::size_t b = read_ring[read_head];
      read_head = (read_head + 1) % slots;
      --read_count;
      const std::size_t i = index_of[b];
      const bool skip = i > first_failed;
      lock.unlock();
      Status s = skip ? Status::Ok() : CatchAsStatus([&] { return decode(i, files[b], scratch); });
      lock.lock();
      if (!s.ok() && i < first_failed) {
        first_failed = i;
        failure = std::move(s);
      }
      free_slots.push_back(b);
      changed.notify_all();
    }
  };

  std::vector<std::thread> helpers;
  helpers.reserve(slots);
  const auto start = [&](const auto& body, int count) {
    for (int t = 0; t < count; ++t) {
      try {
        helpers.emplace_back(body);
      } catch (const std::exception&) {
        return;  // no more threads to be had: the ones running do the rest
      }
    }
  };
  start(reader, readers);
  if (helpers.empty()) return on_the_calling_thread();  // not one reader could start
  start(decoder, decoders - 1);
  decoder();  // the calling thread too
  for (std::thread& h : helpers) h.join();
  return failure;
}

}  // namespace

// XXH3-128 and size of a chunk -> its SHA-256 (hex).
struct CheckpointStore::HashMemo {
  using Key = std::tuple<std::uint64_t, std::uint64_t, std::uint64_t>;  // low, high, size
  using Map = std::map<Key, std::string>;
  std::mutex mu;
  std::shared_ptr<const Map> last_save = std::make_shared<const Map>();  // guarded by mu

  static Key KeyOf(std::string_view chunk) {
    const XXH128_hash_t h = XXH3_128bits(chunk.data(), chunk.size());
    return {h.low64, h.high64, chunk.size()};
  }
};

CheckpointStore::CheckpointStore(std::string root, CheckpointStoreOptions options)
    : hash_memo_(std::make_shared<HashMemo>()), root_(std::move(root)), options_(options) {}

Result<CheckpointStore> CheckpointStore::Open(std::string root, CheckpointStoreOptions options) {
  if (options.chunk_size == 0 || options.chunk_size % 8 != 0 ||
      options.chunk_size > kMaxChunkSize) {
    return Status::InvalidArgument("chunk_size must be a positive multiple of 8 up to " +
                                   std::to_string(kMaxChunkSize) + ", not " +
                                   std::to_string(options.chunk_size));
  }
  if (options.zstd_level < 1 || options.zstd_level > 3) {
    return Status::InvalidArgument("zstd_level must be 1..3, not " +
                                   std::to_string(options.zstd_level));
  }
  if (options.threads < 0 || options.threads > kMaxThreads) {
    return Status::InvalidArgument("threads must be 0.." + std::to_string(kMaxThreads) + ", not " +
                                   std::to_string(options.threads));
  }
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return Status::Unavailable("create " + root + ": " + ec.message());
  for (const char* sub : {"/chunks", "/manifests"}) {
    if (Status s = EnsureDir(root + sub); !s.ok()) return s;
  }
  return CheckpointStore(std::move(root), options);
}

Result<CheckpointStore> CheckpointStore::OpenExisting(std::string root,
                                                      CheckpointStoreOptions options) {
  std::error_code ec;
  if (root.empty()) return Status::InvalidArgument("no checkpoint store given");
  if (!fs::is_directory(root + "/manifests", ec) || !fs::is_directory(root + "/chunks", ec)) {
    return Status::NotFound("no checkpoint store at " + root + " (expected " + root +
                            "/manifests)");
  }
  return Open(std::move(root), options);
}

Result<std::vector<std::string>> CheckpointStore::List() const {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(root_ + "/manifests", ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string file = it->path().filename().string();
    constexpr std::string_view kSuffix = ".json";
    if (file.starts_with(".") || !file.ends_with(kSuffix)) continue;  // .tmp-*: a save in progress
    names.push_back(file.substr(0, file.size() - kSuffix.size()));
  }
  if (ec) return Status::Unavailable("list " + root_ + "/manifests: " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

std::string CheckpointStore::ChunkPath(const std::string& hash) const {
  return root_ + "/chunks/" + hash.substr(0, 2) + "/" + hash;
}

Result<files::FileLock> CheckpointStore::LockForWrite() const {
  return files::FileLock::Acquire(root_ + "/" + kLockFile, /*exclusive=*/false, /*wait=*/true);
}

Result<SaveReport> CheckpointStore::Save(std::string_view name, const Checkpoint& checkpoint) {
  if (Status s = ValidateCheckpointName(name); !s.ok()) return s;
  if (Status s = ValidateCheckpoint(checkpoint); !s.ok()) return s;
  Result<files::FileLock> lock = LockForWrite();  // keeps gc out until the manifest is published
  if (!lock.ok()) return lock.status();

  // Every chunk of the checkpoint in manifest order (tensor, then offset), and what became of
  // it; the threads fill `chunks` at disjoint indexes.
  struct Chunk {
    std::size_t tensor = 0;
    std::uint64_t offset = 0;
    ChunkRef ref;
    bool written = false;         // this save created its file
    std::uint64_t file_size = 0;  // of that file
  };
  std::vector<Chunk> chunks;
  for (std::size_t t = 0; t < checkpoint.tensors.size(); ++t) {
    for (std::uint64_t off = 0; off < checkpoint.tensors[t].bytes.size();
         off += options_.chunk_size) {
      chunks.push_back({.tensor = t, .offset = off});
    }
  }
  // The previous save's memo, only read (see Save in the header); this save's is built in
  // `hashed` and replaces it at the end, whatever the outcome (it maps bytes to their hash).
  if (hash_memo_ == nullptr) hash_memo_ = std::make_shared<HashMemo>();  // moved from
  std::shared_ptr<const HashMemo::Map> remembered;
  {
    std::lock_guard lock(hash_memo_->mu);
    remembered = hash_memo_->last_save;
  }
  HashMemo::Map hashed;  // guarded by mu
  std::atomic<std::uint64_t> chunks_hashed{0};
  std::mutex mu;
  std::set<std::string> claimed;  // hashes a thread of this save has taken (written or found)
  std::set<std::string> folders;  // chunks/xx folders this save wrote or found a chunk in
  const Status written = ForEachIndex(
      chunks.size(), ResolveThreads(options_.threads), [&](std::size_t i, ChunkScratch& scratch) {
        Chunk& c = chunks[i];
        const Tensor& t = checkpoint.tensors[c.tensor];
        const std::string_view original =
            std::string_view(t.bytes).substr(c.offset, options_.chunk_size);
        const HashMemo::Key key = HashMemo::KeyOf(original);
        if (const auto known = remembered->find(key); known != remembered->end()) {
          c.ref = {known->second, original.size()};
        } else {
          c.ref = {Sha256Hex(original), original.size()};
          chunks_hashed.fetch_add(1);
        }
        {
          std::lock_guard lock(mu);
          hashed.emplace(key, c.ref.hash);
          if (!claimed.insert(c.ref.hash).second) return Status::Ok();  // the same bytes again
        }
        const std::string dir = root_ + "/chunks/" + c.ref.hash.substr(0, 2);
        if (FileExists(ChunkPath(c.ref.hash))) {
          // Perhaps renamed into place by a save killed before its folder fsync: the manifest
          // may reference it only once its name is durable, so its folder is fsynced too.
          std::lock_guard lock(mu);
          folders.insert(dir);
          return Status::Ok();
        }
        Result<std::string_view> file = scratch.codec.Encode(
            original, PlaneWidth(t.dtype, options_.planes), options_.zstd_level);
        if (!file.ok()) return file.status();
        if (Status s = EnsureDir(dir); !s.ok()) return s;
        // The folder is fsynced below, once for all the chunks this save renamed into it.
        if (Status s = WriteFileDurably(dir, c.ref.hash, *file, /*sync_dir=*/false,
                                        /*direct_buffer=*/&scratch.file);
            !s.ok()) {
          return s;
        }
        c.written = true;
        c.file_size = file->size();
        std::lock_guard lock(mu);
        folders.insert(dir);
        return Status::Ok();
      });
  {
    std::lock_guard lock(hash_memo_->mu);
    hash_memo_->last_save = std::make_shared<const HashMemo::Map>(std::move(hashed));
  }
  if (!written.ok()) return written;
  // Every chunk durable (its file and its name) before the manifest can reference it; and the
  // names of the chunks/xx folders themselves (one may be left by a killed save, unsynced).
  if (!folders.empty()) folders.insert(root_ + "/chunks");
  const std::vector<std::string> to_sync(folders.begin(), folders.end());
  if (Status s = ForEachIndex(to_sync.size(), ResolveThreads(options_.threads),
                              [&](std::size_t i) { return files::FsyncPath(to_sync[i]); });
      !s.ok()) {
    return s;
  }

  SaveReport report;
  CheckpointManifest manifest;
  manifest.name = std::string(name);
  manifest.chunk_size = options_.chunk_size;
  manifest.metadata = checkpoint.metadata;
  std::size_t next = 0;  // `chunks` is in tensor order
  for (std::size_t i = 0; i < checkpoint.tensors.size(); ++i) {
    const Tensor& t = checkpoint.tensors[i];
    TensorEntry entry{t.name, t.dtype, t.shape, t.bytes.size(), {}};
    for (; next < chunks.size() && chunks[next].tensor == i; ++next) {
      Chunk& c = chunks[next];
      if (c.written) {
        ++report.chunks_written;
        report.original_bytes_written += c.ref.size;
        report.bytes_written += c.file_size;
      }
      ++report.chunks_total;
      entry.chunks.push_back(std::move(c.ref));
    }
    report.bytes_total += t.bytes.size();
    manifest.tensors.push_back(std::move(entry));
  }

  Result<std::uint64_t> manifest_bytes = WriteManifest(manifest, /*make_latest=*/true);
  if (!manifest_bytes.ok()) return manifest_bytes.status();
  report.manifest_bytes = *manifest_bytes;
  report.chunks_hashed = chunks_hashed.load();
  return report;
}

Result<std::uint64_t> CheckpointStore::WriteManifest(const CheckpointManifest& manifest,
                                                     bool make_latest) {
  const std::string json = ManifestToJson(manifest);
  if (Status s = WriteFileDurably(root_ + "/manifests", manifest.name + ".json", json); !s.ok()) {
    return s;
  }
  if (make_latest) {
    if (Status s = WriteFileDurably(root_, std::string(kLatest), manifest.name + "\n"); !s.ok()) {
      return s;
    }
  }
  return json.size();
}

bool CheckpointStore::HasChunk(std::string_view hash) const {
  return IsChunkHash(hash) && FileExists(ChunkPath(std::string(hash)));
}

Result<std::string> CheckpointStore::ReadChunkFile(std::string_view hash) const {
  if (!IsChunkHash(hash)) {
    return Status::InvalidArgument("'" + std::string(hash) + "' is not a chunk hash (64 hex)");
  }
  Result<std::string> file = ReadFile(ChunkPath(std::string(hash)));
  if (!file.ok() && file.status().code() == StatusCode::kNotFound) {
    return Status::NotFound("no chunk " + std::string(hash) + " in " + root_);
  }
  return file;
}

Result<bool> CheckpointStore::PutChunkFile(std::string_view hash, std::uint64_t size,
                                           std::string_view file) {
  if (!IsChunkHash(hash)) {
    return Status::InvalidArgument("'" + std::string(hash) + "' is not a chunk hash (64 hex)");
  }
  if (size == 0 || size > kMaxChunkSize) {
    return Status::InvalidArgument("chunk " + std::string(hash) + ": " + std::to_string(size) +
                                   " bytes (1.." + std::to_string(kMaxChunkSize) + " allowed)");
  }
  const std::string name(hash);
  if (FileExists(ChunkPath(name))) {
    // Perhaps renamed into place by a writer killed before its folder fsync: make it durable.
    if (Status s = files::FsyncPath(root_ + "/chunks/" + name.substr(0, 2)); !s.ok()) return s;
    return false;
  }
  Result<files::FileLock> lock = LockForWrite();
  if (!lock.ok()) return lock.status();
  Result<std::string> original = DecodeChunk(file, size);
  if (!original.ok()) {
    return Status::InvalidArgument("chunk " + name + ": " + original.status().message());
  }
  if (const std::string actual = Sha256Hex(*original); actual != name) {
    return Status::InvalidArgument("chunk " + name + ": the bytes hash to " + actual);
  }
  const std::string dir = root_ + "/chunks/" + name.substr(0, 2);
  if (Status s = EnsureDir(dir); !s.ok()) return s;
  if (Status s = WriteFileDurably(dir, name, file); !s.ok()) return s;
  if (Status s = files::FsyncPath(root_ + "/chunks"); !s.ok()) return s;  // the folder's name
  return true;
}

Status CheckpointStore::Publish(const CheckpointManifest& manifest, bool make_latest) {
  if (Status s = ValidateCheckpointName(manifest.name); !s.ok()) return s;
  Result<files::FileLock> lock = LockForWrite();  // no gc between the check and the manifest
  if (!lock.ok()) return lock.status();
  for (const TensorEntry& t : manifest.tensors) {
    for (std::size_t i = 0; i < t.chunks.size(); ++i) {
      if (!HasChunk(t.chunks[i].hash)) {
        return Status::Conflict("checkpoint '" + manifest.name + "' tensor '" + t.name +
                                "' chunk " + std::to_string(i) + " (" + t.chunks[i].hash +
                                ") is not in " + root_);
      }
    }
  }
  Result<std::uint64_t> written = WriteManifest(manifest, make_latest);
  return written.ok() ? Status::Ok() : written.status();
}

Result<std::string> CheckpointStore::Latest() const {
  Result<std::string> text = ReadFile(root_ + "/" + std::string(kLatest));
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return Status::NotFound("no checkpoint published yet in " + root_);
    }
    return text.status();
  }
  std::string name = std::move(*text);
  if (!name.empty() && name.back() == '\n') name.pop_back();
  if (!ValidateCheckpointName(name).ok()) {
    return Status::Internal(root_ + "/latest holds no valid checkpoint name");
  }
  return name;
}

Result<CheckpointManifest> CheckpointStore::ReadManifest(std::string_view name) const {
  std::string resolved(name);
  if (name == kLatest) {
    Result<std::string> latest = Latest();
    if (!latest.ok()) return latest.status();
    resolved = std::move(*latest);
  } else if (Status s = ValidateCheckpointName(name); !s.ok()) {
    return s;
  }
  const std::string path = root_ + "/manifests/" + resolved + ".json";
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return Status::NotFound("no checkpoint '" + resolved + "' in " + root_);
    }
    return text.status();
  }
  Result<CheckpointManifest> manifest = ParseManifest(*text);
  if (!manifest.ok()) {
    return Status(manifest.status().code(),
                  "checkpoint '" + resolved + "': " + manifest.status().message());
  }
  if (manifest->name != resolved) {
    return Status::Internal("checkpoint '" + resolved + "': manifest names '" + manifest->name +
                            "'");
  }
  return manifest;
}

Status CheckpointStore::ReadChunks(const CheckpointManifest& manifest, Checkpoint* out,
                                   bool sha256) const {
  // Every chunk in manifest order, with where its bytes go in its tensor.
  struct Chunk {
    std::size_t tensor = 0;
    std::size_t index = 0;  // within the tensor
    std::uint64_t offset = 0;
  };
  std::vector<Chunk> chunks;
  for (std::size_t t = 0; t < manifest.tensors.size(); ++t) {
    const TensorEntry& entry = manifest.tensors[t];
    std::uint64_t offset = 0;
    for (std::size_t i = 0; i < entry.chunks.size(); ++i) {
      chunks.push_back({t, i, offset});
      offset += entry.chunks[i].size;
    }
    if (offset != entry.size) {  // ParseManifest refuses such a manifest; a handed-in one may not
      return Status::Internal("checkpoint '" + manifest.name + "' tensor '" + entry.name +
                              "': chunks hold " + std::to_string(offset) + " bytes, size says " +
                              std::to_string(entry.size));
    }
  }
  const int threads = ResolveThreads(options_.threads);
  // Each tensor's bytes are allocated by the first thread to reach one of its chunks (the
  // others wait for it), so that faulting in fresh memory overlaps with reading other chunks;
  // every chunk is decoded straight into its place in them. (A mutex, not std::call_once: an
  // exception out of call_once can leave its flag stuck with libstdc++, GCC bug 66146.)
  struct Allocation {
    std::mutex mu;
    bool done = false;  // guarded by mu
  };
  std::vector<Allocation> allocations(out != nullptr ? manifest.tensors.size() : 0);
  if (out != nullptr) {
    out->tensors.resize(manifest.tensors.size());
    for (std::size_t t = 0; t < manifest.tensors.size(); ++t) {
      const TensorEntry& entry = manifest.tensors[t];
      out->tensors[t] = {entry.name, entry.dtype, entry.shape, {}};
    }
  }
  const auto path_of = [&](std::size_t k) {
    return ChunkPath(manifest.tensors[chunks[k].tensor].chunks[chunks[k].index].hash);
  };
  const auto decode = [&](std::size_t k, const ChunkFileRead& chunk_file, ChunkScratch& scratch) {
    const Chunk& c = chunks[k];
    const TensorEntry& entry = manifest.tensors[c.tensor];
    const ChunkRef& ref = entry.chunks[c.index];
    const auto where = [&] {
      return "checkpoint '" + manifest.name + "' tensor '" + entry.name + "' chunk " +
             std::to_string(c.index) + " (" + ref.hash + "): ";
    };
    if (!chunk_file.ok()) {
      if (chunk_file.status().code() == StatusCode::kNotFound) {
        return Status::Internal(where() + "chunk file missing");
      }
      return Status(chunk_file.status().code(), where() + chunk_file.status().message());
    }
    const std::string_view file = chunk_file->bytes;
    std::span<char> original;
    if (out != nullptr) {
      std::string& bytes = out->tensors[c.tensor].bytes;
      Allocation& allocation = allocations[c.tensor];
      std::lock_guard lock(allocation.mu);
      if (!allocation.done) {
        try {
          ResizeForOverwrite(bytes, entry.size);
        } catch (const std::bad_alloc&) {
          return Status::Internal(where() + "out of memory for the tensor's " +
                                  std::to_string(entry.size) + " bytes");
        }
        allocation.done = true;
      }
      original = std::span<char>(bytes).subspan(c.offset, ref.size);
    } else {
      if (scratch.original.size() < ref.size) ResizeForOverwrite(scratch.original, ref.size);
      original = std::span<char>(scratch.original).first(ref.size);
    }
    if (Status s = scratch.codec.DecodeInto(file, original); !s.ok()) {
      return Status::Internal(where() + s.message());
    }
    // A file with a content checksum was checked as it decoded; one without is hashed, and so
    // is one whose plane width no writer would have chosen for this dtype (the checksum does
    // not cover the header: a width overwritten with another valid one decodes without error).
    // Chunks are shared across dtypes, so such a width is hashed, not refused.
    const std::size_t width = PlaneWidthOf(file);
    const bool usual_width =  // what a writer with planes on or off uses for this dtype
        width == PlaneWidth(entry.dtype, /*planes=*/false) ||
        width == PlaneWidth(entry.dtype, /*planes=*/true);
    if (!sha256 && usual_width && CarriesChecksum(file)) return Status::Ok();
    const std::string actual = Sha256Hex(std::string_view(original.data(), original.size()));
    if (actual != ref.hash) {
      return Status::Internal(where() + "sha-256 mismatch (the bytes hash to " + actual + ")");
    }
    return Status::Ok();
  };
  Status read = ReadThenDecode(chunks.size(), threads, path_of, decode);
  if (!read.ok()) return read;
  if (out != nullptr) out->metadata = manifest.metadata;
  return Status::Ok();
}

Result<Checkpoint> CheckpointStore::Load(std::string_view name) const {
  Result<CheckpointManifest> manifest = ReadManifest(name);
  if (!manifest.ok()) return manifest.status();
  Checkpoint checkpoint;
  if (Status s = ReadChunks(*manifest, &checkpoint,
                            /*sha256=*/options_.load_check == LoadCheck::kSha256);
      !s.ok()) {
    return s;
  }
  return checkpoint;
}

Status CheckpointStore::Verify(std::string_view name) const {
  Result<CheckpointManifest> manifest = ReadManifest(name);
  if (!manifest.ok()) return manifest.status();
  return ReadChunks(*manifest, nullptr, /*sha256=*/true);
}

Result<GcReport> CheckpointStore::Gc() {
  Result<files::FileLock> lock =
      files::FileLock::Acquire(root_ + "/" + kLockFile, /*exclusive=*/true, /*wait=*/false);
  if (!lock.ok()) {
    if (lock.status().code() != StatusCode::kConflict) return lock.status();
    return Status::Conflict("gc removed nothing: a save or transfer is writing to " + root_ +
                            "; run gc again when it has finished");
  }
  GcReport report;
  std::set<std::string> referenced;
  std::vector<std::string> temps;
  std::error_code ec;
  const std::string manifests = root_ + "/manifests";
  for (const fs::directory_entry& e : fs::directory_iterator(manifests, ec)) {
    const std::string file = e.path().filename().string();
    if (IsTemp(file)) {
      temps.push_back(e.path().string());
      continue;
    }
    if (!file.ends_with(".json")) continue;
    Result<CheckpointManifest> m = ReadManifest(file.substr(0, file.size() - 5));
    if (!m.ok()) return Status(m.status().code(), "gc removed nothing: " + m.status().message());
    for (const TensorEntry& t : m->tensors) {
      for (const ChunkRef& c : t.chunks) referenced.insert(c.hash);
    }
  }
  if (ec) return Status::Unavailable("list " + manifests + ": " + ec.message());
  for (const fs::directory_entry& e : fs::directory_iterator(root_, ec)) {
    if (IsTemp(e.path().filename().string())) temps.push_back(e.path().string());
  }
  if (ec) return Status::Unavailable("list " + root_ + ": " + ec.message());

  const std::string chunks = root_ + "/chunks";
  for (const fs::directory_entry& sub : fs::directory_iterator(chunks, ec)) {
    if (!sub.is_directory()) {
      if (IsTemp(sub.path().filename().string())) temps.push_back(sub.path().string());
      continue;
    }
    std::error_code sub_ec;
    for (const fs::directory_entry& e : fs::directory_iterator(sub.path(), sub_ec)) {
      const std::string file = e.path().filename().string();
      if (IsTemp(file)) {
        temps.push_back(e.path().string());
      } else if (!referenced.contains(file)) {
        const std::uint64_t size = e.file_size(sub_ec);
        if (!fs::remove(e.path(), sub_ec) || sub_ec) {
          return Status::Unavailable("remove " + e.path().string() + ": " + sub_ec.message());
        }
        ++report.chunks_removed;
        report.bytes_removed += size;
      }
    }
    if (sub_ec) return Status::Unavailable("list " + sub.path().string() + ": " + sub_ec.message());
  }
  if (ec) return Status::Unavailable("list " + chunks + ": " + ec.message());
  for (const std::string& t : temps) {
    if (fs::remove(t, ec)) ++report.temp_files_removed;
    if (ec) return Status::Unavailable("remove " + t + ": " + ec.message());
  }
  return report;
}

}  // namespace gpool::ckpt
