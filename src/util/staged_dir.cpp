#include "util/staged_dir.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
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

stdfs::path normalized(const stdfs::path& path) {
  stdfs::path p = path.lexically_normal();
  return p.filename().empty() ? p.parent_path() : p;  // "out/" -> "out"
}

// The PID in "<prefix><name>-<pid>-<n>", or 0 when `entry` is no such name
// (a name may itself hold '-' and digits, so the whole rest must match).
long leftover_pid(const std::string& entry, const std::string& prefix, const std::string& name) {
  const std::string head = prefix + name + "-";
  if (!entry.starts_with(head)) return 0;
  const std::string rest = entry.substr(head.size());
  const size_t dash = rest.find('-');
  auto digits = [](const std::string& s) {
    return !s.empty() && s.size() <= 18 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (dash == std::string::npos || !digits(rest.substr(0, dash)) || !digits(rest.substr(dash + 1))) return 0;
  return std::stol(rest.substr(0, dash));
}

bool process_alive(long pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }

struct Leftovers {
  std::vector<stdfs::path> staging, aside;  // each sorted by name
};

// The leftovers of `final_path` whose writer is gone.
Leftovers find_dead_leftovers(const stdfs::path& final_path) {
  Leftovers found;
  const std::string name = final_path.filename().string();
  std::error_code ec;
  for (const auto& entry : stdfs::directory_iterator(parent_of(final_path), ec)) {
    const std::string entry_name = entry.path().filename().string();
    for (auto [prefix, list] : {std::pair{kStagingPrefix, &found.staging}, std::pair{kAsidePrefix, &found.aside}}) {
      const long pid = leftover_pid(entry_name, prefix, name);
      if (pid > 0 && !process_alive(pid)) list->push_back(entry.path());
    }
  }
  std::sort(found.staging.begin(), found.staging.end());
  std::sort(found.aside.begin(), found.aside.end());
  return found;
}

}  // namespace

stdfs::path StagedDir::lock_file(const stdfs::path& final_path) {
  const stdfs::path final = normalized(final_path);
  return parent_of(final) / ("." + final.filename().string() + ".lock");
}

std::vector<std::string> StagedDir::recover_leftovers(const stdfs::path& final_path) {
  const stdfs::path final = normalized(final_path);
  Leftovers found = find_dead_leftovers(final);
  std::vector<std::string> done;
  std::error_code ec;
  // Only a set-aside directory is known complete without the final one (a
  // staging one may be half written), so that is the one restored.
  if (!found.aside.empty() && !stdfs::exists(final, ec) && rename_no_replace(found.aside.front(), final)) {
    done.push_back("restored " + final.string() + " from " + found.aside.front().filename().string() +
                   " (its writer was killed while replacing it)");
    found.aside.erase(found.aside.begin());
  }
  for (const auto* list : {&found.staging, &found.aside})
    for (const stdfs::path& dir : *list) {
      stdfs::remove_all(dir, ec);
      if (ec) throw Error("cannot remove leftover " + dir.string() + ": " + ec.message());
      done.push_back("removed " + dir.string() + ", left by a killed process");
    }
  if (!done.empty()) fs::fsync_dir(parent_of(final));
  return done;
}

StagedDir::StagedDir(const stdfs::path& final_path) {
  final_ = normalized(final_path);
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
