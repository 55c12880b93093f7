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

#include "run/settings.h"

namespace replay::train {

struct NamedParameter {
  std::string name;  // stable name (the checkpoint's key), e.g. the HF name
  torch::Tensor tensor;
  bool decay = true;
};

class Optimizer {
 public:
  Optimizer(std::vector<NamedParameter> params, const run::OptimSettings& settings);

  void set_lr(double lr);
  double lr() const { return lr_; }
  void zero_grad();
  // Global L2 norm of all gradients before clipping; clips them to
  // settings.grad_clip when that is > 0 (PyTorch's clip_grad_norm_).
  double clip_gradients();
  void step();

  // Steps taken since construction or reset (AdamW's bias-correction count).
  int64_t steps_taken() const;

  // Moments and step counts keyed "<name>.exp_avg", "<name>.exp_avg_sq",
  // "<name>.step" (int64 scalar). Empty before the first step.
  std::vector<std::pair<std::string, torch::Tensor>> state_tensors() const;
  // Restores exactly what state_tensors() returned; throws replay::Error on
  // a missing or mismatched tensor (different model or config).
  void load_state_tensors(const std::map<std::string, torch::Tensor>& tensors);

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
