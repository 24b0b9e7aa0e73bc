#include "ckpt/checkpoint_writer.h"

#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <utility>

#include "ckpt/checkpoint_request.h"

namespace gpool::ckpt {
namespace {

constexpr std::uint64_t kMinStaging = 64ull << 20;

std::uint64_t ViewBytes(const CheckpointView& view) {
  std::uint64_t sum = 0;
  for (const TensorView& t : view.tensors) sum += t.size;
  return sum;
}

}  // namespace

std::uint64_t DefaultStagingBytes() {
  std::FILE* f = std::fopen("/proc/meminfo", "r");
  if (f == nullptr) return 1ull << 30;
  char line[256];
  unsigned long long kib = 0;
  bool found = false;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "MemAvailable: %llu kB", &kib) == 1) {
      found = true;
      break;
    }
  }
  std::fclose(f);
  if (!found) return 1ull << 30;
  const std::uint64_t quarter = static_cast<std::uint64_t>(kib) * 1024 / 4;
  return quarter < kMinStaging ? kMinStaging : quarter;
}

std::string DefaultCheckpointName(std::int64_t step) { return "step-" + std::to_string(step); }

Result<Checkpoint> CopyView(const CheckpointView& view) {
  Checkpoint out;
  out.metadata = view.metadata;
  out.tensors.reserve(view.tensors.size());
  for (const TensorView& t : view.tensors) {
    if (t.size > 0 && t.data == nullptr) {
      return Status::InvalidArgument("tensor '" + t.name + "' has " + std::to_string(t.size) +
                                     " bytes but no data");
    }
    Tensor copy{t.name, t.dtype, t.shape, std::string()};
    if (t.size > 0) copy.bytes.assign(static_cast<const char*>(t.data), t.size);
    out.tensors.push_back(std::move(copy));
  }
  if (Status s = ValidateCheckpoint(out); !s.ok()) return s;
  return out;
}

Result<std::unique_ptr<CheckpointWriter>> CheckpointWriter::Open(std::string root,
                                                                 WriterOptions options) {
  Result<CheckpointStore> store = CheckpointStore::Open(std::move(root), options.store);
  if (!store.ok()) return store.status();
  const std::uint64_t staging =
      options.staging_bytes > 0 ? options.staging_bytes : DefaultStagingBytes();
  return std::unique_ptr<CheckpointWriter>(new CheckpointWriter(std::move(*store), staging));
}

CheckpointWriter::CheckpointWriter(CheckpointStore store, std::uint64_t staging_bytes)
    : store_(std::move(store)), staging_bytes_(staging_bytes) {
  saver_ = std::thread([this] { SaverLoop(); });
}

CheckpointWriter::~CheckpointWriter() {
  {
    std::unique_lock lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  saver_.join();  // the loop drains the queue before it stops: nothing queued is lost
}

void CheckpointWriter::SaverLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    changed_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything queued is saved
    Job job = std::move(queue_.front());
    queue_.pop_front();
    saving_ = true;
    lock.unlock();
    // An exception must not leave the saver thread (std::terminate).
    Result<SaveReport> report = CatchAsStatus([&] { return SaveNow(job.name, job.checkpoint); });
    job.checkpoint = Checkpoint();  // free the staged bytes before saying they are free
    lock.lock();
    in_use_ -= job.bytes;
    saving_ = false;
    if (!report.ok() && error_.ok()) {
      error_ = Status(report.status().code(), "asynchronous save of '" + job.name +
                                                  "' failed: " + report.status().message());
    }
    changed_.notify_all();
  }
}

Result<SaveReport> CheckpointWriter::SaveNow(const std::string& name,
                                             const Checkpoint& checkpoint) {
  std::lock_guard store_lock(store_mu_);
  Result<SaveReport> report = store_.Save(name, checkpoint);
  if (report.ok()) {
    std::lock_guard lock(mu_);
    last_report_ = *report;
  }
  return report;
}

Status CheckpointWriter::TakeErrorLocked() {
  Status s = std::move(error_);
  error_ = Status::Ok();
  return s;
}

Status CheckpointWriter::Wait() {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [this] { return queue_.empty() && !saving_; });
  return TakeErrorLocked();
}

Result<SaveReport> CheckpointWriter::Save(const CheckpointView& view, std::string name) {
  if (Status s = Wait(); !s.ok()) return s;
  if (name.empty()) name = DefaultCheckpointName(view.metadata.step);
  Result<Checkpoint> copy = CopyView(view);
  if (!copy.ok()) return copy.status();
  return SaveNow(name, *copy);
}

Result<bool> CheckpointWriter::SaveAsync(const CheckpointView& view, std::string name) {
  if (name.empty()) name = DefaultCheckpointName(view.metadata.step);
  if (Status s = ValidateCheckpointName(name); !s.ok()) return s;  // not in the background
  const std::uint64_t bytes = ViewBytes(view);
  if (bytes > staging_bytes_) {
    Result<SaveReport> report = Save(view, name);
    if (!report.ok()) return report.status();
    return false;
  }
  {
    std::unique_lock lock(mu_);
    if (Status s = TakeErrorLocked(); !s.ok()) return s;
    changed_.wait(lock, [&] { return in_use_ + bytes <= staging_bytes_; });
    in_use_ += bytes;  // reserved before the copy so two callers cannot overrun the bound
  }
  Result<Checkpoint> copy = Status::Internal("not copied");
  try {
    copy = CopyView(view);
  } catch (const std::bad_alloc&) {  // give the reservation back, or later saves wait forever
    copy = Status::Internal("out of memory copying the checkpoint into the staging buffer");
  }
  std::unique_lock lock(mu_);
  if (!copy.ok()) {
    in_use_ -= bytes;
    changed_.notify_all();
    return copy.status();
  }
  queue_.push_back({std::move(name), std::move(*copy), bytes});
  changed_.notify_all();
  return true;
}

Result<bool> CheckpointWriter::MaybeCheckpoint(const std::function<CheckpointView()>& state) {
  if (!CheckpointRequested()) return false;
  ClearCheckpointRequest();  // before the save: a request arriving during it is kept
  Result<SaveReport> report = Save(state());
  if (!report.ok()) {
    RequestCheckpoint();  // not done: the next safe point tries again
    return report.status();
  }
  return true;
}

std::optional<SaveReport> CheckpointWriter::last_report() const {
  std::lock_guard lock(mu_);
  return last_report_;
}

std::uint64_t CheckpointWriter::staging_in_use() const {
  std::lock_guard lock(mu_);
  return in_use_;
}

}  // namespace gpool::ckpt
