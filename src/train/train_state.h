// The tensor side of checkpoints: model weights (safetensors, Hugging Face
// names, via the model's writer), AdamW moments (safetensors keyed
// "<hf name>.exp_avg" etc.) and torch's CPU generator state, written into a
// CheckpointWriter (checkpoint.h) and read back exactly.
#pragma once
#include <filesystem>

#include "model/llama.h"
#include "run/run_config.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"

namespace replay::train {

// Writes a checkpoint of `model` and the optimizer's state
// (StepOptimizer::state_tensors(); empty: weights only) under `root`, then
// prunes to the newest `keep`. Returns the checkpoint directory.
stdfs::path save_training_checkpoint(const stdfs::path& root, model::Llama& model,
                                     const model::NamedTensors& optimizer_state, CheckpointState state, int64_t keep);

// Loads the weights of a verified checkpoint; with `optimizer` also its
// moments (when the checkpoint has them) and the generator state.
void load_training_checkpoint(const stdfs::path& dir, model::Llama& model, StepOptimizer* optimizer);

// The weights a run starts from before any checkpoint, shared state or
// init_from: [model] drawn from torch's generator seeded with the init seed
// alone (seeds.init, else seed; run/settings.h), so the data and pool seeds
// never touch them. Built on the CPU whatever the device, so that a seed gives
// the same initial weights everywhere (the trainer moves them).
model::Llama initial_model(const run::RunConfig& config);

// Weights-only initialization (train.init_from): `path` is a Hugging Face
// model directory (model/hf_checkpoint.h; its config.json must describe the
// run's architecture), a checkpoint directory or a run directory (its newest
// good checkpoint). Returns what was loaded, for the log.
stdfs::path load_initial_weights(const stdfs::path& path, model::Llama& model);

// The model a checkpoint, run directory or Hugging Face directory holds, with
// its weights, and the tokenizer that goes with it (the run's data.tokenizer
// when the run config names one that exists, a Hugging Face directory's
// tokenizer.json; else empty). A checkpoint's architecture comes from the
// config.json of the run that wrote it (<run>/checkpoints/step-N).
struct LoadedModel {
  model::Llama model{nullptr};
  stdfs::path weights;    // the checkpoint or HF directory read
  stdfs::path tokenizer;  // empty when none is known
};
LoadedModel load_model_from(const stdfs::path& path);

}  // namespace replay::train
