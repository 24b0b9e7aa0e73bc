// CheckpointStore: round trip of every dtype bit for bit, content addressing and incremental
// saves, each kind of damage on disk reported as an error naming what is damaged, and gc.
#include "ckpt/checkpoint_store.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../temp_dir.h"
#include "ckpt/chunk_codec.h"
#include "ckpt_test_data.h"
#include "core/sha256.h"
#include "page_cache.h"

namespace gpool::ckpt {
namespace {

namespace fs = std::filesystem;
using test::MakeTensor;
using test::RandomBytes;

std::string ReadText(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteText(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

// One tensor of every dtype, with multi-chunk, empty, scalar and odd-sized blob cases.
Checkpoint EveryDType() {
  Checkpoint c;
  c.tensors = test::OneTensorOfEachDType();
  c.tensors.push_back(Tensor{"optimizer-state", DType::kBlob, {}, RandomBytes(1001, 13)});
  c.metadata = {1234, 5, "loader:shard=2;offset=99", {{"lr", "3e-4"}, {"git", "abc123"}}};
  return c;
}

CheckpointStore OpenStore(const ::gpool::test::TempDir& dir, CheckpointStoreOptions options) {
  Result<CheckpointStore> store = CheckpointStore::Open(dir.File("store"), options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return std::move(*store);
}

TEST(CheckpointStore, RoundTripEveryDTypeBitForBit) {
  for (bool planes : {true, false}) {
    ::gpool::test::TempDir dir("gpool-ckpt");
    CheckpointStore store = OpenStore(dir, {.chunk_size = 64, .zstd_level = 1, .planes = planes});
    const Checkpoint c = EveryDType();
    Result<SaveReport> saved = store.Save("step-1234", c);
    ASSERT_TRUE(saved.ok()) << saved.status().ToString();
    // 364+66+64+72+5+10+20+40+100+17+4+0+1001 = 1763 bytes.
    EXPECT_EQ(saved->bytes_total, 1763u);
    for (std::string_view name : {"step-1234", "latest"}) {
      Result<Checkpoint> back = store.Load(name);
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      EXPECT_EQ(*back, c) << name << " planes " << planes;
    }
    // Cold: every chunk file read from the disk (direct I/O where the filesystem has it).
    if (test::EvictionWorksIn(dir.path())) {
      ASSERT_TRUE(test::EvictFromPageCache(dir.path() / "store"));
      Result<Checkpoint> cold = store.Load("latest");
      ASSERT_TRUE(cold.ok()) << cold.status().ToString();
      EXPECT_EQ(*cold, c) << "cold, planes " << planes;
    }
    EXPECT_TRUE(store.Verify("latest").ok());
    Result<std::string> latest = store.Latest();
    ASSERT_TRUE(latest.ok());
    EXPECT_EQ(*latest, "step-1234");
    EXPECT_TRUE(fs::exists(dir.path() / "store/manifests/step-1234.json"));
  }
}

TEST(CheckpointStore, ChunksNeverSpanTensorsAndAreStoredOnce) {
  ::gpool::test::TempDir dir("gpool-ckpt");
  CheckpointStore store = OpenStore(dir, {.chunk_size = 64});
  Checkpoint c;
  const Tensor a = MakeTensor("a", DType::kU8, {100}, 1);
  c.tensors = {a, Tensor{"a-copy", DType::kU8, {100}, a.bytes},
               MakeTensor("b", DType::kU8, {10}, 2)};
  Result<SaveReport> saved = store.Save("one", c);
  ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  // a: 64 + 36; a-copy: the same two chunks; b: 10 (its own chunk, not appended to a's tail).
  EXPECT_EQ(saved->chunks_total, 5u);
  EXPECT_EQ(saved->chunks_written, 3u);
  EXPECT_EQ(saved->original_bytes_written, 110u);
  Result<CheckpointManifest> m = store.ReadManifest("one");
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->tensors.size(), 3u);
  EXPECT_EQ(m->tensors[0].chunks, m->tensors[1].chunks);
  ASSERT_EQ(m->tensors[2].chunks.size(), 1u);
  EXPECT_EQ(m->tensors[2].chunks[0].size, 10u);
  EXPECT_EQ(m->tensors[0].chunks[0].hash, Sha256Hex(a.bytes.substr(0, 64)));
  const std::string h = m->tensors[0].chunks[0].hash;
  EXPECT_TRUE(fs::exists(dir.path() / "store/chunks" / h.substr(0, 2) / h));
  // Saving the same tensors again writes no chunk.
  Result<SaveReport> again = store.Save("two", c);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->chunks_written, 0u);
  EXPECT_EQ(again->bytes_written, 0u);
}

TEST(CheckpointStore, IncrementalSaveWritesOnlyChangedTensors) {
  // 100 tensors of 64 KiB (f32 normal and u8 random alternately), 16 KiB chunks: 6.25 MiB.
  // The second save changes 2 of them (2 %). Accounting: "changed bytes" = the original bytes
  // of the changed tensors (2 x 64 KiB = 131072); bytes_written = compressed chunk-file bytes
  // the save created (the manifest, ~40 KiB of JSON here, is reported apart as manifest_bytes).
  ::gpool::test::TempDir dir("gpool-ckpt");
  CheckpointStore store = OpenStore(dir, {.chunk_size = 16 << 10});
  Checkpoint c;
  for (int i = 0; i < 100; ++i) {
    const DType dtype = i % 2 == 0 ? DType::kF32 : DType::kU8;
    const std::int64_t elements = dtype == DType::kF32 ? 16384 : 65536;
    c.tensors.push_back(MakeTensor("layer" + std::to_string(i), dtype, {elements}, 100 + i));
  }
  Result<SaveReport> first = store.Save("step-1", c);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->bytes_total, 100u * 65536);
  EXPECT_EQ(first->chunks_written, 400u);
  EXPECT_EQ(first->chunks_hashed, 400u);

  c.tensors[10] = MakeTensor("layer10", DType::kF32, {16384}, 9000);
  c.tensors[55] = MakeTensor("layer55", DType::kU8, {65536}, 9001);
  c.metadata.step = 2;
  Result<SaveReport> second = store.Save("step-2", c);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  const std::uint64_t changed = 2 * 65536;
  std::printf(
      "incremental: bytes_total %llu, changed %llu, original_bytes_written %llu, "
      "bytes_written %llu (%.3f x changed), manifest %llu\n",
      (unsigned long long)second->bytes_total, (unsigned long long)changed,
      (unsigned long long)second->original_bytes_written, (unsigned long long)second->bytes_written,
      double(second->bytes_written) / double(changed), (unsigned long long)second->manifest_bytes);
  EXPECT_EQ(second->chunks_written, 8u);
  EXPECT_EQ(second->chunks_hashed, 8u);  // the rest by the memo of the first save
  EXPECT_EQ(second->original_bytes_written, changed);
  EXPECT_LE(double(second->bytes_written), 1.1 * double(changed));
  Result<Checkpoint> back = store.Load("latest");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, c);
  Result<Checkpoint> old = store.Load("step-1");
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->metadata.step, 0);
}

// Save's memo (XXH3-128 of a chunk -> its SHA-256, from the last save of the same object) gives
// the names a full hashing gives: a bit changed anywhere in a chunk, chunks at other places in
// the manifest, chunks that come back after a save without them, a new store object (no memo).
TEST(CheckpointStore, RememberedHashesNameChunksAsHashingDoes) {
  ::gpool::test::TempDir dir("gpool-ckpt");
  CheckpointStore store = OpenStore(dir, {.chunk_size = 64});
  Checkpoint c;
  c.tensors.push_back(MakeTensor("a", DType::kF32, {64}, 1));  // 4 chunks
  c.tensors.push_back(MakeTensor("b", DType::kU8, {200}, 2));  // 64 + 64 + 64 + 8
  const auto names = [&](std::string_view checkpoint) {
    std::vector<std::string> hashes;
    Result<CheckpointManifest> m = store.ReadManifest(checkpoint);
    EXPECT_TRUE(m.ok());
    for (const TensorEntry& t : m->tensors) {
      for (const ChunkRef& r : t.chunks) hashes.push_back(r.hash);
    }
    return hashes;
  };
  const auto sha256_of_chunks = [&](const Checkpoint& state) {
    std::vector<std::string> hashes;
    for (const Tensor& t : state.tensors) {
      for (std::size_t off = 0; off < t.bytes.size(); off += 64) {
        hashes.push_back(core::Sha256Hex(std::string_view(t.bytes).substr(off, 64)));
      }
    }
    return hashes;
  };
  Result<SaveReport> r = store.Save("s1", c);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->chunks_hashed, 8u);
  EXPECT_EQ(names("s1"), sha256_of_chunks(c));

  const Checkpoint original = c;
  c.tensors[0].bytes[130] ^= 0x01;        // chunk 2 of "a", one bit
  c.tensors[1].bytes.back() ^= 0x80;      // the 8-byte tail of "b"
  std::swap(c.tensors[0], c.tensors[1]);  // chunks at other places in the manifest
  r = store.Save("s2", c);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->chunks_hashed, 2u);
  EXPECT_EQ(names("s2"), sha256_of_chunks(c));
  Result<Checkpoint> back = store.Load("s2");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, c);

  r = store.Save("s3", original);  // only s2's chunks are remembered: the two old ones rehash
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->chunks_hashed, 2u);
  EXPECT_EQ(names("s3"), sha256_of_chunks(original));

  CheckpointStore fresh = OpenStore(dir, {.chunk_size = 64});
  r = fresh.Save("s4", original);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->chunks_hashed, 8u);
  EXPECT_EQ(r->chunks_written, 0u);
}

TEST(CheckpointStore, PlanesShrinkAFloatCheckpoint) {
  // 4 tensors of 256 Ki f32 from N(0, 0.02), default 4 MiB chunks, level 1.
  Checkpoint c;
  for (int i = 0; i < 4; ++i) {
    c.tensors.push_back(MakeTensor("w" + std::to_string(i), DType::kF32, {512, 512}, 7 + i));
  }
  std::uint64_t written[2] = {0, 0};
  for (bool planes : {false, true}) {
    ::gpool::test::TempDir dir("gpool-ckpt");
    CheckpointStore store = OpenStore(dir, {.planes = planes});
    Result<SaveReport> r = store.Save("s", c);
    ASSERT_TRUE(r.ok());
    written[planes] = r->bytes_written;
    std::printf("planes %d: %llu of %llu bytes (%.4f)\n", planes,
                (unsigned long long)r->bytes_written, (unsigned long long)r->bytes_total,
                double(r->bytes_written) / double(r->bytes_total));
    Result<Checkpoint> back = store.Load("s");
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, c);
  }
  EXPECT_LT(written[true], written[false]);
}

// Damage on disk: each case breaks the saved checkpoint one way; Verify, Load with either
// LoadCheck fail with the code and a message naming what is broken — except where a case says
// the default Load (content checksums) cannot see it: a whole chunk file holding other bytes.
TEST(CheckpointStore, DamageIsAnErrorNamingWhatIsDamaged) {
  struct Case {
    const char* what;
    // Breaks the store at `root`, given the hash of tensor "f16" chunk 1 and the manifest path.
    void (*damage)(const fs::path& chunk, const fs::path& manifest);
    StatusCode code;
    std::vector<std::string> message_has;
    bool found_by_checksum = true;  // by Load with LoadCheck::kChecksum (the default)
  } cases[] = {
      {"chunk holds other bytes (whole, undamaged)",
       [](const fs::path& chunk, const fs::path&) {
         WriteText(chunk, *EncodeChunk(std::string(2, 'x'), 1, 1));
       },
       StatusCode::kInternal,
       {"tensor 'f16' chunk 1", "sha-256 mismatch"},
       /*found_by_checksum=*/false},
      {"chunk without a checksum (written before them) holds other bytes",
       [](const fs::path& chunk, const fs::path&) {
         WriteText(chunk, test::LegacyChunkFile(std::string(2, 'x'), 1));
       },
       StatusCode::kInternal,
       {"tensor 'f16' chunk 1", "sha-256 mismatch"}},
      {"bit flipped in the frame",
       [](const fs::path& chunk, const fs::path&) {
         std::string s = ReadText(chunk);
         s[s.size() - 2] = static_cast<char>(s[s.size() - 2] ^ 0x10);
         WriteText(chunk, s);
       },
       StatusCode::kInternal,
       {"tensor 'f16' chunk 1", "damaged"}},
      {"truncated chunk file",
       [](const fs::path& chunk, const fs::path&) {
         fs::resize_file(chunk, fs::file_size(chunk) / 2);
       },
       StatusCode::kInternal,
       {"tensor 'f16' chunk 1", "zstd"}},
      {"empty chunk file",
       [](const fs::path& chunk, const fs::path&) { WriteText(chunk, ""); },
       StatusCode::kInternal,
       {"tensor 'f16' chunk 1", "truncated"}},
      {"missing chunk",
       [](const fs::path& chunk, const fs::path&) { fs::remove(chunk); },
       StatusCode::kInternal,
       {"tensor 'f16' chunk 1", "missing"}},
      {"manifest not JSON",
       [](const fs::path&, const fs::path& manifest) { WriteText(manifest, "{\"format_ver"); },
       StatusCode::kInternal,
       {"checkpoint 's'", "not valid JSON"}},
      {"unknown format_version",
       [](const fs::path&, const fs::path& manifest) {
         std::string s = ReadText(manifest);
         const std::string from = "\"format_version\": 1";
         s.replace(s.find(from), from.size(), "\"format_version\": 99");
         WriteText(manifest, s);
       },
       StatusCode::kInvalidArgument,
       {"unknown format_version 99"}},
  };
  // Each case with the chunk files in the page cache (read from it) and out of it (read with
  // direct I/O, as by a job resumed on another node).
  for (const bool cold : {false, true}) {
    for (const Case& c : cases) {
      SCOPED_TRACE(cold ? "chunk files read from the disk" : "chunk files in the page cache");
      ::gpool::test::TempDir dir("gpool-ckpt");
      if (cold && !test::EvictionWorksIn(dir.path())) {
        std::printf("note: %s keeps files in memory; cold case not run\n", dir.path().c_str());
        continue;
      }
      CheckpointStore store = OpenStore(dir, {.chunk_size = 64});
      ASSERT_TRUE(store.Save("s", EveryDType()).ok());
      Result<CheckpointManifest> m = store.ReadManifest("s");
      ASSERT_TRUE(m.ok());
      const std::string h = m->tensors[1].chunks[1].hash;  // "f16", its 2-byte tail chunk
      c.damage(dir.path() / "store/chunks" / h.substr(0, 2) / h,
               dir.path() / "store/manifests/s.json");
      if (cold) {
        ASSERT_TRUE(test::EvictFromPageCache(dir.path() / "store"));
      } else {  // a save writes around the page cache: read the files into it
        ASSERT_TRUE(test::ReadIntoPageCache(dir.path() / "store"));
      }
      const Status verify = store.Verify("s");
      Result<Checkpoint> load_sha256 =
          OpenStore(dir, {.chunk_size = 64, .load_check = LoadCheck::kSha256}).Load("latest");
      Result<Checkpoint> load = store.Load("latest");
      ASSERT_FALSE(verify.ok()) << c.what;
      ASSERT_FALSE(load_sha256.ok()) << c.what;
      std::vector<Status> failures = {verify, load_sha256.status()};
      if (c.found_by_checksum) {
        ASSERT_FALSE(load.ok()) << c.what;
        failures.push_back(load.status());
      } else {
        EXPECT_TRUE(load.ok()) << c.what << ": the default Load does not hash whole chunk files";
      }
      for (const Status& s : failures) {
        EXPECT_EQ(s.code(), c.code) << c.what << ": " << s.ToString();
        for (const std::string& part : c.message_has) {
          EXPECT_NE(s.message().find(part), std::string::npos) << c.what << ": " << s.message();
        }
      }
    }
  }
}

// The content checksum does not cover a chunk file's header. A plane width no writer uses for
// the dtype sends the default Load to the SHA-256 (found); width 1 on a float chunk is one a
// writer uses (planes off), so only the SHA-256 checks find that.
TEST(CheckpointStore, APlaneWidthOverwrittenIsFoundUnlessAWriterCouldHaveUsedIt) {
  Checkpoint c;
  c.tensors.push_back(MakeTensor("w", DType::kF32, {64}, 5));  // 256 bytes: chunks of 64
  for (const auto& [width, found_by_default] : {std::pair{2, true}, {8, true}, {1, false}}) {
    ::gpool::test::TempDir dir("gpool-ckpt");
    CheckpointStore store = OpenStore(dir, {.chunk_size = 64});
    ASSERT_TRUE(store.Save("s", c).ok());
    const std::string h = store.ReadManifest("s")->tensors[0].chunks[1].hash;
    const fs::path chunk = dir.path() / "store/chunks" / h.substr(0, 2) / h;
    std::string file = ReadText(chunk);
    ASSERT_EQ(file[5], 4);
    file[5] = static_cast<char>(width);
    WriteText(chunk, file);
    Result<Checkpoint> load = store.Load("s");
    EXPECT_EQ(!load.ok(), found_by_default) << "width " << width;
    if (found_by_default) {
      EXPECT_NE(load.status().message().find("chunk 1 (" + h + "): sha-256 mismatch"),
                std::string::npos)
          << load.status().message();
    } else {
      EXPECT_FALSE(*load == c) << "width 1 decodes to other bytes";
    }
    EXPECT_FALSE(store.Verify("s").ok()) << "width " << width;
    EXPECT_FALSE(
        OpenStore(dir, {.chunk_size = 64, .load_check = LoadCheck::kSha256}).Load("s").ok())
        << "width " << width;
  }
}

// Chunks are shared by content whatever the dtype: an i32 tensor with the bytes of an f32 one
// references the f32's planed chunk files (width 4, not what a writer uses for i32). The default
// Load hashes those instead of refusing them.
TEST(CheckpointStore, ChunksSharedAcrossDTypesLoad) {
  Checkpoint c;
  c.tensors.push_back(MakeTensor("f", DType::kF32, {64}, 9));
  c.tensors.push_back(Tensor{"i", DType::kI32, {64}, c.tensors[0].bytes});
  ::gpool::test::TempDir dir("gpool-ckpt");
  CheckpointStore store = OpenStore(dir, {.chunk_size = 64, .threads = 1});
  Result<SaveReport> saved = store.Save("s", c);
  ASSERT_TRUE(saved.ok());
  EXPECT_EQ(saved->chunks_written, 4u);  // the f32 tensor's; the i32 one's are the same bytes
  Result<Checkpoint> back = store.Load("s");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, c);
}

// Load reads chunk files on some threads and decodes them on others (one per core); with any
// thread count and chunk files in or out of the page cache, a checkpoint of many chunks loads
// bit for bit, and with several chunks damaged the error names the first in manifest order.
TEST(CheckpointStore, ManyChunksLoadOnAnyThreadCountAndTheFirstDamageIsReported) {
  Checkpoint c;
  for (int t = 0; t < 40; ++t) {
    c.tensors.push_back(MakeTensor("t" + std::to_string(t), DType::kF32, {64}, 100 + t));
  }
  for (const int threads : {1, 2, 3, 8, 16}) {
    for (const bool cold : {false, true}) {
      SCOPED_TRACE("threads " + std::to_string(threads) + (cold ? ", cold" : ", warm"));
      ::gpool::test::TempDir dir("gpool-ckpt");
      if (cold && !test::EvictionWorksIn(dir.path())) {
        std::printf("note: %s keeps files in memory; cold case not run\n", dir.path().c_str());
        continue;
      }
      CheckpointStore store = OpenStore(dir, {.chunk_size = 64, .threads = threads});
      Result<SaveReport> saved = store.Save("s", c);
      ASSERT_TRUE(saved.ok()) << saved.status().ToString();
      ASSERT_EQ(saved->chunks_written, 160u);
      if (cold) {
        ASSERT_TRUE(test::EvictFromPageCache(dir.path() / "store"));
      } else {  // a save writes around the page cache: read the files into it
        ASSERT_TRUE(test::ReadIntoPageCache(dir.path() / "store"));
      }
      Result<Checkpoint> back = store.Load("s");
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      EXPECT_EQ(*back, c);
      ASSERT_TRUE(store.Verify("s").ok());

      Result<CheckpointManifest> m = store.ReadManifest("s");
      ASSERT_TRUE(m.ok());
      const auto chunk_file = [&](int tensor, int chunk) {
        const std::string& h = m->tensors[tensor].chunks[chunk].hash;
        return dir.path() / "store/chunks" / h.substr(0, 2) / h;
      };
      fs::remove(chunk_file(39, 3));
      WriteText(chunk_file(25, 0), "GPCK");
      fs::resize_file(chunk_file(7, 2), 10);
      if (cold) {
        ASSERT_TRUE(test::EvictFromPageCache(dir.path() / "store"));
      } else {  // a save writes around the page cache: read the files into it
        ASSERT_TRUE(test::ReadIntoPageCache(dir.path() / "store"));
      }
      for (const Status& s : {store.Load("s").status(), store.Verify("s")}) {
        EXPECT_EQ(s.code(), StatusCode::kInternal);
        EXPECT_NE(s.message().find("tensor 't7' chunk 2"), std::string::npos) << s.message();
      }
    }
  }
}

TEST(CheckpointStore, NotFoundAndInvalidArguments) {
  ::gpool::test::TempDir dir("gpool-ckpt");
  CheckpointStore store = OpenStore(dir, {});
  EXPECT_EQ(store.Load("latest").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store.Latest().status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store.Verify("nope").code(), StatusCode::kNotFound);
  const Checkpoint good = EveryDType();
  for (const char* bad : {"", "latest", ".hidden", "a/b", "a b", "../x"}) {
    EXPECT_EQ(store.Save(bad, good).status().code(), StatusCode::kInvalidArgument) << bad;
    if (std::string_view(bad) != "latest") {
      EXPECT_EQ(store.Load(bad).status().code(), StatusCode::kInvalidArgument) << bad;
    }
  }
  Checkpoint wrong_size = good;
  wrong_size.tensors[0].bytes.pop_back();
  Status s = store.Save("x", wrong_size).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("tensor 'f32'"), std::string::npos) << s.message();
  Checkpoint twice = good;
  twice.tensors.push_back(good.tensors[0]);
  EXPECT_EQ(store.Save("x", twice).status().code(), StatusCode::kInvalidArgument);
  for (CheckpointStoreOptions o :
       {CheckpointStoreOptions{.chunk_size = 0}, CheckpointStoreOptions{.chunk_size = 100},
        CheckpointStoreOptions{.zstd_level = 0}, CheckpointStoreOptions{.zstd_level = 4},
        CheckpointStoreOptions{.threads = -1},
        CheckpointStoreOptions{.threads = kMaxThreads + 1}}) {
    EXPECT_EQ(CheckpointStore::Open(dir.File("other"), o).status().code(),
              StatusCode::kInvalidArgument);
  }
}

std::size_t CountFiles(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) n += e.is_regular_file() ? 1 : 0;
  return n;
}

TEST(CheckpointStore, ListNamesThePublishedCheckpointsOnly) {
  ::gpool::test::TempDir dir("gpool-ckpt");
  CheckpointStore store = OpenStore(dir, {.chunk_size = 64});
  EXPECT_TRUE(store.List()->empty());
  const Checkpoint c{{MakeTensor("t", DType::kU8, {8}, 1)}, {}};
  ASSERT_TRUE(store.Save("step-2", c).ok());
  ASSERT_TRUE(store.Save("step-1", c).ok());
  std::ofstream(dir.File("manifests/.tmp-step-3.json")) << "{";  // a save that died
  EXPECT_EQ(*store.List(), (std::vector<std::string>{"step-1", "step-2"}));
}

TEST(CheckpointStore, GcRemovesOnlyUnreferencedChunksAndTempFiles) {
  ::gpool::test::TempDir dir("gpool-ckpt");
  CheckpointStore store = OpenStore(dir, {.chunk_size = 64});
  const Tensor shared = MakeTensor("shared", DType::kU8, {128}, 1);  // 2 chunks
  Checkpoint a{{shared, MakeTensor("a", DType::kU8, {64}, 2)}, {}};
  Checkpoint b{{shared, MakeTensor("b", DType::kU8, {64}, 3)}, {}};
  ASSERT_TRUE(store.Save("a", a).ok());
  ASSERT_TRUE(store.Save("b", b).ok());
  // Re-saving "a" with other bytes leaves its old "a" chunk unreferenced.
  Checkpoint a2{{shared, MakeTensor("a", DType::kU8, {64}, 4)}, {}};
  ASSERT_TRUE(store.Save("a", a2).ok());
  // Leftovers of a crashed save.
  const fs::path root = dir.path() / "store";
  WriteText(root / "chunks/.tmp-x", "partial");
  const fs::path sub = fs::directory_iterator(root / "chunks")->path();
  WriteText(sub / ".tmp-deadbeef-1-0", "partial");
  WriteText(root / "manifests/.tmp-a.json-1-0", "{");
  WriteText(root / ".tmp-latest-1-0", "a");
  // Chunks: shared x2, old a, b, new a = 5 files, of which old a is unreferenced; 4 temp files.
  Result<GcReport> gc = store.Gc();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->chunks_removed, 1u);
  EXPECT_EQ(gc->temp_files_removed, 4u);
  EXPECT_TRUE(store.Verify("a").ok());
  EXPECT_TRUE(store.Verify("b").ok());
  EXPECT_EQ(*store.Load("a"), a2);
  // 4 chunks + 2 manifests + latest + the writers' .lock.
  EXPECT_EQ(CountFiles(root), 8u);
  // A second gc finds nothing.
  Result<GcReport> again = store.Gc();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->chunks_removed, 0u);

  // An unreadable manifest stops gc before it removes anything.
  WriteText(root / "manifests/broken.json", "not json");
  ASSERT_TRUE(store.Save("c", Checkpoint{{MakeTensor("c", DType::kU8, {8}, 5)}, {}}).ok());
  WriteText(root / "manifests/c.json", "not json");
  const std::size_t before = CountFiles(root);
  Result<GcReport> refused = store.Gc();
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("gc removed nothing"), std::string::npos);
  EXPECT_EQ(CountFiles(root), before);
}

// The chunk-level API that push/pull are built on: a checkpoint copied chunk file by chunk
// file into a second store loads bit for bit there; nothing damaged or foreign gets in.
TEST(CheckpointStoreChunks, CopyChunkFilesThenPublishLoadsIdentically) {
  gpool::test::TempDir dir("gpool-ckpt-chunks");
  auto from = CheckpointStore::Open((dir.path() / "a").string(), {.chunk_size = 1024});
  auto to = CheckpointStore::Open((dir.path() / "b").string(), {.chunk_size = 1024});
  ASSERT_TRUE(from.ok() && to.ok());
  const Checkpoint c = EveryDType();
  ASSERT_TRUE(from->Save("s1", c).ok());
  auto manifest = from->ReadManifest("s1");
  ASSERT_TRUE(manifest.ok());

  // Publishing before the chunks arrive is refused, naming a missing chunk.
  const Status early = to->Publish(*manifest, true);
  EXPECT_EQ(early.code(), StatusCode::kConflict);
  EXPECT_NE(early.message().find("is not in"), std::string::npos) << early.message();
  EXPECT_FALSE(to->Latest().ok());

  int written = 0;
  for (const TensorEntry& t : manifest->tensors) {
    for (const ChunkRef& ref : t.chunks) {
      ASSERT_TRUE(from->HasChunk(ref.hash));
      auto file = from->ReadChunkFile(ref.hash);
      ASSERT_TRUE(file.ok()) << file.status().message();
      auto put = to->PutChunkFile(ref.hash, ref.size, *file);
      ASSERT_TRUE(put.ok()) << put.status().message();
      written += *put ? 1 : 0;
      auto again = to->PutChunkFile(ref.hash, ref.size, *file);
      ASSERT_TRUE(again.ok());
      EXPECT_FALSE(*again);  // already there: not written twice
    }
  }
  EXPECT_GT(written, 0);
  ASSERT_TRUE(to->Publish(*manifest, true).ok());
  auto loaded = to->Load("latest");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(*loaded, c);
}

TEST(CheckpointStoreChunks, RefusesBadHashesAndBytesThatDoNotMatch) {
  gpool::test::TempDir dir("gpool-ckpt-chunks");
  auto store = CheckpointStore::Open((dir.path() / "s").string());
  ASSERT_TRUE(store.ok());
  const std::string bytes = RandomBytes(100, 7);
  auto file = EncodeChunk(bytes, 1, 1);
  ASSERT_TRUE(file.ok());
  // Not a hash: never turned into a path.
  for (const std::string& bad :
       {std::string("../../etc/passwd"), std::string(64, 'G'), std::string(63, 'a')}) {
    EXPECT_EQ(store->PutChunkFile(bad, 100, *file).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(store->ReadChunkFile(bad).status().code(), StatusCode::kInvalidArgument);
    EXPECT_FALSE(store->HasChunk(bad));
  }
  // Another chunk's name, a wrong size, a damaged file: refused, nothing written.
  const std::string other = Sha256Hex("other");
  auto wrong = store->PutChunkFile(other, 100, *file);
  EXPECT_EQ(wrong.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(wrong.status().message().find("hash to " + Sha256Hex(bytes)), std::string::npos);
  EXPECT_FALSE(store->HasChunk(other));
  EXPECT_FALSE(store->PutChunkFile(Sha256Hex(bytes), 99, *file).ok());
  std::string damaged = *file;
  damaged[damaged.size() / 2] ^= 0x5a;
  EXPECT_FALSE(store->PutChunkFile(Sha256Hex(bytes), 100, damaged).ok());
  EXPECT_FALSE(store->HasChunk(Sha256Hex(bytes)));
  EXPECT_EQ(store->ReadChunkFile(Sha256Hex(bytes)).status().code(), StatusCode::kNotFound);
  // A size no chunk may have is refused before anything is allocated for it.
  auto huge = store->PutChunkFile(Sha256Hex(bytes), 1ull << 40, *file);
  EXPECT_EQ(huge.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(huge.status().message().find("allowed"), std::string::npos);
}

TEST(CheckpointStoreChunks, OpenExistingCreatesNothing) {
  gpool::test::TempDir dir("gpool-ckpt-chunks");
  const fs::path plain = dir.path() / "home";
  fs::create_directories(plain);
  auto r = CheckpointStore::OpenExisting(plain.string());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("no checkpoint store at"), std::string::npos);
  EXPECT_TRUE(fs::is_empty(plain));  // no chunks/ or manifests/ made in a wrong folder
  ASSERT_TRUE(CheckpointStore::Open((dir.path() / "s").string()).ok());
  EXPECT_TRUE(CheckpointStore::OpenExisting((dir.path() / "s").string()).ok());
  EXPECT_EQ(CheckpointStore::Open((dir.path() / "t").string(), {.chunk_size = 128ull << 20})
                .status()
                .code(),
            StatusCode::kInvalidArgument);
}

// gc never runs while a writer holds the store: it removes nothing and says why; once the
// writer is done, gc runs (and a save waits for a running gc rather than racing it).
TEST(CheckpointStoreLock, GcRefusesWhileAWriterHoldsTheStore) {
  gpool::test::TempDir dir("gpool-ckpt-lock");
  const std::string root = (dir.path() / "s").string();
  auto store = CheckpointStore::Open(root, {.chunk_size = 64});
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE(store->Save("a", Checkpoint{{test::MakeTensor("w", DType::kF32, {64}, 1)}, {}}).ok());
  ASSERT_TRUE(store->Save("b", Checkpoint{{test::MakeTensor("w", DType::kF32, {64}, 2)}, {}}).ok());
  fs::remove(fs::path(root) / "manifests" / "a.json");  // a's chunks are now garbage
  {
    auto writer = files::FileLock::Acquire(root + "/" + kLockFile, /*exclusive=*/false, true);
    ASSERT_TRUE(writer.ok()) << writer.status().message();
    auto gc = store->Gc();
    EXPECT_EQ(gc.status().code(), StatusCode::kConflict);
    EXPECT_NE(gc.status().message().find("gc removed nothing"), std::string::npos);
  }
  auto gc = store->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status().message();
  EXPECT_GT(gc->chunks_removed, 0u);
  EXPECT_TRUE(store->Verify("b").ok());
  // While a gc holds the lock exclusively, a writer cannot get it without waiting.
  auto gc_lock = files::FileLock::Acquire(root + "/" + kLockFile, /*exclusive=*/true, true);
  ASSERT_TRUE(gc_lock.ok());
  EXPECT_EQ(files::FileLock::Acquire(root + "/" + kLockFile, false, /*wait=*/false).status().code(),
            StatusCode::kConflict);
}

}  // namespace
}  // namespace gpool::ckpt
