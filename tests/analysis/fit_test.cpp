#include <gtest/gtest.h>

#include <cmath>
#include <random>

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

TEST(Fit, RepeatedPointsAreRefusedNotReportedAsConverged) {
  // Five copies of two points: a 3-parameter curve is not determined by them.
  std::vector<CurvePoint> pts;
  for (int i = 0; i < 5; ++i) pts.push_back({i % 2 ? 1 / 64.0 : 1 / 128.0, i % 2 ? 3.1 : 3.3});
  std::string why;
  try {
    fit_curve(pts);
  } catch (const replay::Error& e) {
    why = e.what();
  }
  EXPECT_NE(why.find("needs at least 3 distinct pool sizes, got 2 among 5 points"), std::string::npos) << why;
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
  FitOptions reference;
  reference.method = FitMethod::reference;
  CurveFit fit = fit_curve(finemath(), reference);
  ASSERT_TRUE(fit.converged) << fit.message;
  EXPECT_EQ(fit.starts, 1);
  EXPECT_TRUE(fit.usable_for_multipliers) << fit.unusable_reason;
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

namespace {

// The fresh-machine reference points that gave a rising law (B = -12.09) and
// a 1.182x "gain" for the schedule with the higher loss.
std::vector<CurvePoint> fresh_machine() {
  return {{1 / 512.0, 5.278}, {1 / 256.0, 5.140}, {1 / 128.0, 5.141}, {1 / 64.0, 4.928}};
}

FitOptions with_method(FitMethod method) {
  FitOptions o;
  o.method = method;
  return o;
}

}  // namespace

// Acceptance of issue 9: both methods print the spec's numbers. The problem
// has no minimum with B > 0 (the residual falls along a valley towards a
// log-linear law), so each run stops somewhere on the valley at B ~ 1e-4;
// the multistart keeps the run with the lowest residual (the start B0 = 0.1:
// B = 7.89e-5, RSS 0.00518180 against the reference's 0.00518245), whose
// multipliers differ from the reference's from the 5th digit on
// (mt over ft 6.3683 against 6.3677; the valley's limit is 6.3700).
TEST(Fit, BothMethodsGiveTheSpecMultipliersOnTheFineMathVector) {
  CurveFit ref = fit_curve(finemath(), with_method(FitMethod::reference));
  CurveFit multi = fit_curve(finemath());
  ASSERT_TRUE(ref.usable_for_multipliers && multi.usable_for_multipliers) << multi.unusable_reason;
  EXPECT_EQ(multi.method, FitMethod::multistart);
  EXPECT_EQ(multi.starts, 13);
  EXPECT_LE(multi.rss, ref.rss);               // never worse than the reference's own run
  EXPECT_NEAR(multi.rss, ref.rss, 1e-3 * ref.rss);  // and, on this valley, hardly better
  EXPECT_GT(multi.B, 0);
  EXPECT_LT(multi.B, 1.2e-4);
  EXPECT_TRUE(multi.degenerate);
  const double ft = 3.99417, ftr = 3.90261, mt = 3.56935, mtr = 3.42762, best = 3.35965;
  const std::pair<double, double> pairs[] = {{ftr, ft}, {mtr, mt}, {best, mt}, {mt, ft}};
  const char* spec[] = {"1.490", "1.855", "2.494", "6.368"};
  for (int i = 0; i < 4; ++i) {
    auto [p, q] = pairs[i];
    Multiplier a = multiplier(ref, "P", p, "Q", q), b = multiplier(multi, "P", p, "Q", q);
    ASSERT_TRUE(a.value && b.value);
    EXPECT_EQ(format_significant(*a.value, 4), spec[i]);
    EXPECT_EQ(format_significant(*b.value, 4), spec[i]);
    EXPECT_NEAR(*b.value / *a.value, 1.0, 2e-4) << spec[i];
  }
}

TEST(Fit, FreshMachinePointsGiveNoMultiplierAndSayWhy) {
  for (FitMethod method : {FitMethod::reference, FitMethod::multistart}) {
    CurveFit fit = fit_curve(fresh_machine(), with_method(method));
    EXPECT_FALSE(fit.usable_for_multipliers) << fit_method_name(method);
    EXPECT_NE(fit.unusable_reason.find("loss rises from 5.140 at x=1/256 to 5.141 at x=1/128"),
              std::string::npos)
        << fit.unusable_reason;
    Multiplier m = multiplier(fit, "fine-tuning + replay", 5.1558, "fine-tuning", 5.1263);
    EXPECT_FALSE(m.value.has_value());
    EXPECT_EQ(multiplier_value_text(m).rfind("no multiplier can be computed: ", 0), 0u) << multiplier_value_text(m);
    std::string line = multiplier_line(m);
    EXPECT_NE(line.find("5.140 at x=1/256"), std::string::npos) << line;
    EXPECT_EQ(line.find("1.18"), std::string::npos) << line;
    Inverse inv = invert(fit, 5.0);
    EXPECT_FALSE(inv.ok());
    EXPECT_NE(inv.why_none.find("rises"), std::string::npos);
  }
  CurveFit ref = fit_curve(fresh_machine(), with_method(FitMethod::reference));
  CurveFit multi = fit_curve(fresh_machine());
  // The reference's single start ends on a rising law; the multistart keeps B > 0
  // with a residual about 8x smaller.
  EXPECT_NEAR(ref.B, -12.09, 0.01);
  EXPECT_NE(ref.unusable_reason.find("B = -12.09 is not positive"), std::string::npos) << ref.unusable_reason;
  EXPECT_GT(multi.B, 0);
  EXPECT_LT(multi.rss * 7, ref.rss);
  EXPECT_EQ(multi.unusable_reason.find("not positive"), std::string::npos) << multi.unusable_reason;
}

TEST(Fit, ALawThatRisesIsUnusableEvenWhenThePointsFall) {
  // Falling points on which the reference's start still ends at B < 0.
  std::vector<CurvePoint> pts = {{1 / 512.0, 5.278}, {1 / 256.0, 5.140}, {1 / 128.0, 5.139}, {1 / 64.0, 4.928}};
  CurveFit ref = fit_curve(pts, with_method(FitMethod::reference));
  EXPECT_LT(ref.B, 0);
  EXPECT_FALSE(ref.usable_for_multipliers);
  EXPECT_NE(ref.unusable_reason.find("does not fall with more data"), std::string::npos) << ref.unusable_reason;
  EXPECT_FALSE(multiplier(ref, "p", 5.0, "q", 5.2).value.has_value());
  CurveFit multi = fit_curve(pts);
  EXPECT_GT(multi.A, 0);
  EXPECT_GT(multi.B, 0);
  EXPECT_TRUE(multi.usable_for_multipliers) << multi.unusable_reason;
  EXPECT_LT(multi.rss, ref.rss);
  Multiplier m = multiplier(multi, "p", 5.0, "q", 5.2);
  ASSERT_TRUE(m.value.has_value()) << m.why_none;
  EXPECT_GT(*m.value, 1);
}

TEST(Fit, EqualLossesAtOnePoolSizeAreAveragedBeforeTheRiseCheck) {
  // Two seeds at x = 2: their mean (3.45) still falls from 3.5 to 3.3.
  std::vector<CurvePoint> pts = {{1, 3.5}, {2, 3.52}, {2, 3.38}, {4, 3.3}, {8, 3.25}};
  EXPECT_TRUE(fit_curve(pts).usable_for_multipliers) << fit_curve(pts).unusable_reason;
  pts[1].loss = 3.7;  // mean 3.54 > 3.5
  CurveFit fit = fit_curve(pts);
  EXPECT_NE(fit.unusable_reason.find("loss rises from 3.500 at x=1 to 3.540 at x=2"), std::string::npos)
      << fit.unusable_reason;
}

// For a usable fit x(L) falls strictly with L: lower loss, multiplier above 1.
TEST(Fit, MultiplierDirectionAlwaysAgreesWithTheLosses) {
  std::mt19937 rng(9);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<CurveFit> fits = {fit_curve(finemath()),
                                fit_curve(finemath(), with_method(FitMethod::reference))};
  for (int i = 0; i < 150; ++i) {
    double A = 0.01 + 2 * u(rng), B = 0.05 + 1.5 * u(rng), C = 1 + 3 * u(rng);
    auto pts = synthetic(A, B, C, 0, {1, 2, 4, 8, 16, 32}, 1e-3 * u(rng));
    fits.push_back(fit_curve(pts, with_method(i % 2 ? FitMethod::reference : FitMethod::multistart)));
  }
  int checked = 0;
  for (const auto& fit : fits) {
    if (!fit.usable_for_multipliers) continue;  // noise can make the flat tail rise
    double lo = fit.predict(fit.max_x() * 8), hi = fit.predict(fit.min_x() / 8);
    for (int k = 0; k < 40; ++k) {
      double p = lo + (hi - lo) * u(rng), q = lo + (hi - lo) * u(rng);
      Multiplier m = multiplier(fit, "p", p, "q", q);
      ASSERT_TRUE(m.value.has_value()) << m.why_none;
      if (p < q) {
        EXPECT_GT(*m.value, 1.0) << p << " vs " << q;
      } else if (p > q) {
        EXPECT_LT(*m.value, 1.0) << p << " vs " << q;
      }
      Multiplier back = multiplier(fit, "q", q, "p", p);
      EXPECT_NEAR(*m.value * *back.value, 1.0, 1e-9);
      ++checked;
    }
  }
  EXPECT_GT(checked, 120 * 40);  // 135 of the 152 fits are usable
}

TEST(Fit, ImpliedPoolsFarOutsideTheReferenceRangeAreFlagged) {
  CurveFit fit = fit_curve(finemath());
  Inverse ft = invert(fit, 3.99417);  // about 5x below the smallest pool, 1/1024
  ASSERT_TRUE(ft.ok());
  EXPECT_TRUE(ft.extrapolated);
  EXPECT_NE(ft.extrapolation.find("below the smallest reference pool 1/1024"), std::string::npos) << ft.extrapolation;
  Inverse ftr = invert(fit, 3.90261);  // about 3.4x below: inside the margin
  ASSERT_TRUE(ftr.ok());
  EXPECT_FALSE(ftr.extrapolated) << ftr.extrapolation;
  EXPECT_FALSE(invert(fit, 3.3).extrapolated);
  Inverse far = invert(fit, 2.5);
  ASSERT_TRUE(far.ok());
  EXPECT_TRUE(far.extrapolated);
  EXPECT_NE(far.extrapolation.find("the largest reference pool 1/64"), std::string::npos) << far.extrapolation;

  Multiplier m = multiplier(fit, "ft+replay", 3.90261, "ft", 3.99417);
  ASSERT_TRUE(m.value.has_value());
  EXPECT_TRUE(m.extrapolated);
  EXPECT_EQ(m.extrapolation.rfind("ft: implied pool", 0), 0u) << m.extrapolation;
  std::string line = multiplier_line(m);
  EXPECT_NE(line.find("ft+replay over ft: 1.490x (target loss 3.90261 vs 3.99417); EXTRAPOLATED: ft: "),
            std::string::npos)
      << line;
  EXPECT_FALSE(multiplier(fit, "best", 3.35965, "mt", 3.56935).extrapolated);
}

TEST(Fit, NamesMethodsAndPools) {
  EXPECT_EQ(parse_fit_method("reference"), FitMethod::reference);
  EXPECT_EQ(parse_fit_method("multistart"), FitMethod::multistart);
  EXPECT_THROW(parse_fit_method("newton"), replay::Error);
  EXPECT_EQ(format_pool(1 / 256.0), "1/256");
  EXPECT_EQ(format_pool(16 / 1024.0), "1/64");
  EXPECT_EQ(format_pool(3 / 1024.0), "0.00292969");
  EXPECT_EQ(format_pool(8), "8");
}
