// Child processes of the replay binary (sweeps run each training run as its
// own process; the demo runs its build steps as replay subcommands).
#pragma once
#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace replay::process {

// Starts argv[0] with `argv`; with a `log`, its stdout and stderr are
// appended there. Returns the pid; throws replay::Error if it cannot fork.
pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& log = {});

// Path of the running executable, to start replay subcommands.
std::filesystem::path self_executable();

}  // namespace replay::process
