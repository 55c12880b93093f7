#include "analysis/efficiency.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <functional>
#include <map>
#include <set>

#include "util/error.h"

namespace replay::analysis {

namespace {

bool is_zero(const std::optional<double>& v) { return !v || std::fabs(*v) < 1e-12; }
bool is_one(const std::optional<double>& v) { return !v || std::fabs(*v - 1.0) < 1e-12; }

// The lowest-loss schedule among those `keep` accepts.
const ScheduleLoss* best_of(const std::vector<ScheduleLoss>& schedules,
                            bool (*keep)(const ScheduleLoss&)) {
  const ScheduleLoss* best = nullptr;
  for (const auto& s : schedules)
    if (keep(s) && std::isfinite(s.loss) && (!best || s.loss < best->loss)) best = &s;
  return best;
}

bool ft_baseline(const ScheduleLoss& s) { return s.family == "fine-tuning" && is_zero(s.rho); }
bool ft_replay(const ScheduleLoss& s) { return s.family == "fine-tuning" && !is_zero(s.rho); }
bool staged(const ScheduleLoss& s) { return s.family == "mid-training" || s.family == "full"; }
bool mt_baseline(const ScheduleLoss& s) { return staged(s) && is_zero(s.rho) && is_one(s.alpha); }
bool mt_replay(const ScheduleLoss& s) {
  return s.family == "mid-training" && !is_zero(s.rho) && is_one(s.alpha);
}

// The distinct targets of `runs`, first seen first; runs without one skipped.
std::vector<TargetIdentity> targets_of(const std::vector<RunRecord>& runs) {
  std::vector<TargetIdentity> out;
  std::set<std::string> seen;
  for (const auto& r : runs) {
    TargetIdentity t = r.effective_target();
    if (!t.key().empty() && seen.insert(t.key()).second) out.push_back(t);
  }
  return out;
}

std::string target_list(const std::vector<TargetIdentity>& targets) {
  std::string out;
  for (const auto& t : targets) out += (out.empty() ? "" : ", ") + t.label();
  return out;
}

struct TargetChoice {
  TargetIdentity target;  // what the analysis reports as its target
  std::string key;        // runs with this target key are used
  std::string split;      // the target's validation split
};

// The analysis' target among the targets of `selected` (see efficiency.h).
TargetChoice choose_target(const std::vector<RunRecord>& selected, const std::string& selector,
                           const std::string& what) {
  std::vector<TargetIdentity> targets = targets_of(selected);
  if (selector.empty()) {
    if (targets.size() > 1)
      throw Error(what + " spans " + std::to_string(targets.size()) + " targets: " +
                  target_list(targets) +
                  "; one fit through them would mix their losses. Pass --target DOMAIN (or the "
                  "store path) to choose one");
    if (targets.empty()) return {};
    return {targets[0], targets[0].key(), targets[0].source};
  }
  std::vector<TargetIdentity> hits;
  for (const auto& t : targets)
    if (t.matches(selector)) hits.push_back(t);
  if (hits.size() == 1) return {hits[0], hits[0].key(), hits[0].source};
  if (hits.size() > 1)
    throw Error(what + ": --target '" + selector + "' matches " + std::to_string(hits.size()) +
                " targets: " + target_list(hits) + "; pass the store path to choose one");
  // The old meaning: the name of the target split, for runs that record no
  // store (none, or a single tag-only target).
  if (targets.empty() || (targets.size() == 1 && targets[0].empty()))
    return {{selector, selector, "", ""}, targets.empty() ? "" : targets[0].key(), selector};
  throw Error(what + ": --target '" + selector + "' matches none of its targets: " +
              target_list(targets) + " (give a domain, a store path or a split name)");
}

// Keeps the first listing of each run.
void add_once(std::vector<RunRecord>& out, std::set<std::string>& seen, const RunRecord& r) {
  if (seen.insert(r.id).second) out.push_back(r);
}

std::optional<double> split_loss(const RunRecord& r, const std::string& split) {
  auto it = r.final_metrics.find(split);
  if (it == r.final_metrics.end() || !std::isfinite(it->second.loss)) return std::nullopt;
  return it->second.loss;
}

// A one-seed cell's per-sequence target losses, if its run recorded them.
std::vector<double> sequences_of(const Cell& cell, const SweepData& data, const Registry& registry) {
  if (cell.runs.size() != 1) return {};
  auto splits = read_val_sequences(resolve_run_dir(registry, cell.runs.front().run_dir));
  auto it = splits.find(data.target_split);
  return it == splits.end() ? std::vector<double>{} : it->second;
}

// The cells of `runs` that are schedules (done, not reference, with a target
// loss), each at its mean over seeds.
std::vector<ScheduleLoss> schedules_of(const std::vector<RunRecord>& runs, const SweepData& data,
                                       const Registry& registry) {
  std::vector<RunRecord> kept;
  for (const auto& r : runs)
    if (r.status == RunStatus::done && r.tag("family") != "reference" && split_loss(r, data.target_split))
      kept.push_back(r);
  std::vector<ScheduleLoss> out;
  for (const auto& cell : group_cells(kept)) {
    const RunRecord& r = cell.runs.front();
    ScheduleLoss s{cell.name, r.tag("family"), r.tag_number("rho"), r.tag_number("alpha"), 0, {}, r.sweep, {}, {}};
    s.seeds = cell.losses(data.target_split);
    s.loss = cell.stats(data.target_split).mean;
    if (!data.generic_split.empty() && cell.stats(data.generic_split).n > 0)
      s.generic_loss = cell.stats(data.generic_split).mean;
    s.sequences = sequences_of(cell, data, registry);
    out.push_back(std::move(s));
  }
  return out;
}

[[noreturn]] void no_split(const SweepData& data, const std::string& what) {
  std::set<std::string> splits;
  for (const auto& r : data.runs)
    for (const auto& [name, loss] : r.final_metrics) splits.insert(name);
  std::string list;
  for (const auto& s : splits) list += (list.empty() ? "" : ", ") + s;
  throw Error(what + ": no target split given and no run has a target identity or a \"target\" "
              "tag; pass --target (splits with results: " + (list.empty() ? "none" : list) + ")");
}

void collect_reference(const std::vector<RunRecord>& on_target, const CollectOptions& o,
                       const Registry& registry, SweepData& data) {
  std::set<std::string> seen, sweeps;
  std::vector<RunRecord> kept;
  for (const auto& r : on_target) {
    if (!o.reference_sweep.empty() && r.sweep != o.reference_sweep) continue;
    if (r.status != RunStatus::done || r.tag("family") != "reference") continue;
    if (!r.tag_number("x") || !split_loss(r, data.target_split) || !seen.insert(r.id).second) continue;
    kept.push_back(r);
    if (sweeps.insert(r.sweep).second) data.reference_sweeps.push_back(r.sweep);
  }
  for (const auto& cell : group_cells(kept)) {
    double x = *cell.runs.front().tag_number("x");
    data.reference_cells.push_back({x, cell.losses(data.target_split), sequences_of(cell, data, registry)});
    data.reference.push_back({x, cell.stats(data.target_split).mean});
  }
  if (o.reference_sweep.empty() || !data.reference.empty()) return;
  auto refs = registry.list_runs({o.reference_sweep, std::nullopt});
  if (refs.empty())
    throw Error(registry.path().string() + ": no runs in reference sweep '" + o.reference_sweep + "'");
  bool any_on_target = false;
  for (const auto& r : on_target) any_on_target |= r.sweep == o.reference_sweep;
  if (!any_on_target)
    throw Error(registry.path().string() + ": reference sweep '" + o.reference_sweep +
                "' has no runs on target " + data.target.label() + " (its targets: " +
                target_list(targets_of(refs)) + ")");
}

// What must agree for runs of different sweeps to be compared on one curve:
// the model, the run length, the batch and the sequence length, read from the
// run's resolved description; "" when the description does not say.
std::string experiment_shape(const RunRecord& r) {
  try {
    const auto c = nlohmann::json::parse(r.config);
    return nlohmann::json{{"model", c.at("model")},
                          {"steps", c.at("train").at("steps")},
                          {"batch_size", c.at("train").at("batch_size")},
                          {"seq_len", c.at("data").at("seq_len")}}
        .dump();
  } catch (const std::exception&) {
    return "";
  }
}

// Runs of other sweeps are borrowed (reference points, baselines) only when
// they have the shape of the selected runs: a reference run of another model
// size on the same store must not enter this curve.
void keep_comparable(std::vector<RunRecord>& on_target, const SweepData& data, const CollectOptions& o) {
  std::set<std::string> shapes;
  for (const auto& r : data.runs) shapes.insert(experiment_shape(r));
  const bool one_shape = shapes.size() == 1;
  std::erase_if(on_target, [&](const RunRecord& r) {
    if (r.sweep == o.sweep || r.sweep == o.reference_sweep) return false;
    return !one_shape || experiment_shape(r) != *shapes.begin();
  });
}

}  // namespace

SweepData collect_sweep(const Registry& registry, const CollectOptions& o) {
  SweepData data;
  data.sweep = o.sweep;
  const std::vector<RunRecord> all = registry.list_runs();
  std::vector<RunRecord> selected;
  for (const auto& r : all)
    if (o.sweep.empty() || r.sweep == o.sweep) selected.push_back(r);
  std::string what = registry.path().string() + (o.sweep.empty() ? "" : ": sweep '" + o.sweep + "'");
  if (selected.empty())
    throw Error(registry.path().string() +
                (o.sweep.empty() ? ": no runs" : ": no runs in sweep '" + o.sweep + "'"));

  TargetChoice choice = choose_target(selected, o.target, what);
  data.target = choice.target;
  data.target_split = choice.split;
  // A run that names no target is attributed only when nothing else could claim it.
  const bool take_unattributed = targets_of(all).size() <= 1;
  std::vector<RunRecord> on_target;
  for (const auto& r : all) {
    std::string key = r.effective_target().key();
    if (key == choice.key || (key.empty() && take_unattributed)) on_target.push_back(r);
  }
  std::set<std::string> in_scope;
  for (const auto& r : on_target)
    if (o.sweep.empty() || o.all_sweeps || r.sweep == o.sweep) add_once(data.runs, in_scope, r);

  data.generic_split = o.generic_split;
  for (const auto& r : data.runs)
    if (data.generic_split.empty()) data.generic_split = r.tag("generic");
  if (data.target_split.empty()) no_split(data, what);

  // A tag-only target cannot tell two domains apart (both tag "target"), so
  // its runs are never borrowed from outside the selected sweep.
  if (data.target.empty() && !o.sweep.empty() && !o.all_sweeps)
    std::erase_if(on_target, [&](const RunRecord& r) {
      return r.sweep != o.sweep && r.sweep != o.reference_sweep;
    });
  if (!o.sweep.empty() && !o.all_sweeps) keep_comparable(on_target, data, o);
  collect_reference(on_target, o, registry, data);
  data.schedules = schedules_of(data.runs, data, registry);
  std::set<std::string> seen = in_scope;
  std::vector<RunRecord> others;
  for (const auto& r : on_target)
    if (!in_scope.count(r.id) && seen.insert(r.id).second) others.push_back(r);
  data.baselines = schedules_of(others, data, registry);
  return data;
}

RhoAlphaGrid rho_alpha_grid(const std::vector<ScheduleLoss>& schedules) {
  std::set<double> rhos;
  std::set<double, std::greater<>> alphas;
  std::map<std::pair<double, double>, double> best;
  for (const auto& s : schedules) {
    if (!(s.family == "mid-training" || s.family == "full") || !s.rho || !s.alpha) continue;
    rhos.insert(*s.rho);
    alphas.insert(*s.alpha);
    auto [it, fresh] = best.try_emplace({*s.rho, *s.alpha}, s.loss);
    if (!fresh) it->second = std::min(it->second, s.loss);
  }
  RhoAlphaGrid grid;
  grid.rho.assign(rhos.begin(), rhos.end());
  grid.alpha.assign(alphas.begin(), alphas.end());
  for (double r : grid.rho) {
    std::vector<double> row;
    for (double a : grid.alpha) {
      auto it = best.find({r, a});
      row.push_back(it == best.end() ? NAN : it->second);
    }
    grid.loss.push_back(std::move(row));
  }
  grid.cells = best.size();
  return grid;
}

Multiplier compare(const CurveFit& fit, const std::string& p_label, const ScheduleLoss& p,
                   const std::string& q_label, const ScheduleLoss& q) {
  Multiplier m = multiplier(fit, p_label, p.loss, q_label, q.loss);
  m.seeds_p = p.seeds;
  m.seeds_q = q.seeds;
  m.sequences_p = p.sequences;
  m.sequences_q = q.sequences;
  m.paired = paired_difference(p.seeds, q.seeds);
  if (!m.paired && p.seeds.size() == 1 && q.seeds.size() == 1)
    m.paired = paired_over_sequences(p.sequences, q.sequences);
  return m;
}

namespace {

using Pick = bool (*)(const ScheduleLoss&);

bool any_schedule(const ScheduleLoss&) { return true; }


// "fine-tuning + replay (ft-rho0.75)", with the sweep when it comes from
// outside the scope ("fine-tuning (ft-rho0, sweep demo-math)").
std::string label(const char* role, const ScheduleLoss& s, bool borrowed) {
  return std::string(role) + " (" + s.name + (borrowed ? ", sweep " + s.sweep : "") + ")";
}

}  // namespace

std::vector<Multiplier> paper_multipliers(const CurveFit& fit,
                                          const std::vector<ScheduleLoss>& schedules,
                                          const std::vector<ScheduleLoss>& baselines) {
  std::vector<Multiplier> out;
  std::set<std::pair<const ScheduleLoss*, const ScheduleLoss*>> done;  // one row per pair
  // A baseline Q from the scope if it has one, else from the other sweeps.
  auto baseline = [&](Pick pick) -> std::pair<const ScheduleLoss*, bool> {
    if (const ScheduleLoss* q = best_of(schedules, pick)) return {q, false};
    return {best_of(baselines, pick), true};
  };
  auto add = [&](Pick p_pick, const char* p_role, Pick q_pick, const char* q_role) {
    const ScheduleLoss* p = best_of(schedules, p_pick);
    auto [q, borrowed] = baseline(q_pick);
    if (!p || !q || p == q || !done.emplace(p, q).second) return;
    out.push_back(compare(fit, label(p_role, *p, false), *p, label(q_role, *q, borrowed), *q));
  };
  add(ft_replay, "fine-tuning + replay", ft_baseline, "fine-tuning");
  add(mt_replay, "mid-training + replay", mt_baseline, "mid-training");
  add(staged, "best full schedule", mt_baseline, "mid-training");
  add(mt_baseline, "mid-training", ft_baseline, "fine-tuning");
  add(any_schedule, "best schedule", ft_baseline, "fine-tuning");
  return out;
}

std::optional<Multiplier> multiplier_over_baseline(const CurveFit& fit, const ScheduleLoss& schedule,
                                                   const std::vector<ScheduleLoss>& schedules,
                                                   const std::vector<ScheduleLoss>& baselines) {
  Pick baseline = nullptr;
  if (schedule.family == "fine-tuning") baseline = ft_baseline;
  else if (staged(schedule)) baseline = mt_baseline;
  if (!baseline) return std::nullopt;
  const ScheduleLoss* base = best_of(schedules, baseline);
  bool borrowed = !base;
  if (!base) base = best_of(baselines, baseline);
  if (!base) return std::nullopt;
  return compare(fit, schedule.name, schedule,
                 borrowed ? base->name + " (sweep " + base->sweep + ")" : base->name, *base);
}

}  // namespace replay::analysis
