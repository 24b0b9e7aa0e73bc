// ChunkCodec: SHA-256 names, the plane transpose and its inverse, the chunk file round trip,
// every way a chunk file can fail to decode, and that planes help zstd on float-like data.
#include "ckpt/chunk_codec.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "ckpt_test_data.h"

namespace gpool::ckpt {
namespace {

using test::NormalF32;
using test::RandomBytes;

TEST(Sha256Hex, KnownVectors) {
  // FIPS 180-2 test vectors.
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Planes, TransposeByBytePosition) {
  // Two f32 elements "ABCD" "EFGH" -> byte 0 of each, byte 1 of each, ...; a 1-byte tail stays.
  EXPECT_EQ(SplitPlanes("ABCDEFGHx", 4), "AEBFCGDHx");
  EXPECT_EQ(JoinPlanes("AEBFCGDHx", 4), "ABCDEFGHx");
  EXPECT_EQ(SplitPlanes("ABCD", 2), "ACBD");
}

TEST(Planes, RoundTripEveryWidthAndTail) {
  for (std::size_t width : {1u, 2u, 4u, 8u}) {
    for (std::size_t size : {0u, 1u, 7u, 8u, 9u, 1000u, 4099u}) {
      const std::string bytes = RandomBytes(size, size * 31 + width);
      EXPECT_EQ(JoinPlanes(SplitPlanes(bytes, width), width), bytes)
          << "width " << width << " size " << size;
    }
  }
}

TEST(ChunkFile, RoundTripEveryWidth) {
  for (std::size_t width : {1u, 2u, 4u, 8u}) {
    const std::string bytes = NormalF32(1000, width);
    Result<std::string> file = EncodeChunk(bytes, width, 1);
    ASSERT_TRUE(file.ok()) << file.status().ToString();
    Result<std::string> back = DecodeChunk(*file, bytes.size());
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, bytes) << "width " << width;
  }
}

TEST(ChunkFile, BadFilesAreErrorsNamingTheReason) {
  const std::string bytes = NormalF32(4096, 7);
  Result<std::string> good = EncodeChunk(bytes, 4, 1);
  ASSERT_TRUE(good.ok());
  std::string flipped_magic = *good;
  flipped_magic[0] = 'X';
  std::string bad_width = *good;
  bad_width[5] = 3;
  struct Case {
    const char* what;
    std::string file;
    std::uint64_t expected_size;
    const char* message_has;
  } cases[] = {
      {"empty", "", bytes.size(), "truncated"},
      {"header only", good->substr(0, 6), bytes.size(), "corrupt zstd frame header"},
      {"half the frame", good->substr(0, good->size() / 2), bytes.size(), "zstd"},
      {"last byte cut", good->substr(0, good->size() - 1), bytes.size(), "zstd"},
      {"not a chunk", flipped_magic, bytes.size(), "not a gpool chunk"},
      {"bad plane width", bad_width, bytes.size(), "plane width"},
      {"size differs from manifest", *good, bytes.size() + 4, "the manifest says"},
  };
  for (const Case& c : cases) {
    Result<std::string> r = DecodeChunk(c.file, c.expected_size);
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.status().code(), StatusCode::kInternal) << c.what;
    EXPECT_NE(r.status().message().find(c.message_has), std::string::npos)
        << c.what << ": " << r.status().message();
  }
}

TEST(ChunkFile, PlanesCompressFloatLikeDataBetter) {
  // 1 Mi f32 values from N(0, 0.02) (seed 42): 4 MiB, one default-size chunk. The sign and
  // exponent byte varies little; mantissa bytes are noise. Planes put the former together.
  const std::string bytes = NormalF32(1 << 20, 42);
  for (int level : {1, 3}) {
    Result<std::string> plain = EncodeChunk(bytes, 1, level);
    Result<std::string> planed = EncodeChunk(bytes, 4, level);
    ASSERT_TRUE(plain.ok() && planed.ok());
    const double ratio_plain = double(plain->size()) / double(bytes.size());
    const double ratio_planed = double(planed->size()) / double(bytes.size());
    std::printf("level %d: compressed/original without planes %.4f, with planes %.4f\n", level,
                ratio_plain, ratio_planed);
    EXPECT_LT(planed->size(), plain->size()) << "level " << level;
  }
}

}  // namespace
}  // namespace gpool::ckpt
