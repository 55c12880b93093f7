// A directory that appears complete or not at all: it is built under a
// staging name next to its final path and renamed into place in one step.
// The one way to publish a directory that others read.
//
//   StagedDir staged(store_path);
//   ... write files under staged.path() ...
//   staged.publish(StagedDir::Mode::replace);
//
// Names, in the final path's parent, for final path ".../<name>":
//   ".tmp-<name>-<pid>-<n>"  the staging directory
//   ".old-<name>-<pid>-<n>"  the previous directory, set aside while replacing
// (n counts StagedDirs in this process, so two never share a name). Both
// start with '.', so listings that look for real entries skip them, and
// is_leftover() tells them apart for whoever cleans up after a crash.
//
// publish() fsyncs every file and directory under the staging directory,
// renames it into place and fsyncs the parent, so once it returns the new
// directory survives a power cut.
//
// What a kill (or power cut) at each point leaves behind:
//   - before publish() returns from its fsyncs: the final path untouched, plus
//     a staging directory (possibly incomplete) to remove;
//   - replace, between setting the old directory aside and renaming the new
//     one in: no directory at the final path; the old one, complete, under
//     ".old-..." and the new one, complete, under ".tmp-...";
//   - after the rename: the new directory in place; with replace, possibly
//     the old one still under ".old-...".
// Nothing incomplete is ever visible under the final name. Without a crash,
// nothing is left behind: a StagedDir destroyed without publish() (an
// exception while filling it) removes its staging directory, and a failed
// publish() puts the old directory back before throwing.
//
// After a crash, recover_leftovers() cleans up for one final path. It needs
// the caller to be the only writer of that path (hold a fs::FileLock on
// lock_file(final_path)), else it could take a live writer's staging
// directory for a dead one's; it also skips names whose PID is alive.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace replay {

class StagedDir {
 public:
  enum class Mode {
    replace,        // an existing directory at the final path is replaced
    keep_existing,  // an existing directory wins: someone else published first
  };

  // Creates the staging directory (and the parent, if missing).
  explicit StagedDir(const std::filesystem::path& final_path);
  ~StagedDir();
  StagedDir(const StagedDir&) = delete;
  StagedDir& operator=(const StagedDir&) = delete;

  // Where to write the directory's content before publish().
  const std::filesystem::path& path() const { return staging_; }
  const std::filesystem::path& final_path() const { return final_; }

  // Moves the staged directory to the final path. Returns true when it is now
  // there; false only with keep_existing when a directory already was (it is
  // kept, the staged one discarded). Throws replay::Error naming the final
  // path when a rename or fsync fails. Call at most once.
  bool publish(Mode mode);

  // Whether a directory entry name is a staging or set-aside directory that a
  // killed process left behind.
  static bool is_leftover(const std::string& entry_name);

  // ".<name>.lock" next to ".../<name>": the one lock file of whoever
  // publishes that path and cleans up after it. Not a leftover.
  static std::filesystem::path lock_file(const std::filesystem::path& final_path);

  // Removes the staging and set-aside directories that dead processes left
  // for `final_path`; when the final path is missing and a set-aside one
  // exists (a kill between setting the old directory aside and renaming the
  // new one in), that complete old directory is renamed back instead.
  // Returns one line per directory restored or removed.
  static std::vector<std::string> recover_leftovers(const std::filesystem::path& final_path);

 private:
  void sync_staged_tree() const;
  void replace_final();
  bool place_unless_final_exists();

  std::filesystem::path final_;
  std::filesystem::path staging_;
  std::filesystem::path aside_;
  bool done_ = false;  // published or discarded: nothing left to remove
};

}  // namespace replay
