// Test helpers for the page cache: evicting a file's pages (so the next read is a cold one, as
// after a reboot or on another node) and asking how many of them are held. No root needed:
// posix_fadvise(DONTNEED) drops the clean pages of one file.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace gpool::ckpt::test {

// Runs on_fd(fd) on `path` opened for reading, or on every file under it if it is a folder.
// False if a file could not be opened or on_fd returned false for one.
template <typename OnFd>
bool ForEachFileAt(const std::filesystem::path& path, const OnFd& on_fd) {
  if (std::filesystem::is_directory(path)) {
    bool all = true;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(path)) {
      if (entry.is_regular_file()) all = ForEachFileAt(entry.path(), on_fd) && all;
    }
    return all;
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool done = on_fd(fd);
  ::close(fd);
  return done;
}

// Writes back `path` (a file, or every file under a folder) and drops its pages from the page
// cache.
inline bool EvictFromPageCache(const std::filesystem::path& path) {
  return ForEachFileAt(path, [](int fd) {
    ::fsync(fd);  // dirty pages are not dropped
    return ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0;
  });
}

// Reads `path` (a file, or every file under a folder) so that the page cache holds it.
inline bool ReadIntoPageCache(const std::filesystem::path& path) {
  return ForEachFileAt(path, [](int fd) {
    char block[1 << 16];
    ssize_t n;
    while ((n = ::read(fd, block, sizeof block)) > 0) {
    }
    return n == 0;
  });
}

// How many of the file's pages the page cache holds (mincore), or -1 if that cannot be told.
inline long PagesInCache(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  const std::size_t size = std::filesystem::file_size(path);
  long held = size == 0 ? 0 : -1;
  if (size > 0) {
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (map != MAP_FAILED) {
      const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
      std::vector<unsigned char> resident((size + page - 1) / page);
      if (::mincore(map, size, resident.data()) == 0) {
        held = 0;
        for (unsigned char r : resident) held += r & 1;
      }
      ::munmap(map, size);
    }
  }
  ::close(fd);
  return held;
}

// Whether a file in `dir` can be evicted (tmpfs keeps its pages: they are the file).
inline bool EvictionWorksIn(const std::filesystem::path& dir) {
  const std::filesystem::path probe = dir / ".evict-probe";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  const std::string page(4096, 'x');
  const bool written = ::write(fd, page.data(), page.size()) == 4096;
  ::close(fd);
  const bool works = written && EvictFromPageCache(probe) && PagesInCache(probe) == 0;
  ::unlink(probe.c_str());
  return works;
}

// Whether a direct read of a cold file in `dir` leaves the page cache empty (btrfs serves small
// and compressed files through the cache even with O_DIRECT; ZFS before 2.3 ignores it).
inline bool DirectReadsBypassTheCacheIn(const std::filesystem::path& dir) {
  const std::filesystem::path probe = dir / ".bypass-probe";
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  const std::string bytes(8192, 'x');
  const bool written = ::write(fd, bytes.data(), bytes.size()) == 8192;
  ::close(fd);
  bool bypassed = false;
  if (written && EvictFromPageCache(probe) && PagesInCache(probe) == 0) {
    fd = ::open(probe.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    void* block = nullptr;
    if (fd >= 0 && ::posix_memalign(&block, 4096, 8192) == 0) {
      bypassed = ::pread(fd, block, 8192, 0) == 8192 && PagesInCache(probe) == 0;
    }
    std::free(block);
    if (fd >= 0) ::close(fd);
  }
  ::unlink(probe.c_str());
  return bypassed;
}

// Whether files in `dir` can be opened with O_DIRECT (tmpfs before Linux 6.6 and some FUSE
// filesystems refuse it).
inline bool DirectIoWorksIn(const std::filesystem::path& dir) {
  const std::filesystem::path probe = dir / ".direct-io-probe";
  const int fd = ::open(probe.c_str(), O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0644);
  if (fd >= 0) ::close(fd);
  ::unlink(probe.c_str());
  return fd >= 0;
}

}  // namespace gpool::ckpt::test
