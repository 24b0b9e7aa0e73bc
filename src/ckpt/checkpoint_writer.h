// CheckpointWriter: what a training loop holds to save its state — synchronously, or
// asynchronously from a bounded staging buffer so the GPU goes back to work while the bytes
// are hashed, compressed and written — and MaybeCheckpoint, the "checkpoint now" safe point of
// checkpoint_request.h.
//
//   auto writer = CheckpointWriter::Open("/data/ckpt/run-7");
//   for (step ...) {
//     train_step();
//     if (step % 1000 == 0) (*writer)->SaveAsync(View(model, step));   // returns after the copy
//     if (*(*writer)->MaybeCheckpoint([&] { return View(model, step); })) return 75;
//   }
//
// Asynchronous saves: SaveAsync copies every tensor's bytes into the staging buffer and returns;
// one background thread saves queued checkpoints in order (so `latest` moves in order). The
// buffer is bounded by options.staging_bytes (default DefaultStagingBytes(): a quarter of the
// memory available now, at least 64 MiB): SaveAsync waits while the queued checkpoints and this
// one would exceed it, and a checkpoint larger than the whole bound is saved synchronously
// instead (SaveAsync then returns false). A failed asynchronous save is reported by the next
// SaveAsync, Save, MaybeCheckpoint or Wait, once. The destructor waits for queued saves.
//
// Names: a checkpoint is called "step-<step>" unless a name is given.
//
// Thread safety: one training thread calls the writer; the background thread is internal.
// One writer per store root (CheckpointStore's single-writer rule).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ckpt/checkpoint.h"
#include "ckpt/checkpoint_store.h"
#include "core/status.h"

namespace gpool::ckpt {

// A tensor in the caller's memory: nothing is copied until Save/SaveAsync.
struct TensorView {
  std::string name;
  DType dtype = DType::kBlob;
  std::vector<std::int64_t> shape;
  const void* data = nullptr;
  std::uint64_t size = 0;  // bytes
};

struct CheckpointView {
  std::vector<TensorView> tensors;
  CheckpointMetadata metadata;
};

// A quarter of MemAvailable (/proc/meminfo), at least 64 MiB; 1 GiB if it cannot be read.
std::uint64_t DefaultStagingBytes();

struct WriterOptions {
  CheckpointStoreOptions store;
  std::uint64_t staging_bytes = 0;  // 0: DefaultStagingBytes()
};

class CheckpointWriter {
 public:
  // Opens (creates) the store at `root` and starts the background saver.
  static Result<std::unique_ptr<CheckpointWriter>> Open(std::string root,
                                                        WriterOptions options = {});
  ~CheckpointWriter();
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  // Saves now (after any queued asynchronous saves) and returns when `latest` points at it.
  Result<SaveReport> Save(const CheckpointView& view, std::string name = "");
  // Copies the bytes into the staging buffer and queues the save: true. False when the
  // checkpoint is larger than the staging bound and was saved synchronously instead.
  // InvalidArgument (nothing queued) for an invalid checkpoint or name.
  Result<bool> SaveAsync(const CheckpointView& view, std::string name = "");
  // Waits until every queued save is published; the first failure since the last report.
  Status Wait();

  // The training loop's safe point. If a checkpoint was requested (CheckpointRequested()),
  // waits for queued saves, saves `state()` synchronously, clears the request and returns true;
  // otherwise returns false at the cost of one atomic load. On a failed save the request stays
  // set (the next call tries again) and the error is returned.
  Result<bool> MaybeCheckpoint(const std::function<CheckpointView()>& state);

  // The report of the last save that completed (synchronous or not); nullopt before any.
  std::optional<SaveReport> last_report() const;
  std::uint64_t staging_bytes() const { return staging_bytes_; }
  std::uint64_t staging_in_use() const;
  const CheckpointStore& store() const { return store_; }

 private:
  struct Job {
    std::string name;
    Checkpoint checkpoint;
    std::uint64_t bytes = 0;
  };
  CheckpointWriter(CheckpointStore store, std::uint64_t staging_bytes);
  void SaverLoop();
  // The error of a failed asynchronous save not yet reported; clears it. REQUIRES: mu_ held.
  Status TakeErrorLocked();
  Result<SaveReport> SaveNow(const std::string& name, const Checkpoint& checkpoint);

  CheckpointStore store_;
  const std::uint64_t staging_bytes_;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Job> queue_;       // guarded by mu_; front() is being saved while saving_
  bool saving_ = false;         // guarded by mu_
  bool stopping_ = false;       // guarded by mu_
  std::uint64_t in_use_ = 0;    // guarded by mu_: staged bytes of queued jobs
  Status error_;                // guarded by mu_: first unreported failure
  std::optional<SaveReport> last_report_;  // guarded by mu_
  std::mutex store_mu_;         // one Save at a time on store_ (saver thread or caller)
  std::thread saver_;
};

// The name a checkpoint of `step` gets when none is given.
std::string DefaultCheckpointName(std::int64_t step);

// Copies a view into an owned Checkpoint (the staging copy). InvalidArgument naming the tensor
// if a non-empty tensor has no data.
Result<Checkpoint> CopyView(const CheckpointView& view);

}  // namespace gpool::ckpt
