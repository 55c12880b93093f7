// Reader for a run's metrics.jsonl, the trainer's append-only log: one JSON
// object per line, {"kind":"step",...} per optimizer step and
// {"kind":"eval","step","tokens","val":{"<split>": loss_nats}} per evaluation.
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

struct RunMetrics {
  std::vector<StepRecord> steps;
  std::vector<EvalRecord> evals;
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
// so the trainer can add fields without breaking readers.
RunMetrics parse_metrics(std::string_view text, const std::string& source);
RunMetrics read_metrics(const std::filesystem::path& file);

}  // namespace replay::analysis
