// `replay train run.toml`: resolve the run config, then train (or resume).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "dist/communicator.h"
#include "dist/world.h"
#include "run/run_config.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/stop_signals.h"

namespace {

struct TrainArgs {
  std::string config;
  std::string resume = "auto";
  std::vector<std::string> overrides;
  bool print_config = false;
  std::vector<int64_t> publish_prefix_at;
  int64_t branch_at = 0;
  int64_t dist_timeout_s = replay::dist::kDefaultTimeout.count();
};

// Data parallel when a launcher says so (dist/world.h): every rank logs who
// it is, then joins the process group; a world of one gets none. The run's
// device picks the backend (dist/communicator.h: NCCL for CUDA where built).
std::unique_ptr<replay::dist::Communicator> join_world(const TrainArgs& args, const replay::run::RunConfig& config) {
  const replay::dist::World world = replay::dist::resolve_world();
  if (world.launcher != "none") std::fprintf(stderr, "replay train: %s\n", world.describe().c_str());
  if (!world.distributed()) return nullptr;
  if (args.dist_timeout_s < 1) throw replay::Error("--dist-timeout must be at least 1 second");
  auto comm = std::make_unique<replay::dist::Communicator>(world, std::chrono::seconds(args.dist_timeout_s),
                                                           torch::Device(config.settings.device).type());
  if (world.is_rank0())
    std::fprintf(stderr, "replay train: gradients all-reduced with %s (device %s)\n", comm->backend(),
                 config.settings.device.c_str());
  return comm;
}

void run(const TrainArgs& args) {
  replay::run::RunConfig config = replay::run::load_run_config(args.config, args.overrides);
  if (args.print_config) {
    std::printf("%s\n", config.config_file().dump(2).c_str());
    return;
  }
  replay::train::TrainOptions options;
  options.resume = args.resume == "never" ? replay::train::ResumeMode::never
                                          : replay::train::ResumeMode::automatic;
  options.publish_prefix_at = {args.publish_prefix_at.begin(), args.publish_prefix_at.end()};
  options.branch_at = args.branch_at;
  // SIGTERM, SIGINT, SIGHUP: stop after the step in progress, with a checkpoint.
  options.stop_signal = &replay::install_stop_handlers();
  const auto comm = join_world(args, config);
  options.comm = comm.get();
  auto result = replay::train::train(config, options);
  if (comm && !comm->world().is_rank0()) return;  // rank 0 reports
  // A rerun of a finished run computes nothing: say so rather than "done".
  const char* what = result.steps_run == 0 && result.steps > 0 ? "already complete" : "done";
  std::string line = std::string(what) + ": " + std::to_string(result.steps) + " steps";
  for (const auto& [name, loss] : result.final_eval) {
    char buf[96];
    std::snprintf(buf, sizeof buf, ", val %s %.4f", name.c_str(), loss);
    line += buf;
  }
  std::fprintf(stderr, "%s (%s)\n", line.c_str(), config.settings.out.c_str());
}

void setup(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand(
      "train",
      "Train a model as described by a run config (TOML): model, data sources, schedule, "
      "optimizer, evaluation and checkpoints. Writes metrics.jsonl, config.json and "
      "checkpoints/ into the run's `out` directory and resumes from its newest good checkpoint.");
  cmd->add_option("config", args->config, "Run config (TOML); configs/micro/base.toml is a complete, commented example")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--resume", args->resume,
                  "auto: continue from the newest good checkpoint of `out` if there is one "
                  "(default); never: start over, deleting the run's checkpoints and metrics")
      ->check(CLI::IsMember({"auto", "never"}));
  cmd->add_option("--set", args->overrides,
                  "Override any config key, e.g. --set train.steps=10 --set optim.lr=1e-3 "
                  "--set model.preset=tiny (repeatable; values parsed as TOML, else strings)")
      ->allow_extra_args(false);
  cmd->add_flag("--print-config", args->print_config,
                "Print the resolved config (defaults filled in) and its content hash, then exit");
  cmd->add_option("--publish-prefix", args->publish_prefix_at,
                  "Prefix sharing (used by `replay sweep`): after each of these steps, publish the "
                  "training state to the shared cache for runs whose first steps are identical")
      ->allow_extra_args(false);
  cmd->add_option("--branch-at", args->branch_at,
                  "Prefix sharing: on a fresh start, begin from the state another run published "
                  "after this many identical steps (trains from scratch if there is none)");
  cmd->add_option("--dist-timeout", args->dist_timeout_s,
                  "Data parallel (under `replay launch`, torchrun or srun; docs/distributed.md): seconds a "
                  "rank waits in a collective for the others before it stops with an error")
      ->capture_default_str();
  cmd->callback([args] { run(*args); });
}

}  // namespace

REPLAY_COMMAND(50, setup);
