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

#include "analysis/bootstrap.h"
#include "analysis/efficiency.h"
#include "analysis/fit.h"
#include "analysis/registry.h"
#include "analysis/summaries.h"
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
void from_registry(const Options& o, FitInputs& in) {
  Registry reg(o.db, /*create=*/false);
  SweepData data = collect_sweep(reg, {o.sweep, o.reference_sweep, o.target, "", o.all_sweeps});
  in = fit_inputs(data);
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
  FitInputs in;
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
  FitOptions fo;
  fo.form = parse_curve_form(o.form);
  fo.method = parse_fit_method(o.method);
  const FitSummary s = summarize_fit(in, fo, o.compares);
  if (o.json) {
    std::printf("%s\n", fit_json(s).dump(2).c_str());
    return;
  }
  print_fit(s.fit, s.intervals);
  if (in.schedules.empty()) return;
  print_schedules(s.fit, in.schedules);
  std::printf("\nmultipliers (P over Q = x(L_P) / x(L_Q))\n");
  for (const auto& line : multiplier_lines(&s.fit, s.multipliers)) std::printf("  %s\n", line.c_str());
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
