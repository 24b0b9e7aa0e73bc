// `gpool ckpt serve|push|pull` through the real binary: a store is served by a `gpool ckpt
// serve` process on a free loopback port, a checkpoint is pushed to it and pulled into a third
// store, and only missing chunks move. The server process is stopped (and, if it hangs,
// killed) by an RAII guard, so none is left behind even when an assertion fails.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "../ckpt/ckpt_test_data.h"
#include "../temp_dir.h"
#include "ckpt/checkpoint_store.h"
#include "cli_run.h"

namespace gpool::ckpt {
namespace {

namespace fs = std::filesystem;
using ::gpool::test::RunGpool;
using nlohmann::json;
using test::MakeTensor;
using CliRun = ::gpool::test::CliRun;

// A `gpool ckpt serve` child process on 127.0.0.1 and a port the kernel picks; its first
// stdout line gives the URL.
class ServeProcess {
 public:
  ServeProcess(const std::string& store, const std::string& token_file) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test process
      dup2(fds[1], STDOUT_FILENO);
      close(fds[0]);
      close(fds[1]);
      if (token_file.empty()) {
        execl(GPOOL_BINARY, GPOOL_BINARY, "ckpt", "serve", "--store", store.c_str(), "--listen",
              "127.0.0.1:0", static_cast<char*>(nullptr));
      } else {
        execl(GPOOL_BINARY, GPOOL_BINARY, "ckpt", "serve", "--store", store.c_str(), "--listen",
              "127.0.0.1:0", "--token-file", token_file.c_str(), static_cast<char*>(nullptr));
      }
      _exit(127);
    }
    close(fds[1]);
    out_ = fdopen(fds[0], "r");
    char line[1024];
    if (out_ != nullptr && fgets(line, sizeof line, out_) != nullptr) {
      first_line_ = line;
      const auto at = first_line_.find("http://");
      if (at != std::string::npos)
        url_ = first_line_.substr(at, first_line_.find_first_of(" \n", at) - at);
    }
  }
  ~ServeProcess() { Stop(); }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  // SIGTERM, then the exit status (0 expected); SIGKILL after 10 s if it does not stop.
  int Stop() {
    if (pid_ <= 0) return exit_code_;
    kill(pid_, SIGTERM);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    pid_t done = 0;
    while ((done = waitpid(pid_, &status, WNOHANG)) == 0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (done == 0) {
      ADD_FAILURE() << "gpool ckpt serve did not stop on SIGTERM; killed";
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    pid_ = -1;
    if (out_ != nullptr) fclose(out_);
    out_ = nullptr;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return exit_code_;
  }
  const std::string& url() const { return url_; }
  const std::string& first_line() const { return first_line_; }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  std::string first_line_;
  std::string url_;
  int exit_code_ = -1;
};

// step-1: "w" f32[160] (10 chunks of 64 bytes) and "b" u8[100] (2 chunks): 12 distinct.
// step-2: "b" changed: 2 new chunks, 10 shared.
void SaveTwoSteps(const std::string& root) {
  auto store = CheckpointStore::Open(root, {.chunk_size = 64});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Checkpoint one{{MakeTensor("w", DType::kF32, {160}, 1), MakeTensor("b", DType::kU8, {100}, 2)},
                 {1, 0, "pos=1", {}}};
  ASSERT_TRUE(store->Save("step-1", one).ok());
  Checkpoint two = one;
  two.tensors[1] = MakeTensor("b", DType::kU8, {100}, 3);
  two.metadata.step = 2;
  ASSERT_TRUE(store->Save("step-2", two).ok());
}

json Json(const CliRun& r) {
  const json j = json::parse(r.output, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.output;
  return j;
}

TEST(CkptTransferCli, PushToAServerPullIntoAThirdStoreOnlyMissingChunksMove) {
  gpool::test::TempDir dir("gpool-ckpt-transfer-cli");
  const std::string a = dir.File("a"), b = dir.File("b"), c = dir.File("c");
  SaveTwoSteps(a);
  const std::string token = dir.File("token");
  std::ofstream(token) << "s3cret\n";
  ServeProcess server(b, token);  // b does not exist yet: serve creates it
  ASSERT_FALSE(server.url().empty()) << server.first_line();
  EXPECT_NE(server.first_line().find("(a new, empty store)"), std::string::npos);
  const std::string auth = " --token-file " + token;

  CliRun r =
      RunGpool("ckpt push step-1 --store " + a + " --to " + server.url() + auth + " -o json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json j = Json(r);
  EXPECT_EQ(j["name"], "step-1");
  EXPECT_EQ(j["chunks_total"], 12);
  EXPECT_EQ(j["chunks_sent"], 12);
  EXPECT_EQ(j["chunks_skipped"], 0);
  EXPECT_EQ(j["latest"], true);
  EXPECT_GT(j["bytes_sent"].get<std::uint64_t>(), 0u);

  // NAME defaults to latest (step-2): its 10 "w" chunks are there already.
  r = RunGpool("ckpt push --store " + a + " --to " + server.url() + auth + " -o json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  j = Json(r);
  EXPECT_EQ(j["name"], "step-2");
  EXPECT_EQ(j["chunks_sent"], 2);
  EXPECT_EQ(j["chunks_skipped"], 10);
  r = RunGpool("ckpt push --store " + a + " --to " + server.url() + auth + " -o json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Json(r)["chunks_sent"], 0);
  r = RunGpool("ckpt push --store " + a + " --to " + server.url() + auth);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("pushed step-2 to " + server.url() + ": 0 of 12 chunks sent"),
            std::string::npos)
      << r.output;

  // Pull into c, which does not exist yet: created, and step-2 becomes its latest.
  r = RunGpool("ckpt pull --from " + server.url() + " --store " + c + auth + " -o json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  j = Json(r);
  EXPECT_EQ(j["name"], "step-2");
  EXPECT_EQ(j["chunks_sent"], 12);
  EXPECT_EQ(j["latest"], true);
  r = RunGpool("ckpt pull step-1 --from " + server.url() + " --store " + c + auth + " -o json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  j = Json(r);
  EXPECT_EQ(j["chunks_sent"], 2);  // step-1's own "b" chunks
  EXPECT_EQ(j["chunks_skipped"], 10);
  EXPECT_EQ(j["latest"], false);  // c has a latest already

  r = RunGpool("ckpt verify --all --store " + c);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const std::string name : {"step-1", "step-2"}) {
    EXPECT_EQ(Json(RunGpool("ckpt show " + name + " -o json --store " + c)),
              Json(RunGpool("ckpt show " + name + " -o json --store " + a)))
        << name;
  }
  EXPECT_EQ(Json(RunGpool("ckpt ls -o json --store " + c))[1]["latest"], true);  // step-2

  // Failures: no token (401, the URL named), no such checkpoint (2), a bad URL (2), nothing
  // listening (1), no local store (2).
  r = RunGpool("ckpt push --store " + a + " --to " + server.url());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("401"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(server.url()), std::string::npos) << r.output;
  r = RunGpool("ckpt pull step-9 --from " + server.url() + " --store " + c + auth);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("step-9"), std::string::npos) << r.output;
  r = RunGpool("ckpt push --store " + a + " --to https://example.invalid:1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = RunGpool("ckpt push --store " + a + " --to 127.0.0.1:7070");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("looks like HOST:PORT"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists("127.0.0.1:7070"));
  r = RunGpool("ckpt push --store " + a + " --to http://127.0.0.1:1");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  r = RunGpool("ckpt push --store " + dir.File("nope") + " --to " + server.url() + auth);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_FALSE(fs::exists(dir.File("nope")));

  EXPECT_EQ(server.Stop(), 0);
}

TEST(CkptTransferCli, PushAndPullThroughASharedFolder) {
  gpool::test::TempDir dir("gpool-ckpt-transfer-dir");
  const std::string a = dir.File("a"), shared = dir.File("shared"), c = dir.File("c");
  SaveTwoSteps(a);
  CliRun r = RunGpool("ckpt push step-1 --store " + a + " --to " + shared + " -o json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Json(r)["chunks_sent"], 12);
  r = RunGpool("ckpt push step-2 --no-latest --store " + a + " --to " + shared + " -o json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Json(r)["chunks_sent"], 2);
  EXPECT_EQ(Json(r)["latest"], false);
  r = RunGpool("ckpt pull --from " + shared + " --store " + c + " -o json");  // latest: step-1
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Json(r)["name"], "step-1");
  r = RunGpool("ckpt pull step-2 --latest --from " + shared + " --store " + c + " -o json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Json(r)["latest"], true);
  EXPECT_EQ(RunGpool("ckpt verify --all --store " + c).exit_code, 0);
  r = RunGpool("ckpt pull --from " + dir.File("nope") + " --store " + c);
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

TEST(CkptTransferCli, ServeRefusesAnOpenAddressWithoutAToken) {
  gpool::test::TempDir dir("gpool-ckpt-transfer-serve");
  CliRun r = RunGpool("ckpt serve --store " + dir.File("s") + " --listen 0.0.0.0:0");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--token-file"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir.File("s")));
  r = RunGpool("ckpt serve --store " + dir.File("s") + " --listen nonsense");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = RunGpool("ckpt serve --store " + dir.File("s") + " --token-file " + dir.File("missing"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

}  // namespace
}  // namespace gpool::ckpt
