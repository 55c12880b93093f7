// `replay launch --nproc N`: N ranks of one command on this machine, each a
// child process of the same binary with the variables of world.h rule 1
// (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT)
// set, as torchrun would set them for a single node.
//
// Threads: N ranks on one machine that each use every core run N times too
// many threads and contend for the cores (OpenMP threads spin). Unless the
// launcher's environment already sets OMP_NUM_THREADS, each rank gets
// OMP_NUM_THREADS = threads_per_rank(cores, N), and a rank whose config
// leaves `threads` at 0 uses that (model/threads.h); a config's explicit
// `threads` still wins.
//
// Failure semantics: the first rank that exits non-zero (or is killed) is
// the failed rank; the others get SIGTERM at once and SIGKILL after
// kLaunchGrace, and the launch returns exit 1 with a message naming that
// rank. SIGINT, SIGTERM and SIGHUP sent to the launcher are forwarded once
// to every rank (the ranks run in process groups of their own so that a
// terminal's Ctrl-C reaches them only through the launcher); the launch then
// returns 128 + signal, like the ranks. A launcher that dies takes its ranks
// with it (util/process.h: PR_SET_PDEATHSIG).
#pragma once
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace replay::dist {

// The master port `replay launch` uses unless --port says otherwise
// (torchrun's default), and how long failed-launch survivors get to exit.
inline constexpr int kDefaultLaunchPort = 29500;
inline constexpr std::chrono::seconds kLaunchGrace{10};

inline constexpr const char* kOmpThreadsVar = "OMP_NUM_THREADS";

// The threads each of `ranks` ranks on one machine with `cores` cores gets:
// an equal share, at least 1.
int threads_per_rank(int cores, int ranks);

struct LaunchOptions {
  int nproc = 1;
  int port = kDefaultLaunchPort;
  std::string master_addr = "127.0.0.1";
  std::string executable;          // the binary each rank runs
  std::vector<std::string> args;   // its arguments (e.g. "train", "run.toml")
  std::FILE* console = stderr;     // the launcher's own lines
};

struct LaunchResult {
  int exit_code = 0;     // 0, 1 (a rank failed) or 128 + a forwarded signal
  int failed_rank = -1;  // the first rank that failed, -1 if none
  std::string message;   // what happened, naming the failed rank
};

// Starts the ranks, waits for all of them. Throws replay::Error when a rank
// cannot be started (the ranks already started are stopped first).
LaunchResult launch_local(const LaunchOptions& options);

}  // namespace replay::dist
