// The run's metrics.jsonl (one JSON object per line, appended as training
// goes; src/analysis/metrics.h reads it), its TensorBoard mirror when the run
// asks for one (tensorboard.h), and the live console line.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "train/tensorboard.h"

namespace replay::train {

class MetricsLog {
 public:
  // Opens `path` for appending. With `truncate_to` (resume), the file is cut
  // back to that length first, dropping lines of steps after the checkpoint
  // and any half-written line of a killed run; without it the file starts
  // empty. Throws replay::Error when the file is shorter than `truncate_to`.
  MetricsLog(const std::filesystem::path& path, std::optional<uint64_t> truncate_to);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  // From now on every record's scalars also go to a TensorBoard event file
  // in `dir` (tensorboard.h), which starts with what the metrics file holds
  // so far. `resumed_after`: the checkpoint's step when the run resumed.
  void mirror_to_tensorboard(const std::filesystem::path& dir, std::optional<int64_t> resumed_after);

  // One line, one write(2) call (and one event, when mirrored).
  void write(const nlohmann::json& record);
  // Makes everything written so far durable (the event file too) and returns
  // the file length, to be recorded in a checkpoint.
  uint64_t sync();
  uint64_t bytes() const { return bytes_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  uint64_t bytes_ = 0;
  std::unique_ptr<TensorBoardLog> tensorboard_;
};

// Progress for humans: on a terminal one line rewritten in place with '\r';
// otherwise (logs, CI) a full line every `interval_s` seconds and at the end.
// Its ETA is util/duration.h's format_duration.
class ConsoleProgress {
 public:
  ConsoleProgress(int64_t total_steps, std::FILE* out = stderr, double interval_s = 10.0);
  void step(int64_t steps_done, const std::string& phase, double loss, double lr, double tokens_per_s);
  // Evaluation results go on their own line.
  void eval(int64_t steps_done, const std::map<std::string, double>& losses);
  void message(const std::string& text);
  void finish();

 private:
  void end_live_line();
  int64_t total_;
  std::FILE* out_;
  bool tty_;
  double interval_s_;
  bool live_ = false;
  double ema_step_s_ = 0;
  int64_t first_step_ = -1;
  std::chrono::steady_clock::time_point last_step_time_, last_print_;
};

}  // namespace replay::train
