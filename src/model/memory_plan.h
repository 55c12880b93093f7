// What training a model holds in memory, term by term. The one model of it:
// the CPU memory gate (run/run_config.h, with coefficients calibrated against
// measured peaks) and `replay model memory` (plans for GPUs) both use it.
//
// Per parameter (P parameters):
//   paper precision (fp32 weights, gradients and AdamW moments, bf16 compute):
//     4 + 4 + 8 = 16 bytes. Llama-3.1-8B: 8.03e9 x 16 = 128.5 GB before activations.
//   bf16 weights, gradients and moments (with stochastic rounding): 2 + 2 + 4 = 8 bytes.
//   optimizer sharding across R data-parallel ranks (ZeRO-1, the trainer's
//     train.shard_optimizer; train/sharded_optimizer.h): the AdamW moments
//     (8 bytes at paper precision) are divided by R; weights and gradients
//     stay whole on every rank (ZeRO-2, which would divide the gradients
//     too, is not done). There is no separate fp32 master copy: the weights
//     are the fp32 master. Llama-3.1-8B on 8 ranks: 4 + 4 + 8 / 8 = 9 bytes,
//     72.3 GB before activations.
//   optimizer offloading: the moments live in host memory; the device holds
//     weights and gradients only.
// Activations: the tensors autograd keeps for one microbatch of B x T tokens.
//   Without checkpointing, per token and layer: the norms and residuals
//   (~8 D), q/k/v before and after rotary (2 (H + 2 KV) hd), the MLP's gate,
//   up, activation and product (4 F), and on the explicit CPU attention path
//   the probabilities (H x T; a GPU's fused attention keeps none).
//   With per-layer activation checkpointing: only each layer's input (D, fp32
//   residual stream) is kept, plus, while one layer is recomputed during
//   backward, its activations and the gradients flowing through it: 2.5 x one
//   layer's activations (measured: bench/train/memory.sh, d512-mb64-ckpt).
// The LM-head loss never materializes [B, T, V] logits: one chunk of rows
// (loss_chunk_rows) at a time, logits and probabilities.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"

namespace replay::model {

// Floats autograd keeps per token of a microbatch, summed over all layers.
double activation_floats_per_token(const ModelConfig& config, int64_t seq_len, bool fused_attention,
                                   bool checkpointing);

struct MemoryPlanOptions {
  int64_t microbatch = 1;        // sequences per forward/backward
  int64_t seq_len = 4096;
  bool bf16_compute = true;      // activations kept in bf16 (the residual stream stays fp32)
  bool bf16_state = false;       // bf16 weights, gradients and moments (8 bytes/parameter)
  bool checkpointing = false;    // per-layer activation checkpointing
  int64_t ranks = 1;             // data-parallel ranks
  bool shard_optimizer = false;  // the AdamW moments divided across `ranks` (ZeRO-1)
  bool offload_optimizer = false;  // moments in host memory
  bool gpu = true;               // fused attention, GPU loss chunks
};

// Bytes on one device (one rank).
struct MemoryBreakdown {
  double weights = 0, gradients = 0, optimizer = 0, activations = 0, loss = 0;
  double total() const { return weights + gradients + optimizer + activations + loss; }
};
MemoryBreakdown plan_memory(const ModelConfig& config, const MemoryPlanOptions& options);

// The standard ways to make training fit a device of `device_bytes`, from
// the cheapest (nothing changed) to the most intrusive: activation
// checkpointing, bf16 state (with and without checkpointing), optimizer
// offloading, and, when options.ranks > 1, optimizer sharding. Each with its
// plan and whether it fits.
struct FitWay {
  std::string name;
  MemoryPlanOptions options;
  MemoryBreakdown memory;
  bool fits = false;
};
std::vector<FitWay> ways_to_fit(const ModelConfig& config, const MemoryPlanOptions& base, double device_bytes);

}  // namespace replay::model
