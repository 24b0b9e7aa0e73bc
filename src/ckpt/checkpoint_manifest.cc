#include "ckpt/checkpoint_manifest.h"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

namespace gpool::ckpt {
namespace {

using nlohmann::json;

bool IsHexHash(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Parses one entry; nlohmann's type errors are caught by the caller and named there.
Result<TensorEntry> ParseTensor(const json& j, std::size_t index) {
  const std::string where = "tensors[" + std::to_string(index) + "]";
  if (!j.is_object()) return Status::Internal("manifest: " + where + " is not an object");
  TensorEntry t;
  t.name = j.at("name").get<std::string>();
  const std::string dtype = j.at("dtype").get<std::string>();
  std::optional<DType> d = ParseDType(dtype);
  if (!d) return Status::Internal("manifest: " + where + " has unknown dtype '" + dtype + "'");
  t.dtype = *d;
  t.shape = j.at("shape").get<std::vector<std::int64_t>>();
  t.size = j.at("size").get<std::uint64_t>();
  std::uint64_t sum = 0;
  for (const json& c : j.at("chunks")) {
    ChunkRef ref{c.at("hash").get<std::string>(), c.at("size").get<std::uint64_t>()};
    if (!IsHexHash(ref.hash)) {
      return Status::Internal("manifest: tensor '" + t.name + "' has a bad chunk hash '" +
                              ref.hash + "'");
    }
    if (ref.size == 0 || ref.size > kMaxChunkSize) {
      return Status::Internal("manifest: tensor '" + t.name + "' has a chunk of " +
                              std::to_string(ref.size) + " bytes (1.." +
                              std::to_string(kMaxChunkSize) + " allowed)");
    }
    sum += ref.size;
    t.chunks.push_back(std::move(ref));
  }
  if (sum != t.size) {
    return Status::Internal("manifest: tensor '" + t.name + "' chunks hold " + std::to_string(sum) +
                            " bytes, size says " + std::to_string(t.size));
  }
  if (t.name.empty()) return Status::Internal("manifest: " + where + " has an empty name");
  if (t.dtype != DType::kBlob) {  // the bytes must be what shape and dtype say (no overflow)
    std::uint64_t want = DTypeSize(t.dtype);
    for (std::int64_t d : t.shape) {
      const auto dim = static_cast<std::uint64_t>(d);
      if (d < 0 || (dim != 0 && want > UINT64_MAX / dim)) {
        return Status::Internal("manifest: tensor '" + t.name + "' has an impossible shape");
      }
      want *= dim;
    }
    if (want != t.size) {
      return Status::Internal("manifest: tensor '" + t.name + "' has shape and dtype for " +
                              std::to_string(want) + " bytes, size says " +
                              std::to_string(t.size));
    }
  }
  return t;
}

}  // namespace

std::string ManifestToJson(const CheckpointManifest& m) {
  json tensors = json::array();
  for (const TensorEntry& t : m.tensors) {
    json chunks = json::array();
    for (const ChunkRef& c : t.chunks) chunks.push_back({{"hash", c.hash}, {"size", c.size}});
    tensors.push_back({{"name", t.name},
                       {"dtype", DTypeName(t.dtype)},
                       {"shape", t.shape},
                       {"size", t.size},
                       {"chunks", std::move(chunks)}});
  }
  json j = {{"format_version", kManifestFormatVersion},
            {"name", m.name},
            {"chunk_size", m.chunk_size},
            {"metadata",
             {{"step", m.metadata.step},
              {"epoch", m.metadata.epoch},
              {"loader_position", m.metadata.loader_position},
              {"extra", m.metadata.extra}}},
            {"tensors", std::move(tensors)}};
  return j.dump(1) + "\n";
}

Result<CheckpointManifest> ParseManifest(std::string_view text) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Internal("manifest: not valid JSON");
  if (!j.is_object()) return Status::Internal("manifest: not a JSON object");
  try {
    if (!j.contains("format_version") || !j["format_version"].is_number_integer()) {
      return Status::Internal("manifest: no integer format_version");
    }
    const auto version = j["format_version"].get<std::int64_t>();
    if (version != kManifestFormatVersion) {
      return Status::InvalidArgument("manifest: unknown format_version " + std::to_string(version) +
                                     " (this build reads " +
                                     std::to_string(kManifestFormatVersion) + ")");
    }
    CheckpointManifest m;
    m.name = j.at("name").get<std::string>();
    m.chunk_size = j.at("chunk_size").get<std::uint64_t>();
    const json& meta = j.at("metadata");
    m.metadata.step = meta.at("step").get<std::int64_t>();
    m.metadata.epoch = meta.at("epoch").get<std::int64_t>();
    m.metadata.loader_position = meta.at("loader_position").get<std::string>();
    m.metadata.extra = meta.at("extra").get<std::map<std::string, std::string>>();
    const json& tensors = j.at("tensors");
    if (!tensors.is_array()) return Status::Internal("manifest: tensors is not an array");
    std::set<std::string> names;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      Result<TensorEntry> t = ParseTensor(tensors[i], i);
      if (!t.ok()) return t.status();
      if (!names.insert(t->name).second) {
        return Status::Internal("manifest: tensor '" + t->name + "' appears twice");
      }
      m.tensors.push_back(std::move(*t));
    }
    return m;
  } catch (const json::exception& e) {
    return Status::Internal(std::string("manifest: malformed: ") + e.what());
  }
}

}  // namespace gpool::ckpt
