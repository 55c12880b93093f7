// `replay version` (as `replay --version`): the version of replay.
#include <cstdio>

#include "cli/command.h"
#include "cli/options.h"

namespace {
void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("version", "Print the version of replay");
  cmd->callback([] { std::printf("replay %s\n", replay::cli::kVersion); });
}
}  // namespace

REPLAY_COMMAND(100, setup);
