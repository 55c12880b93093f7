// Runs the real `replay` binary (REPLAY_BINARY) from tests: one command line
// of arguments (shell syntax: quote what needs quoting), its exit status and
// everything it printed (stdout and stderr, interleaved as written).
#pragma once
#include <stdio.h>
#include <sys/wait.h>

#include <array>
#include <string>

struct CliResult {
  int status = -1;  // exit code; -1 when it did not exit normally (a signal)
  std::string out;
};

// Any shell command line, as given (redirect its stderr yourself).
inline CliResult run_shell(const std::string& command) {
  CliResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) result.out.append(buf.data(), n);
  const int status = ::pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

inline CliResult run_replay(const std::string& args) {
  return run_shell(std::string(REPLAY_BINARY) + " " + args + " 2>&1");
}
