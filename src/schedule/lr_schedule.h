// Learning-rate schedules with the exact semantics of the reference (Levanter
// as used by Marin): a pure function of (schedule, step), so resume and any
// number of ranks agree without carrying state.
//
// Index convention (checked against Levanter's OptimizerConfig.lr_scheduler,
// which builds optax schedules joined at integer boundaries): `step` is the
// number of updates already applied, so the first update uses lr_at(s, 0).
//   warmup W = int(warmup * N)            (0.01 * N truncated: N < 100 -> W = 0)
//   s <  W          lr = peak * s / W     (optax.linear_schedule(0, peak, W); lr(0) = 0)
//   cosine, s >= W  t = s - W, D = N - W
//                   lr = min + (peak - min) * 0.5 * (1 + cos(pi * min(t, D) / D))
//   wsd,    C = int(cooldown * N) decay steps, stable until E = N - C:
//                   W <= s < E: lr = peak;  s >= E: lr = peak + (min - peak) * min(s - E, C) / C
//                   (N = 1024, cooldown 0.1: warmup 0-10, constant 10-922, decay 922-1024)
//   constant        lr = peak after warmup
// with min = min_lr_ratio * peak. The decay reaches `min` at step N, one past
// the last update (optax counts from 0 and clamps at the decay length), so the
// last update N-1 still uses a small positive LR when min_lr_ratio = 0.
//
// Reference quirk, NOT reproduced: Levanter computes the stable length as
// N - W - decay_steps; with lr_schedule = cosine and decay = 1.0 that is -W,
// a nonzero stable piece whose join boundary lands at step 0, so optax's
// join_schedules overrides the warmup and runs the cosine over all N steps
// from lr(0) = peak: the warmup silently disappears. Here the decay length is
// clamped to N - W, so cosine always warms up for W steps and then decays over
// the remaining N - W steps (the intended behaviour, as the paper describes).
#pragma once
#include <cstdint>
#include <string>

namespace replay::schedule {

enum class LrKind { cosine, wsd, constant };

struct LrSchedule {
  LrKind kind = LrKind::cosine;
  double peak = 3e-3;           // peak learning rate
  int64_t total_steps = 0;      // N: steps this schedule spans
  double warmup = 0.01;         // fraction of N (truncated to whole steps)
  double cooldown = 0.1;        // wsd only: fraction of N spent decaying (0 = constant)
  double min_lr_ratio = 0.0;    // the decay floor, as a fraction of the peak
};

// The integer landmarks of a schedule, for printing and tests.
struct LrShape {
  int64_t warmup_steps = 0;  // [0, warmup_steps): linear warmup
  int64_t decay_start = 0;   // first step of the decay (== warmup_steps for cosine)
  int64_t decay_steps = 0;   // length of the decay (0 = none: constant)
};

LrShape lr_shape(const LrSchedule& s);

// LR for the update after `step` updates; step may exceed N (stays at the end value).
double lr_at(const LrSchedule& s, int64_t step);

// Throws replay::Error naming `where` for impossible values (negative steps,
// fractions outside [0, 1], non-positive peak).
void validate(const LrSchedule& s, const std::string& where);

LrKind parse_lr_kind(const std::string& text, const std::string& where);
const char* to_string(LrKind kind);

// "wsd peak 3e-3: warmup 0-10, constant 10-922, linear decay 922-1024 to 0"
std::string describe(const LrSchedule& s, int64_t first_step = 0);

}  // namespace replay::schedule
