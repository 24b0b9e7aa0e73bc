// `gpool server` and the user commands, as real processes on loopback: the server is started on a
// free port with a fresh data directory, the CLI talks to it over HTTP, and the server is stopped
// with SIGTERM and started again on the same data to show that state survives.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli_run.h"

namespace {

namespace fs = std::filesystem;

using gpool::test::CliRun;
// RunGpool(env, args) here: every call of this file sets the environment.
constexpr auto RunGpool = gpool::test::RunGpoolEnv;

// A `gpool server` child process; its first stdout line gives the URL.
class ServerProcess {
 public:
  explicit ServerProcess(const fs::path& data) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDOUT_FILENO);
      close(fds[0]);
      close(fds[1]);
      const std::string dir = data.string();
      execl(GPOOL_BINARY, GPOOL_BINARY, "server", "--data-dir", dir.c_str(), "--listen",
            "127.0.0.1:0", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    out_ = fdopen(fds[0], "r");
    char line[512];
    if (fgets(line, sizeof line, out_) != nullptr) {
      const std::string l = line;
      const auto at = l.find("http://");
      if (at != std::string::npos) url_ = l.substr(at, l.find(',', at) - at);
    }
    // The second line says whether the admin token was created now.
    if (fgets(line, sizeof line, out_) != nullptr)
      created_token_ = std::string(line).find("created now") != std::string::npos;
  }
  ~ServerProcess() { Stop(); }

  // SIGTERM, then the exit status (0 expected).
  int Stop() {
    if (pid_ <= 0) return exit_code_;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    if (out_ != nullptr) fclose(out_);
    out_ = nullptr;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return exit_code_;
  }
  const std::string& url() const { return url_; }
  bool created_token() const { return created_token_; }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  std::string url_;
  bool created_token_ = false;
  int exit_code_ = -1;
};

class PoolCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("gpool-pool-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Env(const ServerProcess& s, const std::string& token) const {
    // HOME points at the test's folder, so no ~/.gpool/config of the machine is read.
    return "HOME=" + dir_.string() + " GPOOL_SERVER=" + s.url() + " GPOOL_TOKEN=" + token;
  }
  std::string AdminToken() const {
    std::ifstream in(dir_ / "data" / "admin.token");
    std::string t;
    in >> t;
    return t;
  }
  fs::path dir_;
};

TEST_F(PoolCli, SubmitListShowCancelAcrossARestart) {
  ServerProcess server(dir_ / "data");
  ASSERT_FALSE(server.url().empty());
  EXPECT_TRUE(server.created_token());
  const auto perms = fs::status(dir_ / "data" / "admin.token").permissions();
  EXPECT_EQ(perms & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  const std::string admin = AdminToken();
  ASSERT_EQ(admin.size(), 64u);

  CliRun r = RunGpool(Env(server, admin), "tenant create vision --guaranteed 4 --borrow 8 -o json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string vision = nlohmann::json::parse(r.output)["token"];

  // The tenant submits; the spec's tenant is filled in from its token.
  const std::string spec = (fs::path(GPOOL_SOURCE_DIR) / "examples" / "hello.yaml").string();
  r = RunGpool(Env(server, vision), "submit " + spec);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("submitted hello as workload 1 (tenant vision)"), std::string::npos)
      << r.output;
  r = RunGpool(Env(server, vision), "ps");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("hello"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("pending"), std::string::npos) << r.output;

  // Another tenant sees nothing of it.
  r = RunGpool(Env(server, admin), "tenant create audio -o json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string audio = nlohmann::json::parse(r.output)["token"];
  r = RunGpool(Env(server, audio), "ps -o json");
  EXPECT_EQ(nlohmann::json::parse(r.output).size(), 0u) << r.output;
  r = RunGpool(Env(server, audio), "cancel 1");
  EXPECT_NE(r.exit_code, 0) << r.output;

  // State survives a restart; the admin token is not created again.
  EXPECT_EQ(server.Stop(), 0);
  ServerProcess again(dir_ / "data");
  ASSERT_FALSE(again.url().empty());
  EXPECT_FALSE(again.created_token());
  EXPECT_EQ(AdminToken(), admin);
  r = RunGpool(Env(again, vision), "show 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(r.output)["state"], "pending");
  r = RunGpool(Env(again, vision), "cancel 1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = RunGpool(Env(again, admin), "ps -o json --state cancelled");
  const auto list = nlohmann::json::parse(r.output);
  ASSERT_EQ(list.size(), 1u) << r.output;
  EXPECT_EQ(list[0]["tenant"], "vision");
}

TEST_F(PoolCli, TheServersLoopBindsWorkToARegisteredNode) {
  // An agent's calls made by hand: register a node with 2 simulated H100s; the server's
  // reconcile loop assigns the submitted job to it, and the node's heartbeat carries it.
  ServerProcess server(dir_ / "data");
  ASSERT_FALSE(server.url().empty());
  const std::string admin = AdminToken();
  httplib::Client agent(server.url());
  const httplib::Headers auth = {{"Authorization", "Bearer " + admin}};
  auto reg = agent.Post("/v1/nodes", auth,
                        R"({"name":"n1","cpu_milli":8000,"memory_mib":16384,"gpus":2,)"
                        R"("model":"H100-80GB","simulated":true})",
                        "application/json");
  ASSERT_TRUE(reg);
  ASSERT_EQ(reg->status, 200) << reg->body;
  CliRun r = RunGpool(Env(server, admin), "tenant create vision -o json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string vision = nlohmann::json::parse(r.output)["token"];
  std::ofstream(dir_ / "gpu.yaml") << "name: train\ncommand: [sleep, '1']\nresources: {gpus: 2}\n";
  r = RunGpool(Env(server, vision), "submit " + (dir_ / "gpu.yaml").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The loop runs on every store change; poll the heartbeat (bounded) until the job shows up.
  nlohmann::json assignments;
  for (int i = 0; i < 100 && assignments.empty(); ++i) {
    auto hb = agent.Post("/v1/nodes/n1/heartbeat", auth, "", "application/json");
    ASSERT_TRUE(hb);
    assignments = nlohmann::json::parse(hb->body)["assignments"];
    if (assignments.empty()) usleep(50 * 1000);
  }
  ASSERT_EQ(assignments.size(), 1u);
  EXPECT_EQ(assignments[0]["bindings"][0]["slices"].size(), 2u);
  r = RunGpool(Env(server, admin), "ps");
  EXPECT_NE(r.output.find("assigned"), std::string::npos) << r.output;
  r = RunGpool(Env(server, admin), "nodes");
  EXPECT_NE(r.output.find("(simulated devices)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("H100-80GB"), std::string::npos) << r.output;
}

TEST_F(PoolCli, UpRunsAJobToCompletionOnSimulatedDevices) {
  // `gpool up` with HOME in the test's folder: server + local agent (8 simulated H100s), config
  // written for the CLI; the hello example runs for real and succeeds.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const std::string home = dir_.string();
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    setenv("HOME", home.c_str(), 1);
    execl(GPOOL_BINARY, GPOOL_BINARY, "up", "--listen", "127.0.0.1:0", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  FILE* out = fdopen(fds[0], "r");
  char line[1024];
  bool ready = false, simulated = false;
  while (!(ready && simulated) && fgets(line, sizeof line, out) != nullptr) {
    const std::string l = line;
    ready = ready || l.find("gpool up: ready at") != std::string::npos;
    simulated = simulated || l.find("SIMULATED devices") != std::string::npos;
  }
  ASSERT_TRUE(ready && simulated);
  const std::string env = "HOME=" + home + " GPOOL_SERVER= GPOOL_TOKEN=";
  const std::string spec = (fs::path(GPOOL_SOURCE_DIR) / "examples" / "hello.yaml").string();
  CliRun r = RunGpool(env, "submit " + spec);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("(tenant default)"), std::string::npos) << r.output;
  std::string state;
  for (int i = 0; i < 200 && state != "succeeded" && state != "failed"; ++i) {
    r = RunGpool(env, "show 1");
    state = nlohmann::json::parse(r.output).value("state", "");
    if (state != "succeeded") usleep(50 * 1000);
  }
  EXPECT_EQ(state, "succeeded") << r.output;
  std::ifstream log(dir_ / ".gpool" / "agent" / "logs" / "1.out");
  std::string text;
  std::getline(log, text);
  EXPECT_EQ(text.rfind("hello from ", 0), 0u) << text;
  r = RunGpool(env, "nodes");
  EXPECT_NE(r.output.find("(simulated devices)"), std::string::npos) << r.output;
  // The output through the server, as a user on another machine would read it.
  r = RunGpool(env, "logs 1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("hello from ", 0), 0u) << r.output;
  r = RunGpool(env, "logs -f 1");  // the run is over: -f prints it and returns
  EXPECT_EQ(r.output.rfind("hello from ", 0), 0u) << r.output;
  r = RunGpool(env, "logs 7");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("workload 7 not found"), std::string::npos) << r.output;
  // A failing job's stderr, followed while it runs.
  const fs::path failing = dir_ / "fail.yaml";
  std::ofstream(failing) << "name: fail\ncommand: sleep 1; echo broken >&2; exit 3\n";
  ASSERT_EQ(RunGpool(env, "submit " + failing.string()).exit_code, 0);
  r = RunGpool(env, "logs -f --stderr 2");
  EXPECT_EQ(r.output, "broken\n");
  r = RunGpool(env, "show 2");
  EXPECT_EQ(nlohmann::json::parse(r.output).value("exit_code", 0), 3) << r.output;
  r = RunGpool(env, "top");
  EXPECT_NE(r.output.find("NODES   1 ready, 0 lost"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("succeeded 1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("failed 1"), std::string::npos) << r.output;
  r = RunGpool(env, "top -o json");
  const auto top = nlohmann::json::parse(r.output);
  EXPECT_EQ(top["gpus"]["total"], 8);
  EXPECT_EQ(top["tenants"][0]["name"], "default");
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  fclose(out);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_F(PoolCli, TheAgentFindsNvidiaGpusThroughNvmlOrFallsBackToSimulatedOnes) {
  // A fake libnvidia-ml.so.1 on the library path plays a node with 4 H100s.
  const fs::path libs = dir_ / "nvml";
  fs::create_directories(libs);
  fs::copy_file(GPOOL_FAKE_NVML, libs / "libnvidia-ml.so.1");
  const std::string agent = "agent --server http://127.0.0.1:1 --token x --name n1";
  const std::string env = "HOME=" + dir_.string() + " LD_LIBRARY_PATH=" + libs.string();
  CliRun r = RunGpool(env + " FAKE_NVML_DEVICES=4 timeout -s INT 2", agent);
  EXPECT_NE(r.output.find("node n1, 4 H100-80GB GPU(s), "), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("SIMULATED"), std::string::npos) << r.output;
  // A driver that is there but broken is an error, not a silent fallback.
  r = RunGpool(env + " FAKE_NVML_INIT_FAIL=1 timeout -s INT 2", agent);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("Driver Not Loaded"), std::string::npos) << r.output;
  // No NVML at all: 8 simulated H100s, and it says so.
  r = RunGpool("HOME=" + dir_.string() + " timeout -s INT 2", agent);
  EXPECT_NE(r.output.find("8 H100-80GB GPU(s) (SIMULATED devices"), std::string::npos) << r.output;
}

TEST_F(PoolCli, ClearErrors) {
  ServerProcess server(dir_ / "data");
  ASSERT_FALSE(server.url().empty());
  // A bad spec is refused before anything is sent, naming file and field: exit 2.
  std::ofstream(dir_ / "bad.yaml") << "name: a\ncommand: x\nresources: {gpus: {count: 0}}\n";
  CliRun r = RunGpool(Env(server, AdminToken()), "submit " + (dir_ / "bad.yaml").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("bad.yaml: resources.gpus.count: must be between 1 and 16, got 0"),
            std::string::npos)
      << r.output;
  // A wrong token: the server's message, exit 1.
  r = RunGpool(Env(server, "0123"), "ps");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("token"), std::string::npos) << r.output;
  // No server configured.
  r = RunGpool("HOME=" + dir_.string() + " GPOOL_SERVER= GPOOL_TOKEN=", "ps");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("no server"), std::string::npos) << r.output;
  // Nothing listening.
  r = RunGpool("HOME=" + dir_.string() + " GPOOL_SERVER=http://127.0.0.1:1 GPOOL_TOKEN=x", "ps");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("cannot reach the gpool server"), std::string::npos) << r.output;
  // The same data directory twice.
  r = RunGpool("", "server --data-dir " + (dir_ / "data").string() + " --listen 127.0.0.1:0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("another gpool server is using"), std::string::npos) << r.output;
  // A port in use.
  const std::string port = server.url().substr(server.url().rfind(':') + 1);
  r = RunGpool("",
               "server --data-dir " + (dir_ / "other").string() + " --listen 127.0.0.1:" + port);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("cannot listen on 127.0.0.1:" + port), std::string::npos) << r.output;
}

}  // namespace
