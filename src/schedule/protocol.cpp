#include "schedule/protocol.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "util/error.h"
#include "util/hash.h"

namespace replay::schedule {

namespace {

std::string num(double v) {
  std::ostringstream out;
  out.precision(10);
  out << v;
  return out.str();
}

// Sources of the run in [data] order, with their training-split sizes.
std::vector<SourceSpec> source_specs(const DataConfig& data, const StoreSizeFn& sizes) {
  std::vector<SourceSpec> out;
  for (const SourceConfig& c : data.sources) {
    SourceSpec s;
    s.name = c.name;
    s.size = sizes(c);
    s.pool = c.pool;
    s.repeat = c.repeat;
    s.shuffle = c.shuffle;
    if (s.size < 0) throw Error("data.sources." + c.name + ": store size is negative");
    out.push_back(s);
  }
  return out;
}

int32_t find_source(const std::vector<SourceSpec>& sources, const std::string& name, const std::string& key) {
  if (name.empty()) throw Error("schedule." + key + " is required for this protocol");
  for (size_t i = 0; i < sources.size(); ++i)
    if (sources[i].name == name) return static_cast<int32_t>(i);
  std::string known;
  for (const auto& s : sources) known += (known.empty() ? "" : ", ") + s.name;
  throw Error("schedule." + key + " = '" + name + "' is not a source in [data.sources] (have: " + known + ")");
}

std::vector<double> two_weights(size_t k, int32_t target, double w_target, int32_t generic) {
  std::vector<double> w(k, 0.0);
  w[target] = w_target;
  w[generic] += 1 - w_target;
  return w;
}

// The target pool: f N B sequences, checked against the store and any
// explicit `pool` in [data.sources.<target>].
void set_target_pool(std::vector<SourceSpec>& sources, int32_t target, int64_t pool) {
  SourceSpec& t = sources[target];
  const std::string where = "data.sources." + t.name;
  if (t.pool > 0 && t.pool != pool)
    throw Error(where + ".pool = " + std::to_string(t.pool) + " disagrees with f * steps * batch_size = " +
                std::to_string(pool) + " (give one of them)");
  if (pool > t.size)
    throw Error(where + ": the target pool of " + std::to_string(pool) + " sequences is larger than the store's " +
                "training split (" + std::to_string(t.size) + " sequences)");
  t.pool = pool;
}

void check_stage2_length(int64_t stage2_steps, const ProtocolSpec& spec, const std::string& what) {
  if (stage2_steps > 0 && stage2_steps * spec.batch_size < spec.block_size)
    throw Error("[schedule]: " + what + " of " + std::to_string(stage2_steps) + " steps (" +
                std::to_string(stage2_steps * spec.batch_size) + " sequences) is shorter than one mixing block (" +
                "block_size = " + std::to_string(spec.block_size) + "); lower schedule.block_size");
}

LrSchedule with_length(LrSchedule lr, int64_t steps) {
  lr.total_steps = steps;
  return lr;
}

Phase make_phase(std::string name, int64_t first, int64_t count, bool reset, LrSchedule lr, int64_t lr_first,
                 const std::shared_ptr<const Mixture>& mix, std::string lr_key = "optim.lr") {
  Phase p;
  p.lr_key = std::move(lr_key);
  p.name = std::move(name);
  p.first_step = first;
  p.num_steps = count;
  p.reset_optimizer = reset;
  p.lr = lr;
  p.lr_first_step = lr_first;
  p.data = std::make_shared<StepWindow>(mix, first, count);
  validate(p.lr, "phase '" + p.name + "' lr schedule");
  return p;
}

void add_wrap_warnings(RunPlan& plan) {
  const Mixture& mix = *plan.mixture;
  for (size_t i = 0; i < mix.spec().sources.size(); ++i) {
    const SourceSpec& s = mix.spec().sources[i];
    const int64_t draws = mix.total_draws(static_cast<int32_t>(i));
    if (s.pool == 0 && draws > s.size)
      plan.warnings.push_back("source '" + s.name + "' needs " + std::to_string(draws) +
                              " sequences but its training split holds " + std::to_string(s.size) +
                              ": it repeats (" + num(static_cast<double>(draws) / static_cast<double>(s.size)) +
                              " epochs; the paper's generic data never repeats)");
  }
  if (mix.spec().apportion == Apportion::reference) {
    for (const MixtureStage& st : mix.spec().stages)
      if ((st.start_step * mix.batch_size()) % mix.spec().block_size != 0)
        plan.warnings.push_back("stage at step " + std::to_string(st.start_step) +
                                " does not start on a mixing block boundary; the reference implementation "
                                "rejects this (here the straddling block is split)");
  }
}

MixtureSpec base_mixture(const ProtocolSpec& spec, std::vector<SourceSpec> sources) {
  MixtureSpec m;
  m.sources = std::move(sources);
  m.num_steps = spec.steps;
  m.batch_size = spec.batch_size;
  m.block_size = spec.block_size;
  m.apportion = spec.apportion;
  m.seed = spec.seed;
  m.pool_seed = spec.pool_seed;
  return m;
}

void plan_paper_two_stage(const ProtocolSpec& spec, std::vector<SourceSpec> sources, RunPlan& plan) {
  const int32_t target = find_source(sources, spec.target, "target");
  const int32_t generic = find_source(sources, spec.generic, "generic");
  if (target == generic) throw Error("[schedule]: target and generic must be different sources");
  PaperKnobs knobs = spec.knobs;
  if (!(knobs.f > 0) && sources[target].pool > 0)
    knobs.f = static_cast<double>(sources[target].pool) / (static_cast<double>(spec.steps) * spec.batch_size);
  if (spec.protocol == Protocol::reference) {
    if (knobs.rho || knobs.alpha || knobs.delta)
      throw Error("[schedule]: protocol 'reference' takes f and e only (no rho, alpha, delta)");
    knobs.rho = 0.0;
    knobs.alpha = 0.0;  // all target exposure in "stage 1": one uniform stage
  }
  const PaperSchedule p = derive_paper_schedule(knobs, spec.steps, spec.batch_size, "[schedule]");
  if (spec.knobs.rho && *spec.knobs.rho > 0 && p.delta <= 0)
    plan.warnings.push_back("[schedule]: rho = " + num(*spec.knobs.rho) +
                            " has no effect: alpha = 0 puts no target data in stage 2, so there is no stage 2 "
                            "to replay in (the run is one uniform stage)");
  set_target_pool(sources, target, p.pool);
  if (p.alpha > 0) check_stage2_length(p.stage2_steps, spec, "stage 2");

  double w1 = p.w1, w2 = p.w2;
  if (spec.apportion == Apportion::exact) {
    const StageWeights ew = exact_stage_weights(p, spec.steps, spec.batch_size, "[schedule]");
    w1 = ew.w1;
    w2 = ew.w2;
  }
  MixtureSpec m = base_mixture(spec, std::move(sources));
  const size_t k = m.sources.size();
  if (p.boundary_step > 0) m.stages.push_back({0, two_weights(k, target, w1, generic)});
  if (p.stage2_steps > 0) m.stages.push_back({p.boundary_step, two_weights(k, target, w2, generic)});
  plan.mixture = std::make_shared<Mixture>(std::move(m));
  plan.paper = p;
  plan.target = target;
  plan.phases.push_back(
      make_phase("train", 0, spec.steps, false, with_length(spec.lr, spec.steps), 0, plan.mixture));
}

void plan_fine_tuning(const ProtocolSpec& spec, std::vector<SourceSpec> sources, RunPlan& plan) {
  const int32_t target = find_source(sources, spec.target, "target");
  const int32_t generic = find_source(sources, spec.generic, "generic");
  if (target == generic) throw Error("[schedule]: target and generic must be different sources");
  if (!(spec.m >= 1) || !std::isfinite(spec.m))
    throw Error("[schedule]: m (replay multiplier) must be >= 1, got " + num(spec.m));
  PaperKnobs knobs = spec.knobs;
  if (!(knobs.f > 0) && sources[target].pool > 0)
    knobs.f = static_cast<double>(sources[target].pool) / (static_cast<double>(spec.steps) * spec.batch_size);
  if (knobs.rho || knobs.alpha || knobs.delta)
    throw Error("[schedule]: protocol 'fine-tuning' takes f, e and m (not rho/alpha/delta)");
  knobs.rho = 1 - 1 / spec.m;
  knobs.alpha = 1.0;  // all target exposure in fine-tuning
  PaperSchedule p = derive_paper_schedule(knobs, spec.steps, spec.batch_size, "[schedule]");
  set_target_pool(sources, target, p.pool);

  // n_FT = pool_batches * e * m: the pool's batches, e times, stretched by replay.
  const double n_ft_exact = static_cast<double>(p.pool) / static_cast<double>(spec.batch_size) * p.e * spec.m;
  const int64_t n_ft = std::llround(n_ft_exact);
  if (n_ft < 1) throw Error("[schedule]: fine-tuning would be " + num(n_ft_exact) + " steps");
  if (n_ft > spec.steps)
    throw Error("[schedule]: fine-tuning needs " + std::to_string(n_ft) + " steps (pool batches x e x m) but " +
                "train.steps is " + std::to_string(spec.steps));
  if (std::fabs(n_ft_exact - static_cast<double>(n_ft)) > 1e-6)
    plan.warnings.push_back("n_FT = pool_batches * e * m = " + num(n_ft_exact) + " rounded to " +
                            std::to_string(n_ft) + " steps");
  p.boundary_step = spec.steps - n_ft;
  p.stage2_steps = n_ft;
  p.delta = static_cast<double>(n_ft) / static_cast<double>(spec.steps);
  check_stage2_length(n_ft, spec, "fine-tuning");

  double w = 1 / spec.m;
  if (spec.apportion == Apportion::exact)
    w = static_cast<double>(p.target_sequences) / static_cast<double>(n_ft * spec.batch_size);
  if (w > 1) throw Error("[schedule]: fine-tuning cannot hold the target exposure (weight " + num(w) + ")");
  p.w1 = 0;
  p.w2 = 1 / spec.m;
  MixtureSpec m = base_mixture(spec, std::move(sources));
  const size_t k = m.sources.size();
  if (p.boundary_step > 0) m.stages.push_back({0, two_weights(k, target, 0.0, generic)});
  m.stages.push_back({p.boundary_step, two_weights(k, target, w, generic)});
  plan.mixture = std::make_shared<Mixture>(std::move(m));
  plan.paper = p;
  plan.target = target;
  if (p.boundary_step > 0)
    plan.phases.push_back(make_phase("pre-training", 0, p.boundary_step, false,
                                     with_length(spec.pretrain_lr, p.boundary_step), 0, plan.mixture,
                                     "schedule.pretrain.lr"));
  plan.phases.push_back(make_phase("fine-tuning", p.boundary_step, n_ft, p.boundary_step > 0,
                                   with_length(spec.finetune_lr, n_ft), p.boundary_step, plan.mixture,
                                   "schedule.finetune.lr"));
}

void plan_general(const ProtocolSpec& spec, std::vector<SourceSpec> sources, RunPlan& plan) {
  if (spec.stages.empty()) throw Error("[schedule]: protocol 'general' needs [[schedule.stages]]");
  MixtureSpec m = base_mixture(spec, std::move(sources));
  const size_t k = m.sources.size();
  for (size_t s = 0; s < spec.stages.size(); ++s) {
    const GeneralStage& g = spec.stages[s];
    std::vector<double> w(k, 0.0);
    for (const auto& [name, weight] : g.weights)
      w[find_source(m.sources, name, "stages[" + std::to_string(s) + "].weights." + name)] = weight;
    m.stages.push_back({g.start_step, w});
  }
  plan.mixture = std::make_shared<Mixture>(std::move(m));  // validates starts and weights

  // LR schedules: one starts at stage 0 and at every stage that gives `lr`;
  // each spans until the next one starts. Phases break at schedule starts and
  // at optimizer resets.
  auto stage_end = [&](size_t s) {
    return s + 1 < spec.stages.size() ? spec.stages[s + 1].start_step : spec.steps;
  };
  LrSchedule current = spec.lr;
  int64_t lr_first = 0;
  std::string lr_key = "optim.lr";
  for (size_t s = 0; s < spec.stages.size(); ++s) {
    const GeneralStage& g = spec.stages[s];
    const bool new_lr = s == 0 || g.lr.has_value();
    if (new_lr) {
      current = g.lr.value_or(spec.lr);
      lr_first = g.start_step;
      lr_key = g.lr ? "schedule.stages[" + std::to_string(s) + "].lr" : "optim.lr";
      size_t t = s + 1;
      while (t < spec.stages.size() && !spec.stages[t].lr) ++t;
      current.total_steps = (t < spec.stages.size() ? spec.stages[t].start_step : spec.steps) - lr_first;
    }
    if (s == 0 || new_lr || g.reset_optimizer) {
      plan.phases.push_back(make_phase("stage-" + std::to_string(s), g.start_step, stage_end(s) - g.start_step,
                                       g.reset_optimizer && s > 0, current, lr_first, plan.mixture, lr_key));
    } else {
      // Same optimizer, same schedule: the stage extends the running phase.
      Phase& last = plan.phases.back();
      last.num_steps = stage_end(s) - last.first_step;
      last.data = std::make_shared<StepWindow>(plan.mixture, last.first_step, last.num_steps);
    }
  }
}

void plan_continued_pretraining(const ProtocolSpec& spec, std::vector<SourceSpec> sources, RunPlan& plan) {
  const int32_t target = find_source(sources, spec.target, "target");
  const int32_t generic = find_source(sources, spec.generic, "generic");
  if (target == generic) throw Error("[schedule]: target and generic must be different sources");
  if (spec.knobs.alpha || spec.knobs.delta || spec.knobs.f > 0)
    throw Error("[schedule]: protocol 'continued-pretraining' takes target_steps and rho (not f, alpha, delta)");
  if (spec.apportion != Apportion::exact)
    throw Error("[schedule]: protocol 'continued-pretraining' needs apportion = \"exact\" (the target "
                "exposure T * batch_size is its invariant)");
  const double rho = spec.knobs.rho.value_or(0.0);
  const int64_t n = continued_pretraining_steps(spec.target_steps, rho);
  if (spec.steps != n)
    throw Error("train.steps = " + std::to_string(spec.steps) + " disagrees with schedule.target_steps = " +
                std::to_string(spec.target_steps) + " / (1 - schedule.rho = " + num(rho) + ") = " +
                std::to_string(n) + " steps (leave train.steps out to derive it)");
  ContinuedPretraining c;
  c.target_steps = spec.target_steps;
  c.rho = rho;
  c.total_steps = n;
  c.target_sequences = spec.target_steps * spec.batch_size;
  c.target_weight = static_cast<double>(spec.target_steps) / static_cast<double>(n);
  if (n != spec.target_steps && static_cast<double>(n) * (1 - rho) != static_cast<double>(spec.target_steps))
    plan.warnings.push_back("target_steps / (1 - rho) = " + num(spec.target_steps / (1 - rho)) + " rounded to " +
                            std::to_string(n) + " steps; target weight " + num(c.target_weight) +
                            " keeps the target exposure exact");
  const SourceSpec& t = sources[target];
  const int64_t pool = t.pool > 0 ? std::min(t.pool, t.size) : t.size;
  if (t.pool > 0 && c.target_sequences > pool)
    plan.warnings.push_back("target '" + t.name + "': the budget of " + std::to_string(c.target_sequences) +
                            " sequences is larger than its pool of " + std::to_string(pool) + ": the pool repeats (" +
                            to_string(t.repeat) + ", " + num(static_cast<double>(c.target_sequences) / pool) +
                            " epochs)");
  MixtureSpec m = base_mixture(spec, std::move(sources));
  // One-position blocks: position p holds the target iff the cumulative
  // exact count round(w (p + 1)) grows there, and then it is draw round(w p),
  // so the k-th target position of the stream is target draw k for every rho.
  m.block_size = 1;
  m.stages.push_back({0, two_weights(m.sources.size(), target, c.target_weight, generic)});
  plan.mixture = std::make_shared<Mixture>(std::move(m));
  plan.target = target;
  plan.continued = c;
  plan.phases.push_back(
      make_phase("continued-pretraining", 0, n, false, with_length(spec.lr, n), 0, plan.mixture));
}

}  // namespace

int64_t continued_pretraining_steps(int64_t target_steps, double rho) {
  if (target_steps < 1)
    throw Error("schedule.target_steps = " + std::to_string(target_steps) +
                ": must be >= 1 (the budget of target steps; required for protocol 'continued-pretraining')");
  if (!(rho >= 0 && rho < 1))
    throw Error("schedule.rho = " + num(rho) + ": must be in [0, 1) (the replay fraction; rho = 1 would never "
                "reach the target budget)");
  const double n = static_cast<double>(target_steps) / (1 - rho);
  if (!(n <= 1e15)) throw Error("schedule.rho = " + num(rho) + ": target_steps / (1 - rho) is too large");
  return std::llround(n);
}

Protocol parse_protocol(const std::string& text, const std::string& where) {
  if (text == "single") return Protocol::single;
  if (text == "reference") return Protocol::reference;
  if (text == "mid-training") return Protocol::mid_training;
  if (text == "fine-tuning") return Protocol::fine_tuning;
  if (text == "general") return Protocol::general;
  if (text == "continued-pretraining") return Protocol::continued_pretraining;
  throw Error(where + ": '" + text +
              "' is not one of single, reference, mid-training, fine-tuning, general, continued-pretraining");
}

const char* to_string(Protocol p) {
  switch (p) {
    case Protocol::single: return "single";
    case Protocol::reference: return "reference";
    case Protocol::mid_training: return "mid-training";
    case Protocol::fine_tuning: return "fine-tuning";
    case Protocol::general: return "general";
    case Protocol::continued_pretraining: return "continued-pretraining";
  }
  return "?";
}

size_t RunPlan::phase_of_step(int64_t global_step) const {
  for (size_t i = 0; i < phases.size(); ++i)
    if (global_step < phases[i].first_step + phases[i].num_steps) return i;
  throw Error("step " + std::to_string(global_step) + " is past the end of the run");
}

RunPlan build_run_plan(const ProtocolSpec& spec, const DataConfig& data, const StoreSizeFn& sizes) {
  if (spec.steps <= 0) throw Error("train.steps must be > 0");
  if (spec.batch_size <= 0) throw Error("train.batch_size must be > 0");
  if (data.sources.empty()) throw Error("[data.sources] is empty: at least one source is needed");
  std::vector<SourceSpec> sources = source_specs(data, sizes);
  RunPlan plan;
  plan.protocol = spec.protocol;
  switch (spec.protocol) {
    case Protocol::single: {
      const int32_t s = find_source(sources, spec.source, "source");
      MixtureSpec m = base_mixture(spec, std::move(sources));
      std::vector<double> w(m.sources.size(), 0.0);
      w[s] = 1;
      m.stages.push_back({0, w});
      plan.mixture = std::make_shared<Mixture>(std::move(m));
      plan.phases.push_back(
          make_phase("train", 0, spec.steps, false, with_length(spec.lr, spec.steps), 0, plan.mixture));
      break;
    }
    case Protocol::reference:
    case Protocol::mid_training:
      plan_paper_two_stage(spec, std::move(sources), plan);
      break;
    case Protocol::fine_tuning:
      plan_fine_tuning(spec, std::move(sources), plan);
      break;
    case Protocol::general:
      plan_general(spec, std::move(sources), plan);
      break;
    case Protocol::continued_pretraining:
      plan_continued_pretraining(spec, std::move(sources), plan);
      break;
  }
  add_wrap_warnings(plan);
  return plan;
}

std::string phase_content_key(const RunPlan& plan, size_t phase, std::string_view extra) {
  const Phase& ph = plan.phases.at(phase);
  const Mixture& mix = *plan.mixture;
  const MixtureSpec& ms = mix.spec();
  const int64_t end = ph.first_step + ph.num_steps;
  std::ostringstream key;
  key.precision(17);
  // Sources active before `end`, in source order (the order the slots of a
  // block are laid out in), so runs that differ only in unused sources agree.
  std::vector<bool> active(ms.sources.size(), false);
  for (size_t s = 0; s < ms.stages.size() && ms.stages[s].start_step < end; ++s)
    for (size_t i = 0; i < ms.sources.size(); ++i) active[i] = active[i] || ms.stages[s].weights[i] > 0;
  // The pool seed only where it changes the stream: a chosen pool of an
  // active source, and a value other than the data seed (the one-seed key
  // stays as it was).
  bool chooses = false;
  for (size_t i = 0; i < ms.sources.size(); ++i) chooses = chooses || (active[i] && ms.pool_is_chosen(i));
  const bool pool_seed_matters = chooses && ms.effective_pool_seed() != ms.seed;
  key << "replay-phase-key v1\nseed " << ms.seed;
  if (pool_seed_matters) key << "\npool_seed " << ms.effective_pool_seed();
  key << "\nbatch " << ms.batch_size << "\nblock " << ms.block_size << "\napportion " << to_string(ms.apportion)
      << "\nsteps 0-" << end << "\n";
  for (size_t i = 0; i < ms.sources.size(); ++i) {
    if (!active[i]) continue;
    const SourceSpec& s = ms.sources[i];
    key << "source " << s.name << " size " << s.size << " pool " << s.pool << " repeat " << to_string(s.repeat)
        << " shuffle " << s.shuffle << "\n";
  }
  for (size_t s = 0; s < ms.stages.size() && ms.stages[s].start_step < end; ++s) {
    double sum = 0;
    for (double w : ms.stages[s].weights) sum += w;
    key << "stage " << ms.stages[s].start_step;
    for (size_t i = 0; i < ms.sources.size(); ++i)
      if (active[i]) key << " " << ms.sources[i].name << "=" << ms.stages[s].weights[i] / sum;
    key << "\n";
  }
  for (size_t i = 0; i <= phase; ++i) {
    const Phase& p = plan.phases[i];
    key << "phase " << p.first_step << "+" << p.num_steps << " reset " << p.reset_optimizer << " lr "
        << to_string(p.lr.kind) << " " << p.lr.peak << " " << p.lr.total_steps << " " << p.lr.warmup << " "
        << p.lr.cooldown << " " << p.lr.min_lr_ratio << " from " << p.lr_first_step << "\n";
  }
  key << "extra " << extra << "\n";
  return hash::xxh128_hex(key.str());
}

std::vector<SourceUsage> measure_usage(const Mixture& mix, int64_t first_step, int64_t num_steps) {
  const MixtureSpec& ms = mix.spec();
  const size_t k = ms.sources.size();
  std::vector<SourceUsage> out(k);
  std::vector<std::vector<bool>> seen(k);
  for (size_t i = 0; i < k; ++i) {
    out[i].name = ms.sources[i].name;
    out[i].pool = mix.pool_size(static_cast<int32_t>(i));
    seen[i].assign(static_cast<size_t>(std::max<int64_t>(ms.sources[i].size, 0)), false);
  }
  const int64_t begin = first_step * ms.batch_size, end = (first_step + num_steps) * ms.batch_size;
  for (size_t s = 0; s < ms.stages.size(); ++s) {
    const int64_t sb = ms.stages[s].start_step * ms.batch_size;
    const int64_t se = s + 1 < ms.stages.size() ? ms.stages[s + 1].start_step * ms.batch_size : mix.num_positions();
    const int64_t overlap = std::max<int64_t>(0, std::min(se, end) - std::max(sb, begin));
    double sum = 0;
    for (double w : ms.stages[s].weights) sum += w;
    for (size_t i = 0; i < k; ++i) out[i].planned += ms.stages[s].weights[i] / sum * static_cast<double>(overlap);
  }
  std::vector<SequenceRef> buf(static_cast<size_t>(ms.batch_size));
  for (int64_t step = first_step; step < first_step + num_steps; ++step) {
    mix.batch(step, buf);
    for (const SequenceRef& r : buf) {
      SourceUsage& u = out[r.source];
      ++u.realized;
      u.max_index = std::max(u.max_index, r.index);
      auto&& bit = seen[r.source][static_cast<size_t>(r.index)];
      if (!bit) {
        bit = true;
        ++u.unique;
      }
    }
  }
  for (SourceUsage& u : out) u.epochs = u.pool > 0 ? static_cast<double>(u.realized) / static_cast<double>(u.pool) : 0;
  return out;
}

}  // namespace replay::schedule
