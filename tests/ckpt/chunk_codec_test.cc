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

using test::LegacyChunkFile;
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
  std::string flipped_data = *good;  // a bit in the middle of the compressed planes
  flipped_data[flipped_data.size() / 2] =
      static_cast<char>(flipped_data[flipped_data.size() / 2] ^ 0x04);
  std::string flipped_checksum = *good;  // the frame's last 4 bytes are the checksum
  flipped_checksum.back() = static_cast<char>(flipped_checksum.back() ^ 0x01);
  struct Case {
    const char* what;
    std::string file;
    std::uint64_t expected_size;
    const char* message_has;
  } cases[] = {
      {"empty", "", bytes.size(), "truncated"},
      {"header only", good->substr(0, 6), bytes.size(), "corrupt zstd frame header"},
      {"half the frame", good->substr(0, good->size() / 2), bytes.size(), "zstd"},
      {"last byte cut (of the checksum)", good->substr(0, good->size() - 1), bytes.size(),
       "damaged"},
      {"not a chunk", flipped_magic, bytes.size(), "not a gpool chunk"},
      {"bad plane width", bad_width, bytes.size(), "plane width"},
      {"size differs from manifest", *good, bytes.size() + 4, "the manifest says"},
      {"a second frame after the first", *good + good->substr(6), bytes.size(),
       "bytes after the zstd frame"},
      {"bit flipped in the data", flipped_data, bytes.size(), "the chunk file is damaged"},
      {"checksum flipped", flipped_checksum, bytes.size(), "content checksum mismatch"},
  };
  for (const Case& c : cases) {
    Result<std::string> r = DecodeChunk(c.file, c.expected_size);
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.status().code(), StatusCode::kInternal) << c.what;
    EXPECT_NE(r.status().message().find(c.message_has), std::string::npos)
        << c.what << ": " << r.status().message();
  }
}

TEST(ChunkFile, CarriesAChecksumFilesWithoutOneStillDecode) {
  const std::string bytes = NormalF32(1000, 3);
  Result<std::string> file = EncodeChunk(bytes, 4, 1);
  ASSERT_TRUE(file.ok());
  EXPECT_TRUE(CarriesChecksum(*file));
  const std::string legacy = LegacyChunkFile(bytes, 4);
  EXPECT_FALSE(CarriesChecksum(legacy));
  Result<std::string> back = DecodeChunk(legacy, bytes.size());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, bytes);
  EXPECT_FALSE(CarriesChecksum(""));
  EXPECT_FALSE(CarriesChecksum("GPCK\x01\x04 not a zstd frame"));
}

// One codec through chunks of every width and of sizes up and down: each result is what a fresh
// codec gives (nothing of an earlier, larger chunk leaks into a later one).
TEST(ChunkCodec, ReusedCodecGivesWhatAFreshOneGives) {
  ChunkCodec codec;
  const std::size_t sizes[] = {4096, 9, 40000, 0, 1, 4099, 64, 40000};
  std::size_t k = 0;
  for (std::size_t size : sizes) {
    for (std::size_t width : {4u, 1u, 8u, 2u}) {
      const std::string bytes = NormalF32((size + 3) / 4, ++k).substr(0, size);
      Result<std::string_view> file = codec.Encode(bytes, width, 1 + static_cast<int>(k % 3));
      ASSERT_TRUE(file.ok());
      EXPECT_EQ(*file, *EncodeChunk(bytes, width, 1 + static_cast<int>(k % 3)))
          << "size " << size << " width " << width;
      const std::string copy(*file);
      std::string out(size, '\x55');
      ASSERT_TRUE(codec.DecodeInto(copy, out).ok()) << "size " << size << " width " << width;
      EXPECT_EQ(out, bytes) << "size " << size << " width " << width;
    }
  }
  // Decoding into a span of the wrong length is the size error, not an overrun.
  const std::string file(*EncodeChunk("abcdefgh", 4, 1));
  std::string small(4, '\0');
  const Status s = codec.DecodeInto(file, small);
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_NE(s.message().find("the manifest says 4"), std::string::npos) << s.message();
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
    // The sign/exponent plane is entropy-coded: about 2.9 of its 8 bits (0.37), the three
    // mantissa planes stay as they are: (3 + 0.37) / 4 = 0.84 of the bytes. Without the
    // entropy coding (zstd turns it off at level 1's acceleration unless told) it would be 0.98.
    EXPECT_LT(ratio_planed, 0.85) << "level " << level;
  }
}

}  // namespace
}  // namespace gpool::ckpt
