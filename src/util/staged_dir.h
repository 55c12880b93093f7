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
#pragma once
#include <filesystem>
#include <string>

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
