#include "ckpt/store_files.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <new>
#include <utility>
#include <vector>

#include "ckpt/buffer_memory.h"

namespace gpool::ckpt::files {
namespace {

struct FdCloser {  // also when growing a buffer throws
  int fd;
  ~FdCloser() { ::close(fd); }
};

// A descriptor of `path` open for reading; NotFound or Unavailable naming the path.
Result<int> OpenToRead(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) return fd;
  if (errno == ENOENT) return Status::NotFound(path + " does not exist");
  return IoError("open", path, errno);
}

}  // namespace

Status IoError(const std::string& what, const std::string& path, int err) {
  return Status::Unavailable(what + " " + path + ": " + std::strerror(err));
}

Status FsyncPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError("open", path, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return IoError("fsync", path, err);
  return Status::Ok();
}

Status EnsureDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) == 0) {
    return FsyncPath(std::filesystem::path(dir).parent_path().string());
  }
  if (errno == EEXIST) return Status::Ok();
  return IoError("mkdir", dir, errno);
}

std::string TempName(std::string_view base) {
  static std::atomic<std::uint64_t> counter{0};
  return std::string(kTempPrefix) + std::string(base) + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(counter.fetch_add(1));
}

bool IsTemp(std::string_view filename) { return filename.starts_with(kTempPrefix); }

namespace {

bool SetDirectIo(int fd, bool on) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return false;
  return ::fcntl(fd, F_SETFL, on ? flags | O_DIRECT : flags & ~O_DIRECT) == 0;
}

// Writes all of `data` at `offset` on; errno on failure.
bool WriteAll(int fd, std::string_view data, std::size_t offset) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// Writes `data` to the fresh file `fd`: with direct I/O through `buffer` when it is given and
// the file takes it, else as an ordinary write. errno on failure.
bool WriteContents(int fd, std::string_view data, AlignedBuffer* buffer) {
  if (buffer == nullptr || data.empty() || !SetDirectIo(fd, true)) return WriteAll(fd, data, 0);
  constexpr std::size_t kBlock = AlignedBuffer::kAlignment;
  const std::size_t padded = (data.size() + kBlock - 1) / kBlock * kBlock;
  buffer->Reserve(padded);
  std::memcpy(buffer->data(), data.data(), data.size());
  std::memset(buffer->data() + data.size(), 0, padded - data.size());
  std::size_t done = 0;
  while (done < padded) {
    const ssize_t n = ::pwrite(fd, buffer->data() + done, padded - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EINVAL && SetDirectIo(fd, false)) break;  // the rest as usual
    if (n < 0) return false;
    done += static_cast<std::size_t>(n);
    if (done % kBlock != 0) {  // a short write off a block boundary: the rest as usual
      if (!SetDirectIo(fd, false)) return false;
      break;
    }
  }
  if (done < data.size() && !WriteAll(fd, data.substr(done), done)) return false;
  // Cut the padding off (and anything past the data an interrupted direct write left).
  return ::ftruncate(fd, static_cast<off_t>(data.size())) == 0;
}

}  // namespace

Status WriteFileDurably(const std::string& dir, const std::string& name, std::string_view data,
                        bool sync_dir, AlignedBuffer* direct_buffer) {
  const std::string tmp = dir + "/" + TempName(name);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("create", tmp, errno);
  // On every way out but the rename (an error, or growing the buffer throwing), the temp file is
  // removed; the error below is made (errno read) before this runs.
  struct TempFile {
    const std::string& path;
    bool renamed = false;
    ~TempFile() {
      if (!renamed) ::unlink(path.c_str());
    }
  } temp{tmp};
  const FdCloser closer{fd};
  if (!WriteContents(fd, data, direct_buffer)) return IoError("write", tmp, errno);
  if (::fsync(fd) != 0) return IoError("fsync", tmp, errno);
  const std::string target = dir + "/" + name;
  if (::rename(tmp.c_str(), target.c_str()) != 0) return IoError("rename to", target, errno);
  temp.renamed = true;
  return sync_dir ? FsyncPath(dir) : Status::Ok();
}

Result<std::string> ReadFile(const std::string& path) {
  Result<int> opened = OpenToRead(path);
  if (!opened.ok()) return opened.status();
  const int fd = *opened;
  const FdCloser closer{fd};
  // Sized to the file (+1 to see the end in the same read), grown if it grows while read.
  struct stat st;
  std::size_t expected = 0;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) expected = static_cast<std::size_t>(st.st_size);
  std::string out;
  ResizeForOverwrite(out, expected + 1);
  std::size_t size = 0;
  for (;;) {
    if (out.size() == size) out.resize(2 * size);
    const ssize_t n = ::read(fd, out.data() + size, out.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("read", path, errno);
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
  }
  out.resize(size);
  return out;
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

AlignedBuffer::AlignedBuffer(AlignedBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), capacity_(std::exchange(other.capacity_, 0)) {}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& other) noexcept {
  if (this != &other) {
    AlignedBuffer gone(std::move(*this));
    data_ = std::exchange(other.data_, nullptr);
    capacity_ = std::exchange(other.capacity_, 0);
  }
  return *this;
}

AlignedBuffer::~AlignedBuffer() {
  if (data_ != nullptr) ::munmap(data_, capacity_);
}

void AlignedBuffer::Reserve(std::size_t size, std::size_t keep) {
  if (size <= capacity_) return;
  constexpr std::size_t kHugePage = std::size_t{2} << 20;
  const std::size_t capacity =
      std::max((size + kHugePage - 1) / kHugePage * kHugePage, 2 * capacity_);
  // A mapping one huge page larger, trimmed to start on a huge-page boundary.
  void* raw = ::mmap(nullptr, capacity + kHugePage, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  char* const begin = static_cast<char*>(raw);
  const auto start_address =
      (reinterpret_cast<std::uintptr_t>(begin) + kHugePage - 1) & ~(kHugePage - 1);
  char* const start = begin + (start_address - reinterpret_cast<std::uintptr_t>(begin));
  if (start > begin) ::munmap(begin, static_cast<std::size_t>(start - begin));
  if (char* const end = begin + capacity + kHugePage; end > start + capacity) {
    ::munmap(start + capacity, static_cast<std::size_t>(end - (start + capacity)));
  }
  (void)::madvise(start, capacity, MADV_HUGEPAGE);  // a hint: refused, the pages are 4 KiB ones
  if (keep > 0) std::memcpy(start, data_, std::min(keep, capacity_));
  AlignedBuffer gone(std::move(*this));
  data_ = start;
  capacity_ = capacity;
}

namespace {

// Whether the page cache holds every page of the open file's first `size` bytes (mincore on a
// mapping of it: nothing is read, no page is faulted in). False when that cannot be told.
bool InPageCache(int fd, std::size_t size) {
  if (size == 0) return true;
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((size + page - 1) / page);  // before the mapping: may throw
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) return false;
  const bool all =
      ::mincore(map, size, resident.data()) == 0 &&
      std::all_of(resident.begin(), resident.end(), [](unsigned char r) { return (r & 1) != 0; });
  ::munmap(map, size);
  return all;
}

}  // namespace

Result<FileRead> ReadFileDirect(const std::string& path, AlignedBuffer* buffer) {
  Result<int> opened = OpenToRead(path);
  if (!opened.ok()) return opened.status();
  const int fd = *opened;
  const FdCloser closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) return IoError("stat", path, errno);
  const auto expected = static_cast<std::size_t>(std::max<off_t>(st.st_size, 0));
  ReadVia via = ReadVia::kPageCache;
  if (!InPageCache(fd, expected)) {
    via = SetDirectIo(fd, true) ? ReadVia::kDirectIo : ReadVia::kBuffered;
  }
  // Whole aligned blocks from aligned offsets, as O_DIRECT needs; +1 byte to see the end in the
  // same read. A file that grew since fstat grows the buffer.
  buffer->Reserve(expected + 1);
  std::size_t size = 0;
  for (;;) {
    if (size == buffer->capacity()) buffer->Reserve(2 * size, size);
    const ssize_t n =
        ::pread(fd, buffer->data() + size, buffer->capacity() - size, static_cast<off_t>(size));
    const int err = errno;
    if (n < 0 && err == EINTR) continue;
    if (n < 0 && err == EINVAL && via == ReadVia::kDirectIo && SetDirectIo(fd, false)) {
      via = ReadVia::kBuffered;  // an alignment this device does not take: the rest as usual
      continue;
    }
    if (n < 0) return IoError("read", path, err);
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
    if (via == ReadVia::kDirectIo && size % AlignedBuffer::kAlignment != 0) {
      // Off a block boundary: the end of the file, or a short read (NFS, FUSE may return
      // those), after which a direct read from here would be refused as unaligned.
      if (size >= expected) break;
      if (SetDirectIo(fd, false)) via = ReadVia::kBuffered;
    }
  }
  return FileRead{std::string_view(buffer->data(), size), via};
}

Result<FileLock> FileLock::Acquire(const std::string& path, bool exclusive, bool wait) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("open", path, errno);
  const int op = (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);
  int rc;
  do {
    rc = ::flock(fd, op);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) return Status::Conflict(path + " is locked by another process");
    return IoError("flock", path, err);
  }
  return FileLock(fd);
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

}  // namespace gpool::ckpt::files
