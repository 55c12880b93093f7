// Drives the real `replay train` binary (REPLAY_BINARY) from tests: start it
// in the background with its console going to a log, watch its metrics, send
// it signals, collect its exit status.
#pragma once
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tiny_run.h"

namespace replay::train::testing {

// The mid-training schedule most binary-driving tests train: math as the
// target (f = 1/32, e = 4), half the stage-2 data replayed generic text.
inline constexpr const char* kTinyMidTraining =
    "[schedule]\nprotocol = \"mid-training\"\ntarget = \"math\"\ngeneric = \"generic\"\n"
    "f = 0.03125\ne = 4\nrho = 0.5\nalpha = 1.0\nblock_size = 8\n";

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

// Waits until `pid` has logged at least `lines` steps to `metrics` (fails if
// it exits first, printing `log`, or after two minutes).
inline void wait_for_step_lines(pid_t pid, const std::filesystem::path& metrics, size_t lines,
                                const std::filesystem::path& log) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (count_step_lines(metrics) < lines) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, WNOHANG), 0) << "finished too early: " << read_log(log);
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
}

// Both metrics files have `steps` steps (every line parses) with the same
// phases and losses bit for bit (JSON doubles round-trip exactly), and the
// same evaluations. `context` is added to failure messages.
inline void expect_same_losses(const std::filesystem::path& reference, const std::filesystem::path& other,
                               int steps, const std::string& context = "") {
  auto a = read_metrics(reference);
  auto b = read_metrics(other);  // throws on a line that is not JSON
  ASSERT_EQ(a.steps.size(), static_cast<size_t>(steps));
  ASSERT_EQ(b.steps.size(), static_cast<size_t>(steps)) << context;
  for (size_t i = 0; i < a.steps.size(); ++i) {
    EXPECT_EQ(b.steps[i].step, a.steps[i].step);
    EXPECT_EQ(b.steps[i].phase, a.steps[i].phase);
    EXPECT_EQ(b.steps[i].loss, a.steps[i].loss) << "step " << i + 1 << context;
  }
  ASSERT_EQ(a.evals.size(), b.evals.size());
  for (size_t i = 0; i < a.evals.size(); ++i) EXPECT_EQ(a.evals[i]["val"], b.evals[i]["val"]);
}

}  // namespace replay::train::testing
