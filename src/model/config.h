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

// How fresh weights are drawn (model/llama.h, LlamaImpl::reset_parameters):
//   hf         Hugging Face's Llama init: every matrix normal(0, init_std)
//   reference  the paper's (Levanter) recipe: every linear weight, the LM head
//              included, truncated normal cut at +-3 sigma with sigma =
//              1/sqrt(fan_in); the token embedding normal(0, init_std)
// Norm weights start at 1 either way. The paper presets use reference; the
// CPU presets (micro, tiny, gpt2-124m) keep hf, so their numbers stay put.
enum class InitRecipe { hf, reference };
std::string init_recipe_name(InitRecipe recipe);
// Throws replay::Error naming `where` for a name other than "hf"/"reference".
InitRecipe init_recipe_from_name(const std::string& name, const std::string& where);

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
  InitRecipe init = InitRecipe::hf;

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

// Canonical JSON of every field (a run's description, config.json), and back
// (errors name `where` and the key).
nlohmann::json to_json(const ModelConfig& config);
ModelConfig model_config_from_json(const nlohmann::json& json, const std::string& where);

// The fields that decide a trained model's function (shapes, RoPE, norm eps,
// tying), with `a`'s and `b`'s values, one "key: a vs b" per difference;
// empty when weights of one load into the other and compute the same thing.
// Initialization fields do not count.
std::vector<std::string> architecture_differences(const ModelConfig& a, const ModelConfig& b);

// Hugging Face config.json (LlamaConfig keys: hidden_size, intermediate_size,
// num_hidden_layers, num_attention_heads, num_key_value_heads, head_dim,
// rope_theta, rope_scaling {rope_type "llama3", ...}, ...), so a saved model
// directory loads in transformers and the Python oracle reads the same file.
// `torch_dtype` names the dtype of the weight files ("float32", "bfloat16").
// `bos_token_id` and `eos_token_id` are written when known (from the
// tokenizer exported with the model), as transformers' generation reads them.
struct HfTokenIds {
  std::optional<int64_t> bos, eos;
};
std::string to_hf_config_json(const ModelConfig& config, const std::string& torch_dtype = "float32",
                              const HfTokenIds& token_ids = {});
// Reads both RoPE forms: rope_theta + rope_scaling {rope_type or legacy
// type, ...}, and transformers v5's one rope_parameters {rope_type,
// rope_theta, ...}; rope types "default" (none) and "llama3", any other is an
// error. head_dim defaults to hidden_size / num_attention_heads.
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
