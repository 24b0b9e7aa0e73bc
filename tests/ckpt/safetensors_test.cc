// Safetensors export and import: a lossless round trip of every dtype, blobs and metadata; a
// file built by hand here, as another writer would, imports; every kind of malformed file is an
// error naming what is wrong (and no prefix or byte flip of a valid file crashes); the atomic
// file writer and the file reader.
#include "ckpt/safetensors.h"

#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "../temp_dir.h"
#include "ckpt_test_data.h"

namespace gpool::ckpt {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::MakeTensor;
using test::RandomBytes;

// A safetensors file as any writer lays it out: 8-byte little-endian header length, header, data.
std::string File(const std::string& header, const std::string& data = "") {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

// The header of an encoded file, parsed independently of the code under test.
json HeaderOf(const std::string& file) {
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(file[i]);
  return json::parse(file.substr(8, n));
}

// One tensor of every dtype, a scalar, an empty tensor, two blobs, and metadata with a foreign
// key and a key in the gpool. namespace.
Checkpoint EveryDType() {
  Checkpoint c;
  c.tensors = test::OneTensorOfEachDType();
  c.tensors.insert(c.tensors.end(), {
      MakeTensor("also-empty", DType::kI8, {0}, 13),
      Tensor{"optimizer-state", DType::kBlob, {}, RandomBytes(1001, 14)},
      Tensor{"shaped-blob", DType::kBlob, {3, 2}, RandomBytes(5, 15)},
  });
  c.metadata = {1234,
                -5,
                "loader:shard=2;offset=99",
                {{"lr", "3e-4"}, {"format", "pt"}, {"gpool.note", "kept"}, {"émoji", "✓"}}};
  return c;
}

TEST(Safetensors, RoundTripEveryDTypeBlobAndMetadata) {
  const Checkpoint c = EveryDType();
  Result<std::string> file = EncodeSafetensors(c);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  Result<Checkpoint> back = DecodeSafetensors(*file);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, c);

  // The mapping documented in safetensors.h, read back with plain nlohmann.
  const json h = HeaderOf(*file);
  const json& meta = h["__metadata__"];
  EXPECT_EQ(meta["gpool.step"], "1234");
  EXPECT_EQ(meta["gpool.epoch"], "-5");
  EXPECT_EQ(meta["gpool.loader_position"], "loader:shard=2;offset=99");
  EXPECT_EQ(meta["lr"], "3e-4");
  EXPECT_EQ(meta["format"], "pt");                    // verbatim: other readers look for it
  EXPECT_EQ(meta["gpool.extra.gpool.note"], "kept");  // escaped: gpool.* is ours
  EXPECT_EQ(meta["gpool.blob.optimizer-state"], "[]");
  EXPECT_EQ(meta["gpool.blob.shaped-blob"], "[3,2]");
  EXPECT_EQ(h["optimizer-state"]["dtype"], "U8");
  EXPECT_EQ(h["optimizer-state"]["shape"], json::array({1001}));
  EXPECT_EQ(h["bf16"]["dtype"], "BF16");
  EXPECT_EQ(h["bool"]["dtype"], "BOOL");
  // f32 7*13*4 = 364 bytes first, then f16 33*2 = 66: [364, 430].
  EXPECT_EQ(h["f32"]["data_offsets"], json::array({0, 364}));
  EXPECT_EQ(h["f16"]["data_offsets"], json::array({364, 430}));
}

TEST(Safetensors, HeaderIsPaddedWithSpacesToAMultipleOf8) {
  for (std::size_t name_length = 1; name_length <= 9; ++name_length) {
    Checkpoint c;
    c.tensors = {MakeTensor(std::string(name_length, 'w'), DType::kF32, {2}, 1)};
    Result<std::string> header = EncodeSafetensorsHeader(c);
    ASSERT_TRUE(header.ok()) << header.status().ToString();
    EXPECT_EQ(header->size() % 8, 0u);
    EXPECT_EQ(HeaderOf(*header + c.tensors[0].bytes)["__metadata__"]["gpool.step"], "0");
  }
}

TEST(Safetensors, ImportsAFileFromAnotherWriter) {
  // As another writer might lay it out: keys not in data order, no padding, a foreign
  // __metadata__ key, no gpool keys. Data: "b" (I64 [2] = 16 bytes) at [0, 16], then "a"
  // (F16 [1, 2] = 4 bytes) at [16, 20], then "z" (BOOL [0]) at [20, 20].
  const std::string header = R"({"a":{"dtype":"F16","shape":[1,2],"data_offsets":[16,20]},)"
                             R"("__metadata__":{"format":"pt"},)"
                             R"("z":{"dtype":"BOOL","shape":[0],"data_offsets":[20,20]},)"
                             R"("b":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})";
  const std::string b_bytes("\x01\0\0\0\0\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff", 16);
  const std::string a_bytes("\x00\x3c\x00\xc0", 4);  // f16 1.0, -2.0
  Result<Checkpoint> c = DecodeSafetensors(File(header, b_bytes + a_bytes));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const Checkpoint want{
      {Tensor{"b", DType::kI64, {2}, b_bytes}, Tensor{"a", DType::kF16, {1, 2}, a_bytes},
       Tensor{"z", DType::kBool, {0}, ""}},
      {0, 0, "", {{"format", "pt"}}}};
  EXPECT_EQ(*c, want);

  // No __metadata__ at all, and an empty file's worth of tensors: both fine.
  Result<Checkpoint> bare = DecodeSafetensors(File("{}"));
  ASSERT_TRUE(bare.ok()) << bare.status().ToString();
  EXPECT_EQ(*bare, Checkpoint{});
  // gpool.extra.<k> written by another tool also lands in extra[<k>].
  Result<Checkpoint> extra =
      DecodeSafetensors(File(R"({"__metadata__":{"gpool.extra.lr":"0.1","gpool.step":"7"}})"));
  ASSERT_TRUE(extra.ok()) << extra.status().ToString();
  EXPECT_EQ(extra->metadata, (CheckpointMetadata{7, 0, "", {{"lr", "0.1"}}}));
}

struct BadFile {
  const char* what;
  std::string file;
  const char* phrase;  // the error message contains it
};

std::string Entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
         ",\"data_offsets\":" + offsets + "}";
}

TEST(Safetensors, EveryMalformedFileIsAnErrorNamingWhatIsWrong) {
  const std::string eight(8, 'x');
  std::string huge_length(8, '\0');
  huge_length[4] = 1;  // 2^32 bytes of header: beyond the 100 MB limit
  const std::vector<BadFile> cases = {
      {"shorter than 8 bytes", "abc", "fewer than the 8"},
      {"empty", "", "fewer than the 8"},
      {"header length beyond the file", File("{}").substr(0, 9), "runs past the end of the file"},
      {"header length beyond the limit", huge_length + "{}", "exceeds the limit"},
      {"header not JSON", File("{\"a\":"), "not valid JSON"},
      {"header not an object", File("[1, 2]"), "not a JSON object"},
      {"unknown dtype", File("{" + Entry("w", "F8_E4M3", "[2]", "[0,2]") + "}", "xx"),
       "F8_E4M3 not supported"},
      {"entry not an object", File(R"({"w": [1, 2]})"), "tensor 'w': not an object"},
      {"dtype missing", File(R"({"w":{"shape":[1],"data_offsets":[0,1]}})", "x"),
       "tensor 'w': dtype missing"},
      {"negative dimension", File("{" + Entry("w", "U8", "[-1]", "[0,0]") + "}"),
       "shape missing or not an array of non-negative integers"},
      {"offsets not a pair", File("{" + Entry("w", "U8", "[1]", "[0]") + "}", "x"),
       "data_offsets missing or not [begin, end]"},
      {"offsets backwards", File("{" + Entry("w", "U8", "[1]", "[1,0]") + "}", "x"),
       "data_offsets [1, 0] end before they begin"},
      // F32 [2]: 2 * 4 = 8 bytes, the offsets hold 4.
      {"shape x dtype size differs from offsets",
       File("{" + Entry("w", "F32", "[2]", "[0,4]") + "}", "xxxx"),
       "shape [2] of F32 needs 8 bytes but data_offsets [0, 4] hold 4"},
      {"shape overflows", File("{" + Entry("w", "F64", "[4294967296,4294967296]", "[0,0]") + "}"),
       "is too large"},
      {"overlapping offsets",
       File("{" + Entry("a", "U8", "[4]", "[0,4]") + "," + Entry("b", "U8", "[4]", "[2,6]") + "}",
            "xxxxxx"),
       "tensors 'a' and 'b' overlap"},
      {"gap between tensors",
       File("{" + Entry("a", "U8", "[2]", "[0,2]") + "," + Entry("b", "U8", "[2]", "[4,6]") + "}",
            "xxxxxx"),
       "gap of 2 bytes in the data before tensor 'b'"},
      {"bytes after the last tensor", File("{" + Entry("a", "U8", "[2]", "[0,2]") + "}", "xxxx"),
       "2 bytes of data after the last tensor"},
      {"duplicate tensor name",
       File("{" + Entry("w", "U8", "[2]", "[0,2]") + "," + Entry("w", "U8", "[2]", "[2,4]") + "}",
            "xxxx"),
       "'w' appears twice in the header"},
      {"truncated data", File("{" + Entry("w", "F32", "[4]", "[0,16]") + "}", "xxxxxxxxxx"),
       "data truncated: tensor 'w' has data_offsets [0, 16] but the file holds only 10 bytes"},
      {"metadata not an object", File(R"({"__metadata__": [1]})"), "__metadata__ is not an object"},
      {"metadata value not a string", File(R"({"__metadata__": {"k": 1}})"),
       "__metadata__ value of 'k' is not a string"},
      {"step not an integer", File(R"({"__metadata__": {"gpool.step": "12x"}})"),
       "__metadata__ gpool.step '12x' is not an integer"},
      {"blob mark naming no tensor", File(R"({"__metadata__": {"gpool.blob.q": "[]"}})"),
       "__metadata__ gpool.blob.q names no tensor"},
      {"blob mark on a float tensor",
       File(R"({"__metadata__":{"gpool.blob.w":"[]"},)" + Entry("w", "F32", "[1]", "[0,4]") + "}",
            "xxxx"),
       "marks tensor 'w' as a blob, but it is F32 [1]"},
      {"blob mark with a bad shape",
       File(R"({"__metadata__":{"gpool.blob.w":"yes"},)" + Entry("w", "U8", "[1]", "[0,1]") + "}",
            "x"),
       "'yes' is not a shape"},
      {"two keys for one extra key", File(R"({"__metadata__":{"lr":"1","gpool.extra.lr":"2"}})"),
       "'gpool.extra.lr' and 'lr' both give the extra key 'lr'"},
  };
  for (const BadFile& c : cases) {
    Result<Checkpoint> r = DecodeSafetensors(c.file);
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.what;
    EXPECT_NE(r.status().message().find(c.phrase), std::string::npos)
        << c.what << ": " << r.status().message();
  }
}

TEST(Safetensors, NoPrefixOrByteFlipOfAValidFileCrashes) {
  const std::string file = *EncodeSafetensors(EveryDType());
  // Every proper prefix is a truncated file: an error, never a crash or a partial checkpoint.
  for (std::size_t n = 0; n < file.size(); ++n) {
    EXPECT_FALSE(DecodeSafetensors(file.substr(0, n)).ok()) << "prefix of " << n << " bytes";
  }
  // Random byte flips anywhere (header or data): ok or an error, never a crash.
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string damaged = file;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < flips; ++k) {
      damaged[rng() % (damaged.size() < 600 ? damaged.size() : 600)] ^=
          static_cast<char>(1 + rng() % 255);
    }
    Result<Checkpoint> r = DecodeSafetensors(damaged);
    if (!r.ok()) {
      EXPECT_FALSE(r.status().message().empty());
    }
  }
}

TEST(Safetensors, ExportRefusesWhatAHeaderCannotHold) {
  Checkpoint c;
  c.tensors = {MakeTensor("__metadata__", DType::kU8, {1}, 1)};
  Result<std::string> r = EncodeSafetensors(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("__metadata__"), std::string::npos);

  c.tensors = {MakeTensor("w", DType::kU8, {1}, 1)};
  c.metadata.loader_position = std::string("\xff\xfe", 2);  // opaque bytes, not UTF-8
  r = EncodeSafetensors(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not valid UTF-8"), std::string::npos);

  c.metadata.loader_position = "";
  c.tensors = {Tensor{"w", DType::kF32, {3}, "abc"}};  // 3 f32 need 12 bytes
  r = EncodeSafetensors(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("need 12 bytes"), std::string::npos);
}

TEST(Safetensors, ExportStreamsIntoTheSinkAndStopsAtItsError) {
  const Checkpoint c = EveryDType();
  std::vector<std::size_t> pieces;
  std::vector<ExportProgress> progress;
  std::string joined;
  Status s = ExportSafetensors(
      c,
      [&](std::string_view bytes) {
        pieces.push_back(bytes.size());
        joined.append(bytes);
        return Status::Ok();
      },
      [&](const ExportProgress& p) { progress.push_back(p); });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(joined, *EncodeSafetensors(c));
  // One write for the header, one per non-empty tensor (each < 64 MiB): 15 tensors, 2 empty.
  EXPECT_EQ(pieces.size(), 1u + 13u);
  ASSERT_EQ(progress.size(), 1u + 15u);  // after the header, after each tensor
  EXPECT_EQ(progress.front().tensors_done, 0u);
  EXPECT_EQ(progress.back().tensors_done, 15u);
  EXPECT_EQ(progress.back().bytes_done, progress.back().bytes_total);

  int calls = 0;
  s = ExportSafetensors(c, [&](std::string_view) {
    return ++calls == 3 ? Status::Unavailable("disk full") : Status::Ok();
  });
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(calls, 3);
}

TEST(Safetensors, RandomizedRoundTrip) {
  constexpr std::array<DType, 11> kAll = {DType::kF32, DType::kF16,  DType::kBF16, DType::kF64,
                                          DType::kI8,  DType::kI16,  DType::kI32,  DType::kI64,
                                          DType::kU8,  DType::kBool, DType::kBlob};
  std::mt19937_64 rng(20240517);
  for (int round = 0; round < 200; ++round) {
    Checkpoint c;
    const int tensors = static_cast<int>(rng() % 9);
    for (int i = 0; i < tensors; ++i) {
      const DType dtype = kAll[rng() % kAll.size()];
      std::vector<std::int64_t> shape(rng() % 4);
      for (std::int64_t& d : shape) d = static_cast<std::int64_t>(rng() % 6);
      const std::string name = "t" + std::to_string(i) + "." + std::to_string(rng() % 100);
      if (dtype == DType::kBlob) {
        c.tensors.push_back(Tensor{name, dtype, shape, RandomBytes(rng() % 50, rng())});
      } else {
        c.tensors.push_back(MakeTensor(name, dtype, shape, rng()));
      }
    }
    c.metadata.step = static_cast<std::int64_t>(rng());
    c.metadata.epoch = static_cast<std::int64_t>(rng() % 1000) - 500;
    if (rng() % 2) c.metadata.loader_position = "pos-" + std::to_string(rng());
    for (int k = static_cast<int>(rng() % 4); k > 0; --k) {
      const std::string prefix = rng() % 3 == 0 ? "gpool." : "";
      c.metadata.extra[prefix + "k" + std::to_string(rng() % 10)] = std::to_string(rng());
    }
    Result<std::string> file = EncodeSafetensors(c);
    ASSERT_TRUE(file.ok()) << "round " << round << ": " << file.status().ToString();
    Result<Checkpoint> back = DecodeSafetensors(*file);
    ASSERT_TRUE(back.ok()) << "round " << round << ": " << back.status().ToString();
    EXPECT_EQ(*back, c) << "round " << round;
  }
}

std::string ReadBytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Safetensors, FileWriteIsAtomicAndReadsBack) {
  ::gpool::test::TempDir dir("gpool-safetensors");
  const std::string path = dir.File("model.safetensors");
  std::ofstream(path) << "old content";
  const Checkpoint c = EveryDType();
  Result<std::uint64_t> size = WriteSafetensorsFile(c, path);
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_EQ(ReadBytes(path), *EncodeSafetensors(c));  // replaced whole
  EXPECT_EQ(*size, fs::file_size(path));
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir.path())) files.push_back(e.path().filename());
  EXPECT_EQ(files, std::vector<std::string>{"model.safetensors"});  // no temp file left
  Result<Checkpoint> back = ReadSafetensorsFile(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, c);

  // A folder that does not exist: Unavailable naming the path, nothing created.
  Result<std::uint64_t> bad = WriteSafetensorsFile(c, dir.File("nope/x.safetensors"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(bad.status().message().find("nope"), std::string::npos);
  // An invalid checkpoint: the error, and no temp file left behind.
  Checkpoint invalid{{Tensor{"w", DType::kF32, {3}, "abc"}}, {}};
  EXPECT_FALSE(WriteSafetensorsFile(invalid, dir.File("bad.safetensors")).ok());
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(Safetensors, FileReadErrorsNameTheFile) {
  ::gpool::test::TempDir dir("gpool-safetensors");
  Result<Checkpoint> r = ReadSafetensorsFile(dir.File("missing.safetensors"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  r = ReadSafetensorsFile(dir.path().string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a regular file"), std::string::npos);
  // Truncated on disk: the header is checked against the file's size before any data is read.
  const std::string path = dir.File("cut.safetensors");
  const std::string file = *EncodeSafetensors(EveryDType());
  std::ofstream(path, std::ios::binary) << file.substr(0, file.size() - 100);
  r = ReadSafetensorsFile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message().rfind(path + ": data truncated", 0), 0u) << r.status().message();
}

}  // namespace
}  // namespace gpool::ckpt
