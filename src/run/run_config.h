// One run, described once. A run config (TOML, plus `--set` overrides) is
// read by load_run_toml and every table is parsed once, by its owner, into
// its owner's type:
//   top level, [train], [optim], [eval], [checkpoint]   run/settings.h
//   [lr_schedule] (with optim.lr as its peak)             schedule::parse_lr_table
//   [data], [schedule]                                    schedule/config.h (given RunBasics)
//   [model]                                               model/config.h
// That is a RunDescription: no I/O beyond the file, enough for `replay plan`.
//
// resolve_run turns it into a RunConfig, a short recipe of named steps:
//   read_store_facts     the token stores' manifests (sizes, vocabulary, sequence length)
//   check_stores_agree   one sequence length and one tokenizer across sources
//   check_tokenizer      data.tokenizer, when given, is the stores' tokenizer
//                        (and it is given when eval.tasks is)
//   complete_model       vocabulary and max_seq_len default to the data's
//   check_token_ids_fit  every store's largest token id is below model.vocab_size
//   build_plan           the schedule engine's RunPlan
//   check_memory         refuse what cannot fit this machine or its CUDA device
//   describe             the canonical JSON (config.json) and its content hash
// Each stage serializes what it parsed. Keys that do not apply to the run's
// protocol are absent from the description and the hash (fine-tuning: its
// phases set their own LR, so optim.lr and [lr_schedule] do not apply); a
// warning says so when the file sets them.
//
// Torch-free: the sweep runner and `replay plan` resolve runs without linking
// the training stack.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "model/memory_plan.h"
#include "run/machine.h"
#include <vector>

#include "model/config.h"
#include "run/settings.h"
#include "schedule/config.h"
#include "schedule/protocol.h"

namespace replay::run {

struct RunDescription {
  std::string file;
  RunSettings settings;
  schedule::ScheduleConfig schedule;  // spec.lr is the base LR schedule
  model::ModelConfig model;
  bool model_sets_vocab = false;      // [model] gives vocab_size / max_seq_len itself
  bool model_sets_max_seq_len = false;
  std::vector<std::string> warnings;  // keys given that do not apply, ...

  // Whether optim.lr and [lr_schedule] drive any phase of this protocol.
  bool base_lr_applies() const;
};

// Reads `file` (syntax errors as file:line:column), applies `overrides`
// ("key=value", as `--set`) and parses every table.
RunDescription load_run_toml(const std::filesystem::path& file,
                             const std::vector<std::string>& overrides = {});
RunDescription parse_run_description(const toml::table& root, const std::string& file);

struct SourceStore {
  std::string name;  // as in [data.sources.<name>]
  std::string dir;   // token store directory
  int64_t train_sequences = 0;
  int64_t val_sequences = 0;
  std::string fingerprint;    // tokenizer fingerprint recorded in the store
  std::string domain;         // the store's domain (manifest)
  std::string manifest_hash;  // xxh128 of the store's manifest.json
};

struct RunConfig {
  std::string file;
  RunSettings settings;
  model::ModelConfig model;
  schedule::ScheduleConfig schedule;
  schedule::RunPlan plan;
  std::vector<SourceStore> sources;  // in the plan's source order
  int64_t seq_len = 0;               // tokens per sequence (every store agrees)
  std::vector<std::string> warnings;

  // Canonical, complete description (defaults filled in, keys sorted).
  nlohmann::json resolved;
  // xxh128 of `resolved` without where the run lives and how many threads it
  // uses (out, shared, threads; of the device only its type counts): equal
  // hashes = the same experiment.
  std::string content_hash;

  int64_t tokens_per_step() const { return settings.train.batch_size * seq_len; }
  // What decides the arithmetic besides model, data and optimizer: the
  // compute dtype and the device type ("cpu" or "cuda"). Runs and shared
  // states are only reused between equal numerics.
  nlohmann::json numerics() const;
  // What config.json holds: {"content_hash", "config": resolved, "source": file}.
  nlohmann::json config_file() const;
  // The plan's target source (paper protocols), or null.
  const SourceStore* target() const;
};

// The recipe above. Throws replay::Error naming the file and key.
RunConfig resolve_run(const RunDescription& description);
// load_run_toml + resolve_run.
RunConfig load_run_config(const std::filesystem::path& file,
                          const std::vector<std::string>& overrides = {});

// Peak resident memory of `replay train` on a CPU (fp32), by term. The
// coefficients are calibrated against measured peaks (bench/train/memory.sh:
// nine shapes from 1M to 162M parameters, vocabularies 1k to 128k, estimate /
// measured peak RSS between 1.01 and 1.19 in two runs on 2026-11-30), so the estimate
// is an upper bound with a small margin, not a guess.
struct MemoryEstimate {
  uint64_t runtime = 0;      // the process before training: libtorch, maps, the data feed (280 MiB)
  uint64_t state = 0;        // 20 bytes/parameter: weights, gradients, two AdamW moments, and the
                             // optimizer's and checkpoint writer's per-tensor temporaries
  uint64_t vocab_tensors = 0;  // 8 x the [vocab, dim] fp32 tensor: the dense embedding gradient,
                               // the LM-head gradient buffer and the temporaries of the largest tensors
  uint64_t activations = 0;  // 1.12 x the floats autograd keeps for one microbatch
                             // (model/memory_plan.h activation_floats_per_token)
  uint64_t loss = 0;         // 2.5 x one chunk of [rows, vocab] logits (model::loss_chunk_rows)
  uint64_t total() const { return runtime + state + vocab_tensors + activations + loss; }
};
MemoryEstimate estimate_training_memory(const model::ModelConfig& model, int64_t microbatch, int64_t seq_len,
                                        bool activation_checkpointing = false);

// The memory gate (resolve_run's check_memory): a run is admitted when its
// estimate is at most this share of physical memory. The other 15% is the
// stated margin for the kernel, the page cache of the stores and other
// processes; with the calibrated estimate above, nothing admitted is meant
// to meet the OOM killer on a machine otherwise idle.
inline constexpr double kMemoryGateShare = 0.85;

// The device gate (check_memory on a CUDA run, when the driver reports the
// device's memory: run/machine.h): the memory plan of model/memory_plan.h
// (fp32 weights, gradients and moments; the run's compute dtype, microbatch,
// sequence length and activation checkpointing) must be at most this share
// of the device. The rest is the CUDA context, libraries' workspaces and the
// caching allocator's fragmentation.
inline constexpr double kDeviceGateShare = 0.90;
// Empty when `model` trains within kDeviceGateShare of `device_bytes`;
// otherwise the refusal: the plan term by term and the ways that would fit.
std::string device_memory_refusal(const model::ModelConfig& model, const model::MemoryPlanOptions& plan,
                                  double device_bytes, const std::string& device);

}  // namespace replay::run
