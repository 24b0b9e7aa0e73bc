// The file operations a checkpoint store is made of, in one place: durable writes (temp file,
// fsync, rename, fsync of the folder), whole-file reads, folder creation. Every function
// returns a Status naming the path and errno; none throws but for std::bad_alloc.
//
// Temp files start with kTempPrefix and are made in the target's own folder, so the rename that
// publishes them never crosses a filesystem; `gc` removes any a crash left behind.
//
// Thread safety: every function may be called from several threads at once (temp names carry
// the pid and a process-wide counter).
#pragma once

#include <cstddef>
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

class AlignedBuffer;

// Writes `data` to dir/name: temp file (O_EXCL), write, fsync, rename, and fsync of `dir`
// unless `sync_dir` is false (the caller then fsyncs the folder once for a batch of files).
// With a `direct_buffer`, the data is written with direct I/O (O_DIRECT) where the filesystem
// allows it: copied into the buffer, padded to whole blocks, written, and the file cut back to
// its size (ftruncate) before the fsync — no page-cache pages to allocate and fill, which on
// the VM of docs/benchmarks.md §7 cost a save 0.3-0.8 CPU s per GB and varied with the host's
// memory; elsewhere (or if the device refuses the alignment) an ordinary write.
Status WriteFileDurably(const std::string& dir, const std::string& name, std::string_view data,
                        bool sync_dir = true, AlignedBuffer* direct_buffer = nullptr);
// NotFound if the file does not exist, Unavailable for any other failure.
Result<std::string> ReadFile(const std::string& path);
bool FileExists(const std::string& path);

// Memory for ReadFileDirect, kept from file to file: aligned as direct I/O needs, and asked to be
// backed by transparent huge pages (MADV_HUGEPAGE), which the kernel needs in order to make one
// large disk request of a read instead of many. On the virtio disk of docs/benchmarks.md §7, 8
// threads read a store's chunk files with direct I/O in 0.31-0.35 s into such buffers and in
// 0.59-0.77 s into ordinary ones (requests there are cut at 254 segments: 1 MiB of scattered
// 4 KiB pages), against 0.47-0.55 s through the page cache. Where THP is off, the buffer is
// ordinary memory and everything works as before.
// Owned by one thread at a time (not thread-safe); movable.
class AlignedBuffer {
 public:
  static constexpr std::size_t kAlignment = 4096;  // what O_DIRECT needs (the buffer has more)

  AlignedBuffer() = default;
  AlignedBuffer(AlignedBuffer&& other) noexcept;
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer();

  char* data() { return data_; }
  std::size_t capacity() const { return capacity_; }
  // Makes capacity() at least `size` (a multiple of 2 MiB, at least twice the old one when it
  // grows); the first `keep` bytes are kept. Throws std::bad_alloc when there is no memory.
  void Reserve(std::size_t size, std::size_t keep = 0);

 private:
  char* data_ = nullptr;
  std::size_t capacity_ = 0;
};

// How ReadFileDirect read a file.
enum class ReadVia {
  kPageCache,  // the page cache held every page of it: an ordinary read, from memory
  kDirectIo,   // O_DIRECT: from the disk into the buffer, the page cache neither used nor filled
  kBuffered,   // an ordinary read, because the filesystem refused O_DIRECT
};

struct FileRead {
  std::string_view bytes;  // in the buffer handed in, until its next use
  ReadVia via;
};

// The whole file at `path`, read into `*buffer` (not null), for a file read once and used at
// once (a chunk file a load decodes). A file the page cache holds in whole is read from it; any
// other with direct I/O where the filesystem allows it (tmpfs before Linux 6.6 and some FUSE
// mounts refuse it), so a cold read neither fills the page cache nor pays for copying out of it
// where the filesystem honours O_DIRECT (btrfs serves small and compressed files through the
// cache anyway, ZFS before 2.3 ignores it): on the VM of docs/benchmarks.md §7 the cache was a
// third of a cold load's CPU. Direct reads see what was written through the page cache (the
// kernel writes back dirty pages of the range first). NotFound if the file does not exist,
// Unavailable for any other failure; std::bad_alloc as Reserve.
Result<FileRead> ReadFileDirect(const std::string& path, AlignedBuffer* buffer);

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
