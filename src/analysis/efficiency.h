// From registry runs to the paper's data-efficiency numbers: which runs are
// reference points, which are schedules, and the multipliers the paper
// reports (replay over no replay, for fine-tuning and for mid-training; best
// full schedule over mid-training; mid-training over fine-tuning; best
// schedule over fine-tuning). Shared by `replay fit` and `replay report` so
// both print the same numbers.
//
// One target per analysis. Every run used (reference points, schedules,
// baselines) has the same target identity (registry.h: same store and
// manifest, or for runs without identity the same "target" tag). The target
// is the one the selected runs share; when they span several, collect_sweep
// refuses and names them, and CollectOptions::target picks one (by domain,
// store path or split name). Selecting a target gives exactly what a registry
// holding only that target's runs would give.
//
// Which runs, on that target:
//   scope       the schedules measured: the runs of `sweep`; of every sweep
//               when `sweep` is empty or `all_sweeps` is set.
//   reference   every done run with family=reference and an x tag, from every
//               sweep (only from `reference_sweep` when that is set).
//   baselines   done schedules of the other sweeps. A comparison's schedule P
//               always comes from the scope; its no-replay baseline Q comes
//               from the scope when the scope has one, else from the
//               baselines (labelled with their sweep). So "mid-training over
//               fine-tuning" and "best schedule over fine-tuning" come out of
//               the registry whenever both families ran on the same target.
// With `sweep` set (and not all_sweeps), runs of other sweeps are borrowed
// (as reference points or baselines) only when they have the selected runs'
// shape: the same model, train.steps, batch size and sequence length in their
// resolved descriptions; an explicit `reference_sweep` is taken as given.
// This is Replay's own rule: one curve never mixes model sizes or run lengths.
// Asymmetry: P comes from the scope only, so ask for the family whose
// improvement you want (e.g. --sweep of the mid-training runs).
// A run listed in several sweeps counts once (its first listing).
// Runs without identity (registry.h) fall back to their "target" tag, which
// cannot tell two domains apart (both are usually "target"): for such a
// target with `sweep` set (and not all_sweeps), nothing is borrowed from other
// sweeps, except reference runs from an explicit `reference_sweep`. Runs with
// no target at all (no identity, no tag) are counted with the target only
// when the whole registry has a single target.
//
// Seeds (cells.h). Runs that differ only in their seed are one cell: one
// reference point at the cell's mean loss, one schedule named without the
// "-seed=<n>" suffix at its mean loss, each keeping its per-seed losses for
// the intervals (bootstrap.h). A run without seeds is a cell of one, so a
// registry without seed sweeps gives exactly the numbers it gave before.
// A cell of one seed also carries its run's per-sequence target losses when
// the run folder has them (metrics.h read_val_sequences), for the bootstrap
// over validation sequences.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "analysis/cells.h"
#include "analysis/fit.h"
#include "analysis/registry.h"

namespace replay::analysis {

struct ScheduleLoss {
  std::string name;
  std::string family;  // fine-tuning | mid-training | full | ... ("" from the command line)
  std::optional<double> rho, alpha;
  double loss = 0;  // final target validation loss (the mean over its seeds)
  std::optional<double> generic_loss;  // the same mean, over the seeds that have one
  std::string sweep;  // the sweep it was listed in ("" from the command line)
  std::vector<SeedLoss> seeds;  // per-seed target losses (empty from the command line)
  // A one-seed cell's final target loss per validation sequence (its run's
  // val_sequences.json); empty when unknown or when the cell has several seeds.
  std::vector<double> sequences;
};

// A reference cell: its pool size and per-seed final target losses.
struct ReferenceCell {
  double x = 0;
  std::vector<SeedLoss> seeds;
  std::vector<double> sequences;  // as ScheduleLoss::sequences
};

struct SweepData {
  std::string sweep;                   // as selected ("" = every sweep)
  TargetIdentity target;               // the target every run below was measured on
  std::string target_split, generic_split;
  std::vector<RunRecord> runs;         // runs in scope on the target, any status, each once
  std::vector<CurvePoint> reference;   // done reference cells with tag x, on the target: cell means
  std::vector<ReferenceCell> reference_cells;  // the same cells with their seeds, same order
  std::vector<std::string> reference_sweeps;  // the sweeps those came from
  std::vector<ScheduleLoss> schedules;  // done non-reference runs in scope with a target loss
  std::vector<ScheduleLoss> baselines;  // the same from the other sweeps on the target
};

struct CollectOptions {
  std::string sweep;            // "" = every sweep
  std::string reference_sweep;  // "" = every sweep on the target
  std::string target;           // domain, store path or split name; "" = the only one
  std::string generic_split;    // "" = the runs' "generic" tag (may stay empty)
  bool all_sweeps = false;      // scope = every sweep on the target, even with `sweep` set
};

// Throws replay::Error when the sweep has no runs, the runs span several
// targets and none is selected (the message names each target and says to
// pass --target), the selection matches no target or several, or the target
// split cannot be determined (the message lists the splits that exist).
SweepData collect_sweep(const Registry& registry, const CollectOptions& options);

// P over Q, labelled: the multiplier with the seeds of both and their paired
// loss difference (over shared seeds; with one seed each, over the
// validation sequences both were evaluated on: stats.h).
Multiplier compare(const CurveFit& fit, const std::string& p_label, const ScheduleLoss& p,
                   const std::string& q_label, const ScheduleLoss& q);

// The paper's Figure 7 grid of a sweep's mid-training and full schedules:
// rows rho ascending, columns alpha descending, each cell the lowest final
// target loss among its schedules (NaN where none ran). The report's
// heatmap and `replay serve`'s are both drawn from it.
struct RhoAlphaGrid {
  std::vector<double> rho, alpha;
  std::vector<std::vector<double>> loss;  // [rho][alpha]
  size_t cells = 0;                       // cells with a loss
  // Fewer than 2 rows or 2 columns: a line, not a map (not drawn as one).
  bool degenerate() const { return rho.size() < 2 || alpha.size() < 2; }
};
RhoAlphaGrid rho_alpha_grid(const std::vector<ScheduleLoss>& schedules);

// The paper's headline comparisons that the available schedules support
// (see the header comment for where P and Q come from). Each carries its
// schedules' seeds and, when they share two or more, the paired difference.
std::vector<Multiplier> paper_multipliers(const CurveFit& fit,
                                          const std::vector<ScheduleLoss>& schedules,
                                          const std::vector<ScheduleLoss>& baselines = {});

// Each schedule over its family's no-replay baseline (rho = 0, alpha = 1 for
// mid-training and full; rho = 0 for fine-tuning), when that baseline ran.
std::optional<Multiplier> multiplier_over_baseline(const CurveFit& fit, const ScheduleLoss& schedule,
                                                   const std::vector<ScheduleLoss>& schedules,
                                                   const std::vector<ScheduleLoss>& baselines = {});

}  // namespace replay::analysis
