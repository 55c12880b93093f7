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
#pragma once
#include <filesystem>
#include <map>
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

SweepSpec load_sweep(const std::filesystem::path& file,
                     const std::vector<std::string>& extra_overrides = {});
SweepSpec parse_sweep(const std::string& toml_text, const std::filesystem::path& file,
                      const std::vector<std::string>& extra_overrides = {});

}  // namespace replay::sweep
