// Moving checkpoints between stores: the HTTP handler endpoint by endpoint (CheckpointStoreApi),
// one conformance suite run against both CheckpointRemote implementations (in-process and
// HTTP on loopback), and Push/Pull: only missing chunks move, a cut transfer resumes, a
// damaged chunk is refused, `latest` never names an incomplete checkpoint.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "../temp_dir.h"
#include "ckpt/checkpoint_remote.h"
#include "ckpt/checkpoint_store.h"
#include "ckpt/checkpoint_store_api.h"
#include "ckpt/checkpoint_store_server.h"
#include "ckpt/checkpoint_transfer.h"
#include "ckpt/chunk_codec.h"
#include "ckpt/http_checkpoint_remote.h"
#include "ckpt_test_data.h"

namespace gpool::ckpt {
namespace {

using nlohmann::json;
using test::MakeTensor;
using test::RandomBytes;
using TempDir = ::gpool::test::TempDir;

constexpr std::uint64_t kChunk = 64;

// step-1: "w" f32[160] = 640 bytes = 10 chunks of 64; "b" u8[100] = 64 + 36 = 2 chunks.
// 12 distinct chunks (random bytes: no two alike).
Checkpoint StepOne() {
  return {{MakeTensor("w", DType::kF32, {160}, 1), MakeTensor("b", DType::kU8, {100}, 2)},
          {1, 0, "pos=1", {{"lr", "0.1"}}}};
}
// step-2: "w" unchanged, "b" new bytes: 2 new chunks, 10 shared with step-1.
Checkpoint StepTwo() {
  Checkpoint c = StepOne();
  c.tensors[1] = MakeTensor("b", DType::kU8, {100}, 3);
  c.metadata.step = 2;
  return c;
}

CheckpointStore OpenStore(const std::string& root) {
  Result<CheckpointStore> s = CheckpointStore::Open(root, {.chunk_size = kChunk});
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return std::move(*s);
}

std::vector<ChunkRef> DistinctChunks(const CheckpointManifest& m) {
  std::vector<ChunkRef> out;
  for (const TensorEntry& t : m.tensors) {
    for (const ChunkRef& c : t.chunks) {
      if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
    }
  }
  return out;
}

std::size_t ChunksIn(const CheckpointStore& store, const std::vector<ChunkRef>& chunks) {
  return static_cast<std::size_t>(std::count_if(
      chunks.begin(), chunks.end(), [&](const ChunkRef& c) { return store.HasChunk(c.hash); }));
}

// A chunk file whose bytes do not hash to its name: the last byte of the zstd frame flipped.
std::string Damaged(std::string file) {
  file.back() = static_cast<char>(file.back() ^ 0x5a);
  return file;
}

// ---- the handler ----------------------------------------------------------------------------

class TransferApi : public ::testing::Test {
 protected:
  StoreApiResponse Call(const std::string& method, const std::string& path,
                        std::map<std::string, std::string> query = {}, std::string body = "",
                        std::string authorization = "") {
    return api_.Handle({method, path, std::move(query), std::move(authorization), std::move(body)});
  }
  static std::string ErrorOf(const StoreApiResponse& r) {
    return json::parse(r.body).at("error").get<std::string>();
  }

  TempDir dir_{"gpool-transfer-api"};
  CheckpointStore source_ = OpenStore(dir_.File("source"));  // where chunk files come from
  CheckpointStore store_ = OpenStore(dir_.File("served"));
  CheckpointStoreApi api_{store_, {}};
};

TEST_F(TransferApi, ListsCheckpointsAndServesManifests) {
  StoreApiResponse r = Call("GET", "/v1/checkpoints");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"checkpoints": [], "latest": null})"));
  ASSERT_TRUE(store_.Save("step-1", StepOne()).ok());
  ASSERT_TRUE(store_.Save("step-2", StepTwo()).ok());
  r = Call("GET", "/v1/checkpoints");
  EXPECT_EQ(json::parse(r.body),
            json::parse(R"({"checkpoints": ["step-1", "step-2"], "latest": "step-2"})"));

  r = Call("GET", "/v1/checkpoints/step-1");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, ManifestToJson(*store_.ReadManifest("step-1")));
  r = Call("GET", "/v1/checkpoints/latest");  // resolves
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(ParseManifest(r.body)->name, "step-2");

  r = Call("GET", "/v1/checkpoints/step-9");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(ErrorOf(r).find("no checkpoint 'step-9'"), std::string::npos) << r.body;
  EXPECT_EQ(Call("GET", "/v1/checkpoints/.hidden").status, 400);
  EXPECT_EQ(Call("DELETE", "/v1/checkpoints/step-1").status, 405);
  EXPECT_EQ(Call("POST", "/v1/checkpoints").status, 405);
  EXPECT_EQ(Call("GET", "/v1/nope").status, 404);
  EXPECT_EQ(Call("GET", "/v1/checkpoints/step-1/x").status, 404);
  EXPECT_EQ(Call("GET", "/").status, 404);
}

TEST_F(TransferApi, AnswersWhichChunksAreMissingAndServesChunkFiles) {
  ASSERT_TRUE(store_.Save("step-1", StepOne()).ok());
  ASSERT_TRUE(source_.Save("step-2", StepTwo()).ok());
  const std::vector<ChunkRef> have = DistinctChunks(*store_.ReadManifest("step-1"));
  const std::vector<ChunkRef> asked = DistinctChunks(*source_.ReadManifest("step-2"));
  json hashes = json::array();
  for (const ChunkRef& c : asked) hashes.push_back(c.hash);
  StoreApiResponse r = Call("POST", "/v1/chunks/missing", {}, json{{"hashes", hashes}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  // "b" of step-2 (chunks 10 and 11 in manifest order) is all step-1 lacks.
  EXPECT_EQ(json::parse(r.body)["missing"], (json{asked[10].hash, asked[11].hash}));

  EXPECT_EQ(Call("POST", "/v1/chunks/missing", {}, R"({"hashes": ["ABC"]})").status, 400);
  EXPECT_EQ(Call("POST", "/v1/chunks/missing", {}, R"({"hashes": [1]})").status, 400);
  EXPECT_EQ(Call("POST", "/v1/chunks/missing", {}, "not json").status, 400);
  EXPECT_EQ(Call("POST", "/v1/chunks/missing", {}, R"({"hash": []})").status, 400);
  EXPECT_EQ(Call("GET", "/v1/chunks/missing").status, 405);
  EXPECT_EQ(Call("POST", "/v1/chunks/missing", {}, std::string(kMaxQueryBytes + 1, ' ')).status,
            413);

  r = Call("GET", "/v1/chunks/" + have[0].hash);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/octet-stream");
  EXPECT_EQ(r.body, *store_.ReadChunkFile(have[0].hash));
  EXPECT_EQ(Call("GET", "/v1/chunks/" + asked[10].hash).status, 404);
  // Not a hash, never a path: upper case, too short, dots.
  std::string upper = have[0].hash;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  EXPECT_EQ(Call("GET", "/v1/chunks/" + upper).status, 400);
  EXPECT_EQ(Call("GET", "/v1/chunks/abc").status, 400);
  EXPECT_EQ(Call("GET", "/v1/chunks/" + std::string(64, '.')).status, 400);
  EXPECT_EQ(Call("GET", "/v1/chunks/../manifests/step-1.json").status, 404);
}

TEST_F(TransferApi, StoresAVerifiedChunkAndRefusesADamagedOne) {
  ASSERT_TRUE(source_.Save("step-1", StepOne()).ok());
  const std::vector<ChunkRef> chunks = DistinctChunks(*source_.ReadManifest("step-1"));
  const ChunkRef& c = chunks[0];
  const std::string file = *source_.ReadChunkFile(c.hash);
  const std::string path = "/v1/chunks/" + c.hash;
  const std::map<std::string, std::string> size = {{"size", std::to_string(c.size)}};

  StoreApiResponse r = Call("PUT", path, size, Damaged(file));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(ErrorOf(r).find("chunk " + c.hash), std::string::npos) << r.body;
  EXPECT_FALSE(store_.HasChunk(c.hash));
  // A valid chunk file of other bytes under this name is refused too.
  r = Call("PUT", path, size, *source_.ReadChunkFile(chunks[1].hash));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_FALSE(store_.HasChunk(c.hash));
  // The size must be there, a positive number, the file's, within bounds.
  EXPECT_EQ(Call("PUT", path, {}, file).status, 400);
  EXPECT_EQ(Call("PUT", path, {{"size", "0"}}, file).status, 400);
  EXPECT_EQ(Call("PUT", path, {{"size", "64x"}}, file).status, 400);
  EXPECT_EQ(Call("PUT", path, {{"size", "32"}}, file).status, 400);  // it holds 64
  EXPECT_EQ(Call("PUT", path, {{"size", std::to_string(kMaxChunkSize + 1)}}, file).status, 413);
  EXPECT_EQ(Call("PUT", path, size, std::string(MaxChunkFileBytes(c.size) + 1, 'x')).status, 413);
  EXPECT_FALSE(store_.HasChunk(c.hash));

  r = Call("PUT", path, size, file);
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(json::parse(r.body)["written"], true);
  EXPECT_EQ(*store_.ReadChunkFile(c.hash), file);
  r = Call("PUT", path, size, file);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["written"], false);
}

TEST_F(TransferApi, PublishesOnlyWhenEveryChunkIsThere) {
  ASSERT_TRUE(source_.Save("step-1", StepOne()).ok());
  const CheckpointManifest m = *source_.ReadManifest("step-1");
  const std::vector<ChunkRef> chunks = DistinctChunks(m);
  const std::string body = ManifestToJson(m);

  StoreApiResponse r = Call("PUT", "/v1/checkpoints/step-1", {{"latest", "1"}}, body);
  EXPECT_EQ(r.status, 409);
  EXPECT_NE(ErrorOf(r).find("tensor 'w' chunk 0 (" + chunks[0].hash + ")"), std::string::npos)
      << r.body;
  for (std::size_t i = 0; i + 1 < chunks.size(); ++i) {
    ASSERT_TRUE(
        store_.PutChunkFile(chunks[i].hash, chunks[i].size, *source_.ReadChunkFile(chunks[i].hash))
            .ok());
  }
  r = Call("PUT", "/v1/checkpoints/step-1", {{"latest", "1"}}, body);
  EXPECT_EQ(r.status, 409);  // the last chunk still missing
  EXPECT_NE(ErrorOf(r).find(chunks.back().hash), std::string::npos) << r.body;
  EXPECT_FALSE(store_.Latest().ok());
  EXPECT_TRUE(store_.List()->empty());

  const ChunkRef& last = chunks.back();
  ASSERT_TRUE(store_.PutChunkFile(last.hash, last.size, *source_.ReadChunkFile(last.hash)).ok());
  EXPECT_EQ(Call("PUT", "/v1/checkpoints/step-2", {}, body).status, 400);  // name mismatch
  EXPECT_EQ(Call("PUT", "/v1/checkpoints/step-1", {}, "{").status, 400);
  EXPECT_EQ(Call("PUT", "/v1/checkpoints/latest", {}, body).status, 400);
  r = Call("PUT", "/v1/checkpoints/step-1", {}, body);  // latest not asked for
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"name": "step-1", "latest": false})"));
  EXPECT_FALSE(store_.Latest().ok());
  r = Call("PUT", "/v1/checkpoints/step-1", {{"latest", "1"}}, body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(*store_.Latest(), "step-1");
  EXPECT_EQ(*store_.Load("step-1"), StepOne());
}

TEST_F(TransferApi, NeedsTheTokenWhenOneIsSet) {
  CheckpointStoreApi guarded(store_, {.token = "s3cret"});
  StoreApiResponse r = guarded.Handle({"GET", "/v1/checkpoints", {}, "", ""});
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(ErrorOf(r).find("Authorization: Bearer"), std::string::npos) << r.body;
  EXPECT_EQ(guarded.Handle({"GET", "/v1/checkpoints", {}, "Bearer wrong", ""}).status, 401);
  EXPECT_EQ(guarded.Handle({"GET", "/v1/checkpoints", {}, "Basic s3cret", ""}).status, 401);
  EXPECT_EQ(guarded.Handle({"GET", "/v1/chunks/" + std::string(64, 'a'), {}, "", ""}).status,
            401);  // before anything else
  EXPECT_EQ(guarded.Handle({"GET", "/v1/checkpoints", {}, "Bearer s3cret", ""}).status, 200);
}

TEST(TransferBounds, AChunkFileFitsItsBound) {
  // Incompressible bytes are zstd's worst case; the bound holds for small and large chunks.
  for (std::size_t size : {1u, 36u, 64u, 4096u, 1u << 20}) {
    Result<std::string> file = EncodeChunk(RandomBytes(size, size), 1, 1);
    ASSERT_TRUE(file.ok());
    EXPECT_LE(file->size(), MaxChunkFileBytes(size)) << size;
  }
}

// ---- one conformance suite for both remotes -------------------------------------------------

// A CheckpointStoreServer on a free loopback port, serving until the object goes away.
class ServedStore {
 public:
  explicit ServedStore(CheckpointStore& store, std::string token = "")
      : api_(store, {.token = std::move(token)}), server_(api_) {
    Result<int> port = server_.Bind("127.0.0.1", 0);
    EXPECT_TRUE(port.ok()) << port.status().ToString();
    url_ = "http://127.0.0.1:" + std::to_string(port.ok() ? *port : 1);
    thread_ = std::thread([this] { server_.Serve(); });
  }
  ~ServedStore() {
    server_.Stop();
    thread_.join();
  }
  const std::string& url() const { return url_; }

 private:
  CheckpointStoreApi api_;
  CheckpointStoreServer server_;
  std::string url_;
  std::thread thread_;
};

std::unique_ptr<CheckpointRemote> Connect(const std::string& url, std::string token = "") {
  auto remote = HttpCheckpointRemote::Create(url, {.token = std::move(token)});
  EXPECT_TRUE(remote.ok()) << remote.status().ToString();
  return std::move(*remote);
}

struct InProcess {
  explicit InProcess(CheckpointStore& store)
      : remote(std::make_unique<LocalCheckpointRemote>(store)) {}
  std::unique_ptr<CheckpointRemote> remote;
};

struct OverHttp {
  explicit OverHttp(CheckpointStore& store) : served(store), remote(Connect(served.url())) {}
  ServedStore served;
  std::unique_ptr<CheckpointRemote> remote;
};

template <typename Kind>
class TransferRemoteConformance : public ::testing::Test {
 protected:
  TempDir dir_{"gpool-transfer-remote"};
  CheckpointStore source_ = OpenStore(dir_.File("source"));
  CheckpointStore store_ = OpenStore(dir_.File("remote"));
  Kind kind_{store_};
  CheckpointRemote& remote() { return *kind_.remote; }
};

using RemoteKinds = ::testing::Types<InProcess, OverHttp>;
class RemoteKindNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    return std::is_same_v<T, InProcess> ? "InProcess" : "OverHttp";
  }
};
TYPED_TEST_SUITE(TransferRemoteConformance, RemoteKinds, RemoteKindNames);

TYPED_TEST(TransferRemoteConformance, ListsAndReadsManifests) {
  Result<CheckpointListing> listing = this->remote().List();
  ASSERT_TRUE(listing.ok()) << listing.status().ToString();
  EXPECT_EQ(*listing, (CheckpointListing{{}, std::nullopt}));
  ASSERT_TRUE(this->store_.Save("step-2", StepTwo()).ok());
  ASSERT_TRUE(this->store_.Save("step-1", StepOne()).ok());
  EXPECT_EQ(*this->remote().List(), (CheckpointListing{{"step-1", "step-2"}, "step-1"}));
  Result<CheckpointManifest> m = this->remote().ReadManifest("latest");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(*m, *this->store_.ReadManifest("step-1"));
  EXPECT_EQ(*this->remote().ReadManifest("step-2"), *this->store_.ReadManifest("step-2"));
  EXPECT_EQ(this->remote().ReadManifest("step-9").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(this->remote().ReadManifest("a/b").status().code(), StatusCode::kInvalidArgument);
}

TYPED_TEST(TransferRemoteConformance, ReadsChunksAndSaysWhichAreMissing) {
  ASSERT_TRUE(this->store_.Save("step-1", StepOne()).ok());
  ASSERT_TRUE(this->source_.Save("step-2", StepTwo()).ok());
  const std::vector<ChunkRef> asked = DistinctChunks(*this->source_.ReadManifest("step-2"));
  std::vector<std::string> hashes;
  for (const ChunkRef& c : asked) hashes.push_back(c.hash);
  std::reverse(hashes.begin(), hashes.end());  // the answer keeps the order asked
  Result<std::vector<std::string>> missing = this->remote().MissingChunks(hashes);
  ASSERT_TRUE(missing.ok()) << missing.status().ToString();
  EXPECT_EQ(*missing, (std::vector<std::string>{asked[11].hash, asked[10].hash}));
  EXPECT_EQ(this->remote().MissingChunks({"xyz"}).status().code(), StatusCode::kInvalidArgument);

  Result<std::string> file = this->remote().ReadChunkFile(asked[0]);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(*file, *this->store_.ReadChunkFile(asked[0].hash));
  EXPECT_EQ(this->remote().ReadChunkFile(asked[10]).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(this->remote().ReadChunkFile({"../x", 1}).status().code(),
            StatusCode::kInvalidArgument);
}

TYPED_TEST(TransferRemoteConformance, PutsOnlyVerifiedChunksAndPublishesOnlyWholeCheckpoints) {
  ASSERT_TRUE(this->source_.Save("step-1", StepOne()).ok());
  const CheckpointManifest m = *this->source_.ReadManifest("step-1");
  const std::vector<ChunkRef> chunks = DistinctChunks(m);
  const std::string file = *this->source_.ReadChunkFile(chunks[0].hash);

  Result<bool> put = this->remote().PutChunkFile(chunks[0], Damaged(file));
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(put.status().message().find(chunks[0].hash), std::string::npos);
  EXPECT_FALSE(this->store_.HasChunk(chunks[0].hash));

  Status s = this->remote().Publish(m, true);
  EXPECT_EQ(s.code(), StatusCode::kConflict) << s.ToString();
  EXPECT_NE(s.message().find(chunks[0].hash), std::string::npos) << s.ToString();

  for (const ChunkRef& c : chunks) {
    put = this->remote().PutChunkFile(c, *this->source_.ReadChunkFile(c.hash));
    ASSERT_TRUE(put.ok()) << put.status().ToString();
    EXPECT_TRUE(*put);
  }
  put = this->remote().PutChunkFile(chunks[0], file);
  ASSERT_TRUE(put.ok());
  EXPECT_FALSE(*put);  // already there
  EXPECT_TRUE(this->remote().MissingChunks({chunks[0].hash})->empty());

  ASSERT_TRUE(this->remote().Publish(m, false).ok());
  EXPECT_EQ(this->remote().List()->latest, std::nullopt);
  ASSERT_TRUE(this->remote().Publish(m, true).ok());
  EXPECT_EQ(this->remote().List()->latest, "step-1");
  EXPECT_EQ(*this->store_.Load("step-1"), StepOne());
}

TEST(TransferHttpRemote, RefusesBadUrlsAndReportsUnreachableServers) {
  for (const char* bad : {"127.0.0.1:7070", "https://h:1", "http://", "http://h:0", "http://h:x",
                          "http://h:1/prefix", "ftp://h"}) {
    EXPECT_EQ(HttpCheckpointRemote::Create(bad).status().code(), StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_TRUE(HttpCheckpointRemote::Create("http://localhost:7070/").ok());
  EXPECT_TRUE(HttpCheckpointRemote::Create("http://[::1]:7070").ok());
  // Port 1 on loopback: nothing listens (connection refused).
  std::unique_ptr<CheckpointRemote> remote = Connect("http://127.0.0.1:1");
  Result<CheckpointListing> listing = remote->List();
  ASSERT_FALSE(listing.ok());
  EXPECT_EQ(listing.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(listing.status().message().find("GET http://127.0.0.1:1/v1/checkpoints"),
            std::string::npos)
      << listing.status().ToString();
}

TEST(TransferHttpRemote, SendsTheToken) {
  TempDir dir("gpool-transfer-token");
  CheckpointStore store = OpenStore(dir.File("store"));
  ServedStore served(store, "s3cret");
  Result<CheckpointListing> listing = Connect(served.url())->List();
  ASSERT_FALSE(listing.ok());
  EXPECT_EQ(listing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(listing.status().message().find("401"), std::string::npos)
      << listing.status().ToString();
  EXPECT_TRUE(Connect(served.url(), "s3cret")->List().ok());
}

// ---- push and pull ---------------------------------------------------------------------------

// Forwards every call to another remote; the test remotes below change one call each.
class ForwardingRemote : public CheckpointRemote {
 public:
  explicit ForwardingRemote(CheckpointRemote& inner) : inner_(inner) {}
  std::string Describe() const override { return inner_.Describe(); }
  Result<CheckpointListing> List() override { return inner_.List(); }
  Result<CheckpointManifest> ReadManifest(std::string_view name) override {
    return inner_.ReadManifest(name);
  }
  Result<std::vector<std::string>> MissingChunks(const std::vector<std::string>& h) override {
    return inner_.MissingChunks(h);
  }
  Result<std::string> ReadChunkFile(const ChunkRef& c) override { return inner_.ReadChunkFile(c); }
  Result<bool> PutChunkFile(const ChunkRef& c, std::string_view file) override {
    return inner_.PutChunkFile(c, file);
  }
  Status Publish(const CheckpointManifest& m, bool make_latest) override {
    return inner_.Publish(m, make_latest);
  }

 private:
  CheckpointRemote& inner_;
};

// Its chunk uploads fail (as a lost connection) after `budget`.
class FailingRemote final : public ForwardingRemote {
 public:
  FailingRemote(CheckpointRemote& inner, int budget) : ForwardingRemote(inner), budget_(budget) {}
  Result<bool> PutChunkFile(const ChunkRef& c, std::string_view file) override {
    if (budget_.fetch_sub(1) <= 0) return Status::Unavailable("connection lost (test)");
    return ForwardingRemote::PutChunkFile(c, file);
  }

 private:
  std::atomic<int> budget_;
};

// Damages every chunk file it reads.
class DamagingRemote final : public ForwardingRemote {
 public:
  using ForwardingRemote::ForwardingRemote;
  Result<std::string> ReadChunkFile(const ChunkRef& c) override {
    Result<std::string> file = ForwardingRemote::ReadChunkFile(c);
    if (!file.ok()) return file;
    return Damaged(std::move(*file));
  }
};

class TransferPushPull : public ::testing::Test {
 protected:
  std::uint64_t FileBytes(const CheckpointStore& store, const std::vector<ChunkRef>& chunks) {
    std::uint64_t sum = 0;
    for (const ChunkRef& c : chunks) sum += store.ReadChunkFile(c.hash)->size();
    return sum;
  }

  TempDir dir_{"gpool-transfer"};
  CheckpointStore local_ = OpenStore(dir_.File("local"));
  CheckpointStore far_ = OpenStore(dir_.File("far"));
  LocalCheckpointRemote far_remote_{far_};
  TransferOptions options_;
};

TEST_F(TransferPushPull, ASecondCheckpointMovesOnlyItsNewChunks) {
  ASSERT_TRUE(local_.Save("step-1", StepOne()).ok());
  const std::vector<ChunkRef> one = DistinctChunks(*local_.ReadManifest("step-1"));
  std::vector<TransferReport> seen;
  Result<TransferReport> r = Push(local_, "step-1", far_remote_, options_,
                                  [&](const TransferReport& p) { seen.push_back(p); });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // All 12 chunks are new there.
  EXPECT_EQ(*r, (TransferReport{"step-1", 12, 12, FileBytes(local_, one), 0, true}));
  // Progress: once after the batch's answer, then once per chunk; the last has the totals.
  ASSERT_EQ(seen.size(), 13u);
  EXPECT_EQ(seen[0].chunks_sent, 0u);
  EXPECT_EQ(seen.back().chunks_sent, 12u);
  EXPECT_EQ(seen.back().bytes_sent, r->bytes_sent);

  ASSERT_TRUE(local_.Save("step-2", StepTwo()).ok());
  const std::vector<ChunkRef> two = DistinctChunks(*local_.ReadManifest("step-2"));
  r = Push(local_, "latest", far_remote_, options_);  // resolves to step-2
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // step-2 = step-1's 10 "w" chunks (there already) + 2 new "b" chunks.
  EXPECT_EQ(*r, (TransferReport{"step-2", 12, 2, FileBytes(local_, {two[10], two[11]}), 10, true}));
  EXPECT_EQ(*far_.Latest(), "step-2");
  EXPECT_EQ(*far_.Load("step-2"), StepTwo());
  EXPECT_EQ(*far_.Load("step-1"), StepOne());

  r = Push(local_, "step-2", far_remote_, options_);  // again: nothing moves
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->chunks_sent, 0u);
  EXPECT_EQ(r->chunks_skipped, 12u);
}

TEST_F(TransferPushPull, PullMovesOnlyMissingChunksAndSetsLatestOnlyWhereThereIsNone) {
  ASSERT_TRUE(far_.Save("step-1", StepOne()).ok());
  ASSERT_TRUE(far_.Save("step-2", StepTwo()).ok());
  options_.set_latest = SetLatest::kIfNone;
  Result<TransferReport> r = Pull(far_remote_, "latest", local_, options_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->name, "step-2");
  EXPECT_EQ(r->chunks_sent, 12u);
  EXPECT_TRUE(r->made_latest);  // the local store had none
  r = Pull(far_remote_, "step-1", local_, options_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // step-1 shares the 10 "w" chunks; its 2 "b" chunks are new here.
  EXPECT_EQ(r->chunks_sent, 2u);
  EXPECT_EQ(r->chunks_skipped, 10u);
  EXPECT_FALSE(r->made_latest);
  EXPECT_EQ(*local_.Latest(), "step-2");
  EXPECT_EQ(*local_.Load("step-1"), StepOne());
  EXPECT_TRUE(local_.Verify("step-2").ok());

  EXPECT_EQ(Pull(far_remote_, "step-9", local_, options_).status().code(), StatusCode::kNotFound);
  options_.batch_size = 0;
  EXPECT_EQ(Pull(far_remote_, "step-1", local_, options_).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(TransferPushPull, SmallBatchesAndParallelCopiesOverHttpGiveTheSameCounts) {
  ServedStore served(far_);
  std::unique_ptr<CheckpointRemote> remote = Connect(served.url());
  ASSERT_TRUE(local_.Save("step-1", StepOne()).ok());
  options_.batch_size = 5;  // 12 chunks: questions of 5, 5 and 2
  options_.parallel = 4;
  Result<TransferReport> r = Push(local_, "step-1", *remote, options_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->chunks_sent, 12u);
  ASSERT_TRUE(local_.Save("step-2", StepTwo()).ok());
  r = Push(local_, "step-2", *remote, options_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->chunks_sent, 2u);
  EXPECT_EQ(r->chunks_skipped, 10u);
  EXPECT_EQ(*far_.Load("latest"), StepTwo());

  // And back into a third store, over the same server.
  CheckpointStore third = OpenStore(dir_.File("third"));
  r = Pull(*remote, "step-1", third, options_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->chunks_sent, 12u);
  EXPECT_EQ(*third.Load("step-1"), StepOne());
  EXPECT_EQ(*third.ReadManifest("step-1"), *local_.ReadManifest("step-1"));
}

TEST_F(TransferPushPull, ACutPushResumesWithTheRestAndNeverPublishesHalfACheckpoint) {
  ASSERT_TRUE(local_.Save("step-1", StepOne()).ok());
  const std::vector<ChunkRef> chunks = DistinctChunks(*local_.ReadManifest("step-1"));
  constexpr int kSent = 5;
  FailingRemote failing(far_remote_, kSent);
  Result<TransferReport> r = Push(local_, "step-1", failing, options_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  // The 6th chunk in manifest order failed: "w" chunk 5.
  EXPECT_NE(r.status().message().find("tensor 'w' chunk 5 (" + chunks[5].hash + ")"),
            std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(ChunksIn(far_, chunks), static_cast<std::size_t>(kSent));
  EXPECT_TRUE(far_.List()->empty());  // nothing published
  EXPECT_EQ(far_.Latest().status().code(), StatusCode::kNotFound);

  r = Push(local_, "step-1", far_remote_, options_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->chunks_sent, 12u - kSent);
  EXPECT_EQ(r->chunks_skipped, static_cast<std::uint64_t>(kSent));
  EXPECT_EQ(*far_.Load("latest"), StepOne());  // bit for bit
}

TEST_F(TransferPushPull, ACutPushLeavesTheOldLatestInPlace) {
  ASSERT_TRUE(local_.Save("step-1", StepOne()).ok());
  ASSERT_TRUE(Push(local_, "step-1", far_remote_, options_).ok());
  ASSERT_TRUE(local_.Save("step-2", StepTwo()).ok());
  FailingRemote failing(far_remote_, 1);  // of step-2's 2 new chunks, 1 arrives
  ASSERT_FALSE(Push(local_, "step-2", failing, options_).ok());
  EXPECT_EQ(*far_.Latest(), "step-1");
  EXPECT_EQ(far_.ReadManifest("step-2").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(*far_.Load("latest"), StepOne());

  Result<TransferReport> r = Push(local_, "step-2", far_remote_, options_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->chunks_sent, 1u);
  EXPECT_EQ(r->chunks_skipped, 11u);
  EXPECT_EQ(*far_.Load("latest"), StepTwo());
}

TEST_F(TransferPushPull, PullRefusesADamagedChunkAndWritesNothingOfIt) {
  ASSERT_TRUE(far_.Save("step-1", StepOne()).ok());
  const std::vector<ChunkRef> chunks = DistinctChunks(*far_.ReadManifest("step-1"));
  DamagingRemote damaging(far_remote_);
  Result<TransferReport> r = Pull(damaging, "step-1", local_, options_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("tensor 'w' chunk 0 (" + chunks[0].hash + ")"),
            std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(ChunksIn(local_, chunks), 0u);
  EXPECT_TRUE(local_.List()->empty());
}

TEST_F(TransferPushPull, ASourceThatLostAChunkIsNotANotFound) {
  ASSERT_TRUE(far_.Save("step-1", StepOne()).ok());
  const std::vector<ChunkRef> chunks = DistinctChunks(*far_.ReadManifest("step-1"));
  std::filesystem::remove(dir_.File("far") + "/chunks/" + chunks[3].hash.substr(0, 2) + "/" +
                          chunks[3].hash);
  Result<TransferReport> r = Pull(far_remote_, "step-1", local_, options_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal) << r.status().ToString();
  EXPECT_NE(r.status().message().find("chunk 3"), std::string::npos) << r.status().ToString();
  EXPECT_TRUE(local_.List()->empty());
}

}  // namespace
}  // namespace gpool::ckpt
