// Reusable training states (run/state_key.h names them): the state after s
// steps, published by one run so that others whose first s steps are the
// same start there instead of recomputing them. Layout (run/layout.h):
//   <shared>/<key>/checkpoint/     a regular checkpoint (checkpoint.h)
//   <shared>/<key>/metrics.jsonl   the metrics lines of every step up to there
// A state is published once: the first run to publish a key wins and later
// publishers keep it (equal keys are bit-identical states).
#pragma once
#include <filesystem>
#include <optional>
#include <string>

namespace replay::train {

struct SharedState {
  std::filesystem::path checkpoint;  // verified checkpoint directory
  std::filesystem::path metrics;     // metrics.jsonl up to the state
};

// The published state for `key`, if present and intact.
std::optional<SharedState> find_shared_state(const std::filesystem::path& shared_dir, const std::string& key);

// Publishes a copy of `checkpoint` and the first `metrics_bytes` of
// `metrics` atomically (a staging directory renamed into place). If another
// run published the same key first, keeps theirs.
void publish_shared_state(const std::filesystem::path& shared_dir, const std::string& key,
                          const std::filesystem::path& checkpoint, const std::filesystem::path& metrics,
                          uint64_t metrics_bytes);

}  // namespace replay::train
