// Safetensors export and import (safetensors.h). The pure core first: header encoding, header
// parsing and validation, export into a ByteSink. The file functions are in the last section.
#include "ckpt/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <utility>

#include "ckpt/store_files.h"
#include "core/text.h"

namespace gpool::ckpt {
namespace {

using ojson = nlohmann::ordered_json;  // keeps the header's key order (the tie-break on import)

constexpr std::string_view kMetadataKey = "__metadata__";
constexpr std::string_view kGpoolPrefix = "gpool.";
constexpr std::string_view kStepKey = "gpool.step";
constexpr std::string_view kEpochKey = "gpool.epoch";
constexpr std::string_view kLoaderKey = "gpool.loader_position";
constexpr std::string_view kBlobPrefix = "gpool.blob.";
constexpr std::string_view kExtraPrefix = "gpool.extra.";
constexpr std::uint64_t kPieceSize = 64ull << 20;  // export progress granularity
constexpr std::uint64_t kMaxDim =
    static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

struct SafetensorsDType {
  DType dtype;
  const char* name;
};

constexpr std::array<SafetensorsDType, 10> kDTypes = {{
    {DType::kF32, "F32"},
    {DType::kF16, "F16"},
    {DType::kBF16, "BF16"},
    {DType::kF64, "F64"},
    {DType::kI8, "I8"},
    {DType::kI16, "I16"},
    {DType::kI32, "I32"},
    {DType::kI64, "I64"},
    {DType::kU8, "U8"},
    {DType::kBool, "BOOL"},
}};

std::optional<DType> ParseDTypeName(std::string_view name) {
  for (const SafetensorsDType& d : kDTypes) {
    if (name == d.name) return d.dtype;
  }
  return std::nullopt;
}

std::string SupportedDTypes() {
  std::string out;
  for (const SafetensorsDType& d : kDTypes) out += std::string(out.empty() ? "" : ", ") + d.name;
  return out;
}

std::string ShapeText(const std::vector<std::int64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

std::string OffsetsText(std::uint64_t begin, std::uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

// [] or [2, 3]: a JSON array of non-negative integers that fit an int64.
std::optional<std::vector<std::int64_t>> ParseShape(const ojson& j) {
  if (!j.is_array()) return std::nullopt;
  std::vector<std::int64_t> shape;
  for (const ojson& d : j) {
    if (!d.is_number_unsigned()) return std::nullopt;
    const auto v = d.get<std::uint64_t>();
    if (v > kMaxDim) return std::nullopt;
    shape.push_back(static_cast<std::int64_t>(v));
  }
  return shape;
}

std::optional<std::int64_t> ParseInt64(std::string_view text) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

Result<SafetensorsEntry> ParseEntry(const std::string& name, const ojson& j) {
  if (name.empty()) return Status::InvalidArgument("a tensor has an empty name");
  const std::string where = "tensor '" + name + "': ";
  if (!j.is_object()) {
    return Status::InvalidArgument(where + "not an object with dtype, shape and data_offsets");
  }
  SafetensorsEntry e;
  e.name = name;
  const auto dtype = j.find("dtype");
  if (dtype == j.end() || !dtype->is_string()) {
    return Status::InvalidArgument(where + "dtype missing or not a string");
  }
  const std::string& dtype_name = *dtype->get_ptr<const std::string*>();
  const std::optional<DType> parsed = ParseDTypeName(dtype_name);
  if (!parsed) {
    return Status::InvalidArgument(where + "dtype " + dtype_name + " not supported (gpool reads " +
                                   SupportedDTypes() + ")");
  }
  e.dtype = *parsed;
  const auto shape = j.find("shape");
  std::optional<std::vector<std::int64_t>> dims;
  if (shape != j.end()) dims = ParseShape(*shape);
  if (!dims) {
    return Status::InvalidArgument(where +
                                   "shape missing or not an array of non-negative integers");
  }
  e.shape = std::move(*dims);
  const auto offsets = j.find("data_offsets");
  if (offsets == j.end() || !offsets->is_array() || offsets->size() != 2 ||
      !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned()) {
    return Status::InvalidArgument(where +
                                   "data_offsets missing or not [begin, end] (two non-negative "
                                   "integers)");
  }
  e.begin = (*offsets)[0].get<std::uint64_t>();
  e.end = (*offsets)[1].get<std::uint64_t>();
  if (e.end < e.begin) {
    return Status::InvalidArgument(where + "data_offsets " + OffsetsText(e.begin, e.end) +
                                   " end before they begin");
  }
  std::uint64_t bytes = DTypeSize(e.dtype);
  for (std::int64_t d : e.shape) {
    if (__builtin_mul_overflow(bytes, static_cast<std::uint64_t>(d), &bytes)) {
      return Status::InvalidArgument(where + "shape " + ShapeText(e.shape) + " is too large");
    }
  }
  if (bytes != e.end - e.begin) {
    return Status::InvalidArgument(where + "shape " + ShapeText(e.shape) + " of " + dtype_name +
                                   " needs " + std::to_string(bytes) + " bytes but data_offsets " +
                                   OffsetsText(e.begin, e.end) + " hold " +
                                   std::to_string(e.end - e.begin));
  }
  return e;
}

// Checks that the tensors, sorted by offset, cover [0, data_size) exactly.
Status CheckCoverage(const std::vector<SafetensorsEntry>& sorted, std::uint64_t data_size) {
  const SafetensorsEntry* furthest = nullptr;
  for (const SafetensorsEntry& e : sorted) {
    if (furthest == nullptr || e.end > furthest->end) furthest = &e;
  }
  if (furthest != nullptr && furthest->end > data_size) {
    return Status::InvalidArgument(
        "data truncated: tensor '" + furthest->name + "' has data_offsets " +
        OffsetsText(furthest->begin, furthest->end) + " but the file holds only " +
        std::to_string(data_size) + " bytes of data after the header");
  }
  std::uint64_t next = 0;
  const SafetensorsEntry* previous = nullptr;
  for (const SafetensorsEntry& e : sorted) {
    if (e.begin < next) {
      return Status::InvalidArgument(
          "tensors '" + previous->name + "' and '" + e.name + "' overlap: data_offsets " +
          OffsetsText(previous->begin, previous->end) + " and " + OffsetsText(e.begin, e.end));
    }
    if (e.begin > next) {
      return Status::InvalidArgument("gap of " + std::to_string(e.begin - next) +
                                     " bytes in the data before tensor '" + e.name +
                                     "' (data_offsets " + OffsetsText(e.begin, e.end) +
                                     "): tensors must be back to back");
    }
    next = e.end;
    previous = &e;
  }
  if (next != data_size) {
    return Status::InvalidArgument(std::to_string(data_size - next) +
                                   " bytes of data after the last tensor (the tensors hold " +
                                   std::to_string(next) + " of " + std::to_string(data_size) + ")");
  }
  return Status::Ok();
}

// Reads `meta` (the __metadata__ strings) into layout->metadata and marks blobs in
// layout->tensors.
Status ApplyMetadata(const std::map<std::string, std::string>& meta, SafetensorsLayout* layout) {
  std::map<std::string, std::string> extra_source;  // extra key -> the metadata key it came from
  const auto add_extra = [&](const std::string& key, const std::string& from,
                             const std::string& value) -> Status {
    const auto [it, added] = extra_source.emplace(key, from);
    if (!added) {
      return Status::InvalidArgument("__metadata__ keys '" + it->second + "' and '" + from +
                                     "' both give the extra key '" + key + "'");
    }
    layout->metadata.extra[key] = value;
    return Status::Ok();
  };
  for (const auto& [key, value] : meta) {
    if (key == kStepKey || key == kEpochKey) {
      const std::optional<std::int64_t> v = ParseInt64(value);
      if (!v) {
        return Status::InvalidArgument("__metadata__ " + key + " '" + value +
                                       "' is not an integer");
      }
      (key == kStepKey ? layout->metadata.step : layout->metadata.epoch) = *v;
    } else if (key == kLoaderKey) {
      layout->metadata.loader_position = value;
    } else if (key.starts_with(kBlobPrefix)) {
      const std::string name = key.substr(kBlobPrefix.size());
      const auto t = std::find_if(layout->tensors.begin(), layout->tensors.end(),
                                  [&](const SafetensorsEntry& e) { return e.name == name; });
      if (t == layout->tensors.end()) {
        return Status::InvalidArgument("__metadata__ " + key + " names no tensor");
      }
      if (t->dtype != DType::kU8 || t->shape.size() != 1) {
        return Status::InvalidArgument("__metadata__ " + key + " marks tensor '" + name +
                                       "' as a blob, but it is " + SafetensorsDTypeName(t->dtype) +
                                       " " + ShapeText(t->shape) + ", not U8 [length]");
      }
      const ojson shape_json = ojson::parse(value, nullptr, /*allow_exceptions=*/false);
      std::optional<std::vector<std::int64_t>> shape = ParseShape(shape_json);
      if (!shape) {
        return Status::InvalidArgument("__metadata__ " + key + " '" + value +
                                       "' is not a shape such as [] or [2, 3]");
      }
      t->dtype = DType::kBlob;
      t->shape = std::move(*shape);
    } else if (key.starts_with(kExtraPrefix)) {
      if (Status s = add_extra(key.substr(kExtraPrefix.size()), key, value); !s.ok()) return s;
    } else {
      // A foreign key, or a gpool.* key from a later gpool: kept verbatim.
      if (Status s = add_extra(key, key, value); !s.ok()) return s;
    }
  }
  return Status::Ok();
}

// The checkpoint a validated layout describes; `read` gives each tensor's bytes.
Result<Checkpoint> BuildCheckpoint(
    SafetensorsLayout layout,
    const std::function<Result<std::string>(const SafetensorsEntry&)>& read) {
  Checkpoint checkpoint;
  checkpoint.metadata = std::move(layout.metadata);
  checkpoint.tensors.reserve(layout.tensors.size());
  for (SafetensorsEntry& e : layout.tensors) {
    Result<std::string> bytes = read(e);
    if (!bytes.ok()) return bytes.status();
    checkpoint.tensors.push_back(
        Tensor{std::move(e.name), e.dtype, std::move(e.shape), std::move(*bytes)});
  }
  // The layout was validated: names non-empty and unique, sizes matching shape and dtype.
  assert(ValidateCheckpoint(checkpoint).ok());
  return checkpoint;
}

}  // namespace

const char* SafetensorsDTypeName(DType dtype) {
  if (dtype == DType::kBlob) return "U8";
  for (const SafetensorsDType& d : kDTypes) {
    if (d.dtype == dtype) return d.name;
  }
  assert(false && "every DType but kBlob is in kDTypes");
  return "U8";
}

// ---- Import (pure) ----

Result<std::uint64_t> ParseSafetensorsHeaderSize(std::string_view first_bytes,
                                                 std::uint64_t file_size) {
  if (file_size < 8 || first_bytes.size() < 8) {
    return Status::InvalidArgument(
        "the file has " + std::to_string(std::min<std::uint64_t>(file_size, first_bytes.size())) +
        " bytes, fewer than the 8 that give the header length: not a safetensors file");
  }
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(first_bytes[i]);
  if (n > kSafetensorsMaxHeaderSize) {
    return Status::InvalidArgument("header length " + std::to_string(n) + " exceeds the limit of " +
                                   std::to_string(kSafetensorsMaxHeaderSize) +
                                   " bytes: not a safetensors file?");
  }
  if (n > file_size - 8) {
    return Status::InvalidArgument("header length " + std::to_string(n) +
                                   " runs past the end of the file (" + std::to_string(file_size) +
                                   " bytes): truncated, or not a safetensors file");
  }
  return n;
}

Result<SafetensorsLayout> ParseSafetensorsHeader(std::string_view header, std::uint64_t data_size) {
  // nlohmann keeps one value of a repeated key silently; the callback sees every key.
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  const ojson::parser_callback_t find_duplicates = [&](int, ojson::parse_event_t event,
                                                       ojson& parsed) {
    if (event == ojson::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == ojson::parse_event_t::object_end && !open_objects.empty()) {
      open_objects.pop_back();
    } else if (event == ojson::parse_event_t::key && !open_objects.empty()) {
      const std::string* key = parsed.get_ptr<const std::string*>();
      if (key != nullptr && !open_objects.back().insert(*key).second && duplicate.empty()) {
        duplicate = *key;
      }
    }
    return true;
  };
  const ojson h = ojson::parse(header.begin(), header.end(), find_duplicates,
                               /*allow_exceptions=*/false);
  if (h.is_discarded()) {
    return Status::InvalidArgument("the header (" + std::to_string(header.size()) +
                                   " bytes) is not valid JSON: not a safetensors file?");
  }
  if (!h.is_object()) return Status::InvalidArgument("the header is not a JSON object");
  if (!duplicate.empty()) {
    return Status::InvalidArgument("'" + duplicate + "' appears twice in the header");
  }

  SafetensorsLayout layout;
  std::map<std::string, std::string> meta;
  for (auto it = h.begin(); it != h.end(); ++it) {
    if (it.key() == kMetadataKey) {
      if (!it->is_object()) return Status::InvalidArgument("__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) {
          return Status::InvalidArgument("__metadata__ value of '" + m.key() + "' is not a string");
        }
        meta[m.key()] = *m->get_ptr<const std::string*>();
      }
      continue;
    }
    Result<SafetensorsEntry> e = ParseEntry(it.key(), *it);
    if (!e.ok()) return e.status();
    layout.tensors.push_back(std::move(*e));
  }
  // Data order; stable, so empty tensors at one offset keep their header order.
  std::stable_sort(layout.tensors.begin(), layout.tensors.end(),
                   [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
                     return std::pair(a.begin, a.end) < std::pair(b.begin, b.end);
                   });
  if (Status s = CheckCoverage(layout.tensors, data_size); !s.ok()) return s;
  if (Status s = ApplyMetadata(meta, &layout); !s.ok()) return s;
  return layout;
}

Result<Checkpoint> DecodeSafetensors(std::string_view file) {
  Result<std::uint64_t> n = ParseSafetensorsHeaderSize(file.substr(0, 8), file.size());
  if (!n.ok()) return n.status();
  const std::string_view data = file.substr(8 + *n);
  Result<SafetensorsLayout> layout = ParseSafetensorsHeader(file.substr(8, *n), data.size());
  if (!layout.ok()) return layout.status();
  return BuildCheckpoint(std::move(*layout), [&](const SafetensorsEntry& e) -> Result<std::string> {
    return std::string(data.substr(e.begin, e.end - e.begin));
  });
}

// ---- Export (pure) ----

Result<std::string> EncodeSafetensorsHeader(const Checkpoint& checkpoint) {
  if (Status s = ValidateCheckpoint(checkpoint); !s.ok()) return s;
  const CheckpointMetadata& m = checkpoint.metadata;
  if (!core::IsUtf8(m.loader_position)) {
    return Status::InvalidArgument(
        "loader_position is not valid UTF-8, which a safetensors header cannot hold");
  }
  ojson meta = ojson::object();
  meta[std::string(kStepKey)] = std::to_string(m.step);
  meta[std::string(kEpochKey)] = std::to_string(m.epoch);
  if (!m.loader_position.empty()) meta[std::string(kLoaderKey)] = m.loader_position;
  for (const auto& [key, value] : m.extra) {
    if (!core::IsUtf8(key) || !core::IsUtf8(value)) {
      return Status::InvalidArgument(
          "a metadata extra key or value is not valid UTF-8, which a safetensors header cannot "
          "hold");
    }
    meta[key.starts_with(kGpoolPrefix) ? std::string(kExtraPrefix) + key : key] = value;
  }

  ojson header = ojson::object();
  header[std::string(kMetadataKey)] = std::move(meta);
  std::uint64_t offset = 0;
  for (const Tensor& t : checkpoint.tensors) {
    if (t.name == kMetadataKey) {
      return Status::InvalidArgument("a tensor called __metadata__ cannot go into safetensors");
    }
    if (!core::IsUtf8(t.name)) {
      return Status::InvalidArgument("tensor name '" + t.name + "' is not valid UTF-8");
    }
    ojson shape = ojson::array();
    if (t.dtype == DType::kBlob) {
      shape.push_back(t.bytes.size());
      ojson blob_shape = ojson::array();
      for (std::int64_t d : t.shape) blob_shape.push_back(d);
      header[std::string(kMetadataKey)][std::string(kBlobPrefix) + t.name] = blob_shape.dump();
    } else {
      for (std::int64_t d : t.shape) shape.push_back(d);
    }
    header[t.name] = {{"dtype", SafetensorsDTypeName(t.dtype)},
                      {"shape", std::move(shape)},
                      {"data_offsets", ojson::array({offset, offset + t.bytes.size()})}};
    offset += t.bytes.size();
  }
  // Every string was checked above, so the strict UTF-8 handler cannot throw; replace says so.
  std::string json = header.dump(-1, ' ', false, ojson::error_handler_t::replace);
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((json.size() >> (8 * i)) & 0xff);
  return out + json;
}

Status ExportSafetensors(const Checkpoint& checkpoint, const ByteSink& sink,
                         const ExportProgressFn& progress) {
  Result<std::string> header = EncodeSafetensorsHeader(checkpoint);
  if (!header.ok()) return header.status();
  ExportProgress p;
  p.tensors_total = checkpoint.tensors.size();
  for (const Tensor& t : checkpoint.tensors) p.bytes_total += t.bytes.size();
  if (Status s = sink(*header); !s.ok()) return s;
  if (progress) progress(p);
  for (const Tensor& t : checkpoint.tensors) {
    std::string_view rest(t.bytes);
    while (!rest.empty()) {
      const std::string_view piece = rest.substr(0, kPieceSize);
      if (Status s = sink(piece); !s.ok()) return s;
      rest.remove_prefix(piece.size());
      p.bytes_done += piece.size();
      if (!rest.empty() && progress) progress(p);
    }
    ++p.tensors_done;
    if (progress) progress(p);
  }
  return Status::Ok();
}

Result<std::string> EncodeSafetensors(const Checkpoint& checkpoint) {
  std::string out;
  const Status s = ExportSafetensors(checkpoint, [&](std::string_view bytes) {
    out.append(bytes);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

// ---- Files: the only code here that touches the filesystem ----

namespace {

using files::IoError;

Status WithPath(const std::string& path, const Status& s) {
  return Status(s.code(), path + ": " + s.message());
}

// `size` bytes at `offset`; InvalidArgument if the file ends first.
Result<std::string> ReadAt(int fd, const std::string& path, std::uint64_t offset,
                           std::uint64_t size) {
  std::string out(size, '\0');
  std::uint64_t done = 0;
  while (done < size) {
    const ssize_t n =
        ::pread(fd, out.data() + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      return IoError("read", path, err);
    }
    if (n == 0) {
      return Status::InvalidArgument(
          path + ": the file ended at byte " + std::to_string(offset + done) + ", before byte " +
          std::to_string(offset + size) + " (did it change while being read?)");
    }
    done += static_cast<std::uint64_t>(n);
  }
  return out;
}

}  // namespace

Result<std::uint64_t> WriteSafetensorsFile(const Checkpoint& checkpoint, const std::string& path,
                                           const ExportProgressFn& progress) {
  namespace fs = std::filesystem;
  static std::atomic<std::uint64_t> counter{0};
  const fs::path target(path);
  if (target.filename().empty()) return Status::InvalidArgument(path + " names no file");
  const std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
  const std::string tmp =
      (fs::path(dir) / ("." + target.filename().string() + ".tmp-" + std::to_string(::getpid()) +
                        "-" + std::to_string(counter.fetch_add(1))))
          .string();
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    return IoError("create", tmp, err);
  }
  std::uint64_t written = 0;
  const ByteSink sink = [&](std::string_view bytes) -> Status {
    while (!bytes.empty()) {
      const ssize_t n = ::write(fd, bytes.data(), bytes.size());
      if (n < 0) {
        const int err = errno;
        if (err == EINTR) continue;
        return IoError("write", tmp, err);
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
      written += static_cast<std::uint64_t>(n);
    }
    return Status::Ok();
  };
  Status s = ExportSafetensors(checkpoint, sink, progress);
  if (s.ok() && ::fsync(fd) != 0) {
    const int err = errno;
    s = IoError("fsync", tmp, err);
  }
  if (::close(fd) != 0 && s.ok()) {
    const int err = errno;
    s = IoError("close", tmp, err);
  }
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    s = IoError("rename to", path, err);
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  if (Status d = files::FsyncPath(dir); !d.ok()) return d;
  return written;
}

Result<Checkpoint> ReadSafetensorsFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return Status::NotFound(path + " does not exist");
    return IoError("open", path, err);
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    return IoError("stat", path, err);
  }
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + " is not a regular file");
  const auto file_size = static_cast<std::uint64_t>(st.st_size);

  Result<std::string> first = ReadAt(fd, path, 0, std::min<std::uint64_t>(file_size, 8));
  if (!first.ok()) return first.status();
  Result<std::uint64_t> n = ParseSafetensorsHeaderSize(*first, file_size);
  if (!n.ok()) return WithPath(path, n.status());
  Result<std::string> header = ReadAt(fd, path, 8, *n);
  if (!header.ok()) return header.status();
  // The whole header is checked against the file's size before any tensor data is read.
  Result<SafetensorsLayout> layout = ParseSafetensorsHeader(*header, file_size - 8 - *n);
  if (!layout.ok()) return WithPath(path, layout.status());
  const std::uint64_t data_start = 8 + *n;
  Result<Checkpoint> checkpoint =
      BuildCheckpoint(std::move(*layout), [&](const SafetensorsEntry& e) {
        return ReadAt(fd, path, data_start + e.begin, e.end - e.begin);
      });
  return checkpoint;
}

}  // namespace gpool::ckpt
