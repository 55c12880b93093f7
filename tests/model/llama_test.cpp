#include <gtest/gtest.h>
#include <torch/version.h>

#include "model/llama.h"
#include "model/threads.h"
#include "util/error.h"

using namespace replay::model;
using torch::Tensor;

namespace {

double max_rel_diff(const Tensor& a, const Tensor& b) {
  const double scale = std::max(b.abs().max().item<double>(), 1e-12);
  return (a - b).abs().max().item<double>() / scale;
}

Tensor random_tokens(int64_t b, int64_t t, int64_t vocab, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::randint(vocab, {b, t}, torch::kLong);
}

// Autograd-only references for the hand-written ops.
Tensor reference_rms_norm(const Tensor& x, const Tensor& w, double eps) {
  return x * torch::rsqrt(x.pow(2).mean(-1, true) + eps) * w;
}
Tensor rotate_half(const Tensor& x) {
  const int64_t h = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, h, h), x.narrow(-1, 0, h)}, -1);
}

}  // namespace

TEST(Llama, HuggingFaceParameterNamesAndGroups) {
  torch::manual_seed(0);
  Llama model(preset("tiny"));
  auto names = model->named_parameters().keys();
  EXPECT_EQ(names.front(), "model.embed_tokens.weight");
  EXPECT_EQ(names.back(), "lm_head.weight");
  EXPECT_TRUE(model->named_parameters().contains("model.layers.1.self_attn.k_proj.weight"));
  EXPECT_TRUE(model->named_parameters().contains("model.layers.0.mlp.gate_proj.weight"));
  EXPECT_TRUE(model->named_parameters().contains("model.layers.0.post_attention_layernorm.weight"));
  EXPECT_EQ(model->named_parameters()["model.layers.0.self_attn.k_proj.weight"].sizes(),
            (std::vector<int64_t>{2 * 16, 64}));
  int64_t total = 0;
  for (const auto& p : model->parameters()) total += p.numel();
  EXPECT_EQ(total, count_params(model->config()).total);

  auto groups = model->param_groups();
  // Embedding + (2 norms x 2 layers) + final norm are not decayed.
  EXPECT_EQ(groups.no_decay.size(), 6u);
  EXPECT_EQ(groups.decay.size(), 2u * 7u + 1u);
  EXPECT_FALSE(LlamaImpl::is_decayed("model.norm.weight"));
  EXPECT_TRUE(LlamaImpl::is_decayed("lm_head.weight"));

  ModelConfig tied = preset("tiny");
  tied.tie_embeddings = true;
  Llama t(tied);
  EXPECT_FALSE(t->named_parameters().contains("lm_head.weight"));
  EXPECT_TRUE(t->lm_head_weight().is_same(t->embedding_weight()));
}

TEST(Llama, InitIsSeededAndNormal) {
  torch::manual_seed(7);
  Llama a(preset("tiny"));
  torch::manual_seed(7);
  Llama b(preset("tiny"));
  for (const auto& item : a->named_parameters())
    EXPECT_TRUE(torch::equal(item.value(), b->named_parameters()[item.key()])) << item.key();
  const Tensor w = a->named_parameters()["model.layers.0.mlp.up_proj.weight"];
  EXPECT_NEAR(w.std().item<double>(), 0.02, 0.002);
  EXPECT_NEAR(w.mean().item<double>(), 0.0, 0.002);
  EXPECT_TRUE(torch::all(a->named_parameters()["model.norm.weight"] == 1).item<bool>());
}

TEST(Llama, ForwardShapeAndInputErrors) {
  torch::manual_seed(0);
  Llama model(preset("tiny"));
  const Tensor logits = model->forward(random_tokens(2, 10, 256, 1));
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 10, 256}));
  EXPECT_EQ(logits.scalar_type(), torch::kFloat);
  EXPECT_THROW(model->forward(torch::zeros({2, 10}, torch::kInt)), replay::Error);
  EXPECT_THROW(model->forward(torch::zeros({2, 65}, torch::kLong)), replay::Error);
  EXPECT_THROW(model->loss(torch::zeros({2, 1}, torch::kLong)), replay::Error);
}

TEST(Llama, CausalityFutureTokensDoNotChangeThePast) {
  torch::manual_seed(0);
  Llama model(preset("tiny"));
  Tensor tokens = random_tokens(1, 16, 256, 3);
  const Tensor before = model->forward(tokens);
  tokens[0][12] = (tokens[0][12].item<int64_t>() + 1) % 256;
  const Tensor after = model->forward(tokens);
  EXPECT_TRUE(torch::allclose(before.narrow(1, 0, 12), after.narrow(1, 0, 12), 0, 0));
  EXPECT_FALSE(torch::allclose(before.narrow(1, 12, 4), after.narrow(1, 12, 4)));
}

TEST(Llama, FusedLossAndGradsMatchPlainCrossEntropy) {
  ModelConfig c = preset("tiny");
  c.init_std = 0.1;
  torch::manual_seed(1);
  Llama model(c);
  const Tensor tokens = random_tokens(3, 33, c.vocab_size, 2);

  const Tensor fused = model->loss(tokens);
  fused.backward();
  std::map<std::string, Tensor> fused_grads;
  for (auto& item : model->named_parameters()) {
    fused_grads[item.key()] = item.value().grad().clone();
    item.value().mutable_grad().zero_();
  }
  const Tensor logits = model->forward(tokens);
  const int64_t t = tokens.size(1);
  const Tensor plain = torch::nn::functional::cross_entropy(
      logits.narrow(1, 0, t - 1).reshape({-1, c.vocab_size}),
      tokens.narrow(1, 1, t - 1).reshape({-1}));
  plain.backward();
  EXPECT_NEAR(fused.item<double>(), plain.item<double>(), 1e-5);
  EXPECT_GT(plain.item<double>(), 4.0);  // ~ln(256) for a near-random model
  for (auto& item : model->named_parameters())
    EXPECT_LT(max_rel_diff(fused_grads[item.key()], item.value().grad()), 1e-4) << item.key();

  // Eval: no graph, same number.
  torch::NoGradGuard no_grad;
  EXPECT_NEAR(model->loss(tokens).item<double>(), fused.item<double>(), 1e-6);
}

TEST(Ops, LinearCrossEntropyIgnoresNegativeTargetsAndChunks) {
  torch::manual_seed(3);
  // Vocab large enough that rows are processed in several chunks.
  const Tensor h = torch::randn({1100, 8}, torch::requires_grad());
  const Tensor w = torch::randn({9000, 8}, torch::requires_grad());
  Tensor targets = torch::randint(9000, {1100}, torch::kLong);
  targets.narrow(0, 100, 20).fill_(-1);
  const Tensor fused = ops::linear_cross_entropy(h, w, targets, torch::kFloat) * 3.0;
  const auto g = torch::autograd::grad({fused}, {h, w});
  const Tensor plain = torch::nn::functional::cross_entropy(
                           at::linear(h, w), targets,
                           torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-1)) *
                       3.0;
  const auto r = torch::autograd::grad({plain}, {h, w});
  EXPECT_NEAR(fused.item<double>(), plain.item<double>(), 1e-4);
  EXPECT_LT(max_rel_diff(g[0], r[0]), 1e-4);
  EXPECT_LT(max_rel_diff(g[1], r[1]), 1e-4);
}

TEST(Ops, LinearCrossEntropyKeepsHugeLossesFinite) {
  // Targets whose probability underflows fp32 (logit 150 nats below the
  // best): the loss must be the exact ~150, not inf, and the gradient finite.
  const Tensor h = torch::ones({4, 1}, torch::requires_grad());
  const Tensor w = torch::tensor({0.0f, 150.0f, 1.0f}).reshape({3, 1}).requires_grad_();
  const Tensor targets = torch::tensor({0, 1, 2, -1}, torch::kLong);
  const Tensor fused = ops::linear_cross_entropy(h, w, targets, torch::kFloat);
  const auto g = torch::autograd::grad({fused}, {h, w});
  const Tensor plain = torch::nn::functional::cross_entropy(
      at::linear(h, w), targets, torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-1));
  const auto r = torch::autograd::grad({plain}, {h, w});
  EXPECT_TRUE(std::isfinite(fused.item<double>()));
  EXPECT_GT(fused.item<double>(), 90.0);
  EXPECT_NEAR(fused.item<double>(), plain.item<double>(), 1e-4);
  EXPECT_LT(max_rel_diff(g[0], r[0]), 1e-5);
  EXPECT_LT(max_rel_diff(g[1], r[1]), 1e-5);
}

TEST(Ops, RmsNormMatchesAutograd) {
  torch::manual_seed(4);
  const Tensor x = torch::randn({3, 5, 24}, torch::requires_grad());
  const Tensor w = (torch::rand({24}) + 0.5).requires_grad_();
  const Tensor up = torch::randn({3, 5, 24});
  const Tensor y = ops::rms_norm(x, w, 1e-5, torch::kFloat);
  const Tensor ref = reference_rms_norm(x, w, 1e-5);
  EXPECT_LT(max_rel_diff(y, ref), 1e-6);
  const auto g = torch::autograd::grad({(y * up).sum()}, {x, w});
  const auto r = torch::autograd::grad({(ref * up).sum()}, {x, w});
  EXPECT_LT(max_rel_diff(g[0], r[0]), 1e-5);
  EXPECT_LT(max_rel_diff(g[1], r[1]), 1e-5);
}

TEST(Ops, RopeMatchesRotateHalfAndItsGradient) {
  torch::manual_seed(5);
  const int64_t b = 2, t = 7, h = 3, d = 8;
  const Tensor x = torch::randn({b, t, h, d}, torch::requires_grad());
  const Tensor angles = torch::rand({t, d / 2}) * 6.0;
  const Tensor cos = angles.cos(), sin = angles.sin();
  const Tensor y = ops::rope(x, cos, sin);  // [B,H,T,D]
  ASSERT_TRUE(y.is_contiguous());
  // HF: full tables cat(freqs, freqs), broadcast over heads.
  const Tensor cos_full = torch::cat({cos, cos}, -1).view({t, 1, d});
  const Tensor sin_full = torch::cat({sin, sin}, -1).view({t, 1, d});
  const Tensor ref = (x * cos_full + rotate_half(x) * sin_full).transpose(1, 2);
  EXPECT_LT(max_rel_diff(y, ref), 1e-6);
  const Tensor up = torch::randn({b, h, t, d});
  const auto g = torch::autograd::grad({(y * up).sum()}, {x});
  const auto r = torch::autograd::grad({(ref * up).sum()}, {x});
  EXPECT_LT(max_rel_diff(g[0], r[0]), 1e-6);
}

TEST(Ops, AttentionPathsAgreeWithGroupedHeads) {
  torch::manual_seed(6);
  const int64_t b = 2, h = 6, kv = 2, t = 9, d = 8;
  const Tensor q = torch::randn({b, h, t, d}, torch::requires_grad());
  const Tensor k = torch::randn({b, kv, t, d}, torch::requires_grad());
  const Tensor v = torch::randn({b, kv, t, d}, torch::requires_grad());
  const Tensor up = torch::randn({b, t, h * d});
  const Tensor e = ops::causal_attention(q, k, v, ops::AttentionPath::matmul);
  const auto ge = torch::autograd::grad({(e * up).sum()}, {q, k, v});
  for (auto path : {ops::AttentionPath::sdpa, ops::AttentionPath::tasks}) {
    const Tensor s = ops::causal_attention(q, k, v, path);
    EXPECT_LT(max_rel_diff(e, s), 1e-5) << static_cast<int>(path);
    const auto gs = torch::autograd::grad({(s * up).sum()}, {q, k, v});
    for (int i = 0; i < 3; ++i) EXPECT_LT(max_rel_diff(ge[i], gs[i]), 1e-5) << i;
  }
  // A future position never leaks into the past: changing the last key and
  // value leaves every earlier output of the per-task path untouched.
  const Tensor k2 = k.detach().clone(), v2 = v.detach().clone();
  k2.select(2, t - 1).add_(3.0);
  v2.select(2, t - 1).add_(3.0);
  const Tensor s2 = ops::causal_attention(q.detach(), k2, v2, ops::AttentionPath::tasks);
  const Tensor s1 = ops::causal_attention(q.detach(), k.detach(), v.detach(),
                                          ops::AttentionPath::tasks);
  EXPECT_TRUE(torch::equal(s1.narrow(1, 0, t - 1), s2.narrow(1, 0, t - 1)));
  EXPECT_FALSE(torch::equal(s1.narrow(1, t - 1, 1), s2.narrow(1, t - 1, 1)));
  const bool torch2 = TORCH_VERSION_MAJOR >= 2;
  EXPECT_EQ(ops::resolve_attention_path(ops::AttentionPath::automatic, q),
            torch2 ? ops::AttentionPath::sdpa : ops::AttentionPath::tasks);
  EXPECT_EQ(ops::resolve_attention_path(ops::AttentionPath::automatic, q.to(torch::kBFloat16)),
            torch2 ? ops::AttentionPath::sdpa : ops::AttentionPath::matmul);

  // And a whole model gives the same loss and gradients through every path.
  ModelConfig c = preset("tiny");
  c.init_std = 0.2;
  torch::manual_seed(2);
  Llama model(c);
  const Tensor tokens = random_tokens(2, 20, c.vocab_size, 9);
  auto loss_and_grad = [&](ops::AttentionPath path) {
    model->set_attention_path(path);
    model->zero_grad();
    Tensor loss = model->loss(tokens);
    loss.backward();
    return std::make_pair(loss.item<double>(),
                          model->named_parameters()["model.layers.0.self_attn.q_proj.weight"]
                              .grad()
                              .clone());
  };
  const auto [explicit_loss, explicit_grad] = loss_and_grad(ops::AttentionPath::matmul);
  for (auto path : {ops::AttentionPath::sdpa, ops::AttentionPath::tasks}) {
    const auto [loss, grad] = loss_and_grad(path);
    EXPECT_NEAR(loss, explicit_loss, 1e-5);
    EXPECT_LT(max_rel_diff(grad, explicit_grad), 1e-4);
  }
}

TEST(Ops, TaskAttentionIsIndependentOfThreadCount) {
  torch::manual_seed(8);
  const Tensor q = torch::randn({3, 4, 33, 16}, torch::requires_grad());
  const Tensor k = torch::randn({3, 2, 33, 16}, torch::requires_grad());
  const Tensor v = torch::randn({3, 2, 33, 16}, torch::requires_grad());
  auto run = [&](int threads) {
    const int before = torch::get_num_threads();
    torch::set_num_threads(threads);
    const Tensor out = ops::causal_attention(q, k, v, ops::AttentionPath::tasks);
    auto grads = torch::autograd::grad({out.square().sum()}, {q, k, v});
    torch::set_num_threads(before);
    grads.push_back(out.detach());
    return grads;
  };
  const auto one = run(1), two = run(2);
  for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(torch::equal(one[i], two[i])) << i;
}

// Recomputing each layer in backward is the same arithmetic: the same loss
// and the same gradient of every parameter, bit for bit (the run identity
// leaves train.activation_checkpointing out because of this), also when
// gradients accumulate over two microbatches.
TEST(Llama, ActivationCheckpointingGivesTheSameGradientsBitForBit) {
  ModelConfig c = preset("tiny");
  c.init_std = 0.1;
  const Tensor tokens = random_tokens(4, 33, c.vocab_size, 3);
  auto grads_of = [&](bool checkpointing, double& loss) {
    torch::manual_seed(1);
    Llama model(c);
    model->set_activation_checkpointing(checkpointing);
    loss = 0;
    for (int64_t half = 0; half < 2; ++half) {
      const Tensor l = model->loss(tokens.narrow(0, 2 * half, 2)) * 0.5;
      loss += l.item<double>();
      l.backward();
    }
    std::map<std::string, Tensor> grads;
    for (auto& item : model->named_parameters()) grads[item.key()] = item.value().grad().clone();
    return grads;
  };
  double plain_loss = 0, recomputed_loss = 0;
  const auto plain = grads_of(false, plain_loss);
  const auto recomputed = grads_of(true, recomputed_loss);
  EXPECT_EQ(plain_loss, recomputed_loss);
  ASSERT_EQ(plain.size(), recomputed.size());
  for (const auto& [name, g] : plain) {
    ASSERT_TRUE(recomputed.at(name).defined()) << name;
    EXPECT_TRUE(torch::equal(g, recomputed.at(name))) << name << ": max diff "
                                                      << (g - recomputed.at(name)).abs().max().item<double>();
  }
}

TEST(Llama, DeterministicLossAcrossRuns) {
  auto run = [] {
    torch::manual_seed(11);
    Llama model(preset("tiny"));
    const Tensor tokens = random_tokens(2, 32, 256, 12);
    Tensor loss = model->loss(tokens);
    loss.backward();
    return std::make_pair(loss.item<float>(),
                          model->named_parameters()["model.layers.1.mlp.down_proj.weight"]
                              .grad()
                              .clone());
  };
  const auto a = run();
  const auto b = run();
  EXPECT_EQ(a.first, b.first);
  EXPECT_TRUE(torch::equal(a.second, b.second));
}

TEST(Llama, Bf16ComputeStaysCloseToFp32) {
  ModelConfig c = preset("tiny");
  torch::manual_seed(3);
  Llama model(c);
  const Tensor tokens = random_tokens(2, 16, c.vocab_size, 4);
  const double fp32 = model->loss(tokens).item<double>();
  model->set_compute_dtype(torch::kBFloat16);
  const Tensor loss = model->loss(tokens);
  loss.backward();
  EXPECT_NEAR(loss.item<double>(), fp32, 2e-2);
  for (const auto& p : model->parameters()) {
    EXPECT_EQ(p.scalar_type(), torch::kFloat);
    ASSERT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad().scalar_type(), torch::kFloat);
  }
}

TEST(Threads, ConfigureSetsTorchThreads) {
  EXPECT_GE(available_cores(), 1);
  EXPECT_EQ(configure_threads(1), 1);
  EXPECT_EQ(torch::get_num_threads(), 1);
  EXPECT_EQ(configure_threads(0), available_cores());
  EXPECT_EQ(torch::get_num_threads(), available_cores());
  EXPECT_THROW(configure_threads(-1), replay::Error);
}

TEST(Llama, CudaMatchesCpuWhenAvailable) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(5);
  Llama model(preset("tiny"));
  const Tensor tokens = random_tokens(2, 64, 256, 6);
  const double cpu = model->loss(tokens).item<double>();
  model->to(torch::kCUDA);
  // fp32 on the GPU (TF32 may be on for matmuls: loose tolerance), then bf16 compute.
  EXPECT_NEAR(model->loss(tokens).item<double>(), cpu, 2e-3);
  for (auto path : {ops::AttentionPath::matmul, ops::AttentionPath::sdpa}) {
    model->set_attention_path(path);
    model->set_compute_dtype(torch::kBFloat16);
    Tensor loss = model->loss(tokens.to(torch::kCUDA));
    loss.backward();
    EXPECT_NEAR(loss.item<double>(), cpu, 3e-2);
    for (const auto& p : model->parameters()) {
      EXPECT_TRUE(p.is_cuda());
      EXPECT_EQ(p.grad().scalar_type(), torch::kFloat);
      p.mutable_grad() = Tensor();
    }
    model->set_compute_dtype(torch::kFloat);
  }
}

namespace {

// Standard deviation of normal(0, 1) conditioned on |x| <= 3.
double truncated_std_factor() {
  const double a = 3.0, pdf = std::exp(-a * a / 2) / std::sqrt(2 * M_PI), mass = std::erf(a / std::sqrt(2.0));
  return std::sqrt(1.0 - 2 * a * pdf / mass);
}

ModelConfig init_test_config(InitRecipe recipe) {
  ModelConfig c = preset("tiny");
  c.dim = 256;
  c.ffn_dim = 768;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 64;
  c.vocab_size = 1024;
  c.init = recipe;
  return c;
}

}  // namespace

// Spec paper.md section 2: every linear weight (LM head included) truncated
// normal at +-3 sigma with sigma = 1/sqrt(fan_in); embedding normal(0, 0.02);
// norm weights 1.
TEST(Llama, ReferenceInitStdPerMatrixAndTruncation) {
  torch::manual_seed(7);
  Llama model(init_test_config(InitRecipe::reference));
  for (const auto& item : model->named_parameters()) {
    const Tensor w = item.value().to(torch::kDouble);
    const std::string& name = item.key();
    if (name.find("norm") != std::string::npos) {
      EXPECT_TRUE(torch::all(w == 1.0).item<bool>()) << name;
      continue;
    }
    const double std = w.std().item<double>(), max = w.abs().max().item<double>();
    if (name == "model.embed_tokens.weight") {
      EXPECT_NEAR(std, 0.02, 0.02 * 0.01) << name;
      EXPECT_GT(max, 3.3 * 0.02) << name;  // a plain normal: not cut
      continue;
    }
    const double sigma = 1.0 / std::sqrt(static_cast<double>(w.size(1)));
    EXPECT_NEAR(std, sigma * truncated_std_factor(), sigma * 0.02) << name;
    EXPECT_LE(max, 3.0 * sigma) << name;
    EXPECT_GT(max, 2.8 * sigma) << name;  // cut at 3 sigma, not tighter
    EXPECT_NEAR(w.mean().item<double>(), 0.0, sigma * 0.05) << name;
  }
  // down_proj's fan-in is the MLP width, q's the model width.
  const double down_std = model->named_parameters()["model.layers.0.mlp.down_proj.weight"].std().item<double>();
  const double q_std = model->named_parameters()["model.layers.0.self_attn.q_proj.weight"].std().item<double>();
  EXPECT_NEAR(q_std / down_std, std::sqrt(768.0 / 256.0), 0.05);
}

TEST(Llama, HfInitIsNormalWithInitStdEverywhere) {
  torch::manual_seed(7);
  ModelConfig c = init_test_config(InitRecipe::hf);
  c.init_std = 0.05;
  Llama model(c);
  for (const auto& item : model->named_parameters()) {
    if (item.key().find("norm") != std::string::npos) continue;
    EXPECT_NEAR(item.value().std().item<double>(), 0.05, 0.05 * 0.03) << item.key();
  }
  EXPECT_GT(model->lm_head_weight().abs().max().item<double>(), 3.3 * 0.05);  // not truncated
}
