#include "schedule/paper.h"

#include <cmath>
#include <sstream>

#include "util/error.h"

namespace replay::schedule {

namespace {
// Tolerance for "these real numbers agree": knobs come from TOML decimals
// such as 0.0009765625 or 1/24 written as 0.041666666666666664.
constexpr double kTol = 1e-9;

std::string num(double v) {
  std::ostringstream out;
  out.precision(10);
  out << v;
  return out.str();
}
}  // namespace

PaperSchedule derive_paper_schedule(const PaperKnobs& k, int64_t steps, int64_t batch_size,
                                    const std::string& where) {
  auto fail = [&](const std::string& what) { throw Error(where + ": " + what); };
  if (steps <= 0) fail("train.steps must be > 0");
  if (batch_size <= 0) fail("train.batch_size must be > 0");
  if (!(k.f > 0) || !std::isfinite(k.f)) fail("f (target pool fraction) must be > 0, got " + num(k.f));
  if (!(k.e > 0) || !std::isfinite(k.e)) fail("e (repetitions) must be > 0, got " + num(k.e));
  PaperSchedule p;
  p.f = k.f;
  p.e = k.e;
  p.gamma = k.f * k.e;
  if (p.gamma > 1 + kTol)
    fail("gamma = f * e = " + num(p.gamma) + " > 1: the target would need more than the whole run");

  const int given = k.rho.has_value() + k.alpha.has_value() + k.delta.has_value();
  if (given < 2) fail("give two of rho, alpha, delta (got " + std::to_string(given) + ")");
  auto check_unit = [&](const char* name, std::optional<double> v) {
    if (v && !(*v >= 0 && *v <= 1)) fail(std::string(name) + " must be in [0, 1], got " + num(*v));
  };
  check_unit("rho", k.rho);
  check_unit("alpha", k.alpha);
  check_unit("delta", k.delta);

  if (k.rho && k.alpha) {
    if (*k.rho >= 1) fail("rho = 1 leaves no room for target data in stage 2");
    p.rho = *k.rho;
    p.alpha = *k.alpha;
    p.delta = p.gamma * p.alpha / (1 - p.rho);
    if (k.delta && std::fabs(*k.delta - p.delta) > kTol)
      fail("rho, alpha and delta are inconsistent: gamma alpha / (1 - rho) = " + num(p.delta) +
           " but delta = " + num(*k.delta));
  } else if (k.alpha && k.delta) {
    p.alpha = *k.alpha;
    p.delta = *k.delta;
    if (p.delta <= 0) {
      if (p.alpha > 0) fail("delta = 0 (no stage 2) but alpha = " + num(p.alpha) + " > 0");
      p.rho = 0;
    } else {
      p.rho = 1 - p.gamma * p.alpha / p.delta;
    }
  } else {
    p.rho = *k.rho;
    p.delta = *k.delta;
    if (p.rho >= 1) fail("rho = 1 leaves no room for target data in stage 2");
    p.alpha = p.delta * (1 - p.rho) / p.gamma;
  }
  if (!(p.delta >= 0 && p.delta <= 1 + kTol))
    fail("derived delta = " + num(p.delta) + " is outside [0, 1]");
  if (!(p.alpha >= 0 && p.alpha <= 1 + kTol))
    fail("derived alpha = " + num(p.alpha) + " is outside [0, 1]");
  if (!(p.rho >= -kTol && p.rho < 1))
    fail("derived rho = " + num(p.rho) + " is outside [0, 1)");

  p.w2 = 1 - p.rho;
  p.w1 = p.delta >= 1 ? 0.0 : p.gamma * (1 - p.alpha) / (1 - p.delta);
  if (!(p.w1 >= 0 && p.w1 <= 1 + kTol)) fail("stage-1 target weight w1 = " + num(p.w1) + " is outside [0, 1]");
  if (!(p.w2 >= 0 && p.w2 <= 1 + kTol)) fail("stage-2 target weight w2 = " + num(p.w2) + " is outside [0, 1]");
  const double invariant = p.w1 * (1 - p.delta) + p.w2 * p.delta;
  if (std::fabs(invariant - p.gamma) > 1e-7)
    fail("w1 (1 - delta) + w2 delta = " + num(invariant) + " differs from gamma = " + num(p.gamma) +
         " (with delta = 1 all target data must be in stage 2: alpha = 1)");

  // The reference: int((1 - delta) * N) in Python, then rounded down to even.
  const int64_t truncated = static_cast<int64_t>((1 - p.delta) * static_cast<double>(steps));
  p.boundary_step = 2 * (truncated / 2);
  p.stage2_steps = steps - p.boundary_step;

  p.pool_exact = p.f * static_cast<double>(steps) * static_cast<double>(batch_size);
  p.pool = std::llround(p.pool_exact);
  if (p.pool < 1 || std::fabs(p.pool_exact - static_cast<double>(p.pool)) > 1e-6 * std::max(1.0, p.pool_exact))
    fail("f * steps * batch_size = " + num(p.pool_exact) + " is not a whole number of sequences");
  const double target = static_cast<double>(p.pool) * p.e;
  p.target_sequences = std::llround(target);
  if (std::fabs(target - static_cast<double>(p.target_sequences)) > 1e-6 * std::max(1.0, target))
    fail("pool * e = " + num(target) + " is not a whole number of sequences");
  return p;
}

StageWeights exact_stage_weights(const PaperSchedule& p, int64_t steps, int64_t batch_size,
                                 const std::string& where) {
  StageWeights w;
  const int64_t n1 = p.boundary_step * batch_size, n2 = p.stage2_steps * batch_size;
  w.stage2_target = n2 > 0 ? std::llround(p.alpha * static_cast<double>(p.target_sequences)) : 0;
  w.stage1_target = p.target_sequences - w.stage2_target;
  if (w.stage1_target > 0 && n1 == 0) w.stage2_target += w.stage1_target, w.stage1_target = 0;
  w.w1 = n1 > 0 ? static_cast<double>(w.stage1_target) / static_cast<double>(n1) : 0.0;
  w.w2 = n2 > 0 ? static_cast<double>(w.stage2_target) / static_cast<double>(n2) : 0.0;
  if (w.w1 > 1 || w.w2 > 1) {
    throw Error(where + ": the rounded stage lengths (" + std::to_string(p.boundary_step) + " + " +
                std::to_string(p.stage2_steps) + " steps) cannot hold the target exposure " +
                std::to_string(p.target_sequences) + " (weights " + num(w.w1) + ", " + num(w.w2) + ")");
  }
  return w;
}

}  // namespace replay::schedule
