// Reliability of the real `replay train` process (REPLAY_BINARY) against what
// happens around it: a second trainer on the same run folder (refused by the
// run lock), SIGTERM (a checkpoint, a message, exit 143, an exact resume) and
// a file-size limit hit while writing a checkpoint (an error, not SIGXFSZ).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "store/token_store.h"
#include "store_surgery.h"
#include "tiny_run.h"
#include "train/checkpoint.h"
#include "train_process.h"
#include "util/file_lock.h"

namespace replay::train {
namespace {

namespace stdfs = std::filesystem;
using testing::count_step_lines;
using testing::read_log;
using testing::spawn_train;
using testing::wait_exit;

class RunGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(stdfs::exists(REPLAY_BINARY)) << "build the replay binary first";
    testing::make_store(tmp_.path / "generic", "generic", 160);
    testing::make_store(tmp_.path / "math", "math");
  }

  // The config of run folder `name`: `steps` steps of the tiny model,
  // checkpoints every 3 steps.
  stdfs::path write_config(const std::string& name, int steps) {
    return testing::write_tiny_config(tmp_.path, name, testing::kTinyMidTraining, steps);
  }

  stdfs::path metrics_of(const std::string& name) { return tmp_.path / name / "metrics.jsonl"; }
  stdfs::path log_of(const std::string& name) { return tmp_.path / (name + ".log"); }

  // Runs `name` to completion, uninterrupted.
  void run_reference(const std::string& name, int steps) {
    ASSERT_EQ(wait_exit(spawn_train(write_config(name, steps), {}, log_of(name))), 0) << read_log(log_of(name));
  }

  void wait_for_steps(pid_t pid, const std::string& name, size_t lines) {
    testing::wait_for_step_lines(pid, metrics_of(name), lines, log_of(name));
  }
  void expect_same_losses(const std::string& ref, const std::string& name, int steps) {
    testing::expect_same_losses(metrics_of(ref), metrics_of(name), steps);
  }

  TempDir tmp_{"guard"};
};

TEST_F(RunGuardTest, SecondTrainerOnSameFolderIsRefusedAndFirstCompletesUndisturbed) {
  // Long enough that the first trainer is still running when the second one,
  // which pays libtorch's start-up, is refused (40 steps were not, on a quiet machine).
  const int steps = 400;
  run_reference("reference", steps);
  const auto config = write_config("shared-out", steps);
  pid_t first = spawn_train(config, {}, log_of("shared-out"));
  wait_for_steps(first, "shared-out", 1);

  const auto t0 = std::chrono::steady_clock::now();
  const int second = wait_exit(spawn_train(config, {}, log_of("second")));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string log = read_log(log_of("second"));
  EXPECT_EQ(second, fs::kLockHeldExit) << log;  // "busy", told apart from a failure
  EXPECT_LT(seconds, 30) << "refused only after " << seconds << " s";
  EXPECT_NE(log.find((tmp_.path / "shared-out").string() + " is in use by replay train (pid " +
                     std::to_string(first) + ")"),
            std::string::npos)
      << log;
  int status = 0;
  EXPECT_EQ(::waitpid(first, &status, WNOHANG), 0) << "the first trainer ended before the second was refused";

  ASSERT_EQ(wait_exit(first), 0) << read_log(log_of("shared-out"));
  expect_same_losses("reference", "shared-out", steps);
}

TEST_F(RunGuardTest, SigtermCheckpointsTheLastStepAndResumesBitExact) {
  const int steps = 32;
  run_reference("reference", steps);
  const auto config = write_config("victim", steps);
  pid_t pid = spawn_train(config, {}, log_of("victim"));
  wait_for_steps(pid, "victim", 4);  // step 4: after a cadence checkpoint (3), not at one
  ::kill(pid, SIGTERM);
  ASSERT_EQ(wait_exit(pid), 128 + SIGTERM) << read_log(log_of("victim"));

  const std::string log = read_log(log_of("victim"));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(log, m, std::regex("stopped by signal 15 at step (\\d+); checkpoint (\\S+); "
                                                   "rerun the same command to resume")))
      << log;
  const int64_t stopped_at = std::stoll(m[1]);
  ASSERT_LT(stopped_at, steps) << "stopped too late to test anything";
  EXPECT_EQ(count_step_lines(metrics_of("victim")), static_cast<size_t>(stopped_at));
  const stdfs::path ckpt = tmp_.path / "victim" / "checkpoints" / checkpoint_dir_name(stopped_at);
  EXPECT_EQ(m[2].str(), ckpt.string());
  EXPECT_EQ(read_checkpoint_info(ckpt).state.step, stopped_at);

  ASSERT_EQ(wait_exit(spawn_train(config, {}, log_of("victim"))), 0) << read_log(log_of("victim"));
  EXPECT_NE(read_log(log_of("victim")).find("resuming from " + ckpt.string()), std::string::npos)
      << read_log(log_of("victim"));
  expect_same_losses("reference", "victim", steps);
}

TEST_F(RunGuardTest, FileSizeLimitDuringCheckpointIsAnErrorAndKeepsThePreviousCheckpoint) {
  const int steps = 32;
  const auto config = write_config("limited", steps);
  pid_t pid = spawn_train(config, {}, log_of("limited"));
  wait_for_steps(pid, "limited", 4);  // a checkpoint (step 3) exists
  ::kill(pid, SIGKILL);
  ASSERT_EQ(wait_exit(pid), -SIGKILL);
  const stdfs::path root = tmp_.path / "limited" / "checkpoints";
  auto before = latest_good_checkpoint(root, [](const std::string& m) { ADD_FAILURE() << m; });
  ASSERT_TRUE(before.has_value());
  ASSERT_LT(before->state.step, steps) << "killed too late to test anything";

  // 64 KiB: above config.json and metrics.jsonl, below the tiny model's weights.
  ASSERT_GT(stdfs::file_size(before->dir / kWeightsFile), 64u * 1024);
  const int rc = wait_exit(spawn_train(config, {}, log_of("limited-run"), 64));
  const std::string log = read_log(log_of("limited-run"));
  EXPECT_EQ(rc, 1) << "not a normal error exit (" << -SIGXFSZ << " = killed by SIGXFSZ): " << log;
  EXPECT_NE(log.find("resuming from " + before->dir.string()), std::string::npos) << log;
  EXPECT_TRUE(std::regex_search(log, std::regex("replay: error: .*" + root.string() + "/\\S+: File too large")))
      << log;

  auto after = latest_good_checkpoint(root, [](const std::string& m) { ADD_FAILURE() << m; });
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->dir, before->dir);
  EXPECT_EQ(after->state.step, before->state.step);
}

// A store holding an id past the vocabulary, with valid checksums and a
// manifest that does not own up to it: the batch is refused before the
// embedding lookup, naming the store, split and sequence, and no libtorch
// error (with its C++ stack trace) reaches the user.
TEST_F(RunGuardTest, TokenIdBeyondTheVocabularyIsAClearErrorNotALibtorchCrash) {
  for (const char* name : {"generic", "math"}) {  // whichever the first batch reads from
    const stdfs::path dir = tmp_.path / name;
    const int64_t sequences = store::TokenStore::open(dir).num_sequences(store::Split::train);
    std::vector<uint64_t> first_tokens;  // of every training sequence
    for (int64_t i = 0; i < sequences; ++i) first_tokens.push_back(static_cast<uint64_t>(i) * 32);
    store_surgery::reseal_with_token(dir, store::Split::train, first_tokens, 300);
  }

  const int rc = wait_exit(spawn_train(write_config("bad-ids", 4), {}, log_of("bad-ids")));
  const std::string log = read_log(log_of("bad-ids"));
  EXPECT_EQ(rc, 1) << log;
  EXPECT_TRUE(std::regex_search(log, std::regex("replay: error: token store " + tmp_.path.string() +
                                                "/(generic|math) \\(source '(generic|math)'\\): train sequence \\d+ "
                                                "holds token id 300, but model.vocab_size is 256")))
      << log;
  EXPECT_EQ(log.find("Exception raised from"), std::string::npos) << log;
  EXPECT_EQ(log.find("internal error"), std::string::npos) << log;
}

}  // namespace
// The thread count changes libtorch's floating-point sums (measured: the
// micro run's losses differ in the 7th digit between 1 and 2 threads), so a
// run keeps the count that computed its state: resumed with another
// `threads` (or by a sweep at another -j), it continues with the recorded one.
TEST_F(RunGuardTest, ResumeKeepsTheThreadCountThatComputedTheCheckpoint) {
  const int steps = 32;
  const std::vector<std::string> two = {"--set", "threads=2"};
  ASSERT_EQ(wait_exit(spawn_train(write_config("reference", steps), two, log_of("reference"))), 0)
      << read_log(log_of("reference"));
  const auto config = write_config("victim", steps);
  pid_t pid = spawn_train(config, two, log_of("victim"));
  wait_for_steps(pid, "victim", 4);
  ::kill(pid, SIGTERM);
  ASSERT_EQ(wait_exit(pid), 128 + SIGTERM) << read_log(log_of("victim"));
  auto latest = latest_good_checkpoint(tmp_.path / "victim" / "checkpoints", [](const std::string&) {});
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->state.cpu_threads, 2);

  ASSERT_EQ(wait_exit(spawn_train(config, {"--set", "threads=1"}, log_of("victim"))), 0)
      << read_log(log_of("victim"));
  EXPECT_NE(read_log(log_of("victim")).find("continuing with 2 threads, as this run's checkpoint was computed (1 asked)"),
            std::string::npos)
      << read_log(log_of("victim"));
  expect_same_losses("reference", "victim", steps);
}

}  // namespace replay::train
