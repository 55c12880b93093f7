// Drives the real `replay train` binary (REPLAY_BINARY) from tests: start it
// in the background with its console going to a log, watch its metrics, send
// it signals, collect its exit status.
#pragma once
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

namespace replay::train::testing {

// The run config the binary-driving tests use: the tiny model on stores
// `dir`/generic and `dir`/math (tiny_run.h make_store), run folder `dir`/`name`,
// `steps` steps of 8 sequences, evaluation every 5 steps, checkpoints every 3
// (keeping 2), and the given [schedule] table.
inline std::filesystem::path write_tiny_config(const std::filesystem::path& dir, const std::string& name,
                                               const std::string& schedule, int steps) {
  const std::filesystem::path file = dir / (name + ".toml");
  std::ofstream(file) << "seed = 11\nout = \"" + (dir / name).string() + "\"\nthreads = 1\nshared = \"" +
                             (dir / ("shared-" + name)).string() + "\"\n" +
                             "[model]\npreset = \"tiny\"\n"
                             "[data.sources.generic]\nstore = \"" + (dir / "generic").string() + "\"\n" +
                             "[data.sources.math]\nstore = \"" + (dir / "math").string() + "\"\n" + schedule +
                             "[train]\nsteps = " + std::to_string(steps) + "\nbatch_size = 8\nmicrobatch = 4\n" +
                             "[eval]\nevery = 5\nsequences = 8\n[checkpoint]\nevery = 3\nkeep = 2\n";
  return file;
}

// Starts `replay train config [extra]` with stdout and stderr appended to
// `log`. With `file_blocks`, under `ulimit -f file_blocks` (1024-byte blocks),
// set by bash, which then execs the binary.
inline pid_t spawn_train(const std::filesystem::path& config, const std::vector<std::string>& extra,
                         const std::filesystem::path& log, std::optional<int> file_blocks = {}) {
  pid_t pid = ::fork();
  if (pid == 0) {
    FILE* f = std::freopen(log.c_str(), "a", stderr);
    (void)f;
    ::dup2(::fileno(stderr), STDOUT_FILENO);
    std::vector<std::string> args = {REPLAY_BINARY, "train", config.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    if (file_blocks) {
      args.insert(args.begin(),
                  {"/bin/bash", "-c", "ulimit -f " + std::to_string(*file_blocks) + "; exec \"$0\" \"$@\""});
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    std::_Exit(127);
  }
  return pid;
}

// The exit code, or minus the signal that ended the process.
inline int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

inline size_t count_step_lines(const std::filesystem::path& metrics) {
  std::ifstream in(metrics);
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) n += line.find("\"kind\":\"step\"") != std::string::npos;
  return n;
}

inline std::string read_log(const std::filesystem::path& log) {
  std::ifstream in(log);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace replay::train::testing
