// Subcommands register themselves here, one file per subcommand in src/cli/.
// Each file ends with REPLAY_COMMAND(rank, setup): `rank` orders `--help`
// along the data flow (corpus 10, tasks 12, tokenizer 20, data 30, model 40, train 50,
// plan 60, sweep 70, runs 75, fit 80, report 90, serve 95; demo 5).
#pragma once
#include <CLI/CLI.hpp>

namespace replay::cli {

using SetupFn = void (*)(CLI::App& app);

struct Registrar {
  Registrar(int rank, SetupFn setup);
};

void setup_all(CLI::App& app);

}  // namespace replay::cli

#define REPLAY_CONCAT_INNER(a, b) a##b
#define REPLAY_CONCAT(a, b) REPLAY_CONCAT_INNER(a, b)
#define REPLAY_COMMAND(rank, setup) \
  static ::replay::cli::Registrar REPLAY_CONCAT(replay_registrar_, __LINE__)(rank, setup)
