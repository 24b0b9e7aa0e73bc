// Acceptance 1 of "Checkpoints that move": a process saving checkpoints in a loop is SIGKILLed
// at seeded random moments; after every kill `latest` loads, verifies, holds exactly the
// checkpoint of the step it names, and every chunk its manifest references exists.
//
// So that kills land at every stage of a save whatever the disk's speed, the saver writes one
// byte to a pipe after each published checkpoint; before a kill the parent reads a seeded 0-2 of
// them (a blocking read, not a timed wait) and then lets a seeded 0-60 ms pass (about one save
// with fsyncs here): a kill then falls before, inside or between saves, and `latest` must have
// moved at least as far as the saves the parent saw finish.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>

#include "../temp_dir.h"
#include "ckpt/checkpoint_store.h"
#include "ckpt_test_data.h"

namespace gpool::ckpt {
namespace {

namespace fs = std::filesystem;

constexpr int kTensors = 8;
constexpr std::int64_t kElements = 32 << 10;    // 128 KiB a tensor, 1 MiB a checkpoint
constexpr std::uint64_t kChunkSize = 64 << 10;  // 2 chunks a tensor

// The checkpoint of `step`, a pure function of it: tensor j changes every j + 1 steps, so each
// save writes a few new chunks and shares the rest with the one before.
Checkpoint StepCheckpoint(std::int64_t step) {
  Checkpoint c;
  for (int j = 0; j < kTensors; ++j) {
    const std::uint64_t seed = std::uint64_t(j) * 1000003 + std::uint64_t(step / (j + 1));
    Tensor t = test::MakeTensor("t" + std::to_string(j), j % 2 ? DType::kI32 : DType::kF32,
                                {kElements}, seed);
    c.tensors.push_back(std::move(t));
  }
  c.metadata = {step, step / 10, "pos=" + std::to_string(step), {{"kind", "crash-test"}}};
  return c;
}

[[noreturn]] void SaveForever(const std::string& root, std::int64_t first_step, int done_fd) {
  Result<CheckpointStore> store = CheckpointStore::Open(root, {.chunk_size = kChunkSize});
  if (!store.ok()) _exit(2);
  for (std::int64_t step = first_step;; ++step) {
    if (!store->Save("step-" + std::to_string(step), StepCheckpoint(step)).ok()) _exit(3);
    const char one = 1;
    if (::write(done_fd, &one, 1) != 1) _exit(4);
  }
}

TEST(CheckpointCrash, LatestSurvivesSigkillAtRandomMoments) {
  ::gpool::test::TempDir dir("gpool-ckpt-crash");
  const std::string root = dir.File("store");
  {
    Result<CheckpointStore> store = CheckpointStore::Open(root, {.chunk_size = kChunkSize});
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE(store->Save("step-0", StepCheckpoint(0)).ok());
  }
  Result<CheckpointStore> reader = CheckpointStore::Open(root, {.chunk_size = kChunkSize});
  ASSERT_TRUE(reader.ok());

  std::mt19937_64 rng(20261127);
  constexpr int kKills = 60;
  std::int64_t last_step = 0;
  int advanced = 0;
  for (int kill = 0; kill < kKills; ++kill) {
    int done[2];
    ASSERT_EQ(::pipe2(done, O_CLOEXEC), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(done[0]);
      SaveForever(root, last_step + 1, done[1]);
    }
    ::close(done[1]);
    const int wait_saves = static_cast<int>(rng() % 3);
    const auto delay_us = static_cast<useconds_t>(rng() % 60000);
    for (int i = 0; i < wait_saves; ++i) {
      char byte = 0;
      ASSERT_EQ(::read(done[0], &byte, 1), 1) << "the saver died by itself";
    }
    ::usleep(delay_us);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    ::close(done[0]);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(wstatus)) << "the saver exited by itself with " << wstatus;

    Result<CheckpointManifest> manifest = reader->ReadManifest("latest");
    ASSERT_TRUE(manifest.ok()) << "kill " << kill << ": " << manifest.status().ToString();
    for (const TensorEntry& t : manifest->tensors) {
      for (const ChunkRef& c : t.chunks) {
        ASSERT_TRUE(fs::exists(fs::path(root) / "chunks" / c.hash.substr(0, 2) / c.hash))
            << "kill " << kill << ": tensor " << t.name << " chunk " << c.hash;
      }
    }
    ASSERT_TRUE(reader->Verify("latest").ok()) << "kill " << kill;
    Result<Checkpoint> loaded = reader->Load("latest");
    ASSERT_TRUE(loaded.ok()) << "kill " << kill << ": " << loaded.status().ToString();
    const std::int64_t step = loaded->metadata.step;
    ASSERT_GE(step, last_step + wait_saves) << "kill " << kill << ": latest went back";
    ASSERT_EQ(manifest->name, "step-" + std::to_string(step));
    ASSERT_TRUE(*loaded == StepCheckpoint(step)) << "kill " << kill << " step " << step;
    advanced += step > last_step ? 1 : 0;
    last_step = step;
  }
  std::printf("%d kills, latest advanced after %d of them, last step %lld\n", kKills, advanced,
              static_cast<long long>(last_step));
  // About 2 in 3 kills wait for at least one finished save.
  EXPECT_GE(advanced, kKills / 3);

  // What the kills left behind (temp files, chunks of unpublished saves) goes with one gc.
  Result<GcReport> gc = reader->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  std::printf("gc: %llu chunks, %llu temp files removed\n",
              static_cast<unsigned long long>(gc->chunks_removed),
              static_cast<unsigned long long>(gc->temp_files_removed));
  EXPECT_TRUE(reader->Verify("latest").ok());
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    EXPECT_FALSE(e.path().filename().string().starts_with(".tmp-")) << e.path();
  }
}

}  // namespace
}  // namespace gpool::ckpt
