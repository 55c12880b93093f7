// Runs a sweep: every run of a SweepSpec as its own `replay train` process,
// recorded in the SQLite registry. Finished runs are skipped, interrupted
// ones resume from their checkpoints, failures are recorded and do not stop
// the others, and runs whose first steps are identical branch from one
// published checkpoint instead of recomputing them (run/state_key.h).
//
// Every run is resolved before anything is written: one bad config refuses
// the sweep with the registry untouched; then all runs are added in one
// transaction. Names whose configs resolve to the same content hash are one
// run (one folder, one trainer) with several names (registry aliases).
//
// One trainer per run folder, also across sweeps: a run whose folder lock
// (run/layout.h kLockFile) another process holds is waited for ("being
// computed by PID N, waiting") and reused if that process finished it;
// otherwise it is trained (resumed) once the folder is free.
//
// A stop (options.stop_signal: SIGTERM, SIGINT, SIGHUP) is forwarded to the
// running trainers, which save a checkpoint; their runs are recorded
// `interrupted` and run_sweep throws replay::Interrupted (exit 128 + signal).
// Trainers run in their own process group (a Ctrl-C reaches them once,
// through the sweep) and die with the sweep (PR_SET_PDEATHSIG).
//
// On options.console: a "[n/N] start NAME -> DIR" line when a trainer starts,
// a "[n/N] done NAME in 1m04s; sweep elapsed 3m12s, ETA 2m08s" line when it
// ends (or "interrupted", "FAILED"), and meanwhile, about once a second, one
// progress line per running run (sweep/progress.h: step/total, last loss,
// the run's ETA, the sweep's ETA, its train.log). With --jobs N, one line per
// running run, in start order. On a terminal the lines are redrawn in place;
// otherwise a run's line is printed when its first step is seen and then at
// most every 10 s. Durations are util/duration.h's.
//
// Many workers (docs/runs.md, "Sweeps over many machines"). With
// options.shard = {i, n}, this process trains only the runs whose id falls in
// share i of n (in_shard: the run id alone decides, so every worker agrees
// without talking to the others and the shares do not depend on the order of
// the sweep file), and registers only those. Every worker plans prefix sharing
// over the whole sweep, the same way: a run whose parent belongs to another
// share waits for that parent's published state (<runs>/_shared/<key>, the
// only thing the workers share besides run folders) for at most
// options.prefix_wait_s, then branches from it, or trains from scratch if it
// has not appeared: bit-identical results either way (run/state_key.h).
// Every worker writes each of its runs' membership and outcome into the run
// folder (sweep/run_record.h), so `replay runs rebuild` can build one
// registry from the folders afterwards.
//
// With options.claim instead (exclusive with shard), workers take the runs
// one at a time: when a job is free, this process claims the next run of the
// sweep's order that is neither done nor claimed by a live worker
// (sweep/claims.h: a claim file in the run folder, created atomically,
// refreshed while the run trains, taken over when stale after
// options.claim_timeout_s or when its holder on this machine is gone). After
// claiming, the run folder decides: done (another worker finished it) is
// left as it is; failed since this worker planned (another worker of this
// round) is not retried; failed before that is retried (retry_failed), and
// interrupted is resumed from its checkpoint. A run is registered (registry
// and run folder) when this worker claims it to train, so a worker's
// registry holds the runs it trained; the claim is released once the run's
// outcome is in its folder. A worker ends when every run is finished, by it
// or by others, so that it can take over the runs of a worker that died. A
// worker that finds its claim taken over (it could not refresh it in time)
// kills its trainer at once (SIGKILL: nothing written over the new holder's
// files) and leaves the run to the new holder. Prefix sharing is planned
// over the whole sweep as with shards, and a run whose parent is being
// trained by another worker waits for the parent's prefix the same way
// (options.prefix_wait_s, then from scratch: exact either way).
#pragma once
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

#include "analysis/registry.h"
#include "run/layout.h"
#include "sweep/claims.h"
#include "sweep/sweep_file.h"

namespace replay::sweep {

// Share `index` of `count` (0 <= index < count).
struct Shard {
  int index = 0;
  int count = 1;
};

// Whether the run with this id (a content hash, hex) is in the share: its
// first 16 hex digits as a number, modulo count.
bool in_shard(const std::string& run_id, const Shard& shard);

struct SweepOptions {
  std::filesystem::path registry = analysis::kDefaultRegistryPath;
  std::filesystem::path runs_dir = run::kDefaultRunsDir;  // run directories: <runs_dir>/<content hash>
  int jobs = 1;                             // runs in parallel
  int threads = 0;                          // cores shared by all jobs; 0 = this machine's
  bool share_prefixes = true;
  double min_prefix_fraction = 0.1;         // branch only when it saves at least this share
  std::optional<Shard> shard;               // train only this share of the runs
  bool claim = false;                       // claim runs one at a time (exclusive with shard)
  double claim_timeout_s = kDefaultClaimTimeoutS;  // a claim not refreshed this long is stale
  double prefix_wait_s = 600;               // wait for another worker's prefix at most this long
  bool retry_failed = true;                 // rerun runs that failed before
  std::filesystem::path replay_binary;      // default: this executable
  std::FILE* console = stderr;
  // Set to a signal number to stop the sweep (util/stop_signals.h); null: never.
  const std::atomic<int>* stop_signal = nullptr;
};

struct SweepSummary {
  int runs = 0;   // distinct configs: one run folder, one trainer each (of this share)
  int names = 0;  // names in the sweep file (several may share a run)
  int done = 0, failed = 0, skipped = 0, branched = 0;
  int reused = 0;       // finished meanwhile by another process (another sweep)
  int by_others = 0;    // claim mode: ended by another worker (done, or failed this round)
  int interrupted = 0;  // stopped by a signal (a rerun resumes them)
  int64_t steps_total = 0;   // steps of all runs of the sweep
  int64_t steps_shared = 0;  // steps not recomputed thanks to prefix sharing
};

SweepSummary run_sweep(const SweepSpec& spec, const SweepOptions& options);

}  // namespace replay::sweep
