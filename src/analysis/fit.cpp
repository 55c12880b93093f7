#include "analysis/fit.h"

#include <cminpack.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

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

const char* fit_method_name(FitMethod method) {
  return method == FitMethod::multistart ? "multistart" : "reference";
}

FitMethod parse_fit_method(const std::string& name) {
  if (name == "multistart") return FitMethod::multistart;
  if (name == "reference") return FitMethod::reference;
  throw Error("unknown fit method '" + name + "' (expected multistart or reference)");
}

namespace {

double model(CurveForm form, const double* p, double x) {
  if (form == CurveForm::power) return p[0] / std::pow(x, p[1]) + p[2];
  return p[0] / (std::pow(x, p[1]) + p[3]) + p[2];
}

struct Problem {
  CurveForm form;
  const std::vector<CurvePoint>* points;
  bool log_b;  // the optimizer sees b = log B, which keeps B > 0
};

// lmdif callback. curve_fit minimizes f(x) - y; the sign does not change the
// iterates, but we keep it identical anyway.
int residual_fn(void* p, int m, int n, const double* params, double* fvec, int iflag) {
  const auto& problem = *static_cast<const Problem*>(p);
  double natural[4] = {params[0], params[1], params[2], n == 4 ? params[3] : 0.0};
  if (problem.log_b) natural[1] = std::exp(params[1]);
  for (int i = 0; i < m; ++i) {
    const auto& pt = (*problem.points)[i];
    fvec[i] = model(problem.form, natural, pt.x) - pt.loss;
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

// One lmdif run; params are natural (A, B, C[, D]) in and out.
struct LmRun {
  std::vector<double> params;
  int info = 0, nfev = 0;
  double rss = 0;
  std::string start;
};

LmRun run_lmdif(const std::vector<CurvePoint>& sorted, const FitOptions& options,
                std::vector<double> params, bool log_b, std::string start) {
  const int m = static_cast<int>(sorted.size()), n = static_cast<int>(params.size());
  if (log_b) params[1] = std::log(params[1]);
  std::vector<double> fvec(m), diag(n), fjac(static_cast<size_t>(m) * n), qtf(n), wa1(n), wa2(n),
      wa3(n), wa4(m);
  std::vector<int> ipvt(n);
  LmRun run;
  Problem problem{options.form, &sorted, log_b};
  // mode 1 (MINPACK scales the variables itself), nprint 0, epsfcn 0 (=
  // machine precision, what scipy passes for epsfcn=None).
  run.info = lmdif(residual_fn, &problem, m, n, params.data(), fvec.data(), options.ftol,
                   options.xtol, options.gtol, options.max_evaluations, 0.0, diag.data(), 1,
                   options.factor, 0, &run.nfev, fjac.data(), m, ipvt.data(), qtf.data(),
                   wa1.data(), wa2.data(), wa3.data(), wa4.data());
  if (log_b) params[1] = std::exp(params[1]);
  for (const auto& pt : sorted) {
    double r = pt.loss - model(options.form, params.data(), pt.x);
    run.rss += r * r;
  }
  if (!std::isfinite(run.rss)) run.rss = std::numeric_limits<double>::infinity();
  run.params = std::move(params);
  run.start = std::move(start);
  return run;
}

// With B (and D) fixed the law is linear in A and C: the least-squares A, C
// make a start that already sits in the right valley. Unset when A <= 0.
std::optional<std::vector<double>> linear_start(const std::vector<CurvePoint>& pts,
                                                const FitOptions& options, double b) {
  double m = static_cast<double>(pts.size()), su = 0, sy = 0, suu = 0, suy = 0;
  for (const auto& pt : pts) {
    double u = options.form == CurveForm::power ? std::pow(pt.x, -b)
                                                : 1.0 / (std::pow(pt.x, b) + options.D0);
    su += u, sy += pt.loss, suu += u * u, suy += u * pt.loss;
  }
  double det = m * suu - su * su;
  if (!(det > 1e-12 * m * suu)) return std::nullopt;
  double a = (m * suy - su * sy) / det, c = (sy - a * su) / m;
  if (!(a > 0) || !std::isfinite(a) || !std::isfinite(c)) return std::nullopt;
  std::vector<double> p = {a, b, c};
  if (options.form == CurveForm::shifted_power) p.push_back(options.D0);
  return p;
}

// Why these parameters describe no law that falls with more data ("" = they do).
std::string parameter_problem(CurveForm form, const std::vector<double>& p,
                              const std::vector<CurvePoint>& sorted) {
  char buf[200];
  for (double v : p)
    if (!std::isfinite(v)) return "the fit has non-finite parameters";
  if (!(p[0] > 0)) {
    std::snprintf(buf, sizeof buf, "A = %.4g is not positive: the fitted law does not fall with more data", p[0]);
    return buf;
  }
  if (!(p[1] > 0)) {
    std::snprintf(buf, sizeof buf, "B = %.4g is not positive: the fitted law does not fall with more data", p[1]);
    return buf;
  }
  if (form == CurveForm::shifted_power)
    for (const auto& pt : sorted)
      if (!(std::pow(pt.x, p[1]) + p[3] > 0)) {
        std::snprintf(buf, sizeof buf, "x^B + D is not positive at x = %s: the law has a pole among the reference pools",
                      format_pool(pt.x).c_str());
        return buf;
      }
  return "";
}

// Two losses with just enough decimals to tell them apart ("5.140", "5.141").
std::pair<std::string, std::string> distinct(double a, double b) {
  char x[40], y[40];
  for (int d = 3;; ++d) {
    std::snprintf(x, sizeof x, "%.*f", d, a);
    std::snprintf(y, sizeof y, "%.*f", d, b);
    if (std::string(x) != y || d >= 10) return {x, y};
  }
}

// Where the reference points rise with more data: compares the mean loss at
// each pool size with the next larger pool size's ("" = they never rise).
std::string rising_points(const std::vector<CurvePoint>& sorted) {
  std::vector<std::pair<double, double>> means;  // (x, mean loss)
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i;
    double sum = 0;
    for (; j < sorted.size() && sorted[j].x == sorted[i].x; ++j) sum += sorted[j].loss;
    means.emplace_back(sorted[i].x, sum / static_cast<double>(j - i));
    i = j;
  }
  std::string out;
  for (size_t i = 0; i + 1 < means.size(); ++i) {
    if (!(means[i + 1].second > means[i].second)) continue;
    auto [lo, hi] = distinct(means[i].second, means[i + 1].second);
    out += (out.empty() ? "" : "; ") + std::string("loss rises from ") + lo + " at x=" +
           format_pool(means[i].first) + " to " + hi + " at x=" + format_pool(means[i + 1].first);
  }
  return out;
}

// The kept run: lowest residual among the runs with a falling law, the
// earliest on ties (the reference's run is first); if none falls, the
// lowest residual of all (it will be marked unusable).
const LmRun& keep_best(const std::vector<LmRun>& runs, CurveForm form,
                       const std::vector<CurvePoint>& sorted) {
  const LmRun* best = nullptr;
  for (bool need_valid : {true, false}) {
    for (const auto& r : runs) {
      if (need_valid && !parameter_problem(form, r.params, sorted).empty()) continue;
      if (!best || r.rss < best->rss) best = &r;
    }
    if (best) return *best;
  }
  return runs.front();
}

void judge(CurveFit& fit, const FitOptions& options) {
  std::vector<double> p = {fit.A, fit.B, fit.C};
  if (fit.form == CurveForm::shifted_power) p.push_back(fit.D);
  std::string why = parameter_problem(fit.form, p, fit.points);
  std::string rises = rising_points(fit.points);
  if (!rises.empty())
    why += (why.empty() ? "" : "; ") + std::string("the reference points do not fall with more data: ") + rises;
  fit.usable_for_multipliers = why.empty();
  fit.unusable_reason = why;

  std::string reason;
  if (std::isfinite(fit.B) && std::fabs(fit.B) < options.degenerate_b) {
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
  fit.degenerate = !reason.empty();
  fit.degenerate_reason = reason;
}

CurveFit make_fit(const LmRun& kept, const std::vector<CurvePoint>& sorted, const FitOptions& options,
                  int starts) {
  CurveFit fit;
  fit.form = options.form;
  fit.method = options.method;
  fit.A = kept.params[0];
  fit.B = kept.params[1];
  fit.C = kept.params[2];
  fit.D = kept.params.size() == 4 ? kept.params[3] : 0.0;
  fit.points = sorted;
  fit.evaluations = kept.nfev;
  fit.minpack_info = kept.info;
  fit.converged = kept.info >= 1 && kept.info <= 4;
  fit.message = info_message(kept.info);
  fit.starts = starts;
  fit.start = kept.start;
  fit.extrapolation_factor = options.extrapolation_factor;
  for (const auto& pt : sorted) {
    double r = pt.loss - fit.predict(pt.x);
    fit.residuals.push_back(r);
    fit.rss += r * r;
  }
  judge(fit, options);
  return fit;
}

}  // namespace

double CurveFit::predict(double x) const {
  double p[4] = {A, B, C, D};
  return model(form, p, x);
}

double CurveFit::min_x() const {
  return points.empty() ? std::numeric_limits<double>::quiet_NaN() : points.front().x;
}

double CurveFit::max_x() const {
  return points.empty() ? std::numeric_limits<double>::quiet_NaN() : points.back().x;
}

CurveFit fit_curve(const std::vector<CurvePoint>& points, const FitOptions& options) {
  const int n = options.form == CurveForm::power ? 3 : 4;
  const int m = static_cast<int>(points.size());
  if (m < n)
    throw Error("curve fit (" + std::string(curve_form_name(options.form)) + ") needs at least " +
                std::to_string(n) + " reference points, got " + std::to_string(m));
  std::set<double> xs;
  for (const auto& pt : points) xs.insert(pt.x);
  if (static_cast<int>(xs.size()) < n)
    throw Error("curve fit (" + std::string(curve_form_name(options.form)) + ") needs at least " +
                std::to_string(n) + " distinct pool sizes, got " + std::to_string(xs.size()) + " among " +
                std::to_string(m) + " points: the curve is not determined");
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

  std::vector<double> reference_start = {options.A0, options.B0, options.C0};
  if (n == 4) reference_start.push_back(options.D0);
  char words[160];
  std::snprintf(words, sizeof words, "the reference's start A = %g, B = %g, C = %g", options.A0,
                options.B0, options.C0);
  std::vector<LmRun> runs = {run_lmdif(sorted, options, reference_start, false, words)};
  if (options.method == FitMethod::multistart) {
    for (double b : options.start_exponents) {
      if (!(b > 0)) throw Error("curve fit: start exponent " + std::to_string(b) + " is not positive");
      auto start = linear_start(sorted, options, b);
      if (!start) continue;
      std::snprintf(words, sizeof words, "B = %g with A, C by linear least squares, B kept positive", b);
      runs.push_back(run_lmdif(sorted, options, *start, true, words));
    }
  }
  return make_fit(keep_best(runs, options.form, sorted), sorted, options, static_cast<int>(runs.size()));
}

double Inverse::x() const {
  if (!log_x) throw Error("no inverse: " + why_none);
  return std::exp(*log_x);
}

namespace {

// Flags an implied pool (log) far outside the reference pools.
void check_extrapolation(const CurveFit& fit, Inverse& inv) {
  double lo = std::log(fit.min_x()), hi = std::log(fit.max_x());
  double margin = std::log(fit.extrapolation_factor);
  char buf[200];
  if (*inv.log_x > hi + margin) {
    std::snprintf(buf, sizeof buf, "implied pool %.3g is %.3gx the largest reference pool %s", inv.x(),
                  std::exp(*inv.log_x - hi), format_pool(fit.max_x()).c_str());
  } else if (*inv.log_x < lo - margin) {
    std::snprintf(buf, sizeof buf, "implied pool %.3g is %.3gx below the smallest reference pool %s",
                  inv.x(), std::exp(lo - *inv.log_x), format_pool(fit.min_x()).c_str());
  } else {
    return;
  }
  inv.extrapolated = true;
  inv.extrapolation = buf;
}

}  // namespace

Inverse invert(const CurveFit& fit, double loss) {
  Inverse inv;
  char buf[200];
  if (!fit.usable_for_multipliers) {
    inv.why_none = "the reference fit is unusable: " + fit.unusable_reason;
    return inv;
  }
  if (!std::isfinite(loss)) {
    inv.why_none = "loss is not finite";
    return inv;
  }
  double excess = loss - fit.C;
  if (excess <= 0) {
    std::snprintf(buf, sizeof buf, "loss %.5g is at or below the fitted asymptote C = %.5g", loss,
                  fit.C);
    inv.why_none = buf;
    return inv;
  }
  // x^B = A / (L - C) - D; the right side must be positive to have a root.
  double rhs = fit.A / excess - fit.D;
  if (!(rhs > 0) || !std::isfinite(rhs)) {
    std::snprintf(buf, sizeof buf, "loss %.5g is outside the range of the fitted curve", loss);
    inv.why_none = buf;
    return inv;
  }
  // log(A / e - D) without forming a ratio that overflows for huge A.
  double log_rhs = fit.D == 0 ? std::log(fit.A) - std::log(excess) : std::log(rhs);
  double log_x = log_rhs / fit.B;
  if (!std::isfinite(log_x) || std::fabs(log_x) > 700) {
    std::snprintf(buf, sizeof buf, "loss %.5g maps to a pool size beyond floating-point range", loss);
    inv.why_none = buf;
    return inv;
  }
  inv.log_x = log_x;
  check_extrapolation(fit, inv);
  return inv;
}

Multiplier multiplier(const CurveFit& fit, const std::string& p_name, double p_loss,
                      const std::string& q_name, double q_loss) {
  Multiplier mult;
  mult.p = p_name;
  mult.q = q_name;
  mult.loss_p = p_loss;
  mult.loss_q = q_loss;
  Inverse p = invert(fit, p_loss), q = invert(fit, q_loss);
  if (!fit.usable_for_multipliers) {
    mult.why_none = p.why_none;  // about the fit, not about either schedule
  } else if (!p.ok()) {
    mult.why_none = p_name + ": " + p.why_none;
  } else if (!q.ok()) {
    mult.why_none = q_name + ": " + q.why_none;
  } else {
    mult.value = std::exp(*p.log_x - *q.log_x);
    for (const auto& [name, inv] : {std::pair{&p_name, &p}, std::pair{&q_name, &q}}) {
      if (!inv->extrapolated) continue;
      mult.extrapolated = true;
      mult.extrapolation += (mult.extrapolation.empty() ? "" : "; ") + *name + ": " + inv->extrapolation;
    }
  }
  return mult;
}

std::string multiplier_value_text(const Multiplier& m) {
  if (!m.value) return "no multiplier can be computed: " + m.why_none;
  if (!m.interval) return format_significant(*m.value, 4) + "x";
  std::string range = "[" + format_significant(m.interval->lo, 3) + ", " + format_significant(m.interval->hi, 3) + "]";
  if (m.no_measurable_effect()) return "no measurable effect (interval " + range + ")";
  return format_significant(*m.value, 4) + "x (95% interval " + range + ")";
}

std::string multiplier_line(const Multiplier& m) {
  char losses[96];
  std::snprintf(losses, sizeof losses, " (target loss %.5f vs %.5f)", m.loss_p, m.loss_q);
  std::string line = m.p + " over " + m.q + ": " + multiplier_value_text(m) + losses;
  if (m.extrapolated) line += "; EXTRAPOLATED: " + m.extrapolation;
  if (m.value && !m.interval && !m.interval_note.empty()) line += "; " + m.interval_note;
  if (m.paired) line += "; " + difference_text(m);
  return line;
}

std::string difference_text(const Multiplier& m) {
  if (!m.paired) return "";
  return std::string("paired target loss difference ") + paired_text(*m.paired) + ": " + paired_verdict(*m.paired);
}

std::vector<std::string> multiplier_lines(const CurveFit* fit, const std::vector<Multiplier>& comparisons,
                                          const std::string& why_missing) {
  std::vector<std::string> lines;
  if (fit && fit->usable_for_multipliers) {
    for (const auto& m : comparisons) lines.push_back(multiplier_line(m));
    return lines;
  }
  lines.push_back("no multiplier can be computed: " + (fit ? fit->unusable_reason : why_missing));
  char losses[96];
  for (const auto& m : comparisons) {  // the losses still compare, with their noise
    if (!m.paired) continue;
    std::snprintf(losses, sizeof losses, " (target loss %.5f vs %.5f); ", m.loss_p, m.loss_q);
    lines.push_back(m.p + " vs " + m.q + losses + difference_text(m));
  }
  return lines;
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

std::string format_pool(double x) {
  char buf[64];
  if (x > 0 && x < 1) {
    double k = std::round(1.0 / x);
    if (k < 1e9 && std::fabs(1.0 / x - k) <= 1e-9 * k) {
      std::snprintf(buf, sizeof buf, "1/%.0f", k);
      return buf;
    }
  }
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return buf;
}

}  // namespace replay::analysis
