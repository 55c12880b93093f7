// AdamW matches the PyTorch update rule written out by hand; groups follow
// the decay rule; the state dump restores bit-exact continuation.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <set>
#include <string>

#include "model/llama.h"
#include "train/optimizer.h"

namespace replay::train {
namespace {

using run::OptimSettings;

// The decay rule lives in the model (param_groups(), which the trainer hands
// to the optimizer as is): linear weights and the LM head are decayed; norm
// weights and the token embedding are not.
TEST(Optimizer, DecayRuleOfTheModelsParamGroups) {
  for (bool tied : {false, true}) {
    model::ModelConfig config = model::preset("tiny");
    config.tie_embeddings = tied;
    model::Llama llama(config);
    const auto groups = llama->param_groups();
    std::set<std::string> decayed, not_decayed;
    for (const auto& [name, tensor] : groups.decay) decayed.insert(name);
    for (const auto& [name, tensor] : groups.no_decay) not_decayed.insert(name);
    for (const char* name : {"model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.k_proj.weight",
                             "model.layers.0.self_attn.v_proj.weight", "model.layers.0.self_attn.o_proj.weight",
                             "model.layers.1.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight",
                             "model.layers.1.mlp.down_proj.weight"})
      EXPECT_TRUE(decayed.count(name)) << name;
    EXPECT_EQ(decayed.count("lm_head.weight"), tied ? 0u : 1u);
    for (const char* name : {"model.embed_tokens.weight", "model.norm.weight",
                             "model.layers.0.input_layernorm.weight",
                             "model.layers.1.post_attention_layernorm.weight"})
      EXPECT_TRUE(not_decayed.count(name)) << name;
    // Every parameter in exactly one group; the decayed ones are all matrices.
    EXPECT_EQ(decayed.size() + not_decayed.size(), llama->named_parameters().size());
    for (const auto& [name, tensor] : groups.decay) EXPECT_EQ(tensor.dim(), 2) << name;
  }
}

// One parameter, several steps, checked against the PyTorch AdamW formula:
// p *= 1 - lr wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p -= lr / (1-b1^t) * m / (sqrt(v) / sqrt(1-b2^t) + eps).
TEST(Optimizer, MatchesPyTorchAdamWFormula) {
  OptimSettings s;
  s.lr = 0.01;
  s.weight_decay = 0.1;
  s.grad_clip = 0;
  auto w = torch::tensor({1.0, -2.0, 0.5}, torch::kFloat64).requires_grad_(true);
  auto nd = torch::tensor({3.0}, torch::kFloat64).requires_grad_(true);
  Optimizer opt({{"w", w, true}, {"nd", nd, false}}, s);
  std::vector<double> p = {1.0, -2.0, 0.5}, m(3, 0), v(3, 0);
  double q = 3.0, mq = 0, vq = 0;
  for (int t = 1; t <= 5; ++t) {
    opt.zero_grad();
    auto loss = (w * w * w).sum() + (nd * nd).sum();
    loss.backward();
    double lr = 0.01 * t;  // a changing LR, as the schedule sets it
    opt.set_lr(lr);
    opt.step();
    double bc1 = 1 - std::pow(0.9, t), bc2 = 1 - std::pow(0.95, t);
    for (int i = 0; i < 3; ++i) {
      double g = 3 * p[i] * p[i];
      p[i] *= 1 - lr * 0.1;
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.95 * v[i] + 0.05 * g * g;
      p[i] -= lr / bc1 * m[i] / (std::sqrt(v[i]) / std::sqrt(bc2) + 1e-8);
      EXPECT_NEAR(w[i].item<double>(), p[i], 1e-12) << "step " << t;
    }
    double g = 2 * q;  // no decay group
    mq = 0.9 * mq + 0.1 * g;
    vq = 0.95 * vq + 0.05 * g * g;
    q -= lr / bc1 * mq / (std::sqrt(vq) / std::sqrt(bc2) + 1e-8);
    EXPECT_NEAR(nd[0].item<double>(), q, 1e-12);
  }
  EXPECT_EQ(opt.steps_taken(), 5);
}

TEST(Optimizer, ClipsGlobalNorm) {
  OptimSettings s;
  s.grad_clip = 1.0;
  auto a = torch::zeros({2}).requires_grad_(true);
  auto b = torch::zeros({1}).requires_grad_(true);
  Optimizer opt({{"a", a, true}, {"b", b, true}}, s);
  a.mutable_grad() = torch::tensor({3.0f, 0.0f});
  b.mutable_grad() = torch::tensor({4.0f});
  EXPECT_NEAR(opt.clip_gradients(), 5.0, 1e-6);
  EXPECT_NEAR(a.grad()[0].item<float>(), 3.0 / 5.0, 1e-5);
  EXPECT_NEAR(b.grad()[0].item<float>(), 4.0 / 5.0, 1e-5);
  // Below the threshold nothing changes.
  a.mutable_grad() = torch::tensor({0.3f, 0.0f});
  b.mutable_grad() = torch::tensor({0.4f});
  EXPECT_NEAR(opt.clip_gradients(), 0.5, 1e-6);
  EXPECT_FLOAT_EQ(a.grad()[0].item<float>(), 0.3f);
}

// Train A for 6 steps; train B for 3, dump its state into a fresh optimizer
// over copied weights, continue 3: identical bits.
TEST(Optimizer, StateRoundTripIsBitExact) {
  torch::manual_seed(1);
  auto target = torch::randn({8, 8});
  OptimSettings s;
  auto run = [&](torch::Tensor w, Optimizer& opt, int steps) {
    for (int i = 0; i < steps; ++i) {
      opt.zero_grad();
      ((w.matmul(target) - 1).pow(2)).mean().backward();
      opt.clip_gradients();
      opt.step();
    }
  };
  auto w0 = torch::randn({8, 8});
  auto wa = w0.clone().requires_grad_(true);
  Optimizer a({{"w", wa, true}}, s);
  run(wa, a, 6);

  auto wb = w0.clone().requires_grad_(true);
  Optimizer b({{"w", wb, true}}, s);
  run(wb, b, 3);
  std::map<std::string, torch::Tensor> dump;
  for (auto& [k, t] : b.state_tensors()) dump[k] = t.clone();
  auto wc = wb.detach().clone().requires_grad_(true);
  Optimizer c({{"w", wc, true}}, s);
  c.load_state_tensors(dump);
  EXPECT_EQ(c.steps_taken(), 3);
  run(wc, c, 3);
  EXPECT_TRUE(torch::equal(wa, wc));

  dump["stray.exp_avg"] = torch::zeros({1});
  EXPECT_THROW(c.load_state_tensors(dump), std::exception);
}

}  // namespace
}  // namespace replay::train
