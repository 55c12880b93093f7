// The paper's data-efficiency metric (spec section 5): fit the reference
// recipe's final target loss against the target pool size x with
// L(x) = A / x^B + C (or A / (x^B + D) + C), invert the fit to read off how
// much target data the reference would need to reach a schedule's loss, and
// compare schedules by the ratio of those implied pool sizes.
//
// Fitting. Both methods are MINPACK lmdif (Debian's cminpack) with the
// settings scipy.optimize.curve_fit uses for method "lm":
//   reference   one run from the reference's start (A, B, C) = (0.1, 0.2, 2.0),
//               exactly what the reference implementation does. The fits can be
//               degenerate (B -> 0), and only the same optimizer with the same
//               start and tolerances lands on the same degenerate optimum and
//               hence the paper's multipliers. Nothing keeps B > 0: on some
//               points it returns a law that rises with more data.
//   multistart  (default) the reference's run, plus one run per exponent of
//               FitOptions::start_exponents (B0 in (0, 3]) with A and C set by
//               linear least squares at that B0 and B parameterized as exp(b),
//               so those runs keep B > 0. Of the runs that end on a falling
//               law (A > 0, B > 0, see Validity), the one with the lowest
//               residual sum of squares is kept (the earliest on exact ties). Since the reference's run is one
//               of them, the kept fit is never worse than the reference's
//               whenever the reference's is usable.
// On the spec's FineMath vector the least-squares problem has no minimum with
// B > 0: the residual keeps falling along a valley towards B -> 0 (a
// log-linear law, whose multipliers are 1.4904, 1.8547, 2.4943, 6.3700), and
// where each run stops on that valley depends on its start. Both methods stop
// at B ~ 1e-4 and print the same 4-digit multipliers (1.490, 1.855, 2.494,
// 6.368); tests/analysis/fit_test.cpp pins both and their difference.
//
// Validity. A fit gives multipliers only if it is usable: finite parameters,
// A > 0 and B > 0 (for the shifted form also x^B + D > 0 at every reference
// x), so that the law falls as x grows, AND the reference points themselves
// fall: the mean loss at each pool size must not rise from one pool size to
// the next larger one. Otherwise invert() and multiplier() return no value,
// naming the reason (e.g. "loss rises from 5.140 at x=1/256 to 5.141 at
// x=1/128"). For a usable fit x(L) falls strictly with L, so a multiplier is
// above 1 exactly when P's loss is below Q's.
//
// Extrapolation. An implied pool more than FitOptions::extrapolation_factor
// (4) times beyond the largest reference pool, or below the smallest, is read
// off the law far outside the points it was fitted to; the Inverse and any
// Multiplier using it carry a flag and a sentence saying so, which every
// printout shows.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "analysis/stats.h"

namespace replay::analysis {

enum class CurveForm {
  power,          // L = A / x^B + C
  shifted_power,  // L = A / (x^B + D) + C
};
const char* curve_form_name(CurveForm form);            // "power", "shifted-power"
CurveForm parse_curve_form(const std::string& name);    // throws replay::Error

enum class FitMethod {
  multistart,  // the reference's start plus a grid of starts with B > 0; lowest residual kept
  reference,   // the reference implementation's single start (reproduces the paper)
};
const char* fit_method_name(FitMethod method);          // "multistart", "reference"
FitMethod parse_fit_method(const std::string& name);    // throws replay::Error

struct CurvePoint {
  double x = 0;     // target pool size (any positive unit; keep one unit per fit)
  double loss = 0;  // final target validation loss, nats/token
};

struct FitOptions {
  CurveForm form = CurveForm::power;
  FitMethod method = FitMethod::multistart;
  // The reference's start: the only start of the reference method and the
  // first of the multistart.
  double A0 = 0.1, B0 = 0.2, C0 = 2.0, D0 = 0.001;
  // Multistart: one more start per exponent (A, C by linear least squares
  // at that exponent, D = D0).
  std::vector<double> start_exponents = {0.01, 0.02, 0.05, 0.1, 0.2, 0.3,
                                         0.5,  0.7,  1.0,  1.5, 2.0, 3.0};
  // curve_fit(method="lm") defaults, with the reference's maxfev, per start.
  int max_evaluations = 10000;
  double ftol = 1.49012e-8;
  double xtol = 1.49012e-8;
  double gtol = 0.0;
  double factor = 100.0;
  // Degeneracy thresholds: below this |B| the power law has become a
  // log-linear law (A / x^B ~ A - A B log x), see `degenerate`.
  double degenerate_b = 1e-2;
  // Implied pools beyond this factor outside the reference range are flagged.
  double extrapolation_factor = 4.0;
};

struct CurveFit {
  CurveForm form = CurveForm::power;
  FitMethod method = FitMethod::multistart;
  double A = 0, B = 0, C = 0, D = 0;  // D is 0 for the plain power form
  std::vector<CurvePoint> points;  // the fitted points, in ascending x
  std::vector<double> residuals;   // observed - fitted, per point of `points`
  double rss = 0;                 // sum of squared residuals
  int evaluations = 0;            // function evaluations of the kept run
  int minpack_info = 0;           // lmdif's info code of the kept run
  bool converged = false;         // info in 1..4 (curve_fit's success test)
  std::string message;            // lmdif's termination reason in words
  int starts = 1;                 // lmdif runs tried
  std::string start;              // the start of the kept run, in words
  // B -> 0 with a huge A and a negative C: the power law degenerated into an
  // effectively log-linear one. Multipliers stay well defined but the
  // asymptote C means nothing; reports say so.
  bool degenerate = false;
  std::string degenerate_reason;
  // The one rule every consumer uses (see the header comment): false means
  // no inverse and no multiplier, and unusable_reason says why.
  bool usable_for_multipliers = false;
  std::string unusable_reason;
  double extrapolation_factor = 4.0;  // from FitOptions

  double predict(double x) const;
  double min_x() const;  // smallest and largest reference pool
  double max_x() const;
};

// Fits by unweighted least squares in loss space. Throws replay::Error for
// too few points (fewer than the parameters), non-positive x or non-finite
// values. A fit that does not converge is returned with converged = false;
// one that cannot give multipliers with usable_for_multipliers = false.
CurveFit fit_curve(const std::vector<CurvePoint>& points, const FitOptions& options = {});

// x(L): the pool the reference needs to reach loss L. Computed in log space
// because degenerate fits have exponents 1/B in the thousands.
struct Inverse {
  std::optional<double> log_x;  // natural log of the implied pool size
  std::string why_none;         // set when there is no inverse
  bool extrapolated = false;    // far outside the reference pools (see header comment)
  std::string extrapolation;    // "implied pool 0.000196 is 5.0x below the smallest ..."
  bool ok() const { return log_x.has_value(); }
  double x() const;             // exp(log_x); throws if !ok()
};
Inverse invert(const CurveFit& fit, double loss);

// Data-efficiency multiplier of schedule P over schedule Q: x(L_P) / x(L_Q).
// Above 1 exactly when P's loss is below Q's.
struct Multiplier {
  std::string p, q;  // the two schedules, as given
  double loss_p = 0, loss_q = 0;
  std::optional<double> value;  // unset when the fit is unusable or a loss has no inverse
  std::string why_none;
  bool extrapolated = false;    // either implied pool is an extrapolation
  std::string extrapolation;    // which one, and how far
  // Uncertainty (bootstrap.h, efficiency.h). The per-seed losses behind
  // loss_p and loss_q (their means); empty for a number typed on the command
  // line. `interval` is the 95% interval of `value`; without one,
  // interval_note says why ("one seed: no interval"), or is empty when
  // nobody tried. `paired`: loss_p - loss_q over the seeds P and Q share.
  std::vector<SeedLoss> seeds_p, seeds_q;
  // With one seed each: their final target loss per validation sequence,
  // for the bootstrap over sequences (empty when not recorded).
  std::vector<double> sequences_p, sequences_q;
  std::optional<Interval> interval;
  std::string interval_note;
  std::optional<PairedDifference> paired;
  // The rule every printout follows: an interval that includes 1 means the
  // data cannot tell P from Q.
  bool no_measurable_effect() const { return value && interval && interval->contains(1.0); }
};
Multiplier multiplier(const CurveFit& fit, const std::string& p_name, double p_loss,
                      const std::string& q_name, double q_loss);

// The printed forms, shared by `replay fit`, `replay report` and the demo so
// that no printout can show a number the others would refuse:
//   multiplier_value_text: "no multiplier can be computed: WHY"; with an
//     interval that includes 1 "no measurable effect (interval [0.91, 1.12])"
//     (never the number alone); with another interval
//     "1.490x (95% interval [1.31, 1.70])"; without one "1.490x"
//   multiplier_line: "P over Q: 1.490x (target loss 3.9026 vs 3.9942)", plus
//     "; EXTRAPOLATED: ..." when flagged, "; one seed: no interval" (the
//     interval note) and "; paired target loss difference ..." when known
//   difference_text: "paired target loss difference -0.0890 ± 0.0050 over
//     3 shared seeds (95% [...]): measurable" (or "within noise"; over the
//     validation sequences of one seed when there are no shared seeds), ""
//     when unknown
std::string multiplier_value_text(const Multiplier& m);
std::string multiplier_line(const Multiplier& m);
std::string difference_text(const Multiplier& m);
// The lines of a set of comparisons: one multiplier_line per comparison;
// when the fit is unusable (or absent: why_missing), one "no multiplier can
// be computed: WHY" line, then "P vs Q (target loss ...); difference_text"
// for each comparison whose difference is known: the losses still say which
// effects the data can resolve.
std::vector<std::string> multiplier_lines(const CurveFit* fit, const std::vector<Multiplier>& comparisons,
                                          const std::string& why_missing = "no reference fit");

// Formats a number to `digits` significant digits ("1.490", "6.368").
std::string format_significant(double value, int digits);
// A pool size as the spec writes it: "1/256" for unit fractions, else "%.6g".
std::string format_pool(double x);

}  // namespace replay::analysis
