// `gpool ckpt ls|show|verify|gc` through the real binary, on a store written with the library.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "../temp_dir.h"
#include "ckpt/checkpoint_store.h"
#include "cli_run.h"

namespace gpool::ckpt {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::RunGpool;

Tensor Bytes(const std::string& name, DType dtype, std::int64_t n, char fill) {
  return Tensor{name, dtype, {n}, std::string(static_cast<std::size_t>(n) * DTypeSize(dtype), fill)};
}

TEST(CkptCli, ListShowVerifyGcAndDamageNamed) {
  gpool::test::TempDir dir("gpool-ckpt-cli");
  const std::string root = (dir.path() / "store").string();
  {
    auto store = CheckpointStore::Open(root, {.chunk_size = 64});
    ASSERT_TRUE(store.ok());
    Checkpoint one{{Bytes("w", DType::kF32, 32, 'a'), Bytes("b", DType::kU8, 10, 'b')},
                   {1, 0, "batch=10", {{"lr", "0.001"}}}};
    ASSERT_TRUE(store->Save("step-1", one).ok());
    Checkpoint two = one;
    two.metadata.step = 2;
    two.tensors[1] = Bytes("b", DType::kU8, 10, 'c');
    ASSERT_TRUE(store->Save("step-2", two).ok());
  }
  const std::string s = " --store " + root;
  auto r = RunGpool("ckpt ls" + s);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("step-2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(latest)"), std::string::npos) << r.output;
  r = RunGpool("ckpt ls -o json" + s);
  const json rows = json::parse(r.output);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["name"], "step-1");
  EXPECT_EQ(rows[1]["latest"], true);
  EXPECT_EQ(rows[1]["bytes"], 32 * 4 + 10);
  r = RunGpool("ckpt show" + s);  // latest
  EXPECT_NE(r.output.find("checkpoint step-2: step 2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("lr: 0.001"), std::string::npos) << r.output;
  r = RunGpool("ckpt show step-1 -o json" + s);
  EXPECT_EQ(json::parse(r.output)["metadata"]["step"], 1);
  EXPECT_EQ(RunGpool("ckpt verify --all" + s).exit_code, 0);
  // Damage a chunk of step-1's "b" only: verify names the checkpoint and the tensor.
  const json manifest = json::parse(RunGpool("ckpt show step-1 -o json" + s).output);
  std::string hash;
  for (const json& t : manifest["tensors"]) {
    if (t["name"] == "b") hash = t["chunks"][0]["hash"];
  }
  ASSERT_FALSE(hash.empty());
  fs::resize_file(fs::path(root) / "chunks" / hash.substr(0, 2) / hash, 7);
  r = RunGpool("ckpt verify --all" + s);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("ok      step-2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("DAMAGED step-1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("tensor 'b' chunk 0"), std::string::npos) << r.output;
  // gc: a leftover temp file goes; nothing referenced does.
  std::ofstream(fs::path(root) / "manifests" / ".tmp-x.json") << "{";
  r = RunGpool("ckpt gc -o json" + s);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(json::parse(r.output)["temp_files_removed"], 1);
  EXPECT_EQ(RunGpool("ckpt verify step-2" + s).exit_code, 0);
  // Bad usage: no store there (and none is created), an unknown checkpoint, no subcommand.
  r = RunGpool("ckpt ls --store " + (dir.path() / "nope").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("no checkpoint store at"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir.path() / "nope"));
  EXPECT_EQ(RunGpool("ckpt show step-9" + s).exit_code, 2);
  EXPECT_EQ(RunGpool("ckpt").exit_code, 2);
}

// A store under `dir` with one checkpoint, step-7: an f32 matrix, a u8 vector and a blob.
Checkpoint SaveStep7(const std::string& root) {
  Checkpoint c{{Bytes("w", DType::kF32, 32, 'a'), Bytes("b", DType::kU8, 10, 'b'),
                Tensor{"opt", DType::kBlob, {}, "optimizer state"}},
               {7, 1, "batch=70", {{"lr", "0.001"}}}};
  c.tensors[0].shape = {4, 8};
  for (std::size_t i = 0; i < c.tensors[0].bytes.size(); ++i) {
    c.tensors[0].bytes[i] = static_cast<char>(i * 7);
  }
  auto store = CheckpointStore::Open(root, {.chunk_size = 64});
  EXPECT_TRUE(store.ok());
  EXPECT_TRUE(store->Save("step-7", c).ok());
  return c;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(CkptCli, ExportWritesASafetensorsFileAnotherReaderParses) {
  gpool::test::TempDir dir("gpool-ckpt-cli");
  const std::string root = (dir.path() / "store").string();
  const Checkpoint saved = SaveStep7(root);
  const std::string out = dir.File("model.safetensors");
  auto r = RunGpool("ckpt export --store " + root + " --out " + out + " -o json");  // latest
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json report = json::parse(r.output);  // nothing but the JSON (no progress: not a TTY)
  EXPECT_EQ(report["name"], "step-7");
  EXPECT_EQ(report["tensors"], 3);
  EXPECT_EQ(report["bytes_total"], 32 * 4 + 10 + 15);
  EXPECT_EQ(report["file_bytes"], fs::file_size(out));

  // Read it as any safetensors reader would: u64 little-endian N, N bytes of JSON, the data.
  const std::string file = ReadAll(out);
  ASSERT_GE(file.size(), 8u);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(file[i]);
  ASSERT_LE(8 + n, file.size());
  EXPECT_EQ(n % 8, 0u);
  const json header = json::parse(file.substr(8, n));
  const std::string data = file.substr(8 + n);
  // The tensors cover the data back to back: 128 + 10 + 15 = 153 bytes.
  std::uint64_t covered = 0;
  for (const auto& [name, t] : header.items()) {
    if (name == "__metadata__") continue;
    covered +=
        t["data_offsets"][1].get<std::uint64_t>() - t["data_offsets"][0].get<std::uint64_t>();
    EXPECT_LE(t["data_offsets"][1].get<std::uint64_t>(), data.size()) << name;
  }
  EXPECT_EQ(covered, data.size());
  EXPECT_EQ(data.size(), 153u);
  const json& w = header["w"];
  EXPECT_EQ(w["dtype"], "F32");
  EXPECT_EQ(w["shape"], json::array({4, 8}));
  const auto begin = w["data_offsets"][0].get<std::size_t>();
  const auto end = w["data_offsets"][1].get<std::size_t>();
  EXPECT_EQ(data.substr(begin, end - begin), saved.tensors[0].bytes);
  EXPECT_EQ(header["opt"]["dtype"], "U8");
  EXPECT_EQ(header["__metadata__"]["gpool.step"], "7");
  EXPECT_EQ(header["__metadata__"]["gpool.loader_position"], "batch=70");
  EXPECT_EQ(header["__metadata__"]["lr"], "0.001");
  EXPECT_EQ(header["__metadata__"]["gpool.blob.opt"], "[]");

  // Table output by name; again no progress line; nothing but the file left in the folder.
  r = RunGpool("ckpt export step-7 --store " + root + " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("exported step-7 (step 7) to " + out + ": 3 tensors"), std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find('\r'), std::string::npos) << r.output;
  EXPECT_EQ(ReadAll(out), file);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 2);

  // An unknown checkpoint, or no store: exit 2 and no file.
  r = RunGpool("ckpt export step-9 --store " + root + " --out " + dir.File("x.safetensors"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("no checkpoint 'step-9'"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir.File("x.safetensors")));
  r = RunGpool("ckpt export --store " + dir.File("nope") + " --out " + dir.File("x.safetensors"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(RunGpool("ckpt export --store " + root).exit_code, 2);  // --out is required
}

TEST(CkptCli, ImportStartsAStoreAndASecondImportWritesNoChunks) {
  gpool::test::TempDir dir("gpool-ckpt-cli");
  const std::string root = (dir.path() / "store").string();
  const Checkpoint saved = SaveStep7(root);
  const std::string file = dir.File("my model+v2.safetensors");
  ASSERT_EQ(RunGpool("ckpt export --store " + root + " --out '" + file + "'").exit_code, 0);

  const std::string fresh = (dir.path() / "fresh").string();
  auto r = RunGpool("ckpt import '" + file + "' --store " + fresh + " --name imported -o json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json report = json::parse(r.output);
  EXPECT_EQ(report["name"], "imported");
  EXPECT_EQ(report["tensors"], 3);
  EXPECT_EQ(report["bytes_total"], 153);
  EXPECT_GT(report["chunks_written"].get<int>(), 0);
  EXPECT_GT(report["bytes_written"].get<std::uint64_t>(), 0u);
  // The same file again, under another name: every chunk is already there.
  r = RunGpool("ckpt import '" + file + "' --store " + fresh + " --name again -o json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  report = json::parse(r.output);
  EXPECT_EQ(report["chunks_written"], 0);
  EXPECT_EQ(report["bytes_written"], 0);
  // Default name: the file's stem, sanitised ("my model+v2" -> "my_model_v2"); it is latest.
  r = RunGpool("ckpt import '" + file + "' --store " + fresh);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("as my_model_v2 (step 7): 3 tensors, 153 bytes; wrote 0 new chunk(s)"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(RunGpool("ckpt verify --all --store " + fresh).exit_code, 0);

  // Lossless: what the fresh store loads equals what was saved, metadata and blob included.
  auto store = CheckpointStore::Open(fresh);
  ASSERT_TRUE(store.ok());
  for (const char* name : {"imported", "latest"}) {
    auto back = store->Load(name);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, saved) << name;
  }
  EXPECT_EQ(*store->Latest(), "my_model_v2");
}

TEST(CkptCli, ImportOfABadFileExits2NamingTheFaultAndCreatesNoStore) {
  gpool::test::TempDir dir("gpool-ckpt-cli");
  const std::string root = (dir.path() / "store").string();
  SaveStep7(root);
  const std::string file = dir.File("model.safetensors");
  ASSERT_EQ(RunGpool("ckpt export --store " + root + " --out " + file).exit_code, 0);
  fs::resize_file(file, fs::file_size(file) - 5);  // the blob's last bytes are gone
  const std::string fresh = (dir.path() / "fresh").string();
  auto r = RunGpool("ckpt import " + file + " --store " + fresh);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(file + ": data truncated: tensor 'opt'"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(fresh));
  fs::resize_file(file, 5);  // not even the header length
  r = RunGpool("ckpt import " + file + " --store " + fresh);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("fewer than the 8"), std::string::npos) << r.output;
  r = RunGpool("ckpt import " + dir.File("missing.safetensors") + " --store " + fresh);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("does not exist"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(fresh));
  // A good file under a name no checkpoint may have: refused before the store is made.
  ASSERT_EQ(RunGpool("ckpt export --store " + root + " --out " + file).exit_code, 0);
  r = RunGpool("ckpt import " + file + " --store " + fresh + " --name latest");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("'latest' is reserved"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(fresh));
}

}  // namespace
}  // namespace gpool::ckpt
