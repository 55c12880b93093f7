// ZeRO-1 sharding against the unsharded optimizer, two ranks as two threads
// (two_ranks.h): the same parameters step after step (with and without
// clipping), a parameter cut between the ranks, the gathered state equal to
// the unsharded one, and resume across sharded and unsharded states.
//
// Tolerance: the AdamW arithmetic is the same element for element; the
// global grad norm is summed in another order (per-rank squares in double
// vs per-tensor norms in fp32), so with clipping the parameters may differ
// in the last bits. kTolerance is relative to the largest weight; the
// measured difference is printed.
#include "train/sharded_optimizer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cstdio>

#include "two_ranks.h"
#include "util/error.h"

namespace replay::train {
namespace {

using dist::Communicator;

constexpr double kTolerance = 1e-6;

// Three tensors, 15 + 7 + 16 = 38 values: 19 per rank, so the middle one
// is cut between rank 0 and rank 1. The second is not decayed.
// A generator of its own: the two ranks' threads draw at the same time.
std::vector<NamedParameter> make_params() {
  at::Generator gen = at::detail::createCPUGenerator(3);
  return {{"a", torch::randn({5, 3}, gen).requires_grad_(true), true},
          {"b", torch::randn({7}, gen).requires_grad_(true), false},
          {"c", torch::randn({4, 4}, gen).requires_grad_(true), true}};
}

// A gradient that depends on the current weights, so that differences grow.
torch::Tensor gradient_of(const torch::Tensor& p, int t) { return torch::sin(p.detach() * t) + 0.1 * t; }

run::OptimSettings settings(double clip) {
  run::OptimSettings s;
  s.lr = 0.05;
  s.grad_clip = clip;
  return s;
}

void step_unsharded(Optimizer& opt, std::vector<NamedParameter>& params, int t) {
  opt.zero_grad();
  for (auto& p : params) p.tensor.mutable_grad() = gradient_of(p.tensor, t);
  opt.set_lr(0.05 * t);
  opt.clip_gradients();
  opt.step();
}

void step_sharded(ShardedOptimizer& opt, std::vector<NamedParameter>& params, int t) {
  for (auto& p : params) p.tensor.mutable_grad().copy_(gradient_of(p.tensor, t));
  opt.set_lr(0.05 * t);
  opt.clip_gradients();
  opt.step();
}

double max_difference(const std::vector<NamedParameter>& a, const std::vector<NamedParameter>& b) {
  double diff = 0;
  for (size_t i = 0; i < a.size(); ++i)
    diff = std::max(diff, (a[i].tensor - b[i].tensor).abs().max().item<double>());
  return diff;
}

std::vector<torch::Tensor> tensors_of(const std::vector<NamedParameter>& params) {
  std::vector<torch::Tensor> out;
  for (const auto& p : params) out.push_back(p.tensor);
  return out;
}

// Five steps of each, every step compared; returns nothing, records failures.
void expect_same_steps(double clip, int port) {
  auto reference = make_params();
  Optimizer unsharded(reference, settings(clip));
  std::vector<std::vector<NamedParameter>> after_step;
  for (int t = 1; t <= 5; ++t) {
    step_unsharded(unsharded, reference, t);
    std::vector<NamedParameter> copy;
    for (const auto& p : reference) copy.push_back({p.name, p.tensor.detach().clone(), p.decay});
    after_step.push_back(copy);
  }
  dist::testing::on_two_ranks(port, std::chrono::seconds(30), [&](Communicator& comm) {
    auto params = make_params();
    ShardedOptimizer sharded(params, settings(clip), flatten_parameters(tensors_of(params), 2), comm);
    EXPECT_EQ(sharded.shard_begin(), 19 * comm.world().rank);
    double worst = 0;
    for (int t = 1; t <= 5; ++t) {
      step_sharded(sharded, params, t);
      const double diff = max_difference(params, after_step[static_cast<size_t>(t - 1)]);
      EXPECT_LE(diff, kTolerance) << "step " << t << ", rank " << comm.world().rank;
      worst = std::max(worst, diff);
    }
    EXPECT_EQ(sharded.steps_taken(), 5);
    if (comm.world().rank == 0) std::printf("clip %g: largest weight difference %.3g\n", clip, worst);
  });
}

TEST(ShardedOptimizer, StepsLikeTheUnshardedOptimizer) { expect_same_steps(0.0, dist::testing::test_port(0)); }

TEST(ShardedOptimizer, ClipsTheGlobalNormLikeTheUnshardedOptimizer) {
  expect_same_steps(0.5, dist::testing::test_port(1));  // clips at every step
}

// Sharded for 3 steps, its gathered state against the unsharded one's;
// then that state resumes unsharded, and the unsharded state resumes
// sharded, both ending where 6 unsharded steps end.
TEST(ShardedOptimizer, StateIsTheUnshardedFormatAndResumesEitherWay) {
  auto reference = make_params();
  Optimizer straight(reference, settings(1.0));
  std::map<std::string, torch::Tensor> unsharded_state;
  for (int t = 1; t <= 6; ++t) {
    step_unsharded(straight, reference, t);
    if (t == 3)
      for (auto& [k, v] : straight.state_tensors()) unsharded_state[k] = v.clone();
  }
  auto resumed_unsharded = make_params();
  std::map<std::string, torch::Tensor> sharded_state;
  dist::testing::on_two_ranks(dist::testing::test_port(2), std::chrono::seconds(30), [&](Communicator& comm) {
    auto params = make_params();
    ShardedOptimizer sharded(params, settings(1.0), flatten_parameters(tensors_of(params), 2), comm);
    EXPECT_TRUE(sharded.state_tensors().empty());  // before the first step: nothing, on every rank
    for (int t = 1; t <= 3; ++t) step_sharded(sharded, params, t);
    const model::NamedTensors state = sharded.state_tensors();
    if (comm.world().rank == 0) {
      ASSERT_EQ(state.size(), unsharded_state.size());
      for (const auto& [key, value] : state) {
        ASSERT_TRUE(unsharded_state.count(key)) << key;
        EXPECT_TRUE(value.sizes().equals(unsharded_state[key].sizes())) << key;
        EXPECT_TRUE(torch::allclose(value.to(torch::kFloat64), unsharded_state[key].to(torch::kFloat64), 1e-5, 1e-7))
            << key;
        sharded_state[key] = value.clone();
      }
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < params.size(); ++i) resumed_unsharded[i].tensor.copy_(params[i].tensor);
    } else {
      EXPECT_TRUE(state.empty());
    }
    // The unsharded state after 3 steps, resumed sharded: 3 more steps.
    auto from_unsharded = make_params();
    ShardedOptimizer resumed(from_unsharded, settings(1.0), flatten_parameters(tensors_of(from_unsharded), 2), comm);
    {
      auto replay = make_params();
      Optimizer opt(replay, settings(1.0));
      for (int t = 1; t <= 3; ++t) step_unsharded(opt, replay, t);
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < replay.size(); ++i) from_unsharded[i].tensor.copy_(replay[i].tensor);
    }
    resumed.load_state_tensors(unsharded_state);
    EXPECT_EQ(resumed.steps_taken(), 3);
    for (int t = 4; t <= 6; ++t) step_sharded(resumed, from_unsharded, t);
    EXPECT_LE(max_difference(from_unsharded, reference), kTolerance) << "unsharded state resumed sharded";
  });
  // The sharded state, resumed unsharded.
  Optimizer resumed(resumed_unsharded, settings(1.0));
  resumed.load_state_tensors(sharded_state);
  EXPECT_EQ(resumed.steps_taken(), 3);
  for (int t = 4; t <= 6; ++t) step_unsharded(resumed, resumed_unsharded, t);
  EXPECT_LE(max_difference(resumed_unsharded, reference), kTolerance) << "sharded state resumed unsharded";
}

TEST(ShardedOptimizer, RefusesAStateThatIsNotThisModels) {
  dist::testing::on_two_ranks(dist::testing::test_port(3), std::chrono::seconds(30), [](Communicator& comm) {
    auto params = make_params();
    ShardedOptimizer sharded(params, settings(1.0), flatten_parameters(tensors_of(params), 2), comm);
    std::map<std::string, torch::Tensor> state;
    for (const auto& p : params) {
      state[p.name + ".exp_avg"] = torch::zeros_like(p.tensor);
      state[p.name + ".exp_avg_sq"] = torch::zeros_like(p.tensor);
      state[p.name + ".step"] = torch::tensor({int64_t{2}});
    }
    EXPECT_NO_THROW(sharded.load_state_tensors(state));
    auto stray = state;
    stray["d.exp_avg"] = torch::zeros({1});
    EXPECT_THROW(sharded.load_state_tensors(stray), Error);
    auto missing = state;
    missing.erase("b.step");
    EXPECT_THROW(sharded.load_state_tensors(missing), Error);
    auto reshaped = state;
    reshaped["c.exp_avg"] = torch::zeros({16});
    EXPECT_THROW(sharded.load_state_tensors(reshaped), Error);
    auto uneven = state;
    uneven["a.step"] = torch::tensor({int64_t{3}});
    EXPECT_THROW(sharded.load_state_tensors(uneven), Error);
  });
}

}  // namespace
}  // namespace replay::train
