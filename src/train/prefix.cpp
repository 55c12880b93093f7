#include "train/prefix.h"

#include <cstring>

#include "util/hash.h"

namespace replay::train {

namespace {

// The trainer evaluates after a step at every eval.every, at phase ends and
// at the end of the run (trainer.cpp); a branch must see the same lines.
bool evaluates_after(const RunConfig& config, int64_t done) {
  const auto& s = config.settings;
  if (s.eval.every > 0 && done % s.eval.every == 0) return true;
  if (done == s.train.steps) return true;
  const auto& phase = config.plan.phases[config.plan.phase_of_step(done - 1)];
  return done == phase.first_step + phase.num_steps;
}

}  // namespace

std::string prefix_base_key(const RunConfig& config) {
  const auto& r = config.resolved;
  nlohmann::json base = {{"model", r.at("model")},
                         {"optim", r.at("optim")},
                         {"microbatch", r.at("train").at("microbatch")},
                         {"batch_size", r.at("train").at("batch_size")},
                         {"init_from", r.at("train").at("init_from")},
                         {"data", r.at("data")},
                         {"eval", r.at("eval")},
                         {"seed", r.at("seed")},
                         {"numerics", config.numerics()}};
  return hash::xxh128_hex(base.dump());
}

std::vector<uint64_t> step_signatures(const RunConfig& config, int64_t steps) {
  const auto& plan = config.plan;
  std::vector<uint64_t> out;
  out.reserve(static_cast<size_t>(steps));
  std::vector<schedule::SequenceRef> refs(static_cast<size_t>(config.settings.train.batch_size));
  for (int64_t step = 0; step < steps; ++step) {
    const auto& phase = plan.phases[plan.phase_of_step(step)];
    phase.data->batch(step - phase.first_step, refs);
    hash::Hasher64 h;
    const double lr = phase.lr_at_step(step);
    const bool reset = phase.reset_optimizer && step == phase.first_step;
    const bool eval = evaluates_after(config, step + 1);
    h.update(&lr, sizeof lr);
    h.update(&reset, sizeof reset);
    h.update(&eval, sizeof eval);
    h.update(phase.name.data(), phase.name.size());
    for (const auto& ref : refs) {
      h.update(&ref.source, sizeof ref.source);
      h.update(&ref.index, sizeof ref.index);
    }
    out.push_back(h.digest());
  }
  return out;
}

std::string prefix_key(const RunConfig& config, int64_t steps) {
  auto signatures = step_signatures(config, steps);
  std::string text = prefix_base_key(config) + ":" + std::to_string(steps) + ":";
  text.append(reinterpret_cast<const char*>(signatures.data()), signatures.size() * sizeof(uint64_t));
  return "prefix-" + hash::xxh128_hex(text);
}

}  // namespace replay::train
