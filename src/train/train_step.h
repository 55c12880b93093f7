// The arithmetic of one optimizer step and of an evaluation, separate from
// the loop so tests can compare accumulation against the full batch.
#pragma once
#include <torch/torch.h>

#include "model/llama.h"

namespace replay::train {

// Forward and backward of `tokens` [B,T] in chunks of `microbatch` rows,
// each chunk's mean loss scaled by its share of the batch (rows / B), so the
// accumulated gradients equal the full batch's (every row has the same
// number of predicted tokens). Returns the batch's mean loss (nats/token).
double accumulate_gradients(model::Llama& model, const torch::Tensor& tokens, int64_t microbatch);

// Mean next-token loss of `tokens` without gradients, in chunks of
// `microbatch` rows (nats/token; NaN for an empty set).
double evaluate_loss(model::Llama& model, const torch::Tensor& tokens, int64_t microbatch);

// The mean next-token loss of each row of `tokens`, one forward per row, for
// the per-sequence record of the final evaluation (run/layout.h
// kValSequencesFile): what a bootstrap over validation sequences resamples.
// Their mean equals evaluate_loss up to floating-point rounding.
std::vector<double> sequence_losses(model::Llama& model, const torch::Tensor& tokens);

}  // namespace replay::train
