#include "model/ops.h"

#include <algorithm>

#include "model/config.h"

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

// See linear_cross_entropy in ops.h.
struct LinearCrossEntropyFn : torch::autograd::Function<LinearCrossEntropyFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& hidden, const Tensor& weight,
                        const Tensor& targets, int64_t compute_dtype, bool need_grad) {
    const auto cdt = static_cast<torch::ScalarType>(compute_dtype);
    const int64_t n = hidden.size(0), vocab = weight.size(0);
    const Tensor valid_all = targets.ge(0);
    const int64_t count = valid_all.sum().item<int64_t>();
    const double inv = count > 0 ? 1.0 / static_cast<double>(count) : 0.0;
    const int64_t chunk = loss_chunk_rows(vocab, n, hidden.is_cuda());
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
      const Tensor valid = valid_all.narrow(0, r0, rows);
      const Tensor index = t.clamp_min(0).unsqueeze(1);
      const Tensor logits = at::mm(h, w.t());
      // One softmax pass gives both the loss (-log p[target]) and the
      // gradient (p - onehot); log_softmax followed by exp was one pass more.
      Tensor p = at::softmax(logits, 1, torch::kFloat);
      Tensor row_loss = p.gather(1, index).squeeze(1).log_().neg_();
      // A target probability below fp32's range (a loss above ~87 nats)
      // underflows to log(0); those rare rows are recomputed from the logits.
      const Tensor lost = row_loss.isinf().logical_and_(valid);
      if (lost.any().item<bool>()) {
        const Tensor idx = lost.nonzero().squeeze(1);
        const Tensor z = logits.index_select(0, idx).to(torch::kFloat);
        row_loss.index_put_({idx}, at::logsumexp(z, 1) - z.gather(1, index.index_select(0, idx)).squeeze(1));
      }
      loss_sum.add_(row_loss.masked_fill_(valid.logical_not(), 0.0).sum());
      if (!need_grad) continue;
      // d loss / d logits = (p - onehot) / count on valid rows, 0 on the
      // others. The row scale is applied to the small [rows, D] operands
      // rather than to the [rows, V] probabilities: one pass less.
      p.scatter_add_(1, index, at::full({rows, 1}, -1.0, p.options()));
      const Tensor row_scale = valid.to(torch::kFloat).mul_(inv).unsqueeze(1);
      const Tensor pc = p.to(cdt);
      Tensor gh = grad_hidden.narrow(0, r0, rows);
      gh.copy_(at::mm(pc, w)).mul_(row_scale);
      const Tensor h_scaled = h * row_scale.to(cdt);
      if (cdt == torch::kFloat) grad_weight.addmm_(pc.t(), h_scaled);
      else grad_weight.add_(at::mm(pc.t(), h_scaled).to(torch::kFloat));
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
