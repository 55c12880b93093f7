// Reader for a run's metrics.jsonl, the trainer's append-only log: one JSON
// object per line, {"kind":"step",...} per optimizer step,
// {"kind":"eval","step","tokens","val":{"<split>": loss_nats}} per evaluation,
// and, when the run config lists [eval] tasks, one
// {"kind":"task","step","tokens","task","items","acc","acc_stderr",
//  "mismatches","gold_loglik"} line per multiple-choice task at every
// evaluation, with "acc_norm" and "acc_norm_stderr" when the task reports a
// length-normalized accuracy. A run started from pretrained weights may also
// have task lines at step 0 (the starting model); readers take any steps.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace replay::analysis {

struct StepRecord {
  int64_t step = 0;
  int64_t tokens = 0;
  double lr = 0;
  double loss = 0;
  double grad_norm = 0;
  double tokens_per_s = 0;
};

struct EvalRecord {
  int64_t step = 0;
  int64_t tokens = 0;
  std::map<std::string, double> val;  // split name -> loss (nats/token)
};

// One multiple-choice task scored at one evaluation (a "task" line).
struct TaskScoreRecord {
  int64_t step = 0;
  int64_t tokens = 0;
  std::string task;
  int64_t items = 0;         // items scored
  double acc = 0;            // fraction of items whose best-scoring choice is the gold one
  double acc_stderr = 0;     // its standard error over items
  std::optional<double> acc_norm, acc_norm_stderr;  // set together, for tasks that report it
  int64_t mismatches = 0;    // requests whose context tokens were not a prefix of the whole (eval/score.h)
  double gold_loglik = 0;    // mean log-likelihood of the gold choice (nats); NaN if diverged
};

struct RunMetrics {
  std::vector<StepRecord> steps;
  std::vector<EvalRecord> evals;
  std::vector<TaskScoreRecord> tasks;  // in file order
  bool truncated_tail = false;  // last line was cut off (run killed mid-write)

  // The evaluation with the highest step, if any.
  const EvalRecord* final_eval() const;
  // Median tokens/s over step records (robust to the slow first steps).
  std::optional<double> median_tokens_per_s() const;
};

// Parses metrics text; `source` names the file in error messages. A final line
// without a newline that does not parse is tolerated (a writer was killed
// mid-line) and reported through truncated_tail; any other bad line throws
// replay::Error naming source:line. Unknown kinds and extra keys are ignored
// so the trainer can add fields without breaking readers. A task line needs
// every key above except the acc_norm pair, which comes both or neither.
RunMetrics parse_metrics(std::string_view text, const std::string& source);
RunMetrics read_metrics(const std::filesystem::path& file);

// The final evaluation's loss per validation sequence, by split, from a run
// folder's val_sequences.json (run/layout.h); empty when the run has none
// (trained before the file existed). Throws replay::Error naming the file
// when it is not the documented shape.
std::map<std::string, std::vector<double>> read_val_sequences(const std::filesystem::path& run_dir);

}  // namespace replay::analysis
