#include "util/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "util/error.h"

namespace replay::fs {

namespace {

std::string read_all(int fd) {
  std::string text;
  char buf[64];
  ssize_t n;
  off_t at = 0;
  while ((n = ::pread(fd, buf, sizeof buf, at)) > 0) {
    text.append(buf, static_cast<size_t>(n));
    at += n;
  }
  return text;
}

}  // namespace

FileLock::FileLock(const std::filesystem::path& file) : path_(file) {
  // No O_TRUNC: a refused process must not wipe the holder's PID.
  // O_CLOEXEC: a child process started by the holder must not keep the lock
  // alive after the holder is gone.
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error("cannot open lock file " + path_.string() + ": " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err != EWOULDBLOCK) {
      ::close(fd_);
      fd_ = -1;
      throw Error("cannot lock " + path_.string() + ": " + std::strerror(err));
    }
    holder_pid_ = std::strtol(read_all(fd_).c_str(), nullptr, 10);
    ::close(fd_);
    fd_ = -1;
    return;
  }
  held_ = true;
  // Best effort: the PID only improves the message another process prints.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, pid.data(), pid.size(), 0);
}

FileLock::FileLock(FileLock&& other) noexcept
    : path_(std::move(other.path_)), fd_(other.fd_), held_(other.held_), holder_pid_(other.holder_pid_) {
  other.fd_ = -1;
  other.held_ = false;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the lock
}

}  // namespace replay::fs
