// Seeds: cells, mean +- SE, the bootstrap intervals of the fit and the
// multipliers (coverage of a known effect on synthetic data), the "no
// measurable effect" wording and paired differences.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "analysis/bootstrap.h"
#include "analysis/cells.h"
#include "analysis/efficiency.h"
#include "analysis/report.h"
#include "error_of.h"
#include "fake_sweep.h"
#include "temp_dir.h"
#include "run/layout.h"
#include "util/fs.h"

#include <nlohmann/json.hpp>

using namespace replay::analysis;
namespace stdfs = std::filesystem;

namespace {

// The true law of the synthetic data and its inverse.
double law(double x) { return 0.05 / std::sqrt(x) + 2.5; }
const double kPools[] = {1.0 / 1024, 2.0 / 1024, 4.0 / 1024, 8.0 / 1024, 16.0 / 1024};

std::vector<SeedLoss> noisy(double truth, int seeds, double sigma, std::mt19937_64& rng) {
  std::normal_distribution<double> noise(0, sigma);
  std::vector<SeedLoss> out;
  for (int s = 1; s <= seeds; ++s) out.push_back({s, truth + noise(rng)});
  return out;
}

FitOptions quick_fit() {
  FitOptions fo;
  fo.start_exponents = {0.25, 0.5, 1.0};  // fewer starts: the law is far from degenerate
  return fo;
}

struct Synthetic {
  std::vector<ReferenceCell> reference;
  CurveFit fit;
  std::vector<Multiplier> multipliers;
};

// Reference cells at kPools and P at pool x_p over Q at x_q (true multiplier
// x_p / x_q), every cell with `seeds` noisy seeds.
Synthetic synthetic(double x_p, double x_q, int seeds, double sigma, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Synthetic s;
  std::vector<CurvePoint> means;
  for (double x : kPools) {
    s.reference.push_back({x, noisy(law(x), seeds, sigma, rng), {}});
    means.push_back({x, mean_se(losses_of(s.reference.back().seeds)).mean});
  }
  s.fit = fit_curve(means, quick_fit());
  auto p = noisy(law(x_p), seeds, sigma, rng), q = noisy(law(x_q), seeds, sigma, rng);
  Multiplier m = multiplier(s.fit, "P", mean_se(losses_of(p)).mean, "Q", mean_se(losses_of(q)).mean);
  m.seeds_p = p;
  m.seeds_q = q;
  s.multipliers.push_back(m);
  return s;
}

}  // namespace

TEST(Stats, MeanAndStandardErrorOverSeeds) {
  MeanSe m = mean_se({3.0, 3.2, 3.4});
  EXPECT_NEAR(m.mean, 3.2, 1e-12);
  ASSERT_TRUE(m.se);
  EXPECT_NEAR(*m.se, 0.2 / std::sqrt(3.0), 1e-12);  // sd 0.2
  EXPECT_EQ(mean_se_text(m, 3), "3.200 \u00b1 0.115 (3 seeds)");
  MeanSe one = mean_se({3.0});
  EXPECT_FALSE(one.se);
  EXPECT_EQ(mean_se_text(one, 3), "3.000 (1 seed)");
  EXPECT_NEAR(percentile({4, 1, 3, 2}, 0.5), 2.5, 1e-12);
  EXPECT_NEAR(t_quantile_975(2), 4.303, 1e-9);
  EXPECT_NEAR(t_quantile_975(200), 1.972, 1e-3);
}

TEST(Stats, PairedDifferenceUsesSharedSeedsOnly) {
  // Seed 3 of P has no partner; the shared seeds differ by -0.1 and -0.3.
  auto d = paired_difference({{1, 3.0}, {2, 3.1}, {3, 9.0}}, {{1, 3.1}, {2, 3.4}, {4, 1.0}});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->n, 2u);
  EXPECT_NEAR(d->mean, -0.2, 1e-12);
  EXPECT_NEAR(d->se, 0.1, 1e-12);
  EXPECT_NEAR(d->hi, -0.2 + 12.706 * 0.1, 1e-9);
  EXPECT_FALSE(paired_difference({{1, 3.0}}, {{1, 3.1}}));  // one shared seed: no SE
}

TEST(Stats, OneSeedPairsOverValidationSequences) {
  // Sequence i: p = q - 0.05 + small noise, so the difference is measurable;
  // with q shifted by noise of either sign around p, it is not.
  std::vector<double> p, q, r;
  for (int i = 0; i < 100; ++i) {
    const double hard = 4.0 + (i % 7) * 0.3;  // sequence difficulty, shared
    const double noise = ((i * 37) % 11 - 5) * 0.002;
    q.push_back(hard);
    p.push_back(hard - 0.05 + noise);
    r.push_back(hard + ((i % 2) ? noise : -noise));
  }
  auto d = paired_over_sequences(p, q);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->n, 100u);
  EXPECT_TRUE(d->over_sequences);
  EXPECT_NEAR(d->mean, -0.05, 0.002);
  EXPECT_TRUE(d->measurable());
  EXPECT_STREQ(paired_verdict(*d), "measurable");
  EXPECT_NE(paired_text(*d).find("over 100 validation sequences of one seed"), std::string::npos) << paired_text(*d);
  auto none = paired_over_sequences(r, q);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->measurable()) << paired_text(*none);
  EXPECT_STREQ(paired_verdict(*none), "within noise");
  EXPECT_FALSE(paired_over_sequences({1.0, 2.0}, {1.0}));  // not the same sequences
  EXPECT_FALSE(paired_over_sequences({}, {}));
}

TEST(Multipliers, WithoutAUsableFitTheLossDifferencesStillSayWhatIsMeasurable) {
  CurveFit fit;
  fit.usable_for_multipliers = false;
  fit.unusable_reason = "reference losses rise";
  Multiplier m;
  m.p = "ft + replay";
  m.q = "ft";
  m.loss_p = 4.9;
  m.loss_q = 5.0;
  m.paired = paired_over_sequences({4.9, 4.8, 5.0, 4.9}, {5.0, 4.91, 5.1, 5.0});
  Multiplier unknown = m;
  unknown.paired.reset();
  auto lines = multiplier_lines(&fit, {m, unknown});
  ASSERT_EQ(lines.size(), 2u);  // the comparison without a difference is left out
  EXPECT_EQ(lines[0], "no multiplier can be computed: reference losses rise");
  EXPECT_NE(lines[1].find("ft + replay vs ft (target loss 4.90000 vs 5.00000); paired target loss difference"),
            std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find(": measurable"), std::string::npos) << lines[1];
}

TEST(Cells, GroupSeedsOfOneCellAndNothingElse) {
  TempDir dir;
  Registry reg(dir.path / "registry.sqlite");
  for (int seed : {2, 1, 3})
    fake::add_done_run(reg, dir.path, "s", "mt-rho=0.5-seed=" + std::to_string(seed),
                       {{"family", "mid-training"}, {"rho", "0.5"}, {"seed", std::to_string(seed)}}, 3.0 + 0.1 * seed,
                       4.0);
  // Same base name but another rho: another cell. A seedless run: its own cell.
  fake::add_done_run(reg, dir.path, "s", "mt-rho=0.5-seed=4",
                     {{"family", "mid-training"}, {"rho", "0.75"}, {"seed", "4"}}, 3.5, 4.0);
  fake::add_done_run(reg, dir.path, "s", "ft", {{"family", "fine-tuning"}}, 3.9, 4.0);
  std::vector<Cell> cells = group_cells(reg.list_runs());
  ASSERT_EQ(cells.size(), 3u);
  EXPECT_TRUE(any_repeated(cells));
  const Cell* three = nullptr;
  for (const auto& c : cells)
    if (c.runs.size() == 3) three = &c;
  ASSERT_TRUE(three);
  EXPECT_EQ(three->name, "mt-rho=0.5");
  EXPECT_EQ(three->seeds(), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(three->tags.count("seed"), 0u);
  MeanSe m = three->stats("finemath");
  EXPECT_NEAR(m.mean, 3.2, 1e-4);
  ASSERT_TRUE(m.se);
  EXPECT_NEAR(*m.se, 0.1 / std::sqrt(3.0), 1e-4);
  EXPECT_EQ(cell_name("a-seed=12"), "a");
  EXPECT_EQ(cell_name("a-seed=x"), "a-seed=x");
}

TEST(Bootstrap, NoSeedsNoInterval) {
  Synthetic s = synthetic(8.0 / 1024, 4.0 / 1024, 1, 0.01, 7);
  FitIntervals fi = bootstrap_over_seeds(s.reference, s.multipliers, quick_fit());
  EXPECT_EQ(fi.resamples, 0);
  EXPECT_FALSE(fi.A);
  ASSERT_TRUE(s.multipliers[0].value);
  EXPECT_FALSE(s.multipliers[0].interval);
  EXPECT_EQ(s.multipliers[0].interval_note, "one seed: no interval");
  EXPECT_NE(multiplier_line(s.multipliers[0]).find("; one seed: no interval"), std::string::npos);
}

TEST(Bootstrap, ReproducibleAndLargeEffectExcludesOne) {
  Synthetic a = synthetic(8.0 / 1024, 4.0 / 1024, 4, 0.01, 11), b = a;
  FitIntervals fa = bootstrap_over_seeds(a.reference, a.multipliers, quick_fit(), {300, 5});
  bootstrap_over_seeds(b.reference, b.multipliers, quick_fit(), {300, 5});
  const Multiplier& m = a.multipliers[0];
  ASSERT_TRUE(m.interval);
  EXPECT_EQ(m.interval->lo, b.multipliers[0].interval->lo);  // same seed, same draws
  EXPECT_GT(m.interval->lo, 1.0);  // true multiplier 2
  EXPECT_FALSE(m.no_measurable_effect());
  EXPECT_EQ(multiplier_value_text(m).find(format_significant(*m.value, 4) + "x (95% interval ["), 0u)
      << multiplier_value_text(m);
  ASSERT_TRUE(fa.B);
  EXPECT_TRUE(fa.B->contains(0.5)) << fit_intervals_text(fa);
  EXPECT_NE(fit_intervals_text(fa).find("bootstrap over seeds, 300 resamples"), std::string::npos);
}

TEST(Bootstrap, ZeroEffectReadsNoMeasurableEffect) {
  Synthetic s = synthetic(4.0 / 1024, 4.0 / 1024, 4, 0.01, 3);
  bootstrap_over_seeds(s.reference, s.multipliers, quick_fit(), {300, 5});
  const Multiplier& m = s.multipliers[0];
  ASSERT_TRUE(m.interval);
  EXPECT_TRUE(m.no_measurable_effect());
  std::string text = multiplier_value_text(m);
  EXPECT_EQ(text.rfind("no measurable effect (interval [", 0), 0u) << text;
  EXPECT_EQ(text.find(format_significant(*m.value, 4) + "x"), std::string::npos) << text;  // never the number alone
  EXPECT_NE(multiplier_line(m).find("P over Q: no measurable effect"), std::string::npos);
}

// Coverage of a known effect: the 95% interval holds the true multiplier 2
// in about 95% of independent synthetic experiments (5 seeds per cell).
TEST(Bootstrap, IntervalCoversTheTrueMultiplier) {
  const int experiments = 200;
  int covered = 0, excludes_one = 0;
  for (int e = 0; e < experiments; ++e) {
    Synthetic s = synthetic(8.0 / 1024, 4.0 / 1024, 5, 0.03, 1000 + e);
    bootstrap_over_seeds(s.reference, s.multipliers, quick_fit(), {100, static_cast<uint64_t>(e)});
    const Multiplier& m = s.multipliers[0];
    if (!m.interval) continue;
    covered += m.interval->contains(2.0);
    excludes_one += !m.interval->contains(1.0);
  }
  std::printf("covered %d of %d, excludes 1 in %d\n", covered, experiments, excludes_one);
  EXPECT_GE(covered, experiments * 85 / 100) << covered << " of " << experiments;
  EXPECT_LE(covered, experiments);
  EXPECT_GE(excludes_one, experiments * 9 / 10);
}

namespace {

// N per-sequence losses around `truth`: a difficulty per sequence shared by
// every run (the same validation set) plus noise of this run.
std::vector<double> sequences(double truth, const std::vector<double>& difficulty, std::mt19937_64& rng) {
  std::normal_distribution<double> noise(0, 0.05);
  std::vector<double> out;
  for (double d : difficulty) out.push_back(truth + d + noise(rng));
  double mean = 0;
  for (double l : out) mean += l;
  mean /= static_cast<double>(out.size());
  for (double& l : out) l += truth - mean;  // the run's loss is exactly the truth
  return out;
}

Synthetic one_seed_with_sequences(double x_p, double x_q, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> hard(0, 0.5);
  std::vector<double> difficulty(128);
  for (double& d : difficulty) d = hard(rng);
  Synthetic s;
  std::vector<CurvePoint> points;
  for (double x : kPools) {
    s.reference.push_back({x, {{0, law(x)}}, sequences(law(x), difficulty, rng)});
    points.push_back({x, law(x)});
  }
  s.fit = fit_curve(points, quick_fit());
  Multiplier m = multiplier(s.fit, "P", law(x_p), "Q", law(x_q));
  m.seeds_p = {{0, law(x_p)}};
  m.seeds_q = {{0, law(x_q)}};
  m.sequences_p = sequences(law(x_p), difficulty, rng);
  m.sequences_q = sequences(law(x_q), difficulty, rng);
  s.multipliers.push_back(m);
  return s;
}

}  // namespace

// One seed per cell: the fallback resamples validation sequences, the same
// indices in every run.
TEST(Bootstrap, OneSeedFallsBackToValidationSequences) {
  Synthetic s = one_seed_with_sequences(8.0 / 1024, 4.0 / 1024, 21);
  FitIntervals fi = bootstrap_over_seeds(s.reference, s.multipliers, quick_fit(), {300, 5});
  const Multiplier& m = s.multipliers[0];
  ASSERT_TRUE(m.interval) << m.interval_note;
  EXPECT_NE(m.interval->method.find("bootstrap over 128 validation sequences"), std::string::npos) << m.interval->method;
  EXPECT_TRUE(m.interval->contains(2.0)) << multiplier_line(m);
  EXPECT_GT(m.interval->lo, 1.0);
  ASSERT_TRUE(fi.A);
  EXPECT_NE(fit_intervals_text(fi).find("validation sequences"), std::string::npos);

  Synthetic zero = one_seed_with_sequences(4.0 / 1024, 4.0 / 1024, 22);
  bootstrap_over_seeds(zero.reference, zero.multipliers, quick_fit(), {300, 5});
  EXPECT_TRUE(zero.multipliers[0].no_measurable_effect()) << multiplier_line(zero.multipliers[0]);

  // P without per-sequence losses: no interval for it, and it says why.
  Synthetic partial = one_seed_with_sequences(8.0 / 1024, 4.0 / 1024, 23);
  partial.multipliers[0].sequences_p.clear();
  bootstrap_over_seeds(partial.reference, partial.multipliers, quick_fit(), {300, 5});
  EXPECT_FALSE(partial.multipliers[0].interval);
  EXPECT_EQ(partial.multipliers[0].interval_note, "one seed and no per-sequence losses: no interval");
}

// The registry side: a one-seed run's val_sequences.json reaches the cells.
TEST(Cells, OneSeedRunsCarryTheirSequenceLosses) {
  TempDir tmp("seq-cells");
  fake::build_sweep(tmp.path);
  Registry reg(tmp.path / "registry.sqlite", false);
  for (const auto& r : reg.list_runs()) {
    if (r.status != RunStatus::done) continue;
    double loss = r.final_metrics.at("finemath").loss;
    nlohmann::json splits = {{"finemath", {loss - 0.1, loss + 0.1, loss}}, {"c4", {1.0, 2.0}}};
    replay::fs::write_file_atomic(tmp.path / r.run_dir / replay::run::kValSequencesFile,
                                  nlohmann::json{{"step", 64}, {"splits", splits}}.dump());
  }
  SweepData data = collect_sweep(reg, {"finemath-micro", "", "", ""});
  ASSERT_EQ(data.reference_cells.size(), 5u);
  for (const auto& c : data.reference_cells) EXPECT_EQ(c.sequences.size(), 3u);
  for (const auto& s : data.schedules) EXPECT_EQ(s.sequences.size(), 3u) << s.name;
  auto ms = paper_multipliers(fit_curve(data.reference), data.schedules, data.baselines);
  ASSERT_FALSE(ms.empty());
  EXPECT_EQ(ms[0].sequences_p.size(), 3u);
  // The report's fit and multipliers then get intervals over the sequences.
  ReportOptions ro;
  ro.collect.sweep = "finemath-micro";
  ro.out_dir = tmp.path / "report";
  ro.bootstrap.resamples = 100;  // the degenerate FineMath fit makes every refit slow
  ReportResult res = write_report(reg, ro);
  ASSERT_TRUE(res.fit_intervals);
  EXPECT_NE(fit_intervals_text(*res.fit_intervals).find("bootstrap over 3 validation sequences"), std::string::npos)
      << fit_intervals_text(*res.fit_intervals);
  size_t with_interval = 0;
  for (const auto& m : res.multipliers) with_interval += m.interval.has_value();
  EXPECT_GT(with_interval, 0u);

  // A malformed file is an error naming it.
  const RunRecord first = reg.list_runs().front();  // a copy: the list is a temporary
  replay::fs::write_file_atomic(tmp.path / first.run_dir / replay::run::kValSequencesFile, "{\"step\": 1}");
  std::string e = error_of([&] { collect_sweep(reg, {"finemath-micro", "", "", ""}); });
  EXPECT_NE(e.find((tmp.path / first.run_dir / replay::run::kValSequencesFile).string()), std::string::npos) << e;
}
