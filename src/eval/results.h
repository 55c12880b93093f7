// The files `replay eval --out DIR` writes, and the paired comparison of two
// such directories (`replay eval compare A B`).
//
// DIR/<task>.jsonl, one line per item in task order:
//   {"id": "...", "scores": [ll per choice], "tokens": [continuation tokens
//    per choice], "chars": [continuation characters per choice],
//    "predicted": i, "predicted_norm": j, "gold": g, "correct": bool,
//    "correct_norm": bool}
// DIR/summary.json:
//   {"model": "...", "tasks": {"<task>": {"items": n, "acc": p, "acc_stderr": s,
//    "acc_norm": p, "acc_norm_stderr": s, "metrics": ["acc", ...],
//    "requests": r, "mismatches": m, "truncated": t, "seconds": x,
//    "items_per_second": y}}}
// A new DIR is built under a staging name and renamed into place
// (util/staged_dir.h); into an existing DIR each file is written atomically,
// summary.json last. Either way no file is ever half-written.
//
// Comparison, per task present in both directories, on the item ids both
// hold (ids in only one are counted and reported, never silently dropped):
// acc of A and B, the difference B - A, McNemar's exact two-sided p-value
// from the discordant counts (b = A right B wrong, c = A wrong B right:
// p = min(1, 2 P(X <= min(b, c))), X ~ Binomial(b + c, 1/2); 1 when b = c = 0)
// and a 95% paired bootstrap percentile interval of the difference
// (10,000 resamples of the shared items, fixed seed 1234, splitmix64); and
// the paired change of the gold choice's log-likelihood with its standard
// error.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "eval/outcome.h"

namespace replay::eval {

// Writes the per-item files and summary.json of `results` into `dir`.
void write_results(const std::filesystem::path& dir, const std::string& model,
                   const std::vector<TaskResult>& results);

// Per-item correctness read back from DIR/<task>.jsonl, and the gold
// choice's log-likelihood (scores[gold]).
struct ItemOutcome {
  std::string id;
  bool correct = false, correct_norm = false;
  double gold_loglik = 0;
};
std::vector<ItemOutcome> read_item_outcomes(const std::filesystem::path& jsonl);

double mcnemar_exact_p(int64_t b, int64_t c);

struct Interval {
  double low = 0, high = 0;
};
// Percentile interval (level, e.g. 0.95) of mean(b - a) over paired
// resamples; a and b are per-item 0/1 outcomes of the same items.
Interval paired_bootstrap(const std::vector<int>& a, const std::vector<int>& b, int64_t resamples,
                          uint64_t seed, double level);

struct Comparison {
  std::string task;
  bool norm = false;  // acc_norm instead of acc
  int64_t shared = 0, only_a = 0, only_b = 0;
  double acc_a = 0, acc_b = 0, diff = 0;  // diff = acc_b - acc_a
  int64_t a_only_right = 0, b_only_right = 0;
  double p_value = 1;
  Interval ci;
  // The gold choice's log-likelihood, a continuous measure that moves before
  // the accuracy does: its mean over the shared items in A and in B, the
  // mean paired difference B - A and that mean's standard error
  // (sd of the per-item differences / sqrt(n)).
  double gold_a = 0, gold_b = 0, gold_diff = 0, gold_diff_se = 0;
};

// Paired comparisons of every task both directories hold (acc, and acc_norm
// when both summaries report it). Throws when they share no task or a task
// shares no item.
std::vector<Comparison> compare_dirs(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace replay::eval
