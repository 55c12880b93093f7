// Paired comparison (src/eval/results.h): McNemar's exact test, the paired
// bootstrap, and compare_dirs over files write_results wrote.
#include <gtest/gtest.h>

#include <cmath>

#include "error_of.h"
#include "eval/results.h"
#include "temp_dir.h"
#include "util/error.h"

using namespace replay::eval;

namespace {

// n items; A right on the first a_right, B right where A is, except the
// first `a_only` of those, plus `b_only` more.
void outcomes(int n, int both, int a_only, int b_only, std::vector<int>& a, std::vector<int>& b) {
  a.assign(n, 0);
  b.assign(n, 0);
  for (int i = 0; i < both; ++i) a[i] = b[i] = 1;
  for (int i = both; i < both + a_only; ++i) a[i] = 1;
  for (int i = both + a_only; i < both + a_only + b_only; ++i) b[i] = 1;
}

TaskResult result_of(const std::string& task, const std::vector<int>& correct, int first_id) {
  TaskResult r;
  r.task = task;
  for (size_t i = 0; i < correct.size(); ++i) {
    ItemResult item{std::to_string(first_id + static_cast<int>(i)), {-1.0, -2.0}, {1, 1}, {2, 2}, 0, 0, 0, false, false};
    item.correct = item.correct_norm = correct[i];
    r.items.push_back(item);
  }
  return r;
}

}  // namespace

TEST(EvalCompare, McNemarExactPValues) {
  // 10 vs 2 discordant: 2 * (C(12,0) + C(12,1) + C(12,2)) / 2^12 = 158 / 4096.
  EXPECT_NEAR(mcnemar_exact_p(10, 2), 158.0 / 4096.0, 1e-12);
  EXPECT_NEAR(mcnemar_exact_p(2, 10), 0.0386, 5e-5);
  EXPECT_NEAR(mcnemar_exact_p(0, 6), 2.0 / 64.0, 1e-12);
  EXPECT_EQ(mcnemar_exact_p(0, 0), 1.0);
  EXPECT_EQ(mcnemar_exact_p(5, 5), 1.0);
  EXPECT_LT(mcnemar_exact_p(300, 200), 1e-5);  // large counts stay finite
}

TEST(EvalCompare, BootstrapIntervalContainsTheDifferenceAndIsReproducible) {
  std::vector<int> a, b;
  outcomes(100, 50, 2, 10, a, b);  // diff = (60 - 52) / 100
  const Interval ci = paired_bootstrap(a, b, 10000, 1234, 0.95);
  EXPECT_LT(ci.low, 0.08);
  EXPECT_GT(ci.high, 0.08);
  EXPECT_GT(ci.low, 0.0);  // 10 vs 2 discordant: the interval excludes 0, as McNemar's p < 0.05 says
  EXPECT_LT(ci.high, 0.2);
  const Interval again = paired_bootstrap(a, b, 10000, 1234, 0.95);
  EXPECT_EQ(ci.low, again.low);
  EXPECT_EQ(ci.high, again.high);
}

TEST(EvalCompare, DirectoriesArePairedOnSharedIds) {
  const TempDir tmp("eval_compare");
  std::vector<int> a, b;
  outcomes(100, 50, 2, 10, a, b);
  std::vector<int> a_more = a;
  a_more.push_back(1);  // item "100" is only in A
  write_results(tmp.path / "a", "model-a", {result_of("t", a_more, 0)});
  write_results(tmp.path / "b", "model-b", {result_of("t", b, 0), result_of("other", b, 0)});
  const auto cs = compare_dirs(tmp.path / "a", tmp.path / "b");
  ASSERT_EQ(cs.size(), 2u);  // acc and acc_norm of the one shared task
  const Comparison& c = cs[0];
  EXPECT_EQ(c.task, "t");
  EXPECT_FALSE(c.norm);
  EXPECT_EQ(c.shared, 100);
  EXPECT_EQ(c.only_a, 1);
  EXPECT_EQ(c.only_b, 0);
  EXPECT_DOUBLE_EQ(c.acc_a, 0.52);
  EXPECT_DOUBLE_EQ(c.acc_b, 0.60);
  EXPECT_NEAR(c.diff, 0.08, 1e-12);
  EXPECT_EQ(c.a_only_right, 2);
  EXPECT_EQ(c.b_only_right, 10);
  EXPECT_NEAR(c.p_value, 158.0 / 4096.0, 1e-12);
  EXPECT_TRUE(c.ci.low < c.diff && c.diff < c.ci.high);
  write_results(tmp.path / "c", "model-c", {result_of("t", b, 1000)});
  EXPECT_NE(error_of([&] { compare_dirs(tmp.path / "a", tmp.path / "c"); }).find("share no item"), std::string::npos);
  write_results(tmp.path / "d", "model-d", {result_of("u", b, 0)});
  EXPECT_NE(error_of([&] { compare_dirs(tmp.path / "a", tmp.path / "d"); }).find("share no task"), std::string::npos);
}

// The gold choice's log-likelihood, paired: B's gold score is A's plus
// 0.1 * (i % 3) on item i, so the mean change is 0.1 * mean(i % 3) and its
// standard error the sd of those differences over sqrt(n).
TEST(EvalCompare, GoldLogLikelihoodChangeIsPairedWithItsStandardError) {
  const TempDir tmp("eval_compare_gold");
  std::vector<int> a, b;
  outcomes(30, 10, 0, 0, a, b);
  TaskResult ra = result_of("t", a, 0), rb = result_of("t", b, 0);
  std::vector<double> diffs;
  for (size_t i = 0; i < rb.items.size(); ++i) {
    ra.items[i].scores[0] = -5.0 - static_cast<double>(i);
    rb.items[i].scores[0] = ra.items[i].scores[0] + 0.1 * static_cast<double>(i % 3);
    diffs.push_back(0.1 * static_cast<double>(i % 3));
  }
  write_results(tmp.path / "a", "a", {ra});
  write_results(tmp.path / "b", "b", {rb});
  const Comparison c = compare_dirs(tmp.path / "a", tmp.path / "b").at(0);
  double mean = 0, ss = 0;
  for (double d : diffs) mean += d / 30;
  for (double d : diffs) ss += (d - mean) * (d - mean);
  EXPECT_NEAR(c.gold_a, -5.0 - 14.5, 1e-9);
  EXPECT_NEAR(c.gold_diff, mean, 1e-9);
  EXPECT_NEAR(c.gold_diff, 0.1, 1e-9);
  EXPECT_NEAR(c.gold_diff_se, std::sqrt(ss / 29 / 30), 1e-12);
  EXPECT_EQ(c.p_value, 1.0);  // the same items right: the accuracy did not move
}
