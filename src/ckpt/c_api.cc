// The C ABI of gpool_ckpt.h over CheckpointWriter and CheckpointStore. Every entry point turns
// a Status into a negative code and this thread's last error message, and catches every
// exception (none may cross into C): an unexpected one is GPOOL_CKPT_INTERNAL.
#include <cstdint>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "ckpt/checkpoint.h"
#include "ckpt/checkpoint_request.h"
#include "ckpt/checkpoint_store.h"
#include "ckpt/checkpoint_writer.h"
#include "ckpt/gpool_ckpt.h"
#include "core/status.h"
#include "core/text.h"

using gpool::Status;
using gpool::StatusCode;
using gpool::ckpt::Checkpoint;
using gpool::ckpt::CheckpointStore;
using gpool::ckpt::CheckpointView;
using gpool::ckpt::CheckpointWriter;
using gpool::ckpt::DType;

struct gpool_ckpt_writer {
  std::unique_ptr<CheckpointWriter> writer;
  bool begun = false;  // begin was called and the checkpoint not yet saved
  CheckpointView view;
  std::set<std::string, std::less<>> names;  // of view.tensors, to refuse a repeated name early
};

struct gpool_ckpt_store {
  CheckpointStore store;
};

struct gpool_ckpt_checkpoint {
  std::string name;
  Checkpoint checkpoint;
  // Pointers into checkpoint.metadata.extra in key order (map nodes never move).
  std::vector<const std::pair<const std::string, std::string>*> extras;
};

namespace {

constexpr int kMaxDims = 64;

std::string& LastError() {
  thread_local std::string message;
  return message;
}

int CodeOf(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return GPOOL_CKPT_OK;
    case StatusCode::kInvalidArgument:
      return GPOOL_CKPT_INVALID_ARGUMENT;
    case StatusCode::kNotFound:
      return GPOOL_CKPT_NOT_FOUND;
    case StatusCode::kConflict:
      return GPOOL_CKPT_CONFLICT;
    case StatusCode::kUnavailable:
      return GPOOL_CKPT_UNAVAILABLE;
    case StatusCode::kInternal:
      return GPOOL_CKPT_INTERNAL;
  }
  return GPOOL_CKPT_INTERNAL;
}

int Report(const Status& status) {
  if (!status.ok()) LastError() = status.message();
  return CodeOf(status.code());
}

// Runs `body` (returning a Status) with the last error reset, and never lets an exception out.
template <typename Body>
int Guard(Body&& body) noexcept {
  try {
    LastError().clear();
    return Report(body());
  } catch (const std::bad_alloc&) {
    return Report(Status::Internal("out of memory"));
  } catch (const std::exception& e) {
    return Report(Status::Internal(std::string("unexpected exception: ") + e.what()));
  } catch (...) {
    return Report(Status::Internal("unexpected exception"));
  }
}

Status Missing(const char* what) { return Status::InvalidArgument(std::string(what) + " is NULL"); }

Status CheckUtf8(std::string_view what, std::string_view s) {
  if (gpool::core::IsUtf8(s)) return Status::Ok();
  return Status::InvalidArgument(std::string(what) + " is not valid UTF-8");
}

std::string ShapeString(const std::vector<std::int64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

// The checks of add_tensor, naming the tensor; on success fills `out`.
Status MakeTensorView(const char* name, const char* dtype_name, int ndim, const int64_t* shape,
                      const void* data, uint64_t nbytes, gpool::ckpt::TensorView* out) {
  if (name == nullptr) return Missing("tensor name");
  const std::string tensor(name);
  const std::string where = "tensor '" + tensor + "'";
  if (tensor.empty()) return Status::InvalidArgument("a tensor name is empty");
  if (Status s = CheckUtf8("a tensor name", tensor); !s.ok()) return s;
  if (dtype_name == nullptr) return Status::InvalidArgument(where + ": dtype is NULL");
  const std::optional<DType> dtype = gpool::ckpt::ParseDType(dtype_name);
  if (!dtype) {
    return Status::InvalidArgument(where + ": unknown dtype '" + dtype_name +
                                   "' (one of f32 f16 bf16 f64 i8 i16 i32 i64 u8 bool blob)");
  }
  if (ndim < 0 || ndim > kMaxDims) {
    return Status::InvalidArgument(where + ": ndim " + std::to_string(ndim) + " is outside 0.." +
                                   std::to_string(kMaxDims));
  }
  if (ndim > 0 && shape == nullptr) return Status::InvalidArgument(where + ": shape is NULL");
  std::vector<std::int64_t> dims(shape, shape + ndim);
  std::uint64_t elements = 1;
  bool overflow = false;
  for (int i = 0; i < ndim; ++i) {
    if (dims[i] < 0) {
      return Status::InvalidArgument(where + ": dimension " + std::to_string(i) + " is " +
                                     std::to_string(dims[i]));
    }
    overflow |= __builtin_mul_overflow(elements, static_cast<std::uint64_t>(dims[i]), &elements);
  }
  if (*dtype != DType::kBlob) {
    std::uint64_t expected = 0;
    overflow |= __builtin_mul_overflow(elements, gpool::ckpt::DTypeSize(*dtype), &expected);
    if (overflow || expected != nbytes) {
      return Status::InvalidArgument(
          where + ": shape " + ShapeString(dims) + " of " + dtype_name + " is " +
          (overflow ? std::string("more than 2^64") : std::to_string(expected)) +
          " bytes, but nbytes is " + std::to_string(nbytes));
    }
  }
  if (data == nullptr && nbytes > 0) {
    return Status::InvalidArgument(where + ": data is NULL for " + std::to_string(nbytes) +
                                   " bytes");
  }
  *out = {tensor, *dtype, std::move(dims), data, nbytes};
  return Status::Ok();
}

Status NotBegun() {
  return Status::InvalidArgument("no checkpoint begun: call gpool_ckpt_writer_begin first");
}

}  // namespace

extern "C" {

const char* gpool_ckpt_last_error(void) { return LastError().c_str(); }

const char* gpool_ckpt_status_name(int status) {
  switch (status) {
    case GPOOL_CKPT_OK:
      return "ok";
    case GPOOL_CKPT_INVALID_ARGUMENT:
      return "invalid argument";
    case GPOOL_CKPT_NOT_FOUND:
      return "not found";
    case GPOOL_CKPT_CONFLICT:
      return "conflict";
    case GPOOL_CKPT_UNAVAILABLE:
      return "unavailable";
    case GPOOL_CKPT_INTERNAL:
      return "internal";
    default:
      return "unknown";
  }
}

// ---- Writer ----

int gpool_ckpt_writer_open(const char* root, uint64_t staging_bytes, int zstd_level,
                           gpool_ckpt_writer** out) {
  return Guard([&]() -> Status {
    if (root == nullptr) return Missing("root");
    if (out == nullptr) return Missing("out");
    gpool::ckpt::WriterOptions options;
    options.staging_bytes = staging_bytes;
    if (zstd_level != 0) options.store.zstd_level = zstd_level;
    auto writer = CheckpointWriter::Open(root, options);
    if (!writer.ok()) return writer.status();
    auto handle = std::make_unique<gpool_ckpt_writer>();
    handle->writer = std::move(*writer);
    *out = handle.release();
    return Status::Ok();
  });
}

int gpool_ckpt_writer_close(gpool_ckpt_writer* writer) {
  return Guard([&]() -> Status {
    if (writer == nullptr) return Status::Ok();
    std::unique_ptr<gpool_ckpt_writer> owned(writer);
    return owned->writer->Wait();
  });
}

int gpool_ckpt_writer_staging_bytes(const gpool_ckpt_writer* writer, uint64_t* out) {
  return Guard([&]() -> Status {
    if (writer == nullptr) return Missing("writer");
    if (out == nullptr) return Missing("out");
    *out = writer->writer->staging_bytes();
    return Status::Ok();
  });
}

int gpool_ckpt_writer_begin(gpool_ckpt_writer* writer, int64_t step, int64_t epoch,
                            const char* loader_position) {
  return Guard([&]() -> Status {
    if (writer == nullptr) return Missing("writer");
    std::string position = loader_position == nullptr ? "" : loader_position;
    if (Status s = CheckUtf8("loader_position", position); !s.ok()) return s;
    writer->view = CheckpointView();
    writer->names.clear();
    writer->view.metadata.step = step;
    writer->view.metadata.epoch = epoch;
    writer->view.metadata.loader_position = std::move(position);
    writer->begun = true;
    return Status::Ok();
  });
}

int gpool_ckpt_writer_add_tensor(gpool_ckpt_writer* writer, const char* name, const char* dtype,
                                 int ndim, const int64_t* shape, const void* data,
                                 uint64_t nbytes) {
  return Guard([&]() -> Status {
    if (writer == nullptr) return Missing("writer");
    if (!writer->begun) return NotBegun();
    gpool::ckpt::TensorView view;
    if (Status s = MakeTensorView(name, dtype, ndim, shape, data, nbytes, &view); !s.ok()) {
      return s;
    }
    if (writer->names.contains(view.name)) {
      return Status::InvalidArgument("tensor '" + view.name + "' was already added");
    }
    writer->names.insert(view.name);
    writer->view.tensors.push_back(std::move(view));
    return Status::Ok();
  });
}

int gpool_ckpt_writer_set_extra(gpool_ckpt_writer* writer, const char* key, const char* value) {
  return Guard([&]() -> Status {
    if (writer == nullptr) return Missing("writer");
    if (!writer->begun) return NotBegun();
    if (key == nullptr) return Missing("key");
    if (value == nullptr) return Missing("value");
    const std::string k(key);
    if (k.empty()) return Status::InvalidArgument("a metadata key is empty");
    if (Status s = CheckUtf8("a metadata key", k); !s.ok()) return s;
    if (Status s = CheckUtf8("the value of metadata key '" + k + "'", value); !s.ok()) return s;
    writer->view.metadata.extra[k] = value;
    return Status::Ok();
  });
}

int gpool_ckpt_writer_save(gpool_ckpt_writer* writer, const char* name) {
  return Guard([&]() -> Status {
    if (writer == nullptr) return Missing("writer");
    if (!writer->begun) return NotBegun();
    writer->begun = false;
    CheckpointView view = std::move(writer->view);
    writer->view = CheckpointView();
    writer->names.clear();
    auto report = writer->writer->Save(view, name == nullptr ? "" : name);
    return report.ok() ? Status::Ok() : report.status();
  });
}

int gpool_ckpt_writer_save_async(gpool_ckpt_writer* writer, const char* name, int* queued) {
  return Guard([&]() -> Status {
    if (writer == nullptr) return Missing("writer");
    if (!writer->begun) return NotBegun();
    writer->begun = false;
    CheckpointView view = std::move(writer->view);
    writer->view = CheckpointView();
    writer->names.clear();
    auto result = writer->writer->SaveAsync(view, name == nullptr ? "" : name);
    if (!result.ok()) return result.status();
    if (queued != nullptr) *queued = *result ? 1 : 0;
    return Status::Ok();
  });
}

int gpool_ckpt_writer_wait(gpool_ckpt_writer* writer) {
  return Guard([&]() -> Status {
    if (writer == nullptr) return Missing("writer");
    return writer->writer->Wait();
  });
}

// ---- Checkpoint on request ----

int gpool_ckpt_install_checkpoint_handler(int signo) {
  return Guard([&] { return gpool::ckpt::InstallCheckpointRequestHandler(signo); });
}

int gpool_ckpt_checkpoint_requested(void) { return gpool::ckpt::CheckpointRequested() ? 1 : 0; }

void gpool_ckpt_clear_checkpoint_request(void) { gpool::ckpt::ClearCheckpointRequest(); }

void gpool_ckpt_request_checkpoint(void) { gpool::ckpt::RequestCheckpoint(); }

// ---- Reader ----

int gpool_ckpt_store_open(const char* root, gpool_ckpt_store** out) {
  return Guard([&]() -> Status {
    if (root == nullptr) return Missing("root");
    if (out == nullptr) return Missing("out");
    auto store = CheckpointStore::OpenExisting(root);  // a reader creates nothing
    if (!store.ok()) return store.status();
    *out = new gpool_ckpt_store{std::move(*store)};
    return Status::Ok();
  });
}

void gpool_ckpt_store_close(gpool_ckpt_store* store) { delete store; }

int gpool_ckpt_store_verify(const gpool_ckpt_store* store, const char* name) {
  return Guard([&]() -> Status {
    if (store == nullptr) return Missing("store");
    // Verify resolves "latest" itself, and says "no checkpoint published yet" before the first.
    return store->store.Verify(name == nullptr ? gpool::ckpt::kLatest : std::string_view(name));
  });
}

int gpool_ckpt_store_load(const gpool_ckpt_store* store, const char* name,
                          gpool_ckpt_checkpoint** out) {
  return Guard([&]() -> Status {
    if (store == nullptr) return Missing("store");
    if (out == nullptr) return Missing("out");
    std::string resolved = name == nullptr ? std::string(gpool::ckpt::kLatest) : name;
    if (resolved == gpool::ckpt::kLatest) {
      auto latest = store->store.Latest();
      if (!latest.ok()) return latest.status();
      resolved = *latest;
    }
    auto checkpoint = store->store.Load(resolved);
    if (!checkpoint.ok()) return checkpoint.status();
    auto handle = std::make_unique<gpool_ckpt_checkpoint>();
    handle->name = std::move(resolved);
    handle->checkpoint = std::move(*checkpoint);
    for (const auto& entry : handle->checkpoint.metadata.extra) handle->extras.push_back(&entry);
    *out = handle.release();
    return Status::Ok();
  });
}

void gpool_ckpt_checkpoint_free(gpool_ckpt_checkpoint* checkpoint) { delete checkpoint; }

int gpool_ckpt_checkpoint_name(const gpool_ckpt_checkpoint* checkpoint, const char** out) {
  return Guard([&]() -> Status {
    if (checkpoint == nullptr) return Missing("checkpoint");
    if (out == nullptr) return Missing("out");
    *out = checkpoint->name.c_str();
    return Status::Ok();
  });
}

int gpool_ckpt_checkpoint_metadata(const gpool_ckpt_checkpoint* checkpoint, int64_t* step,
                                   int64_t* epoch, const char** loader_position) {
  return Guard([&]() -> Status {
    if (checkpoint == nullptr) return Missing("checkpoint");
    const auto& m = checkpoint->checkpoint.metadata;
    if (step != nullptr) *step = m.step;
    if (epoch != nullptr) *epoch = m.epoch;
    if (loader_position != nullptr) *loader_position = m.loader_position.c_str();
    return Status::Ok();
  });
}

int gpool_ckpt_checkpoint_extra_count(const gpool_ckpt_checkpoint* checkpoint, size_t* out) {
  return Guard([&]() -> Status {
    if (checkpoint == nullptr) return Missing("checkpoint");
    if (out == nullptr) return Missing("out");
    *out = checkpoint->extras.size();
    return Status::Ok();
  });
}

int gpool_ckpt_checkpoint_extra_at(const gpool_ckpt_checkpoint* checkpoint, size_t index,
                                   const char** key, const char** value) {
  return Guard([&]() -> Status {
    if (checkpoint == nullptr) return Missing("checkpoint");
    if (index >= checkpoint->extras.size()) {
      return Status::InvalidArgument("metadata index " + std::to_string(index) + " of " +
                                     std::to_string(checkpoint->extras.size()));
    }
    if (key != nullptr) *key = checkpoint->extras[index]->first.c_str();
    if (value != nullptr) *value = checkpoint->extras[index]->second.c_str();
    return Status::Ok();
  });
}

int gpool_ckpt_checkpoint_extra_get(const gpool_ckpt_checkpoint* checkpoint, const char* key,
                                    const char** value) {
  return Guard([&]() -> Status {
    if (checkpoint == nullptr) return Missing("checkpoint");
    if (key == nullptr) return Missing("key");
    if (value == nullptr) return Missing("value");
    const auto& extra = checkpoint->checkpoint.metadata.extra;
    auto it = extra.find(key);
    if (it == extra.end()) {
      return Status::NotFound("checkpoint '" + checkpoint->name + "' has no metadata key '" + key +
                              "'");
    }
    *value = it->second.c_str();
    return Status::Ok();
  });
}

int gpool_ckpt_checkpoint_tensor_count(const gpool_ckpt_checkpoint* checkpoint, size_t* out) {
  return Guard([&]() -> Status {
    if (checkpoint == nullptr) return Missing("checkpoint");
    if (out == nullptr) return Missing("out");
    *out = checkpoint->checkpoint.tensors.size();
    return Status::Ok();
  });
}

int gpool_ckpt_checkpoint_tensor(const gpool_ckpt_checkpoint* checkpoint, size_t index,
                                 gpool_ckpt_tensor_info* out) {
  return Guard([&]() -> Status {
    if (checkpoint == nullptr) return Missing("checkpoint");
    if (out == nullptr) return Missing("out");
    const auto& tensors = checkpoint->checkpoint.tensors;
    if (index >= tensors.size()) {
      return Status::InvalidArgument("tensor index " + std::to_string(index) + " of " +
                                     std::to_string(tensors.size()));
    }
    const gpool::ckpt::Tensor& t = tensors[index];
    static constexpr std::int64_t kNoDims[1] = {0};
    out->name = t.name.c_str();
    out->dtype = gpool::ckpt::DTypeName(t.dtype);
    out->ndim = static_cast<int>(t.shape.size());
    out->shape = t.shape.empty() ? kNoDims : t.shape.data();
    out->data = t.bytes.data();
    out->nbytes = t.bytes.size();
    return Status::Ok();
  });
}

int gpool_ckpt_checkpoint_find_tensor(const gpool_ckpt_checkpoint* checkpoint, const char* name,
                                      size_t* index) {
  return Guard([&]() -> Status {
    if (checkpoint == nullptr) return Missing("checkpoint");
    if (name == nullptr) return Missing("name");
    if (index == nullptr) return Missing("index");
    const auto& tensors = checkpoint->checkpoint.tensors;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      if (tensors[i].name == name) {
        *index = i;
        return Status::Ok();
      }
    }
    return Status::NotFound("checkpoint '" + checkpoint->name + "' has no tensor '" + name + "'");
  });
}

}  // extern "C"
