// LR schedules at every boundary, against the reference's index conventions.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "schedule/lr_schedule.h"
#include "util/error.h"

using namespace replay::schedule;

namespace {
LrSchedule make(LrKind kind, int64_t n, double cooldown = 0.1, double min_ratio = 0.0) {
  LrSchedule s;
  s.kind = kind;
  s.peak = 3e-3;
  s.total_steps = n;
  s.cooldown = cooldown;
  s.min_lr_ratio = min_ratio;
  return s;
}
constexpr double kPeak = 3e-3;
}  // namespace

TEST(LrSchedule, WsdPaperMidTrainingN1024) {
  // Spec: N = 1024, cooldown 0.1: warmup 0-10, constant 10-922, decay 922-1024.
  const LrSchedule s = make(LrKind::wsd, 1024);
  const LrShape shape = lr_shape(s);
  EXPECT_EQ(shape.warmup_steps, 10);
  EXPECT_EQ(shape.decay_start, 922);
  EXPECT_EQ(shape.decay_steps, 102);
  EXPECT_DOUBLE_EQ(lr_at(s, 0), 0.0);  // optax linear warmup from 0: the first update has lr 0
  EXPECT_DOUBLE_EQ(lr_at(s, 1), kPeak / 10);
  EXPECT_DOUBLE_EQ(lr_at(s, 5), kPeak / 2);
  EXPECT_DOUBLE_EQ(lr_at(s, 9), kPeak * 9 / 10);
  EXPECT_DOUBLE_EQ(lr_at(s, 10), kPeak);
  EXPECT_DOUBLE_EQ(lr_at(s, 500), kPeak);
  EXPECT_DOUBLE_EQ(lr_at(s, 921), kPeak);
  EXPECT_DOUBLE_EQ(lr_at(s, 922), kPeak);  // decay count 0
  EXPECT_NEAR(lr_at(s, 923), kPeak * (1 - 1.0 / 102), 1e-15);
  EXPECT_NEAR(lr_at(s, 973), kPeak * (1 - 51.0 / 102), 1e-15);
  EXPECT_NEAR(lr_at(s, 1023), kPeak / 102, 1e-15);  // the last update is still > 0
  EXPECT_DOUBLE_EQ(lr_at(s, 1024), 0.0);
  EXPECT_DOUBLE_EQ(lr_at(s, 5000), 0.0);  // clamped past the end
  EXPECT_EQ(describe(s), "wsd peak 0.003: warmup 0-10, constant 10-922, linear decay 922-1024 to 0");
}

TEST(LrSchedule, CosineBoundaries) {
  const LrSchedule s = make(LrKind::cosine, 1024);
  const LrShape shape = lr_shape(s);
  EXPECT_EQ(shape.warmup_steps, 10);
  EXPECT_EQ(shape.decay_start, 10);
  EXPECT_EQ(shape.decay_steps, 1014);
  EXPECT_DOUBLE_EQ(lr_at(s, 0), 0.0);
  EXPECT_DOUBLE_EQ(lr_at(s, 10), kPeak);
  EXPECT_NEAR(lr_at(s, 10 + 507), kPeak / 2, 1e-18);
  EXPECT_NEAR(lr_at(s, 11), kPeak * 0.5 * (1 + std::cos(std::numbers::pi / 1014)), 1e-18);
  EXPECT_NEAR(lr_at(s, 1024), 0.0, 1e-18);
  EXPECT_GT(lr_at(s, 1023), 0.0);
  // min_lr_ratio floor
  const LrSchedule m = make(LrKind::cosine, 1024, 0.1, 0.1);
  EXPECT_NEAR(lr_at(m, 1024), 0.1 * kPeak, 1e-18);
  EXPECT_NEAR(lr_at(m, 517), 0.55 * kPeak, 1e-15);
}

TEST(LrSchedule, CosineKeepsWarmupUnlikeReferenceQuirk) {
  // The reference (cosine, decay = 1.0) would give lr(0) = peak: warmup lost.
  const LrSchedule s = make(LrKind::cosine, 400);
  EXPECT_EQ(lr_shape(s).warmup_steps, 4);
  EXPECT_DOUBLE_EQ(lr_at(s, 0), 0.0);
  EXPECT_DOUBLE_EQ(lr_at(s, 2), kPeak / 2);
  EXPECT_DOUBLE_EQ(lr_at(s, 4), kPeak);
}

TEST(LrSchedule, ShortRunsHaveNoWarmup) {
  for (int64_t n : {1, 2, 50, 99}) {
    const LrSchedule s = make(LrKind::cosine, n);
    EXPECT_EQ(lr_shape(s).warmup_steps, 0) << n;
    EXPECT_DOUBLE_EQ(lr_at(s, 0), kPeak) << n;  // the very first update at the peak
    EXPECT_NEAR(lr_at(s, n), 0.0, 1e-18) << n;
  }
  const LrSchedule s100 = make(LrKind::cosine, 100);
  EXPECT_EQ(lr_shape(s100).warmup_steps, 1);
  EXPECT_DOUBLE_EQ(lr_at(s100, 0), 0.0);
  EXPECT_DOUBLE_EQ(lr_at(s100, 1), kPeak);
  // Truncation exactly as Python's int(0.01 * N).
  EXPECT_EQ(lr_shape(make(LrKind::cosine, 700)).warmup_steps, 7);
  EXPECT_EQ(lr_shape(make(LrKind::cosine, 199)).warmup_steps, 1);
  // WSD on 50 steps: no warmup, cooldown int(5.0) = 5 steps.
  const LrSchedule w = make(LrKind::wsd, 50);
  EXPECT_EQ(lr_shape(w).decay_start, 45);
  EXPECT_DOUBLE_EQ(lr_at(w, 0), kPeak);
  EXPECT_DOUBLE_EQ(lr_at(w, 45), kPeak);
  EXPECT_NEAR(lr_at(w, 46), kPeak * 0.8, 1e-15);
  EXPECT_NEAR(lr_at(w, 49), kPeak * 0.2, 1e-15);
}

TEST(LrSchedule, CooldownZeroAndConstant) {
  const LrSchedule w = make(LrKind::wsd, 1024, 0.0);
  EXPECT_EQ(lr_shape(w).decay_steps, 0);
  EXPECT_DOUBLE_EQ(lr_at(w, 5), kPeak / 2);
  EXPECT_DOUBLE_EQ(lr_at(w, 1023), kPeak);
  const LrSchedule c = make(LrKind::constant, 1024);
  EXPECT_DOUBLE_EQ(lr_at(c, 0), 0.0);
  EXPECT_DOUBLE_EQ(lr_at(c, 10), kPeak);
  EXPECT_DOUBLE_EQ(lr_at(c, 1023), kPeak);
  // A cooldown of the whole run is clamped to the part after warmup.
  const LrSchedule all = make(LrKind::wsd, 1000, 1.0);
  EXPECT_EQ(lr_shape(all).warmup_steps, 10);
  EXPECT_EQ(lr_shape(all).decay_start, 10);
  EXPECT_DOUBLE_EQ(lr_at(all, 5), kPeak / 2);
  EXPECT_DOUBLE_EQ(lr_at(all, 505), kPeak / 2);
}

TEST(LrSchedule, Validation) {
  LrSchedule s = make(LrKind::wsd, 10, 1.5);
  EXPECT_THROW(validate(s, "x"), replay::Error);
  s.cooldown = 0.1;
  s.peak = 0;
  EXPECT_THROW(validate(s, "x"), replay::Error);
  EXPECT_THROW(parse_lr_kind("cosin", "lr_schedule.kind"), replay::Error);
  EXPECT_EQ(parse_lr_kind("linear", "k"), LrKind::wsd);
}
