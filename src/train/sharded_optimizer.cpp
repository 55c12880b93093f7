#include "train/sharded_optimizer.h"

#include <chrono>
#include <cmath>
#include <set>

#include "dist/communicator.h"
#include "util/error.h"

namespace replay::train {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

FlatParameters flatten_parameters(const std::vector<torch::Tensor>& params, int ranks) {
  std::vector<torch::Tensor> unique;
  std::set<const void*> seen;
  int64_t total = 0;
  for (const auto& p : params) {
    if (p.scalar_type() != torch::kFloat32)
      throw Error("optimizer sharding needs fp32 parameters (the flat buffers are fp32), found " +
                  std::string(c10::toString(p.scalar_type())));
    if (!seen.insert(p.unsafeGetTensorImpl()).second) continue;
    unique.push_back(p);
    total += p.numel();
  }
  FlatParameters flat;
  flat.shard_size = (total + ranks - 1) / ranks;
  const auto options = torch::TensorOptions().dtype(torch::kFloat32).device(params.empty() ? torch::kCPU
                                                                                          : params[0].device());
  flat.values = torch::zeros({flat.shard_size * ranks}, options);
  flat.grads = torch::zeros({flat.shard_size * ranks}, options);
  torch::NoGradGuard no_grad;
  int64_t offset = 0;
  for (auto& p : unique) {
    torch::Tensor values = flat.values.narrow(0, offset, p.numel()).view(p.sizes());
    values.copy_(p);
    p.set_data(values);  // the parameter now lives in the buffer, same TensorImpl
    p.mutable_grad() = flat.grads.narrow(0, offset, p.numel()).view(p.sizes());
    offset += p.numel();
  }
  return flat;
}

ShardedOptimizer::ShardedOptimizer(std::vector<NamedParameter> params, const run::OptimSettings& settings,
                                   FlatParameters flat, dist::Communicator& comm)
    : params_(std::move(params)), settings_(settings), flat_(std::move(flat)), comm_(comm), lr_(settings.lr) {
  shard_begin_ = flat_.shard_size * comm_.world().rank;
  exp_avg_ = torch::zeros({flat_.shard_size}, flat_.values.options());
  exp_avg_sq_ = torch::zeros({flat_.shard_size}, flat_.values.options());
  find_pieces();
}

// Where a parameter's first element sits in the value buffer; it must be a
// contiguous view of it (flatten_parameters).
int64_t ShardedOptimizer::offset_in_flat(const torch::Tensor& t) const {
  const float* base = flat_.values.data_ptr<float>();
  const float* at = t.data_ptr<float>();
  const int64_t offset = at - base;
  if (!t.is_contiguous() || offset < 0 || offset + t.numel() > flat_.values.numel())
    throw Error("internal: a sharded optimizer's parameter is not a view of the flat buffer");
  return offset;
}

void ShardedOptimizer::find_pieces() {
  std::set<std::string> names;
  const int64_t shard_end = shard_begin_ + flat_.shard_size;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!names.insert(params_[i].name).second) throw Error("optimizer: duplicate parameter name " + params_[i].name);
    const int64_t begin = offset_in_flat(params_[i].tensor);
    const int64_t end = begin + params_[i].tensor.numel();
    const int64_t from = std::max(begin, shard_begin_), to = std::min(end, shard_end);
    if (from < to) pieces_.push_back({i, from - begin, from, to - from});
  }
}

// PyTorch's clip_grad_norm_ from the shards: each rank's squared norm, summed.
double ShardedOptimizer::clip_gradients() {
  torch::Tensor mine = flat_.grads.narrow(0, shard_begin_, flat_.shard_size);
  const double local = mine.norm().item<double>();
  std::vector<double> squares = {local * local};
  const auto t0 = std::chrono::steady_clock::now();
  comm_.all_reduce_sum(squares, "the gradient norm reduction");
  collective_seconds_ = seconds_since(t0);
  const double norm = std::sqrt(squares[0]);
  if (settings_.grad_clip > 0) {
    // As clip_grad_norm_ computes it: in fp32, clamped to at most 1.
    const float coef = static_cast<float>(settings_.grad_clip) / (static_cast<float>(norm) + 1e-6f);
    if (coef < 1.0f) mine.mul_(coef);
  }
  return norm;
}

// torch::optim::AdamW::step's arithmetic, on each piece of this rank's share.
void ShardedOptimizer::step() {
  torch::NoGradGuard no_grad;
  step_ += 1;
  const double bias_correction1 = 1 - std::pow(settings_.beta1, static_cast<double>(step_));
  const double bias_correction2 = 1 - std::pow(settings_.beta2, static_cast<double>(step_));
  const double step_size = lr_ / bias_correction1;
  for (const Piece& piece : pieces_) {
    torch::Tensor p = flat_.values.narrow(0, piece.flat_from, piece.count);
    torch::Tensor g = flat_.grads.narrow(0, piece.flat_from, piece.count);
    torch::Tensor m = exp_avg_.narrow(0, piece.flat_from - shard_begin_, piece.count);
    torch::Tensor v = exp_avg_sq_.narrow(0, piece.flat_from - shard_begin_, piece.count);
    const double weight_decay = params_[piece.param].decay ? settings_.weight_decay : 0.0;
    if (weight_decay != 0) p.mul_(1 - lr_ * weight_decay);
    m.mul_(settings_.beta1).add_(g, 1 - settings_.beta1);
    v.mul_(settings_.beta2).addcmul_(g, g, 1 - settings_.beta2);
    torch::Tensor denom = (v.sqrt() / std::sqrt(bias_correction2)).add_(settings_.eps);
    p.addcdiv_(m, denom, -step_size);
  }
  const auto t0 = std::chrono::steady_clock::now();
  comm_.all_gather_shards(flat_.values, flat_.shard_size, "the parameter all-gather");
  collective_seconds_ += seconds_since(t0);
}

model::NamedTensors ShardedOptimizer::state_tensors() {
  model::NamedTensors out;
  if (step_ == 0) return out;  // every rank knows: no gather
  // Through host memory: the whole moments would not fit on rank 0's
  // device next to its model (an 8B model's are 64 GB), and they go to a
  // file anyway. A no-op on the CPU.
  const torch::Tensor m = comm_.gather_shards_to_rank0(exp_avg_.cpu(), "the optimizer state gather (exp_avg)");
  const torch::Tensor v = comm_.gather_shards_to_rank0(exp_avg_sq_.cpu(), "the optimizer state gather (exp_avg_sq)");
  if (!comm_.world().is_rank0()) return out;
  for (const auto& p : params_) {
    const int64_t offset = offset_in_flat(p.tensor);
    out.emplace_back(p.name + ".exp_avg", m.narrow(0, offset, p.tensor.numel()).view(p.tensor.sizes()));
    out.emplace_back(p.name + ".exp_avg_sq", v.narrow(0, offset, p.tensor.numel()).view(p.tensor.sizes()));
    out.emplace_back(p.name + ".step", torch::tensor({step_}, torch::kInt64));
  }
  return out;
}

// Every rank reads the whole tensors and keeps its slice. All parameters
// step together here, so the state must hold one step count for all of them.
void ShardedOptimizer::load_state_tensors(const std::map<std::string, torch::Tensor>& tensors) {
  exp_avg_.zero_();
  exp_avg_sq_.zero_();
  step_ = 0;
  if (tensors.empty()) return;
  std::vector<const torch::Tensor*> m(params_.size()), v(params_.size());
  std::set<int64_t> steps;
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& p = params_[i];
    auto mi = tensors.find(p.name + ".exp_avg"), vi = tensors.find(p.name + ".exp_avg_sq");
    auto si = tensors.find(p.name + ".step");
    if (mi == tensors.end() || vi == tensors.end() || si == tensors.end())
      throw Error("optimizer state: no complete entry for parameter " + p.name +
                  " (sharding needs the state of every parameter)");
    if (!mi->second.sizes().equals(p.tensor.sizes()) || !vi->second.sizes().equals(p.tensor.sizes()))
      throw Error("optimizer state: shape mismatch for parameter " + p.name);
    m[i] = &mi->second;
    v[i] = &vi->second;
    steps.insert(si->second.to(torch::kInt64).item<int64_t>());
  }
  if (tensors.size() != 3 * params_.size())
    throw Error("optimizer state: " + std::to_string(tensors.size() - 3 * params_.size()) +
                " tensors do not belong to any parameter of this model");
  if (steps.size() != 1) throw Error("optimizer state: the parameters' step counts differ (sharding needs one)");
  for (const Piece& piece : pieces_) {
    const int64_t at = piece.flat_from - shard_begin_;
    auto slice = [&](const torch::Tensor& whole) {
      return whole.reshape({-1}).narrow(0, piece.param_from, piece.count).to(exp_avg_.options());
    };
    exp_avg_.narrow(0, at, piece.count).copy_(slice(*m[piece.param]));
    exp_avg_sq_.narrow(0, at, piece.count).copy_(slice(*v[piece.param]));
  }
  step_ = *steps.begin();
}

}  // namespace replay::train
