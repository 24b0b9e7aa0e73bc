// CheckpointStoreApi: a checkpoint store served over HTTP, as a pure function of a request
// (no socket; CheckpointStoreServer in checkpoint_store_server.h is the socket side, and
// HttpCheckpointRemote in http_checkpoint_remote.h the client). What `gpool ckpt serve` runs.
//
// Endpoints (with a token configured, every request needs `Authorization: Bearer <token>`):
//   GET  /v1/checkpoints              200 {"checkpoints": [names, sorted], "latest": name|null}
//   GET  /v1/checkpoints/{name}       200 the manifest JSON (checkpoint_manifest.h); "latest"
//                                     resolves to the checkpoint it names
//   PUT  /v1/checkpoints/{name}[?latest=1]
//                                     body: the manifest, whose "name" must be {name}; publishes
//                                     it (CheckpointStore::Publish), and points `latest` at it
//                                     when latest=1 (or true) -> 200 {"name", "latest": bool};
//                                     409 if a chunk it references is not here (named)
//   POST /v1/chunks/missing           body {"hashes": [...]} (at most kMaxHashesPerQuery) ->
//                                     200 {"missing": [the hashes this store lacks, in order]}
//   GET  /v1/chunks/{hash}            200 application/octet-stream: the chunk file as stored
//                                     (chunk_codec.h, compressed)
//   PUT  /v1/chunks/{hash}?size=N     body: a chunk file of N original bytes. Decoded and its
//                                     SHA-256 checked before it is written (durably) -> 201
//                                     {"written": true}, or 200 {"written": false} when the
//                                     store already had it; 400 naming the chunk if the file
//                                     does not decode to N bytes hashing to {hash}
//
// Errors: {"error": "<message>"} with 400 (malformed request: a hash that is not 64 lower-case
// hex digits, a bad name, JSON or size), 401 (token missing or wrong), 404 (no such
// checkpoint, chunk or path), 405 (wrong method on a known path), 409 (publish with a chunk
// missing), 413 (a body over its endpoint's bound, before it is parsed), 500 (this store is
// damaged: a manifest that does not parse), 503 (the disk failed). The token is checked first:
// without it every path answers 401.
//
// Bounds: a chunk holds at most options.max_chunk_size original bytes and its file at most
// MaxChunkFileBytes(size); a manifest at most kMaxManifestBytes; a question about missing
// chunks at most kMaxQueryBytes. Hashes and names are validated before any file is touched,
// so no request names a path.
//
// Thread safety: Handle() may be called concurrently (readers and chunk writes are safe
// together; two publishes each replace a whole file). Handle() never throws. Do not run
// `gpool ckpt gc` on a store while something pushes into it: gc removes the chunks already
// received whose manifest is not published yet (the push's publish then fails with 409, and a
// re-run sends them again).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "ckpt/checkpoint_store.h"

namespace gpool::ckpt {

inline constexpr std::size_t kMaxManifestBytes = 64ull << 20;        // ~700,000 chunk references
inline constexpr std::size_t kMaxQueryBytes = std::size_t{1} << 20;  // 10,000 hashes fit

// The largest chunk file a chunk of `size` original bytes can make: the chunk header and
// zstd's worst case (ZSTD_compressBound) for incompressible bytes.
std::uint64_t MaxChunkFileBytes(std::uint64_t size);

struct StoreApiRequest {
  std::string method;                        // "GET", "PUT", "POST", ...
  std::string path;                          // decoded, without the query
  std::map<std::string, std::string> query;  // decoded
  std::string authorization;                 // the Authorization header's value, or ""
  std::string body;
};

struct StoreApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

struct StoreApiOptions {
  std::string token;                             // empty: no authentication
  std::uint64_t max_chunk_size = kMaxChunkSize;  // REQUIRES: > 0
};

class CheckpointStoreApi {
 public:
  // Keeps a reference: `store` must outlive the handler.
  CheckpointStoreApi(CheckpointStore& store, StoreApiOptions options);

  StoreApiResponse Handle(const StoreApiRequest& request);

  // The largest body any endpoint accepts; the socket side may refuse more without reading it.
  std::size_t MaxBodyBytes() const;

 private:
  CheckpointStore& store_;
  StoreApiOptions options_;
  std::string token_sha256_;  // compared instead of the token, so timing reveals nothing
};

}  // namespace gpool::ckpt
