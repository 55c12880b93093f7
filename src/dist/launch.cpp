#include "dist/launch.h"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <optional>
#include <thread>

#include "dist/world.h"
#include "model/threads.h"
#include "util/error.h"
#include "util/process.h"
#include "util/stop_signals.h"

namespace replay::dist {

namespace {

using Clock = std::chrono::steady_clock;

struct Rank {
  pid_t pid = -1;
  bool running = false;
  int status = 0;  // waitpid's status once it ended
};

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "ended";
}

bool failed(int status) { return !WIFEXITED(status) || WEXITSTATUS(status) != 0; }

std::vector<std::string> rank_environment(const LaunchOptions& o, int rank) {
  const std::string n = std::to_string(o.nproc), r = std::to_string(rank);
  std::vector<std::string> env = {std::string(kRankVar) + "=" + r,        std::string(kWorldSizeVar) + "=" + n,
                                  std::string(kLocalRankVar) + "=" + r,   "LOCAL_WORLD_SIZE=" + n,
                                  std::string(kMasterAddrVar) + "=" + o.master_addr,
                                  std::string(kMasterPortVar) + "=" + std::to_string(o.port)};
  // The user's own OMP_NUM_THREADS is inherited as it is.
  if (!std::getenv(kOmpThreadsVar))
    env.push_back(std::string(kOmpThreadsVar) + "=" +
                  std::to_string(threads_per_rank(model::available_cores(), o.nproc)));
  return env;
}

void signal_running(std::vector<Rank>& ranks, int signal) {
  for (auto& r : ranks)
    if (r.running) ::kill(r.pid, signal);
}

// Reaps every rank that ended; returns the index of the first one that
// failed among them, or -1.
int reap(std::vector<Rank>& ranks) {
  int first_failed = -1;
  for (size_t i = 0; i < ranks.size(); ++i) {
    if (!ranks[i].running) continue;
    int status = 0;
    if (::waitpid(ranks[i].pid, &status, WNOHANG) != ranks[i].pid) continue;
    ranks[i].running = false;
    ranks[i].status = status;
    if (failed(status) && first_failed < 0) first_failed = static_cast<int>(i);
  }
  return first_failed;
}

bool any_running(const std::vector<Rank>& ranks) {
  for (const auto& r : ranks)
    if (r.running) return true;
  return false;
}

}  // namespace

int threads_per_rank(int cores, int ranks) { return std::max(1, cores / std::max(1, ranks)); }

LaunchResult launch_local(const LaunchOptions& o) {
  if (o.nproc < 1) throw Error("replay launch: --nproc " + std::to_string(o.nproc) + " (must be >= 1)");
  const std::atomic<int>& stop = install_stop_handlers();
  std::vector<Rank> ranks(static_cast<size_t>(o.nproc));
  std::vector<std::string> argv = {o.executable};
  argv.insert(argv.end(), o.args.begin(), o.args.end());
  for (int i = 0; i < o.nproc; ++i) {
    process::SpawnOptions spawn;
    spawn.own_process_group = true;
    try {
      ranks[static_cast<size_t>(i)] = {process::spawn(argv, spawn, rank_environment(o, i)), true, 0};
    } catch (const Error&) {
      signal_running(ranks, SIGKILL);
      throw;
    }
    if (o.console)
      std::fprintf(o.console, "replay launch: rank %d/%d pid %d\n", i, o.nproc, ranks[static_cast<size_t>(i)].pid);
  }
  LaunchResult result;
  int forwarded = 0;
  std::optional<Clock::time_point> kill_at;
  while (any_running(ranks)) {
    const int newly_failed = reap(ranks);
    if (newly_failed >= 0 && result.failed_rank < 0 && !forwarded) {
      result.failed_rank = newly_failed;
      signal_running(ranks, SIGTERM);
      kill_at = Clock::now() + kLaunchGrace;
    }
    if (!forwarded && stop.load() != 0) {
      forwarded = stop.load();
      signal_running(ranks, forwarded);
    }
    if (kill_at && Clock::now() > *kill_at) signal_running(ranks, SIGKILL);
    if (any_running(ranks)) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (result.failed_rank >= 0) {
    const auto& r = ranks[static_cast<size_t>(result.failed_rank)];
    result.exit_code = 1;
    result.message = "rank " + std::to_string(result.failed_rank) + " (pid " + std::to_string(r.pid) + ") " +
                     describe_status(r.status) + "; the other ranks were stopped. Rerun the same command to resume "
                     "from the last checkpoint";
  } else if (forwarded) {
    result.exit_code = 128 + forwarded;
    result.message = "stopped by signal " + std::to_string(forwarded) + ", forwarded to every rank";
  }
  return result;
}

}  // namespace replay::dist
