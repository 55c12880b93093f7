#include "serve/dashboard.h"

#include <cmath>
#include <set>

#include "analysis/cells.h"
#include "analysis/efficiency.h"
#include "analysis/metrics.h"
#include "analysis/report.h"
#include "analysis/summaries.h"
#include "run/layout.h"
#include "sweep/progress.h"
#include "util/duration.h"
#include "util/fs.h"

namespace replay::serve {

namespace {

using analysis::Registry;
using analysis::RunRecord;
using analysis::RunStatus;
using nlohmann::json;

// The resolved config a run was registered with (the sweep stores
// config.json's "config" object as text); null when it is not JSON (a run
// registered by hand).
json resolved_config(const RunRecord& r) { return json::parse(r.config, nullptr, /*allow_exceptions=*/false); }

int64_t total_steps(const json& config) {
  if (!config.is_object()) return 0;
  return config.value("/train/steps"_json_pointer, int64_t{0});
}

// Steps where a later stage begins (analysis/report.h, the report's rule).
json stage_boundary_steps(const RunRecord& r) {
  json out = json::array();
  for (const auto& [step, label] : analysis::stage_boundaries(r)) out.push_back(step);
  return out;
}

struct Metrics {
  std::optional<analysis::RunMetrics> parsed;  // unset: no metrics.jsonl
  std::string error;                           // the file did not parse
};

Metrics read_run_metrics(const Registry& registry, const RunRecord& r) {
  Metrics m;
  if (r.run_dir.empty()) return m;
  const auto file = analysis::resolve_run_dir(registry, r.run_dir) / run::kMetricsFile;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) return m;
  try {
    m.parsed = analysis::read_metrics(file);
  } catch (const Error& e) {
    m.error = e.what();
  }
  return m;
}

// A running run's latest step and time left, at its pace since its trainer
// started (a branched run trains from its branch step).
void add_live_fields(json& j, const RunRecord& r, const Metrics& m, int64_t total, double now) {
  int64_t step = r.step;
  if (m.parsed && !m.parsed->steps.empty()) step = std::max(step, m.parsed->steps.back().step);
  j["total_steps"] = total;
  j["progress_step"] = step;
  j["eta_s"] = nullptr;
  j["eta"] = "";
  j["duration_s"] = nullptr;
  j["duration"] = "";
  if (r.started_at) {
    const double seconds = (r.ended_at ? *r.ended_at : now) - *r.started_at;
    j["duration_s"] = seconds;
    j["duration"] = format_duration(seconds);
  }
  const bool live = r.status == RunStatus::running && !r.trainer_gone();
  if (!live || !r.started_at || total <= 0) return;
  const double done = static_cast<double>(step - r.branch_step);
  const double eta = sweep::eta_seconds(now - *r.started_at, done, static_cast<double>(total - step));
  if (std::isfinite(eta)) j["eta_s"] = eta;
  j["eta"] = format_duration(eta);
}

json points(const std::vector<std::pair<int64_t, double>>& xy) {
  json out = json::array();
  for (const auto& [x, y] : xy) out.push_back({x, std::isfinite(y) ? json(y) : json(nullptr)});
  return out;
}

// Every step's training loss, evenly thinned to kMaxCurvePoints (the last kept).
json train_curve(const analysis::RunMetrics& m) {
  const size_t n = m.steps.size(), stride = std::max<size_t>(1, (n + kMaxCurvePoints - 1) / kMaxCurvePoints);
  std::vector<std::pair<int64_t, double>> xy;
  for (size_t i = 0; i < n; ++i)
    if (i % stride == 0 || i + 1 == n) xy.emplace_back(m.steps[i].step, m.steps[i].loss);
  return points(xy);
}

// Validation losses by split: from metrics.jsonl, else the registry.
json eval_curves(const Registry& registry, const RunRecord& r, const Metrics& m) {
  std::map<std::string, std::vector<std::pair<int64_t, double>>> by_split;
  if (m.parsed) {
    for (const auto& e : m.parsed->evals)
      for (const auto& [split, loss] : e.val) by_split[split].emplace_back(e.step, loss);
  } else {
    for (const auto& [split, last] : r.final_metrics)
      for (const auto& e : registry.eval_history(r.id, split)) by_split[split].emplace_back(e.step, e.loss);
  }
  json out = json::object();
  for (const auto& [split, xy] : by_split) out[split] = points(xy);
  return out;
}

json curves_of(const Registry& registry, const RunRecord& r, bool with_train) {
  const Metrics m = read_run_metrics(registry, r);
  json j = {{"id", r.id},
            {"name", r.name},
            {"sweep", r.sweep},
            {"status", r.trainer_gone() ? "stale" : analysis::run_status_name(r.status)},
            {"target_split", r.tag("target")},
            {"generic_split", r.tag("generic")},
            {"boundaries", stage_boundary_steps(r)},
            {"evals", eval_curves(registry, r, m)},
            {"error", m.error.empty() ? r.error : m.error}};
  if (with_train) j["train"] = m.parsed ? train_curve(*m.parsed) : json::array();
  return j;
}

analysis::SweepData collect(const Registry& registry, const std::string& sweep, const std::string& target) {
  return analysis::collect_sweep(registry, {sweep, "", target, "", false});
}

// What a fit is computed from, as text: equal text, equal fit.
std::string fit_inputs_key(const analysis::FitInputs& in) {
  json j = {{"target", in.target}, {"reference", json::array()}, {"schedules", json::array()}};
  for (const auto& c : in.reference) {
    json seeds = json::array();
    for (const auto& s : c.seeds) seeds.push_back({s.seed, s.loss});
    j["reference"].push_back({{"x", c.x}, {"seeds", seeds}, {"sequences", c.sequences}});
  }
  for (const auto* list : {&in.schedules, &in.baselines})
    for (const auto& s : *list) {
      json seeds = json::array();
      for (const auto& seed : s.seeds) seeds.push_back({seed.seed, seed.loss});
      j["schedules"].push_back({{"name", s.name}, {"sweep", s.sweep}, {"loss", s.loss}, {"seeds", seeds},
                                {"sequences", s.sequences}});
    }
  return j.dump();
}

}  // namespace

json runs_document(const Registry& registry, double now) {
  const std::vector<RunRecord> runs = registry.list_runs();
  json doc = analysis::runs_json(runs, analysis::group_cells(runs));
  for (size_t i = 0; i < runs.size(); ++i)
    add_live_fields(doc["runs"][i], runs[i], read_run_metrics(registry, runs[i]),
                    total_steps(resolved_config(runs[i])), now);
  doc["sweeps"] = registry.sweeps();
  doc["now"] = now;
  doc["registry"] = registry.path().string();
  return doc;
}

json run_curves(const Registry& registry, const std::string& id) {
  auto r = registry.find_run(id);
  if (!r) throw NotFound("registry " + registry.path().string() + ": no run " + id);
  // find_run leaves the sweep and tags empty: take them from a listing.
  for (auto& listed : registry.list_runs())
    if (listed.id == id) return curves_of(registry, listed, true);
  return curves_of(registry, *r, true);
}

json sweep_overlay(const Registry& registry, const std::string& sweep) {
  const auto runs = registry.list_runs({.sweep = sweep, .status = std::nullopt});
  if (runs.empty()) throw NotFound("registry " + registry.path().string() + ": no sweep " + sweep);
  json out = {{"sweep", sweep}, {"runs", json::array()}};
  for (const auto& r : runs) out["runs"].push_back(curves_of(registry, r, false));
  out["heatmap"] = heatmap_document(registry, sweep);
  return out;
}

json heatmap_document(const Registry& registry, const std::string& sweep) {
  json out = {{"rho", json::array()}, {"alpha", json::array()}, {"loss", json::array()}, {"cells", 0}};
  analysis::SweepData data;
  try {
    data = collect(registry, sweep, "");
  } catch (const Error& e) {
    out["error"] = e.what();
    return out;
  }
  const analysis::RhoAlphaGrid grid = analysis::rho_alpha_grid(data.schedules);
  if (grid.degenerate()) return out;  // a line, not a map: as the report
  out["rho"] = grid.rho;
  out["alpha"] = grid.alpha;
  for (const auto& row : grid.loss) {
    json cells = json::array();
    for (double loss : row) cells.push_back(std::isnan(loss) ? json(nullptr) : json(loss));
    out["loss"].push_back(cells);
  }
  out["cells"] = grid.cells;
  return out;
}

json FitCache::fit_document(const Registry& registry, const std::string& sweep, const std::string& target) {
  analysis::FitInputs in;
  try {
    in = analysis::fit_inputs(collect(registry, sweep, target));
  } catch (const Error& e) {
    return {{"error", e.what()}};
  }
  if (in.reference.empty()) return {{"error", "sweep " + sweep + ": no reference runs on its target, so no fit"}};
  const std::string key = sweep + "\n" + target, inputs = fit_inputs_key(in);
  {
    std::lock_guard lock(mutex_);
    auto it = cached_.find(key);
    if (it != cached_.end() && it->second.first == inputs) return it->second.second;
  }
  json doc;
  try {
    doc = analysis::fit_json(analysis::summarize_fit(in, analysis::FitOptions{}));
  } catch (const Error& e) {
    doc = {{"error", e.what()}};
  }
  std::lock_guard lock(mutex_);
  cached_[key] = {inputs, doc};
  return doc;
}

}  // namespace replay::serve
