// Sweeps as processes: one trainer per run folder (identical configs are one
// run with several names; a folder another process works in is waited for),
// nothing registered for a refused sweep, and stops: SIGTERM to the real
// `replay sweep` reaches its trainers and leaves `interrupted` runs that a
// rerun completes; a SIGKILLed sweep takes its trainers along (their death
// signal) and `replay runs` shows the row it left `running` as stale.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <regex>
#include <string_view>
#include <thread>
#include <vector>

#include "analysis/registry.h"
#include "run/layout.h"
#include "run/run_config.h"
#include "sweep/runner.h"
#include "sweep/sweep_file.h"
#include "tiny_run.h"
#include "train/train_process.h"
#include "util/error.h"
#include "util/file_lock.h"
#include "util/fs.h"
#include "util/lines.h"
#include "util/process.h"

namespace {

namespace stdfs = std::filesystem;
using namespace replay;
using analysis::RunStatus;
using Clock = std::chrono::steady_clock;

// Polls `condition` every 5 ms for up to 120 s (a loaded machine); false on time-out.
bool eventually(const std::function<bool()>& condition) {
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  while (!condition()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// stdout and stderr of a replay command.
std::string replay_output(const std::string& args) {
  std::string out;
  FILE* p = ::popen((std::string(REPLAY_BINARY) + " " + args + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class SweepProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(stdfs::exists(REPLAY_BINARY)) << "build the replay binary first";
    train::testing::make_store(dir() / "generic", "generic", 160);
    train::testing::make_store(dir() / "math", "math");
  }

  // A sweep a failed assertion left running is killed (its trainers follow
  // by their death signal) before its folder goes.
  void TearDown() override {
    if (sweep_pid_ > 0 && ::waitpid(sweep_pid_, nullptr, WNOHANG) == 0) {
      ::kill(sweep_pid_, SIGKILL);
      ::waitpid(sweep_pid_, nullptr, 0);
    }
  }

  const stdfs::path& dir() const { return tmp_.path; }
  stdfs::path registry_path() const { return dir() / "runs" / run::kRegistryFile; }

  // base.toml (mid-training on the tiny stores, `steps` steps) and
  // sweep.toml with the given groups.
  stdfs::path write_sweep(int steps, const std::string& groups) {
    train::testing::write_text(
        dir() / "base.toml",
        "seed = 11\nout = \"unused\"\n[model]\npreset = \"tiny\"\n"
        "[data.sources.generic]\nstore = \"" + (dir() / "generic").string() + "\"\n" +
            "[data.sources.math]\nstore = \"" + (dir() / "math").string() + "\"\n" +
            "[schedule]\nprotocol = \"mid-training\"\ntarget = \"math\"\ngeneric = \"generic\"\n"
            "f = 0.05\ne = 4\nalpha = 1.0\nrho = 0.0\nblock_size = 16\n"
            "[train]\nsteps = " + std::to_string(steps) + "\nbatch_size = 8\nmicrobatch = 4\n"
            "[eval]\nevery = 10\nsequences = 8\n[checkpoint]\nevery = 5\nkeep = 2\n");
    train::testing::write_text(dir() / "sweep.toml", "name = \"t\"\nbase = \"base.toml\"\n" + groups);
    return dir() / "sweep.toml";
  }

  sweep::SweepOptions options(int jobs = 1) const {
    sweep::SweepOptions o;
    o.registry = registry_path();
    o.runs_dir = dir() / "runs";
    o.jobs = jobs;
    o.threads = jobs;
    o.replay_binary = REPLAY_BINARY;
    o.console = nullptr;
    return o;
  }

  // The run folder `overrides` of base.toml resolve to.
  stdfs::path run_dir_of(const std::vector<std::string>& overrides) const {
    return run::run_dir_for(dir() / "runs", run::load_run_config(dir() / "base.toml", overrides).content_hash);
  }

  std::vector<analysis::RunRecord> runs() const {
    return analysis::Registry(registry_path(), false).list_runs({});
  }

  // `replay sweep sweep.toml` started in the background, console to `log_name`.
  // With `own_group`, the sweep leads a process group, as a shell's foreground job.
  pid_t spawn_sweep(int jobs, const std::string& log_name = "sweep.log", bool own_group = false) {
    const std::string log = (dir() / log_name).string(), registry = registry_path().string(),
                      runs_dir = (dir() / "runs").string(), j = std::to_string(jobs),
                      sweep = (dir() / "sweep.toml").string();
    pid_t pid = ::fork();
    if (pid == 0) {
      if (own_group) ::setpgid(0, 0);
      FILE* f = std::freopen(log.c_str(), "a", stderr);
      (void)f;
      ::execl(REPLAY_BINARY, REPLAY_BINARY, "sweep", sweep.c_str(), "-j", j.c_str(), "--threads", j.c_str(),
              "--db", registry.c_str(), "--runs", runs_dir.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    sweep_pid_ = pid;
    return pid;
  }

  // Waits until every run of the registry is running with a trainer that
  // has trained at least one step; returns their trainers' pids.
  std::vector<pid_t> wait_for_training(size_t expected_runs, pid_t sweep_pid) {
    std::vector<pid_t> trainers;
    const bool training = eventually([&] {
      int status = 0;
      if (::waitpid(sweep_pid, &status, WNOHANG) != 0) return true;  // ended early: reported below
      std::vector<analysis::RunRecord> listed;
      try {
        listed = runs();
      } catch (const Error&) {
        return false;  // the sweep is still creating the registry
      }
      trainers.clear();
      for (const auto& r : listed) {
        if (r.status != RunStatus::running || r.pid <= 0) return false;
        if (train::testing::count_step_lines(stdfs::path(r.run_dir) / run::kMetricsFile) == 0) return false;
        trainers.push_back(static_cast<pid_t>(r.pid));
      }
      return trainers.size() == expected_runs;
    });
    EXPECT_TRUE(training) << "the trainers did not start: " << fs::read_file(dir() / "sweep.log");
    return trainers;
  }

  TempDir tmp_{"sweep-process"};
  pid_t sweep_pid_ = -1;
};

// Two groups of one sweep resolving to the same config, at -j 2: one
// trainer, one registry run that keeps both names, honest counts.
TEST_F(SweepProcess, IdenticalConfigsAreOneRunWithSeveralNames) {
  write_sweep(20,
              "[[group]]\nname = \"a\"\ntags = { family = \"mid-training\" }\nset = { \"schedule.rho\" = 0.0 }\n"
              "[[group]]\nname = \"b\"\ntags = { family = \"copy\" }\nset = { \"schedule.rho\" = 0.0 }\n"
              "[[group]]\nname = \"c\"\nset = { \"schedule.rho\" = 0.5 }\n");
  auto o = options(2);
  const stdfs::path console = dir() / "console.txt";
  o.console = std::fopen(console.c_str(), "w");
  auto summary = sweep::run_sweep(sweep::load_sweep(dir() / "sweep.toml"), o);
  std::fclose(o.console);
  const std::string text = fs::read_file(console);
  EXPECT_EQ(summary.names, 3);
  EXPECT_EQ(summary.runs, 2);
  EXPECT_EQ(summary.done, 2) << text;
  EXPECT_EQ(summary.failed, 0) << text;
  EXPECT_EQ(count(text, "] start "), 2u) << text;
  EXPECT_NE(text.find("start a = b"), std::string::npos) << text;
  EXPECT_NE(text.find("2 runs for 3 names (a = b)"), std::string::npos) << text;

  const stdfs::path shared = run_dir_of({"schedule.rho=0.0"});
  EXPECT_EQ(count(fs::read_file(shared / run::kTrainLog), "done: 20 steps"), 1u);
  auto listed = runs();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].name, "a");
  EXPECT_EQ(listed[0].aliases, std::vector<std::string>{"b"});
  EXPECT_EQ(listed[0].tag("family"), "mid-training");  // the second name did not overwrite the first's tags
  EXPECT_EQ(listed[0].status, RunStatus::done);
  EXPECT_EQ(listed[1].name, "c");
  EXPECT_TRUE(listed[1].aliases.empty());

  const std::string table = replay_output("runs --db " + registry_path().string());
  EXPECT_NE(table.find("a = b"), std::string::npos) << table;
  EXPECT_NE(table.find("2 runs: 2 done"), std::string::npos) << table;
  // A rerun adds no name twice and trains nothing.
  auto again = sweep::run_sweep(sweep::load_sweep(dir() / "sweep.toml"), options(2));
  EXPECT_EQ(again.skipped, 2);
  EXPECT_EQ(runs()[0].aliases, std::vector<std::string>{"b"});
}

// One bad run refuses the whole sweep before anything is registered.
TEST_F(SweepProcess, ASweepWithOneBadRunRegistersNothing) {
  write_sweep(20,
              "[[group]]\nname = \"good\"\nset = { \"schedule.rho\" = 0.0 }\n"
              "[[group]]\nname = \"bad\"\nset = { \"train.steps\" = -3 }\n");
  auto spec = sweep::load_sweep(dir() / "sweep.toml");
  EXPECT_THROW(sweep::run_sweep(spec, options()), Error);
  EXPECT_FALSE(stdfs::exists(registry_path())) << "a refused sweep created the registry";

  // An existing registry keeps exactly what it had.
  {
    analysis::Registry registry(registry_path());
    registry.add_run({"config other", "", "other", "x", {}, "", {}});
  }
  EXPECT_THROW(sweep::run_sweep(spec, options()), Error);
  analysis::Registry registry(registry_path(), false);
  EXPECT_EQ(registry.sweeps(), std::vector<std::string>{"other"});
  EXPECT_EQ(registry.list_runs({}).size(), 1u);
}

// A run folder another process holds (another sweep's trainer) is waited
// for, announced with the holder's PID, and its result reused: no second
// trainer is started there.
TEST_F(SweepProcess, ARunAnotherProcessComputesIsWaitedForAndReused) {
  write_sweep(20, "[[group]]\nname = \"a\"\nset = { \"schedule.rho\" = 0.0 }\n");
  const stdfs::path run_dir = run_dir_of({"schedule.rho=0.0"});
  stdfs::create_directories(run_dir);
  auto holder = std::make_unique<fs::FileLock>(run_dir / run::kLockFile);
  ASSERT_TRUE(holder->held());

  auto o = options();
  const stdfs::path console = dir() / "console.txt";
  o.console = std::fopen(console.c_str(), "w");
  std::setvbuf(o.console, nullptr, _IOLBF, 0);
  sweep::SweepSummary summary;
  std::string error;
  std::thread sweep_thread([&] {
    try {
      summary = sweep::run_sweep(sweep::load_sweep(dir() / "sweep.toml"), o);
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  const std::string waiting = "a: being computed by PID " + std::to_string(::getpid());
  const bool announced = eventually([&] { return fs::read_file(console).find(waiting) != std::string::npos; });
  // The "other process" finishes the run, then lets go of the folder.
  if (announced) {
    analysis::Registry registry(registry_path());
    registry.mark_done(registry.list_runs({}).at(0).id);
  }
  holder.reset();
  sweep_thread.join();
  std::fclose(o.console);
  ASSERT_TRUE(announced) << fs::read_file(console);
  EXPECT_EQ(error, "");
  EXPECT_EQ(summary.reused, 1) << fs::read_file(console);
  EXPECT_EQ(summary.done, 0);
  EXPECT_EQ(summary.failed, 0);
  EXPECT_FALSE(stdfs::exists(run_dir / run::kTrainLog)) << "a second trainer was started";
  EXPECT_EQ(runs().at(0).status, RunStatus::done);
}

// The same, but the holder ends without finishing: the sweep then trains
// the run itself, once the folder is free.
TEST_F(SweepProcess, ARunLeftUnfinishedByAnotherProcessIsTrainedOnceFree) {
  write_sweep(10, "[[group]]\nname = \"a\"\nset = { \"schedule.rho\" = 0.0 }\n");
  const stdfs::path run_dir = run_dir_of({"schedule.rho=0.0"});
  stdfs::create_directories(run_dir);
  auto holder = std::make_unique<fs::FileLock>(run_dir / run::kLockFile);
  auto o = options();
  const stdfs::path console = dir() / "console.txt";
  o.console = std::fopen(console.c_str(), "w");
  std::setvbuf(o.console, nullptr, _IOLBF, 0);
  sweep::SweepSummary summary;
  std::thread sweep_thread([&] { summary = sweep::run_sweep(sweep::load_sweep(dir() / "sweep.toml"), o); });
  const bool announced =
      eventually([&] { return fs::read_file(console).find("being computed by PID") != std::string::npos; });
  holder.reset();
  sweep_thread.join();
  std::fclose(o.console);
  ASSERT_TRUE(announced) << fs::read_file(console);
  EXPECT_EQ(summary.done, 1) << fs::read_file(console);
  EXPECT_EQ(summary.failed, 0);
  EXPECT_EQ(count(fs::read_file(run_dir / run::kTrainLog), "done: 10 steps"), 1u);
}

// Two `replay sweep` processes of the same sweep at once: each run is
// trained by one trainer; the other sweep waits for it (or loses the race
// for the folder, is told so by the trainer's exit code) and reuses it.
TEST_F(SweepProcess, TwoConcurrentSweepsTrainEachRunOnce) {
  write_sweep(30, "[[group]]\nname = \"m\"\ngrid = { \"seed\" = [11, 12] }\n");
  const pid_t first = spawn_sweep(2, "first.log");
  const pid_t second = spawn_sweep(2, "second.log");
  int status = 0;
  ASSERT_EQ(::waitpid(second, &status, 0), second);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << fs::read_file(dir() / "second.log");
  ASSERT_EQ(::waitpid(first, &status, 0), first);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << fs::read_file(dir() / "first.log");
  const std::string logs = fs::read_file(dir() / "first.log") + fs::read_file(dir() / "second.log");
  for (const auto& r : runs()) {
    EXPECT_EQ(r.status, RunStatus::done) << r.name;
    // The banner ("training N parameters, 30 steps x ...") and "done" are
    // printed only by a trainer that computes steps; one that a sweep starts
    // on a run the other sweep just finished says "already complete".
    const std::string log = fs::read_file(stdfs::path(r.run_dir) / run::kTrainLog);
    EXPECT_EQ(count(log, "parameters, 30 steps x"), 1u) << r.name << "\n" << logs;
    EXPECT_EQ(count(log, "done: 30 steps"), 1u) << r.name << "\n" << logs;
  }
}

// SIGTERM to `replay sweep`: forwarded to both trainers, which checkpoint;
// the runs are `interrupted`, no trainer is left, the sweep exits 143; a
// rerun resumes them from their checkpoints and completes them.
TEST_F(SweepProcess, SigtermInterruptsTheTrainersAndARerunResumesThem) {
  // Different seeds: no shared prefix, so both train at once.
  write_sweep(120, "[[group]]\nname = \"m\"\ngrid = { \"seed\" = [11, 12] }\n");
  const pid_t sweep_pid = spawn_sweep(2);
  const std::vector<pid_t> trainers = wait_for_training(2, sweep_pid);
  ASSERT_EQ(trainers.size(), 2u) << fs::read_file(dir() / "sweep.log");
  ASSERT_EQ(::kill(sweep_pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(sweep_pid, &status, 0), sweep_pid);
  const std::string log = fs::read_file(dir() / "sweep.log");
  ASSERT_TRUE(WIFEXITED(status)) << log;
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM) << log;
  EXPECT_NE(log.find("stopped by signal 15: 2 run(s) interrupted"), std::string::npos) << log;
  for (pid_t trainer : trainers) EXPECT_FALSE(process::alive(trainer)) << "trainer " << trainer << " still runs";
  for (const auto& r : runs()) {
    EXPECT_EQ(r.status, RunStatus::interrupted) << r.name;
    EXPECT_LT(r.step, 120) << r.name;
    EXPECT_NE(fs::read_file(stdfs::path(r.run_dir) / run::kTrainLog).find("stopped by signal 15"), std::string::npos);
  }

  auto rerun = sweep::run_sweep(sweep::load_sweep(dir() / "sweep.toml"), options(2));
  EXPECT_EQ(rerun.done, 2);
  EXPECT_EQ(rerun.failed, 0);
  for (const auto& r : runs()) {
    EXPECT_EQ(r.status, RunStatus::done) << r.name;
    EXPECT_NE(fs::read_file(stdfs::path(r.run_dir) / run::kTrainLog).find("resuming from"), std::string::npos)
        << r.name;
  }
}

// Ctrl-C: SIGINT to the sweep's whole process group. The trainers, in
// groups of their own, get it once, from the sweep (a second SIGINT would end
// them without a checkpoint): the run is `interrupted` with a checkpoint and
// the sweep exits 130.
TEST_F(SweepProcess, CtrlCReachesTheTrainerOnceThroughTheSweep) {
  write_sweep(120, "[[group]]\nname = \"m\"\nset = { \"schedule.rho\" = 0.0 }\n");
  const pid_t sweep_pid = spawn_sweep(1, "sweep.log", /*own_group=*/true);
  ASSERT_EQ(wait_for_training(1, sweep_pid).size(), 1u) << fs::read_file(dir() / "sweep.log");
  ASSERT_EQ(::kill(-sweep_pid, SIGINT), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(sweep_pid, &status, 0), sweep_pid);
  const std::string log = fs::read_file(dir() / "sweep.log");
  ASSERT_TRUE(WIFEXITED(status)) << log;
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGINT) << log;
  const auto record = runs().at(0);
  EXPECT_EQ(record.status, RunStatus::interrupted);
  const std::string train_log = fs::read_file(stdfs::path(record.run_dir) / run::kTrainLog);
  EXPECT_NE(train_log.find("stopped by signal 2 at step"), std::string::npos) << train_log;
}

// SIGKILL to `replay sweep`: its trainer gets its death signal and stops;
// the registry row the sweep could not update reads `stale` in `replay
// runs`, naming the gone pid.
TEST_F(SweepProcess, ASigkilledSweepTakesItsTrainerAlongAndLeavesAStaleRow) {
  write_sweep(400, "[[group]]\nname = \"m\"\nset = { \"schedule.rho\" = 0.0 }\n");
  const pid_t sweep_pid = spawn_sweep(1);
  const std::vector<pid_t> trainers = wait_for_training(1, sweep_pid);
  ASSERT_EQ(trainers.size(), 1u);
  ASSERT_EQ(::kill(sweep_pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(sweep_pid, &status, 0), sweep_pid);
  EXPECT_TRUE(eventually([&] { return !process::alive(trainers[0]); })) << "the orphaned trainer kept running";
  const auto record = runs().at(0);
  EXPECT_EQ(record.status, RunStatus::running);
  EXPECT_TRUE(record.trainer_gone());
  EXPECT_LT(record.step, 400);
  const std::string table = replay_output("runs --db " + registry_path().string());
  EXPECT_NE(table.find("stale"), std::string::npos) << table;
  EXPECT_NE(table.find("pid " + std::to_string(trainers[0]) + " gone"), std::string::npos) << table;
  EXPECT_NE(fs::read_file(stdfs::path(record.run_dir) / run::kTrainLog).find("stopped by signal 15"),
            std::string::npos)
      << "the trainer did not stop cleanly on its death signal";
}

// The registry a real sweep writes: number tags are JSON numbers, so SQL
// compares them as numbers, and each mid-training run records where its
// stage 2 starts (the plan's boundary), which `replay report` marks.
TEST_F(SweepProcess, NumberTagsAndTheStageTwoStepReachTheRegistryAndTheReport) {
  write_sweep(20, "[[group]]\nname = \"mid\"\ntags = { family = \"mid-training\" }\n"
                  "grid = { \"schedule.rho\" = [0.0, 0.5] }\n");
  auto summary = sweep::run_sweep(sweep::load_sweep(dir() / "sweep.toml"), options());
  ASSERT_EQ(summary.done, 2);

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(registry_path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT name FROM sweep_runs WHERE json_extract(tags, '$.rho') > 0.4", -1, &stmt,
                               nullptr),
            SQLITE_OK);
  std::vector<std::string> names;
  while (sqlite3_step(stmt) == SQLITE_ROW) names.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  EXPECT_EQ(names, std::vector<std::string>{"mid-rho=0.5"});

  auto listed = runs();
  ASSERT_EQ(listed.size(), 2u);
  std::map<std::string, int64_t> boundary;
  for (const char* rho : {"0.0", "0.5"}) {
    auto config = run::load_run_config(dir() / "base.toml", {std::string("schedule.rho=") + rho});
    ASSERT_TRUE(config.plan.paper);
    boundary[rho] = config.plan.paper->boundary_step;
  }
  ASSERT_NE(boundary["0.0"], boundary["0.5"]);
  EXPECT_EQ(listed[0].tag_number("stage2_step"), static_cast<double>(boundary["0.0"]));
  EXPECT_EQ(listed[1].tag_number("stage2_step"), static_cast<double>(boundary["0.5"]));

  const stdfs::path out = dir() / "report";
  const std::string said = replay_output("report t --db " + registry_path().string() + " -o " + out.string());
  const std::string overlay = fs::read_file(out / "figures" / "family_target_mid-training.csv");
  EXPECT_NE(overlay.find("series,step,target validation (math) loss (nats/token)\n"), std::string::npos) << overlay << said;
  EXPECT_NE(overlay.find("\nstage 2 starts: mid-rho=0.5," + std::to_string(boundary["0.5"]) + ","), std::string::npos)
      << overlay;
  EXPECT_NE(fs::read_file(out / "report.md").find("target math"), std::string::npos);
}

}  // namespace

namespace {

// util/duration.h's forms: "4.2s", "45s", "3m02s", "1h05m".
const std::string kDuration = R"(([0-9]\.[0-9]s|[1-5]?[0-9]s|[0-9]+m[0-5][0-9]s|[0-9]+h[0-5][0-9]m))";

// The lines of `text` that match `pattern` whole.
std::vector<std::string> matching_lines(const std::string& text, const std::string& pattern) {
  const std::regex re(pattern);
  std::vector<std::string> found;
  for_each_line(text, [&](std::string_view line) {
    if (std::regex_match(line.begin(), line.end(), re)) found.emplace_back(line);
  });
  return found;
}

}  // namespace

// A sweep whose stderr is a log, at -j 2: while the runs train, each shows a
// progress line (step/total, loss, its ETA and the sweep's, its train.log),
// plain lines without carriage returns; each ends with a done line giving
// its time and the sweep's in the one duration format.
TEST_F(SweepProcess, ALogShowsEachRunningRunsProgressAndDurations) {
  write_sweep(120, "[[group]]\nname = \"m\"\ngrid = { \"seed\" = [11, 12] }\n");
  const pid_t pid = spawn_sweep(2);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  const std::string log = fs::read_file(dir() / "sweep.log");
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << log;
  EXPECT_EQ(log.find('\r'), std::string::npos) << "a log gets no in-place redraws";
  EXPECT_EQ(log.find('\033'), std::string::npos) << "a log gets no escape sequences";

  for (const std::string seed : {"11", "12"}) {
    const std::string name = "m-seed=" + seed, train_log = (run_dir_of({"seed=" + seed}) / run::kTrainLog).string();
    const auto progress = matching_lines(log, R"(\[[12]/2\] )" + name + R"(  step [0-9]+/120  loss [0-9]+\.[0-9]{4})" +
                                                  "  ETA (" + kDuration + R"(|\?)  sweep ETA ()" + kDuration +
                                                  R"(|\?)  log .*)");
    ASSERT_FALSE(progress.empty()) << "no progress line for " << name << " in:\n" << log;
    EXPECT_TRUE(progress.front().ends_with("  log " + train_log)) << progress.front();
    EXPECT_EQ(matching_lines(log, R"(\[[12]/2\] done )" + name + " in " + kDuration + "; sweep elapsed " + kDuration +
                                      ", ETA (" + kDuration + ")")
                  .size(),
              1u)
        << log;
  }
  EXPECT_EQ(matching_lines(log, R"(\[2/2\] done .*, ETA 0\.0s)").size(), 1u) << "nothing left after the last: " << log;
}
