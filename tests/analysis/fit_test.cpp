#include <gtest/gtest.h>

#include <cmath>

#include "analysis/fit.h"
#include "util/error.h"

using namespace replay::analysis;

namespace {

std::vector<CurvePoint> synthetic(double A, double B, double C, double D, std::vector<double> xs,
                                  double noise = 0) {
  std::vector<CurvePoint> pts;
  for (size_t i = 0; i < xs.size(); ++i) {
    double wobble = noise * ((i % 2) ? 1.0 : -1.0) * (1.0 + 0.3 * i);  // deterministic "noise"
    pts.push_back({xs[i], A / (std::pow(xs[i], B) + D) + C + wobble});
  }
  return pts;
}

// The spec's FineMath test vector (section 5).
std::vector<CurvePoint> finemath() {
  return {{16 / 1024.0, 2.99478}, {8 / 1024.0, 3.16164}, {4 / 1024.0, 3.39593},
          {2 / 1024.0, 3.49087},  {1 / 1024.0, 3.62532}};
}

}  // namespace

TEST(Fit, RecoversKnownPowerLaw) {
  auto pts = synthetic(0.05, 0.35, 2.4, 0, {1 / 1024.0, 2 / 1024.0, 4 / 1024.0, 8 / 1024.0, 16 / 1024.0, 32 / 1024.0});
  CurveFit fit = fit_curve(pts);
  ASSERT_TRUE(fit.converged) << fit.message;
  EXPECT_NEAR(fit.A, 0.05, 1e-6);
  EXPECT_NEAR(fit.B, 0.35, 1e-6);
  EXPECT_NEAR(fit.C, 2.4, 1e-6);
  EXPECT_LT(fit.rss, 1e-18);
  EXPECT_FALSE(fit.degenerate) << fit.degenerate_reason;
}

TEST(Fit, RecoversKnownPowerLawWithNoise) {
  auto pts = synthetic(0.2, 0.5, 3.0, 0, {1, 2, 4, 8, 16, 32, 64, 128}, 1e-4);
  CurveFit fit = fit_curve(pts);
  ASSERT_TRUE(fit.converged);
  EXPECT_NEAR(fit.A, 0.2, 2e-3);
  EXPECT_NEAR(fit.B, 0.5, 1e-2);
  EXPECT_NEAR(fit.C, 3.0, 2e-3);
  EXPECT_GT(fit.rss, 0);
}

TEST(Fit, RecoversShiftedPowerLaw) {
  auto pts = synthetic(0.3, 0.6, 2.0, 0.5, {0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30});
  FitOptions opt;
  opt.form = CurveForm::shifted_power;
  CurveFit fit = fit_curve(pts, opt);
  ASSERT_TRUE(fit.converged) << fit.message;
  EXPECT_NEAR(fit.A, 0.3, 1e-5);
  EXPECT_NEAR(fit.B, 0.6, 1e-5);
  EXPECT_NEAR(fit.C, 2.0, 1e-5);
  EXPECT_NEAR(fit.D, 0.5, 1e-5);
}

TEST(Fit, FineMathTestVectorGivesTheSpecMultipliers) {
  CurveFit fit = fit_curve(finemath());
  ASSERT_TRUE(fit.converged) << fit.message;
  // The reference reports B ~ 1.08e-4: the degenerate, log-linear optimum.
  EXPECT_GT(fit.B, 1.0e-4);
  EXPECT_LT(fit.B, 1.15e-4);
  EXPECT_TRUE(fit.degenerate);
  EXPECT_LT(fit.C, 0);
  EXPECT_GT(fit.A, 100);
  const double ft = 3.99417, ftr = 3.90261, mt = 3.56935, mtr = 3.42762, best = 3.35965;
  auto m = [&](double p, double q) {
    Multiplier r = multiplier(fit, "P", p, "Q", q);
    EXPECT_TRUE(r.value.has_value()) << r.why_none;
    return r.value.value_or(NAN);
  };
  EXPECT_EQ(format_significant(m(ftr, ft), 4), "1.490");
  EXPECT_EQ(format_significant(m(mtr, mt), 4), "1.855");
  EXPECT_EQ(format_significant(m(best, mt), 4), "2.494");
  EXPECT_EQ(format_significant(m(mt, ft), 4), "6.368");
  // Multipliers compose: (MT+replay / MT) * (MT / FT) = MT+replay / FT.
  EXPECT_NEAR(m(mtr, mt) * m(mt, ft), m(mtr, ft), 1e-9 * m(mtr, ft));
}

TEST(Fit, PointOrderDoesNotChangeTheResult) {
  auto pts = finemath();
  CurveFit a = fit_curve(pts);
  std::swap(pts[0], pts[3]);
  std::swap(pts[1], pts[4]);
  CurveFit b = fit_curve(pts);
  EXPECT_EQ(a.A, b.A);
  EXPECT_EQ(a.B, b.B);
  EXPECT_EQ(a.C, b.C);
}

TEST(Fit, InverseRoundTripsAndRefusesLossesBelowTheAsymptote) {
  auto pts = synthetic(0.05, 0.35, 2.4, 0, {1, 2, 4, 8, 16, 32});
  CurveFit fit = fit_curve(pts);
  for (double x : {0.5, 3.0, 100.0}) {
    Inverse inv = invert(fit, fit.predict(x));
    ASSERT_TRUE(inv.ok()) << inv.why_none;
    EXPECT_NEAR(inv.x(), x, 1e-6 * x);
  }
  Inverse below = invert(fit, 2.3);
  EXPECT_FALSE(below.ok());
  EXPECT_NE(below.why_none.find("asymptote"), std::string::npos) << below.why_none;
  EXPECT_THROW(below.x(), replay::Error);
  Multiplier m = multiplier(fit, "magic", 2.3, "baseline", fit.predict(2.0));
  EXPECT_FALSE(m.value.has_value());
  EXPECT_NE(m.why_none.find("magic"), std::string::npos);
  // Better loss -> more implied data -> multiplier above 1.
  Multiplier good = multiplier(fit, "p", fit.predict(8.0), "q", fit.predict(2.0));
  ASSERT_TRUE(good.value.has_value());
  EXPECT_NEAR(*good.value, 4.0, 1e-6);
}

TEST(Fit, RejectsBadInput) {
  EXPECT_THROW(fit_curve({{1, 3}, {2, 2.9}}), replay::Error);
  EXPECT_THROW(fit_curve({{1, 3}, {0, 2.9}, {2, 2.8}}), replay::Error);
  EXPECT_THROW(fit_curve({{1, 3}, {2, NAN}, {4, 2.8}}), replay::Error);
  FitOptions opt;
  opt.form = CurveForm::shifted_power;
  EXPECT_THROW(fit_curve({{1, 3}, {2, 2.9}, {4, 2.8}}, opt), replay::Error);  // 4 parameters
  EXPECT_THROW(parse_curve_form("cubic"), replay::Error);
  EXPECT_EQ(parse_curve_form("shifted-power"), CurveForm::shifted_power);
}

TEST(Fit, FormatsSignificantDigits) {
  EXPECT_EQ(format_significant(1.49031, 4), "1.490");
  EXPECT_EQ(format_significant(6.3677, 4), "6.368");
  EXPECT_EQ(format_significant(0.0123456, 3), "0.0123");
  EXPECT_EQ(format_significant(123.456, 4), "123.5");
  EXPECT_EQ(format_significant(12345.6, 3), "12346");
  EXPECT_EQ(format_significant(2.5e20, 3), "2.50e+20");
}
