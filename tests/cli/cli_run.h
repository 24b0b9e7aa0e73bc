// Runs the real `gpool` binary (GPOOL_BINARY) through /bin/sh and captures what it printed.
#pragma once

#include <stdio.h>
#include <sys/wait.h>

#include <string>

namespace gpool::test {

struct CliRun {
  int exit_code;       // -1 if it did not exit normally
  std::string output;  // stdout and stderr
};

// `env` is prepended to the command line ("HOME=/tmp/x GPOOL_TOKEN=t"), `args` appended.
inline CliRun RunGpoolEnv(const std::string& env, const std::string& args) {
  const std::string cmd = env + " " + std::string(GPOOL_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (p != nullptr && fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = p != nullptr ? pclose(p) : -1;
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

inline CliRun RunGpool(const std::string& args) { return RunGpoolEnv("", args); }

}  // namespace gpool::test
