// `replay sweep SWEEP.toml`: run every run of a sweep, recorded in the registry.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/options.h"
#include "run/run_config.h"
#include "sweep/runner.h"
#include "sweep/sweep_file.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/process.h"
#include "util/stop_signals.h"

namespace {

struct SweepArgs {
  std::string file;
  std::vector<std::string> overrides;
  replay::sweep::SweepOptions options;
  std::string registry;  // empty: <runs_dir>/registry.sqlite
  std::string runs_dir = replay::run::kDefaultRunsDir;
  bool no_share = false;
  bool list = false;
  int64_t seeds = 0;  // 0 = as the sweep file says
  std::string shard;  // "I/N": this worker's share; "" = every run
};

// "I/N" with 0 <= I < N (a Slurm array task: --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT);
// nothing for anything else.
std::optional<replay::sweep::Shard> parse_shard(const std::string& text) {
  const size_t slash = text.find('/');
  int index = -1, count = 0;
  try {
    size_t used_i = 0, used_n = 0;
    if (slash != std::string::npos) {
      index = std::stoi(text.substr(0, slash), &used_i);
      count = std::stoi(text.substr(slash + 1), &used_n);
    }
    if (slash == std::string::npos || used_i != slash || used_n != text.size() - slash - 1) index = -1;
  } catch (const std::exception&) {
    index = -1;
  }
  if (index < 0 || count < 1 || index >= count) return std::nullopt;
  return replay::sweep::Shard{index, count};
}

// A parse-time check (usage error, exit 2).
CLI::Validator shard_validator() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        return parse_shard(value) ? "" : "'" + value + "': expected I/N with 0 <= I < N, e.g. 0/4";
      },
      "I/N", "shard");
}

void run(SweepArgs& args) {
  auto spec = replay::sweep::load_sweep(args.file, args.overrides,
                                        args.seeds > 0 ? std::optional<int64_t>(args.seeds) : std::nullopt);
  if (!args.shard.empty()) args.options.shard = parse_shard(args.shard);  // checked by shard_validator
  if (args.list) {
    for (const auto& r : spec.runs) {
      // A share is decided by the run id, so listing one resolves every run (its stores must exist).
      if (args.options.shard &&
          !replay::sweep::in_shard(replay::run::load_run_config(spec.base, r.overrides).content_hash,
                                   *args.options.shard))
        continue;
      std::printf("%s", r.name.c_str());
      for (const auto& o : r.overrides) std::printf(" --set %s", o.c_str());
      std::printf("\n");
    }
    return;
  }
  // A worker of a sharded or claiming sweep keeps a registry of its own: never
  // one SQLite file written by several machines (docs/runs.md, "Sweeps over
  // many machines"). A claiming worker's is named by its host and pid, since
  // any number of them may run, several on one machine.
  if (args.registry.empty() && args.options.shard)
    args.registry = (std::filesystem::path(args.runs_dir) /
                     ("registry-shard-" + std::to_string(args.options.shard->index) + "-of-" +
                      std::to_string(args.options.shard->count) + ".sqlite"))
                        .string();
  if (args.registry.empty() && args.options.claim)
    args.registry = (std::filesystem::path(args.runs_dir) / ("registry-claim-" + replay::process::host_name() + "-" +
                                                             std::to_string(::getpid()) + ".sqlite"))
                        .string();
  if (args.registry.empty())
    args.registry = (std::filesystem::path(args.runs_dir) / replay::run::kRegistryFile).string();
  replay::fs::check_output_path(args.runs_dir, replay::fs::OutputKind::directory, replay::cli::kRunsFlag);
  replay::fs::check_output_path(args.registry, replay::fs::OutputKind::file, replay::cli::kDbFlag);
  args.options.registry = args.registry;
  args.options.runs_dir = args.runs_dir;
  args.options.share_prefixes = !args.no_share;
  // SIGTERM, SIGINT, SIGHUP: forwarded to the trainers, whose runs end `interrupted`.
  args.options.stop_signal = &replay::install_stop_handlers();
  auto summary = replay::sweep::run_sweep(spec, args.options);
  // Names and runs differ when several names resolve to one config.
  const std::string counted = summary.names == summary.runs
                                  ? std::to_string(summary.runs) + " runs"
                                  : std::to_string(summary.names) + " names, " + std::to_string(summary.runs) + " runs";
  const std::string by_others =
      args.options.claim ? ", " + std::to_string(summary.by_others) + " ended by other workers" : "";
  std::fprintf(stderr, "sweep %s: %s, %d done now, %d skipped (already done), %d done by another process%s, %d failed\n",
               spec.name.c_str(), counted.c_str(), summary.done, summary.skipped, summary.reused, by_others.c_str(),
               summary.failed);
  // A trainer stopped by a signal sent to it alone (not to the sweep): not a
  // failure, but the sweep is not complete either.
  if (summary.interrupted > 0 && summary.failed == 0)
    throw replay::Error(std::to_string(summary.interrupted) + " run(s) interrupted: rerun the sweep to resume them");
  if (summary.failed > 0) throw replay::Error(std::to_string(summary.failed) + " run(s) failed: see `replay runs --sweep " + spec.name + "`");
}

void setup(CLI::App& app) {
  auto args = std::make_shared<SweepArgs>();
  auto* cmd = app.add_subcommand(
      "sweep",
      "Run a sweep: a base run config plus groups of overrides (grid and zipped axes). Each run is "
      "content-addressed (runs/<hash>), recorded in the SQLite registry; finished runs are "
      "skipped, interrupted ones resume, and runs with identical first steps branch from one "
      "checkpoint. Names with identical configs are one run. SIGTERM/SIGINT/SIGHUP stop the trainers "
      "with a checkpoint (runs `interrupted`; rerun to resume).");
  cmd->add_option("sweep", args->file, "Sweep file (TOML), e.g. configs/micro/mid_training.toml")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--set", args->overrides, "Override a key in every run (as `replay train --set`)")
      ->allow_extra_args(false);
  cmd->add_option("--seeds", args->seeds,
                  "Repeat every run once per seed 1..N (replaces the file's `seeds`; the file's `vary` says which "
                  "seed streams change, default init and data)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  cmd->add_option("-j,--jobs", args->options.jobs, "Runs in parallel (processes); cores are divided between them")
      ->capture_default_str();
  cmd->add_option("--threads", args->options.threads, "Cores to use in all (0: all of this machine's)")
      ->capture_default_str();
  replay::cli::add_db_option(cmd, args->registry);
  replay::cli::add_runs_option(cmd, args->runs_dir);
  // The spellings before docs/cli.md; kept for existing scripts.
  replay::cli::add_deprecated_alias(cmd, "--registry", args->registry, replay::cli::kDbFlag);
  replay::cli::add_deprecated_alias(cmd, "--runs-dir", args->runs_dir, replay::cli::kRunsFlag);
  cmd->add_flag("--no-share-prefixes", args->no_share, "Train every run from scratch");
  auto* shard = cmd->add_option("--shard", args->shard,
                  "I/N: train only share I of N of the runs (by run id; for N workers, e.g. a Slurm job array), "
                  "registered in a registry of this worker's own (default <runs>/registry-shard-I-of-N.sqlite); "
                  "`replay runs rebuild` merges the run folders into one registry afterwards")
      ->check(shard_validator());
  auto* claim = cmd->add_flag(
      "--claim", args->options.claim,
      "Claim runs one at a time (for N workers sharing the runs folder: whoever is free takes the next run), "
      "with a registry of this worker's own (default <runs>/registry-claim-HOST-PID.sqlite); exclusive with --shard");
  claim->excludes(shard);
  cmd->add_option("--claim-timeout", args->options.claim_timeout_s,
                  "Seconds after which a claim its worker stopped refreshing is taken over by another (a worker gone "
                  "on this machine is replaced at once)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber)
      ->needs(claim);
  cmd->add_option("--prefix-wait", args->options.prefix_wait_s,
                  "Seconds a run waits for a prefix another worker's run publishes before training from scratch "
                  "(the same numbers either way)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--list", args->list,
                "Print the runs of the sweep and their overrides, then exit (with --shard: that share's runs)");
  cmd->callback([args] { run(*args); });
}

}  // namespace

REPLAY_COMMAND(70, setup);
