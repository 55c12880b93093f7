// The Llama decoder (Hugging Face LlamaForCausalLM semantics) as a
// torch::nn::Module whose named_parameters() are exactly the Hugging Face
// tensor names ("model.layers.0.self_attn.q_proj.weight", ...), so
// checkpoints, weight-decay groups and the safetensors file agree by name.
//
//   replay::model::Llama model(replay::model::preset("micro"));
//   torch::Tensor loss = model->loss(tokens);   // tokens [B,T] int64
//   loss.backward();
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "model/config.h"
#include "model/ops.h"

namespace replay::model {

// The matmul dtype named in configs and on command lines: "fp32" or "bf16"
// (parameters stay fp32 either way). Throws replay::Error for other names.
torch::ScalarType compute_dtype_from_name(const std::string& name);

struct CheckpointedBlock;  // llama.cpp: a decoder layer recomputed in backward

class LlamaImpl : public torch::nn::Module {
 public:
  // How the constructor fills the parameters.
  enum class Fill {
    // Drawn by config.init (model/config.h, InitRecipe; norm weights 1) from
    // torch's global generator: call torch::manual_seed first for determinism.
    drawn,
    // Left uninitialized, for a loader that overwrites every parameter or
    // fails (load_hf_model, checkpoint loading): drawing the initialization
    // first would cost as much as reading the weights.
    uninitialized,
  };
  explicit LlamaImpl(const ModelConfig& config, Fill fill = Fill::drawn);

  // tokens [B,T] int64 -> logits [B,T,V] fp32.
  torch::Tensor forward(const torch::Tensor& tokens);
  // Mean next-token cross entropy in nats/token: positions 0..T-2 predict
  // 1..T-1. Never materializes the [B,T,V] logits (see ops::linear_cross_entropy).
  torch::Tensor loss(const torch::Tensor& tokens);
  // Final-normed hidden states [B,T,D] in the compute dtype.
  torch::Tensor hidden_states(const torch::Tensor& tokens);

  const ModelConfig& config() const { return config_; }

  // Matmuls, rotary and attention run in this dtype (kBFloat16 on GPU with
  // fp32 parameters: the effect of autocast, written out so it builds the
  // same on every libtorch). Norms, softmax and the loss stay fp32.
  void set_compute_dtype(torch::ScalarType dtype) { compute_dtype_ = dtype; }
  torch::ScalarType compute_dtype() const { return compute_dtype_; }
  void set_attention_path(ops::AttentionPath path) { attention_path_ = path; }
  // Per-layer activation checkpointing: with gradients on, each decoder
  // layer keeps only its input and runs again in backward. The recomputed
  // forward is the same arithmetic, so the gradients are the same bit for
  // bit; peak memory drops by the layers' activations (model/memory_plan.h).
  void set_activation_checkpointing(bool on) { checkpointing_ = on; }

  // Weight decay grouping of the spec: norm weights and the token embedding
  // are not decayed, everything else (the LM head included) is.
  static bool is_decayed(const std::string& hf_name);
  struct ParamGroups {
    std::vector<std::pair<std::string, torch::Tensor>> decay, no_decay;
  };
  ParamGroups param_groups();

  // Re-draws every parameter as at construction (same generator rules).
  void reset_parameters();

  torch::Tensor embedding_weight() const { return embed_; }
  torch::Tensor lm_head_weight() const { return config_.tie_embeddings ? embed_ : lm_head_; }

 private:
  struct Layer {
    torch::Tensor attn_norm, wq, wk, wv, wo, mlp_norm, w_gate, w_up, w_down;
  };
  friend struct CheckpointedBlock;
  torch::Tensor block(const Layer& layer, const torch::Tensor& x, const torch::Tensor& cos,
                      const torch::Tensor& sin);
  // cos/sin half tables [T, head_dim/2] (fp32), cached per length and device.
  std::pair<torch::Tensor, torch::Tensor> rotary_tables(int64_t t, const torch::Device& device);
  torch::Tensor check_tokens(const torch::Tensor& tokens) const;

  ModelConfig config_;
  torch::ScalarType compute_dtype_ = torch::kFloat;
  ops::AttentionPath attention_path_ = ops::AttentionPath::automatic;
  bool checkpointing_ = false;
  torch::Tensor embed_, final_norm_, lm_head_;
  std::vector<Layer> layers_;
  torch::Tensor cos_cache_, sin_cache_;
};
TORCH_MODULE(Llama);

// The reference init's truncation: samples beyond +-3 sigma are redrawn.
inline constexpr double kReferenceInitCutSigmas = 3.0;
// Fills `t` with normal(0, std) samples conditioned on |x| <= cut_sigmas x std
// (torch's global generator).
void truncated_normal_(torch::Tensor& t, double std, double cut_sigmas);

// Inverse frequencies [head_dim/2] (fp64 maths, fp32 result) with Llama-3
// scaling applied when configured, exactly as Hugging Face's
// _compute_llama3_parameters.
torch::Tensor rope_inverse_frequencies(const ModelConfig& config);

}  // namespace replay::model
