#include <cstdio>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "gpool: one pool for the GPUs you own (whole, MIG and shared slices, tenants, moves)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "gpool 0.1.0");
  int exit_code = 0;
  gpool::cli::AddSimCommand(app, &exit_code);
  gpool::cli::AddPoolCommands(app, &exit_code);
  gpool::cli::AddCkptCommands(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; any usage error exits 2, like every other bad input.
    return app.exit(e) == 0 ? 0 : 2;
  }
  return exit_code;
}
