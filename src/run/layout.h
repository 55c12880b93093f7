// The run folder, stated once. Every stage that reads or writes a run's files
// (trainer, sweep runner, registry import, reports) takes the names from here.
//
//   <runs>/<id16>/            one run (id16 = first 16 hex digits of its content hash)
//     config.json             {"content_hash", "config": resolved description, "source"}
//     metrics.jsonl           one JSON object per line (train/metrics_log.h)
//     summary.json            written when the run completes
//     val_sequences.json      the final evaluation's loss of every validation
//                             sequence: {"step": N, "splits": {"target":
//                             [loss of sequence 0, 1, ...], ...}}, written
//                             atomically (docs/statistics.md)
//     branched.json           {"branch_at": step}: the run started from a shared state
//     sweeps/<sweep>-<h8>.json  a sweep's membership: its names and tags for the run,
//                             the resolved config text and target (sweep/run_record.h)
//     status.json             how the sweep's trainer of the run ended: status,
//                             error, throughput, branch (sweep/run_record.h)
//     tensorboard/events.out.tfevents.<time>.<host>.<pid>.<n>
//                             the metrics as TensorBoard scalars, when
//                             train.tensorboard is set (train/tensorboard.h)
//     train.log               console output when a sweep ran it
//     .lock                   held (flock) by the trainer working in the folder;
//                             holds its PID (util/file_lock.h)
//     claims/<generation>.json  the claim of a `replay sweep --claim` worker
//                             on the run (sweep/claims.h)
//     checkpoints/step-NNNNNNNNN/   (train/checkpoint.h)
//     tasks/step-N/           per-item results of the eval.tasks scored after
//                             N steps, as `replay eval --out` writes them
//                             (eval/results.h): `replay eval compare` takes
//                             two of them (two runs, or two steps of one)
//   <runs>/_shared/<key>/     a reusable training state (run/state_key.h)
//     checkpoint/             a regular checkpoint
//     metrics.jsonl           the metrics lines of every step up to that state
//   <runs>/registry.sqlite    the run registry (analysis/registry.h)
//   <runs>/reports/<sweep>/   a sweep's report (`replay report`, the demo)
#pragma once
#include <filesystem>
#include <string>

namespace replay::run {

inline constexpr const char* kConfigFile = "config.json";
inline constexpr const char* kMetricsFile = "metrics.jsonl";
inline constexpr const char* kSummaryFile = "summary.json";
inline constexpr const char* kValSequencesFile = "val_sequences.json";
inline constexpr const char* kBranchFile = "branched.json";
inline constexpr const char* kBranchKey = "branch_at";  // its one field: the step
inline constexpr const char* kTrainLog = "train.log";
inline constexpr const char* kTensorBoardDir = "tensorboard";
inline constexpr const char* kMembershipsDir = "sweeps";
inline constexpr const char* kStatusFile = "status.json";
inline constexpr const char* kLockFile = ".lock";
inline constexpr const char* kClaimsDir = "claims";
inline constexpr const char* kCheckpointsDir = "checkpoints";
inline constexpr const char* kSharedDirName = "_shared";
inline constexpr const char* kSharedCheckpoint = "checkpoint";
inline constexpr const char* kRegistryFile = "registry.sqlite";
inline constexpr const char* kDefaultRunsDir = "runs";
inline constexpr const char* kTaskResultsDir = "tasks";
inline constexpr const char* kReportsDir = "reports";

// The per-item task results of a run after `step` steps.
inline std::filesystem::path task_results_dir(const std::filesystem::path& run_dir, long long step) {
  return run_dir / kTaskResultsDir / ("step-" + std::to_string(step));
}

// Where a sweep puts the run with this content hash.
inline std::filesystem::path run_dir_for(const std::filesystem::path& runs_dir,
                                         const std::string& content_hash) {
  return runs_dir / content_hash.substr(0, 16);
}

}  // namespace replay::run
