// Small statistics shared by the seed analysis (cells.h, bootstrap.h) and
// the multiplier printouts (fit.h): the mean and standard error of a few
// seeds, Student's t quantile for a paired interval, percentiles, and the
// interval type every printout uses.
//
// Standard error. sd / sqrt(n) with the sample standard deviation (n - 1 in
// the denominator); undefined for one seed, which is printed "1 seed"
// instead of a number that would look like certainty.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace replay::analysis {

// One seed's value of a cell (seed 0 when the run has no seed tag).
struct SeedLoss {
  int64_t seed = 0;
  double loss = 0;
};

struct MeanSe {
  size_t n = 0;
  double mean = 0;
  std::optional<double> se;  // unset for n < 2
};
// Non-finite values are skipped; n = 0 gives mean NaN.
MeanSe mean_se(const std::vector<double>& values);
std::vector<double> losses_of(const std::vector<SeedLoss>& seeds);
// "3.1234 ± 0.0123 (3 seeds)", "3.1234 (1 seed)", "-" for n = 0.
std::string mean_se_text(const MeanSe& m, int decimals = 4);

// A confidence interval [lo, hi] at `level`, with how it was computed.
struct Interval {
  double lo = 0, hi = 0;
  double level = 0.95;
  std::string method;  // "bootstrap over seeds (1000 resamples, 3 unusable)"
  bool contains(double v) const { return lo <= v && v <= hi; }
};

// The q-quantile (0..1) of `values` by linear interpolation between order
// statistics (numpy's default); `values` need not be sorted. Throws on empty.
double percentile(std::vector<double> values, double q);

// The two-sided 97.5% quantile of Student's t with `df` degrees of freedom
// (exact table to 30, then the normal approximation with a 1/df term).
double t_quantile_975(size_t df);

// Paired difference of two schedules over the seeds they share: per shared
// seed, loss_p - loss_q; its mean, SE and the 95% t interval
// mean +- t(n-1) SE. Pairing removes the noise the two runs of one seed
// share (same initialization and data order).
struct PairedDifference {
  size_t n = 0;  // shared seeds, or validation sequences
  double mean = 0, se = 0, lo = 0, hi = 0;
  bool over_sequences = false;  // paired over one seed's validation sequences
  // An interval that excludes 0: the data tell P's loss from Q's.
  bool measurable() const { return lo > 0 || hi < 0; }
};
// Unset when fewer than two seeds are shared.
std::optional<PairedDifference> paired_difference(const std::vector<SeedLoss>& p,
                                                  const std::vector<SeedLoss>& q);
// The one-seed fallback: per validation sequence, p[i] - q[i] (both runs
// evaluated the same sequences, so a sequence's difficulty cancels out); its
// mean, SE and t interval. This measures only the noise of a finite
// validation set, not that of initialization and data order: read it as a
// lower bound on the uncertainty. Unset unless p and q have the same length
// of at least 2.
std::optional<PairedDifference> paired_over_sequences(const std::vector<double>& p, const std::vector<double>& q);
// "-0.0412 ± 0.0051 over 3 shared seeds (95% [-0.0632, -0.0192])", or
// "... over 128 validation sequences of one seed (...)".
std::string paired_text(const PairedDifference& d);
// "measurable" or "within noise", by measurable().
const char* paired_verdict(const PairedDifference& d);

}  // namespace replay::analysis
