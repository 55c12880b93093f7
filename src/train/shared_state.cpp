#include "train/shared_state.h"

#include <unistd.h>

#include "train/checkpoint.h"
#include "run/layout.h"
#include "util/error.h"
#include "util/fs.h"

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
                          const std::filesystem::path& checkpoint,
                          const std::filesystem::path& metrics, uint64_t metrics_bytes) {
  std::filesystem::path final_dir = shared_dir / key;
  if (std::filesystem::exists(final_dir)) return;
  std::filesystem::path tmp = shared_dir / (".tmp-" + key + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(tmp);
  std::filesystem::create_directories(tmp);
  try {
    std::filesystem::copy(checkpoint, tmp / run::kSharedCheckpoint, std::filesystem::copy_options::recursive);
    std::string text = fs::read_file(metrics);
    if (text.size() < metrics_bytes) throw Error(metrics.string() + " is shorter than expected");
    fs::write_file_atomic(tmp / run::kMetricsFile, std::string_view(text).substr(0, metrics_bytes));
    std::string problem = verify_checkpoint(tmp / run::kSharedCheckpoint);
    if (!problem.empty()) throw Error("copy of " + checkpoint.string() + " does not verify: " + problem);
    fs::fsync_dir(tmp / run::kSharedCheckpoint);
    fs::fsync_dir(tmp);
    std::error_code ec;
    std::filesystem::rename(tmp, final_dir, ec);  // fails if another run won the race: fine
    if (ec) std::filesystem::remove_all(tmp);
    fs::fsync_dir(shared_dir);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace replay::train
