// `replay launch --nproc N [--port P] -- train run.toml ...`: N ranks of a
// replay command on this machine (dist/launch.h), for data-parallel training
// without torchrun. docs/distributed.md has the multi-node forms.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/options.h"
#include "dist/launch.h"
#include "util/error.h"
#include "util/interrupted.h"
#include "util/process.h"

namespace {

struct LaunchArgs {
  int nproc = 1;
  int port = replay::dist::kDefaultLaunchPort;
  std::string master_addr = "127.0.0.1";
  std::vector<std::string> command;
};

void run(const LaunchArgs& args) {
  replay::dist::LaunchOptions options;
  options.nproc = args.nproc;
  options.port = args.port;
  options.master_addr = args.master_addr;
  options.executable = replay::process::self_executable().string();
  options.args = args.command;
  const replay::dist::LaunchResult result = replay::dist::launch_local(options);
  if (result.failed_rank >= 0) throw replay::Error("replay launch: " + result.message);
  if (result.exit_code > 128) throw replay::Interrupted("replay launch: " + result.message, result.exit_code - 128);
}

void setup(CLI::App& app) {
  auto args = std::make_shared<LaunchArgs>();
  auto* cmd = app.add_subcommand(
      "launch",
      "Run N ranks of a replay command on this machine for data-parallel training: "
      "`replay launch --nproc 2 -- train run.toml`. Each rank gets RANK, WORLD_SIZE, LOCAL_RANK, "
      "MASTER_ADDR and MASTER_PORT; when one fails the others are stopped and the launch exits 1 "
      "naming it (docs/distributed.md).");
  cmd->add_option("--nproc", args->nproc, "Number of ranks (processes)")
      ->required()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--port", args->port, "TCP port of the rendezvous store on the master address")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--master-addr", args->master_addr, "Address the ranks meet at (this machine)")
      ->capture_default_str();
  cmd->add_option("command", args->command, "The replay command each rank runs, after `--` (e.g. train run.toml)")
      ->required();
  cmd->callback([args] { run(*args); });
}

}  // namespace

REPLAY_COMMAND(55, setup);
