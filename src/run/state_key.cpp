#include "run/state_key.h"

#include "run/cadence.h"
#include "util/hash.h"

namespace replay::run {

std::string state_base_key(const RunConfig& config) {
  const auto& r = config.resolved;
  // When evaluations happen is in each step's signature (the cadence); what
  // they compute is here.
  nlohmann::json eval = r.at("eval");
  eval.erase("every");
  nlohmann::json base = {{"model", r.at("model")},
                         {"optim", r.at("optim")},
                         {"microbatch", r.at("train").at("microbatch")},
                         {"batch_size", r.at("train").at("batch_size")},
                         {"init_from", r.at("train").at("init_from")},
                         {"data", r.at("data")},
                         {"eval", eval},
                         // Of the seeds only init: the data and pool seeds act
                         // through the sequences of each step, which the step
                         // signatures hold, so runs that differ in those alone
                         // share every step whose batches agree.
                         {"seed", config.settings.init_seed()},
                         {"numerics", config.numerics()}};
  return hash::xxh128_hex(base.dump());
}

std::vector<uint64_t> step_signatures(const RunConfig& config, int64_t steps) {
  const auto& plan = config.plan;
  const Cadence cadence(config);
  std::vector<uint64_t> out;
  out.reserve(static_cast<size_t>(steps));
  std::vector<schedule::SequenceRef> refs(static_cast<size_t>(config.settings.train.batch_size));
  for (int64_t step = 0; step < steps; ++step) {
    const auto& phase = plan.phases[plan.phase_of_step(step)];
    phase.data->batch(step - phase.first_step, refs);
    hash::Hasher64 h;
    const double lr = phase.lr_at_step(step);
    const bool reset = phase.reset_optimizer && step == phase.first_step;
    const bool eval = cadence.evaluates_after(step + 1);
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

std::string state_key(const RunConfig& config, int64_t steps) {
  auto signatures = step_signatures(config, steps);
  std::string text = state_base_key(config) + ":" + std::to_string(steps) + ":";
  text.append(reinterpret_cast<const char*>(signatures.data()), signatures.size() * sizeof(uint64_t));
  return "state-" + hash::xxh128_hex(text);
}

}  // namespace replay::run
