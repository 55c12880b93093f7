// When a run evaluates, checkpoints and publishes a reusable state: one rule,
// used by the trainer (what it does after each step) and by prefix sharing
// (what a step's signature says about it), so a branched run sees exactly
// the lines the run it branches from wrote.
//
// Before the first step of a run that starts fresh from pretrained weights
// (train.init_from): evaluate, so that the starting model's losses and task
// scores are the first line of its curves (the point every run of a
// continued-pretraining sweep starts from). Not on a resume or a branch:
// their metrics already hold it.
// After `done` completed steps (1 = after the first update):
//   evaluate    every eval.every steps (0 = never by count), at the end of each
//               phase, at the end of the run
//   publish     at the steps a sweep asks for (prefix sharing), and at the end
//               of a phase whose successor starts from the weights alone
//               (fine-tuning's pre-training: other runs may start there)
//   checkpoint  every checkpoint.every steps, at phase ends, at the end of the
//               run, and wherever a state is published
#pragma once
#include <cstdint>
#include <functional>
#include <set>

#include "run/run_config.h"

namespace replay::run {

class Cadence {
 public:
  explicit Cadence(const RunConfig& config, std::set<int64_t> publish_at = {});

  bool evaluates_at_start() const { return eval_at_start_; }
  bool evaluates_after(int64_t done) const;
  bool publishes_after(int64_t done) const;
  bool checkpoints_after(int64_t done) const;
  // Steps where a state other runs may start from begins a phase that resets
  // the optimizer (candidates for reuse on a fresh start), descending.
  const std::set<int64_t, std::greater<>>& reset_starts() const { return reset_starts_; }

 private:
  bool phase_ends_at(int64_t done) const { return phase_ends_.count(done) > 0; }

  int64_t total_ = 0, eval_every_ = 0, checkpoint_every_ = 0;
  bool eval_at_start_ = false;
  std::set<int64_t> phase_ends_;
  std::set<int64_t> publish_at_;
  std::set<int64_t, std::greater<>> reset_starts_;
};

}  // namespace replay::run
