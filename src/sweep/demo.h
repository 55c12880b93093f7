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

struct DemoOptions {
  std::vector<std::string> domains = {"math"};  // target domains
  bool full = false;                            // all domains + the rho x alpha sweep
  int jobs = 1;
  std::filesystem::path root = ".";             // repository root (configs/, corpora/)
  std::filesystem::path data = "data";
  std::filesystem::path runs = run::kDefaultRunsDir;
  // Set to a signal number to stop (util/stop_signals.h): forwarded to the
  // step or trainers at work, then replay::Interrupted. Null: never.
  const std::atomic<int>* stop_signal = nullptr;
};

// Returns the report directories written, one per target domain.
std::vector<std::filesystem::path> run_demo(const DemoOptions& options);

}  // namespace replay::sweep
