#include "ckpt/checkpoint_transfer.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

namespace gpool::ckpt {
namespace {

constexpr int kMaxParallel = 16;

// A distinct chunk of the manifest and where it is first used (for messages).
struct ChunkUse {
  const ChunkRef* ref;
  const std::string* tensor;
  std::size_t index;
};

// "checkpoint 'c' tensor 't' chunk 3 (<hash>): <message>". A NotFound from the chunk phase
// becomes Internal: NotFound is kept for "no such checkpoint".
Status AtChunk(const std::string& checkpoint, const ChunkUse& c, const std::string& action,
               const Status& s) {
  const StatusCode code = s.code() == StatusCode::kNotFound ? StatusCode::kInternal : s.code();
  return Status(code, "checkpoint '" + checkpoint + "' tensor '" + *c.tensor + "' chunk " +
                          std::to_string(c.index) + " (" + c.ref->hash + "): " + action + ": " +
                          s.message());
}

}  // namespace

Result<TransferReport> Transfer(CheckpointRemote& source, std::string_view name,
                                CheckpointRemote& destination, const TransferOptions& options,
                                const TransferProgress& progress) {
  if (options.batch_size < 1 || options.batch_size > kMaxHashesPerQuery) {
    return Status::InvalidArgument("batch_size must be 1.." + std::to_string(kMaxHashesPerQuery));
  }
  if (options.parallel < 1 || options.parallel > kMaxParallel) {
    return Status::InvalidArgument("parallel must be 1.." + std::to_string(kMaxParallel));
  }
  Result<CheckpointManifest> manifest = source.ReadManifest(name);
  if (!manifest.ok()) return manifest.status();

  std::vector<ChunkUse> chunks;
  std::unordered_set<std::string> seen;
  for (const TensorEntry& t : manifest->tensors) {
    for (std::size_t i = 0; i < t.chunks.size(); ++i) {
      if (seen.insert(t.chunks[i].hash).second) chunks.push_back({&t.chunks[i], &t.name, i});
    }
  }
  TransferReport report;
  report.name = manifest->name;
  report.chunks_total = chunks.size();
  std::mutex mu;  // guards report, first_error and the progress callback
  const auto tell = [&] {
    if (progress) progress(report);
  };

  for (std::size_t start = 0; start < chunks.size(); start += options.batch_size) {
    const std::size_t end = std::min(chunks.size(), start + options.batch_size);
    std::vector<std::string> hashes;
    for (std::size_t i = start; i < end; ++i) hashes.push_back(chunks[i].ref->hash);
    Result<std::vector<std::string>> missing = destination.MissingChunks(hashes);
    if (!missing.ok()) {
      const Status& s = missing.status();
      return Status(s.code() == StatusCode::kNotFound ? StatusCode::kInternal : s.code(),
                    "checkpoint '" + report.name + "': asking " + destination.Describe() +
                        " which chunks it lacks: " + s.message());
    }
    const std::unordered_set<std::string> lacking(missing->begin(), missing->end());
    std::vector<const ChunkUse*> todo;
    for (std::size_t i = start; i < end; ++i) {
      if (lacking.contains(chunks[i].ref->hash)) todo.push_back(&chunks[i]);
    }
    report.chunks_skipped += (end - start) - todo.size();
    tell();

    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    Status first_error;
    const auto copy = [&] {
      while (!failed.load()) {
        const std::size_t i = next.fetch_add(1);
        if (i >= todo.size()) return;
        const ChunkUse& c = *todo[i];
        Status error;
        Result<std::string> file = Status::Internal("not read");
        try {  // an exception must not leave a worker thread (std::terminate)
          file = source.ReadChunkFile(*c.ref);
          if (!file.ok()) {
            error = AtChunk(report.name, c, "reading it from " + source.Describe(), file.status());
          } else if (Result<bool> put = destination.PutChunkFile(*c.ref, *file); !put.ok()) {
            error =
                AtChunk(report.name, c, "sending it to " + destination.Describe(), put.status());
          }
        } catch (const std::exception& e) {
          error = AtChunk(report.name, c, "copying it",
                          Status::Internal(std::string("unexpected exception: ") + e.what()));
        }
        std::lock_guard<std::mutex> lock(mu);
        if (!error.ok()) {
          if (!failed.exchange(true)) first_error = std::move(error);
          return;
        }
        ++report.chunks_sent;
        report.bytes_sent += file->size();
        tell();
      }
    };
    const std::size_t threads = std::min<std::size_t>(options.parallel, todo.size());
    if (threads <= 1) {
      copy();
    } else {
      std::vector<std::thread> workers;
      for (std::size_t t = 0; t < threads; ++t) workers.emplace_back(copy);
      for (std::thread& w : workers) w.join();
    }
    if (failed.load()) return first_error;
  }

  bool make_latest = options.set_latest == SetLatest::kYes;
  if (options.set_latest == SetLatest::kIfNone) {
    Result<CheckpointListing> listing = destination.List();
    if (!listing.ok()) return listing.status();
    make_latest = !listing->latest.has_value();
  }
  if (Status s = destination.Publish(*manifest, make_latest); !s.ok()) {
    return Status(s.code() == StatusCode::kNotFound ? StatusCode::kInternal : s.code(),
                  "publishing checkpoint '" + report.name + "' at " + destination.Describe() +
                      ": " + s.message());
  }
  report.made_latest = make_latest;
  return report;
}

Result<TransferReport> Push(CheckpointStore& local, std::string_view name, CheckpointRemote& remote,
                            const TransferOptions& options, const TransferProgress& progress) {
  LocalCheckpointRemote source(local);
  return Transfer(source, name, remote, options, progress);
}

Result<TransferReport> Pull(CheckpointRemote& remote, std::string_view name, CheckpointStore& local,
                            const TransferOptions& options, const TransferProgress& progress) {
  LocalCheckpointRemote destination(local);
  return Transfer(remote, name, destination, options, progress);
}

}  // namespace gpool::ckpt
