#include "ckpt/checkpoint_store_api.h"

#include <zstd.h>

#include <algorithm>
#include <charconv>
#include <exception>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>
#include <vector>

#include "ckpt/checkpoint_manifest.h"
#include "ckpt/checkpoint_remote.h"
#include "core/sha256.h"

namespace gpool::ckpt {
namespace {

using nlohmann::json;

// chunk_codec.h: "GPCK", the codec version and the plane width come before the zstd frame.
constexpr std::uint64_t kChunkHeaderBytes = 6;

StoreApiResponse Json(int status, const json& body) {
  return {status, "application/json", body.dump(-1, ' ', false, json::error_handler_t::replace)};
}

StoreApiResponse Error(int status, const std::string& message) {
  return Json(status, json{{"error", message}});
}

// The HTTP status of a store error.
StoreApiResponse FromStatus(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      return Error(400, s.message());
    case StatusCode::kNotFound:
      return Error(404, s.message());
    case StatusCode::kConflict:
      return Error(409, s.message());
    case StatusCode::kUnavailable:
      return Error(503, s.message());
    case StatusCode::kOk:
    case StatusCode::kInternal:
      break;
  }
  return Error(500, s.message());
}

StoreApiResponse MethodNotAllowed(const StoreApiRequest& r, std::string_view allowed) {
  return Error(405, r.method + " " + r.path + ": use " + std::string(allowed));
}

StoreApiResponse TooLarge(const std::string& what, std::size_t size, std::uint64_t bound) {
  return Error(413, what + " of " + std::to_string(size) + " bytes is over the bound of " +
                        std::to_string(bound));
}

// "/v1/chunks/ab" -> {"v1", "chunks", "ab"}; empty segments are kept (so "//" is no route).
std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') return out;
  path.remove_prefix(1);
  while (true) {
    const std::size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool QueryFlag(const StoreApiRequest& r, const std::string& key) {
  const auto it = r.query.find(key);
  return it != r.query.end() && (it->second == "1" || it->second == "true");
}

}  // namespace

std::uint64_t MaxChunkFileBytes(std::uint64_t size) {
  return kChunkHeaderBytes + ZSTD_COMPRESSBOUND(size);
}

CheckpointStoreApi::CheckpointStoreApi(CheckpointStore& store, StoreApiOptions options)
    : store_(store),
      options_(std::move(options)),
      token_sha256_(options_.token.empty() ? "" : core::Sha256Hex(options_.token)) {}

std::size_t CheckpointStoreApi::MaxBodyBytes() const {
  return std::max<std::size_t>(
      {kMaxManifestBytes, kMaxQueryBytes,
       static_cast<std::size_t>(MaxChunkFileBytes(options_.max_chunk_size))});
}

StoreApiResponse CheckpointStoreApi::Handle(const StoreApiRequest& r) {
  try {
    if (!token_sha256_.empty()) {
      constexpr std::string_view kBearer = "Bearer ";
      if (r.authorization.empty()) {
        return Error(401, "this store needs a token: send 'Authorization: Bearer <token>'");
      }
      if (!r.authorization.starts_with(kBearer)) {
        return Error(401, "the Authorization header must be 'Bearer <token>'");
      }
      if (core::Sha256Hex(std::string_view(r.authorization).substr(kBearer.size())) !=
          token_sha256_) {
        return Error(401, "wrong token");
      }
    }
    const std::vector<std::string_view> seg = Segments(r.path);
    if (seg.size() < 2 || seg.size() > 3 || seg[0] != "v1") {
      return Error(404, "no such path: " + r.path);
    }

    if (seg[1] == "checkpoints" && seg.size() == 2) {
      if (r.method != "GET") return MethodNotAllowed(r, "GET");
      Result<std::vector<std::string>> names = store_.List();
      if (!names.ok()) return FromStatus(names.status());
      json out = {{"checkpoints", *names}, {"latest", nullptr}};
      Result<std::string> latest = store_.Latest();
      if (latest.ok()) {
        out["latest"] = *latest;
      } else if (latest.status().code() != StatusCode::kNotFound) {
        return FromStatus(latest.status());
      }
      return Json(200, out);
    }

    if (seg[1] == "checkpoints" && seg.size() == 3) {
      const std::string name(seg[2]);
      if (r.method == "GET") {
        Result<CheckpointManifest> m = store_.ReadManifest(name);
        if (!m.ok()) return FromStatus(m.status());
        return {200, "application/json", ManifestToJson(*m)};
      }
      if (r.method != "PUT") return MethodNotAllowed(r, "GET or PUT");
      if (r.body.size() > kMaxManifestBytes) {
        return TooLarge("a manifest", r.body.size(), kMaxManifestBytes);
      }
      Result<CheckpointManifest> m = ParseManifest(r.body);
      if (!m.ok()) return Error(400, "manifest: " + m.status().message());
      if (m->name != name) {
        return Error(400, "the manifest names '" + m->name + "', the path '" + name + "'");
      }
      const bool make_latest = QueryFlag(r, "latest");
      if (Status s = store_.Publish(*m, make_latest); !s.ok()) return FromStatus(s);
      return Json(200, json{{"name", name}, {"latest", make_latest}});
    }

    if (seg[1] == "chunks" && seg.size() == 3 && seg[2] == "missing") {
      if (r.method != "POST") return MethodNotAllowed(r, "POST");
      if (r.body.size() > kMaxQueryBytes) {
        return TooLarge("a question", r.body.size(), kMaxQueryBytes);
      }
      const json in = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
      if (!in.is_object() || !in.contains("hashes") || !in["hashes"].is_array()) {
        return Error(400, "expected {\"hashes\": [\"<sha-256 hex>\", ...]}");
      }
      if (in["hashes"].size() > kMaxHashesPerQuery) {
        return Error(400, "at most " + std::to_string(kMaxHashesPerQuery) +
                              " hashes per question, not " + std::to_string(in["hashes"].size()));
      }
      json missing = json::array();
      for (const json& h : in["hashes"]) {
        if (!h.is_string()) return Error(400, "hashes: every entry must be a string");
        const std::string& hash = h.get_ref<const std::string&>();
        if (Status s = CheckChunkHash(hash); !s.ok()) return FromStatus(s);
        if (!store_.HasChunk(hash)) missing.push_back(hash);
      }
      return Json(200, json{{"missing", std::move(missing)}});
    }

    if (seg[1] == "chunks" && seg.size() == 3) {
      const std::string hash(seg[2]);
      if (r.method != "GET" && r.method != "PUT") return MethodNotAllowed(r, "GET or PUT");
      if (Status s = CheckChunkHash(hash); !s.ok()) return FromStatus(s);
      if (r.method == "GET") {
        Result<std::string> file = store_.ReadChunkFile(hash);
        if (!file.ok()) return FromStatus(file.status());
        return {200, "application/octet-stream", std::move(*file)};
      }
      const auto size_it = r.query.find("size");
      if (size_it == r.query.end()) {
        return Error(400, "PUT /v1/chunks/{hash} needs ?size=<original bytes>");
      }
      const std::string& text = size_it->second;
      std::uint64_t size = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), size);
      if (ec != std::errc() || end != text.data() + text.size() || size == 0) {
        return Error(400, "size: expected a positive integer, got '" + text + "'");
      }
      if (size > options_.max_chunk_size) {
        return Error(413, "a chunk of " + std::to_string(size) +
                              " bytes is over this store's bound of " +
                              std::to_string(options_.max_chunk_size));
      }
      if (r.body.size() > MaxChunkFileBytes(size)) {
        return TooLarge("a chunk file", r.body.size(), MaxChunkFileBytes(size));
      }
      Result<bool> written = store_.PutChunkFile(hash, size, r.body);
      if (!written.ok()) return FromStatus(written.status());
      return Json(*written ? 201 : 200, json{{"written", *written}});
    }
    return Error(404, "no such path: " + r.path);
  } catch (const std::exception& e) {
    // Nothing above throws on a malformed request; this is a bug, reported, never a crash.
    return Error(500, std::string("internal error: ") + e.what());
  }
}

}  // namespace gpool::ckpt
