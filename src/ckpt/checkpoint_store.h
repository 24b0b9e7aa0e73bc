// CheckpointStore: checkpoints in a directory, content addressed and published atomically.
//
// Layout under the root:
//   chunks/<first 2 hex>/<sha-256 hex>   one chunk file (chunk_codec.h), written once, never
//                                        changed; shared by every checkpoint that holds the bytes
//   manifests/<name>.json                one per checkpoint (checkpoint_manifest.h)
//   latest                               the name of the last published checkpoint, and "\n"
//   .tmp-* (in any of these folders)     a write in progress or left by a crash; gc removes them
//   .lock                                the writers' flock (below)
//
// Save cuts each tensor into chunks of options.chunk_size bytes (a chunk never spans two
// tensors), names each by the SHA-256 of its bytes and writes only the chunks not already
// there (a chunk that occurs twice in one save is written once), then publishes —
// PublishCheckpoint — in this order, each file written to a temp name, fsynced and renamed into
// place: (1) the missing chunks, then one fsync of each chunks/xx folder that received one,
// (2) the manifest, its folder fsynced, (3) `latest`, its folder fsynced. So a crash (SIGKILL,
// power loss on a filesystem that keeps rename order after fsync) at any point leaves `latest`
// naming a checkpoint whose manifest and every chunk are complete on disk; at worst the new
// checkpoint is absent and temp files (or chunks no manifest names yet) remain.
//
// Load and Verify read a manifest and every chunk, decompress it and join its planes; Verify
// checks each chunk's SHA-256, Load its content checksum or SHA-256 (LoadCheck, below). Any
// fault is an error naming the checkpoint, tensor, chunk index and hash (of the first damaged
// chunk in manifest order when several are).
//
// Threads: Save hashes, encodes and writes chunks on options.threads threads (the calling one
// among them) started per call. Load and Verify read chunk files on options.threads threads and
// decode and check them on one thread per core (at most options.threads; the calling one among
// them); with threads = 1 the calling thread does both. A chunk file the page cache does not
// hold in whole is read with direct I/O (files::ReadFileDirect). The manifest and the loaded
// checkpoint do not depend on the thread count.
//
// Thread safety / processes: any number of readers. Save, PutChunkFile and Publish hold a shared
// flock on `.lock` in the root while they write; Gc takes it exclusively and, if a writer holds
// it, removes nothing and returns Conflict — so gc never removes the chunks a save in progress
// is about to reference (in any process on this host). Concurrent Saves do not corrupt the
// store, but `latest` then names whichever published last: one writer per root is the rule.
// Between a push's chunk uploads (PutChunkFile) and its Publish the chunks are unreferenced; a
// gc in that window removes them and the Publish fails with Conflict (run the push again).
//
// Errors: InvalidArgument (bad options, name or checkpoint), NotFound (no such checkpoint, no
// `latest` yet), Unavailable (the filesystem failed: the message names the path and errno),
// Internal (a corrupt or missing chunk, a malformed manifest), InvalidArgument for a manifest of
// an unknown format_version.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ckpt/checkpoint.h"
#include "ckpt/checkpoint_manifest.h"
#include "ckpt/store_files.h"
#include "core/status.h"

namespace gpool::ckpt {

// What Load checks every chunk against; either way a chunk that fails is an Internal error
// naming the checkpoint, tensor and chunk.
enum class LoadCheck {
  // The content checksum in the chunk file (32 bits of XXH64, zstd's frame checksum, computed as
  // the chunk decodes: ~0.07 s per GB): finds damaged, truncated or half-written compressed
  // data. A chunk file written without one (before 2026-11-27), or whose header's plane width is
  // not one a writer uses for the tensor's dtype, is checked by SHA-256 instead. Not found: the
  // header's width byte of a float chunk overwritten between 1 and the dtype's size (the
  // checksum does not cover the 6-byte header).
  kChecksum,
  // The SHA-256 of every chunk against its name (0.55 s per GB per core with SHA-NI): also
  // finds a whole, undamaged chunk file that holds another chunk's bytes (a bug or tampering
  // in the store's folder, not damage). What Verify (`gpool ckpt verify`) and every chunk a
  // store receives (PutChunkFile: push, pull) are always checked by.
  kSha256,
};

inline constexpr int kMaxThreads = 256;  // CheckpointStoreOptions::threads

struct CheckpointStoreOptions {
  std::uint64_t chunk_size = 4ull << 20;  // bytes; > 0 and a multiple of 8 (whole elements)
  int zstd_level = 1;                     // 1..3
  bool planes = true;                     // split floating-point tensors into byte planes
  // Threads per Save (the calling thread is one of them), and reading threads per Load or
  // Verify (plus one decoding thread per core, the calling one among them); 0..kMaxThreads.
  // 0: four per core (4 x std::thread::hardware_concurrency(): threads waiting for the disk
  // leave the cores to the others), at most 16. 1 does everything on the calling thread.
  int threads = 0;
  LoadCheck load_check = LoadCheck::kChecksum;
};

// The name `Load("latest")` and `Verify("latest")` resolve through the `latest` pointer; no
// checkpoint may be called that.
inline constexpr std::string_view kLatest = "latest";
// The writers' lock file in the root.
inline constexpr const char* kLockFile = ".lock";

// InvalidArgument unless `name` can name a checkpoint: 1-200 of [A-Za-z0-9._-], not starting
// with '.', not "latest".
Status ValidateCheckpointName(std::string_view name);

struct SaveReport {
  std::uint64_t bytes_total = 0;             // original bytes of every tensor
  std::uint64_t chunks_total = 0;            // chunk references in the manifest
  std::uint64_t chunks_written = 0;          // chunk files this save created
  std::uint64_t chunks_hashed = 0;           // chunks whose SHA-256 it computed (not remembered)
  std::uint64_t original_bytes_written = 0;  // original bytes of those chunks
  std::uint64_t bytes_written = 0;           // compressed bytes of those chunk files (as on disk)
  std::uint64_t manifest_bytes = 0;          // the manifest (always written)
};

struct GcReport {
  std::uint64_t chunks_removed = 0;
  std::uint64_t bytes_removed = 0;  // of the chunk files removed
  std::uint64_t temp_files_removed = 0;
};

class CheckpointStore {
 public:
  // Creates the root and its folders if missing. InvalidArgument for bad options.
  static Result<CheckpointStore> Open(std::string root, CheckpointStoreOptions options = {});
  // Opens a store that exists and creates nothing: NotFound "no checkpoint store at ROOT
  // (expected ROOT/manifests)" otherwise — what readers use, so that a typo makes no store.
  static Result<CheckpointStore> OpenExisting(std::string root,
                                              CheckpointStoreOptions options = {});

  // Publishes `checkpoint` as `name` and points `latest` at it. Saving an existing name
  // replaces its manifest (atomically). One writer per root (see above); waits while a gc runs.
  // Names: 1-200 of [A-Za-z0-9._-], not starting with '.', not "latest".
  //
  // Every chunk is named by its SHA-256, but a chunk whose XXH3-128 (and size) equals that of
  // a chunk of the previous Save of this object takes that chunk's SHA-256 without hashing it
  // again: a training loop saving through one store (CheckpointWriter) pays SHA-256 only for
  // what changed, and XXH3 on the rest (>10 GB/s a core, against SHA-256's 1.8). Two different
  // chunks with equal XXH3-128 and size would be taken for one (odds about N x 2^-128 per
  // changed chunk, N the chunks remembered: the hash is not cryptographic, so bytes crafted to
  // collide could do it; a store's writer is the training job itself). Only the chunks of the
  // last Save are remembered (of a failed one, those it reached). A moved-from store starts
  // with none.
  Result<SaveReport> Save(std::string_view name, const Checkpoint& checkpoint);

  // `name` or "latest"; tensors in saved order, bit for bit. Each chunk checked as
  // options.load_check says.
  Result<Checkpoint> Load(std::string_view name) const;
  // Reads every chunk of `name` and checks its SHA-256 (whatever load_check says), without
  // keeping the data: Ok, or the first damaged or missing chunk as Load reports it.
  Status Verify(std::string_view name) const;
  // The manifest alone (no chunk read).
  Result<CheckpointManifest> ReadManifest(std::string_view name) const;
  // The name `latest` points at; NotFound before the first save.
  Result<std::string> Latest() const;
  // The names of the published checkpoints, sorted (temp files of unfinished saves excluded).
  Result<std::vector<std::string>> List() const;

  // Removes chunk files no manifest references and every temp file. If any manifest cannot be
  // read, removes nothing and returns that error (its chunks might be the unreferenced ones).
  // Conflict, removing nothing, while a Save, PutChunkFile or Publish holds the store.
  Result<GcReport> Gc();

  // --- Chunk-level access: how checkpoints move between stores (push/pull) ---
  // Hashes are 64 lower-case hex digits (anything else is InvalidArgument, never a path).
  bool HasChunk(std::string_view hash) const;
  // The chunk file as stored (chunk_codec.h format, compressed). NotFound if absent.
  Result<std::string> ReadChunkFile(std::string_view hash) const;
  // Adds a chunk file made by another store: decodes it, checks it holds `size` original bytes
  // that hash to `hash` (InvalidArgument naming the chunk if not) and writes it durably.
  // Returns true if written, false if the store already had it. Safe alongside a Save.
  Result<bool> PutChunkFile(std::string_view hash, std::uint64_t size, std::string_view file);
  // Publishes `manifest` (whose chunks must all be here: Conflict naming the first
  // missing one) and, if `make_latest`, points `latest` at it.
  Status Publish(const CheckpointManifest& manifest, bool make_latest);

  const std::string& root() const { return root_; }

 private:
  CheckpointStore(std::string root, CheckpointStoreOptions options);
  // Reads and checks every chunk of `manifest` (against its SHA-256 when `sha256`, else as
  // LoadCheck::kChecksum says); fills `out` when non-null.
  Status ReadChunks(const CheckpointManifest& manifest, Checkpoint* out, bool sha256) const;
  std::string ChunkPath(const std::string& hash) const;
  // The shared writers' lock (see "Thread safety" above); waits while a gc runs.
  Result<files::FileLock> LockForWrite() const;
  // Writes the manifest, then `latest` if asked; returns the manifest's size in bytes.
  Result<std::uint64_t> WriteManifest(const CheckpointManifest& manifest, bool make_latest);

  // The SHA-256 of each chunk of the last Save of this object (or of a copy), by the chunk's
  // XXH3-128 and size: see Save.
  struct HashMemo;
  std::shared_ptr<HashMemo> hash_memo_;
  std::string root_;
  CheckpointStoreOptions options_;
};

}  // namespace gpool::ckpt
