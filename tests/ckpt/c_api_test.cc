// The C ABI (gpool_ckpt.h) through its C functions only: a round trip of every dtype with its
// metadata, asynchronous saves, the error codes and messages, verify, the checkpoint-request
// handler.
// tests/c_api/c_api_smoke.c checks that the header compiles as C and the shared library links.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "../temp_dir.h"
#include "ckpt/checkpoint_store.h"
#include "ckpt/gpool_ckpt.h"
#include "ckpt_test_data.h"

namespace gpool::ckpt {
namespace {

// The tensor add_tensor was given; `bytes` is what the test keeps the data in.
struct Input {
  std::string name;
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::string bytes;
};

std::vector<Input> EveryDType() {
  // Sizes: product(shape) * element size, e.g. f32 [2, 3] = 6 * 4 = 24 bytes; a blob is free.
  return {
      {"w.f32", "f32", {2, 3}, test::NormalF32(6, 1)},
      {"w.f16", "f16", {5}, test::RandomBytes(10, 2)},
      {"w.bf16", "bf16", {2, 2}, test::RandomBytes(8, 3)},
      {"lr.f64", "f64", {}, test::RandomBytes(8, 4)},  // a scalar
      {"q.i8", "i8", {7}, test::RandomBytes(7, 5)},
      {"q.i16", "i16", {3}, test::RandomBytes(6, 6)},
      {"ids.i32", "i32", {1, 4}, test::RandomBytes(16, 7)},
      {"ids.i64", "i64", {2}, test::RandomBytes(16, 8)},
      {"mask.u8", "u8", {3, 1}, test::RandomBytes(3, 9)},
      {"mask.bool", "bool", {4}, std::string("\x01\x00\x01\x01", 4)},
      {"rng.blob", "blob", {}, test::RandomBytes(13, 10)},
      {"empty.f32", "f32", {0, 5}, ""},
  };
}

int AddAll(gpool_ckpt_writer* w, const std::vector<Input>& inputs) {
  for (const Input& in : inputs) {
    const int rc = gpool_ckpt_writer_add_tensor(w, in.name.c_str(), in.dtype.c_str(),
                                                static_cast<int>(in.shape.size()), in.shape.data(),
                                                in.bytes.data(), in.bytes.size());
    if (rc != GPOOL_CKPT_OK) return rc;
  }
  return GPOOL_CKPT_OK;
}

// Loads `name` (nullptr: latest) from `root`; fails the test on an error.
gpool_ckpt_checkpoint* Load(const std::string& root, const char* name) {
  gpool_ckpt_store* store = nullptr;
  EXPECT_EQ(gpool_ckpt_store_open(root.c_str(), &store), GPOOL_CKPT_OK) << gpool_ckpt_last_error();
  gpool_ckpt_checkpoint* c = nullptr;
  EXPECT_EQ(gpool_ckpt_store_load(store, name, &c), GPOOL_CKPT_OK) << gpool_ckpt_last_error();
  gpool_ckpt_store_close(store);  // the checkpoint does not depend on it
  return c;
}

std::string TensorBytes(const gpool_ckpt_checkpoint* c, const char* name) {
  size_t index = 0;
  EXPECT_EQ(gpool_ckpt_checkpoint_find_tensor(c, name, &index), GPOOL_CKPT_OK);
  gpool_ckpt_tensor_info info{};
  EXPECT_EQ(gpool_ckpt_checkpoint_tensor(c, index, &info), GPOOL_CKPT_OK);
  return std::string(static_cast<const char*>(info.data), info.nbytes);
}

TEST(CApi, RoundTripsEveryDTypeAndTheMetadata) {
  gpool::test::TempDir dir("gpool-capi");
  const std::string root = dir.File("store");
  gpool_ckpt_writer* w = nullptr;
  ASSERT_EQ(gpool_ckpt_writer_open(root.c_str(), 0, 3, &w), GPOOL_CKPT_OK)
      << gpool_ckpt_last_error();
  const std::vector<Input> inputs = EveryDType();
  ASSERT_EQ(gpool_ckpt_writer_begin(w, 1200, 3, "shard-2:81920"), GPOOL_CKPT_OK);
  ASSERT_EQ(AddAll(w, inputs), GPOOL_CKPT_OK) << gpool_ckpt_last_error();
  ASSERT_EQ(gpool_ckpt_writer_set_extra(w, "lr", "0.001"), GPOOL_CKPT_OK);
  ASSERT_EQ(gpool_ckpt_writer_set_extra(w, "arch", "old"), GPOOL_CKPT_OK);
  ASSERT_EQ(gpool_ckpt_writer_set_extra(w, "arch", "résnet"), GPOOL_CKPT_OK);  // replaces
  ASSERT_EQ(gpool_ckpt_writer_save(w, "first"), GPOOL_CKPT_OK) << gpool_ckpt_last_error();
  EXPECT_STREQ(gpool_ckpt_last_error(), "");
  ASSERT_EQ(gpool_ckpt_writer_close(w), GPOOL_CKPT_OK);

  gpool_ckpt_checkpoint* c = Load(root, nullptr);  // latest
  ASSERT_NE(c, nullptr);
  const char* name = nullptr;
  ASSERT_EQ(gpool_ckpt_checkpoint_name(c, &name), GPOOL_CKPT_OK);
  EXPECT_STREQ(name, "first");
  size_t count = 0;
  ASSERT_EQ(gpool_ckpt_checkpoint_tensor_count(c, &count), GPOOL_CKPT_OK);
  ASSERT_EQ(count, inputs.size());
  for (size_t i = 0; i < count; ++i) {
    gpool_ckpt_tensor_info info{};
    ASSERT_EQ(gpool_ckpt_checkpoint_tensor(c, i, &info), GPOOL_CKPT_OK);
    const Input& in = inputs[i];  // saved order is kept
    EXPECT_EQ(info.name, in.name);
    EXPECT_EQ(info.dtype, in.dtype) << in.name;
    EXPECT_EQ(std::vector<std::int64_t>(info.shape, info.shape + info.ndim), in.shape) << in.name;
    ASSERT_NE(info.data, nullptr) << in.name;
    EXPECT_EQ(std::string(static_cast<const char*>(info.data), info.nbytes), in.bytes) << in.name;
  }
  int64_t step = 0, epoch = 0;
  const char* position = nullptr;
  ASSERT_EQ(gpool_ckpt_checkpoint_metadata(c, &step, &epoch, &position), GPOOL_CKPT_OK);
  EXPECT_EQ(step, 1200);
  EXPECT_EQ(epoch, 3);
  EXPECT_STREQ(position, "shard-2:81920");
  size_t extras = 0;
  ASSERT_EQ(gpool_ckpt_checkpoint_extra_count(c, &extras), GPOOL_CKPT_OK);
  ASSERT_EQ(extras, 2u);
  const char* key = nullptr;
  const char* value = nullptr;
  ASSERT_EQ(gpool_ckpt_checkpoint_extra_at(c, 0, &key, &value), GPOOL_CKPT_OK);  // key order
  EXPECT_STREQ(key, "arch");
  EXPECT_STREQ(value, "résnet");
  ASSERT_EQ(gpool_ckpt_checkpoint_extra_get(c, "lr", &value), GPOOL_CKPT_OK);
  EXPECT_STREQ(value, "0.001");
  EXPECT_EQ(gpool_ckpt_checkpoint_extra_at(c, 2, &key, &value), GPOOL_CKPT_INVALID_ARGUMENT);
  gpool_ckpt_checkpoint_free(c);

  c = Load(root, "first");  // by name: the same bytes
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(TensorBytes(c, "w.bf16"), inputs[2].bytes);
  gpool_ckpt_checkpoint_free(c);
  gpool_ckpt_checkpoint_free(nullptr);  // does nothing
  EXPECT_EQ(gpool_ckpt_writer_close(nullptr), GPOOL_CKPT_OK);
}

TEST(CApi, SaveAsyncCopiesBeforeItReturnsThenWaitPublishes) {
  gpool::test::TempDir dir("gpool-capi");
  const std::string root = dir.File("store");
  gpool_ckpt_writer* w = nullptr;
  ASSERT_EQ(gpool_ckpt_writer_open(root.c_str(), 1 << 20, 0, &w), GPOOL_CKPT_OK);
  uint64_t staging = 0;
  ASSERT_EQ(gpool_ckpt_writer_staging_bytes(w, &staging), GPOOL_CKPT_OK);
  EXPECT_EQ(staging, 1u << 20);

  std::string weights = test::NormalF32(64 * 1024, 11);  // 256 KiB: fits the 1 MiB bound
  const std::string at_save = weights;
  const int64_t shape[1] = {64 * 1024};
  ASSERT_EQ(gpool_ckpt_writer_begin(w, 7, 0, nullptr), GPOOL_CKPT_OK);
  ASSERT_EQ(gpool_ckpt_writer_add_tensor(w, "w", "f32", 1, shape, weights.data(), weights.size()),
            GPOOL_CKPT_OK);
  int queued = -1;
  ASSERT_EQ(gpool_ckpt_writer_save_async(w, nullptr, &queued), GPOOL_CKPT_OK)
      << gpool_ckpt_last_error();
  EXPECT_EQ(queued, 1);
  weights.assign(weights.size(), '\x7f');  // the caller reuses its buffer at once

  // 512 KiB is more than the whole 256 KiB bound of a second writer: saved synchronously.
  gpool_ckpt_writer* small = nullptr;
  ASSERT_EQ(gpool_ckpt_writer_open(dir.File("small").c_str(), 256 << 10, 0, &small), GPOOL_CKPT_OK);
  const std::string big = test::RandomBytes(512 << 10, 12);
  ASSERT_EQ(gpool_ckpt_writer_begin(small, 1, 0, ""), GPOOL_CKPT_OK);
  ASSERT_EQ(gpool_ckpt_writer_add_tensor(small, "big", "blob", 0, nullptr, big.data(), big.size()),
            GPOOL_CKPT_OK);
  ASSERT_EQ(gpool_ckpt_writer_save_async(small, "big", &queued), GPOOL_CKPT_OK);
  EXPECT_EQ(queued, 0);
  ASSERT_EQ(gpool_ckpt_writer_close(small), GPOOL_CKPT_OK);

  ASSERT_EQ(gpool_ckpt_writer_wait(w), GPOOL_CKPT_OK) << gpool_ckpt_last_error();
  gpool_ckpt_checkpoint* c = Load(root, "step-7");  // the default name
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(TensorBytes(c, "w"), at_save);
  gpool_ckpt_checkpoint_free(c);
  // The begun checkpoint ended with the save: nothing to save again.
  EXPECT_EQ(gpool_ckpt_writer_save(w, nullptr), GPOOL_CKPT_INVALID_ARGUMENT);
  EXPECT_NE(std::string(gpool_ckpt_last_error()).find("gpool_ckpt_writer_begin"),
            std::string::npos);
  ASSERT_EQ(gpool_ckpt_writer_close(w), GPOOL_CKPT_OK);
}

// The code of `rc` and a message containing every one of `words`.
void ExpectError(int rc, int code, const std::vector<std::string>& words) {
  EXPECT_EQ(rc, code) << gpool_ckpt_status_name(rc) << ": " << gpool_ckpt_last_error();
  const std::string message = gpool_ckpt_last_error();
  for (const std::string& word : words) {
    EXPECT_NE(message.find(word), std::string::npos) << "'" << word << "' not in: " << message;
  }
}

TEST(CApi, BadInputAndUnknownCheckpointsAreCodesWithMessages) {
  gpool::test::TempDir dir("gpool-capi");
  const std::string root = dir.File("store");
  gpool_ckpt_writer* w = nullptr;
  ASSERT_EQ(gpool_ckpt_writer_open(root.c_str(), 0, 0, &w), GPOOL_CKPT_OK);
  const float data[6] = {1, 2, 3, 4, 5, 6};
  const int64_t shape[2] = {2, 3};
  const int64_t negative[2] = {2, -3};

  ExpectError(gpool_ckpt_writer_add_tensor(w, "w", "f32", 2, shape, data, sizeof data),
              GPOOL_CKPT_INVALID_ARGUMENT, {"gpool_ckpt_writer_begin"});
  ASSERT_EQ(gpool_ckpt_writer_begin(w, 1, 0, ""), GPOOL_CKPT_OK);
  ExpectError(gpool_ckpt_writer_add_tensor(w, "w", "f128", 2, shape, data, sizeof data),
              GPOOL_CKPT_INVALID_ARGUMENT, {"'w'", "unknown dtype 'f128'"});
  // [2, 3] of f32 is 6 * 4 = 24 bytes, not 20.
  ExpectError(gpool_ckpt_writer_add_tensor(w, "w", "f32", 2, shape, data, 20),
              GPOOL_CKPT_INVALID_ARGUMENT, {"'w'", "[2, 3]", "24 bytes", "nbytes is 20"});
  ExpectError(gpool_ckpt_writer_add_tensor(w, "w", "f32", 2, negative, data, sizeof data),
              GPOOL_CKPT_INVALID_ARGUMENT, {"'w'", "dimension 1 is -3"});
  ExpectError(gpool_ckpt_writer_add_tensor(w, "w", "f32", 65, shape, data, sizeof data),
              GPOOL_CKPT_INVALID_ARGUMENT, {"'w'", "ndim 65"});
  ExpectError(gpool_ckpt_writer_add_tensor(w, "w", "f32", 2, nullptr, data, sizeof data),
              GPOOL_CKPT_INVALID_ARGUMENT, {"'w'", "shape is NULL"});
  ExpectError(gpool_ckpt_writer_add_tensor(w, "w", "f32", 2, shape, nullptr, sizeof data),
              GPOOL_CKPT_INVALID_ARGUMENT, {"'w'", "data is NULL"});
  ExpectError(gpool_ckpt_writer_add_tensor(w, "", "f32", 2, shape, data, sizeof data),
              GPOOL_CKPT_INVALID_ARGUMENT, {"empty"});
  ASSERT_EQ(gpool_ckpt_writer_add_tensor(w, "w", "f32", 2, shape, data, sizeof data),
            GPOOL_CKPT_OK);
  EXPECT_STREQ(gpool_ckpt_last_error(), "");  // a success resets the message
  ExpectError(gpool_ckpt_writer_add_tensor(w, "w", "f32", 2, shape, data, sizeof data),
              GPOOL_CKPT_INVALID_ARGUMENT, {"'w'", "already added"});
  ExpectError(gpool_ckpt_writer_set_extra(w, "bad", "\xff\xfe"), GPOOL_CKPT_INVALID_ARGUMENT,
              {"'bad'", "UTF-8"});
  ExpectError(gpool_ckpt_writer_save(w, "no/slash"), GPOOL_CKPT_INVALID_ARGUMENT, {"no/slash"});
  ExpectError(gpool_ckpt_writer_open(nullptr, 0, 0, &w), GPOOL_CKPT_INVALID_ARGUMENT, {"root"});
  gpool_ckpt_writer* bad_level = nullptr;
  EXPECT_EQ(gpool_ckpt_writer_open(dir.File("other").c_str(), 0, 9, &bad_level),
            GPOOL_CKPT_INVALID_ARGUMENT);
  EXPECT_EQ(bad_level, nullptr);  // out-parameters are written only on success
  ASSERT_EQ(gpool_ckpt_writer_close(w), GPOOL_CKPT_OK);

  gpool_ckpt_store* store = nullptr;
  ExpectError(gpool_ckpt_store_open(dir.File("absent").c_str(), &store), GPOOL_CKPT_NOT_FOUND,
              {"absent"});
  ASSERT_EQ(gpool_ckpt_store_open(root.c_str(), &store), GPOOL_CKPT_OK);
  gpool_ckpt_checkpoint* c = nullptr;
  ExpectError(gpool_ckpt_store_load(store, nullptr, &c), GPOOL_CKPT_NOT_FOUND,
              {"no checkpoint published yet"});
  ExpectError(gpool_ckpt_store_load(store, "step-404", &c), GPOOL_CKPT_NOT_FOUND, {"step-404"});
  EXPECT_EQ(c, nullptr);
  gpool_ckpt_store_close(store);
  EXPECT_STREQ(gpool_ckpt_status_name(GPOOL_CKPT_NOT_FOUND), "not found");
  EXPECT_STREQ(gpool_ckpt_status_name(42), "unknown");
}

// A chunk file copied over another of the same size: whole and undamaged, so a load (content
// checksums) takes it; gpool_ckpt_store_verify (SHA-256) names the tensor.
TEST(CApi, VerifyChecksEverySha256) {
  gpool::test::TempDir dir("gpool-capi");
  const std::string root = dir.File("store");
  gpool_ckpt_writer* w = nullptr;
  ASSERT_EQ(gpool_ckpt_writer_open(root.c_str(), 0, 0, &w), GPOOL_CKPT_OK);
  const std::vector<Input> inputs = {{"a", "f32", {256}, test::NormalF32(256, 1)},
                                     {"b", "f32", {256}, test::NormalF32(256, 2)}};
  ASSERT_EQ(gpool_ckpt_writer_begin(w, 1, 0, ""), GPOOL_CKPT_OK);
  ASSERT_EQ(AddAll(w, inputs), GPOOL_CKPT_OK);
  ASSERT_EQ(gpool_ckpt_writer_save(w, nullptr), GPOOL_CKPT_OK) << gpool_ckpt_last_error();
  ASSERT_EQ(gpool_ckpt_writer_close(w), GPOOL_CKPT_OK);

  gpool_ckpt_store* store = nullptr;
  ASSERT_EQ(gpool_ckpt_store_open(root.c_str(), &store), GPOOL_CKPT_OK);
  EXPECT_EQ(gpool_ckpt_store_verify(store, nullptr), GPOOL_CKPT_OK) << gpool_ckpt_last_error();
  ExpectError(gpool_ckpt_store_verify(store, "step-404"), GPOOL_CKPT_NOT_FOUND, {"step-404"});

  // Where the two tensors' single chunks are (the C ABI does not expose manifests).
  Result<CheckpointStore> cpp = CheckpointStore::OpenExisting(root);
  ASSERT_TRUE(cpp.ok());
  Result<CheckpointManifest> m = cpp->ReadManifest("latest");
  ASSERT_TRUE(m.ok());
  const auto chunk_file = [&](std::size_t t) {
    const std::string& h = m->tensors[t].chunks[0].hash;
    return std::filesystem::path(root) / "chunks" / h.substr(0, 2) / h;
  };
  std::filesystem::copy_file(chunk_file(0), chunk_file(1),
                             std::filesystem::copy_options::overwrite_existing);

  gpool_ckpt_checkpoint* c = nullptr;
  ASSERT_EQ(gpool_ckpt_store_load(store, nullptr, &c), GPOOL_CKPT_OK);  // the checksum holds
  EXPECT_EQ(TensorBytes(c, "b"), inputs[0].bytes);
  gpool_ckpt_checkpoint_free(c);
  ExpectError(gpool_ckpt_store_verify(store, nullptr), GPOOL_CKPT_INTERNAL,
              {"tensor 'b' chunk 0", "sha-256 mismatch"});
  EXPECT_EQ(gpool_ckpt_store_verify(nullptr, nullptr), GPOOL_CKPT_INVALID_ARGUMENT);
  gpool_ckpt_store_close(store);
}

TEST(CApi, HandlerSetsTheRequestFlag) {
  ExpectError(gpool_ckpt_install_checkpoint_handler(SIGKILL), GPOOL_CKPT_INVALID_ARGUMENT,
              {"cannot be caught"});
  ASSERT_EQ(gpool_ckpt_install_checkpoint_handler(SIGUSR1), GPOOL_CKPT_OK);
  gpool_ckpt_clear_checkpoint_request();
  EXPECT_EQ(gpool_ckpt_checkpoint_requested(), 0);
  ASSERT_EQ(std::raise(SIGUSR1), 0);  // the handler runs before raise returns
  EXPECT_EQ(gpool_ckpt_checkpoint_requested(), 1);
  gpool_ckpt_clear_checkpoint_request();
  EXPECT_EQ(gpool_ckpt_checkpoint_requested(), 0);
  gpool_ckpt_request_checkpoint();
  EXPECT_EQ(gpool_ckpt_checkpoint_requested(), 1);
  gpool_ckpt_clear_checkpoint_request();
  std::signal(SIGUSR1, SIG_DFL);  // leave the process as other tests expect it
}

}  // namespace
}  // namespace gpool::ckpt
