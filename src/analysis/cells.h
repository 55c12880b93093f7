// Cells: the runs of one sweep that differ only in their seed. A sweep over
// seeds (sweep_file.h) repeats each run of its grid once per seed with the
// tag seed=<n> and the name suffix "-seed=<n>"; such runs are one cell, and
// the cell's loss is their mean with a standard error (stats.h).
//
// Grouping rule: two runs are in one cell when they are listed in the same
// sweep, have the same tags apart from `seed`, and the same name once a
// trailing "-seed=<n>" is removed. The name guards against two different
// runs that happen to carry the same tags. A run without a seed tag is a
// cell of its own (seed 0) unless another seedless run shares all of the
// above. Cells keep the order of their first run; runs in a cell are
// ordered by seed.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "analysis/registry.h"
#include "analysis/stats.h"

namespace replay::analysis {

struct Cell {
  std::string sweep;
  std::string name;                          // run name without "-seed=<n>"
  std::map<std::string, std::string> tags;   // every tag but `seed`
  std::vector<RunRecord> runs;               // by seed

  // The seed of each run (its seed tag, 0 without one), in `runs` order.
  std::vector<int64_t> seeds() const;
  // The final loss of `split` of every done run that has one, by seed.
  std::vector<SeedLoss> losses(const std::string& split) const;
  MeanSe stats(const std::string& split) const { return mean_se(losses_of(losses(split))); }
};

// "mid-rho=0.5-seed=2" -> "mid-rho=0.5"; other names unchanged.
std::string cell_name(const std::string& run_name);
std::vector<Cell> group_cells(const std::vector<RunRecord>& runs);
// Whether some cell has two or more runs (a sweep over seeds).
bool any_repeated(const std::vector<Cell>& cells);

}  // namespace replay::analysis
