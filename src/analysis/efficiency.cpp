#include "analysis/efficiency.h"

#include <cmath>
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

}  // namespace

SweepData collect_sweep(const Registry& registry, const CollectOptions& options) {
  SweepData data;
  data.sweep = options.sweep;
  data.runs = registry.list_runs({options.sweep, std::nullopt});
  if (data.runs.empty())
    throw Error(registry.path().string() + ": no runs in sweep '" + options.sweep + "'");
  std::vector<RunRecord> refs = data.runs;
  if (!options.reference_sweep.empty() && options.reference_sweep != options.sweep) {
    refs = registry.list_runs({options.reference_sweep, std::nullopt});
    if (refs.empty())
      throw Error(registry.path().string() + ": no runs in reference sweep '" +
                  options.reference_sweep + "'");
  }

  data.target_split = options.target_split;
  data.generic_split = options.generic_split;
  for (const auto& r : data.runs) {
    if (data.target_split.empty()) data.target_split = r.tag("target");
    if (data.generic_split.empty()) data.generic_split = r.tag("generic");
  }
  if (data.target_split.empty()) {
    std::set<std::string> splits;
    for (const auto& r : data.runs)
      for (const auto& [name, loss] : r.final_metrics) splits.insert(name);
    std::string list;
    for (const auto& s : splits) list += (list.empty() ? "" : ", ") + s;
    throw Error("sweep '" + options.sweep +
                "': no target split given and no run has a \"target\" tag; pass --target (splits "
                "with results: " + (list.empty() ? "none" : list) + ")");
  }

  auto target_loss = [&](const RunRecord& r) -> std::optional<double> {
    auto it = r.final_metrics.find(data.target_split);
    if (it == r.final_metrics.end() || !std::isfinite(it->second.loss)) return std::nullopt;
    return it->second.loss;
  };
  for (const auto& r : refs) {
    if (r.status != RunStatus::done || r.tag("family") != "reference") continue;
    auto x = r.tag_number("x");
    auto loss = target_loss(r);
    if (x && loss) data.reference.push_back({*x, *loss});
  }
  for (const auto& r : data.runs) {
    if (r.status != RunStatus::done || r.tag("family") == "reference") continue;
    auto loss = target_loss(r);
    if (!loss) continue;
    ScheduleLoss s{r.name, r.tag("family"), r.tag_number("rho"), r.tag_number("alpha"), *loss, {}};
    auto g = r.final_metrics.find(data.generic_split);
    if (g != r.final_metrics.end()) s.generic_loss = g->second.loss;
    data.schedules.push_back(std::move(s));
  }
  return data;
}

std::vector<Multiplier> paper_multipliers(const CurveFit& fit,
                                          const std::vector<ScheduleLoss>& schedules) {
  std::vector<Multiplier> out;
  const ScheduleLoss* ft = best_of(schedules, ft_baseline);
  const ScheduleLoss* ftr = best_of(schedules, ft_replay);
  const ScheduleLoss* mt = best_of(schedules, mt_baseline);
  const ScheduleLoss* mtr = best_of(schedules, mt_replay);
  const ScheduleLoss* full = best_of(schedules, staged);
  auto add = [&](const ScheduleLoss* p, const char* p_label, const ScheduleLoss* q,
                 const char* q_label) {
    if (!p || !q) return;
    out.push_back(multiplier(fit, std::string(p_label) + " (" + p->name + ")", p->loss,
                             std::string(q_label) + " (" + q->name + ")", q->loss));
  };
  add(ftr, "fine-tuning + replay", ft, "fine-tuning");
  add(mtr, "mid-training + replay", mt, "mid-training");
  add(full, "best full schedule", mt, "mid-training");
  add(mt, "mid-training", ft, "fine-tuning");
  return out;
}

std::optional<Multiplier> multiplier_over_baseline(const CurveFit& fit, const ScheduleLoss& schedule,
                                                   const std::vector<ScheduleLoss>& schedules) {
  bool (*baseline)(const ScheduleLoss&) = nullptr;
  if (schedule.family == "fine-tuning") baseline = ft_baseline;
  else if (staged(schedule)) baseline = mt_baseline;
  if (!baseline) return std::nullopt;
  const ScheduleLoss* base = best_of(schedules, baseline);
  if (!base) return std::nullopt;
  return multiplier(fit, schedule.name, schedule.loss, base->name, base->loss);
}

}  // namespace replay::analysis
