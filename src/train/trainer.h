// The training loop, orchestration only: for each phase of the run plan and
// each step, read the step's global batch, accumulate gradients over
// microbatches, clip, set the LR from the phase's schedule, step AdamW;
// evaluate every source's validation set separately; log metrics; write
// checkpoints; resume exactly; start from shared states.
//
// When it evaluates, checkpoints and publishes states is run/cadence.h; the
// files it writes into the run directory (settings.out) are run/layout.h:
//   config.json      the resolved config (RunConfig::resolved) and its hash
//   metrics.jsonl    {"kind":"step","step","phase","tokens","lr","loss","grad_norm","tokens_per_s",
//                     "data_s" (plan lookup + store reads + batching), "step_s"}
//                    {"kind":"eval","step","tokens","val":{"<source>": nats/token}}
//                    {"kind":"stop","step","reason"} when a NaN/inf stops the run
//   checkpoints/     step-NNNNNNNNN/ (checkpoint.h), the newest checkpoint.keep
//   summary.json     written when the run completes
//   branched.json    {"branch_at": step} when it started from a shared state
//   .lock            held for the whole run (util/file_lock.h): a second
//                    trainer on the same folder is refused before it writes
// "step" counts completed optimizer steps (1 = after the first update);
// "tokens" counts training tokens so far (sequences x seq_len).
#pragma once
#include <cstdint>
#include <atomic>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "run/run_config.h"

namespace replay::train {

enum class ResumeMode {
  automatic,  // continue from the newest good checkpoint of the run, if any
  never,      // start over: existing checkpoints and metrics of the run are removed
};

struct TrainOptions {
  ResumeMode resume = ResumeMode::automatic;
  std::FILE* console = stderr;  // progress and messages; null = silent
  // Prefix sharing (run/state_key.h), used by sweeps: publish the state after
  // each of these steps to the shared cache; and, on a fresh start, begin
  // from the published state after `branch_at` steps when another run left it.
  std::set<int64_t> publish_prefix_at;
  int64_t branch_at = 0;
  // Set (to a signal number) by a signal handler to ask for a stop: after
  // the step in progress and the cadence's work for it, the trainer writes a
  // checkpoint of that step (unless the cadence just did) and throws
  // replay::Interrupted. Not checked after the last step: that run is done.
  const std::atomic<int>* stop_signal = nullptr;
};

struct TrainResult {
  int64_t steps = 0;      // completed steps of the run (== train.steps)
  int64_t steps_run = 0;  // computed by this call
  std::optional<int64_t> resumed_from;   // step of the checkpoint resumed from
  std::optional<int64_t> branched_at;    // step of the shared state started from
  double last_loss = 0;
  std::map<std::string, double> final_eval;  // source -> validation loss
};

// Runs (or finishes) the run. Throws replay::Error on bad input, on a
// non-finite loss or gradient (nothing is saved for that step: the last good
// checkpoint stays as it was), when the run directory holds checkpoints of
// another config, or when another process holds the run directory's lock
// (nothing is written then). Throws replay::Interrupted on a stop_signal.
TrainResult train(const run::RunConfig& config, const TrainOptions& options = {});

}  // namespace replay::train
