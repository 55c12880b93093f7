#include "train/shared_state.h"

#include "train/checkpoint.h"
#include "run/layout.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/staged_dir.h"

namespace replay::train {

std::optional<SharedState> find_shared_state(const std::filesystem::path& shared_dir,
                                             const std::string& key) {
  SharedState found{shared_dir / key / run::kSharedCheckpoint, shared_dir / key / run::kMetricsFile};
  std::error_code ec;
  if (!std::filesystem::is_directory(found.checkpoint, ec)) return std::nullopt;
  if (!verify_checkpoint(found.checkpoint).empty() || !std::filesystem::exists(found.metrics)) {
    return std::nullopt;
  }
  return found;
}

void publish_shared_state(const std::filesystem::path& shared_dir, const std::string& key,
                          const std::filesystem::path& checkpoint, const std::filesystem::path& metrics,
                          uint64_t metrics_bytes) {
  const std::filesystem::path final_dir = shared_dir / key;
  if (std::filesystem::exists(final_dir)) return;  // published before: equal keys, equal states
  StagedDir staged(final_dir);
  std::filesystem::copy(checkpoint, staged.path() / run::kSharedCheckpoint,
                        std::filesystem::copy_options::recursive);
  const std::string text = fs::read_file(metrics);
  if (text.size() < metrics_bytes) throw Error(metrics.string() + " is shorter than expected");
  fs::write_file_atomic(staged.path() / run::kMetricsFile, std::string_view(text).substr(0, metrics_bytes));
  const std::string problem = verify_checkpoint(staged.path() / run::kSharedCheckpoint);
  if (!problem.empty()) throw Error("copy of " + checkpoint.string() + " does not verify: " + problem);
  staged.publish(StagedDir::Mode::keep_existing);  // another run may have won the race: fine
}

}  // namespace replay::train
