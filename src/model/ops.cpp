#include "model/ops.h"

#include <torch/version.h>

#include <algorithm>

namespace replay::model::ops {

namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// Autograd's RMSNorm (pow, mean, add, rsqrt, mul, mul) keeps five
// intermediates per call; this one keeps x and one scalar per row, and the
// backward's row dot product is a single matrix-vector product.
struct RmsNormFn : torch::autograd::Function<RmsNormFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& weight, double eps,
                        int64_t out_dtype) {
    const Tensor xf = x.to(torch::kFloat);
    const int64_t d = xf.size(-1);
    Tensor rstd = at::linalg_vector_norm(xf, 2, {-1}, /*keepdim=*/true);
    rstd.square_().div_(static_cast<double>(d)).add_(eps).rsqrt_();
    Tensor y = xf * rstd;
    y.mul_(weight);
    ctx->save_for_backward({xf, weight, rstd});
    ctx->saved_data["in_dtype"] = static_cast<int64_t>(x.scalar_type());
    return y.to(static_cast<torch::ScalarType>(out_dtype));
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor& xf = saved[0];
    const Tensor& weight = saved[1];
    const Tensor& rstd = saved[2];
    const int64_t d = xf.size(-1);
    const Tensor g = grads[0].to(torch::kFloat);
    const Tensor xhat = xf * rstd;
    const Tensor gxhat_xhat = g * xhat;  // per element: g * xhat
    // grad of weight: sum over rows of g * xhat.
    const Tensor gw = gxhat_xhat.reshape({-1, d}).sum(0);
    // mean over the row of (g * w) * xhat == (g * xhat) . w / d
    const Tensor dot = at::matmul(gxhat_xhat, weight).div_(static_cast<double>(d)).unsqueeze(-1);
    Tensor gx = g * weight;
    gx.addcmul_(xhat, dot, -1.0).mul_(rstd);
    const auto in_dtype = static_cast<torch::ScalarType>(ctx->saved_data["in_dtype"].toInt());
    return {gx.to(in_dtype), gw.to(weight.scalar_type()), Tensor(), Tensor()};
  }
};

// out = x rotated by the angles (sign +1) or back (sign -1), written into
// `out` (any strides): out1 = x1 c - sign x2 s, out2 = x2 c + sign x1 s.
void rotate_into(Tensor& out, const Tensor& x, const Tensor& cos, const Tensor& sin, double sign) {
  const int64_t half = x.size(-1) / 2;
  const int64_t t = x.size(1);
  const Tensor c = cos.view({t, 1, half});
  const Tensor s = sin.view({t, 1, half});
  Tensor o1 = out.narrow(-1, 0, half);
  Tensor o2 = out.narrow(-1, half, half);
  const Tensor x1 = x.narrow(-1, 0, half);
  const Tensor x2 = x.narrow(-1, half, half);
  at::mul_out(o1, x1, c);
  o1.addcmul_(x2, s, -sign);
  at::mul_out(o2, x2, c);
  o2.addcmul_(x1, s, sign);
}

struct RopeFn : torch::autograd::Function<RopeFn> {
  // x [B,T,H,D] -> [B,H,T,D] contiguous.
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& cos,
                        const Tensor& sin) {
    Tensor out = at::empty({x.size(0), x.size(2), x.size(1), x.size(3)}, x.options());
    Tensor out_bthd = out.permute({0, 2, 1, 3});
    rotate_into(out_bthd, x, cos, sin, 1.0);
    ctx->save_for_backward({cos, sin});
    return out;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor g = grads[0].permute({0, 2, 1, 3});  // [B,T,H,D] view
    Tensor gx = at::empty(g.sizes(), g.options());
    rotate_into(gx, g, saved[0], saved[1], -1.0);  // the inverse rotation
    return {gx, Tensor(), Tensor()};
  }
};

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

Tensor attention_explicit(const Tensor& q, const Tensor& k, const Tensor& v) {
  const int64_t b = q.size(0), h = q.size(1), t = q.size(2), d = q.size(3);
  const int64_t kv = k.size(1), groups = h / kv;
  // Query heads sharing a kv head are stacked along the row axis, so one
  // batched matmul serves the whole group with no copy of k or v.
  const Tensor q3 = q.reshape({b * kv, groups * t, d});
  const Tensor k3 = k.reshape({b * kv, t, d});
  const Tensor v3 = v.reshape({b * kv, t, d});
  const Tensor mask = grouped_causal_mask(t, groups, q.options());
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  Tensor scores = at::baddbmm(mask.expand({b * kv, groups * t, t}), q3, k3.transpose(1, 2),
                              /*beta=*/1.0, /*alpha=*/scale);
  // Softmax in fp32 whatever the compute dtype (as Hugging Face does).
  Tensor probs = at::softmax(scores, -1, torch::kFloat).to(q.scalar_type());
  Tensor out = at::bmm(probs, v3);  // [B*KV, G*T, D] == [B,H,T,D]
  return out.view({b, h, t, d}).transpose(1, 2).reshape({b, t, h * d});
}

Tensor attention_sdpa(const Tensor& q, const Tensor& k, const Tensor& v) {
  const int64_t b = q.size(0), h = q.size(1), t = q.size(2), d = q.size(3);
  const int64_t groups = h / k.size(1);
  const Tensor kr = groups == 1 ? k : k.repeat_interleave(groups, 1);
  const Tensor vr = groups == 1 ? v : v.repeat_interleave(groups, 1);
#if TORCH_VERSION_MAJOR >= 2
  Tensor out = at::scaled_dot_product_attention(q, kr, vr, {}, 0.0, /*is_causal=*/true);
#else
  Tensor out = std::get<0>(at::_scaled_dot_product_attention(q, kr, vr, {}, 0.0,
                                                             /*need_attn_weights=*/false,
                                                             /*is_causal=*/true));
#endif
  return out.transpose(1, 2).reshape({b, t, h * d});
}

// See linear_cross_entropy in ops.h.
struct LinearCrossEntropyFn : torch::autograd::Function<LinearCrossEntropyFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& hidden, const Tensor& weight,
                        const Tensor& targets, int64_t compute_dtype, bool need_grad) {
    const auto cdt = static_cast<torch::ScalarType>(compute_dtype);
    const int64_t n = hidden.size(0), vocab = weight.size(0);
    const Tensor valid_all = targets.ge(0);
    const int64_t count = valid_all.sum().item<int64_t>();
    const double inv = count > 0 ? 1.0 / static_cast<double>(count) : 0.0;
    // CPU: ~16 MB of fp32 logits per chunk, big enough for efficient
    // matmuls, small enough to stay near the caches. GPU: ~1 GiB, so the
    // matmuls are large and kernel launches few.
    const int64_t budget = hidden.is_cuda() ? (int64_t{1} << 28) : (int64_t{1} << 22);
    // At least 512 rows: every chunk adds into the whole [V, D] weight
    // gradient, so few-row chunks turn that GEMM memory-bound at large V.
    const int64_t chunk = std::clamp<int64_t>(budget / vocab, 512, std::max<int64_t>(n, 1));
    const Tensor w = weight.to(cdt);
    Tensor grad_hidden, grad_weight;
    if (need_grad) {
      grad_hidden = at::empty({n, hidden.size(1)}, hidden.options().dtype(torch::kFloat));
      grad_weight = at::zeros(weight.sizes(), weight.options().dtype(torch::kFloat));
    }
    Tensor loss_sum = at::zeros({}, hidden.options().dtype(torch::kFloat));
    for (int64_t r0 = 0; r0 < n; r0 += chunk) {
      const int64_t rows = std::min(chunk, n - r0);
      const Tensor h = hidden.narrow(0, r0, rows).to(cdt);
      const Tensor t = targets.narrow(0, r0, rows);
      const Tensor valid = valid_all.narrow(0, r0, rows).to(torch::kFloat);
      const Tensor index = t.clamp_min(0).unsqueeze(1);
      // log_softmax is one vectorized kernel; logsumexp + sub + exp was ~4x slower here.
      Tensor logp = at::log_softmax(at::mm(h, w.t()), 1, torch::kFloat);
      loss_sum.sub_((logp.gather(1, index).squeeze(1) * valid).sum());
      if (!need_grad) continue;
      // d loss / d logits = (softmax - onehot) / count on valid rows.
      Tensor p = logp.exp_();
      const Tensor row_scale = (valid * inv).unsqueeze(1);
      p.mul_(row_scale);
      p.scatter_add_(1, index, -row_scale);
      const Tensor pc = p.to(cdt);
      grad_hidden.narrow(0, r0, rows).copy_(at::mm(pc, w));
      if (cdt == torch::kFloat) grad_weight.addmm_(pc.t(), h);
      else grad_weight.add_(at::mm(pc.t(), h).to(torch::kFloat));
    }
    if (need_grad)
      ctx->save_for_backward({grad_hidden.to(hidden.scalar_type()),
                              grad_weight.to(weight.scalar_type())});
    return loss_sum.mul_(inv);
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor& g = grads[0];
    return {saved[0] * g, saved[1] * g, Tensor(), Tensor(), Tensor()};
  }
};

}  // namespace

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps,
                       torch::ScalarType out_dtype) {
  return RmsNormFn::apply(x, weight, eps, static_cast<int64_t>(out_dtype));
}

torch::Tensor rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  return RopeFn::apply(x, cos.to(x.scalar_type()), sin.to(x.scalar_type()));
}

torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, AttentionPath path) {
  if (path == AttentionPath::kAuto)
    path = TORCH_VERSION_MAJOR >= 2 ? AttentionPath::kSdpa : AttentionPath::kExplicit;
  return path == AttentionPath::kSdpa ? attention_sdpa(q, k, v) : attention_explicit(q, k, v);
}

torch::Tensor linear_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                   const torch::Tensor& targets,
                                   torch::ScalarType compute_dtype) {
  TORCH_CHECK(hidden.dim() == 2 && weight.dim() == 2 && targets.dim() == 1 &&
                  hidden.size(0) == targets.size(0) && hidden.size(1) == weight.size(1),
              "linear_cross_entropy: shapes hidden [N,D], weight [V,D], targets [N] expected");
  const bool need_grad = torch::autograd::GradMode::is_enabled() &&
                         (hidden.requires_grad() || weight.requires_grad());
  return LinearCrossEntropyFn::apply(hidden, weight, targets,
                                     static_cast<int64_t>(compute_dtype), need_grad);
}

}  // namespace replay::model::ops
