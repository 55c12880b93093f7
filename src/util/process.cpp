#include "util/process.h"

#include <fcntl.h>
#include <unistd.h>

#include "util/error.h"

namespace replay::process {

pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  if (!log.empty() && log.has_parent_path()) std::filesystem::create_directories(log.parent_path());
  pid_t pid = ::fork();
  if (pid < 0) throw Error("cannot start " + (argv.empty() ? std::string("a process") : argv[0]) + ": fork failed");
  if (pid == 0) {
    if (!log.empty()) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::close(fd);
      }
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

std::filesystem::path self_executable() { return std::filesystem::read_symlink("/proc/self/exe"); }

}  // namespace replay::process
