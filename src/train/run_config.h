// One run, fully resolved: the TOML file (plus --set overrides) parsed by
// every owner ([model] by src/model, [data]/[schedule] by src/schedule, the
// rest by src/train/settings.h), the token stores' manifests read for sizes,
// vocabulary and sequence length, the run plan built, and every impossible
// value (including a config too large for this machine's memory) rejected
// with a replay::Error naming the key and file, before any training starts.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/config.h"
#include "schedule/config.h"
#include "schedule/protocol.h"
#include "train/settings.h"

namespace replay::train {

struct SourceStore {
  std::string name;  // as in [data.sources.<name>]
  std::string dir;   // token store directory
  int64_t train_sequences = 0;
  int64_t val_sequences = 0;
  std::string fingerprint;  // tokenizer fingerprint recorded in the store
};

struct RunConfig {
  std::string file;
  RunSettings settings;
  model::ModelConfig model;
  schedule::ScheduleConfig schedule;
  schedule::RunPlan plan;
  std::vector<SourceStore> sources;  // in the plan's source order
  int64_t seq_len = 0;               // tokens per sequence (every store agrees)

  // Canonical, complete description (defaults filled in, keys sorted).
  nlohmann::json resolved;
  // xxh128 of `resolved` without where the run lives and how many threads it
  // uses (out, shared, threads; of the device only its type counts): equal
  // hashes = the same experiment.
  std::string content_hash;

  int64_t tokens_per_step() const { return settings.train.batch_size * seq_len; }
  // What decides the arithmetic besides model, data and optimizer: the
  // compute dtype and the device type ("cpu" or "cuda"). Runs, shared phases
  // and prefixes are only reused between equal numerics.
  nlohmann::json numerics() const;
};

// Reads `file`, applies `overrides` ("key=value", as `replay train --set`)
// and resolves it.
RunConfig load_run_config(const std::filesystem::path& file,
                          const std::vector<std::string>& overrides = {});
RunConfig resolve_run_config(const toml::table& root, const std::string& file);

// Rough peak memory of training: fp32 weights, gradients and two AdamW
// moments, plus the activations autograd keeps for one microbatch. Meant to
// reject configs that clearly cannot fit, not to predict RSS exactly.
uint64_t estimate_training_bytes(const model::ModelConfig& model, int64_t microbatch, int64_t seq_len);
uint64_t physical_memory_bytes();

}  // namespace replay::train
