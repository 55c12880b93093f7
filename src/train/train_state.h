// The tensor side of checkpoints: model weights (safetensors, Hugging Face
// names, via the model's writer), AdamW moments (safetensors keyed
// "<hf name>.exp_avg" etc.) and torch's CPU generator state, written into a
// CheckpointWriter (checkpoint.h) and read back exactly.
#pragma once
#include <filesystem>

#include "model/llama.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"

namespace replay::train {

// Writes a checkpoint of `model` (and `optimizer` when not null) under
// `root`, then prunes to the newest `keep`. Returns the checkpoint directory.
stdfs::path save_training_checkpoint(const stdfs::path& root, model::Llama& model,
                                     const Optimizer* optimizer, CheckpointState state, int64_t keep);

// Loads the weights of a verified checkpoint; with `optimizer` also its
// moments (when the checkpoint has them) and the generator state.
void load_training_checkpoint(const stdfs::path& dir, model::Llama& model, Optimizer* optimizer);

}  // namespace replay::train
