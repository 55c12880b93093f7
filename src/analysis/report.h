// `replay report`: one directory per sweep with report.md, report.html and
// figures/ (each figure as SVG and PNG): the reference fit and the
// data-efficiency multipliers, the (rho, alpha) heatmap, target loss against
// rho, training/validation curves per run, and a table of runs. Built from the
// registry plus each run's metrics.jsonl, and published atomically: the whole
// directory is written under a temporary name and renamed into place.
// Which runs a report uses, and the one-target rule: efficiency.h. A fit that
// is not usable for multipliers (fit.h) gives a report that says so and why,
// with no multiplier anywhere.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

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
};

struct ReportResult {
  std::filesystem::path dir, markdown, html;
  std::vector<std::filesystem::path> figures;  // relative to dir
  std::optional<CurveFit> fit;                 // unset with fewer than 3 reference points
  std::vector<Multiplier> multipliers;         // the paper's comparisons
  TargetIdentity target;                       // the one target the report is about
};

ReportResult write_report(const Registry& registry, const ReportOptions& options);

}  // namespace replay::analysis
