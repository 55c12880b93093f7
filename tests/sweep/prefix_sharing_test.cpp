// Sweeps end to end with the real binary on tiny stores: a run that branches
// from another run's shared prefix equals the same run trained from scratch,
// bit for bit, and a sweep killed as a whole (every process) resumes to the
// same results.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "analysis/registry.h"
#include "sweep/runner.h"
#include "sweep/sweep_file.h"
#include "run/layout.h"
#include "tiny_run.h"
#include "util/fs.h"
#include "util/hash.h"

namespace {

namespace stdfs = std::filesystem;
using namespace replay;
using train::testing::Metrics;
using train::testing::read_metrics;

class PrefixSharing : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(stdfs::exists(REPLAY_BINARY)) << "build the replay binary first";
    train::testing::make_store(tmp_.path / "generic", "generic", 160);
    train::testing::make_store(tmp_.path / "math", "math");
    // Mid-training, gamma = f e = 1/5: rho 0 puts the target in the last 4
    // steps, rho 0.5 in the last 8, so both share their first 12 steps.
    train::testing::write_text(
        tmp_.path / "base.toml",
        "seed = 11\nout = \"unused\"\n[model]\npreset = \"tiny\"\n"
        "[data.sources.generic]\nstore = \"" + (tmp_.path / "generic").string() + "\"\n" +
            "[data.sources.math]\nstore = \"" + (tmp_.path / "math").string() + "\"\n" +
            "[schedule]\nprotocol = \"mid-training\"\ntarget = \"math\"\ngeneric = \"generic\"\n"
            "f = 0.05\ne = 4\nalpha = 1.0\nrho = 0.0\nblock_size = 16\n"
            "[train]\nsteps = 20\nbatch_size = 8\nmicrobatch = 4\n"
            "[lr_schedule]\nkind = \"wsd\"\ncooldown = 0.1\n"
            "[eval]\nevery = 4\nsequences = 8\n[checkpoint]\nevery = 5\nkeep = 2\n");
    train::testing::write_text(tmp_.path / "sweep.toml",
                               "name = \"t\"\nbase = \"base.toml\"\n[[group]]\nname = \"mid\"\n"
                               "tags = { family = \"mid-training\" }\n"
                               "grid = { \"schedule.rho\" = [0.0, 0.5] }\n");
  }

  sweep::SweepSummary run(const std::string& name, bool share) {
    sweep::SweepOptions options;
    options.registry = tmp_.path / name / "registry.sqlite";
    options.runs_dir = tmp_.path / name;
    options.threads = 1;
    options.share_prefixes = share;
    options.replay_binary = REPLAY_BINARY;
    options.console = nullptr;
    return sweep::run_sweep(sweep::load_sweep(tmp_.path / "sweep.toml"), options);
  }

  // The run of `name`'s registry called `run_name`.
  analysis::RunRecord record(const std::string& name, const std::string& run_name) {
    analysis::Registry registry(tmp_.path / name / "registry.sqlite", false);
    for (auto& r : registry.list_runs({}))
      if (r.name == run_name) return r;
    ADD_FAILURE() << "no run " << run_name;
    return {};
  }

  static void expect_same_training(const Metrics& a, const Metrics& b) {
    ASSERT_EQ(a.steps.size(), b.steps.size());
    for (size_t i = 0; i < a.steps.size(); ++i) {
      EXPECT_EQ(a.steps[i].step, b.steps[i].step);
      EXPECT_EQ(a.steps[i].loss, b.steps[i].loss) << "step " << a.steps[i].step;  // bit for bit
    }
    ASSERT_EQ(a.evals.size(), b.evals.size());
    for (size_t i = 0; i < a.evals.size(); ++i) EXPECT_EQ(a.evals[i]["val"], b.evals[i]["val"]);
  }

  TempDir tmp_{"sweep"};
};

TEST_F(PrefixSharing, BranchedRunEqualsRunFromScratch) {
  auto shared = run("shared", true);
  EXPECT_EQ(shared.done, 2);
  EXPECT_EQ(shared.branched, 1);
  EXPECT_EQ(shared.steps_shared, 12);
  auto scratch = run("scratch", false);
  EXPECT_EQ(scratch.branched, 0);

  auto branched = record("shared", "mid-rho=0.5");
  auto root = record("shared", "mid-rho=0");
  EXPECT_EQ(branched.branched_from, root.id);
  EXPECT_EQ(branched.branch_step, 12);
  // The registry knows which data the runs were measured on.
  for (const auto& r : {branched, root}) {
    EXPECT_EQ(r.target.source, "math");
    EXPECT_EQ(r.target.domain, "math");
    EXPECT_EQ(r.target.store, stdfs::absolute(tmp_.path / "math").lexically_normal().string());
    EXPECT_EQ(r.target.manifest_hash, hash::xxh128_hex(fs::read_file(tmp_.path / "math" / "manifest.json")));
  }
  EXPECT_TRUE(stdfs::exists(stdfs::path(branched.run_dir) / run::kBranchFile));
  EXPECT_NE(fs::read_file(stdfs::path(branched.run_dir) / run::kTrainLog).find("starting from the shared state after step 12"),
            std::string::npos);
  for (const char* name : {"mid-rho=0", "mid-rho=0.5"}) {
    SCOPED_TRACE(name);
    expect_same_training(read_metrics(stdfs::path(record("shared", name).run_dir) / "metrics.jsonl"),
                         read_metrics(stdfs::path(record("scratch", name).run_dir) / "metrics.jsonl"));
  }
  // A rerun finds every run done and trains nothing.
  auto again = run("shared", true);
  EXPECT_EQ(again.skipped, 2);
  EXPECT_EQ(again.done, 0);
}

// Seeds that leave a prefix of the stream alone share it: the pool seed
// chooses the target's pool, which rho 0 first draws at step 16, so two pool
// seeds train the same 16 generic steps from the same initial weights.
TEST_F(PrefixSharing, SeedsShareThePrefixTheyLeaveAlone) {
  train::testing::write_text(tmp_.path / "seeds.toml",
                             "name = \"s\"\nbase = \"base.toml\"\nseeds = 2\nvary = [\"pool\"]\n"
                             "[[group]]\nname = \"mid\"\n");
  sweep::SweepOptions options;
  options.registry = tmp_.path / "seeds" / "registry.sqlite";
  options.runs_dir = tmp_.path / "seeds";
  options.threads = 1;
  options.replay_binary = REPLAY_BINARY;
  options.console = nullptr;
  auto summary = sweep::run_sweep(sweep::load_sweep(tmp_.path / "seeds.toml"), options);
  EXPECT_EQ(summary.done, 2);
  EXPECT_EQ(summary.branched, 1);
  EXPECT_EQ(summary.steps_shared, 16);
  const auto a = record("seeds", "mid-seed=1"), b = record("seeds", "mid-seed=2");
  EXPECT_EQ(a.branch_step + b.branch_step, 16);  // one trained from scratch, one branched
  EXPECT_EQ(a.tags.at("seed"), "1");
}

TEST_F(PrefixSharing, MissingPrefixTrainsFromScratchAndRecordsNoBranch) {
  ASSERT_EQ(run("shared", true).done, 2);
  // Lose the registry, the branched run, the published prefix and what the
  // root's folder says of its end (else the rerun would take it as done and
  // plan no branch): on the rerun the root is already complete (it publishes
  // nothing), so the branched run finds no prefix and must train from scratch.
  const stdfs::path branched_dir = record("shared", "mid-rho=0.5").run_dir;
  const stdfs::path root_dir = record("shared", "mid-rho=0").run_dir;
  stdfs::remove(tmp_.path / "shared" / "registry.sqlite");
  stdfs::remove(root_dir / run::kStatusFile);
  stdfs::remove(root_dir / run::kSummaryFile);
  stdfs::remove_all(branched_dir);
  stdfs::remove_all(tmp_.path / "shared" / "_shared");
  auto again = run("shared", true);
  EXPECT_EQ(again.done, 2);
  auto branched = record("shared", "mid-rho=0.5");
  EXPECT_EQ(branched.branched_from, "");
  EXPECT_FALSE(stdfs::exists(branched_dir / run::kBranchFile));
  EXPECT_NE(fs::read_file(branched_dir / run::kTrainLog).find("no shared state after 12 steps"), std::string::npos);
  ASSERT_EQ(run("scratch", false).done, 2);
  expect_same_training(read_metrics(branched_dir / "metrics.jsonl"),
                       read_metrics(stdfs::path(record("scratch", "mid-rho=0.5").run_dir) / "metrics.jsonl"));
}

TEST_F(PrefixSharing, SweepKilledAsAWholeResumesToTheSameResults) {
  auto scratch = run("scratch", false);
  ASSERT_EQ(scratch.done, 2);

  // `replay sweep` in its own process group, SIGKILLed with that group once
  // the first run is part way. Its trainers run in groups of their own and
  // stop on their death signal (with a checkpoint); the rerun waits for any
  // still saving.
  const stdfs::path dir = tmp_.path / "killed";
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::setpgid(0, 0);
    std::string registry = (dir / "registry.sqlite").string(), runs = dir.string();
    ::execl(REPLAY_BINARY, REPLAY_BINARY, "sweep", (tmp_.path / "sweep.toml").c_str(), "--threads", "1",
            "--db", registry.c_str(), "--runs", runs.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  auto steps_done = [&] {
    size_t n = 0;
    if (stdfs::exists(dir))
      for (const auto& e : stdfs::directory_iterator(dir))
        if (stdfs::exists(e.path() / "metrics.jsonl")) n += read_metrics(e.path() / "metrics.jsonl").steps.size();
    return n;
  };
  while (steps_done() < 7) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, WNOHANG), 0) << "the sweep ended before the kill";
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ::kill(-pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_LT(steps_done(), 40u) << "killed too late to test anything";

  auto resumed = run("killed", true);
  EXPECT_EQ(resumed.failed, 0);
  EXPECT_EQ(resumed.done + resumed.skipped, 2);
  for (const char* name : {"mid-rho=0", "mid-rho=0.5"}) {
    SCOPED_TRACE(name);
    auto r = record("killed", name);
    EXPECT_EQ(r.status, analysis::RunStatus::done);
    expect_same_training(read_metrics(stdfs::path(r.run_dir) / "metrics.jsonl"),
                         read_metrics(stdfs::path(record("scratch", name).run_dir) / "metrics.jsonl"));
  }
}

}  // namespace
