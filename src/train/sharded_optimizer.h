// ZeRO-1 optimizer-state sharding for data-parallel training
// (`train.shard_optimizer = true` with a world of N > 1 ranks): each rank
// keeps and updates the AdamW moments of its share of the parameters only.
//
// The partition: the flat parameter space. Every parameter's values and
// gradient are views of two fp32 buffers (FlatParameters) of N x S elements,
// S = ceil(P / N) (P parameters; the last rank's share ends in zero padding
// that no parameter owns). Rank r owns the contiguous elements
// [r S, (r + 1) S): a parameter may be cut between two ranks, so each
// share is balanced to within one element whatever the tensor sizes.
//
// One step, every rank (collectives in this order, dist/communicator.h):
//   1. the gradient all-reduce (mean) of the whole gradient buffer, as
//      without sharding: libtorch 1.13's Gloo process group has no
//      reduce_scatter ("ProcessGroupGloo does not support reduce_scatter"),
//      so each rank all-reduces everything and uses its own slice;
//   2. clip_gradients(): the squared L2 norm of its own gradient slice,
//      summed over ranks (all_reduce_sum, in double), the square root is the
//      global norm; its own slice is scaled by PyTorch's clip coefficient;
//   3. step(): AdamW on its own slice, element for element the formula of
//      torch::optim::AdamW (decoupled weight decay p *= 1 - lr wd for the
//      decayed parameters, bias corrections 1 - beta^t, one step count for
//      all parameters), then the updated shares all-gathered into every
//      rank's parameter buffer, so every rank again holds the whole model.
// The result equals the unsharded optimizer's up to the order of the norm's
// floating-point sum (tests/dist/data_parallel_test.cpp measures it).
//
// Checkpoints keep the unsharded format (optimizer.h: "<name>.exp_avg",
// "<name>.exp_avg_sq", "<name>.step", whole tensors): state_tensors() gathers
// every rank's moments to rank 0 (Gloo gather), which writes them; loading
// takes each rank's slice of the whole tensors. So a checkpoint resumes on
// any world size, sharded or not. Cost: at checkpoint time rank 0 holds the
// whole moments (8 bytes per parameter) in host memory (gathered there, not
// on a GPU), and the gather moves them over the network once.
//
// Memory per rank: weights and gradients whole (4 + 4 bytes per parameter),
// moments 8 / N bytes per parameter (ZeRO-1; sharding the gradients too,
// ZeRO-2, is not done). model/memory_plan.h counts it so.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "train/optimizer.h"

namespace replay::dist {
class Communicator;
}

namespace replay::train {

// Every parameter's values and gradient as views of two flat fp32 buffers
// of `ranks` x `shard_size` elements (zero padding after the last
// parameter), so that a rank's share of both is one contiguous range.
struct FlatParameters {
  torch::Tensor values, grads;
  int64_t shard_size = 0;
};
// Moves the parameters' values into the buffer (each parameter's data then
// is a view of it; its values are unchanged) and sets each .grad to a
// zeroed view of the gradient buffer. Tensors that appear twice (tied
// weights) are placed once. Throws replay::Error when a parameter is not fp32.
FlatParameters flatten_parameters(const std::vector<torch::Tensor>& params, int ranks);

class ShardedOptimizer final : public StepOptimizer {
 public:
  // `params` (their names and decay flags) must be views of `flat`
  // (flatten_parameters over the same tensors). Not owned: `comm`.
  ShardedOptimizer(std::vector<NamedParameter> params, const run::OptimSettings& settings, FlatParameters flat,
                   dist::Communicator& comm);

  void set_lr(double lr) override { lr_ = lr; }
  double clip_gradients() override;  // collective
  void step() override;              // collective
  int64_t steps_taken() const override { return step_; }
  model::NamedTensors state_tensors() override;  // collective; rank 0 gets the whole state
  void load_state_tensors(const std::map<std::string, torch::Tensor>& tensors) override;

  // This rank's share: elements [begin, begin + shard_size) of the buffers.
  int64_t shard_begin() const { return shard_begin_; }
  // Seconds the last clip_gradients() and step() spent in their collectives
  // (the norm's reduction and the parameter all-gather): the communication
  // sharding adds to the gradient all-reduce, logged per step.
  double collective_seconds() const { return collective_seconds_; }

 private:
  // The part of one parameter inside this rank's share.
  struct Piece {
    size_t param;        // index into params_
    int64_t param_from;  // first element within the parameter (flattened)
    int64_t flat_from;   // the same element in the flat buffers
    int64_t count;
  };
  void find_pieces();
  int64_t offset_in_flat(const torch::Tensor& t) const;

  std::vector<NamedParameter> params_;
  run::OptimSettings settings_;
  FlatParameters flat_;
  dist::Communicator& comm_;
  int64_t shard_begin_ = 0;
  std::vector<Piece> pieces_;
  torch::Tensor exp_avg_, exp_avg_sq_;  // this rank's share, shard_size elements each
  int64_t step_ = 0;
  double lr_;
  double collective_seconds_ = 0;
};

}  // namespace replay::train
