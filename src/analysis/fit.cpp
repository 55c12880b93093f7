#include "analysis/fit.h"

#include <cminpack.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "util/error.h"

namespace replay::analysis {

const char* curve_form_name(CurveForm form) {
  return form == CurveForm::power ? "power" : "shifted-power";
}

CurveForm parse_curve_form(const std::string& name) {
  if (name == "power") return CurveForm::power;
  if (name == "shifted-power") return CurveForm::shifted_power;
  throw Error("unknown curve form '" + name + "' (expected power or shifted-power)");
}

namespace {

double model(CurveForm form, const double* p, double x) {
  if (form == CurveForm::power) return p[0] / std::pow(x, p[1]) + p[2];
  return p[0] / (std::pow(x, p[1]) + p[3]) + p[2];
}

struct Problem {
  CurveForm form;
  const std::vector<CurvePoint>* points;
};

// lmdif callback. curve_fit minimizes f(x) - y; the sign does not change the
// iterates, but we keep it identical anyway.
int residual_fn(void* p, int m, int n, const double* params, double* fvec, int iflag) {
  const auto& problem = *static_cast<const Problem*>(p);
  for (int i = 0; i < m; ++i) {
    const auto& pt = (*problem.points)[i];
    fvec[i] = model(problem.form, params, pt.x) - pt.loss;
  }
  return 0;
}

// MINPACK's own wording of lmdif's info codes.
const char* info_message(int info) {
  switch (info) {
    case 0: return "improper input parameters";
    case 1: return "both actual and predicted relative reductions in the sum of squares are at most ftol";
    case 2: return "relative error between two consecutive iterates is at most xtol";
    case 3: return "both ftol and xtol conditions hold";
    case 4: return "the cosine of the angle between fvec and any column of the Jacobian is at most gtol";
    case 5: return "number of calls to the function has reached maxfev";
    case 6: return "ftol is too small: no further reduction in the sum of squares is possible";
    case 7: return "xtol is too small: no further improvement in the approximate solution is possible";
    case 8: return "gtol is too small: fvec is orthogonal to the columns of the Jacobian";
    default: return "unknown lmdif status";
  }
}

}  // namespace

double CurveFit::predict(double x) const {
  double p[4] = {A, B, C, D};
  return model(form, p, x);
}

CurveFit fit_curve(const std::vector<CurvePoint>& points, const FitOptions& options) {
  const int n = options.form == CurveForm::power ? 3 : 4;
  const int m = static_cast<int>(points.size());
  if (m < n)
    throw Error("curve fit (" + std::string(curve_form_name(options.form)) + ") needs at least " +
                std::to_string(n) + " reference points, got " + std::to_string(m));
  for (const auto& pt : points) {
    if (!(pt.x > 0) || !std::isfinite(pt.x))
      throw Error("curve fit: pool size x must be positive and finite, got " + std::to_string(pt.x));
    if (!std::isfinite(pt.loss))
      throw Error("curve fit: loss at x = " + std::to_string(pt.x) + " is not finite");
  }

  // Fit in ascending x, as the reference does. On a degenerate (flat-valley)
  // problem the point order changes where lmdif stops along the valley: with
  // the spec's FineMath vector, ascending order reproduces the reference's
  // B ~ 1.08e-4 and its 4-digit multipliers, descending order does not.
  std::vector<CurvePoint> sorted = points;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const CurvePoint& a, const CurvePoint& b) { return a.x < b.x; });

  std::vector<double> params = {options.A0, options.B0, options.C0};
  if (n == 4) params.push_back(options.D0);
  std::vector<double> fvec(m), diag(n), fjac(static_cast<size_t>(m) * n), qtf(n), wa1(n), wa2(n),
      wa3(n), wa4(m);
  std::vector<int> ipvt(n);
  int nfev = 0;
  Problem problem{options.form, &sorted};
  // mode 1 (MINPACK scales the variables itself), nprint 0, epsfcn 0 (=
  // machine precision, what scipy passes for epsfcn=None).
  int info = lmdif(residual_fn, &problem, m, n, params.data(), fvec.data(), options.ftol,
                   options.xtol, options.gtol, options.max_evaluations, 0.0, diag.data(), 1,
                   options.factor, 0, &nfev, fjac.data(), m, ipvt.data(), qtf.data(), wa1.data(),
                   wa2.data(), wa3.data(), wa4.data());

  CurveFit fit;
  fit.form = options.form;
  fit.A = params[0];
  fit.B = params[1];
  fit.C = params[2];
  fit.D = n == 4 ? params[3] : 0.0;
  fit.points = sorted;
  fit.evaluations = nfev;
  fit.minpack_info = info;
  fit.converged = info >= 1 && info <= 4;
  fit.message = info_message(info);
  for (const auto& pt : sorted) {
    double r = pt.loss - fit.predict(pt.x);
    fit.residuals.push_back(r);
    fit.rss += r * r;
  }

  bool finite = std::isfinite(fit.A) && std::isfinite(fit.B) && std::isfinite(fit.C) &&
                std::isfinite(fit.D);
  std::string reason;
  if (!finite) {
    reason = "non-finite parameters";
  } else {
    if (std::fabs(fit.B) < options.degenerate_b) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "B = %.3g is near 0 (A = %.3g): the law is effectively log-linear",
                    fit.B, fit.A);
      reason = buf;
    }
    if (fit.C < 0) {
      char buf[120];
      std::snprintf(buf, sizeof buf, "asymptote C = %.4g is below zero loss", fit.C);
      reason += (reason.empty() ? "" : "; ") + std::string(buf);
    }
  }
  fit.degenerate = !reason.empty();
  fit.degenerate_reason = reason;
  return fit;
}

double Inverse::x() const {
  if (!log_x) throw Error("no inverse: " + why_none);
  return std::exp(*log_x);
}

Inverse invert(const CurveFit& fit, double loss) {
  Inverse inv;
  char buf[200];
  if (!std::isfinite(loss)) {
    inv.why_none = "loss is not finite";
    return inv;
  }
  double excess = loss - fit.C;
  if (fit.A > 0 && excess <= 0) {
    std::snprintf(buf, sizeof buf, "loss %.5g is at or below the fitted asymptote C = %.5g", loss,
                  fit.C);
    inv.why_none = buf;
    return inv;
  }
  // x^B = A / (L - C) - D; the right side must be positive to have a root.
  double rhs = fit.A / excess - fit.D;
  if (!(rhs > 0) || !std::isfinite(rhs) || fit.B == 0 || !std::isfinite(fit.B)) {
    std::snprintf(buf, sizeof buf, "loss %.5g is outside the range of the fitted curve", loss);
    inv.why_none = buf;
    return inv;
  }
  // log(A / e - D) without forming a ratio that overflows for huge A.
  double log_rhs = fit.D == 0 ? std::log(fit.A) - std::log(excess) : std::log(rhs);
  inv.log_x = log_rhs / fit.B;
  return inv;
}

Multiplier multiplier(const CurveFit& fit, const std::string& p_name, double p_loss,
                      const std::string& q_name, double q_loss) {
  Multiplier mult;
  mult.better = p_name;
  mult.worse = q_name;
  mult.loss_better = p_loss;
  mult.loss_worse = q_loss;
  Inverse p = invert(fit, p_loss), q = invert(fit, q_loss);
  if (!p.ok()) {
    mult.why_none = p_name + ": " + p.why_none;
  } else if (!q.ok()) {
    mult.why_none = q_name + ": " + q.why_none;
  } else {
    mult.value = std::exp(*p.log_x - *q.log_x);
  }
  return mult;
}

std::string format_significant(double value, int digits) {
  if (!std::isfinite(value)) return std::isnan(value) ? "nan" : (value > 0 ? "inf" : "-inf");
  if (value == 0) return "0";
  int magnitude = static_cast<int>(std::floor(std::log10(std::fabs(value))));
  int decimals = digits - 1 - magnitude;
  char buf[64];
  if (decimals >= 0 && magnitude < 15) {
    std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  } else if (magnitude < 15) {
    std::snprintf(buf, sizeof buf, "%.0f", value);
  } else {
    std::snprintf(buf, sizeof buf, "%.*e", digits - 1, value);
  }
  return buf;
}

}  // namespace replay::analysis
