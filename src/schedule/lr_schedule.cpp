#include "schedule/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <sstream>

#include "util/error.h"

namespace replay::schedule {

namespace {
// int(fraction * N) exactly as the reference computes it in Python: a double
// product truncated toward zero (0.01 * 700 = 7.000000000000001 -> 7).
int64_t fraction_steps(double fraction, int64_t n) {
  return static_cast<int64_t>(fraction * static_cast<double>(n));
}
}  // namespace

LrShape lr_shape(const LrSchedule& s) {
  LrShape shape;
  const int64_t n = std::max<int64_t>(s.total_steps, 0);
  shape.warmup_steps = std::min(fraction_steps(s.warmup, n), n);
  const int64_t rest = n - shape.warmup_steps;
  switch (s.kind) {
    case LrKind::cosine:
      shape.decay_start = shape.warmup_steps;
      shape.decay_steps = rest;
      break;
    case LrKind::wsd:
      // Clamped so a cooldown longer than the post-warmup part never eats the
      // warmup (the analogue of the reference's cosine quirk, see the header).
      shape.decay_steps = std::min(fraction_steps(s.cooldown, n), rest);
      shape.decay_start = n - shape.decay_steps;
      break;
    case LrKind::constant:
      shape.decay_start = n;
      shape.decay_steps = 0;
      break;
  }
  return shape;
}

double lr_at(const LrSchedule& s, int64_t step) {
  const LrShape shape = lr_shape(s);
  const double peak = s.peak;
  const double floor_lr = s.min_lr_ratio * peak;
  if (step < 0) step = 0;
  if (step < shape.warmup_steps) {
    return peak * static_cast<double>(step) / static_cast<double>(shape.warmup_steps);
  }
  if (shape.decay_steps == 0 || step < shape.decay_start) return peak;
  const double t = static_cast<double>(std::min(step - shape.decay_start, shape.decay_steps));
  const double frac = t / static_cast<double>(shape.decay_steps);
  if (s.kind == LrKind::cosine) {
    return floor_lr + (peak - floor_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * frac));
  }
  return peak + (floor_lr - peak) * frac;  // wsd: linear cooldown
}

void validate(const LrSchedule& s, const std::string& where) {
  auto fail = [&](const std::string& what) { throw Error(where + ": " + what); };
  if (s.total_steps < 0) fail("schedule length must be >= 0 steps");
  if (!(s.peak > 0) || !std::isfinite(s.peak)) fail("peak lr must be a positive number");
  if (!(s.warmup >= 0 && s.warmup <= 1)) fail("warmup must be a fraction in [0, 1]");
  if (!(s.cooldown >= 0 && s.cooldown <= 1)) fail("cooldown must be a fraction in [0, 1]");
  if (!(s.min_lr_ratio >= 0 && s.min_lr_ratio <= 1)) fail("min_lr_ratio must be in [0, 1]");
}

LrKind parse_lr_kind(const std::string& text, const std::string& where) {
  if (text == "cosine") return LrKind::cosine;
  if (text == "wsd" || text == "linear") return LrKind::wsd;  // "linear" is the reference's name
  if (text == "constant") return LrKind::constant;
  throw Error(where + ": '" + text + "' is not one of cosine, wsd, constant");
}

const char* to_string(LrKind kind) {
  switch (kind) {
    case LrKind::cosine: return "cosine";
    case LrKind::wsd: return "wsd";
    case LrKind::constant: return "constant";
  }
  return "?";
}

std::string describe(const LrSchedule& s, int64_t first_step) {
  const LrShape shape = lr_shape(s);
  const int64_t a = first_step, w = first_step + shape.warmup_steps;
  const int64_t d = first_step + shape.decay_start, end = first_step + s.total_steps;
  std::ostringstream out;
  out << to_string(s.kind) << " peak " << s.peak << ": ";
  if (shape.warmup_steps > 0) out << "warmup " << a << "-" << w << ", ";
  else out << "no warmup, ";
  if (d > w) out << "constant " << w << "-" << d;
  if (shape.decay_steps > 0) {
    if (d > w) out << ", ";
    out << (s.kind == LrKind::cosine ? "cosine" : "linear") << " decay " << d << "-" << end
        << " to " << s.min_lr_ratio * s.peak;
  }
  return out.str();
}

}  // namespace replay::schedule
