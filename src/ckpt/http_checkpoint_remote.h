// HttpCheckpointRemote: a checkpoint store served by `gpool ckpt serve` (CheckpointStoreApi,
// checkpoint_store_api.h), reached over HTTP with cpp-httplib. Implements CheckpointRemote
// (checkpoint_remote.h) and its contract.
//
// Every request carries `Authorization: Bearer <token>` when a token is given. Timeouts: the
// connection (default 5 s) and every read or write on it (default 60 s). Bodies read back are
// bounded (a chunk file by MaxChunkFileBytes of the chunk's size, a manifest by
// kMaxManifestBytes), so a misbehaving server cannot make the client hold more.
//
// Errors name the method, the URL and the HTTP status with the server's message:
//   cannot connect, timeouts, 5xx      -> Unavailable (retry later)
//   404 for a manifest or a chunk      -> NotFound
//   409                                -> Conflict
//   400, 401, 405, 413, other 4xx      -> InvalidArgument (401: the token is missing or wrong)
//   a reply that is not what the API returns (not JSON, a malformed manifest) -> Internal
//
// Thread safety: any method from several threads at once; each call borrows a connection from
// a small pool (kept alive between calls) and returns it.
#pragma once

#include <memory>
#include <string>

#include "ckpt/checkpoint_remote.h"
#include "core/status.h"

namespace gpool::ckpt {

struct HttpRemoteOptions {
  std::string token;  // empty: send no Authorization header
  int connect_timeout_s = 5;
  int io_timeout_s = 60;
};

class HttpCheckpointRemote final : public CheckpointRemote {
 public:
  // `url` is http://HOST[:PORT] with an optional trailing '/'. InvalidArgument otherwise
  // (https and path prefixes are not supported). Makes no connection.
  static Result<std::unique_ptr<HttpCheckpointRemote>> Create(const std::string& url,
                                                              HttpRemoteOptions options = {});
  ~HttpCheckpointRemote() override;

  std::string Describe() const override;
  Result<CheckpointListing> List() override;
  Result<CheckpointManifest> ReadManifest(std::string_view name) override;
  Result<std::vector<std::string>> MissingChunks(const std::vector<std::string>& hashes) override;
  Result<std::string> ReadChunkFile(const ChunkRef& chunk) override;
  Result<bool> PutChunkFile(const ChunkRef& chunk, std::string_view file) override;
  Status Publish(const CheckpointManifest& manifest, bool make_latest) override;

 private:
  struct Impl;
  explicit HttpCheckpointRemote(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpool::ckpt
