#include "util/staged_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "util/error.h"
#include "util/fs.h"

namespace replay {

namespace stdfs = std::filesystem;

namespace {

constexpr const char* kStagingPrefix = ".tmp-";
constexpr const char* kAsidePrefix = ".old-";

// "-<pid>-<n>": unique among the StagedDirs of all live processes.
std::string unique_suffix() {
  static std::atomic<uint64_t> counter{0};
  return "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

stdfs::path parent_of(const stdfs::path& path) {
  return path.has_parent_path() ? path.parent_path() : stdfs::path(".");
}

[[noreturn]] void throw_errno(const std::string& what, const stdfs::path& final_path) {
  throw Error("cannot publish " + final_path.string() + ": " + what + ": " + std::strerror(errno));
}

// rename(2) that refuses an existing target: atomically where the
// filesystem supports RENAME_NOREPLACE, else check-then-rename (which still
// never replaces a non-empty directory). False when the target exists.
bool rename_no_replace(const stdfs::path& from, const stdfs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return true;
  if (errno == EEXIST) return false;
  if (errno != EINVAL && errno != ENOSYS) throw_errno("rename", to);
  std::error_code ec;
  if (stdfs::exists(to, ec)) return false;
  if (std::rename(from.c_str(), to.c_str()) == 0) return true;
  if (errno == EEXIST || errno == ENOTEMPTY) return false;
  throw_errno("rename", to);
}

}  // namespace

StagedDir::StagedDir(const stdfs::path& final_path) {
  final_ = final_path.lexically_normal();
  if (final_.filename().empty()) final_ = final_.parent_path();  // "out/" -> "out"
  const std::string name = final_.filename().string();
  const std::string suffix = unique_suffix();
  staging_ = parent_of(final_) / (kStagingPrefix + name + suffix);
  aside_ = parent_of(final_) / (kAsidePrefix + name + suffix);
  stdfs::remove_all(staging_);  // a killed process with the same pid left it
  stdfs::create_directories(staging_);
}

StagedDir::~StagedDir() {
  if (done_) return;
  std::error_code ignored;
  stdfs::remove_all(staging_, ignored);
}

bool StagedDir::is_leftover(const std::string& entry_name) {
  return entry_name.starts_with(kStagingPrefix) || entry_name.starts_with(kAsidePrefix);
}

// Every file and directory below the staging directory, then itself.
void StagedDir::sync_staged_tree() const {
  for (const auto& entry : stdfs::recursive_directory_iterator(staging_)) {
    if (entry.is_regular_file()) fs::fsync_file(entry.path());
    else if (entry.is_directory()) fs::fsync_dir(entry.path());
  }
  fs::fsync_dir(staging_);
}

// The old directory goes aside first and is removed only once the new one
// is in place; a failed rename puts it back.
void StagedDir::replace_final() {
  std::error_code ec;
  const bool had_old = stdfs::exists(final_, ec);
  if (had_old) {
    stdfs::remove_all(aside_, ec);
    if (std::rename(final_.c_str(), aside_.c_str()) != 0) throw_errno("moving the old one aside", final_);
  }
  if (std::rename(staging_.c_str(), final_.c_str()) != 0) {
    const int saved = errno;
    if (had_old) std::rename(aside_.c_str(), final_.c_str());
    errno = saved;
    throw_errno("renaming " + staging_.string() + " into place", final_);
  }
  done_ = true;
  fs::fsync_dir(parent_of(final_));
  if (had_old) stdfs::remove_all(aside_, ec);
}

bool StagedDir::place_unless_final_exists() {
  if (rename_no_replace(staging_, final_)) {
    done_ = true;
    fs::fsync_dir(parent_of(final_));
    return true;
  }
  std::error_code ignored;
  stdfs::remove_all(staging_, ignored);
  done_ = true;
  return false;
}

bool StagedDir::publish(Mode mode) {
  if (done_) throw Error("cannot publish " + final_.string() + " twice");
  sync_staged_tree();
  if (mode == Mode::keep_existing) return place_unless_final_exists();
  replace_final();
  return true;
}

}  // namespace replay
