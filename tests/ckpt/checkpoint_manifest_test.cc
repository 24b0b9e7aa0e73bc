// CheckpointManifest: JSON round trip, and every malformed manifest is an error value.
#include "ckpt/checkpoint_manifest.h"

#include <gtest/gtest.h>

#include <string>

namespace gpool::ckpt {
namespace {

CheckpointManifest Sample() {
  CheckpointManifest m;
  m.name = "step-100";
  m.chunk_size = 64;
  m.metadata = {100, 2, "shard=3,offset=17", {{"lr", "3e-4"}, {"run", "a"}}};
  const std::string h1(64, 'a'), h2(64, 'b');
  m.tensors.push_back({"w", DType::kBF16, {8, 6}, 96, {{h1, 64}, {h2, 32}}});
  m.tensors.push_back({"empty", DType::kI32, {0}, 0, {}});
  return m;
}

TEST(CheckpointManifest, RoundTrip) {
  const CheckpointManifest m = Sample();
  const std::string json = ManifestToJson(m);
  EXPECT_NE(json.find("\"format_version\": 1"), std::string::npos) << json;
  Result<CheckpointManifest> back = ParseManifest(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, m);
}

// Sample() changed by `change`, as JSON.
template <typename Change>
std::string Changed(Change change) {
  CheckpointManifest m = Sample();
  change(m);
  return ManifestToJson(m);
}

TEST(CheckpointManifest, MalformedIsAnError) {
  std::string good = ManifestToJson(Sample());
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const std::size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  struct Case {
    const char* what;
    std::string json;
    StatusCode code;
    const char* message_has;
  } cases[] = {
      {"not JSON", good.substr(0, good.size() / 2), StatusCode::kInternal, "not valid JSON"},
      {"array", "[1]", StatusCode::kInternal, "not a JSON object"},
      {"no version", replace("\"format_version\": 1", "\"fv\": 1"), StatusCode::kInternal,
       "format_version"},
      {"future version", replace("\"format_version\": 1", "\"format_version\": 2"),
       StatusCode::kInvalidArgument, "unknown format_version 2"},
      {"unknown dtype", replace("\"bf16\"", "\"f8\""), StatusCode::kInternal, "unknown dtype"},
      {"bad hash", replace(std::string(64, 'a'), "zz"), StatusCode::kInternal, "bad chunk hash"},
      {"sizes disagree", replace("\"size\": 96", "\"size\": 97"), StatusCode::kInternal,
       "chunks hold 96 bytes"},
      {"step a string", replace("\"step\": 100", "\"step\": \"x\""), StatusCode::kInternal,
       "malformed"},
      {"no tensors", replace("\"tensors\"", "\"t\""), StatusCode::kInternal, "malformed"},
      // What a loader would trust: shape and dtype must say the bytes the chunks hold, names
      // must be unique, chunks bounded (a reader holds one whole).
      {"shape disagrees", Changed([](CheckpointManifest& m) { m.tensors[0].shape = {1 << 20}; }),
       StatusCode::kInternal, "shape and dtype for 2097152 bytes, size says 96"},
      {"shape overflows",
       Changed([](CheckpointManifest& m) { m.tensors[0].shape = {1ll << 32, 1ll << 32}; }),
       StatusCode::kInternal, "impossible shape"},
      {"duplicate name", Changed([](CheckpointManifest& m) { m.tensors[1].name = "w"; }),
       StatusCode::kInternal, "tensor 'w' appears twice"},
      {"empty chunk", Changed([](CheckpointManifest& m) {
         m.tensors[1].chunks.push_back({std::string(64, 'c'), 0});
       }),
       StatusCode::kInternal, "a chunk of 0 bytes"},
      {"huge chunk", Changed([](CheckpointManifest& m) {
         m.tensors[0].chunks[1].size = 1ull << 40;
         m.tensors[0].size = 64 + (1ull << 40);
       }),
       StatusCode::kInternal, "a chunk of 1099511627776 bytes"},
  };
  for (const Case& c : cases) {
    Result<CheckpointManifest> r = ParseManifest(c.json);
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.status().code(), c.code) << c.what << ": " << r.status().ToString();
    EXPECT_NE(r.status().message().find(c.message_has), std::string::npos)
        << c.what << ": " << r.status().message();
  }
}

}  // namespace
}  // namespace gpool::ckpt
