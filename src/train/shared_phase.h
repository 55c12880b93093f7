// Reuse of phases that several runs share (the fine-tuning protocol's
// pre-training: same model, data, seed, steps and schedule for every replay
// multiplier m). The state at the end of such a phase is published under
//   <shared>/<key>/checkpoint/     a regular checkpoint (checkpoint.h)
//   <shared>/<key>/metrics.jsonl   the metrics lines of every step up to there
// where key = the schedule engine's phase_content_key plus everything of the
// trainer that changes the result (model, optimizer, microbatch, data
// manifests, init_from, eval settings). A run that finds its key there
// starts from that checkpoint, as if it had trained the phase itself.
#pragma once
#include <filesystem>
#include <optional>
#include <string>

#include "train/run_config.h"

namespace replay::train {

// Content key of the state after phase `phase` (and all before it).
std::string shared_phase_key(const RunConfig& config, size_t phase);

struct SharedPhase {
  std::filesystem::path checkpoint;  // verified checkpoint directory
  std::filesystem::path metrics;     // metrics.jsonl up to the phase end
};

// The published state for `key`, if present and intact.
std::optional<SharedPhase> find_shared_phase(const std::filesystem::path& shared_dir,
                                             const std::string& key);

// Publishes a copy of `checkpoint` and the first `metrics_bytes` of
// `metrics` atomically (a temporary directory renamed into place). If
// another run published the same key first, keeps theirs.
void publish_shared_phase(const std::filesystem::path& shared_dir, const std::string& key,
                          const std::filesystem::path& checkpoint,
                          const std::filesystem::path& metrics, uint64_t metrics_bytes);

}  // namespace replay::train
