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

}  // namespace
}  // namespace gpool::ckpt
