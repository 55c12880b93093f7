// The machine-readable summaries of a registry, stated once: the document of
// `replay runs --json` (every run with its status and final losses, and the
// cells of runs that differ only in their seed) and the fit of `replay fit
// --json` (the reference law with its bootstrap intervals, the schedules
// with their implied pools, the multipliers with theirs). `replay serve`
// sends the same documents to its dashboard, so the page and the command
// line can never disagree on a number.
//
// Runs JSON: {"runs": [{sweep, name, aliases, id, tags, status ("stale" for
// a running run whose trainer is gone), step, target, final_losses: {split:
// {loss, step}}, error}], "cells": [{sweep, name, tags, seeds, runs (ids),
// final_losses: {split: {n, mean, se}}}]}.
// Fit JSON: {target, fit: {form, method, A, B, C, D, rss, converged,
// degenerate, usable, unusable_reason, points: [{x, loss, fitted,
// residual}], resamples, unusable_resamples, interval_note, A_interval,
// B_interval, C_interval}, schedules: [{name, loss, se, seeds, implied_x}],
// multipliers: [{p, q, loss_p, loss_q, value, text, why_none, interval,
// interval_note, no_measurable_effect, extrapolated, extrapolation, seeds_p,
// seeds_q, paired}]}; an interval is {lo, hi, level, method} or null; a
// paired difference (stats.h) is {over ("seeds" or "validation sequences"),
// n, mean, se, lo, hi, measurable} or null.
#pragma once
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/bootstrap.h"
#include "analysis/cells.h"
#include "analysis/efficiency.h"
#include "analysis/fit.h"
#include "analysis/registry.h"

namespace replay::analysis {

// Every split any done run of the cell has, in name order.
std::set<std::string> cell_splits(const Cell& cell);

nlohmann::json runs_json(const std::vector<RunRecord>& runs, const std::vector<Cell>& cells);
nlohmann::json paired_json(const PairedDifference& difference);

// What a fit is made from: reference cells, the schedules to place on the
// law and the baselines of other sweeps (efficiency.h), and the target's
// description ("" when the points came from the command line).
struct FitInputs {
  std::vector<ReferenceCell> reference;
  std::vector<ScheduleLoss> schedules, baselines;
  std::string target;
};

// A registry selection as fit inputs; the target reads "math (/store,
// manifest ...), validation split target".
FitInputs fit_inputs(const SweepData& data);

struct FitSummary {
  std::string target;
  CurveFit fit;
  FitIntervals intervals;  // empty when the fit is unusable
  std::vector<ScheduleLoss> schedules;
  std::vector<Multiplier> multipliers;
};

// Fits the reference cells' means and computes the comparisons: the paper's
// (efficiency.h paper_multipliers), then each "P/Q" of `compares`, or, when
// there are neither, every schedule over the first. Intervals come from the
// bootstrap over seeds (bootstrap.h) when the fit is usable. Throws
// replay::Error when there are no reference points or a compared name is
// unknown.
FitSummary summarize_fit(const FitInputs& inputs, const FitOptions& options,
                         const std::vector<std::string>& compares = {});

nlohmann::json fit_json(const FitSummary& summary);

}  // namespace replay::analysis
