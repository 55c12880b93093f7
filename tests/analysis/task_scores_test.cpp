#include <gtest/gtest.h>

#include <cmath>

#include "analysis/task_scores.h"

using namespace replay::analysis;

namespace {
TaskScoreRecord score(const std::string& task, int64_t step, double acc, double se) {
  TaskScoreRecord r;
  r.task = task;
  r.step = step;
  r.acc = acc;
  r.acc_stderr = se;
  return r;
}
}  // namespace

TEST(TaskScores, ChangesRunFromTheFirstToTheLatestStepInAnyOrder) {
  auto changes = task_changes({score("a", 64, 0.40, 0.03), score("b", 32, 0.5, 0.02), score("a", 0, 0.30, 0.04),
                               score("a", 32, 0.35, 0.035)});
  ASSERT_EQ(changes.size(), 2u);
  const TaskChange& a = changes.at("a");
  EXPECT_EQ(a.first.step, 0);
  EXPECT_EQ(a.final.step, 64);
  ASSERT_TRUE(a.has_change());
  EXPECT_NEAR(a.change().mean, 0.10, 1e-12);
  EXPECT_NEAR(a.change().se, 0.05, 1e-12);  // sqrt(0.04^2 + 0.03^2): unpaired, conservative
  EXPECT_FALSE(changes.at("b").has_change());  // one evaluation: nothing to compare
}

TEST(TaskScores, MeanChangeOverTasksAndItsStandardError) {
  auto changes = task_changes({score("a", 0, 0.30, 0.03), score("a", 10, 0.40, 0.04),   // +0.10, se 0.05
                               score("b", 0, 0.50, 0.06), score("b", 10, 0.48, 0.08),   // -0.02, se 0.10
                               score("c", 10, 0.7, 0.01)});
  auto both = mean_change(changes, {"a", "b"});
  ASSERT_TRUE(both.has_value());
  EXPECT_NEAR(both->mean, 0.04, 1e-12);
  EXPECT_NEAR(both->se, std::sqrt(0.05 * 0.05 + 0.10 * 0.10) / 2, 1e-12);
  EXPECT_FALSE(mean_change(changes, {"a", "c"}).has_value());  // c has a single evaluation
  EXPECT_FALSE(mean_change(changes, {"a", "zzz"}).has_value());
  EXPECT_FALSE(mean_change(changes, {}).has_value());
}

TEST(TaskScores, WithinNoiseBelowTwoStandardErrors) {
  EXPECT_TRUE((Effect{0.059, 0.03}).within_noise());
  EXPECT_FALSE((Effect{0.061, 0.03}).within_noise());
  EXPECT_FALSE((Effect{-0.061, 0.03}).within_noise());
  EXPECT_TRUE((Effect{-0.059, 0.03}).within_noise());
  EXPECT_TRUE((Effect{0.0, 0.0}).within_noise());  // no change at all is no effect
  EXPECT_FALSE((Effect{0.01, 0.0}).within_noise());
  EXPECT_FALSE((Effect{NAN, 0.03}).within_noise());
  EXPECT_EQ(effect_text({0.1, 0.0283}), "+0.100 ± 0.028");
  EXPECT_EQ(effect_text({-0.07, 0.0255}), "-0.070 ± 0.025");
  EXPECT_EQ(effect_text({NAN, 0.1}), "n/a");
}
