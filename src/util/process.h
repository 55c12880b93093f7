// Child processes of the replay binary (sweeps run each training run as its
// own process; the demo runs its build steps as replay subcommands).
#pragma once
#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace replay::process {

struct SpawnOptions {
  std::filesystem::path log;  // stdout and stderr appended here; empty: inherited
  // In a process group of its own, so that a terminal's Ctrl-C or hang-up
  // reaches only the parent, which forwards it once: a second SIGINT ends a
  // trainer at once, without its checkpoint.
  bool own_process_group = false;
};

// Starts argv[0] with `argv`. The child gets SIGTERM when the parent dies
// (PR_SET_PDEATHSIG), so a killed sweep leaves no orphaned trainer behind;
// a child whose parent died before that was set ends at once. The kernel
// sends it when the spawning thread ends, so spawn from a thread that
// outlives the child (and waits for it). Returns the pid; throws
// replay::Error if it cannot fork.
pid_t spawn(const std::vector<std::string>& argv, const SpawnOptions& options = {});
pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& log);
// The same, with `environment` ("NAME=value" entries) added to the inherited
// environment, replacing variables of the same name: `replay launch` gives
// each rank its RANK.
pid_t spawn(const std::vector<std::string>& argv, const SpawnOptions& options,
            const std::vector<std::string>& environment);

// Path of the running executable, to start replay subcommands.
std::filesystem::path self_executable();

// This machine's name (gethostname), to tell whose pid a record holds.
std::string host_name();

// Whether the process `pid` of this machine still runs: it exists and is not
// a zombie (an orphan's zombie lingers where nobody reaps it).
bool alive(pid_t pid);

}  // namespace replay::process
