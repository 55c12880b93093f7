// Entry point of the `replay` binary: collects the self-registered
// subcommands, parses, and turns replay::Error (and libtorch's c10::Error,
// without its backtrace) into a message and exit 1 (replay::Interrupted:
// exit 128 + signal; fs::LockHeld: fs::kLockHeldExit). Usage errors (what
// CLI11 refuses, and a bare `replay`) exit kUsageExit, 2 (docs/cli.md).
#include <c10/util/Exception.h>
#include <malloc.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>

#include "cli/command.h"
#include "cli/options.h"
#include "util/error.h"
#include "util/file_lock.h"
#include "util/interrupted.h"

namespace replay::cli {

namespace {
std::vector<std::pair<int, SetupFn>>& registry() {
  static std::vector<std::pair<int, SetupFn>> commands;
  return commands;
}
}  // namespace

Registrar::Registrar(int rank, SetupFn setup) { registry().emplace_back(rank, setup); }

void setup_all(CLI::App& app) {
  auto commands = registry();
  std::stable_sort(commands.begin(), commands.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [rank, setup] : commands) setup(app);
}

}  // namespace replay::cli

int main(int argc, char** argv) {
  // Keep glibc from returning big buffers to the OS after every step: training
  // allocates and frees the same large tensors each step, and unmapping them
  // costs page faults that measured ~2x of eager step time on this machine.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  // A write past the file-size limit (ulimit -f) would otherwise kill the
  // process with SIGXFSZ, silently and mid-checkpoint; ignored, the write
  // fails with EFBIG and the writer reports "File too large" naming the file.
  ::signal(SIGXFSZ, SIG_IGN);

  CLI::App app{"replay: train language models through data schedules (pre-training, "
               "mid-training, fine-tuning with replay)"};
  app.name("replay");  // the help shows it even before argv[0] is parsed
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every subcommand");
  app.set_version_flag("--version", std::string("replay ") + replay::cli::kVersion);
  replay::cli::setup_all(app);
  // No subcommand: a newcomer's first try; show what there is, as a usage error.
  if (argc <= 1) {
    std::fputs(app.help().c_str(), stderr);
    return replay::cli::kUsageExit;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version arrive here as "errors" with exit code 0; every
    // other one is a usage error, whatever CLI11's own code for it.
    const int code = app.exit(e);
    return code == 0 ? 0 : replay::cli::kUsageExit;
  } catch (const replay::Interrupted& e) {
    std::fprintf(stderr, "replay: %s\n", e.what());
    return 128 + e.signal;
  } catch (const replay::fs::LockHeld& e) {
    std::fprintf(stderr, "replay: error: %s\n", e.what());
    return replay::fs::kLockHeldExit;
  } catch (const replay::Error& e) {
    std::fprintf(stderr, "replay: error: %s\n", e.what());
    return 1;
  } catch (const c10::Error& e) {
    // what() carries a C++ stack trace meant for libtorch's developers; the
    // message alone says what failed (our own checks should come first).
    std::fprintf(stderr, "replay: error: libtorch: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "replay: internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}
