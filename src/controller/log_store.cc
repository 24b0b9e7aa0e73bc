#include "controller/log_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace gpool::controller {

Result<LogStream> ParseLogStream(std::string_view s) {
  if (s == "stdout" || s == "out") return LogStream::kStdout;
  if (s == "stderr" || s == "err") return LogStream::kStderr;
  return Status::InvalidArgument("stream: stdout or stderr, got \"" + std::string(s) + "\"");
}

std::string_view LogStreamName(LogStream s) {
  return s == LogStream::kStdout ? "stdout" : "stderr";
}

std::string LogStore::PathOf(std::int64_t id, int epoch, LogStream stream) const {
  return dir_ + "/" + std::to_string(id) + "/" + std::to_string(epoch) +
         (stream == LogStream::kStdout ? ".out" : ".err");
}

Result<LogAppend> LogStore::Append(std::int64_t id, int epoch, LogStream stream,
                                      std::int64_t offset, std::string_view data) {
  const std::string path = PathOf(id, epoch, stream);
  std::lock_guard lock(mu_);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec) return Status::Unavailable("cannot create the log folder of " + path + ": " + ec.message());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return Status::Unavailable("cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return Status::Unavailable("cannot stat " + path + ": " + std::strerror(errno));
  }
  const std::int64_t size = st.st_size;
  if (offset != size || data.empty()) {
    ::close(fd);
    return LogAppend{size, data.empty() && offset == size};
  }
  std::size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = ::write(fd, data.data() + written, data.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      // Cut a partial write back, so the next append resumes at a chunk boundary.
      (void)!::ftruncate(fd, size);
      ::close(fd);
      return Status::Unavailable("cannot write " + path + ": " + why);
    }
    written += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return LogAppend{size + static_cast<std::int64_t>(data.size()), true};
}

Result<LogChunk> LogStore::Read(std::int64_t id, int epoch, LogStream stream, std::int64_t offset,
                                std::int64_t max_bytes) const {
  const std::string path = PathOf(id, epoch, stream);
  LogChunk chunk;
  chunk.offset = offset;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return chunk;
    return Status::Unavailable("cannot open " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return Status::Unavailable("cannot stat " + path + ": " + std::strerror(errno));
  }
  chunk.size = st.st_size;
  if (offset < chunk.size && max_bytes > 0) {
    chunk.data.resize(static_cast<std::size_t>(std::min(max_bytes, chunk.size - offset)));
    std::size_t got = 0;
    while (got < chunk.data.size()) {
      const ssize_t n = ::pread(fd, chunk.data.data() + got, chunk.data.size() - got,
                                static_cast<off_t>(offset) + static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    chunk.data.resize(got);
  }
  ::close(fd);
  return chunk;
}

}  // namespace gpool::controller
