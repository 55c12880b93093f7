#include "model/memory_plan.h"

#include <algorithm>

namespace replay::model {

double activation_floats_per_token(const ModelConfig& c, int64_t seq_len, bool fused_attention,
                                   bool checkpointing) {
  const auto dim = static_cast<double>(c.dim);
  const auto layers = static_cast<double>(c.n_layers);
  const double qkv = static_cast<double>((c.n_heads + 2 * c.n_kv_heads) * c.head_dim);
  const double probabilities = fused_attention ? 0.0 : static_cast<double>(c.n_heads * seq_len);
  const double per_layer = 8.0 * dim + 2.0 * qkv + 4.0 * static_cast<double>(c.ffn_dim) + probabilities;
  const double outside_layers = 4.0 * dim;  // embedding output, final norm, LM-head input
  if (!checkpointing) return layers * per_layer + outside_layers;
  // The recomputed layer's activations plus the gradients of its backward,
  // alive together (measured 2.26 x at d512, L8; rounded up).
  return layers * dim + 2.5 * per_layer + outside_layers;
}

MemoryBreakdown plan_memory(const ModelConfig& c, const MemoryPlanOptions& o) {
  const auto params = static_cast<double>(count_params(c).total);
  const double value_bytes = o.bf16_state ? 2.0 : 4.0;
  const double shard = o.shard_optimizer && o.ranks > 1 ? static_cast<double>(o.ranks) : 1.0;
  MemoryBreakdown m;
  m.weights = params * value_bytes;
  m.gradients = params * value_bytes;  // whole on every rank: ZeRO-1 shards the moments only
  m.optimizer = o.offload_optimizer ? 0.0 : 2.0 * params * value_bytes / shard;
  const double tokens = static_cast<double>(o.microbatch) * static_cast<double>(o.seq_len);
  const double floats = activation_floats_per_token(c, o.seq_len, o.gpu, o.checkpointing);
  // bf16 compute keeps most saved tensors in bf16; the residual stream
  // (counted as one D per layer) stays fp32.
  const double residual = static_cast<double>(c.n_layers * c.dim);
  const double bytes_per_token =
      o.bf16_compute ? 2.0 * floats + 2.0 * std::min(residual, floats) : 4.0 * floats;
  m.activations = tokens * bytes_per_token;
  const auto rows = static_cast<double>(loss_chunk_rows(c.vocab_size, o.microbatch * o.seq_len, o.gpu));
  m.loss = 2.0 * 4.0 * rows * static_cast<double>(c.vocab_size);  // fp32 logits and probabilities
  return m;
}

std::vector<FitWay> ways_to_fit(const ModelConfig& c, const MemoryPlanOptions& base, double device_bytes) {
  std::vector<std::pair<std::string, MemoryPlanOptions>> ways;
  auto with = [&](const std::string& name, auto change) {
    MemoryPlanOptions o = base;
    change(o);
    ways.emplace_back(name, o);
  };
  with("as configured", [](MemoryPlanOptions&) {});
  with("activation checkpointing", [](MemoryPlanOptions& o) { o.checkpointing = true; });
  with("bf16 weights and moments", [](MemoryPlanOptions& o) { o.bf16_state = true; });
  with("bf16 weights and moments + activation checkpointing", [](MemoryPlanOptions& o) {
    o.bf16_state = true;
    o.checkpointing = true;
  });
  with("optimizer state offloaded to the host + activation checkpointing", [](MemoryPlanOptions& o) {
    o.offload_optimizer = true;
    o.checkpointing = true;
  });
  if (base.ranks > 1) {
    with("optimizer sharded across " + std::to_string(base.ranks) + " ranks + activation checkpointing",
         [](MemoryPlanOptions& o) {
           o.shard_optimizer = true;
           o.checkpointing = true;
         });
  }
  std::vector<FitWay> out;
  for (auto& [name, o] : ways) {
    FitWay w{name, o, plan_memory(c, o), false};
    w.fits = w.memory.total() <= device_bytes;
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace replay::model
