// gpool_ckpt._native: the pybind11 layer between the pure-Python API (__init__.py) and the C++
// checkpoint SDK (CheckpointWriter, CheckpointStore, checkpoint_request.h). It knows nothing of
// numpy or torch: __init__.py turns every value into (name, dtype, shape, buffer) first.
//
// Entries passed in: a sequence of (name: str, dtype: str, shape: sequence of int, data), where
// data has the buffer protocol and is C-contiguous. The buffers are held (PyObject_GetBuffer)
// only for the duration of the call; the GIL is released while C++ copies, hashes, compresses
// and writes, so other Python threads run meanwhile. Nothing here ever calls back into Python
// from another thread.
//
// Errors: a Status becomes ValueError (invalid argument), FileNotFoundError (not found),
// OSError (unavailable) or RuntimeError (conflict, internal), with the Status message.
#include <Python.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "ckpt/checkpoint.h"
#include "ckpt/checkpoint_request.h"
#include "ckpt/checkpoint_store.h"
#include "ckpt/checkpoint_writer.h"
#include "core/status.h"

namespace py = pybind11;

namespace gpool::ckpt {
namespace {

[[noreturn]] void Raise(const Status& status) {
  PyObject* type = PyExc_RuntimeError;
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      type = PyExc_ValueError;
      break;
    case StatusCode::kNotFound:
      type = PyExc_FileNotFoundError;
      break;
    case StatusCode::kUnavailable:
      type = PyExc_OSError;
      break;
    default:
      break;
  }
  PyErr_SetString(type, status.message().c_str());
  throw py::error_already_set();
}

// A Py_buffer held for the duration of one call. REQUIRES: the GIL when made and destroyed.
class HeldBuffer {
 public:
  HeldBuffer(py::handle object, const std::string& name) {
    if (PyObject_GetBuffer(object.ptr(), &view_, PyBUF_C_CONTIGUOUS) != 0) {
      PyErr_Clear();
      throw py::type_error("'" + name + "': " + std::string(Py_TYPE(object.ptr())->tp_name) +
                           " is not a C-contiguous buffer");
    }
  }
  ~HeldBuffer() { PyBuffer_Release(&view_); }
  HeldBuffer(const HeldBuffer&) = delete;
  HeldBuffer& operator=(const HeldBuffer&) = delete;
  const void* data() const { return view_.buf; }
  std::uint64_t size() const { return static_cast<std::uint64_t>(view_.len); }

 private:
  Py_buffer view_{};
};

// A checkpoint view over Python buffers, which it holds until it goes away.
struct HeldView {
  CheckpointView view;
  std::vector<std::unique_ptr<HeldBuffer>> buffers;
};

HeldView MakeView(const py::sequence& entries, std::int64_t step, std::int64_t epoch,
                  std::string loader_position, std::map<std::string, std::string> extra) {
  HeldView held;
  held.view.metadata = {step, epoch, std::move(loader_position), std::move(extra)};
  held.view.tensors.reserve(entries.size());
  for (py::handle item : entries) {
    auto entry = item.cast<py::tuple>();
    if (entry.size() != 4) throw py::value_error("an entry is not (name, dtype, shape, data)");
    auto name = entry[0].cast<std::string>();
    auto dtype_name = entry[1].cast<std::string>();
    std::optional<DType> dtype = ParseDType(dtype_name);
    if (!dtype) throw py::value_error("'" + name + "': unknown dtype '" + dtype_name + "'");
    auto shape = entry[2].cast<std::vector<std::int64_t>>();
    auto buffer = std::make_unique<HeldBuffer>(entry[3], name);
    held.view.tensors.push_back(
        {std::move(name), *dtype, std::move(shape), buffer->data(), buffer->size()});
    held.buffers.push_back(std::move(buffer));
  }
  return held;
}

// A loaded tensor's bytes, exposed as a writable 1-d buffer of unsigned bytes so that
// numpy.frombuffer gives an array over them without a copy.
class TensorBytes {
 public:
  explicit TensorBytes(std::string bytes) : bytes_(std::move(bytes)) {}
  py::buffer_info Info() {
    return py::buffer_info(bytes_.data(), 1, py::format_descriptor<std::uint8_t>::format(), 1,
                           {static_cast<py::ssize_t>(bytes_.size())}, {py::ssize_t{1}},
                           /*readonly=*/false);
  }
  std::size_t size() const { return bytes_.size(); }

 private:
  std::string bytes_;
};

class Writer {
 public:
  Writer(std::string root, std::uint64_t staging_bytes, int zstd_level) {
    WriterOptions options;
    options.staging_bytes = staging_bytes;
    options.store.zstd_level = zstd_level;
    Result<std::unique_ptr<CheckpointWriter>> writer = [&] {
      py::gil_scoped_release release;
      return CheckpointWriter::Open(std::move(root), options);
    }();
    if (!writer.ok()) Raise(writer.status());
    writer_ = std::move(*writer);
  }

  void Save(const py::sequence& entries, std::int64_t step, std::int64_t epoch,
            std::string loader_position, std::map<std::string, std::string> extra,
            std::string name) {
    std::shared_ptr<CheckpointWriter> writer = Open();
    HeldView held = MakeView(entries, step, epoch, std::move(loader_position), std::move(extra));
    Result<SaveReport> report = [&] {
      py::gil_scoped_release release;
      return writer->Save(held.view, std::move(name));
    }();
    if (!report.ok()) Raise(report.status());
  }

  bool SaveAsync(const py::sequence& entries, std::int64_t step, std::int64_t epoch,
                 std::string loader_position, std::map<std::string, std::string> extra,
                 std::string name) {
    std::shared_ptr<CheckpointWriter> writer = Open();
    HeldView held = MakeView(entries, step, epoch, std::move(loader_position), std::move(extra));
    Result<bool> queued = [&] {
      py::gil_scoped_release release;
      return writer->SaveAsync(held.view, std::move(name));
    }();
    if (!queued.ok()) Raise(queued.status());
    return *queued;
  }

  void Wait() {
    std::shared_ptr<CheckpointWriter> writer = Open();
    Status status;
    {
      py::gil_scoped_release release;
      status = writer->Wait();
    }
    if (!status.ok()) Raise(status);
  }

  // Waits for queued saves and stops the saver thread; later calls raise. Idempotent.
  void Close() {
    if (!writer_) return;
    std::shared_ptr<CheckpointWriter> writer = std::move(writer_);  // later calls raise
    Status status;
    {
      py::gil_scoped_release release;
      status = writer->Wait();
      writer.reset();
    }
    if (!status.ok()) Raise(status);
  }

  bool closed() const { return writer_ == nullptr; }
  std::uint64_t staging_bytes() { return Open()->staging_bytes(); }
  std::uint64_t staging_in_use() { return Open()->staging_in_use(); }

 private:
  // A reference that keeps the writer alive through a call that releases the GIL, even if
  // another thread closes it meanwhile (the last reference stops the saver thread).
  std::shared_ptr<CheckpointWriter> Open() {
    if (!writer_) throw py::value_error("the checkpoint writer is closed");
    return writer_;
  }

  std::shared_ptr<CheckpointWriter> writer_;  // read and changed with the GIL held
};

// (name, [(tensor, dtype, shape, TensorBytes)], step, epoch, loader_position, extra).
// sha256: LoadCheck::kSha256 (every chunk's SHA-256), else the chunk files' content checksums.
py::tuple Load(const std::string& root, std::string name, bool sha256) {
  Result<Checkpoint> loaded = Status::NotFound("unset");
  {
    py::gil_scoped_release release;
    const CheckpointStoreOptions options{
        .load_check = sha256 ? LoadCheck::kSha256 : LoadCheck::kChecksum};
    if (Result<CheckpointStore> store = CheckpointStore::OpenExisting(root, options);
        !store.ok()) {
      loaded = store.status();
    } else if (name != kLatest) {
      loaded = store->Load(name);
    } else if (Result<std::string> latest = store->Latest(); !latest.ok()) {
      loaded = latest.status();
    } else {
      name = *latest;
      loaded = store->Load(name);
    }
  }
  if (!loaded.ok()) Raise(loaded.status());
  Checkpoint& c = *loaded;
  py::list tensors;
  for (Tensor& t : c.tensors) {
    py::tuple shape(t.shape.size());
    for (std::size_t i = 0; i < t.shape.size(); ++i) shape[i] = py::int_(t.shape[i]);
    tensors.append(
        py::make_tuple(t.name, DTypeName(t.dtype), shape, TensorBytes(std::move(t.bytes))));
  }
  return py::make_tuple(name, tensors, c.metadata.step, c.metadata.epoch,
                        c.metadata.loader_position, c.metadata.extra);
}

}  // namespace
}  // namespace gpool::ckpt

PYBIND11_MODULE(_native, m) {
  using namespace gpool::ckpt;
  m.doc() = "The C++ layer of gpool_ckpt; use the functions of gpool_ckpt itself.";

  py::class_<TensorBytes>(m, "TensorBytes", py::buffer_protocol())
      .def_buffer(&TensorBytes::Info)
      .def("__len__", &TensorBytes::size);

  py::class_<Writer>(m, "Writer")
      .def(py::init<std::string, std::uint64_t, int>(), py::arg("root"),
           py::arg("staging_bytes") = 0, py::arg("zstd_level") = 1)
      .def("save", &Writer::Save, py::arg("entries"), py::arg("step"), py::arg("epoch"),
           py::arg("loader_position"), py::arg("extra"), py::arg("name"))
      .def("save_async", &Writer::SaveAsync, py::arg("entries"), py::arg("step"), py::arg("epoch"),
           py::arg("loader_position"), py::arg("extra"), py::arg("name"))
      .def("wait", &Writer::Wait)
      .def("close", &Writer::Close)
      .def_property_readonly("closed", &Writer::closed)
      .def_property_readonly("staging_bytes", &Writer::staging_bytes)
      .def_property_readonly("staging_in_use", &Writer::staging_in_use);

  m.def("load", &Load, py::arg("root"), py::arg("name"), py::arg("sha256") = false);
  m.def("default_staging_bytes", &DefaultStagingBytes);
  m.def("install_checkpoint_handler", [](int signum) {
    if (gpool::Status s = InstallCheckpointRequestHandler(signum); !s.ok()) Raise(s);
  });
  m.def("checkpoint_requested", &CheckpointRequested);
  m.def("clear_checkpoint_request", &ClearCheckpointRequest);
  m.def("request_checkpoint", &RequestCheckpoint);
  m.attr("CHECKPOINTED_EXIT_CODE") = kCheckpointedExitCode;
}
