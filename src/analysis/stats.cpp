#include "analysis/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

#include "util/error.h"

namespace replay::analysis {

MeanSe mean_se(const std::vector<double>& values) {
  MeanSe m;
  double sum = 0;
  for (double v : values)
    if (std::isfinite(v)) sum += v, ++m.n;
  if (m.n == 0) {
    m.mean = std::numeric_limits<double>::quiet_NaN();
    return m;
  }
  m.mean = sum / static_cast<double>(m.n);
  if (m.n < 2) return m;
  double ss = 0;
  for (double v : values)
    if (std::isfinite(v)) ss += (v - m.mean) * (v - m.mean);
  m.se = std::sqrt(ss / static_cast<double>(m.n - 1)) / std::sqrt(static_cast<double>(m.n));
  return m;
}

std::vector<double> losses_of(const std::vector<SeedLoss>& seeds) {
  std::vector<double> out;
  for (const auto& s : seeds) out.push_back(s.loss);
  return out;
}

std::string mean_se_text(const MeanSe& m, int decimals) {
  if (m.n == 0) return "-";
  char buf[128];
  if (!m.se)
    std::snprintf(buf, sizeof buf, "%.*f (1 seed)", decimals, m.mean);
  else
    std::snprintf(buf, sizeof buf, "%.*f \u00b1 %.*f (%zu seeds)", decimals, m.mean, decimals, *m.se, m.n);
  return buf;
}

double percentile(std::vector<double> values, double q) {
  if (values.empty()) throw Error("percentile of no values");
  std::sort(values.begin(), values.end());
  double pos = q * static_cast<double>(values.size() - 1);
  size_t i = static_cast<size_t>(std::floor(pos));
  if (i + 1 >= values.size()) return values.back();
  return values[i] + (pos - static_cast<double>(i)) * (values[i + 1] - values[i]);
}

double t_quantile_975(size_t df) {
  static const double table[] = {0,      12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365,
                                 2.306,  2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
                                 2.120,  2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069,
                                 2.064,  2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
  if (df == 0) return std::numeric_limits<double>::infinity();
  if (df <= 30) return table[df];
  return 1.959964 + 2.37 / static_cast<double>(df);  // Cornish-Fisher's first term, ~1e-3 at df 31
}

namespace {

// Mean, SE and t interval of paired differences; unset below two.
std::optional<PairedDifference> paired_of_differences(const std::vector<double>& diffs, bool over_sequences) {
  MeanSe m = mean_se(diffs);
  if (!m.se) return std::nullopt;
  PairedDifference d{m.n, m.mean, *m.se, 0, 0, over_sequences};
  double half = t_quantile_975(m.n - 1) * *m.se;
  d.lo = m.mean - half;
  d.hi = m.mean + half;
  return d;
}

}  // namespace

std::optional<PairedDifference> paired_difference(const std::vector<SeedLoss>& p,
                                                  const std::vector<SeedLoss>& q) {
  std::map<int64_t, double> q_by_seed;
  for (const auto& s : q) q_by_seed[s.seed] = s.loss;
  std::vector<double> diffs;
  for (const auto& s : p)
    if (auto it = q_by_seed.find(s.seed); it != q_by_seed.end()) diffs.push_back(s.loss - it->second);
  return paired_of_differences(diffs, false);
}

std::optional<PairedDifference> paired_over_sequences(const std::vector<double>& p, const std::vector<double>& q) {
  if (p.size() != q.size()) return std::nullopt;
  std::vector<double> diffs(p.size());
  for (size_t i = 0; i < p.size(); ++i) diffs[i] = p[i] - q[i];
  return paired_of_differences(diffs, true);
}

std::string paired_text(const PairedDifference& d) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "%+.4f \u00b1 %.4f over %zu %s (95%% [%+.4f, %+.4f])", d.mean, d.se, d.n,
                d.over_sequences ? "validation sequences of one seed" : "shared seeds", d.lo, d.hi);
  return buf;
}

const char* paired_verdict(const PairedDifference& d) { return d.measurable() ? "measurable" : "within noise"; }

}  // namespace replay::analysis
