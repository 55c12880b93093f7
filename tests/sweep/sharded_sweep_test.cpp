// Sweeps over many workers: two real `replay sweep --shard i/2` processes
// that share nothing but the runs folder train every run once, a run whose
// parent is the other worker's branches from the prefix that worker publishes,
// and `replay runs rebuild` builds from the run folders a registry with the
// same runs, names and final losses as a one-worker sweep's, bit for bit;
// rebuilding again changes nothing. The same for two `replay sweep --claim`
// workers, and a claiming worker takes over the claims of gone workers.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/registry.h"
#include "replay_cli.h"
#include "run/layout.h"
#include "run/run_config.h"
#include "sweep/claims.h"
#include "sweep/run_record.h"
#include "sweep/runner.h"
#include "sweep/sweep_file.h"
#include "tiny_run.h"
#include "util/error.h"
#include "util/fs.h"

namespace {

namespace stdfs = std::filesystem;
using namespace replay;
using analysis::RunRecord;
using analysis::RunStatus;

class ShardedSweep : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(stdfs::exists(REPLAY_BINARY)) << "build the replay binary first";
    train::testing::make_store(dir() / "generic", "generic", 160);
    train::testing::make_store(dir() / "math", "math");
    write_base(11);
    train::testing::write_text(dir() / "sweep.toml",
                               "name = \"t\"\nbase = \"base.toml\"\n[[group]]\nname = \"mid\"\n"
                               "tags = { family = \"mid-training\" }\n"
                               "grid = { \"schedule.rho\" = [0.0, 0.25, 0.5, 0.75] }\n");
  }

  // Mid-training, gamma = 1/5, 20 steps: every rho > 0 shares its first
  // steps (until its stage 2) with rho = 0, the one root.
  void write_base(int seed) const {
    train::testing::write_text(
        dir() / "base.toml",
        "seed = " + std::to_string(seed) + "\nout = \"unused\"\n[model]\npreset = \"tiny\"\n"
        "[data.sources.generic]\nstore = \"" + (dir() / "generic").string() + "\"\n" +
            "[data.sources.math]\nstore = \"" + (dir() / "math").string() + "\"\n" +
            "[schedule]\nprotocol = \"mid-training\"\ntarget = \"math\"\ngeneric = \"generic\"\n"
            "f = 0.05\ne = 4\nalpha = 1.0\nrho = 0.0\nblock_size = 16\n"
            "[train]\nsteps = 20\nbatch_size = 8\nmicrobatch = 4\n"
            "[lr_schedule]\nkind = \"wsd\"\ncooldown = 0.1\n"
            "[eval]\nevery = 4\nsequences = 8\n[checkpoint]\nevery = 5\nkeep = 2\n");
  }

  const stdfs::path& dir() const { return tmp_.path; }

  // An in-process, one-worker sweep into dir()/<runs> (its registry there).
  sweep::SweepOptions one_worker(const std::string& runs) const {
    sweep::SweepOptions o;
    o.registry = dir() / runs / "registry.sqlite";
    o.runs_dir = dir() / runs;
    o.threads = 1;
    o.replay_binary = REPLAY_BINARY;
    o.console = nullptr;
    return o;
  }

  std::string id_of(double rho) const {
    return run::load_run_config(dir() / "base.toml", {"schedule.rho=" + std::to_string(rho)}).content_hash;
  }

  // `replay sweep --shard index/2` in the background, console to shard-<index>.log.
  pid_t spawn_worker(int index) const {
    return spawn_sweep("shard-" + std::to_string(index) + ".log", {"--shard", std::to_string(index) + "/2"});
  }

  // `replay sweep ... --runs dir()/workers` with `flags` in the background, console to dir()/<log>.
  pid_t spawn_sweep(const std::string& log, const std::vector<std::string>& flags) const {
    std::vector<std::string> args = {REPLAY_BINARY, "sweep", (dir() / "sweep.toml").string(), "--threads", "1",
                                     "--runs", (dir() / "workers").string()};
    args.insert(args.end(), flags.begin(), flags.end());
    const std::string log_path = (dir() / log).string();
    const pid_t pid = ::fork();
    if (pid == 0) {
      FILE* f = std::freopen(log_path.c_str(), "w", stderr);
      (void)f;
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(REPLAY_BINARY, argv.data());
      ::_exit(127);
    }
    return pid;
  }

  // Every name of `merged` is `single`'s run: same id, tags, config, target,
  // and the same loss at every step, bit for bit.
  static void expect_same_runs(const std::map<std::string, RunRecord>& single,
                               const std::map<std::string, RunRecord>& merged) {
    ASSERT_EQ(merged.size(), single.size());
    for (const auto& [name, expected] : single) {
      SCOPED_TRACE(name);
      ASSERT_TRUE(merged.count(name));
      const RunRecord& got = merged.at(name);
      EXPECT_EQ(got.id, expected.id);
      EXPECT_EQ(got.status, RunStatus::done);
      EXPECT_EQ(got.tags, expected.tags);
      EXPECT_EQ(got.target.manifest_hash, expected.target.manifest_hash);
      EXPECT_EQ(got.config, expected.config);
      ASSERT_EQ(got.final_metrics.size(), expected.final_metrics.size());
      for (const auto& [split, loss] : expected.final_metrics) {
        EXPECT_EQ(got.final_metrics.at(split).loss, loss.loss) << split;  // bit for bit
        EXPECT_EQ(got.final_metrics.at(split).step, loss.step) << split;
      }
      const auto one_steps = train::testing::read_metrics(stdfs::path(expected.run_dir) / run::kMetricsFile).steps;
      const auto two_steps = train::testing::read_metrics(stdfs::path(got.run_dir) / run::kMetricsFile).steps;
      ASSERT_EQ(one_steps.size(), two_steps.size());
      for (size_t i = 0; i < one_steps.size(); ++i) EXPECT_EQ(one_steps[i].loss, two_steps[i].loss) << i;
    }
  }

  static void expect_exit_0(pid_t pid, const stdfs::path& log) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << fs::read_file(log);
  }

  // The registry's runs by name (one record per name, aliases aside).
  static std::map<std::string, RunRecord> by_name(const stdfs::path& db) {
    std::map<std::string, RunRecord> out;
    for (auto& r : analysis::Registry(db, false).list_runs({})) out.emplace(r.name, r);
    return out;
  }

  TempDir tmp_{"sharded"};
};

}  // namespace

TEST(Shard, EveryRunIsInExactlyOneShareDecidedByItsIdAlone) {
  const std::vector<std::string> ids = {"00000000000000000000000000000000", "ffffffffffffffff0000000000000000",
                                        "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210",
                                        "7ad9be58f68e23a4c288394c354638f9"};
  for (const std::string& id : ids)
    for (int n : {1, 2, 3, 7}) {
      int shares = 0;
      for (int i = 0; i < n; ++i) shares += sweep::in_shard(id, {i, n});
      EXPECT_EQ(shares, 1) << id << " over " << n;
    }
  // 0x0123456789abcdef = 81985529216486895 = 3 x 27328509738828965: share 0 of 3.
  EXPECT_TRUE(sweep::in_shard("0123456789abcdef0123456789abcdef", {0, 3}));
  EXPECT_TRUE(sweep::in_shard("ffffffffffffffff0000000000000000", {1, 2}));
  EXPECT_THROW(sweep::in_shard(ids[0], {2, 2}), replay::Error);
}

TEST(Shard, ABadShareIsAUsageError) {
  for (const char* bad : {"2/2", "1", "0/2x"}) {
    const CliResult r = run_replay("sweep " + std::string(REPLAY_SOURCE_DIR) + "/configs/micro/demo.toml --shard " + bad);
    EXPECT_EQ(r.status, 2) << bad << ": " << r.out;
    EXPECT_NE(r.out.find("expected I/N with 0 <= I < N"), std::string::npos) << r.out;
  }
}

TEST_F(ShardedSweep, TwoWorkersAndARebuiltRegistryEqualOneWorker) {
  // The test needs a run whose parent (rho = 0) is the other worker's, or it
  // would not test waiting for a prefix. Run ids hash the stores' paths (a
  // new temporary folder each time), so the shares differ from one test run
  // to the next: the first seed that splits the runs so is taken (each seed
  // fails with probability 1/8).
  std::string root;
  std::set<std::string> foreign_children;
  for (int seed = 11; seed < 41 && foreign_children.empty(); ++seed) {
    write_base(seed);
    root = id_of(0.0);
    for (double rho : {0.25, 0.5, 0.75})
      if (sweep::in_shard(id_of(rho), {1, 2}) != sweep::in_shard(root, {1, 2})) foreign_children.insert(id_of(rho));
  }
  ASSERT_FALSE(foreign_children.empty()) << "30 seeds put every run in one share";

  // One worker, the reference.
  const sweep::SweepOptions one = one_worker("one");
  ASSERT_EQ(sweep::run_sweep(sweep::load_sweep(dir() / "sweep.toml"), one).done, 4);

  // Two workers at once, sharing only the runs folder.
  const pid_t a = spawn_worker(0), b = spawn_worker(1);
  for (pid_t pid : {a, b}) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << fs::read_file(dir() / ("shard-" + std::to_string(pid == a ? 0 : 1) + ".log"));
  }
  // Each worker registered its share only, the runs `sweep --list --shard` names.
  const auto shard0 = by_name(dir() / "workers" / "registry-shard-0-of-2.sqlite");
  const auto shard1 = by_name(dir() / "workers" / "registry-shard-1-of-2.sqlite");
  EXPECT_EQ(shard0.size() + shard1.size(), 4u);
  for (const auto& [name, r] : shard0) EXPECT_TRUE(sweep::in_shard(r.id, {0, 2})) << name;
  for (const auto& [name, r] : shard1) EXPECT_TRUE(sweep::in_shard(r.id, {1, 2})) << name;
  const CliResult listed = run_replay("sweep " + (dir() / "sweep.toml").string() + " --list --shard 0/2");
  ASSERT_EQ(listed.status, 0) << listed.out;
  EXPECT_EQ(static_cast<size_t>(std::count(listed.out.begin(), listed.out.end(), '\n')), shard0.size()) << listed.out;
  for (const auto& [name, r] : shard0) EXPECT_NE(listed.out.find(name + " --set"), std::string::npos) << listed.out;

  const std::string rebuild = "runs rebuild --runs " + (dir() / "workers").string() + " --db " +
                              (dir() / "merged.sqlite").string();
  const CliResult first = run_replay(rebuild);
  ASSERT_EQ(first.status, 0) << first.out;
  EXPECT_NE(first.out.find("4 run folders (4 names): 4 done, 0 failed"), std::string::npos) << first.out;

  const auto single = by_name(one.registry), merged = by_name(dir() / "merged.sqlite");
  expect_same_runs(single, merged);  // per step too: the workers' trainings are the one worker's
  for (const auto& [name, got] : merged) {
    SCOPED_TRACE(name);
    // A run of the other share than its parent waited for the parent's prefix and branched from it.
    if (foreign_children.count(got.id)) {
      EXPECT_EQ(got.branched_from, root);
      EXPECT_GT(got.branch_step, 0);
      EXPECT_TRUE(stdfs::exists(stdfs::path(got.run_dir) / run::kBranchFile));
    }
  }

  // Idempotent: a second rebuild into the same registry changes nothing.
  ASSERT_EQ(run_replay(rebuild).status, 0);
  const auto again = by_name(dir() / "merged.sqlite");
  ASSERT_EQ(again.size(), merged.size());
  for (const auto& [name, r] : merged) {
    EXPECT_EQ(again.at(name).status, r.status) << name;
    EXPECT_EQ(again.at(name).final_metrics.size(), r.final_metrics.size()) << name;
    EXPECT_EQ(again.at(name).branched_from, r.branched_from) << name;
  }
}

TEST(Claim, ClaimAndShardAreExclusiveAndTheTimeoutNeedsClaimUsageErrors) {
  const std::string sweep = "sweep " + std::string(REPLAY_SOURCE_DIR) + "/configs/micro/demo.toml ";
  const CliResult both = run_replay(sweep + "--claim --shard 0/2");
  EXPECT_EQ(both.status, 2) << both.out;
  EXPECT_NE(both.out.find("excludes"), std::string::npos) << both.out;  // CLI11: "--shard excludes --claim"
  EXPECT_NE(both.out.find("--claim"), std::string::npos) << both.out;
  const CliResult alone = run_replay(sweep + "--claim-timeout 5");
  EXPECT_EQ(alone.status, 2) << alone.out;
  EXPECT_NE(alone.out.find("--claim-timeout requires --claim"), std::string::npos) << alone.out;
  const CliResult zero = run_replay(sweep + "--claim --claim-timeout 0");
  EXPECT_EQ(zero.status, 2) << zero.out;
}

// Two `replay sweep --claim` processes sharing only the runs folder: every
// run is trained by exactly one of them (each registers only what it
// trains), no claim is left behind, and the rebuilt registry is the one
// worker's, bit for bit.
TEST_F(ShardedSweep, TwoClaimingWorkersTrainEveryRunOnceAndRebuildEqualsOneWorker) {
  const sweep::SweepOptions one = one_worker("one");
  ASSERT_EQ(sweep::run_sweep(sweep::load_sweep(dir() / "sweep.toml"), one).done, 4);

  const pid_t a = spawn_sweep("claim-0.log", {"--claim"}), b = spawn_sweep("claim-1.log", {"--claim"});
  expect_exit_0(a, dir() / "claim-0.log");
  expect_exit_0(b, dir() / "claim-1.log");

  std::vector<stdfs::path> registries;
  for (const auto& e : stdfs::directory_iterator(dir() / "workers"))
    if (e.path().filename().string().rfind("registry-claim-", 0) == 0) registries.push_back(e.path());
  ASSERT_EQ(registries.size(), 2u) << "one registry per worker";
  std::map<std::string, int> trained;  // name -> how many workers registered (trained) it
  for (const stdfs::path& db : registries)
    for (const auto& [name, r] : by_name(db)) {
      EXPECT_EQ(r.status, RunStatus::done) << name << " in " << db;
      ++trained[name];
    }
  EXPECT_EQ(trained.size(), 4u);
  for (const auto& [name, count] : trained) EXPECT_EQ(count, 1) << name << " trained by both workers";
  for (const auto& e : stdfs::recursive_directory_iterator(dir() / "workers"))
    EXPECT_FALSE(e.path().parent_path().filename() == run::kClaimsDir) << "left behind: " << e.path();

  const CliResult rebuilt = run_replay("runs rebuild --runs " + (dir() / "workers").string() + " --db " +
                                       (dir() / "merged.sqlite").string());
  ASSERT_EQ(rebuilt.status, 0) << rebuilt.out;
  EXPECT_NE(rebuilt.out.find("4 run folders (4 names): 4 done, 0 failed"), std::string::npos) << rebuilt.out;
  expect_same_runs(by_name(one.registry), by_name(dir() / "merged.sqlite"));
}

namespace {

// What another worker would see of this process's claims while a sweep
// runs: how often a claim's mtime moved, and how often one stood still for
// the claim timeout (it would have been taken over).
struct ClaimWatch {
  int refreshed = 0, stale = 0;
};

ClaimWatch watch_own_claims(const std::vector<stdfs::path>& run_dirs, double timeout_s, const std::atomic<bool>& stop) {
  using Clock = std::chrono::steady_clock;
  ClaimWatch watch;
  std::map<stdfs::path, std::pair<stdfs::file_time_type, Clock::time_point>> seen;
  while (!stop) {
    for (const stdfs::path& run_dir : run_dirs) {
      std::error_code ec;
      for (const auto& e : stdfs::directory_iterator(run_dir / run::kClaimsDir, ec)) {
        if (e.path().extension() != ".json") continue;
        try {
          if (nlohmann::json::parse(fs::read_file(e.path())).at("pid").get<long>() != ::getpid()) continue;
        } catch (const std::exception&) {
          continue;  // released meanwhile
        }
        const auto mtime = stdfs::last_write_time(e.path(), ec);
        if (ec) continue;
        const auto now = Clock::now();
        auto [it, first] = seen.try_emplace(e.path(), mtime, now);
        if (first) continue;
        if (it->second.first != mtime) {
          ++watch.refreshed;
          it->second = {mtime, now};
        } else if (std::chrono::duration<double>(now - it->second.second).count() >= timeout_s) {
          ++watch.stale;
          it->second.second = now;
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return watch;
}

}  // namespace

// Claims whose holders are gone: one of another machine that stopped
// refreshing (taken over after the timeout) and one of a process of this
// machine that exited (taken over at once). The worker trains every run
// (also one whose earlier round failed), and its own claims never stand
// still for the timeout (runs take longer).
TEST_F(ShardedSweep, AClaimingWorkerTakesOverStaleClaims) {
  sweep::SweepOptions options = one_worker("runs");
  options.claim = true;
  options.claim_timeout_s = 1;
  const stdfs::path remote = run::run_dir_for(options.runs_dir, id_of(0.5)) / run::kClaimsDir,
                    local = run::run_dir_for(options.runs_dir, id_of(0.75)) / run::kClaimsDir;
  stdfs::create_directories(remote);
  stdfs::create_directories(local);
  sweep::ClaimHolder gone = sweep::this_process("t");
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  gone.pid = child;
  const auto claim_json = [](const sweep::ClaimHolder& h) {
    return "{\"host\": \"" + h.host + "\", \"pid\": " + std::to_string(h.pid) + ", \"process_space\": \"" +
           h.process_space + "\", \"claimed_at\": \"\", \"sweep\": \"t\"}";
  };
  fs::write_file_atomic(remote / "0.json", claim_json({"other-host", 4242, "elsewhere", "", "t"}));
  fs::write_file_atomic(local / "2.json", claim_json(gone));

  std::atomic<bool> stop{false};
  std::vector<stdfs::path> run_dirs;
  for (double rho : {0.0, 0.25, 0.5, 0.75}) run_dirs.push_back(run::run_dir_for(options.runs_dir, id_of(rho)));
  // A failure recorded before this worker started (an earlier round) is retried.
  sweep::write_outcome(run_dirs[1], {RunStatus::failed, "an earlier round", std::nullopt, "", 0});
  auto watcher = std::async(std::launch::async, [&] { return watch_own_claims(run_dirs, options.claim_timeout_s, stop); });
  const auto summary = sweep::run_sweep(sweep::load_sweep(dir() / "sweep.toml"), options);
  stop = true;
  const ClaimWatch watch = watcher.get();
  EXPECT_EQ(summary.done, 4);
  EXPECT_EQ(summary.by_others, 0);
  EXPECT_GT(watch.refreshed, 0) << "no heartbeat seen";
  EXPECT_EQ(watch.stale, 0) << "a claim of a running trainer stood still for the timeout";
  EXPECT_EQ(sweep::folder_outcome(run_dirs[1])->status, RunStatus::done);
  for (const stdfs::path& claims : {remote, local}) {
    size_t left = 0;
    for ([[maybe_unused]] const auto& e : stdfs::directory_iterator(claims)) ++left;
    EXPECT_EQ(left, 0u) << claims;
    EXPECT_EQ(sweep::folder_outcome(claims.parent_path())->status, RunStatus::done);
  }
  const auto registered = by_name(options.registry);
  EXPECT_EQ(registered.size(), 4u);
  for (const auto& [name, r] : registered) EXPECT_EQ(r.status, RunStatus::done) << name;
}

// A run folder holds its result: the registry a worker lost is rebuilt from
// the folders, and a rerun of the sweep then trains nothing.
TEST_F(ShardedSweep, ALostRegistryIsRebuiltFromTheRunFolders) {
  const sweep::SweepOptions options = one_worker("runs");
  const auto spec = sweep::load_sweep(dir() / "sweep.toml");
  ASSERT_EQ(sweep::run_sweep(spec, options).done, 4);
  const auto before = by_name(options.registry);
  stdfs::remove(options.registry);

  analysis::Registry rebuilt(options.registry);
  const sweep::RebuildSummary summary = sweep::rebuild_registry(options.runs_dir, rebuilt);
  EXPECT_EQ(summary.folders, 4);
  EXPECT_EQ(summary.done, 4);
  const auto after = by_name(options.registry);
  ASSERT_EQ(after.size(), before.size());
  for (const auto& [name, r] : before) {
    EXPECT_EQ(after.at(name).final_metrics.at("math").loss, r.final_metrics.at("math").loss) << name;
    EXPECT_EQ(after.at(name).branched_from, r.branched_from) << name;
    EXPECT_EQ(after.at(name).tokens_per_s, r.tokens_per_s) << name;
  }
  const auto rerun = sweep::run_sweep(spec, options);
  EXPECT_EQ(rerun.skipped, 4);
  EXPECT_EQ(rerun.done, 0);
}

TEST(RunsRebuild, AMissingRunsFolderIsAnErrorAndStaysMissing) {
  TempDir tmp("rebuild-missing");
  const stdfs::path missing = tmp.path / "no-runs";
  const CliResult r = run_replay("runs rebuild --runs " + missing.string());
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find(missing.string() + ": no such runs folder"), std::string::npos) << r.out;
  EXPECT_FALSE(stdfs::exists(missing));
}

// The folder's own record, without a trainer: what status.json says, a
// completed trainer (summary.json) over an earlier interrupted try, and a
// membership alone rebuilds as a run not finished, with its names and tags.
TEST(RunRecord, TheFolderSaysWhatTheRegistryGets) {
  TempDir tmp("run-record");
  const stdfs::path runs = tmp.path / "runs", run_dir = runs / "0123456789abcdef";
  const std::string id = "0123456789abcdef0123456789abcdef";
  sweep::write_membership(run_dir, {"s", id, "{\"a\": 1}", {"target", "math", "/stores/math", "feed"},
                                    {{"mid-rho=0", {{"family", "mid-training"}}}, {"alias", {{"rho", "0"}}}}});
  EXPECT_FALSE(sweep::folder_outcome(run_dir));
  sweep::write_outcome(run_dir, {RunStatus::interrupted, "killed by signal 15", std::nullopt, "", 0});
  ASSERT_TRUE(sweep::folder_outcome(run_dir));
  EXPECT_EQ(sweep::folder_outcome(run_dir)->status, RunStatus::interrupted);
  EXPECT_EQ(sweep::read_outcome(run_dir)->error, "killed by signal 15");

  analysis::Registry registry(tmp.path / "r.sqlite");
  const sweep::RebuildSummary first = sweep::rebuild_registry(runs, registry);
  EXPECT_EQ(first.folders, 1);
  EXPECT_EQ(first.names, 2);
  EXPECT_EQ(first.interrupted, 1);
  EXPECT_EQ(registry.get_run(id).status, RunStatus::interrupted);
  const auto listed = registry.list_runs({});
  ASSERT_EQ(listed.size(), 1u);  // one run, two names
  EXPECT_EQ(listed[0].name, "mid-rho=0");
  EXPECT_EQ(listed[0].aliases, std::vector<std::string>{"alias"});
  EXPECT_EQ(listed[0].tags.at("family"), "mid-training");
  EXPECT_EQ(listed[0].target.manifest_hash, "feed");

  fs::write_file_atomic(run_dir / run::kSummaryFile, "{}\n");  // completed since, by a plain `replay train`
  EXPECT_EQ(sweep::folder_outcome(run_dir)->status, RunStatus::done);
  EXPECT_EQ(sweep::rebuild_registry(runs, registry).done, 1);
  EXPECT_EQ(registry.get_run(id).status, RunStatus::done);
}
