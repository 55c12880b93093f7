// `replay report`: one directory per sweep with report.md, report.html and
// figures/ (each figure as PNG, SVG with real text, and CSV of its numbers:
// plot.h): the reference fit and the data-efficiency multipliers, the
// (rho, alpha) heatmap, target loss against rho, downstream task scores,
// training/validation curves per run, the runs of each family overlaid, and
// a table of runs. Built from the registry plus each run's metrics.jsonl, and
// published atomically: the whole directory is written under a temporary
// name and renamed into place.
//
// Readability rules. Titles name the target by its domain (its split name
// when the runs recorded none). The reference fit is drawn as final target
// loss against the pool x on a log axis: every reference point (one the law
// cannot fit too), the fitted law as a curve (dashed when unusable), and
// each schedule as a dashed line at its loss with a marker at its implied
// pool when the law gives one (error bars: +-1 SE over seeds). The heatmap
// is drawn only when its runs span at least 2 values of rho and 2 of alpha;
// otherwise a line says why. Training curves mark where each later stage
// starts with a dashed line: the run's "stage2_step" tag (registry.h) and
// each later phase's first_step in its resolved config. figures/
// family_target_<family> and family_generic_<family> overlay every run of a
// family (tag "family") against step, each boundary drawn once. Table
// columns whose cells all read as numbers are right-aligned, others left.
// Which runs a report uses, and the one-target rule: efficiency.h. A fit that
// is not usable for multipliers (fit.h) gives a report that says so and why,
// with no multiplier anywhere; a sweep without reference runs (e.g. a
// continued-pretraining rho sweep) gets no fit and no multiplier text, and
// its schedules are compared by their losses.
//
// Downstream tasks, when any run of the report scored tasks ([eval] tasks;
// scores from the registry, or from the run's metrics.jsonl when the
// registry cannot have them: a file older than schema version 4, a run
// still running or queued): a
// table with, per run and task, the final accuracy +- SE, its change since
// the run's first evaluation of the task (step 0 when the run scored its
// starting weights, else the table names the step) +- the conservative SE
// of task_scores.h, marked "within noise" when |change| < 2 SE, and the
// run's final target and generic losses; figures task_accuracy_vs_step_<task>
// (one per task, a line per run), task_accuracy_vs_rho (final accuracy with
// error bars, a series per task, for runs with a rho tag; mid-training and
// full runs only at alpha = 1, as for the target loss) and, when both
// gain_tasks and forgetting_tasks are given, gain_vs_forgetting (a point per
// run: mean change on the forgetting tasks against mean change on the gain
// tasks, with error bars, labelled by rho).
//
// Seeds (docs/statistics.md): runs that differ only in their seed are one
// cell (cells.h); schedule losses are printed as mean +- SE over seeds, the
// fit and every multiplier carry a 95% bootstrap interval (bootstrap.h),
// a multiplier whose interval includes 1 reads "no measurable effect", the
// paper's comparisons show the paired loss difference when P and Q share
// seeds, and figures/multipliers draws the intervals as error bars.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "analysis/bootstrap.h"
#include "analysis/efficiency.h"
#include "analysis/fit.h"
#include "analysis/registry.h"

namespace replay::analysis {

struct ReportOptions {
  CollectOptions collect;
  std::filesystem::path out_dir;
  CurveForm form = CurveForm::power;
  FitMethod method = FitMethod::multistart;
  int png_width = 800, png_height = 560;
  // Tasks whose mean change is a run's gain (what the target data should
  // teach) and its forgetting (what the generic data kept). Each must be
  // scored by some run of the report, else write_report refuses naming it.
  std::vector<std::string> gain_tasks, forgetting_tasks;
  // The intervals' bootstrap (bootstrap.h). Each resample refits the law, so
  // 1000 resamples of a degenerate fit (long MINPACK runs) take seconds.
  BootstrapOptions bootstrap;
};

struct ReportResult {
  std::filesystem::path dir, markdown, html;
  std::vector<std::filesystem::path> figures;  // files relative to dir: .png, .svg and .csv per figure
  std::optional<CurveFit> fit;                 // unset with fewer than 3 reference points
  std::vector<Multiplier> multipliers;         // the paper's comparisons, with intervals (bootstrap.h)
  std::optional<FitIntervals> fit_intervals;   // set when the fit is usable
  TargetIdentity target;                       // the one target the report is about
  std::vector<std::string> tasks;              // downstream tasks scored by its runs, sorted
};

ReportResult write_report(const Registry& registry, const ReportOptions& options);

// Where a run's later stages start, as step -> label. From the schedule's
// own numbers, never re-derived here: the "stage2_step" tag (the plan's
// paper boundary, recorded by the sweep runner: registry.h) for the paper's
// protocols, where stage 2 is a change of mixture inside one phase, and each
// later phase's first_step in the run's resolved config (fine-tuning's
// fine-tuning phase, a general schedule's stages). Empty when the run has
// one stage or records neither.
// The report's curves and `replay serve`'s charts both mark these.
std::map<int64_t, std::string> stage_boundaries(const RunRecord& r);

}  // namespace replay::analysis
