// CheckpointWriter: asynchronous saves copy before they return and stay within the staging
// bound, in order; failures are reported once; MaybeCheckpoint saves on a request — a real
// SIGUSR1 in a child process, which then exits with kCheckpointedExitCode.
#include "ckpt/checkpoint_writer.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "../temp_dir.h"
#include "ckpt/checkpoint_request.h"
#include "ckpt_test_data.h"

namespace gpool::ckpt {
namespace {

namespace fs = std::filesystem;

// A model of one f32 tensor whose bytes the test owns and changes.
struct Model {
  std::string weights;
  std::int64_t step = 0;
  CheckpointView View() const {
    return {{{"w", DType::kF32, {static_cast<std::int64_t>(weights.size() / 4)}, weights.data(),
              weights.size()}},
            {step, 0, "pos-" + std::to_string(step), {}}};
  }
};

TEST(CheckpointWriter, AsyncSaveCopiesBeforeReturningAndKeepsOrder) {
  gpool::test::TempDir dir("gpool-ckpt-writer");
  auto writer = CheckpointWriter::Open((dir.path() / "s").string(), {.staging_bytes = 1 << 20});
  ASSERT_TRUE(writer.ok()) << writer.status().message();
  Model m{test::RandomBytes(4096, 1)};
  std::vector<std::string> saved;
  for (m.step = 1; m.step <= 5; ++m.step) {
    auto queued = (*writer)->SaveAsync(m.View());
    ASSERT_TRUE(queued.ok()) << queued.status().message();
    EXPECT_TRUE(*queued);
    saved.push_back(m.weights);
    m.weights = test::RandomBytes(4096, 100 + m.step);  // the caller reuses its buffer at once
  }
  ASSERT_TRUE((*writer)->Wait().ok());
  EXPECT_EQ((*writer)->staging_in_use(), 0u);
  auto store = CheckpointStore::Open((dir.path() / "s").string());
  EXPECT_EQ(*store->Latest(), "step-5");
  for (int step = 1; step <= 5; ++step) {
    auto c = store->Load("step-" + std::to_string(step));
    ASSERT_TRUE(c.ok()) << c.status().message();
    EXPECT_EQ(c->tensors[0].bytes, saved[step - 1]) << "step " << step;
    EXPECT_EQ(c->metadata.loader_position, "pos-" + std::to_string(step));
  }
}

TEST(CheckpointWriter, StagingBoundIsNeverExceededAndBigCheckpointsSaveSynchronously) {
  gpool::test::TempDir dir("gpool-ckpt-writer");
  auto writer = CheckpointWriter::Open((dir.path() / "s").string(), {.staging_bytes = 10000});
  ASSERT_TRUE(writer.ok());
  EXPECT_EQ((*writer)->staging_bytes(), 10000u);
  Model m{test::RandomBytes(6000, 2)};
  for (m.step = 1; m.step <= 4; ++m.step) {
    auto queued = (*writer)->SaveAsync(m.View());  // two of these never fit together
    ASSERT_TRUE(queued.ok());
    EXPECT_TRUE(*queued);
    EXPECT_LE((*writer)->staging_in_use(), 10000u);
  }
  Model big{test::RandomBytes(12000, 3), 9};
  auto queued = (*writer)->SaveAsync(big.View());
  ASSERT_TRUE(queued.ok());
  EXPECT_FALSE(*queued);  // larger than the bound: saved before returning
  EXPECT_EQ(*(*writer)->store().Latest(), "step-9");
  ASSERT_TRUE((*writer)->last_report().has_value());
  EXPECT_EQ((*writer)->last_report()->bytes_total, 12000u);
}

TEST(CheckpointWriter, InvalidCheckpointIsRefusedBeforeQueueing) {
  gpool::test::TempDir dir("gpool-ckpt-writer");
  auto writer = CheckpointWriter::Open((dir.path() / "s").string(), {.staging_bytes = 1 << 20});
  ASSERT_TRUE(writer.ok());
  CheckpointView bad{{{"w", DType::kF32, {3}, "abcdefgh", 8}}, {}};  // 3 floats need 12 bytes
  auto r = (*writer)->SaveAsync(bad);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("tensor 'w'"), std::string::npos) << r.status().message();
  EXPECT_EQ((*writer)->staging_in_use(), 0u);
  CheckpointView fine{{{"w", DType::kU8, {4}, "abcd", 4}}, {}};
  auto bad_name = (*writer)->SaveAsync(fine, "run/../escape");
  EXPECT_EQ(bad_name.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_name.status().message().find("[A-Za-z0-9._-]"), std::string::npos);
  CheckpointView no_data{{{"w", DType::kU8, {4}, nullptr, 4}}, {}};
  EXPECT_FALSE((*writer)->Save(no_data).ok());
  EXPECT_TRUE((*writer)->Wait().ok());
}

TEST(CheckpointWriter, FailedAsyncSaveIsReportedOnce) {
  gpool::test::TempDir dir("gpool-ckpt-writer");
  const fs::path root = dir.path() / "s";
  auto writer = CheckpointWriter::Open(root.string(), {.staging_bytes = 1 << 20});
  ASSERT_TRUE(writer.ok());
  // Break the store under the writer: its chunks folder becomes a file.
  fs::remove_all(root / "chunks");
  std::ofstream(root / "chunks") << "not a folder";
  Model m{test::RandomBytes(512, 4), 7};
  ASSERT_TRUE((*writer)->SaveAsync(m.View()).ok());
  const Status failed = (*writer)->Wait();
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(failed.message().find("asynchronous save of 'step-7' failed"), std::string::npos)
      << failed.message();
  EXPECT_TRUE((*writer)->Wait().ok());  // reported once
}

TEST(CheckpointWriter, MaybeCheckpointSavesOnlyWhenAsked) {
  gpool::test::TempDir dir("gpool-ckpt-writer");
  auto writer = CheckpointWriter::Open((dir.path() / "s").string(), {.staging_bytes = 1 << 20});
  ASSERT_TRUE(writer.ok());
  ClearCheckpointRequest();
  Model m{test::RandomBytes(256, 5), 3};
  int calls = 0;
  const auto state = [&] {
    ++calls;
    return m.View();
  };
  auto r = (*writer)->MaybeCheckpoint(state);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  EXPECT_EQ(calls, 0);  // not even the state is built
  ASSERT_TRUE(InstallCheckpointRequestHandler(SIGUSR1).ok());
  ASSERT_EQ(::raise(SIGUSR1), 0);
  EXPECT_TRUE(CheckpointRequested());
  r = (*writer)->MaybeCheckpoint(state);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(*r);
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(CheckpointRequested());
  EXPECT_EQ(*(*writer)->store().Latest(), "step-3");
  EXPECT_EQ(InstallCheckpointRequestHandler(SIGKILL).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(InstallCheckpointRequestHandler(0).code(), StatusCode::kInvalidArgument);
  std::signal(SIGUSR1, SIG_DFL);
}

// The whole protocol in a real process: it trains until SIGUSR1, checkpoints at its next safe
// point and exits 75; its last step is the one in `latest`.
TEST(CheckpointWriter, SigusrOneInAChildCheckpointsAndExitsWithTheDistinctCode) {
  gpool::test::TempDir dir("gpool-ckpt-writer");
  const std::string root = (dir.path() / "s").string();
  const std::string steps_file = (dir.path() / "steps").string();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (!InstallCheckpointRequestHandler().ok()) ::_exit(10);
    auto writer = CheckpointWriter::Open(root, {.staging_bytes = 1 << 20});
    if (!writer.ok()) ::_exit(11);
    Model m{test::RandomBytes(1024, 6)};
    for (m.step = 1; m.step < 1000000; ++m.step) {
      m.weights[0] = static_cast<char>(m.step);  // "training"
      std::ofstream(steps_file) << m.step;       // the parent waits for progress
      auto done = (*writer)->MaybeCheckpoint([&] { return m.View(); });
      if (!done.ok()) ::_exit(12);
      if (*done) ::_exit(kCheckpointedExitCode);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ::_exit(13);
  }
  // Wait until the child is training, then ask for a checkpoint.
  for (int i = 0; i < 5000 && !fs::exists(steps_file); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_EQ(::kill(child, SIGUSR1), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), kCheckpointedExitCode);
  auto store = CheckpointStore::Open(root);
  auto latest = store->Load("latest");
  ASSERT_TRUE(latest.ok()) << latest.status().message();
  EXPECT_GT(latest->metadata.step, 0);
  EXPECT_EQ(latest->tensors[0].bytes[0], static_cast<char>(latest->metadata.step));
  EXPECT_EQ(store->List()->size(), 1u);  // one save, on request
}

}  // namespace
}  // namespace gpool::ckpt

namespace gpool::ckpt {
namespace {

// The manifest is JSON: text that is not UTF-8 is refused up front, by the caller's thread,
// instead of failing (or throwing) in the background saver.
TEST(CheckpointWriter, TextThatIsNotUtf8IsRefusedBeforeQueueing) {
  gpool::test::TempDir dir("gpool-ckpt-writer");
  auto writer = CheckpointWriter::Open((dir.path() / "s").string(), {.staging_bytes = 1 << 20});
  ASSERT_TRUE(writer.ok());
  const std::string bad = "w\xff\xfe";
  const char bytes[4] = {1, 2, 3, 4};
  CheckpointView name{{{bad, DType::kU8, {4}, bytes, 4}}, {}};
  EXPECT_EQ((*writer)->SaveAsync(name).status().code(), StatusCode::kInvalidArgument);
  CheckpointView position{{{"w", DType::kU8, {4}, bytes, 4}}, {1, 0, bad, {}}};
  auto r = (*writer)->SaveAsync(position);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("loader_position"), std::string::npos);
  CheckpointView extra{{{"w", DType::kU8, {4}, bytes, 4}}, {1, 0, "", {{"k", bad}}}};
  EXPECT_EQ((*writer)->Save(extra).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE((*writer)->Wait().ok());
  EXPECT_FALSE((*writer)->store().Latest().ok());
}

}  // namespace
}  // namespace gpool::ckpt
