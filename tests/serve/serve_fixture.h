// Test fixtures for `replay serve`: a registry made by a real tiny sweep
// (the tiny model on tiny_run.h's stores, trained by the real binary), and
// the real binary serving it as a child process whose URL is read from the
// first line it prints.
#pragma once
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "sweep/runner.h"
#include "sweep/sweep_file.h"
#include "tiny_run.h"
#include "util/file_lock.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/process.h"

namespace serve_testing {

namespace stdfs = std::filesystem;
using namespace replay;

inline constexpr const char* kSweepName = "dash";
inline constexpr int kSweepRuns = 8;

// The run config and the sweep, with @DIR@ where the fixture's folder goes.
inline std::string base_toml() {
  return "seed = 5\nout = \"unused\"\n[model]\npreset = \"tiny\"\n"
         "[data.sources.generic]\nstore = \"@DIR@/generic\"\n[data.sources.math]\nstore = \"@DIR@/math\"\n"
         "[schedule]\nprotocol = \"reference\"\ntarget = \"math\"\ngeneric = \"generic\"\n"
         "f = 0.05\ne = 4\nblock_size = 16\n"
         "[train]\nsteps = 20\nbatch_size = 8\nmicrobatch = 8\n"
         "[lr_schedule]\nkind = \"wsd\"\ncooldown = 0.1\n"
         "[eval]\nevery = 5\nsequences = 8\n[checkpoint]\nevery = 10\nkeep = 1\n";
}
inline std::string sweep_toml() {
  return std::string("name = \"") + kSweepName + "\"\nbase = \"base.toml\"\n"
         "[[group]]\nname = \"reference\"\ntags = { family = \"reference\" }\n"
         "grid = { \"schedule.f\" = [0.05, 0.1, 0.2] }\n"
         "[[group]]\nname = \"mid\"\ntags = { family = \"mid-training\" }\n"
         "set = { \"schedule.protocol\" = \"mid-training\" }\n"
         "grid = { \"schedule.rho\" = [0.0, 0.5], \"schedule.alpha\" = [0.5, 1.0] }\n"
         "[[group]]\nname = \"ft\"\ntags = { family = \"fine-tuning\" }\n"
         "set = { \"schedule.protocol\" = \"fine-tuning\", \"schedule.m\" = 2.0 }\n";
}

inline std::string with_dir(std::string text, const stdfs::path& dir) {
  for (size_t at; (at = text.find("@DIR@")) != std::string::npos;) text.replace(at, 5, dir.string());
  return text;
}

// Waits (up to 20 minutes: another test process may be training) for the
// fixture's lock.
inline fs::FileLock wait_for_lock(const stdfs::path& file) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(20);
  while (true) {
    fs::FileLock lock(file);
    if (lock.held()) return lock;
    if (std::chrono::steady_clock::now() > deadline) throw Error("still locked after 20 minutes: " + file.string());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// The registry of the tiny sweep, trained by the real binary: three
// reference pools (a fit), a mid-training rho x alpha grid (a heatmap) and
// fine-tuning with replay (its run records where fine-tuning starts: a stage
// boundary). Trained once per build tree: the tests of this binary are
// separate processes (ctest), perhaps at once, and a training costs tens of
// seconds on a busy machine; the first takes the folder's lock and trains,
// the others wait and find every run done (a rerun sweep skips them). The
// folder is named by the hash of the configs, so a changed fixture trains
// anew; its stores are built once (a marker file says they are whole).
inline stdfs::path tiny_sweep_registry() {
  const stdfs::path dir = stdfs::path(SERVE_FIXTURE_DIR) /
                          ("tiny-sweep-" + hash::xxh128_hex(base_toml() + sweep_toml()).substr(0, 12));
  stdfs::create_directories(dir);
  const fs::FileLock lock = wait_for_lock(dir / "fixture.lock");
  if (!stdfs::exists(dir / "stores.done")) {
    for (const char* store : {"generic", "math"}) stdfs::remove_all(dir / store);
    train::testing::make_store(dir / "generic", "generic", 160);
    train::testing::make_store(dir / "math", "math");
    train::testing::write_text(dir / "stores.done", "");
  }
  train::testing::write_text(dir / "base.toml", with_dir(base_toml(), dir));
  train::testing::write_text(dir / "sweep.toml", sweep_toml());
  sweep::SweepOptions options;
  options.registry = dir / "runs" / "registry.sqlite";
  options.runs_dir = dir / "runs";
  options.jobs = 2;
  options.threads = 2;
  options.replay_binary = REPLAY_BINARY;
  options.console = nullptr;
  const auto summary = sweep::run_sweep(sweep::load_sweep(dir / "sweep.toml"), options);
  EXPECT_EQ(summary.failed, 0);
  EXPECT_EQ(summary.names, kSweepRuns);
  return options.registry;
}

// `replay serve ARGS --port 0` as a child process; stopped (SIGTERM) when
// it goes out of scope if the test has not stopped it.
class ServeProcess {
 public:
  explicit ServeProcess(const std::string& args, const stdfs::path& log) : log_(log) {
    std::vector<std::string> argv = {REPLAY_BINARY, "serve", "--port", "0"};
    std::istringstream words(args);
    for (std::string w; words >> w;) argv.push_back(w);
    pid_ = process::spawn(argv, log);
  }
  ~ServeProcess() {
    if (pid_ > 0) stop();
  }

  // The URL of the first line ("serve: http://127.0.0.1:PORT/"), waiting up
  // to 30 s for it; "" when the process ended or printed something else.
  std::string url() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    const std::regex first_line(R"(^serve: (http://127\.0\.0\.1:([0-9]+)/)\n)");
    while (std::chrono::steady_clock::now() < deadline) {
      std::string text = stdfs::exists(log_) ? fs::read_file(log_) : "";
      std::smatch m;
      if (std::regex_search(text, m, first_line)) {
        port_ = std::stoi(m[2].str());
        return m[1].str();
      }
      if (::waitpid(pid_, &status_, WNOHANG) == pid_) {
        pid_ = 0;
        return "";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return "";
  }
  int port() const { return port_; }

  // SIGTERM, then its exit code (-1 if a signal ended it).
  int stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, &status_, 0);
      pid_ = 0;
    }
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
  }

 private:
  stdfs::path log_;
  pid_t pid_ = 0;
  int status_ = 0;
  int port_ = 0;
};

}  // namespace serve_testing
