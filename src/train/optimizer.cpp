#include "train/optimizer.h"

#include <set>
#include <sstream>

#include "util/error.h"

namespace replay::train {

Optimizer::Optimizer(std::vector<NamedParameter> params, const run::OptimSettings& settings)
    : params_(std::move(params)), settings_(settings), lr_(settings.lr) {
  std::set<std::string> names;
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : params_) {
    if (!names.insert(p.name).second) throw Error("optimizer: duplicate parameter name " + p.name);
    (p.decay ? decay : no_decay).push_back(p.tensor);
    all_tensors_.push_back(p.tensor);
  }
  auto options = [&](double wd) {
    return torch::optim::AdamWOptions(settings.lr)
        .betas({settings.beta1, settings.beta2})
        .eps(settings.eps)
        .weight_decay(wd)
        .amsgrad(false);
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  if (!decay.empty()) {
    groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(options(settings.weight_decay)));
  }
  if (!no_decay.empty()) {
    groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(options(0.0)));
  }
  adamw_ = std::make_unique<torch::optim::AdamW>(std::move(groups), options(settings.weight_decay));
}

int64_t Optimizer::num_decayed() const {
  int64_t n = 0;
  for (const auto& p : params_) n += p.decay;
  return n;
}

void Optimizer::set_lr(double lr) {
  lr_ = lr;
  for (auto& group : adamw_->param_groups()) {
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
  }
}

void Optimizer::zero_grad() {
  // Setting grads to undefined (set_to_none) avoids a memset per parameter;
  // the first backward then allocates fresh gradient buffers.
  for (auto& t : all_tensors_) {
    if (t.grad().defined()) t.mutable_grad() = torch::Tensor();
  }
}

double Optimizer::clip_gradients() {
  if (settings_.grad_clip > 0) {
    return torch::nn::utils::clip_grad_norm_(all_tensors_, settings_.grad_clip);
  }
  std::vector<torch::Tensor> norms;
  for (const auto& t : all_tensors_) {
    if (t.grad().defined()) norms.push_back(t.grad().norm());
  }
  if (norms.empty()) return 0.0;
  return torch::stack(norms).norm().item<double>();
}

void Optimizer::step() {
  torch::NoGradGuard no_grad;
  adamw_->step();
}

namespace {
// A template, so that only the branch for this libtorch's key type is compiled.
template <class Key>
Key tensor_state_key(const torch::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream out;  // what c10::guts::to_string did (gone in 2.2)
    out << p.unsafeGetTensorImpl();
    return out.str();
  } else {
    return p.unsafeGetTensorImpl();
  }
}
}  // namespace

Optimizer::StateKey Optimizer::state_key(const torch::Tensor& p) const {
  return tensor_state_key<StateKey>(p);
}

int64_t Optimizer::steps_taken() const {
  const auto& state = adamw_->state();
  for (const auto& p : params_) {
    auto it = state.find(state_key(p.tensor));
    if (it != state.end()) return static_cast<const torch::optim::AdamWParamState&>(*it->second).step();
  }
  return 0;
}

model::NamedTensors Optimizer::state_tensors() {
  model::NamedTensors out;
  const auto& state = adamw_->state();
  for (const auto& p : params_) {
    auto it = state.find(state_key(p.tensor));
    if (it == state.end()) continue;
    const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    out.emplace_back(p.name + ".exp_avg", s.exp_avg());
    out.emplace_back(p.name + ".exp_avg_sq", s.exp_avg_sq());
    out.emplace_back(p.name + ".step", torch::tensor({s.step()}, torch::kInt64));
  }
  return out;
}

void Optimizer::load_state_tensors(const std::map<std::string, torch::Tensor>& tensors) {
  auto& state = adamw_->state();
  state.clear();
  size_t used = 0;
  for (const auto& p : params_) {
    auto m = tensors.find(p.name + ".exp_avg");
    auto v = tensors.find(p.name + ".exp_avg_sq");
    auto s = tensors.find(p.name + ".step");
    if (m == tensors.end() && v == tensors.end() && s == tensors.end()) continue;
    if (m == tensors.end() || v == tensors.end() || s == tensors.end()) {
      throw Error("optimizer state: incomplete entry for parameter " + p.name);
    }
    if (!m->second.sizes().equals(p.tensor.sizes()) || !v->second.sizes().equals(p.tensor.sizes())) {
      throw Error("optimizer state: shape mismatch for parameter " + p.name);
    }
    auto ps = std::make_unique<torch::optim::AdamWParamState>();
    ps->step(s->second.to(torch::kInt64).item<int64_t>());
    ps->exp_avg(m->second.to(p.tensor.options()).clone());
    ps->exp_avg_sq(v->second.to(p.tensor.options()).clone());
    state[state_key(p.tensor)] = std::move(ps);
    used += 3;
  }
  if (used != tensors.size()) {
    throw Error("optimizer state: " + std::to_string(tensors.size() - used) +
                " tensors do not belong to any parameter of this model");
  }
}

}  // namespace replay::train
