// The run layer's own part of a run config: top-level keys (seed, out,
// threads, device, compute_dtype, shared) and the [seeds], [train], [optim],
// [eval] and [checkpoint] tables. Parsing is strict (unknown keys, wrong types and
// impossible values are replay::Error naming the key and file); every field
// has its default filled in so the resolved config is complete. The tables
// other stages own ([model], [data], [schedule], [lr_schedule]) are parsed by
// them (run/run_config.h composes the whole description).
#pragma once
#include <toml++/toml.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace replay::run {

// train.steps above this is refused as a typo (settings.cpp).
inline constexpr int64_t kMaxSteps = 1'000'000'000;

struct TrainSettings {
  int64_t steps = 0;        // optimizer steps of the whole run (required, except where the
                            // protocol derives it: continued-pretraining; 0 = left out)
  int64_t batch_size = 32;  // sequences per optimizer step
  int64_t microbatch = 0;   // sequences per forward/backward; 0 = batch_size
  std::string init_from;    // checkpoint dir, run dir or Hugging Face model dir: weights only, optimizer fresh
  // Per-layer activation checkpointing: keep each layer's input only and
  // recompute the layer in backward. Less memory, ~1/3 more compute, the
  // same gradients bit for bit, so not part of the run's identity.
  bool activation_checkpointing = false;
  // Also write the metrics as a TensorBoard event file in the run folder
  // (train/tensorboard.h). Changes no number, so not part of the run's
  // identity; in its description only when set.
  bool tensorboard = false;
  // ZeRO-1 optimizer-state sharding across data-parallel ranks
  // (train/sharded_optimizer.h): each rank keeps the AdamW moments of 1/N of
  // the parameters. An execution detail like the world size: the same
  // updates up to floating-point summation order, checkpoints in the same
  // format, so not part of the run's identity. No effect on a world of one.
  bool shard_optimizer = false;
};

struct OptimSettings {
  double lr = 3e-3;  // peak learning rate of the run's base LR schedule (not used by
                     // protocols whose phases set their own, e.g. fine-tuning)
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;  // decoupled, multiplied by the LR (PyTorch AdamW)
  double grad_clip = 1.0;     // global grad-norm clip; 0 disables
};

struct EvalSettings {
  int64_t every = 0;        // steps between evaluations; 0 = only at the end
  int64_t sequences = 64;   // per validation set (first N of each val split)
  int64_t microbatch = 0;   // sequences per eval forward; 0 = train microbatch
  // Multiple-choice task files (docs/eval.md) scored at every evaluation,
  // encoded with data.tokenizer; `task_items` > 0 scores only each task's
  // first items. Part of the run's description only when set.
  std::vector<std::string> tasks;
  int64_t task_items = 0;
};

struct CheckpointSettings {
  int64_t every = 100;  // steps between checkpoints; 0 = only at phase ends
  int64_t keep = 3;     // most recent checkpoints kept
};

// Which randomness a seed drives, stream by stream. `seed` seeds every
// stream; [seeds] gives one stream its own (each an integer >= 0):
//   init  the model's initial weights (torch's generator, before the model is built)
//   data  the order of the data: mixing blocks, the order of uncapped sources,
//         the order of draws within a pool, reshuffles (schedule/mixture.h)
//   pool  which sequences a capped source's pool holds (data.sources.<name>.pool,
//         or the target's pool that f derives)
// A stream left out follows `seed`, so a config without [seeds] is the run it
// always was. The run layer parses them once and hands each to its consumer:
// init to the trainer, data and pool to the schedule stage (RunBasics).
struct SeedSettings {
  std::optional<int64_t> init, data, pool;
};

struct RunSettings {
  std::string file;        // the config path, for messages
  int64_t seed = 42;
  SeedSettings seeds;
  std::string out;         // run directory (required to train; a plan needs none)
  int64_t threads = 0;     // 0 = one per physical core of this machine
  std::string device = "cpu";          // "cpu", "cuda" or "cuda:N"
  std::string compute_dtype = "fp32";  // "fp32" | "bf16": matmul dtype; parameters,
                                       // optimizer state and softmax stay fp32
  std::string shared;      // cache of shared states; "" = <out>/../_shared
  TrainSettings train;
  OptimSettings optim;
  EvalSettings eval;
  CheckpointSettings checkpoint;

  uint64_t init_seed() const { return static_cast<uint64_t>(seeds.init.value_or(seed)); }
  uint64_t data_seed() const { return static_cast<uint64_t>(seeds.data.value_or(seed)); }
  uint64_t pool_seed() const { return static_cast<uint64_t>(seeds.pool.value_or(seed)); }
  int64_t microbatch() const { return train.microbatch > 0 ? train.microbatch : train.batch_size; }
  // The CUDA device index of `device` ("cuda" is 0); nullopt on the CPU.
  std::optional<int> cuda_index() const;
  int64_t eval_microbatch() const { return eval.microbatch > 0 ? eval.microbatch : microbatch(); }
  std::string shared_dir() const;
};

// Parses the run layer's keys of `root`. The tables owned by other stages
// ([model], [data], [schedule], [lr_schedule]) are accepted here and parsed by
// their owners; any other top-level key is an error.
RunSettings parse_run_settings(const toml::table& root, const std::string& file);

// Complete, canonical JSON form (every default filled in). `with_base_lr`:
// whether optim.lr applies (it does not where every phase sets its own).
// Seeds: "seed": n when the three streams agree (whatever the file spelled,
// so a config without [seeds] keeps its text and its run id), otherwise
// "seeds": {"init", "data", "pool"} and no "seed" (it decides nothing then).
nlohmann::json to_json(const RunSettings& settings, bool with_base_lr = true);

}  // namespace replay::run
