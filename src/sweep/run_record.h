// What a sweep writes into a run folder besides the trainer's files, so that
// the folder alone holds everything the registry knows about the run, and a
// registry can be rebuilt (or merged into) from run folders on one machine:
// `replay runs rebuild` after a sweep spread over many workers, each with a
// registry of its own or none (docs/runs.md, "Sweeps over many machines").
//
//   <run>/sweeps/<sweep>-<h8>.json   one file per sweep the run belongs to,
//       written (atomically) when that sweep registers the run:
//       {"sweep", "id", "config": the resolved config text the registry keeps,
//        "target": {"source", "domain", "store", "manifest_hash"},
//        "names": [{"name", "tags": {...}}, ...]}   (first name first)
//       <h8>: 8 hex digits of the sweep name's hash, so that names differing
//       only in characters a file name cannot hold stay apart.
//   <run>/status.json   written (atomically) when the sweep's trainer of the
//       run ends: {"status": "done" | "failed" | "interrupted", "error",
//       "tokens_per_s" (or null), "branched_from" (run id or ""), "branch_step"}
//
// Final losses and task scores are the trainer's metrics.jsonl, read as the
// sweep reads it. Not carried: the registry's times (started, ended), the
// trainer's pid and host; a rebuilt registry has them empty.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "analysis/registry.h"

namespace replay::sweep {

struct Membership {
  std::string sweep;
  std::string id;      // the run's content hash (registry id)
  std::string config;  // resolved config text, as registered
  analysis::TargetIdentity target;
  std::vector<std::pair<std::string, std::map<std::string, std::string>>> names;  // name, tags
};

struct RunOutcome {
  analysis::RunStatus status = analysis::RunStatus::done;  // done, failed or interrupted
  std::string error;
  std::optional<double> tokens_per_s;
  std::string branched_from;  // parent run id when it started from the parent's prefix
  int64_t branch_step = 0;
};

void write_membership(const std::filesystem::path& run_dir, const Membership& membership);
void write_outcome(const std::filesystem::path& run_dir, const RunOutcome& outcome);
// The folder's status.json, if any (a malformed one throws naming the file).
std::optional<RunOutcome> read_outcome(const std::filesystem::path& run_dir);

// What the folder says of its run: its status.json; done whenever the trainer
// completed the run (summary.json), also when status.json was written by an
// earlier, interrupted try or the sweep ended before writing it. Nothing when
// the folder says neither.
std::optional<RunOutcome> folder_outcome(const std::filesystem::path& run_dir);

struct RebuildSummary {
  int folders = 0;  // run folders with at least one membership
  int names = 0;    // (sweep, name) memberships added or already there
  int done = 0, failed = 0, interrupted = 0, unfinished = 0;  // by the folders' status
  std::vector<std::string> skipped;  // folders without memberships (not a sweep's run)
};

// Adds every run folder under `runs_dir` to `registry`: its memberships, its
// metrics.jsonl, its status and branch. Idempotent: a run already recorded
// keeps its rows, and a status is written only where the registry's differs;
// so rebuilding into the registry of another worker merges the two.
RebuildSummary rebuild_registry(const std::filesystem::path& runs_dir, analysis::Registry& registry);

}  // namespace replay::sweep
