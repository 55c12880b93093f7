// A run's TensorBoard event file (run config `train.tensorboard = true`):
// the scalars of the metrics records (metrics_log.h) in the format of
// util/tfevents.h, so that `tensorboard --logdir runs` shows every run.
//
// Tags, one curve each (TensorBoard groups them by the part before '/'):
//   step record   train/loss, train/lr, train/grad_norm, train/tokens_per_s
//   eval record   val/<source>: each validation set's loss, named as the
//                 metrics record names it (e.g. val/target, val/generic)
//   task record   task/<task>/acc, and task/<task>/acc_norm when the task has it
// Each record is one Event at the record's step (steps done; an evaluation
// before the first step is at step 0). Other records (stop) have no scalars,
// and a non-finite value (a diverged evaluation) is left out.
//
// One event file per run, in <run>/tensorboard/ (run/layout.h). Every start
// of the trainer writes a new file and then removes the older ones, so that
// the folder holds what the metrics file holds, each step once:
//   resume after step S   the older files' events of steps <= S, with their
//                         wall times (the steps after S are computed again,
//                         as the metrics file drops their lines); when the
//                         folder has none (the option was off until now),
//                         the kept metrics lines, converted
//   any other start       the kept metrics lines, converted: none on a fresh
//                         start, the prefix's on a start from a shared state
// Converted events carry the wall time of this start (the metrics lines do
// not record one). A start killed between writing the new file and removing
// the older ones leaves the same events twice; the next start keeps one of
// each (identical records are copied once).
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <vector>

#include "util/tfevents.h"

namespace replay::train {

// The scalars of one metrics record, tagged as above; empty for a record
// without any.
std::vector<tfevents::Scalar> tensorboard_scalars(const nlohmann::json& record);

class TensorBoardLog {
 public:
  // `resumed_after`: the step of the checkpoint the run resumed from, if it
  // did; `kept_metrics`: the metrics file's text as the run continues it.
  TensorBoardLog(const std::filesystem::path& dir, std::optional<int64_t> resumed_after,
                 std::string_view kept_metrics);

  void write(const nlohmann::json& record);
  void sync() { file_->sync(); }
  const std::filesystem::path& file() const { return file_->path(); }

 private:
  std::unique_ptr<tfevents::EventFileWriter> file_;
};

}  // namespace replay::train
