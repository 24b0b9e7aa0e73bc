#include "ckpt/store_files.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>

#include "ckpt/buffer_memory.h"

namespace gpool::ckpt::files {

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

Status WriteFileDurably(const std::string& dir, const std::string& name, std::string_view data,
                        bool sync_dir) {
  const std::string tmp = dir + "/" + TempName(name);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("create", tmp, errno);
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return IoError("write", tmp, err);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return IoError("fsync", tmp, err);
  }
  ::close(fd);
  const std::string target = dir + "/" + name;
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return IoError("rename to", target, err);
  }
  return sync_dir ? FsyncPath(dir) : Status::Ok();
}

Status ReadFileInto(const std::string& path, std::string* out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound(path + " does not exist");
    return IoError("open", path, errno);
  }
  struct Closer {  // also when growing the buffer throws
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  // Straight into *out: sized to the file (+1 to see the end in the same read), grown if the
  // file grows while read.
  struct stat st;
  std::size_t expected = 0;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) expected = static_cast<std::size_t>(st.st_size);
  ResizeForOverwrite(*out, expected + 1);
  std::size_t size = 0;
  for (;;) {
    if (out->size() == size) out->resize(2 * size);
    const ssize_t n = ::read(fd, out->data() + size, out->size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("read", path, errno);
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
  }
  out->resize(size);
  return Status::Ok();
}

Result<std::string> ReadFile(const std::string& path) {
  std::string out;
  if (Status s = ReadFileInto(path, &out); !s.ok()) return s;
  return out;
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
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
