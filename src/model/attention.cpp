// Causal grouped-query attention, three interchangeable paths (see
// AttentionPath in ops.h). All take q [B,H,T,D] and k/v [B,KV,T,D] and give
// the same numbers within fp32 rounding; tests compare them pairwise.
#include <torch/version.h>

#include <cmath>
#include <limits>

#include "model/ops.h"

namespace replay::model::ops {

namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// Additive causal mask for the grouped layout: G query blocks of T rows each
// against T keys. Cached because every layer of every step asks for it.
Tensor grouped_causal_mask(int64_t t, int64_t groups, const torch::TensorOptions& options) {
  thread_local Tensor cached;
  thread_local int64_t cached_groups = -1;
  if (!cached.defined() || cached.size(1) != t || cached_groups != groups ||
      cached.device() != options.device() || cached.scalar_type() != options.dtype()) {
    Tensor mask = at::full({t, t}, -std::numeric_limits<float>::infinity(), options).triu_(1);
    cached = groups == 1 ? mask : mask.repeat({groups, 1});
    cached_groups = groups;
  }
  return cached;
}

double softmax_scale(const Tensor& q) { return 1.0 / std::sqrt(static_cast<double>(q.size(-1))); }

// Query heads sharing a kv head are stacked along the row axis: [B*KV, G*T, D].
// One matmul per (batch, kv head) then serves the whole group with no copy of
// k or v (Hugging Face's repeat_kv, without the repeat).
Tensor grouped_queries(const Tensor& q, const Tensor& k) {
  const int64_t groups = q.size(1) / k.size(1);
  return q.reshape({q.size(0) * k.size(1), groups * q.size(2), q.size(3)});
}

Tensor merge_heads(const Tensor& out3, const Tensor& q) {
  const int64_t b = q.size(0), h = q.size(1), t = q.size(2), d = q.size(3);
  return out3.view({b, h, t, d}).transpose(1, 2).reshape({b, t, h * d});
}

Tensor attention_matmul(const Tensor& q, const Tensor& k, const Tensor& v) {
  const int64_t n = k.size(0) * k.size(1), t = k.size(2), d = k.size(3);
  const Tensor q3 = grouped_queries(q, k);
  const Tensor k3 = k.reshape({n, t, d});
  const Tensor v3 = v.reshape({n, t, d});
  const Tensor mask = grouped_causal_mask(t, q.size(1) / k.size(1), q.options());
  Tensor scores = at::baddbmm(mask.expand({n, q3.size(1), t}), q3, k3.transpose(1, 2),
                              /*beta=*/1.0, /*alpha=*/softmax_scale(q));
  // Softmax in fp32 whatever the compute dtype (as Hugging Face does).
  Tensor probs = at::softmax(scores, -1, torch::kFloat).to(q.scalar_type());
  return merge_heads(at::bmm(probs, v3), q);
}

// The matmul path's arithmetic with one task per (batch, kv head): each
// task runs its matmuls, mask and softmax single-threaded on a [G*T, T] score
// block that stays in the core's cache. Batched matmuls over many small
// matrices reach about 70 GFLOP/s on this 2-core machine against about 170
// for these per-task GEMMs, and the backward is written out so that it
// reuses the saved probabilities instead of autograd's four saved tensors.
// Each task's result does not depend on how tasks are spread over threads,
// so the numbers are the same for any thread count.
struct TaskAttentionFn : torch::autograd::Function<TaskAttentionFn> {
  // q3 [N, G*T, D], k3 and v3 [N, T, D], contiguous fp32 -> [N, G*T, D].
  static Tensor forward(AutogradContext* ctx, const Tensor& q3, const Tensor& k3,
                        const Tensor& v3, double scale) {
    const int64_t n = q3.size(0), rows = q3.size(1), t = k3.size(1);
    const Tensor mask = grouped_causal_mask(t, rows / t, q3.options());
    Tensor probs = at::empty({n, rows, t}, q3.options());
    Tensor out = at::empty(q3.sizes(), q3.options());
    at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
      const torch::NoGradGuard no_grad;  // worker threads start with grad mode on
      Tensor scores = at::empty({rows, t}, q3.options());
      for (int64_t i = begin; i < end; ++i) {
        Tensor p = probs[i], o = out[i];
        at::addmm_out(scores, mask, q3[i], k3[i].t(), /*beta=*/1.0, /*alpha=*/scale);
        at::_softmax_out(p, scores, -1, false);
        at::mm_out(o, p, v3[i]);
      }
    });
    ctx->save_for_backward({q3, k3, v3, probs});
    ctx->saved_data["scale"] = scale;
    return out;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &q3 = saved[0], &k3 = saved[1], &v3 = saved[2], &probs = saved[3];
    const double scale = ctx->saved_data["scale"].toDouble();
    const Tensor grad_out = grads[0].contiguous();
    const int64_t n = q3.size(0), rows = q3.size(1), t = k3.size(1);
    Tensor gq = at::empty(q3.sizes(), q3.options());
    Tensor gk = at::empty(k3.sizes(), k3.options());
    Tensor gv = at::empty(v3.sizes(), v3.options());
    at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
      const torch::NoGradGuard no_grad;
      Tensor grad_probs = at::empty({rows, t}, q3.options());
      Tensor grad_scores = at::empty({rows, t}, q3.options());
      for (int64_t i = begin; i < end; ++i) {
        const Tensor p = probs[i], go = grad_out[i];
        Tensor gq_i = gq[i], gk_i = gk[i], gv_i = gv[i];
        // Stacked query heads make these sums over the whole group at once.
        at::mm_out(gv_i, p.t(), go);
        at::mm_out(grad_probs, go, v3[i].t());
        at::_softmax_backward_data_out(grad_scores, grad_probs, p, -1, torch::kFloat);
        at::addmm_out(gq_i, gq_i, grad_scores, k3[i], /*beta=*/0.0, /*alpha=*/scale);
        at::addmm_out(gk_i, gk_i, grad_scores.t(), q3[i], /*beta=*/0.0, /*alpha=*/scale);
      }
    });
    return {gq, gk, gv, Tensor()};
  }
};

Tensor attention_tasks(const Tensor& q, const Tensor& k, const Tensor& v) {
  const int64_t n = k.size(0) * k.size(1), t = k.size(2), d = k.size(3);
  const Tensor out3 = TaskAttentionFn::apply(grouped_queries(q, k).contiguous(),
                                             k.reshape({n, t, d}).contiguous(),
                                             v.reshape({n, t, d}).contiguous(), softmax_scale(q));
  return merge_heads(out3, q);
}

Tensor attention_sdpa(const Tensor& q, const Tensor& k, const Tensor& v) {
  const int64_t groups = q.size(1) / k.size(1);
  const Tensor kr = groups == 1 ? k : k.repeat_interleave(groups, 1);
  const Tensor vr = groups == 1 ? v : v.repeat_interleave(groups, 1);
#if TORCH_VERSION_MAJOR >= 2
  Tensor out = at::scaled_dot_product_attention(q, kr, vr, {}, 0.0, /*is_causal=*/true);
#else
  Tensor out = std::get<0>(at::_scaled_dot_product_attention(q, kr, vr, {}, 0.0,
                                                             /*need_attn_weights=*/false,
                                                             /*is_causal=*/true));
#endif
  return out.transpose(1, 2).reshape({q.size(0), q.size(2), q.size(1) * q.size(3)});
}

}  // namespace

AttentionPath resolve_attention_path(AttentionPath path, const torch::Tensor& q) {
  if (path != AttentionPath::automatic) return path;
  // libtorch >= 2: its fused kernels (flash attention on GPU; on CPU as fast
  // as tasks: 0.422 s vs 0.422 s median per micro step under 2.6 here).
  if (TORCH_VERSION_MAJOR >= 2) return AttentionPath::sdpa;
  const bool cpu_fp32 = q.device().is_cpu() && q.scalar_type() == torch::kFloat;
  return cpu_fp32 ? AttentionPath::tasks : AttentionPath::matmul;
}

torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, AttentionPath path) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.sizes() == k.sizes() && q.size(0) == k.size(0) &&
                  q.size(2) == k.size(2) && q.size(3) == k.size(3) && q.size(1) % k.size(1) == 0,
              "causal_attention: q [B,H,T,D], k/v [B,KV,T,D] with H % KV == 0 expected");
  switch (resolve_attention_path(path, q)) {
    case AttentionPath::sdpa: return attention_sdpa(q, k, v);
    case AttentionPath::tasks:
      TORCH_CHECK(q.device().is_cpu() && q.scalar_type() == torch::kFloat,
                  "causal_attention: the per-task path is for fp32 CPU tensors");
      return attention_tasks(q, k, v);
    default: return attention_matmul(q, k, v);
  }
}

}  // namespace replay::model::ops
