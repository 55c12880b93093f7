// The Llama building blocks as free functions over tensors, each with a
// hand-written backward where autograd's generic one stores or recomputes
// more than it must. They run on any device (ATen ops only) and are what
// makes Replay faster than eager PyTorch on CPU.
#pragma once
#include <torch/torch.h>

namespace replay::model::ops {

// y = x / sqrt(mean(x^2) + eps) * weight over the last dimension, computed in
// fp32 (Hugging Face LlamaRMSNorm), output in `out_dtype`.
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps,
                       torch::ScalarType out_dtype);

// Rotary embedding, Hugging Face rotate-half convention: for x [B,T,H,D] and
// cos/sin [T, D/2] (the half-tables; HF's full tables repeat them twice),
// returns x*cos + rotate_half(x)*sin as a [B,H,T,D] contiguous tensor (the
// layout attention wants, so no separate transpose copy).
torch::Tensor rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

// `auto` and `explicit` are C++ keywords, hence `automatic` and `matmul`
// (the benchmark's --attention names stay auto/explicit/sdpa/tasks).
enum class AttentionPath {
  automatic,  // sdpa on libtorch >= 2; on 1.13 tasks for fp32 on CPU, else
              // matmul
  matmul,     // softmax(q k^T / sqrt(d) + causal mask) v with batched matmuls
  sdpa,       // the library's scaled_dot_product_attention (private op on 1.13)
  tasks,      // matmul's arithmetic, one cache-sized task per (batch, kv
              // head) with a hand-written backward (fp32 CPU only)
};

// The path `automatic` picks for tensors like `q` (other paths are returned as is).
AttentionPath resolve_attention_path(AttentionPath path, const torch::Tensor& q);

// Causal grouped-query attention. q [B,H,T,D], k/v [B,KV,T,D] (contiguous,
// H % KV == 0; query head h reads kv head h / (H/KV) as in HF repeat_kv).
// Returns [B,T,H*D].
torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, AttentionPath path);

// Mean cross entropy of softmax(hidden @ weight^T) against `targets`, rows
// with target < 0 ignored, without materializing the [N, V] logits: rows are
// processed in chunks and, when a gradient is needed, the gradients of
// hidden and weight are produced in the same pass (then scaled by the
// incoming gradient in backward). hidden [N,D], weight [V,D], targets [N]
// int64. Logit matmuls run in `compute_dtype`, softmax in fp32.
torch::Tensor linear_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                   const torch::Tensor& targets, torch::ScalarType compute_dtype);

}  // namespace replay::model::ops
