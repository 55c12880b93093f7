// The documents behind `replay serve`'s dashboard, read from a registry
// (analysis/registry.h) and its run folders (run/layout.h) at each request,
// so that a sweep writing both in another process shows up as it goes. One
// JSON document per question the page asks:
//
//   runs_document      every run (analysis/summaries.h runs_json, the same
//                      document as `replay runs --json`), each with its live
//                      fields: "total_steps" (train.steps of its resolved
//                      config), "progress_step" (a running run's latest step
//                      in its metrics.jsonl, else the registry's step),
//                      "eta_s" and "eta" (a running run's time left at its
//                      pace since it started, sweep/progress.h eta_seconds
//                      and util/duration.h; null / "" otherwise),
//                      "duration_s" and "duration" (since it started, to its
//                      end or now); plus "sweeps" (names), "now" (unix s)
//                      and "registry" (its path).
//   run_curves         one run: "train" [[step, loss]] (every step line, or
//                      evenly thinned to at most kMaxCurvePoints), "evals"
//                      {split: [[step, loss]]}, "target_split",
//                      "generic_split" (its tags), "boundaries" (steps where
//                      a stage begins, see below), "status", "error".
//   sweep_overlay      a sweep's runs (name, id, status, target and generic
//                      validation curves, boundaries) and its "heatmap".
//   fit_document       analysis/summaries.h fit_json for a sweep's target
//                      (`replay fit --sweep S --json`); {"error": why} when
//                      there is none (no reference runs, several targets).
//
// Stage boundaries are the report's (analysis/report.h stage_boundaries):
// each later phase's first step in the run's resolved config (where
// fine-tuning starts) and the "stage2_step" tag the sweep runner records
// from the plan (where mid-training's mixture changes).
//
// Curves come from the run's metrics.jsonl (the trainer appends to it while
// the registry is only updated when the run ends); a run whose folder has
// none falls back to the registry's evaluations. A metrics file that does
// not parse gives the run an "error" naming it instead of failing the page.
#pragma once
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "analysis/registry.h"
#include "util/error.h"

namespace replay::serve {

inline constexpr size_t kMaxCurvePoints = 400;

// A request for something the registry does not have (an unknown run or
// sweep): the server answers 404 with its message.
class NotFound : public Error {
 public:
  using Error::Error;
};

nlohmann::json runs_document(const analysis::Registry& registry, double now);
nlohmann::json run_curves(const analysis::Registry& registry, const std::string& id);
nlohmann::json sweep_overlay(const analysis::Registry& registry, const std::string& sweep);

// The (rho, alpha) grid of a sweep's done mid-training and full schedules
// (efficiency.h rho_alpha_grid, the report's): rows rho ascending, columns
// alpha descending, each cell the lowest final target loss among its
// schedules (null where none ran). A degenerate grid (fewer than 2 rows or
// 2 columns, which the report does not draw either): "cells" 0 and empty
// rows. {"rho": [...], "alpha": [...], "loss": [[...]], "cells": n}.
nlohmann::json heatmap_document(const analysis::Registry& registry, const std::string& sweep);

// fit_document, remade only when its inputs change (the reference cells,
// schedules and baselines with their per-seed losses): each fit refits the
// law 1000 times for its intervals (bootstrap.h), seconds for a degenerate
// one, and the page asks every few seconds. Safe to call from several
// threads.
class FitCache {
 public:
  // `target`: as `replay fit --target` ("" = the sweep's only target).
  nlohmann::json fit_document(const analysis::Registry& registry, const std::string& sweep,
                              const std::string& target);

 private:
  std::mutex mutex_;
  std::map<std::string, std::pair<std::string, nlohmann::json>> cached_;  // key -> (inputs, document)
};

}  // namespace replay::serve
