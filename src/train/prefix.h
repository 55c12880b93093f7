// Prefix sharing: two runs whose first s steps do exactly the same thing
// (same model, optimizer, seed, data stream, LR values and evaluations up to
// step s) reach bit-identical states at step s, so the second can branch
// from a checkpoint of the first instead of recomputing those steps. A sweep
// of mid-training runs that differ only in rho shares the generic-only
// stage 1 this way.
//
// What a run does at each step is summarized by a signature (phase, optimizer
// reset, LR bits, every sequence of the batch, whether it evaluates after the
// step); the state after s steps is named by prefix_key(config, s) =
// hash(everything outside the per-step plan, signatures of steps 0..s-1).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "train/run_config.h"

namespace replay::train {

// Hash of what shapes training but is not part of the per-step plan: model,
// optimizer, microbatch, init_from, data sources, eval settings, seed.
std::string prefix_base_key(const RunConfig& config);

// Signatures of steps [0, steps); steps <= config's train.steps.
std::vector<uint64_t> step_signatures(const RunConfig& config, int64_t steps);

// Name of the training state after `steps` steps.
std::string prefix_key(const RunConfig& config, int64_t steps);

}  // namespace replay::train
