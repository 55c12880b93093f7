// Checkpoint directories: atomic, checksummed, pruned to the last K.
//
// Layout of a run's checkpoints:
//   <root>/step-000000120/model.safetensors   weights, Hugging Face Llama names
//                        /optimizer.safetensors  AdamW moments and step counts
//                        /rng.bin             torch CPU generator state
//                        /state.json          step, phase, schedule position,
//                                             data cursor, metrics offset
//                        /manifest.json       size + xxh3 of every file above,
//                                             written last
// A checkpoint is built in a staging directory "<root>/.tmp-step-...-<pid>-<n>"
// and published with util/staged_dir.h (every file fsynced, renamed into
// place, the root fsynced): a crash leaves either the previous set or the new
// complete one, plus leftovers that resume removes. A directory whose manifest is missing
// or whose files do not match it is corrupt: it is reported, renamed to
// "<name>.corrupt" and resume falls back to the previous good one.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "util/staged_dir.h"

namespace replay::train {

namespace stdfs = std::filesystem;

inline constexpr const char* kWeightsFile = "model.safetensors";
inline constexpr const char* kOptimizerFile = "optimizer.safetensors";
inline constexpr const char* kRngFile = "rng.bin";
inline constexpr const char* kStateFile = "state.json";
inline constexpr const char* kCheckpointManifest = "manifest.json";

// Everything about the position of a run that is not a tensor.
struct CheckpointState {
  int64_t step = 0;                // optimizer steps completed = next step to run
  int64_t phase = 0;               // index of the phase `step` belongs to
  std::string phase_name;
  int64_t phase_step = 0;          // schedule position: step - phase start
  double lr = 0;                   // LR of the last completed step
  int64_t sequences_consumed = 0;  // data cursor: training sequences read so far
  int64_t tokens = 0;              // training tokens so far
  uint64_t metrics_bytes = 0;      // metrics.jsonl length covering exactly these steps
  std::string config_hash;         // content hash of the resolved run config
  bool has_optimizer = true;       // false: weights-only (e.g. no step taken yet)
  // CPU threads of the maths that computed this state; 0 when it was not
  // computed on a CPU or predates the field. Part of the run's numerics: the
  // thread count changes how libtorch splits floating-point sums, so a run
  // continued from this state keeps this count (trainer.cpp).
  int64_t cpu_threads = 0;
};
nlohmann::json to_json(const CheckpointState& state);
CheckpointState state_from_json(const nlohmann::json& j, const std::string& what);

// Writes one checkpoint. Callers write files into dir() (any method), then
// commit(), which checksums them, writes state.json and the manifest, fsyncs
// and renames. Destroyed without commit(), the temporary directory is removed.
class CheckpointWriter {
 public:
  CheckpointWriter(const stdfs::path& root, int64_t step);
  ~CheckpointWriter();
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  const stdfs::path& dir() const { return staged_.path(); }
  // Writes a small file into dir() (fsynced at commit).
  void write_file(const std::string& name, const std::string& bytes);
  // Returns the final directory.
  stdfs::path commit(const CheckpointState& state);

 private:
  StagedDir staged_;
};

std::string checkpoint_dir_name(int64_t step);  // "step-000000120"

struct CheckpointInfo {
  stdfs::path dir;
  CheckpointState state;
};

// Verifies `dir` against its manifest (sizes and checksums of every file);
// returns an empty string when good, else the reason.
std::string verify_checkpoint(const stdfs::path& dir);

// Checkpoint directories under `root`, newest (highest step) first; skips
// temporaries and ".corrupt" ones. Does not verify.
std::vector<stdfs::path> list_checkpoints(const stdfs::path& root);

// The newest checkpoint that verifies. Each bad one on the way is reported
// through `report` and renamed aside to "<name>.corrupt"; leftover staging
// directories of killed writers (StagedDir::is_leftover) are removed.
std::optional<CheckpointInfo> latest_good_checkpoint(
    const stdfs::path& root, const std::function<void(const std::string&)>& report);

// Reads state.json of a checkpoint that verified.
CheckpointInfo read_checkpoint_info(const stdfs::path& dir);

// Deletes all but the newest `keep` checkpoints under `root`.
void prune_checkpoints(const stdfs::path& root, int64_t keep);

// Accepts a checkpoint directory or a run directory (uses its newest good
// checkpoint) for weights-only initialization; throws replay::Error naming
// the path when neither holds a good checkpoint.
stdfs::path resolve_init_checkpoint(const stdfs::path& path);

}  // namespace replay::train
