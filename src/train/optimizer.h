// AdamW as in the reference (PyTorch semantics: decoupled weight decay
// multiplied by the LR), with two parameter groups (decayed or not, as each
// NamedParameter says; the rule is the model's: LlamaImpl::param_groups),
// global grad-norm clipping, a per-step LR, and a name-keyed state dump for
// bit-exact resume.
#pragma once
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "model/safetensors.h"  // model::NamedTensors
#include "run/settings.h"

namespace replay::train {

struct NamedParameter {
  std::string name;  // stable name (the checkpoint's key), e.g. the HF name
  torch::Tensor tensor;
  bool decay = true;
};

// What the trainer and its checkpoints use of an AdamW: this file's
// Optimizer (every process holds the whole state) or ShardedOptimizer
// (train/sharded_optimizer.h: each data-parallel rank holds its share). Both
// write and read the same name-keyed state, so a checkpoint of either
// resumes with either.
class StepOptimizer {
 public:
  virtual ~StepOptimizer() = default;
  virtual void set_lr(double lr) = 0;
  // Global L2 norm of all gradients before clipping; clips them to
  // settings.grad_clip when that is > 0 (PyTorch's clip_grad_norm_).
  virtual double clip_gradients() = 0;
  virtual void step() = 0;
  // Steps taken since construction or reset (AdamW's bias-correction count).
  virtual int64_t steps_taken() const = 0;
  // Moments and step counts keyed "<name>.exp_avg", "<name>.exp_avg_sq",
  // "<name>.step" (int64 scalar). Empty before the first step. Sharded: a
  // collective (every rank calls it) whose result only rank 0 gets.
  virtual model::NamedTensors state_tensors() = 0;
  // Restores exactly what state_tensors() returned; throws replay::Error on
  // a missing or mismatched tensor (different model or config).
  virtual void load_state_tensors(const std::map<std::string, torch::Tensor>& tensors) = 0;
};

class Optimizer final : public StepOptimizer {
 public:
  Optimizer(std::vector<NamedParameter> params, const run::OptimSettings& settings);

  void set_lr(double lr) override;
  double lr() const { return lr_; }
  void zero_grad();
  double clip_gradients() override;
  void step() override;
  int64_t steps_taken() const override;
  model::NamedTensors state_tensors() override;
  void load_state_tensors(const std::map<std::string, torch::Tensor>& tensors) override;

  const std::vector<NamedParameter>& parameters() const { return params_; }
  int64_t num_decayed() const;

 private:
  // torch::optim's per-parameter state key: the TensorImpl address as a
  // string before PyTorch 2.2, the TensorImpl pointer itself since.
  using StateKey = std::remove_cvref_t<
      decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;
  StateKey state_key(const torch::Tensor& p) const;
  std::vector<NamedParameter> params_;
  std::vector<torch::Tensor> all_tensors_;
  run::OptimSettings settings_;
  double lr_;
  std::unique_ptr<torch::optim::AdamW> adamw_;
};

}  // namespace replay::train
