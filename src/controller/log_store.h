// LogStore: the workloads' stdout and stderr as the controller serves them (`gpool logs`).
//
// Agents capture each workload's output to files on their node and ship it here in chunks
// (POST /v1/workloads/{id}/logs); users read it back (GET, the same path) from any machine. Each
// (workload, epoch, stream) is one append-only file <dir>/<id>/<epoch>.<stream>: a workload that
// ran again elsewhere (a new epoch) has the output of each run apart.
//
// Appends are idempotent by offset: a chunk is written only if it starts where the file ends, so
// an agent that retries after a lost answer, or two agents of different epochs, never duplicate or
// interleave output. Logs are not in the state store: they are large, append-only, and losing the
// tail of one to a crash is acceptable (the agent ships it again: its offset is the file's size).
//
// Thread-safe: one mutex serialises appends (reads need none: files only grow).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "core/status.h"

namespace gpool::controller {

enum class LogStream { kStdout, kStderr };

// "stdout" / "stderr" (also "out" / "err"); nullopt-like InvalidArgument otherwise.
Result<LogStream> ParseLogStream(std::string_view s);
std::string_view LogStreamName(LogStream s);

struct LogChunk {
  std::string data;
  std::int64_t offset = 0;  // where data starts
  std::int64_t size = 0;    // the log's whole size now
};

struct LogAppend {
  std::int64_t size = 0;
  bool written = false;
};

class LogStore {
 public:
  // Logs live under `dir` (created on first append).
  explicit LogStore(std::string dir) : dir_(std::move(dir)) {}

  // Appends `data` if `offset` is the log's size. Returns the size after, and whether `data` was
  // written (when offset differs, nothing is written: the caller resumes from the size).
  // Unavailable when the disk fails.
  Result<LogAppend> Append(std::int64_t id, int epoch, LogStream stream, std::int64_t offset,
                              std::string_view data);
  // Up to `max_bytes` from `offset` (an offset past the end reads nothing). A log never written
  // reads as empty.
  Result<LogChunk> Read(std::int64_t id, int epoch, LogStream stream, std::int64_t offset,
                        std::int64_t max_bytes) const;

 private:
  std::string PathOf(std::int64_t id, int epoch, LogStream stream) const;

  std::string dir_;
  std::mutex mu_;
};

}  // namespace gpool::controller
