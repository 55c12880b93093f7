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
//                     "data_s" (plan lookup + store reads + batching), "step_s",
//                     "allreduce_s" (data parallel only: the gradient all-reduce),
//                     "allgather_s" (optimizer sharding only: the gradient norm's reduction
//                     and the parameter all-gather, train/sharded_optimizer.h)}
//                    {"kind":"eval","step","tokens","val":{"<source>": nats/token}}
//                    {"kind":"stop","step","reason"} when a NaN/inf stops the run
//   checkpoints/     step-NNNNNNNNN/ (checkpoint.h), the newest checkpoint.keep
//   summary.json     written when the run completes
//   branched.json    {"branch_at": step} when it started from a shared state
//   .lock            held for the whole run (util/file_lock.h): a second
//                    trainer on the same folder is refused before it writes
// "step" counts completed optimizer steps (1 = after the first update);
// "tokens" counts training tokens so far (sequences x seq_len).
//
// Data parallel (TrainOptions::comm set, a world of N > 1 ranks): the global
// batch of a step, its data order and the schedule are the plan's, whatever
// N is; rank r trains on the r-th of N equal contiguous slices of the
// step's sequences (train.batch_size must divide by N: an error otherwise),
// in microbatches of train.microbatch. The gradients live in one flat fp32
// buffer (each parameter's .grad is a view of it, zeroed, never reset to
// none), all-reduced (mean) once after the last microbatch; clipping and
// AdamW then run on identical gradients, so every rank holds the same
// weights and optimizer state. The logged loss is the mean of the ranks'
// means (= the global batch's mean). Validation losses: each rank evaluates
// a contiguous slice of every validation set and the loss sums and counts
// are all-reduced. Rank 0 alone writes the run folder (lock, config,
// metrics, checkpoints, shared states, per-sequence losses, task scores,
// summary) while the others wait for it (dist/communicator.h); a stop
// signal is agreed on through the step's reduction, so every rank stops
// after the same step. The world size is not part of the run's identity:
// a run resumes on another number of ranks with the same data order and
// the same losses up to floating-point summation order. A world of one
// runs the single-process code path, unchanged.
//
// With train.shard_optimizer = true (and N > 1) each rank keeps and updates
// the AdamW moments of 1/N of the flat parameter space only and the updated
// parameters are all-gathered after each step (train/sharded_optimizer.h);
// its checkpoints hold the same whole moments (gathered to rank 0), so a
// run resumes sharded or not, on any world size.
#pragma once
#include <cstdint>
#include <atomic>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "run/run_config.h"

namespace replay::dist {
class Communicator;
}

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
  // The process group of a data-parallel job (see above); null for a world
  // of one. Not owned.
  dist::Communicator* comm = nullptr;
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
