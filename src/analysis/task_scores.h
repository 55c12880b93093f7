// Downstream task scores as reports read them: per run and task, the final
// accuracy and its change since the run's first task evaluation, each with a
// standard error, and the mean change over a list of tasks (the "gain" and
// "forgetting" summaries of `replay report`). Accuracies are fractions of
// items (metrics.h TaskScoreRecord::acc).
//
// Standard errors. A score's acc_stderr is the trainer's, over items
// (eval/score.h). A change compares two evaluations of one run on the same
// items; its paired SE needs per-item results, which metrics.jsonl does not
// keep. The SE used here, sqrt(se_first^2 + se_final^2), treats the two
// evaluations as independent samples. Item outcomes at two steps are
// positively correlated, so the SE of the paired difference is smaller:
// this one is conservative (it may call a real effect "within noise", not
// the reverse). The mean change over n tasks has SE sqrt(sum se_i^2) / n
// (tasks taken as independent).
//
// An effect is within noise when |change| < 2 SE.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "analysis/metrics.h"

namespace replay::analysis {

struct Effect {
  double mean = 0, se = 0;
  // |mean| < 2 se, or no change at all (mean 0, even with se 0); false
  // for a non-finite mean (nothing to compare).
  bool within_noise() const;
};

struct TaskChange {
  std::string task;
  TaskScoreRecord first, final;  // the run's earliest and latest evaluation of the task
  // Two evaluations at different steps; with one, there is no change to report.
  bool has_change() const { return final.step > first.step; }
  Effect change() const;  // final.acc - first.acc, SE as in the header comment
};

// One entry per task name, from a run's scores in any order.
std::map<std::string, TaskChange> task_changes(const std::vector<TaskScoreRecord>& scores);

// Mean change over `tasks`, SE sqrt(sum se^2) / n; nullopt when `tasks` is
// empty or one of them has no score or a single evaluation in `changes`.
std::optional<Effect> mean_change(const std::map<std::string, TaskChange>& changes,
                                  const std::vector<std::string>& tasks);

// "+0.040 ± 0.030" (sign always shown); "n/a" for a non-finite mean.
std::string effect_text(const Effect& effect, int decimals = 3);

}  // namespace replay::analysis
