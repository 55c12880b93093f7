#include "util/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <fstream>

#include "util/error.h"

namespace replay::process {

namespace {

// The inherited environment with `extra` ("NAME=value") replacing or
// adding variables; built before fork (the child may not allocate).
std::vector<std::string> child_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('=') + 1);
    bool replaced = false;
    for (const auto& x : extra) replaced = replaced || x.rfind(name, 0) == 0;
    if (!replaced) env.push_back(entry);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

// In the child, between fork and exec: only async-signal-safe calls.
[[noreturn]] void exec_child(const std::vector<std::string>& argv, const SpawnOptions& options, pid_t parent,
                             char* const* envp) {
  // The death signal is set after fork: if the parent died in between, the
  // child was already reparented and would never get it, so it checks.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) ::_exit(128 + SIGTERM);
  if (options.own_process_group) ::setpgid(0, 0);
  if (!options.log.empty()) {
    int fd = ::open(options.log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  if (envp) {
    ::execve(args[0], args.data(), envp);
  } else {
    ::execv(args[0], args.data());
  }
  ::_exit(127);
}

}  // namespace

pid_t spawn(const std::vector<std::string>& argv, const SpawnOptions& options) { return spawn(argv, options, {}); }

pid_t spawn(const std::vector<std::string>& argv, const SpawnOptions& options,
            const std::vector<std::string>& environment) {
  if (!options.log.empty() && options.log.has_parent_path())
    std::filesystem::create_directories(options.log.parent_path());
  std::vector<std::string> env;
  std::vector<char*> envp;
  if (!environment.empty()) {
    env = child_environment(environment);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
  }
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw Error("cannot start " + (argv.empty() ? std::string("a process") : argv[0]) + ": fork failed");
  if (pid == 0) exec_child(argv, options, parent, envp.empty() ? nullptr : envp.data());
  return pid;
}

pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  return spawn(argv, SpawnOptions{log});
}

std::filesystem::path self_executable() { return std::filesystem::read_symlink("/proc/self/exe"); }

std::string host_name() {
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "";
  return name;
}

bool alive(pid_t pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  // /proc/<pid>/stat: "pid (comm) S ...", the state after the last ')'.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos || paren + 2 >= text.size()) return true;  // no /proc: trust kill
  return text[paren + 2] != 'Z' && text[paren + 2] != 'X';
}

}  // namespace replay::process
