// CheckpointRemote: a checkpoint store as the other end of a transfer sees it — the few
// operations that push and pull (checkpoint_transfer.h) are made of. Two implementations:
// LocalCheckpointRemote (below: a CheckpointStore in this process, or on a filesystem that two
// machines share) and HttpCheckpointRemote (http_checkpoint_remote.h: a store served by
// `gpool ckpt serve`, checkpoint_store_api.h). Both pass one conformance suite
// (tests/ckpt/ckpt_transfer_test.cc).
//
// Contract of every implementation:
//   - Hashes are 64 lower-case hex digits; anything else is InvalidArgument (never a path).
//   - PutChunkFile verifies before it writes (decodes the file, checks size and SHA-256:
//     InvalidArgument naming the chunk if not) and writes durably, so a chunk that a store
//     reports present is complete; that is what lets an interrupted transfer resume.
//   - Publish succeeds only when every chunk of the manifest is present (Conflict naming the
//     first missing one otherwise), so `latest` never names an incomplete checkpoint.
//   - NotFound only for "no such checkpoint" (ReadManifest) and "no such chunk"
//     (ReadChunkFile); Unavailable when the other end cannot be reached or its disk failed
//     (retry later); the message names the store (path or URL) and, for HTTP, the status.
//
// Thread safety: every method may be called from several threads at once (a transfer moves a
// few chunks in parallel).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ckpt/checkpoint_manifest.h"
#include "ckpt/checkpoint_store.h"
#include "core/status.h"

namespace gpool::ckpt {

// The most hashes one MissingChunks call may ask about (a transfer asks in batches).
inline constexpr std::size_t kMaxHashesPerQuery = 10'000;

struct CheckpointListing {
  std::vector<std::string> names;     // sorted
  std::optional<std::string> latest;  // absent before the first publish
  bool operator==(const CheckpointListing&) const = default;
};

class CheckpointRemote {
 public:
  virtual ~CheckpointRemote() = default;

  // For messages: the store's folder or URL.
  virtual std::string Describe() const = 0;
  virtual Result<CheckpointListing> List() = 0;
  // `name` or "latest" (resolved: the manifest's name is the checkpoint's own).
  virtual Result<CheckpointManifest> ReadManifest(std::string_view name) = 0;
  // The hashes of `hashes` this store lacks, in the order given.
  // REQUIRES: hashes.size() <= kMaxHashesPerQuery.
  virtual Result<std::vector<std::string>> MissingChunks(
      const std::vector<std::string>& hashes) = 0;
  // The chunk file as stored (compressed). `chunk.size` (original bytes) bounds what is read.
  virtual Result<std::string> ReadChunkFile(const ChunkRef& chunk) = 0;
  // True if written, false if the store already had it.
  virtual Result<bool> PutChunkFile(const ChunkRef& chunk, std::string_view file) = 0;
  virtual Status Publish(const CheckpointManifest& manifest, bool make_latest) = 0;
};

// A CheckpointStore of this process behind the interface. Keeps a reference: `store` must
// outlive it.
class LocalCheckpointRemote final : public CheckpointRemote {
 public:
  explicit LocalCheckpointRemote(CheckpointStore& store) : store_(store) {}

  std::string Describe() const override { return store_.root(); }
  Result<CheckpointListing> List() override;
  Result<CheckpointManifest> ReadManifest(std::string_view name) override;
  Result<std::vector<std::string>> MissingChunks(const std::vector<std::string>& hashes) override;
  Result<std::string> ReadChunkFile(const ChunkRef& chunk) override;
  Result<bool> PutChunkFile(const ChunkRef& chunk, std::string_view file) override;
  Status Publish(const CheckpointManifest& manifest, bool make_latest) override;

 private:
  CheckpointStore& store_;
};

// Ok for 64 lower-case hex digits; InvalidArgument quoting `hash` otherwise.
Status CheckChunkHash(std::string_view hash);

}  // namespace gpool::ckpt
