// The file operations a checkpoint store is made of, in one place: durable writes (temp file,
// fsync, rename, fsync of the folder), whole-file reads, folder creation. Every function
// returns a Status naming the path and errno; none throws.
//
// Temp files start with kTempPrefix and are made in the target's own folder, so the rename that
// publishes them never crosses a filesystem; `gc` removes any a crash left behind.
//
// Thread safety: every function may be called from several threads at once (temp names carry
// the pid and a process-wide counter).
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace gpool::ckpt::files {

inline constexpr std::string_view kTempPrefix = ".tmp-";

// Unavailable "<what> <path>: <strerror(err)>".
Status IoError(const std::string& what, const std::string& path, int err);
Status FsyncPath(const std::string& path);
// Creates `dir` if missing; a new folder is made durable by fsyncing its parent. (One that
// exists is taken as it is: a writer that relies on it fsyncs the parent itself, since a
// process killed between mkdir and fsync may have made it.)
Status EnsureDir(const std::string& dir);
// A fresh temp file name (no folder) for a file that will become `base`.
std::string TempName(std::string_view base);
bool IsTemp(std::string_view filename);

// Writes `data` to dir/name: temp file (O_EXCL), write, fsync, rename, and fsync of `dir`
// unless `sync_dir` is false (the caller then fsyncs the folder once for a batch of files).
Status WriteFileDurably(const std::string& dir, const std::string& name, std::string_view data,
                        bool sync_dir = true);
// NotFound if the file does not exist, Unavailable for any other failure.
Result<std::string> ReadFile(const std::string& path);
// The same into `*out` (its memory reused: a loop reading many files allocates once).
Status ReadFileInto(const std::string& path, std::string* out);
bool FileExists(const std::string& path);

// An advisory lock (flock) on a file, created if missing, held until destruction. Shared locks
// coexist; an exclusive one excludes every other. Conflict when `wait` is false and the lock is
// held elsewhere (any process on this host; NFS v4 honours flock too).
class FileLock {
 public:
  static Result<FileLock> Acquire(const std::string& path, bool exclusive, bool wait);
  FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileLock& operator=(FileLock&&) = delete;
  FileLock(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace gpool::ckpt::files
