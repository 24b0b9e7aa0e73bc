// files::ReadFileDirect: the exact bytes for every size around a block boundary, from the page
// cache when it holds the whole file, else with direct I/O that leaves the page cache as it was;
// a buffer reused from file to file; a missing file. WriteFileDurably with direct I/O.
#include "ckpt/store_files.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "../temp_dir.h"
#include "ckpt_test_data.h"
#include "page_cache.h"

namespace gpool::ckpt::files {
namespace {

using test::DirectIoWorksIn;
using test::EvictFromPageCache;
using test::EvictionWorksIn;
using test::PagesInCache;

TEST(ReadFileDirect, ReadsEverySizeFromThePageCacheOrTheDisk) {
  ::gpool::test::TempDir dir("gpool-files");
  const ReadVia cold_via = DirectIoWorksIn(dir.path()) ? ReadVia::kDirectIo : ReadVia::kBuffered;
  const bool can_evict = EvictionWorksIn(dir.path());
  const bool bypass = test::DirectReadsBypassTheCacheIn(dir.path());
  if (!can_evict) {
    std::printf("note: %s keeps files in memory; cold reads not tested\n", dir.path().c_str());
  }
  AlignedBuffer buffer;
  const std::size_t sizes[] = {1, 511, 4095, 4096, 4097, 8192, (3u << 20) + 123, 5, 0};
  for (std::size_t size : sizes) {
    const std::string name = "f" + std::to_string(size);
    const std::string bytes = test::RandomBytes(size, size);
    ASSERT_TRUE(WriteFileDurably(dir.path().string(), name, bytes).ok());
    const std::string path = dir.File(name);

    // Just written: the page cache holds it.
    Result<FileRead> warm = ReadFileDirect(path, &buffer);
    ASSERT_TRUE(warm.ok()) << warm.status().ToString();
    EXPECT_EQ(warm->bytes, bytes) << size;
    EXPECT_EQ(warm->via, ReadVia::kPageCache) << size;

    if (size == 0 || !can_evict) continue;  // nothing to evict, or no way to
    ASSERT_TRUE(EvictFromPageCache(path));
    ASSERT_EQ(PagesInCache(path), 0) << "posix_fadvise(DONTNEED) left pages of " << path;
    // Where direct reads bypass the cache, the second read is as cold as the first.
    for (int again = 0; again < (bypass ? 2 : 1); ++again) {
      Result<FileRead> cold = ReadFileDirect(path, &buffer);
      ASSERT_TRUE(cold.ok()) << cold.status().ToString();
      EXPECT_EQ(cold->bytes, bytes) << size;
      EXPECT_EQ(cold->via, cold_via) << size << " read " << again;
    }
    if (bypass) {
      EXPECT_EQ(PagesInCache(path), 0) << size;
    }
  }
  // The buffer grew to hold the largest file (+1 byte), in whole 2 MiB pages, and kept that.
  EXPECT_EQ(buffer.capacity(), 4u << 20);
}

// With a buffer, WriteFileDurably writes with direct I/O: the exact bytes and size for every
// size around a block boundary, and (where direct I/O bypasses the cache) nothing left in the
// page cache; the buffer is reused from file to file.
TEST(WriteFileDurably, WritesEverySizeWithDirectIo) {
  ::gpool::test::TempDir dir("gpool-files");
  const bool bypass = test::DirectReadsBypassTheCacheIn(dir.path());
  AlignedBuffer buffer;
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{4095}, std::size_t{4096},
                           std::size_t{4097}, std::size_t{(3u << 20) + 123}, std::size_t{7}}) {
    const std::string name = "f" + std::to_string(size);
    const std::string bytes = test::RandomBytes(size, size + 1);
    ASSERT_TRUE(WriteFileDurably(dir.path().string(), name, bytes, true, &buffer).ok()) << size;
    EXPECT_EQ(std::filesystem::file_size(dir.path() / name), size);
    if (bypass && size > 0) {
      EXPECT_EQ(PagesInCache(dir.path() / name), 0) << size << ": not written with direct I/O";
    }
    Result<std::string> back = ReadFile(dir.File(name));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, bytes) << size;
  }
  EXPECT_EQ(buffer.capacity(), 4u << 20);
  // A name that exists is replaced whole, and no temp file is left.
  ASSERT_TRUE(WriteFileDurably(dir.path().string(), "f4097", "short", true, &buffer).ok());
  EXPECT_EQ(*ReadFile(dir.File("f4097")), "short");
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_FALSE(IsTemp(entry.path().filename().string())) << entry.path();
  }
}

TEST(ReadFileDirect, AFilePartlyInThePageCacheIsReadFromTheDisk) {
  ::gpool::test::TempDir dir("gpool-files");
  if (!test::DirectReadsBypassTheCacheIn(dir.path())) {
    GTEST_SKIP() << "no eviction or no direct reads that bypass the cache on " << dir.path();
  }
  const std::string bytes = test::RandomBytes(1 << 20, 7);
  ASSERT_TRUE(WriteFileDurably(dir.path().string(), "f", bytes).ok());
  ASSERT_TRUE(EvictFromPageCache(dir.path() / "f"));
  {  // one page back into the cache (no readahead around it)
    const int fd = ::open(dir.File("f").c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
    char page[4096];
    ASSERT_EQ(::pread(fd, page, sizeof page, 8192), 4096);
    ::close(fd);
  }
  const long held = PagesInCache(dir.path() / "f");
  ASSERT_GT(held, 0);
  ASSERT_LT(held, (1 << 20) / 4096);
  AlignedBuffer buffer;
  Result<FileRead> read = ReadFileDirect(dir.File("f"), &buffer);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->via, ReadVia::kDirectIo);
  EXPECT_EQ(read->bytes, bytes);
}

TEST(ReadFileDirect, AMissingFileIsNotFound) {
  ::gpool::test::TempDir dir("gpool-files");
  AlignedBuffer buffer;
  Result<FileRead> read = ReadFileDirect(dir.File("absent"), &buffer);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kNotFound);
  EXPECT_NE(read.status().message().find("absent"), std::string::npos);
}

TEST(AlignedBuffer, GrowsAlignedAndKeepsWhatItIsAskedTo) {
  constexpr std::size_t kHugePage = 2 << 20;
  AlignedBuffer buffer;
  EXPECT_EQ(buffer.capacity(), 0u);
  buffer.Reserve(10);
  EXPECT_EQ(buffer.capacity(), kHugePage);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(buffer.data()) % kHugePage, 0u);
  std::memcpy(buffer.data(), "0123456789", 10);
  buffer.data()[kHugePage - 1] = 'z';  // the whole capacity is writable
  buffer.Reserve(kHugePage + 1, 10);
  EXPECT_EQ(buffer.capacity(), 2 * kHugePage);
  EXPECT_EQ(std::string(buffer.data(), 10), "0123456789");
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(buffer.data()) % kHugePage, 0u);
  buffer.data()[2 * kHugePage - 1] = 'z';
  char* before = buffer.data();
  buffer.Reserve(100);  // smaller: kept as it is
  EXPECT_EQ(buffer.data(), before);
  EXPECT_EQ(buffer.capacity(), 2 * kHugePage);
  AlignedBuffer moved(std::move(buffer));
  EXPECT_EQ(moved.data(), before);
  EXPECT_EQ(moved.capacity(), 2 * kHugePage);
  buffer = std::move(moved);
  EXPECT_EQ(buffer.data(), before);
}

}  // namespace
}  // namespace gpool::ckpt::files
