// The gpool command line: one binary, one subcommand per role.
//
// Each Add*Command registers a subcommand on the CLI11 app; its callback runs the command and
// stores the process exit code in *exit_code (0 ok, 1 failed, 2 bad usage or input).
#pragma once

#include <CLI/CLI.hpp>

namespace gpool::cli {

void AddSimCommand(CLI::App& app, int* exit_code);
// gpool server, submit, ps, show, cancel, tenants, tenant create.
void AddPoolCommands(CLI::App& app, int* exit_code);
// gpool ckpt ls, show, verify, gc (checkpoint stores, src/ckpt).
void AddCkptCommands(CLI::App& app, int* exit_code);
// gpool ckpt serve, push, pull (moving checkpoints between stores over HTTP); called by
// AddCkptCommands with its `ckpt` subcommand.
void AddCkptTransferCommands(CLI::App* ckpt, int* exit_code);

}  // namespace gpool::cli
