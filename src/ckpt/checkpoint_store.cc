// The directory CheckpointStore. Every file is written by files::WriteFileDurably
// (store_files.h): a fresh temp file (O_EXCL) in the target's folder, write, fsync, rename over
// the target, fsync the folder.
#include "ckpt/checkpoint_store.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <system_error>
#include <utility>

#include "ckpt/chunk_codec.h"
#include "ckpt/store_files.h"

namespace gpool::ckpt {
namespace {

namespace fs = std::filesystem;
using files::EnsureDir;
using files::FileExists;
using files::IsTemp;
using files::ReadFile;
using files::WriteFileDurably;

Status ValidateName(std::string_view name) {
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

}  // namespace

Result<CheckpointStore> CheckpointStore::Open(std::string root, CheckpointStoreOptions options) {
  if (options.chunk_size == 0 || options.chunk_size % 8 != 0) {
    return Status::InvalidArgument("chunk_size must be a positive multiple of 8, not " +
                                   std::to_string(options.chunk_size));
  }
  if (options.zstd_level < 1 || options.zstd_level > 3) {
    return Status::InvalidArgument("zstd_level must be 1..3, not " +
                                   std::to_string(options.zstd_level));
  }
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return Status::Unavailable("create " + root + ": " + ec.message());
  for (const char* sub : {"/chunks", "/manifests"}) {
    if (Status s = EnsureDir(root + sub); !s.ok()) return s;
  }
  return CheckpointStore(std::move(root), options);
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

Result<SaveReport> CheckpointStore::Save(std::string_view name, const Checkpoint& checkpoint) {
  if (Status s = ValidateName(name); !s.ok()) return s;
  if (Status s = ValidateCheckpoint(checkpoint); !s.ok()) return s;

  SaveReport report;
  CheckpointManifest manifest;
  manifest.name = std::string(name);
  manifest.chunk_size = options_.chunk_size;
  manifest.metadata = checkpoint.metadata;
  std::set<std::string> seen;  // chunks this save already has on disk (written or found)
  for (const Tensor& t : checkpoint.tensors) {
    TensorEntry entry{t.name, t.dtype, t.shape, t.bytes.size(), {}};
    const std::size_t width = PlaneWidth(t.dtype, options_.planes);
    for (std::size_t off = 0; off < t.bytes.size(); off += options_.chunk_size) {
      const std::string_view original = std::string_view(t.bytes).substr(off, options_.chunk_size);
      ChunkRef ref{Sha256Hex(original), original.size()};
      const std::string path = ChunkPath(ref.hash);
      if (!seen.contains(ref.hash) && !FileExists(path)) {
        Result<std::string> file = EncodeChunk(original, width, options_.zstd_level);
        if (!file.ok()) return file.status();
        const std::string dir = root_ + "/chunks/" + ref.hash.substr(0, 2);
        if (Status s = EnsureDir(dir); !s.ok()) return s;
        if (Status s = WriteFileDurably(dir, ref.hash, *file); !s.ok()) return s;
        ++report.chunks_written;
        report.original_bytes_written += original.size();
        report.bytes_written += file->size();
      }
      seen.insert(ref.hash);
      ++report.chunks_total;
      entry.chunks.push_back(std::move(ref));
    }
    report.bytes_total += t.bytes.size();
    manifest.tensors.push_back(std::move(entry));
  }

  Result<std::uint64_t> manifest_bytes = WriteManifest(manifest, /*make_latest=*/true);
  if (!manifest_bytes.ok()) return manifest_bytes.status();
  report.manifest_bytes = *manifest_bytes;
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
  const std::string name(hash);
  if (FileExists(ChunkPath(name))) return false;
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
  return true;
}

Status CheckpointStore::Publish(const CheckpointManifest& manifest, bool make_latest) {
  if (Status s = ValidateName(manifest.name); !s.ok()) return s;
  for (const TensorEntry& t : manifest.tensors) {
    for (std::size_t i = 0; i < t.chunks.size(); ++i) {
      if (!HasChunk(t.chunks[i].hash)) {
        return Status::Conflict("checkpoint '" + manifest.name + "' tensor '" + t.name +
                                          "' chunk " + std::to_string(i) + " (" +
                                          t.chunks[i].hash + ") is not in " + root_);
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
  if (!ValidateName(name).ok()) {
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
  } else if (Status s = ValidateName(name); !s.ok()) {
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

Status CheckpointStore::ReadChunks(const CheckpointManifest& manifest, Checkpoint* out) const {
  for (const TensorEntry& entry : manifest.tensors) {
    std::string bytes;
    if (out != nullptr) bytes.reserve(entry.size);
    for (std::size_t i = 0; i < entry.chunks.size(); ++i) {
      const ChunkRef& ref = entry.chunks[i];
      const std::string where = "checkpoint '" + manifest.name + "' tensor '" + entry.name +
                                "' chunk " + std::to_string(i) + " (" + ref.hash + "): ";
      Result<std::string> file = ReadFile(ChunkPath(ref.hash));
      if (!file.ok()) {
        if (file.status().code() == StatusCode::kNotFound) {
          return Status::Internal(where + "chunk file missing");
        }
        return Status(file.status().code(), where + file.status().message());
      }
      Result<std::string> original = DecodeChunk(*file, ref.size);
      if (!original.ok()) return Status::Internal(where + original.status().message());
      const std::string actual = Sha256Hex(*original);
      if (actual != ref.hash) {
        return Status::Internal(where + "sha-256 mismatch (the bytes hash to " + actual + ")");
      }
      if (out != nullptr) bytes += *original;
    }
    if (out != nullptr) out->tensors.push_back({entry.name, entry.dtype, entry.shape, bytes});
  }
  if (out != nullptr) out->metadata = manifest.metadata;
  return Status::Ok();
}

Result<Checkpoint> CheckpointStore::Load(std::string_view name) const {
  Result<CheckpointManifest> manifest = ReadManifest(name);
  if (!manifest.ok()) return manifest.status();
  Checkpoint checkpoint;
  if (Status s = ReadChunks(*manifest, &checkpoint); !s.ok()) return s;
  return checkpoint;
}

Status CheckpointStore::Verify(std::string_view name) const {
  Result<CheckpointManifest> manifest = ReadManifest(name);
  if (!manifest.ok()) return manifest.status();
  return ReadChunks(*manifest, nullptr);
}

Result<GcReport> CheckpointStore::Gc() {
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
