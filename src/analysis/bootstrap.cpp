#include "analysis/bootstrap.h"

#include <cmath>
#include <cstdio>
#include <random>

#include "util/error.h"

namespace replay::analysis {

namespace {

// One resampled cell mean, with the small-sample correction of bootstrap.h.
double resampled_mean(const std::vector<SeedLoss>& seeds, double fallback, std::mt19937_64& rng) {
  const size_t n = seeds.size();
  if (n == 0) return fallback;
  MeanSe m = mean_se(losses_of(seeds));
  if (n == 1) return m.mean;
  std::uniform_int_distribution<size_t> pick(0, n - 1);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += seeds[pick(rng)].loss;
  double inflate = std::sqrt(static_cast<double>(n) / static_cast<double>(n - 1));
  return m.mean + inflate * (sum / static_cast<double>(n) - m.mean);
}

bool has_spread(const std::vector<SeedLoss>& seeds) { return seeds.size() >= 2; }

std::string method_text(const BootstrapOptions& o, int resamples, int unusable) {
  return "bootstrap over seeds, " + std::to_string(resamples) + " resamples" +
         (unusable ? ", " + std::to_string(unusable) + " without a usable fit or value" : "");
}

std::optional<Interval> interval_of(const std::vector<double>& values, const BootstrapOptions& o,
                                    int unusable) {
  if (values.empty() || 2 * unusable > o.resamples) return std::nullopt;
  double tail = (1 - o.level) / 2;
  return Interval{percentile(values, tail), percentile(values, 1 - tail), o.level,
                  method_text(o, o.resamples, unusable)};
}

}  // namespace

FitIntervals bootstrap_over_seeds(const std::vector<ReferenceCell>& reference, std::vector<Multiplier>& multipliers,
                                  const FitOptions& fit_options, const BootstrapOptions& options) {
  if (options.resamples < 10) throw Error("bootstrap: resamples must be >= 10, got " + std::to_string(options.resamples));
  FitIntervals out;
  bool reference_spread = false;
  for (const auto& c : reference) reference_spread |= has_spread(c.seeds);
  std::vector<bool> spread;
  bool any = reference_spread;
  for (const auto& m : multipliers) {
    spread.push_back(reference_spread || has_spread(m.seeds_p) || has_spread(m.seeds_q));
    any |= spread.back();
  }
  for (size_t i = 0; i < multipliers.size(); ++i) {
    if (!multipliers[i].value) continue;
    multipliers[i].interval_note = multipliers[i].seeds_p.empty() && multipliers[i].seeds_q.empty() && !reference_spread
                                       ? "no seeds: no interval"
                                       : "one seed: no interval";
  }
  if (!any) {
    out.note = "one seed per cell: no interval";
    return out;
  }
  std::mt19937_64 rng(options.seed);
  std::vector<double> as, bs, cs;
  std::vector<std::vector<double>> values(multipliers.size());
  std::vector<int> missing(multipliers.size(), 0);
  for (int b = 0; b < options.resamples; ++b) {
    std::vector<CurvePoint> points;
    for (const auto& c : reference) points.push_back({c.x, resampled_mean(c.seeds, NAN, rng)});
    std::optional<CurveFit> fit;
    try {
      fit = fit_curve(points, fit_options);
    } catch (const Error&) {
    }
    const bool usable = fit && fit->usable_for_multipliers;
    if (usable) as.push_back(fit->A), bs.push_back(fit->B), cs.push_back(fit->C);
    else ++out.unusable;
    for (size_t i = 0; i < multipliers.size(); ++i) {
      const Multiplier& m = multipliers[i];
      double lp = resampled_mean(m.seeds_p, m.loss_p, rng), lq = resampled_mean(m.seeds_q, m.loss_q, rng);
      std::optional<double> v = usable ? multiplier(*fit, m.p, lp, m.q, lq).value : std::nullopt;
      if (v) values[i].push_back(*v);
      else ++missing[i];
    }
  }
  out.resamples = options.resamples;
  out.A = interval_of(as, options, out.unusable);
  out.B = interval_of(bs, options, out.unusable);
  out.C = interval_of(cs, options, out.unusable);
  if (!out.A) out.note = "more than half of the resampled fits are unusable: no interval";
  for (size_t i = 0; i < multipliers.size(); ++i) {
    Multiplier& m = multipliers[i];
    if (!m.value || !spread[i]) continue;
    m.interval = interval_of(values[i], options, missing[i]);
    m.interval_note = m.interval ? "" : "more than half of the resamples give no multiplier (" +
                                            std::to_string(missing[i]) + " of " +
                                            std::to_string(options.resamples) + "): no interval";
  }
  return out;
}

std::string fit_intervals_text(const FitIntervals& f) {
  if (!f.A) return f.note.empty() ? "no interval" : f.note;
  auto range = [](const Interval& i) {
    return "[" + format_significant(i.lo, 4) + ", " + format_significant(i.hi, 4) + "]";
  };
  char level[32];
  std::snprintf(level, sizeof level, "%.0f%%", 100 * f.A->level);
  return "A in " + range(*f.A) + ", B in " + range(*f.B) + ", C in " + range(*f.C) + " (" + level + ", " +
         f.A->method + ")";
}

}  // namespace replay::analysis
