// `replay fit`: the paper's data-efficiency metric. Fits the reference curve
// L(x) = A / x^B + C to (pool size, final target loss) pairs, from the run
// registry (one target at a time, analysis/efficiency.h) or the command line,
// and prints the implied pool of each schedule and the multipliers between
// schedules, or why the fit gives none (analysis/fit.h). From the registry,
// runs that differ only in their seed are one cell (analysis/cells.h): the
// fit is made on cell means, and the fit and every multiplier get a 95%
// bootstrap interval over seeds (analysis/bootstrap.h, docs/statistics.md).
// --json prints one JSON object instead of the text.
#include <cmath>
#include <memory>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/bootstrap.h"
#include "analysis/efficiency.h"
#include "analysis/fit.h"
#include "analysis/registry.h"
#include "cli/command.h"
#include "util/error.h"

namespace {

using namespace replay::analysis;

struct Options {
  std::vector<std::string> refs, schedules, compares;
  std::string form = "power", method = "multistart";
  std::string db = kDefaultRegistryPath;
  std::string sweep, reference_sweep, target;
  bool all_sweeps = false;
  bool json = false;
};

// What run() gathered, printed as text or JSON.
struct Inputs {
  std::vector<ReferenceCell> reference;
  std::vector<ScheduleLoss> schedules, baselines;
  std::string target;  // "" from the command line
};

double parse_number(const std::string& text, const std::string& what) {
  // Accepts "0.015625" and "16/1024" (the spec writes pools as k/1024).
  auto slash = text.find('/');
  try {
    size_t used = 0;
    if (slash != std::string::npos) {
      double num = std::stod(text.substr(0, slash), &used);
      if (used != slash) throw std::invalid_argument(text);
      std::string den_text = text.substr(slash + 1);
      double den = std::stod(den_text, &used);
      if (used != den_text.size() || den == 0) throw std::invalid_argument(text);
      return num / den;
    }
    double v = std::stod(text, &used);
    if (used != text.size()) throw std::invalid_argument(text);
    return v;
  } catch (const std::exception&) {
    throw replay::Error("bad number '" + text + "' in " + what);
  }
}

// "NAME:VALUE", split at the last colon so names may contain colons.
std::pair<std::string, std::string> split_pair(const std::string& arg, const std::string& option) {
  auto colon = arg.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == arg.size())
    throw replay::Error(option + " expects NAME:VALUE, got '" + arg + "'");
  return {arg.substr(0, colon), arg.substr(colon + 1)};
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

// Reference points and schedules of one target from the registry.
void from_registry(const Options& o, Inputs& in) {
  Registry reg(o.db, /*create=*/false);
  SweepData data = collect_sweep(reg, {o.sweep, o.reference_sweep, o.target, "", o.all_sweeps});
  in.reference = data.reference_cells;
  in.schedules = data.schedules;
  in.baselines = data.baselines;
  in.target = data.target.empty() ? "split " + data.target_split + " (no store recorded)"
                                  : data.target.label() + ", validation split " + data.target_split;
  if (o.json) return;
  std::string scope = o.sweep.empty() || o.all_sweeps ? "every sweep" : "sweep " + o.sweep;
  std::printf("target %s (%s)\n", in.target.c_str(), o.db.c_str());
  // Runs repeated over seeds are one cell each (one point of the fit).
  size_t ref_runs = 0;
  for (const auto& c : data.reference_cells) ref_runs += c.seeds.size();
  std::string refs = std::to_string(data.reference_cells.size()) + " reference " +
                     (ref_runs == data.reference_cells.size() ? "runs" : "cells (" + std::to_string(ref_runs) + " runs)");
  std::printf("  %s, %zu schedules in %s; reference runs from %s; %zu baselines from other sweeps\n", refs.c_str(),
              in.schedules.size(), scope.c_str(),
              data.reference_sweeps.empty() ? "no sweep" : ("sweep(s) " + join(data.reference_sweeps)).c_str(),
              in.baselines.size());
}

void print_fit(const CurveFit& fit, const FitIntervals& intervals) {
  std::printf("reference fit %s over %zu points (MINPACK lmdif, method %s: %d start(s), kept %s; %d "
              "evaluations): %s\n",
              fit.form == CurveForm::power ? "L(x) = A / x^B + C" : "L(x) = A / (x^B + D) + C",
              fit.points.size(), fit_method_name(fit.method), fit.starts, fit.start.c_str(),
              fit.evaluations, fit.converged ? "converged" : "DID NOT CONVERGE");
  std::printf("  A = %.8g  B = %.8g  C = %.8g", fit.A, fit.B, fit.C);
  if (fit.form == CurveForm::shifted_power) std::printf("  D = %.8g", fit.D);
  std::printf("\n  residual sum of squares %.6g (%s)\n", fit.rss, fit.message.c_str());
  if (fit.usable_for_multipliers) std::printf("  uncertainty: %s\n", fit_intervals_text(intervals).c_str());
  if (fit.degenerate)
    std::printf("  WARNING: degenerate fit: %s; multipliers remain well defined\n",
                fit.degenerate_reason.c_str());
  if (!fit.usable_for_multipliers)
    std::printf("  NO MULTIPLIER CAN BE COMPUTED from this fit: %s\n", fit.unusable_reason.c_str());
  std::printf("  %14s %10s %10s %11s\n", "x", "loss", "fitted", "residual");
  for (size_t i = 0; i < fit.points.size(); ++i)
    std::printf("  %14s %10.5f %10.5f %+11.6f\n", format_pool(fit.points[i].x).c_str(), fit.points[i].loss,
                fit.predict(fit.points[i].x), fit.residuals[i]);
}

// The paper's comparisons, the --compare pairs, or (neither) every schedule
// over the first.
std::vector<Multiplier> comparisons(const Options& o, const CurveFit& fit, const Inputs& in) {
  auto find = [&](const std::string& name) -> const ScheduleLoss& {
    for (const auto* list : {&in.schedules, &in.baselines})
      for (const auto& s : *list)
        if (s.name == name) return s;
    throw replay::Error("--compare: no schedule named '" + name + "'");
  };
  std::vector<Multiplier> out = paper_multipliers(fit, in.schedules, in.baselines);
  for (const auto& c : o.compares) {
    auto slash = c.find('/');
    if (slash == std::string::npos) throw replay::Error("--compare expects P/Q, got '" + c + "'");
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

nlohmann::json interval_json(const std::optional<Interval>& i) {
  if (!i) return nullptr;
  return {{"lo", i->lo}, {"hi", i->hi}, {"level", i->level}, {"method", i->method}};
}

nlohmann::json seeds_json(const std::vector<SeedLoss>& seeds) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : seeds) out.push_back({{"seed", s.seed}, {"loss", s.loss}});
  return out;
}

nlohmann::json multiplier_json(const Multiplier& m) {
  nlohmann::json j = {{"p", m.p}, {"q", m.q}, {"loss_p", m.loss_p}, {"loss_q", m.loss_q},
                      {"value", m.value ? nlohmann::json(*m.value) : nlohmann::json(nullptr)},
                      {"text", multiplier_value_text(m)}, {"why_none", m.why_none},
                      {"interval", interval_json(m.interval)}, {"interval_note", m.interval_note},
                      {"no_measurable_effect", m.no_measurable_effect()},
                      {"extrapolated", m.extrapolated}, {"extrapolation", m.extrapolation},
                      {"seeds_p", seeds_json(m.seeds_p)}, {"seeds_q", seeds_json(m.seeds_q)}, {"paired", nullptr}};
  if (m.paired)
    j["paired"] = {{"over", m.paired->over_sequences ? "validation sequences" : "seeds"},
                   {"n", m.paired->n}, {"mean", m.paired->mean}, {"se", m.paired->se},
                   {"measurable", m.paired->measurable()},
                   {"lo", m.paired->lo}, {"hi", m.paired->hi}};
  return j;
}

void print_json(const Inputs& in, const CurveFit& fit, const FitIntervals& fi, const std::vector<Multiplier>& ms) {
  nlohmann::json points = nlohmann::json::array();
  for (size_t i = 0; i < fit.points.size(); ++i)
    points.push_back({{"x", fit.points[i].x}, {"loss", fit.points[i].loss},
                      {"fitted", fit.predict(fit.points[i].x)}, {"residual", fit.residuals[i]}});
  nlohmann::json jf = {{"form", curve_form_name(fit.form)}, {"method", fit_method_name(fit.method)},
                       {"A", fit.A}, {"B", fit.B}, {"C", fit.C}, {"D", fit.D}, {"rss", fit.rss},
                       {"converged", fit.converged}, {"degenerate", fit.degenerate},
                       {"usable", fit.usable_for_multipliers}, {"unusable_reason", fit.unusable_reason},
                       {"points", points}, {"resamples", fi.resamples}, {"unusable_resamples", fi.unusable},
                       {"interval_note", fi.note}, {"A_interval", interval_json(fi.A)},
                       {"B_interval", interval_json(fi.B)}, {"C_interval", interval_json(fi.C)}};
  nlohmann::json schedules = nlohmann::json::array();
  for (const auto& s : in.schedules) {
    MeanSe m = mean_se(losses_of(s.seeds));
    Inverse inv = invert(fit, s.loss);
    schedules.push_back({{"name", s.name}, {"loss", s.loss}, {"se", m.se ? nlohmann::json(*m.se) : nlohmann::json(nullptr)},
                         {"seeds", seeds_json(s.seeds)},
                         {"implied_x", inv.ok() ? nlohmann::json(inv.x()) : nlohmann::json(nullptr)}});
  }
  nlohmann::json mj = nlohmann::json::array();
  for (const auto& m : ms) mj.push_back(multiplier_json(m));
  nlohmann::json out = {{"target", in.target}, {"fit", jf}, {"schedules", schedules}, {"multipliers", mj}};
  std::printf("%s\n", out.dump(2).c_str());
}

void print_schedules(const CurveFit& fit, const std::vector<ScheduleLoss>& schedules) {
  std::printf("\nschedules (implied pool: what the reference would need for the same loss)\n");
  for (const auto& s : schedules) {
    Inverse inv = invert(fit, s.loss);
    std::string implied = !fit.usable_for_multipliers ? "none (the fit is unusable, see above)"
                          : inv.ok()                    ? format_significant(inv.x(), 4)
                                                        : "none: " + inv.why_none;
    if (inv.extrapolated) implied += " (EXTRAPOLATED: " + inv.extrapolation + ")";
    char single[32];
    std::snprintf(single, sizeof single, "%.5f", s.loss);
    std::string loss = s.seeds.size() >= 2 ? mean_se_text(mean_se(losses_of(s.seeds)), 5) : single;
    std::printf("  %-32s loss %s  implied x %s\n", s.name.c_str(), loss.c_str(), implied.c_str());
  }
}

void run(const Options& o) {
  Inputs in;
  if (!o.sweep.empty() || !o.target.empty() || o.all_sweeps) from_registry(o, in);
  for (const auto& r : o.refs) {
    auto [x, loss] = split_pair(r, "--ref");
    in.reference.push_back({parse_number(x, "--ref " + r), {{0, parse_number(loss, "--ref " + r)}}, {}});
  }
  for (const auto& s : o.schedules) {
    auto [name, loss] = split_pair(s, "--schedule");
    in.schedules.push_back({name, "", std::nullopt, std::nullopt, parse_number(loss, "--schedule " + s), {}, "", {}, {}});
  }
  if (in.reference.empty())
    throw replay::Error(
        "no reference points: give --ref X:LOSS (at least 3), or --sweep / --target with reference runs");
  std::vector<CurvePoint> refs;
  for (const auto& c : in.reference) refs.push_back({c.x, mean_se(losses_of(c.seeds)).mean});

  FitOptions fo;
  fo.form = parse_curve_form(o.form);
  fo.method = parse_fit_method(o.method);
  CurveFit fit = fit_curve(refs, fo);
  std::vector<Multiplier> ms = in.schedules.empty() ? std::vector<Multiplier>{} : comparisons(o, fit, in);
  FitIntervals fi;
  if (fit.usable_for_multipliers) fi = bootstrap_over_seeds(in.reference, ms, fo);
  if (o.json) return print_json(in, fit, fi, ms);
  print_fit(fit, fi);
  if (in.schedules.empty()) return;
  print_schedules(fit, in.schedules);
  std::printf("\nmultipliers (P over Q = x(L_P) / x(L_Q))\n");
  for (const auto& line : multiplier_lines(&fit, ms)) std::printf("  %s\n", line.c_str());
}

void setup(CLI::App& app) {
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "fit", "Fit the reference curve L(x) = A / x^B + C and print data-efficiency multipliers");
  cmd->footer(
      "Example (the paper's FineMath numbers):\n"
      "  replay fit --ref 16/1024:2.99478 --ref 8/1024:3.16164 --ref 4/1024:3.39593 \\\n"
      "    --ref 2/1024:3.49087 --ref 1/1024:3.62532 --schedule ft:3.99417 \\\n"
      "    --schedule ft+replay:3.90261 --compare ft+replay/ft\n"
      "From the registry, one target at a time (no baselines need typing):\n"
      "  replay fit --target math            every sweep on the math target\n"
      "  replay fit --sweep demo-math        its schedules; reference runs of every sweep on its target\n"
      "A fit whose law does not fall with more data (A <= 0 or B <= 0), or whose reference\n"
      "losses rise with x, gives no multipliers and says why.");
  cmd->add_option("--ref", opts->refs, "Reference point X:LOSS (pool size, e.g. 4/1024, and final target loss)");
  cmd->add_option("--schedule", opts->schedules, "Schedule NAME:LOSS (final target loss)");
  cmd->add_option("--compare", opts->compares, "Print the multiplier of schedule P over Q, as P/Q");
  cmd->add_option("--form", opts->form, "Curve form: power (A/x^B+C) or shifted-power (A/(x^B+D)+C)")
      ->capture_default_str();
  cmd->add_option("--fit-method", opts->method,
                  "multistart (starts with B > 0, lowest residual kept) or reference (the reference "
                  "implementation's single start, reproduces the paper)")
      ->capture_default_str();
  cmd->add_option("--db", opts->db, "Run registry (SQLite) to read runs from")->capture_default_str();
  cmd->add_option("--sweep", opts->sweep,
                  "Schedules from this sweep; reference runs (tag family=reference, x=pool) from every "
                  "sweep on the same target");
  cmd->add_option("--reference-sweep", opts->reference_sweep, "Take reference runs from this sweep only");
  cmd->add_option("--target", opts->target,
                  "The target to analyze: its domain (math), store path, or validation split name. "
                  "Required when the runs span several targets; alone, reads every sweep on it");
  cmd->add_flag("--all-sweeps", opts->all_sweeps, "Schedules from every sweep on the target");
  cmd->add_flag("--json", opts->json, "Print the fit, schedules and multipliers (with intervals) as JSON");
  cmd->callback([opts] { run(*opts); });
}

}  // namespace

REPLAY_COMMAND(80, setup);
