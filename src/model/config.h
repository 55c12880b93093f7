// Shape of a Llama-style decoder: presets (the paper's sizes and CPU-sized
// ones), validation, the [model] table of the run config, and the counts
// everybody quotes (parameters, FLOPs per token). No torch here, so the CLI
// and config parsing stay cheap to compile.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <toml++/toml.h>


namespace replay::model {

// Llama 3 "rope_type: llama3" frequency scaling (Hugging Face semantics).
struct RopeScaling {
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position = 8192;
  bool operator==(const RopeScaling&) const = default;
};

struct ModelConfig {
  int64_t dim = 0;
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t ffn_dim = 0;
  int64_t vocab_size = 0;
  int64_t max_seq_len = 0;
  double rope_theta = 10000.0;
  std::optional<RopeScaling> rope_scaling;
  double norm_eps = 1e-5;
  bool tie_embeddings = false;
  double init_std = 0.02;

  // Throws replay::Error naming the offending key (prefixed with `where`,
  // e.g. "run.toml [model]") when a field is impossible.
  void validate(const std::string& where = "model config") const;
  bool operator==(const ModelConfig&) const = default;
};

// Names accepted by preset(): paper sizes then CPU sizes.
std::vector<std::string> preset_names();
// Throws replay::Error listing the known names for an unknown one.
ModelConfig preset(const std::string& name);

// Applies one "key=value" override (CLI --set); value parsed by the key's type.
void set_field(ModelConfig& config, const std::string& key, const std::string& value,
               const std::string& where);

// [model] table: `preset = "..."` (default "micro") plus any field override;
// rope scaling as a sub-table [model.rope_scaling] {factor, low_freq_factor,
// high_freq_factor, original_max_position}, or `rope_scaling = false` to drop
// a preset's. Unknown keys and wrong types are errors naming key and file.
ModelConfig config_from_toml(const toml::table& model_table, const std::string& file_for_errors);

// Canonical JSON of every field (a run's description, config.json).
nlohmann::json to_json(const ModelConfig& config);

// Hugging Face config.json (LlamaConfig keys: hidden_size, intermediate_size,
// num_hidden_layers, num_attention_heads, num_key_value_heads, head_dim,
// rope_theta, rope_scaling {rope_type "llama3", ...}, ...), so a saved model
// directory loads in transformers and the Python oracle reads the same file.
std::string to_hf_config_json(const ModelConfig& config);
ModelConfig from_hf_config_json(const std::string& json, const std::string& where);

struct ParamCounts {
  int64_t embedding = 0;       // token embedding (vocab x dim)
  int64_t lm_head = 0;         // 0 when tied to the embedding
  int64_t per_layer = 0;       // attention + MLP + two norms
  int64_t final_norm = 0;
  int64_t total = 0;           // unique parameters
  int64_t non_embedding = 0;   // total - embedding - lm_head
  int64_t non_embedding_with_head = 0;  // + the LM head matmul (vocab x dim), tied or not
};
ParamCounts count_params(const ModelConfig& config);

// Training FLOPs per token at sequence length `seq_len` (forward + backward):
// 6 x non-embedding parameters incl. the LM head, plus the attention score
// and value matmuls 12 x layers x heads x head_dim x seq_len (no causal
// discount, as in the PaLM/Chinchilla accounting).
double train_flops_per_token(const ModelConfig& config, int64_t seq_len);

// Rows of the [rows, vocab] logits the fused LM-head loss (ops.h,
// linear_cross_entropy) computes at a time, out of `rows` tokens: about
// 16 MB of fp32 logits on a CPU (near the caches), 1 GiB on a GPU (few,
// large kernels), never fewer than 512 rows (each chunk adds into the whole
// [vocab, dim] weight gradient, which few-row chunks turn memory-bound).
int64_t loss_chunk_rows(int64_t vocab, int64_t rows, bool on_gpu);

}  // namespace replay::model
