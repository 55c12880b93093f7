// From registry runs to the paper's data-efficiency numbers: which runs are
// reference points, which are schedules, and the multipliers the paper
// reports (replay over no replay, for fine-tuning and for mid-training; best
// full schedule over mid-training; mid-training over fine-tuning). Shared by
// `replay fit` and `replay report` so both print the same numbers.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "analysis/fit.h"
#include "analysis/registry.h"

namespace replay::analysis {

struct ScheduleLoss {
  std::string name;
  std::string family;  // fine-tuning | mid-training | full | ... ("" from the command line)
  std::optional<double> rho, alpha;
  double loss = 0;  // final target validation loss
  std::optional<double> generic_loss;
};

struct SweepData {
  std::string sweep;
  std::string target_split, generic_split;
  std::vector<RunRecord> runs;          // every run of the sweep(s), any status
  std::vector<CurvePoint> reference;    // done runs with family=reference and tag x
  std::vector<ScheduleLoss> schedules;  // done non-reference runs with a target loss
};

struct CollectOptions {
  std::string sweep;
  std::string reference_sweep;  // "" = the same sweep
  std::string target_split;     // "" = the runs' "target" tag
  std::string generic_split;    // "" = the runs' "generic" tag (may stay empty)
};

// Throws replay::Error when the sweep has no runs, or the target split
// cannot be determined (the message lists the splits that exist).
SweepData collect_sweep(const Registry& registry, const CollectOptions& options);

// The paper's headline comparisons that the available schedules support.
std::vector<Multiplier> paper_multipliers(const CurveFit& fit,
                                          const std::vector<ScheduleLoss>& schedules);

// Each schedule over its family's no-replay baseline (rho = 0, alpha = 1 for
// mid-training and full; rho = 0 for fine-tuning), when that baseline ran.
std::optional<Multiplier> multiplier_over_baseline(const CurveFit& fit, const ScheduleLoss& schedule,
                                                   const std::vector<ScheduleLoss>& schedules);

}  // namespace replay::analysis
