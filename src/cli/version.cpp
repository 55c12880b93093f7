// `replay version`: build facts that matter when comparing runs.
#include <cstdio>

#include "cli/command.h"

namespace {
void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("version", "Print the version of replay");
  cmd->callback([] { std::printf("replay 0.1.0\n"); });
}
}  // namespace

REPLAY_COMMAND(100, setup);
