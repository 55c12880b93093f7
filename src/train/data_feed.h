// Turns the plan's (source, sequence index) references into token tensors:
// the training batch of a step, and the fixed validation set of each source
// (its first N validation sequences, the same for every eval of every run).
#pragma once
#include <torch/torch.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "schedule/batch_plan.h"
#include "store/token_store.h"
#include "run/run_config.h"

namespace replay::train {

class DataFeed {
 public:
  // Opens (and verifies) every source's store, in the plan's source order.
  explicit DataFeed(const run::RunConfig& config);

  int64_t seq_len() const { return seq_len_; }
  const std::vector<std::string>& source_names() const { return names_; }

  // [refs.size(), seq_len] int64 tokens of the training split.
  torch::Tensor read(std::span<const schedule::SequenceRef> refs) const;

  // The first min(n, available) validation sequences of source `source`.
  torch::Tensor validation_set(size_t source, int64_t n) const;

  // Every sequence handed out holds ids below the model's vocab_size: the
  // last defence against a store whose manifest understates its ids (the
  // embedding lookup would fail inside libtorch). Throws replay::Error
  // naming the store, split and sequence.
  void check_token_ids(const int64_t* tokens, size_t source, store::Split split, int64_t index) const;

 private:
  std::vector<std::string> names_;
  std::vector<store::TokenStore> stores_;
  int64_t seq_len_ = 0;
  int64_t vocab_size_ = 0;
};

}  // namespace replay::train
