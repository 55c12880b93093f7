#include "analysis/summaries.h"

#include "util/error.h"

namespace replay::analysis {

namespace {

nlohmann::json optional_json(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

nlohmann::json interval_json(const std::optional<Interval>& i) {
  if (!i) return nullptr;
  return {{"lo", i->lo}, {"hi", i->hi}, {"level", i->level}, {"method", i->method}};
}

nlohmann::json seeds_json(const std::vector<SeedLoss>& seeds) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : seeds) out.push_back({{"seed", s.seed}, {"loss", s.loss}});
  return out;
}

}  // namespace

nlohmann::json paired_json(const PairedDifference& d) {
  return {{"over", d.over_sequences ? "validation sequences" : "seeds"}, {"n", d.n}, {"mean", d.mean}, {"se", d.se},
          {"lo", d.lo}, {"hi", d.hi}, {"measurable", d.measurable()}};
}

namespace {

nlohmann::json multiplier_json(const Multiplier& m) {
  nlohmann::json j = {{"p", m.p}, {"q", m.q}, {"loss_p", m.loss_p}, {"loss_q", m.loss_q},
                      {"value", optional_json(m.value)},
                      {"text", multiplier_value_text(m)}, {"why_none", m.why_none},
                      {"interval", interval_json(m.interval)}, {"interval_note", m.interval_note},
                      {"no_measurable_effect", m.no_measurable_effect()},
                      {"extrapolated", m.extrapolated}, {"extrapolation", m.extrapolation},
                      {"seeds_p", seeds_json(m.seeds_p)}, {"seeds_q", seeds_json(m.seeds_q)}, {"paired", nullptr}};
  if (m.paired)
    j["paired"] = paired_json(*m.paired);
  return j;
}

nlohmann::json curve_json(const CurveFit& fit, const FitIntervals& fi) {
  nlohmann::json points = nlohmann::json::array();
  for (size_t i = 0; i < fit.points.size(); ++i)
    points.push_back({{"x", fit.points[i].x}, {"loss", fit.points[i].loss},
                      {"fitted", fit.predict(fit.points[i].x)}, {"residual", fit.residuals[i]}});
  return {{"form", curve_form_name(fit.form)}, {"method", fit_method_name(fit.method)},
          {"A", fit.A}, {"B", fit.B}, {"C", fit.C}, {"D", fit.D}, {"rss", fit.rss},
          {"converged", fit.converged}, {"degenerate", fit.degenerate},
          {"usable", fit.usable_for_multipliers}, {"unusable_reason", fit.unusable_reason},
          {"points", points}, {"resamples", fi.resamples}, {"unusable_resamples", fi.unusable},
          {"interval_note", fi.note}, {"A_interval", interval_json(fi.A)},
          {"B_interval", interval_json(fi.B)}, {"C_interval", interval_json(fi.C)}};
}

// The comparisons of summarize_fit (see the header).
std::vector<Multiplier> comparisons(const CurveFit& fit, const FitInputs& in, const std::vector<std::string>& compares) {
  auto find = [&](const std::string& name) -> const ScheduleLoss& {
    for (const auto* list : {&in.schedules, &in.baselines})
      for (const auto& s : *list)
        if (s.name == name) return s;
    throw Error("--compare: no schedule named '" + name + "'");
  };

  std::vector<Multiplier> out = paper_multipliers(fit, in.schedules, in.baselines);
  for (const auto& c : compares) {
    auto slash = c.find('/');
    if (slash == std::string::npos) throw Error("--compare expects P/Q, got '" + c + "'");
    const ScheduleLoss &p = find(c.substr(0, slash)), &q = find(c.substr(slash + 1));
    out.push_back(compare(fit, p.name, p, q.name, q));
  }
  if (out.empty())
    for (size_t i = 1; i < in.schedules.size(); ++i) {
      const ScheduleLoss &p = in.schedules[i], &q = in.schedules[0];
      out.push_back(compare(fit, p.name, p, q.name, q));
    }
  return out;
}

}  // namespace

std::set<std::string> cell_splits(const Cell& c) {
  std::set<std::string> out;
  for (const auto& r : c.runs)
    if (r.status == RunStatus::done)
      for (const auto& [split, m] : r.final_metrics) out.insert(split);
  return out;
}

nlohmann::json runs_json(const std::vector<RunRecord>& runs, const std::vector<Cell>& cells) {
  nlohmann::json jr = nlohmann::json::array(), jc = nlohmann::json::array();
  for (const auto& r : runs) {
    nlohmann::json losses = nlohmann::json::object();
    for (const auto& [split, m] : r.final_metrics) losses[split] = {{"loss", m.loss}, {"step", m.step}};
    jr.push_back({{"sweep", r.sweep}, {"name", r.name}, {"aliases", r.aliases}, {"id", r.id}, {"tags", nlohmann::json::parse(tags_json(r.tags))},
                  {"status", r.trainer_gone() ? "stale" : run_status_name(r.status)}, {"step", r.step},
                  {"target", r.effective_target().label()}, {"final_losses", losses}, {"error", r.error}});
  }
  for (const auto& c : cells) {
    nlohmann::json losses = nlohmann::json::object();
    for (const auto& split : cell_splits(c)) {
      MeanSe m = c.stats(split);
      losses[split] = {{"n", m.n}, {"mean", m.mean}, {"se", optional_json(m.se)}};
    }
    nlohmann::json ids = nlohmann::json::array();
    for (const auto& r : c.runs) ids.push_back(r.id);
    jc.push_back({{"sweep", c.sweep}, {"name", c.name}, {"tags", nlohmann::json::parse(tags_json(c.tags))}, {"seeds", c.seeds()}, {"runs", ids},
                  {"final_losses", losses}});
  }
  return {{"runs", jr}, {"cells", jc}};
}

FitInputs fit_inputs(const SweepData& data) {
  FitInputs in;
  in.reference = data.reference_cells;
  in.schedules = data.schedules;
  in.baselines = data.baselines;
  in.target = data.target.empty() ? "split " + data.target_split + " (no store recorded)"
                                  : data.target.label() + ", validation split " + data.target_split;
  return in;
}

FitSummary summarize_fit(const FitInputs& in, const FitOptions& options, const std::vector<std::string>& compares) {
  if (in.reference.empty()) throw Error("no reference points: the fit needs reference runs (family=reference, x=pool)");
  std::vector<CurvePoint> refs;
  for (const auto& c : in.reference) refs.push_back({c.x, mean_se(losses_of(c.seeds)).mean});
  FitSummary s;
  s.target = in.target;
  s.schedules = in.schedules;
  s.fit = fit_curve(refs, options);
  if (!in.schedules.empty()) s.multipliers = comparisons(s.fit, in, compares);
  if (s.fit.usable_for_multipliers) s.intervals = bootstrap_over_seeds(in.reference, s.multipliers, options);
  return s;
}

nlohmann::json fit_json(const FitSummary& summary) {
  const CurveFit& fit = summary.fit;
  nlohmann::json schedules = nlohmann::json::array();
  for (const auto& s : summary.schedules) {
    MeanSe m = mean_se(losses_of(s.seeds));
    Inverse inv = invert(fit, s.loss);
    schedules.push_back({{"name", s.name}, {"loss", s.loss}, {"se", optional_json(m.se)},
                         {"seeds", seeds_json(s.seeds)},
                         {"implied_x", inv.ok() ? nlohmann::json(inv.x()) : nlohmann::json(nullptr)}});
  }
  nlohmann::json mj = nlohmann::json::array();
  for (const auto& m : summary.multipliers) mj.push_back(multiplier_json(m));
  return {{"target", summary.target}, {"fit", curve_json(fit, summary.intervals)}, {"schedules", schedules},
          {"multipliers", mj}};
}

}  // namespace replay::analysis
