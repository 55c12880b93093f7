#include "model/llama.h"

#include <cmath>

#include "util/error.h"

namespace replay::model {

namespace {

// Registers `tensor` as parameter "weight" of a child module at `path`
// ("self_attn.q_proj") below `parent`, creating the intermediate modules,
// so named_parameters() yields the Hugging Face names.
torch::Tensor add_weight(torch::nn::Module& parent, const std::string& path,
                         const torch::Tensor& tensor) {
  torch::nn::Module* node = &parent;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? dot : dot - start);
    auto children = node->named_children();
    if (auto* found = children.find(part)) {
      node = found->get();
    } else {
      node = node->register_module(part, std::make_shared<torch::nn::Module>(part)).get();
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return node->register_parameter("weight", tensor);
}

}  // namespace

torch::ScalarType compute_dtype_from_name(const std::string& name) {
  if (name == "fp32") return torch::kFloat;
  if (name == "bf16") return torch::kBFloat16;
  throw Error("compute dtype '" + name + "' is not one of fp32, bf16");
}

torch::Tensor rope_inverse_frequencies(const ModelConfig& c) {
  const int64_t half = c.head_dim / 2;
  std::vector<float> out(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    // Computed in double (HF uses fp32; the difference is below fp32 noise).
    double inv = 1.0 / std::pow(c.rope_theta, static_cast<double>(2 * i) / c.head_dim);
    if (c.rope_scaling) {
      const RopeScaling& s = *c.rope_scaling;
      const double old_len = static_cast<double>(s.original_max_position);
      const double low_wavelen = old_len / s.low_freq_factor;
      const double high_wavelen = old_len / s.high_freq_factor;
      const double wavelen = 2.0 * M_PI / inv;
      if (wavelen > low_wavelen) {
        inv = inv / s.factor;  // low frequencies: fully scaled
      } else if (wavelen >= high_wavelen) {
        // medium: interpolate between scaled and unscaled
        const double smooth =
            (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        inv = (1.0 - smooth) * inv / s.factor + smooth * inv;
      }  // high frequencies: unchanged
    }
    out[static_cast<size_t>(i)] = static_cast<float>(inv);
  }
  return torch::tensor(out, torch::kFloat);
}

LlamaImpl::LlamaImpl(const ModelConfig& config, Fill fill) : config_(config) {
  config_.validate();
  const auto& c = config_;
  auto empty = [](std::initializer_list<int64_t> shape) { return torch::empty(shape); };
  embed_ = add_weight(*this, "model.embed_tokens", empty({c.vocab_size, c.dim}));
  const int64_t q_dim = c.n_heads * c.head_dim, kv_dim = c.n_kv_heads * c.head_dim;
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    Layer l;
    l.attn_norm = add_weight(*this, p + "input_layernorm", empty({c.dim}));
    l.wq = add_weight(*this, p + "self_attn.q_proj", empty({q_dim, c.dim}));
    l.wk = add_weight(*this, p + "self_attn.k_proj", empty({kv_dim, c.dim}));
    l.wv = add_weight(*this, p + "self_attn.v_proj", empty({kv_dim, c.dim}));
    l.wo = add_weight(*this, p + "self_attn.o_proj", empty({c.dim, q_dim}));
    l.mlp_norm = add_weight(*this, p + "post_attention_layernorm", empty({c.dim}));
    l.w_gate = add_weight(*this, p + "mlp.gate_proj", empty({c.ffn_dim, c.dim}));
    l.w_up = add_weight(*this, p + "mlp.up_proj", empty({c.ffn_dim, c.dim}));
    l.w_down = add_weight(*this, p + "mlp.down_proj", empty({c.dim, c.ffn_dim}));
    layers_.push_back(l);
  }
  final_norm_ = add_weight(*this, "model.norm", empty({c.dim}));
  if (!c.tie_embeddings) lm_head_ = add_weight(*this, "lm_head", empty({c.vocab_size, c.dim}));
  if (fill == Fill::drawn) reset_parameters();
}

void truncated_normal_(torch::Tensor& t, double std, double cut_sigmas) {
  // Inverse-CDF sampling: uniform over the normal CDF's values inside the
  // cut, mapped back through erfinv; the clamp only absorbs rounding.
  const double lo = 0.5 * (1.0 + std::erf(-cut_sigmas / std::sqrt(2.0)));
  const double hi = 0.5 * (1.0 + std::erf(cut_sigmas / std::sqrt(2.0)));
  t.uniform_(2.0 * lo - 1.0, 2.0 * hi - 1.0);
  t.erfinv_().mul_(std * std::sqrt(2.0)).clamp_(-cut_sigmas * std, cut_sigmas * std);
}

void LlamaImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  // Registration order (the HF order) fixes the order of random draws.
  for (auto& item : named_parameters()) {
    torch::Tensor& w = item.value();
    if (item.key().find("norm") != std::string::npos) {
      w.fill_(1.0);
    } else if (config_.init == InitRecipe::hf || item.key() == "model.embed_tokens.weight") {
      w.normal_(0.0, config_.init_std);
    } else {  // reference: linear weights [out, in], fan_in = in
      truncated_normal_(w, 1.0 / std::sqrt(static_cast<double>(w.size(1))), kReferenceInitCutSigmas);
    }
  }
}

bool LlamaImpl::is_decayed(const std::string& name) {
  const bool is_norm = name.size() >= 11 && name.compare(name.size() - 11, 11, "norm.weight") == 0;
  return !is_norm && name != "model.embed_tokens.weight";
}

LlamaImpl::ParamGroups LlamaImpl::param_groups() {
  ParamGroups groups;
  for (auto& item : named_parameters())
    (is_decayed(item.key()) ? groups.decay : groups.no_decay).emplace_back(item.key(), item.value());
  return groups;
}

std::pair<torch::Tensor, torch::Tensor> LlamaImpl::rotary_tables(int64_t t,
                                                                const torch::Device& device) {
  if (!cos_cache_.defined() || cos_cache_.size(0) < t || cos_cache_.device() != device) {
    // Angles in double: fp32 positions x frequencies lose precision at long
    // context; the tables themselves are fp32.
    const torch::Tensor inv = rope_inverse_frequencies(config_).to(torch::kDouble);
    const int64_t len = std::max(t, std::min<int64_t>(config_.max_seq_len, 4096));
    const torch::Tensor pos = torch::arange(len, torch::kDouble);
    const torch::Tensor angles = torch::outer(pos, inv);
    cos_cache_ = angles.cos().to(torch::kFloat).to(device);
    sin_cache_ = angles.sin().to(torch::kFloat).to(device);
  }
  return {cos_cache_.narrow(0, 0, t), sin_cache_.narrow(0, 0, t)};
}

torch::Tensor LlamaImpl::check_tokens(const torch::Tensor& tokens) const {
  if (tokens.dim() != 2 || tokens.scalar_type() != torch::kLong)
    throw Error("model input must be int64 tokens of shape [batch, seq], got " +
                std::to_string(tokens.dim()) + "-d " + std::string(c10::toString(tokens.scalar_type())));
  if (tokens.size(1) > config_.max_seq_len)
    throw Error("sequence length " + std::to_string(tokens.size(1)) + " exceeds max_seq_len " +
                std::to_string(config_.max_seq_len));
  return tokens.device() == embed_.device() ? tokens : tokens.to(embed_.device());
}

torch::Tensor LlamaImpl::block(const Layer& l, const torch::Tensor& x, const torch::Tensor& cos,
                               const torch::Tensor& sin) {
  const auto& c = config_;
  const int64_t b = x.size(0), t = x.size(1);
  const auto cdt = compute_dtype_;
  auto w = [cdt](const torch::Tensor& weight) { return weight.to(cdt); };

  // q, k and v come from one matmul over the concatenated weights (and gate
  // and up from another): fewer, larger GEMMs, one grad-input GEMM in
  // backward instead of three plus sums. split's backward is a single cat.
  const int64_t q_dim = c.n_heads * c.head_dim, kv_dim = c.n_kv_heads * c.head_dim;
  const torch::Tensor h = ops::rms_norm(x, l.attn_norm, c.norm_eps, cdt);
  const auto qkv = at::linear(h, w(at::cat({l.wq, l.wk, l.wv}, 0)))
                       .split_with_sizes({q_dim, kv_dim, kv_dim}, -1);
  const torch::Tensor q = qkv[0].view({b, t, c.n_heads, c.head_dim});
  const torch::Tensor k = qkv[1].view({b, t, c.n_kv_heads, c.head_dim});
  const torch::Tensor v = qkv[2].view({b, t, c.n_kv_heads, c.head_dim});
  const torch::Tensor attn = ops::causal_attention(ops::rope(q, cos, sin), ops::rope(k, cos, sin),
                                                   v.transpose(1, 2).contiguous(),
                                                   attention_path_);
  torch::Tensor y = x + at::linear(attn, w(l.wo));

  const torch::Tensor m = ops::rms_norm(y, l.mlp_norm, c.norm_eps, cdt);
  const auto gate_up =
      at::linear(m, w(at::cat({l.w_gate, l.w_up}, 0))).split_with_sizes({c.ffn_dim, c.ffn_dim}, -1);
  return y + at::linear(at::silu(gate_up[0]) * gate_up[1], w(l.w_down));
}

// The layer's forward runs without autograd keeping anything but its input
// (and cos/sin, shared by all layers); backward runs it again with autograd
// on and back-propagates through that copy. Like PyTorch's reentrant
// checkpoint: the inner backward accumulates the layer's parameter gradients
// itself and hands back the input's. No randomness in a layer, so nothing
// needs replaying but the arithmetic. The model and layer travel as
// integers because saved_data holds IValues only.
struct CheckpointedBlock : torch::autograd::Function<CheckpointedBlock> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& cos, const torch::Tensor& sin, int64_t model, int64_t layer) {
    ctx->save_for_backward({x, cos, sin});
    ctx->saved_data["model"] = model;
    ctx->saved_data["layer"] = layer;
    auto* self = reinterpret_cast<LlamaImpl*>(model);
    return self->block(self->layers_[static_cast<size_t>(layer)], x, cos, sin);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    auto* self = reinterpret_cast<LlamaImpl*>(ctx->saved_data["model"].toInt());
    const auto& layer = self->layers_[static_cast<size_t>(ctx->saved_data["layer"].toInt())];
    torch::Tensor x = saved[0].detach().requires_grad_(true);
    torch::Tensor y;
    {
      torch::AutoGradMode enable(true);
      y = self->block(layer, x, saved[1], saved[2]);
    }
    torch::autograd::backward({y}, {grads[0]});
    return {x.grad(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

torch::Tensor LlamaImpl::hidden_states(const torch::Tensor& tokens_in) {
  const torch::Tensor tokens = check_tokens(tokens_in);
  const auto [cos, sin] = rotary_tables(tokens.size(1), tokens.device());
  // The residual stream stays fp32 whatever the compute dtype.
  torch::Tensor x = at::embedding(embed_, tokens);
  const bool recompute = checkpointing_ && torch::GradMode::is_enabled();
  for (size_t i = 0; i < layers_.size(); ++i) {
    x = recompute ? CheckpointedBlock::apply(x, cos, sin, reinterpret_cast<int64_t>(this), static_cast<int64_t>(i))
                  : block(layers_[i], x, cos, sin);
  }
  return ops::rms_norm(x, final_norm_, config_.norm_eps, compute_dtype_);
}

torch::Tensor LlamaImpl::forward(const torch::Tensor& tokens) {
  const torch::Tensor h = hidden_states(tokens);
  return at::linear(h, lm_head_weight().to(compute_dtype_)).to(torch::kFloat);
}

torch::Tensor LlamaImpl::loss(const torch::Tensor& tokens_in) {
  const torch::Tensor tokens = check_tokens(tokens_in);
  if (tokens.size(1) < 2) throw Error("loss needs sequences of at least 2 tokens");
  const torch::Tensor h = hidden_states(tokens);
  // Position i predicts token i+1; the last position has no target (-1 is
  // ignored), which keeps every row contiguous and costs 1/T extra head work.
  torch::Tensor targets = torch::full_like(tokens, -1);
  targets.narrow(1, 0, tokens.size(1) - 1).copy_(tokens.narrow(1, 1, tokens.size(1) - 1));
  return ops::linear_cross_entropy(h.reshape({-1, config_.dim}), lm_head_weight(),
                                   targets.reshape({-1}), compute_dtype_);
}

}  // namespace replay::model
