// The main job: a micro replication of the paper on real corpora, on CPU.
// Builds whatever is missing (corpora, tokenizer, token stores), runs the
// demo sweep (reference runs at several pool sizes, mid-training and
// fine-tuning with and without replay), fits the reference curve and writes
// the report. Everything it produces is content-addressed or checked for
// existence, so an interrupted demo continues where it stopped.
#pragma once
#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "run/layout.h"

namespace replay::sweep {

// The target domains the demo knows (corpora/default.toml builds them; --full
// runs them all). `replay demo --domain` accepts only these, checked before
// anything is downloaded or built.
inline const std::vector<std::string> kDemoDomains = {"math", "code", "basque", "qa"};

// `--full` repeats every run over this many seeds (docs/statistics.md): the
// intervals are then over seeds, not only over validation sequences.
inline constexpr int64_t kFullDemoSeeds = 3;

struct DemoOptions {
  std::vector<std::string> domains = {"math"};  // target domains
  bool full = false;                            // all domains + the rho x alpha sweep, kFullDemoSeeds seeds
  bool practical = false;                       // run_practical_demo instead
  int jobs = 1;
  std::filesystem::path root = ".";             // repository root (configs/, corpora/)
  std::filesystem::path data = "data";
  std::filesystem::path runs = run::kDefaultRunsDir;
  // Set to a signal number to stop (util/stop_signals.h): forwarded to the
  // step or trainers at work, then replay::Interrupted. Null: never.
  const std::atomic<int>* stop_signal = nullptr;
};

// Returns the report directories written, one per target domain. Ends with
// one summary on stderr, its texts in one column: per sweep its name, its
// report (Markdown and HTML), the reference fit and the multipliers with
// their intervals (or, when no multiplier can be computed, each comparison's
// paired loss difference), each saying whether the effect is measurable;
// then the time taken (util/duration.h).
std::vector<std::filesystem::path> run_demo(const DemoOptions& options);

// The practical experiment (the paper's Basque study, shrunk): pre-trains a
// micro model on the generic (English) corpus once (configs/micro/
// english.toml) and exports it in Hugging Face format; builds the help
// benchmark for 128-token contexts (`replay tasks build-help --max-chars
// 200`); continues the exported model on Basque at a fixed target budget
// with rho = 0, 0.5, 0.75, 0.9 (configs/micro/practical.toml), scoring two
// Basque tasks and their English twins before the first step and as it
// trains; writes the report and a summary table (accuracy with standard
// errors, paired changes from the pretrained model and from rho = 0 with
// McNemar p-values) to <runs>/reports/, and prints the report's paths
// (Markdown, HTML), the summary's and the table. Fits nothing. Returns the report
// directory. `domains` and `full` are not used.
std::vector<std::filesystem::path> run_practical_demo(const DemoOptions& options);

}  // namespace replay::sweep
