// An exclusive lock on a file, so that two processes never work in one folder
// at once (a run folder: run/layout.h's kLockFile).
//
// flock(LOCK_EX | LOCK_NB): taking it never waits, and the kernel drops it
// when the holder's descriptor closes, however the process ends (a SIGKILLed
// run leaves no stale lock to clean up). The holder writes its PID into the
// file so that a refused process can say who is in the way; the file itself
// stays in place (removing it would let a third process lock a new inode
// while the second still holds the old one).
#pragma once
#include <filesystem>
#include <string>

#include "util/error.h"

namespace replay::fs {

// The exit code of a replay process refused because another process holds
// its lock (EX_TEMPFAIL): a parent (a sweep) tells "busy, wait and retry"
// from a failure by it.
inline constexpr int kLockHeldExit = 75;

// Thrown when a lock is held by another process; the CLI exits with
// kLockHeldExit.
class LockHeld : public Error {
 public:
  LockHeld(const std::string& message, long holder_pid) : Error(message), holder_pid(holder_pid) {}
  const long holder_pid;  // 0 when unknown
};

class FileLock {
 public:
  // Opens `file` (created if missing; its folder must exist) and tries to
  // take the lock without waiting. Throws replay::Error naming the file when
  // it cannot be opened or locked for any reason but another holder.
  explicit FileLock(const std::filesystem::path& file);
  ~FileLock();
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&&) = delete;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  // True when this object holds the lock (until it is destroyed).
  bool held() const { return held_; }
  // When not held: the PID the holder recorded, 0 when it has not written it
  // yet or the file holds no number.
  long holder_pid() const { return holder_pid_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  bool held_ = false;
  long holder_pid_ = 0;
};

}  // namespace replay::fs
