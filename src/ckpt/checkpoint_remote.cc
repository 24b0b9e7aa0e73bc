#include "ckpt/checkpoint_remote.h"

#include <utility>

namespace gpool::ckpt {

Status CheckChunkHash(std::string_view hash) {
  bool ok = hash.size() == 64;
  for (char c : hash) ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (ok) return Status::Ok();
  const std::string shown =
      hash.size() > 80 ? std::string(hash.substr(0, 80)) + "..." : std::string(hash);
  return Status::InvalidArgument("'" + shown + "' is not a chunk hash (64 lower-case hex digits)");
}

Result<CheckpointListing> LocalCheckpointRemote::List() {
  Result<std::vector<std::string>> names = store_.List();
  if (!names.ok()) return names.status();
  CheckpointListing listing{std::move(*names), std::nullopt};
  Result<std::string> latest = store_.Latest();
  if (latest.ok()) {
    listing.latest = std::move(*latest);
  } else if (latest.status().code() != StatusCode::kNotFound) {
    return latest.status();
  }
  return listing;
}

Result<CheckpointManifest> LocalCheckpointRemote::ReadManifest(std::string_view name) {
  return store_.ReadManifest(name);
}

Result<std::vector<std::string>> LocalCheckpointRemote::MissingChunks(
    const std::vector<std::string>& hashes) {
  if (hashes.size() > kMaxHashesPerQuery) {
    return Status::InvalidArgument("at most " + std::to_string(kMaxHashesPerQuery) +
                                   " hashes per question, not " + std::to_string(hashes.size()));
  }
  std::vector<std::string> missing;
  for (const std::string& hash : hashes) {
    if (Status s = CheckChunkHash(hash); !s.ok()) return s;
    if (!store_.HasChunk(hash)) missing.push_back(hash);
  }
  return missing;
}

Result<std::string> LocalCheckpointRemote::ReadChunkFile(const ChunkRef& chunk) {
  return store_.ReadChunkFile(chunk.hash);
}

Result<bool> LocalCheckpointRemote::PutChunkFile(const ChunkRef& chunk, std::string_view file) {
  return store_.PutChunkFile(chunk.hash, chunk.size, file);
}

Status LocalCheckpointRemote::Publish(const CheckpointManifest& manifest, bool make_latest) {
  return store_.Publish(manifest, make_latest);
}

}  // namespace gpool::ckpt
