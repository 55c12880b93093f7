#include "run/cadence.h"

namespace replay::run {

Cadence::Cadence(const RunConfig& config, std::set<int64_t> publish_at)
    : total_(config.settings.train.steps),
      eval_every_(config.settings.eval.every),
      checkpoint_every_(config.settings.checkpoint.every),
      eval_at_start_(!config.settings.train.init_from.empty()),
      publish_at_(std::move(publish_at)) {
  const auto& phases = config.plan.phases;
  for (size_t p = 0; p < phases.size(); ++p) {
    phase_ends_.insert(phases[p].first_step + phases[p].num_steps);
    if (p > 0 && phases[p].reset_optimizer) {
      reset_starts_.insert(phases[p].first_step);
      publish_at_.insert(phases[p].first_step);
    }
  }
}

bool Cadence::evaluates_after(int64_t done) const {
  return (eval_every_ > 0 && done % eval_every_ == 0) || phase_ends_at(done) || done == total_;
}

bool Cadence::publishes_after(int64_t done) const { return publish_at_.count(done) > 0; }

bool Cadence::checkpoints_after(int64_t done) const {
  return (checkpoint_every_ > 0 && done % checkpoint_every_ == 0) || phase_ends_at(done) || done == total_ ||
         publishes_after(done);
}

}  // namespace replay::run
