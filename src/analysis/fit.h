// The paper's data-efficiency metric (spec section 5): fit the reference
// recipe's final target loss against the target pool size x with
// L(x) = A / x^B + C (or A / (x^B + D) + C), invert the fit to read off how
// much target data the reference would need to reach a schedule's loss, and
// compare schedules by the ratio of those implied pool sizes.
//
// The fit is MINPACK lmdif (Debian's cminpack) with exactly the settings
// scipy.optimize.curve_fit uses for method "lm", because that is what the
// reference implementation calls: the fits can be degenerate (B -> 0), and
// only the same optimizer with the same start and tolerances lands on the
// same degenerate optimum and hence the same multipliers.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace replay::analysis {

enum class CurveForm {
  power,          // L = A / x^B + C
  shifted_power,  // L = A / (x^B + D) + C
};
const char* curve_form_name(CurveForm form);            // "power", "shifted-power"
CurveForm parse_curve_form(const std::string& name);    // throws replay::Error

struct CurvePoint {
  double x = 0;     // target pool size (any positive unit; keep one unit per fit)
  double loss = 0;  // final target validation loss, nats/token
};

struct FitOptions {
  CurveForm form = CurveForm::power;
  // Initial guess of the spec / the reference.
  double A0 = 0.1, B0 = 0.2, C0 = 2.0, D0 = 0.001;
  // curve_fit(method="lm") defaults, with the reference's maxfev.
  int max_evaluations = 10000;
  double ftol = 1.49012e-8;
  double xtol = 1.49012e-8;
  double gtol = 0.0;
  double factor = 100.0;
  // Degeneracy thresholds: below this |B| the power law has become a
  // log-linear law (A / x^B ~ A - A B log x), see `degenerate`.
  double degenerate_b = 1e-2;
};

struct CurveFit {
  CurveForm form = CurveForm::power;
  double A = 0, B = 0, C = 0, D = 0;  // D is 0 for the plain power form
  std::vector<CurvePoint> points;  // the fitted points, in ascending x
  std::vector<double> residuals;   // observed - fitted, per point of `points`
  double rss = 0;                 // sum of squared residuals
  int evaluations = 0;            // function evaluations used
  int minpack_info = 0;           // lmdif's info code
  bool converged = false;         // info in 1..4 (curve_fit's success test)
  std::string message;            // lmdif's termination reason in words
  // B -> 0 with a huge A and a negative C: the power law degenerated into an
  // effectively log-linear one. Multipliers stay well defined but the
  // asymptote C means nothing; reports say so.
  bool degenerate = false;
  std::string degenerate_reason;

  double predict(double x) const;
};

// Fits by unweighted least squares in loss space. Throws replay::Error for
// too few points (fewer than the parameters), non-positive x or non-finite
// values. A fit that does not converge is returned with converged = false.
CurveFit fit_curve(const std::vector<CurvePoint>& points, const FitOptions& options = {});

// x(L): the pool the reference needs to reach loss L. Computed in log space
// because degenerate fits have exponents 1/B in the thousands.
struct Inverse {
  std::optional<double> log_x;  // natural log of the implied pool size
  std::string why_none;         // set when there is no inverse
  bool ok() const { return log_x.has_value(); }
  double x() const;             // exp(log_x); throws if !ok()
};
Inverse invert(const CurveFit& fit, double loss);

// Data-efficiency multiplier of schedule P over schedule Q: x(L_P) / x(L_Q).
struct Multiplier {
  std::string better, worse;  // P and Q
  double loss_better = 0, loss_worse = 0;
  std::optional<double> value;  // unset when either loss has no inverse
  std::string why_none;
};
Multiplier multiplier(const CurveFit& fit, const std::string& p_name, double p_loss,
                      const std::string& q_name, double q_loss);

// Formats a number to `digits` significant digits ("1.490", "6.368").
std::string format_significant(double value, int digits);

}  // namespace replay::analysis
