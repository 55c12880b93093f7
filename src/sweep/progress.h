// Live progress of a sweep's trainers. A trainer started by a sweep writes
// its console to <run>/train.log; the sweep learns how far it is from the
// run's metrics.jsonl (analysis/metrics.h is its format, unchanged by this),
// read from where the last look stopped, and shows one line per running
// run (runner.h says when):
//
//   [2/4] cpt-rho=0.75  step 120/400  loss 3.4121  ETA 1m10s  sweep ETA 4m30s  log runs/30a88f6af71c3816/train.log
//
// Durations are util/duration.h's; an ETA not known yet prints "?".
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace replay::sweep {

using ProgressClock = std::chrono::steady_clock;

// Seconds left when `done` units of work took `elapsed_s` and `left` units
// remain, at the pace so far (elapsed_s * left / done). NaN (an unknown ETA)
// when nothing is done yet; 0 when nothing is left.
double eta_seconds(double elapsed_s, double done, double left);

// Follows a metrics.jsonl while its trainer appends to it. Each poll reads
// only the bytes appended since the last one; a last line without its '\n'
// yet waits for the next poll. A file shorter than what was read (a resumed
// trainer cuts it back to its checkpoint) is read again from its start.
// Never throws: a missing or unreadable file, or a line that does not parse,
// is no news.
class MetricsTail {
 public:
  explicit MetricsTail(std::filesystem::path file) : file_(std::move(file)) {}
  // True when a new step line arrived; step() and loss() are then its values.
  bool poll();
  bool has_step() const { return step_.has_value(); }
  int64_t step() const { return step_.value_or(0); }
  double loss() const { return loss_; }

 private:
  void take_lines(std::string_view text, bool& stepped);
  std::filesystem::path file_;
  uint64_t offset_ = 0;
  std::string partial_;  // the start of a line whose '\n' is not written yet
  std::optional<int64_t> step_;
  double loss_ = 0;
};

// One running run as the sweep sees it: its tail, and its pace measured on
// the sweep's clock from the first step seen to the latest (so a trainer's
// start-up, or the steps a resumed or branched run did not train now, are
// not counted as speed).
class RunProgress {
 public:
  // `number` of `count`: its "[n/N]" as its start line said; `started`: when its trainer was.
  RunProgress(std::string label, size_t number, size_t count, int64_t total_steps,
              const std::filesystem::path& run_dir, ProgressClock::time_point started);
  void poll(ProgressClock::time_point now);
  double running_s(ProgressClock::time_point now) const {
    return std::chrono::duration<double>(now - started_).count();
  }
  bool has_step() const { return tail_.has_step(); }
  int64_t step() const { return tail_.step(); }
  int64_t total_steps() const { return total_; }
  // Steps trained since the first one seen (0 before two were seen).
  int64_t steps_trained() const { return first_step_ ? tail_.step() - *first_step_ : 0; }
  double eta_s() const;  // this run's; NaN while unknown
  // The line shown for it (see the top of this file).
  std::string line(double sweep_eta_s) const;

 private:
  std::string label_;
  size_t number_, count_;
  int64_t total_;
  std::filesystem::path log_;
  MetricsTail tail_;
  std::optional<int64_t> first_step_;
  ProgressClock::time_point started_, first_seen_, last_seen_;
};

// Where the lines go. On a terminal the lines of the running runs are one
// block redrawn in place ('\r', cursor up, clear to the end of the screen),
// each cut to the terminal's width so that none wraps; a message (a start or
// done line) erases the block, is printed, and the next show() draws the
// block again below it. Elsewhere (a log, CI) a run's line is printed when
// first shown, then at most every `interval_s`, so logs stay readable.
class ProgressBoard {
 public:
  // `terminal`: isatty(out); passed in so tests can see both behaviours.
  ProgressBoard(std::FILE* out, bool terminal, double interval_s = 10.0);
  ~ProgressBoard();  // erases the block (a sweep that ends or throws leaves none)
  ProgressBoard(const ProgressBoard&) = delete;
  ProgressBoard& operator=(const ProgressBoard&) = delete;

  // The current line of every running run, keyed by run (the key keeps a
  // run's print schedule off a terminal).
  void show(const std::map<size_t, std::string>& lines, ProgressClock::time_point now);
  void say(const std::string& text);
  void erase();

 private:
  std::string erasure();  // the bytes that erase the block (none when none is drawn)
  void write(const std::string& text);
  std::FILE* out_;
  bool terminal_;
  double interval_s_;
  size_t drawn_ = 0;  // lines of the block on screen now
  std::map<size_t, ProgressClock::time_point> printed_;  // off a terminal: when each run's line last went out
};

}  // namespace replay::sweep
