// Runs a sweep: every run of a SweepSpec as its own `replay train` process,
// recorded in the SQLite registry. Finished runs are skipped, interrupted
// ones resume from their checkpoints, failures are recorded and do not stop
// the others, and runs whose first steps are identical branch from one
// published checkpoint instead of recomputing them (run/state_key.h).
#pragma once
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "analysis/registry.h"
#include "run/layout.h"
#include "sweep/sweep_file.h"

namespace replay::sweep {

struct SweepOptions {
  std::filesystem::path registry = analysis::kDefaultRegistryPath;
  std::filesystem::path runs_dir = run::kDefaultRunsDir;  // run directories: <runs_dir>/<content hash>
  int jobs = 1;                             // runs in parallel
  int threads = 0;                          // cores shared by all jobs; 0 = this machine's
  bool share_prefixes = true;
  double min_prefix_fraction = 0.1;         // branch only when it saves at least this share
  bool retry_failed = true;                 // rerun runs that failed before
  std::filesystem::path replay_binary;      // default: this executable
  std::FILE* console = stderr;
};

struct SweepSummary {
  int runs = 0, done = 0, failed = 0, skipped = 0, branched = 0;
  int64_t steps_total = 0;   // steps of all runs of the sweep
  int64_t steps_shared = 0;  // steps not recomputed thanks to prefix sharing
};

SweepSummary run_sweep(const SweepSpec& spec, const SweepOptions& options);

}  // namespace replay::sweep
