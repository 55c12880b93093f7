// Intervals for the reference fit and every multiplier: a bootstrap over
// seeds (spec of the method: docs/statistics.md).
//
// One resample draws, within each cell (every reference cell and both
// schedules of every comparison), as many seeds as the cell has, with
// replacement, and takes their mean; the draw is shrunk-corrected: each
// drawn loss is mean + sqrt(n / (n - 1)) * (loss - mean), so that the
// resampled mean has the variance s^2 / n of the cell's standard error
// instead of the plain bootstrap's (n - 1) / n of it, which is too narrow
// for the 2-5 seeds a sweep runs. The reference law is refitted to the
// resampled reference means (same FitOptions as the point fit) and every
// multiplier recomputed. The 95% interval is the 2.5th to 97.5th percentile
// of the resamples whose fit is usable and whose multiplier has a value.
// Resamples without (an unusable fit, a loss past the asymptote) are
// counted and named in Interval::method; with more than half of them
// unusable there is no interval, and the note says so.
//
// Cells with one seed contribute their single loss to every resample: they
// add no noise. When no cell has two or more seeds, the fallback is a
// bootstrap over validation sequences, if every reference cell carries
// per-sequence losses of the same N sequences (efficiency.h, from the run's
// val_sequences.json): one resample draws N sequence indices with
// replacement, the same indices for every run (paired: the runs were
// evaluated on the same sequences), and moves each cell's loss by the mean
// of its drawn sequences minus the mean of all of them; then refit and
// recompute as above. A multiplier whose P or Q lacks those N losses gets
// the note "one seed and no per-sequence losses: no interval"; without
// per-sequence losses for the reference the fit has no interval either.
// This interval measures the noise of the finite validation set only, not
// that of initialization and data order.
//
// Reproducible: the generator is std::mt19937_64 seeded with
// BootstrapOptions::seed, and draws happen in a fixed order.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "analysis/efficiency.h"
#include "analysis/fit.h"

namespace replay::analysis {

struct BootstrapOptions {
  int resamples = 1000;
  uint64_t seed = 20240917;
  double level = 0.95;
};

struct FitIntervals {
  int resamples = 0;  // 0: nothing was resampled (one seed per cell)
  int unusable = 0;   // resamples whose refit was unusable for multipliers
  std::optional<Interval> A, B, C;  // over the usable resamples
  std::string note;   // "" or why there is no interval
};

// Sets interval / interval_note of every multiplier (a multiplier without a
// value gets neither) and returns the fit's parameter intervals.
// `reference` are the cells the point fit was made from (the fit of their
// means); multipliers use their seeds_p / seeds_q, and a multiplier without
// seeds (typed on the command line) gets the note "no seeds: no interval".
FitIntervals bootstrap_over_seeds(const std::vector<ReferenceCell>& reference, std::vector<Multiplier>& multipliers,
                                  const FitOptions& fit_options, const BootstrapOptions& options = {});

// "[0.91, 1.12]" style text of the fit's parameter intervals, for printouts:
// "A in [..], B in [..], C in [..] (95%, bootstrap over seeds, 1000
// resamples, 2 unusable)", or the note.
std::string fit_intervals_text(const FitIntervals& f);

}  // namespace replay::analysis
