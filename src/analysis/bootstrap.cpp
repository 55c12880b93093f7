#include "analysis/bootstrap.h"

#include <cmath>
#include <cstdio>
#include <functional>
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

std::optional<Interval> interval_of(const std::vector<double>& values, const BootstrapOptions& o,
                                    int unusable, const std::string& method) {
  if (values.empty() || 2 * unusable > o.resamples) return std::nullopt;
  double tail = (1 - o.level) / 2;
  return Interval{percentile(values, tail), percentile(values, 1 - tail), o.level,
                  method + ", " + std::to_string(o.resamples) + " resamples" +
                      (unusable ? ", " + std::to_string(unusable) + " without a usable fit or value" : "")};
}

// What one resample does to a cell: `begin` is called before each resample,
// `value` gives a cell's resampled loss (its seeds, its per-sequence losses,
// its point loss).
struct Resampler {
  std::string method;
  std::function<void()> begin;
  std::function<double(const std::vector<SeedLoss>&, const std::vector<double>&, double)> value;
};

// The resampling loop shared by both bootstraps; `wanted[i]`: multiplier i
// gets an interval.
FitIntervals run_resamples(const std::vector<ReferenceCell>& reference, std::vector<Multiplier>& multipliers,
                           const std::vector<bool>& wanted, const FitOptions& fit_options,
                           const BootstrapOptions& options, const Resampler& draw) {
  FitIntervals out;
  std::vector<double> as, bs, cs;
  std::vector<std::vector<double>> values(multipliers.size());
  std::vector<int> missing(multipliers.size(), 0);
  for (int b = 0; b < options.resamples; ++b) {
    draw.begin();
    std::vector<CurvePoint> points;
    for (const auto& c : reference)
      points.push_back({c.x, draw.value(c.seeds, c.sequences, mean_se(losses_of(c.seeds)).mean)});
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
      double lp = draw.value(m.seeds_p, m.sequences_p, m.loss_p), lq = draw.value(m.seeds_q, m.sequences_q, m.loss_q);
      std::optional<double> v = usable ? multiplier(*fit, m.p, lp, m.q, lq).value : std::nullopt;
      if (v) values[i].push_back(*v);
      else ++missing[i];
    }
  }
  out.resamples = options.resamples;
  out.A = interval_of(as, options, out.unusable, draw.method);
  out.B = interval_of(bs, options, out.unusable, draw.method);
  out.C = interval_of(cs, options, out.unusable, draw.method);
  if (!out.A) out.note = "more than half of the resampled fits are unusable: no interval";
  for (size_t i = 0; i < multipliers.size(); ++i) {
    Multiplier& m = multipliers[i];
    if (!m.value || !wanted[i]) continue;
    m.interval = interval_of(values[i], options, missing[i], draw.method);
    m.interval_note = m.interval ? "" : "more than half of the resamples give no multiplier (" +
                                            std::to_string(missing[i]) + " of " +
                                            std::to_string(options.resamples) + "): no interval";
  }
  return out;
}

// The number of validation sequences every reference cell recorded (0 when
// some has none or they disagree): the sequence bootstrap needs them all.
size_t shared_sequence_count(const std::vector<ReferenceCell>& reference) {
  size_t n = reference.empty() ? 0 : reference.front().sequences.size();
  for (const auto& c : reference)
    if (c.sequences.size() != n) return 0;
  return n >= 2 ? n : 0;
}

// The fallback of bootstrap.h for one seed per cell: the same sequence
// indices drawn for every run.
FitIntervals over_sequences(const std::vector<ReferenceCell>& reference, std::vector<Multiplier>& multipliers,
                            size_t n, const FitOptions& fit_options, const BootstrapOptions& options) {
  std::vector<bool> wanted;
  for (auto& m : multipliers) {
    wanted.push_back(m.sequences_p.size() == n && m.sequences_q.size() == n);
    if (m.value && !wanted.back()) m.interval_note = "one seed and no per-sequence losses: no interval";
  }
  std::mt19937_64 rng(options.seed);
  std::vector<size_t> picks(n);
  Resampler draw;
  draw.method = "bootstrap over " + std::to_string(n) + " validation sequences (one seed; same sequences in every run)";
  draw.begin = [&] {
    std::uniform_int_distribution<size_t> pick(0, n - 1);
    for (auto& i : picks) i = pick(rng);
  };
  // The point loss moved by how much the drawn sequences differ from all of them.
  draw.value = [&](const std::vector<SeedLoss>&, const std::vector<double>& seqs, double loss) {
    if (seqs.size() != n) return loss;
    double all = 0, drawn = 0;
    for (double l : seqs) all += l;
    for (size_t i : picks) drawn += seqs[i];
    return loss + (drawn - all) / static_cast<double>(n);
  };
  return run_resamples(reference, multipliers, wanted, fit_options, options, draw);
}

}  // namespace

FitIntervals bootstrap_over_seeds(const std::vector<ReferenceCell>& reference, std::vector<Multiplier>& multipliers,
                                  const FitOptions& fit_options, const BootstrapOptions& options) {
  if (options.resamples < 10) throw Error("bootstrap: resamples must be >= 10, got " + std::to_string(options.resamples));
  bool reference_spread = false;
  for (const auto& c : reference) reference_spread |= has_spread(c.seeds);
  std::vector<bool> spread;
  bool any = reference_spread;
  for (auto& m : multipliers) {
    spread.push_back(reference_spread || has_spread(m.seeds_p) || has_spread(m.seeds_q));
    any |= spread.back();
    if (m.value)
      m.interval_note = m.seeds_p.empty() && m.seeds_q.empty() && !reference_spread ? "no seeds: no interval"
                                                                                   : "one seed: no interval";
  }
  if (!any) {
    if (size_t n = shared_sequence_count(reference)) return over_sequences(reference, multipliers, n, fit_options, options);
    FitIntervals out;
    out.note = "one seed per cell and no per-sequence losses: no interval";
    return out;
  }
  std::mt19937_64 rng(options.seed);
  Resampler draw{"bootstrap over seeds", [] {},
                 [&](const std::vector<SeedLoss>& seeds, const std::vector<double>&, double loss) {
                   return resampled_mean(seeds, loss, rng);
                 }};
  return run_resamples(reference, multipliers, spread, fit_options, options, draw);
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
