// One name for "the training state after s steps", used for every reuse of
// training across runs: a sweep's shared prefix (runs whose first s steps are
// identical branch from one published checkpoint) and a shared phase (the
// fine-tuning protocol's pre-training, reused by runs that differ only later).
//
// Two runs whose first s steps do exactly the same thing (same model,
// optimizer, seed, data stream, LR values and evaluations up to step s, same
// numerics) reach bit-identical states at step s. What a run does at each
// step is summarized by a signature (phase, optimizer reset, LR bits, every
// sequence of the batch, whether it evaluates after the step: run/cadence.h);
// state_key(config, s) = hash(everything outside the per-step plan,
// signatures of steps 0..s-1). Published states live under
// <shared>/<key>/ (run/layout.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "run/run_config.h"

namespace replay::run {

// Hash of what shapes training but is not part of the per-step plan: model,
// optimizer, microbatch, init_from, data sources, what an evaluation
// computes (not when: that is in the signatures), the init seed (the data and
// pool seeds act through the batches, in the signatures), numerics.
std::string state_base_key(const RunConfig& config);

// Signatures of steps [0, steps); steps <= config's train.steps.
std::vector<uint64_t> step_signatures(const RunConfig& config, int64_t steps);

// Name of the training state after `steps` steps.
std::string state_key(const RunConfig& config, int64_t steps);

}  // namespace replay::run
