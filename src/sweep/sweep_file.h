// A sweep file: one base run config plus groups of overrides, expanded into
// the list of runs of one experiment. Pure: parsing and expansion do no I/O
// beyond reading the sweep file itself.
//
//   name = "micro-mid-math"               # the sweep's name in the registry
//   base = "../micro/base.toml"           # run config, relative to this file
//   set  = { "schedule.target" = "math" } # overrides for every run
//   [[group]]                             # one or more
//   name = "mid"                          # run-name prefix
//   tags = { family = "mid-training" }    # registry tags (see analysis/registry.h)
//   set  = { "schedule.protocol" = "mid-training", "schedule.alpha" = 1.0 }
//   grid = { "schedule.rho" = [0.0, 0.5] }   # cartesian product over axes
//   zip  = { "schedule.f" = [0.01, 0.02], "schedule.e" = [32, 16] }  # values go together
//
// Each run gets every axis value as a tag under the key's last segment
// ("schedule.rho" -> rho), so `replay fit` and `replay report` can find them.
// A float tag is the shortest text of the exact value (f = 0.001953125 is
// tagged "0.001953125"; the run name keeps six digits, "f=0.00195312"), so
// the registry stores the value itself as a number (analysis/registry.h).
//
// Seeds: every run of the grid repeated once per seed, at the sweep's top
// level or per group (a group's keys replace the sweep's):
//   seeds = 3                    # seeds 1, 2, 3; or a list: seeds = [7, 8, 9]
//   vary  = ["init", "data"]     # which seed streams the seed sets (run/settings.h)
// Run r with seed n is r plus the overrides seeds.<stream>=n for each stream
// in `vary`, the tag seed=n and the name suffix "-seed=n"; the seeds of one
// cell share every other setting. The default `vary` is init and data and
// not pool: every seed of a cell then trains on the same target sequences, so
// the spread across seeds measures the noise of initialization and data
// order, not which documents the pool happened to hold (add "pool" to measure
// that too). A stream left out of `vary` keeps the base config's value.
// `replay sweep --seeds N` (the `seeds` argument) replaces every group's seeds
// with 1..N. An override of a varied stream's key (seeds.init, ...) in `set`,
// `grid`, `zip` or --set is refused: the seeds would overwrite it.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace replay::sweep {

struct RunSpec {
  std::string name;                         // unique within the sweep
  std::vector<std::string> overrides;       // "key=<TOML value>", applied in order
  std::map<std::string, std::string> tags;  // registry tags
};

struct SweepSpec {
  std::filesystem::path file;
  std::string name;
  std::filesystem::path base;  // absolute or relative to the working directory
  std::vector<RunSpec> runs;
};

// `seeds`: set (>= 1), every group runs seeds 1..seeds whatever the file says.
SweepSpec load_sweep(const std::filesystem::path& file,
                     const std::vector<std::string>& extra_overrides = {},
                     std::optional<int64_t> seeds = std::nullopt);
SweepSpec parse_sweep(const std::string& toml_text, const std::filesystem::path& file,
                      const std::vector<std::string>& extra_overrides = {},
                      std::optional<int64_t> seeds = std::nullopt);

}  // namespace replay::sweep
