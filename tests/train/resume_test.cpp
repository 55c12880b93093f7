// Kill-and-resume exactness with a real process: `replay train` is SIGKILLed
// at a random step, restarted with --resume auto, and must produce the same
// per-step losses and evaluations, bit for bit, as an uninterrupted run.
// Also across the fine-tuning protocol's phase boundary (optimizer reset).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "tiny_run.h"
#include "train_process.h"

namespace replay::train {
namespace {

namespace stdfs = std::filesystem;

using testing::count_step_lines;
using testing::read_log;
using testing::spawn_train;
using testing::wait_exit;

class ResumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(stdfs::exists(REPLAY_BINARY)) << "build the replay binary first";
    testing::make_store(tmp_.path / "generic", "generic", 160);
    testing::make_store(tmp_.path / "math", "math");
  }

  // Writes the config for run directory `out`.
  stdfs::path write_config(const std::string& name, const std::string& schedule, int steps) {
    return testing::write_tiny_config(tmp_.path, name, schedule, steps);
  }

  // Runs `reference` uninterrupted and `victim` killed at a random step in
  // [kill_min, kill_max] then resumed; compares every step and eval.
  void kill_and_resume(const std::string& schedule, int steps, int kill_min, int kill_max) {
    auto ref_cfg = write_config("reference", schedule, steps);
    auto vic_cfg = write_config("victim", schedule, steps);
    ASSERT_EQ(wait_exit(spawn_train(ref_cfg, {}, tmp_.path / "reference.log")), 0)
        << read_log(tmp_.path / "reference.log");

    std::mt19937 rng(std::random_device{}());
    const int kill_at = std::uniform_int_distribution<int>(kill_min, kill_max)(rng);
    const stdfs::path metrics = tmp_.path / "victim" / "metrics.jsonl";
    pid_t pid = spawn_train(vic_cfg, {}, tmp_.path / "victim.log");
    testing::wait_for_step_lines(pid, metrics, kill_at, tmp_.path / "victim.log");
    if (HasFatalFailure()) return;
    ::kill(pid, SIGKILL);
    ASSERT_EQ(wait_exit(pid), -SIGKILL);
    const size_t seen = count_step_lines(metrics);
    ASSERT_LT(seen, static_cast<size_t>(steps)) << "killed too late to test anything";

    ASSERT_EQ(wait_exit(spawn_train(vic_cfg, {"--resume", "auto"}, tmp_.path / "victim.log")), 0)
        << read_log(tmp_.path / "victim.log");
    EXPECT_NE(read_log(tmp_.path / "victim.log").find("resuming from"), std::string::npos)
        << "killed after " << seen << " steps; log:\n" << read_log(tmp_.path / "victim.log");

    testing::expect_same_losses(tmp_.path / "reference" / "metrics.jsonl", metrics, steps,
                                ", killed after " + std::to_string(seen) + " steps");
  }

  TempDir tmp_{"resume"};
};

TEST_F(ResumeTest, SigkillAtRandomStepResumesBitExact) {
  kill_and_resume(
      std::string(testing::kTinyMidTraining) +
      "[optim]\nlr = 3e-3\n[lr_schedule]\nkind = \"wsd\"\n",
      32, 4, 20);  // from step 4 on a checkpoint (every 3) exists
}

TEST_F(ResumeTest, SigkillAcrossFineTuningPhaseBoundaryResumesBitExact) {
  // Pool 8 sequences = 1 batch, e = 8, m = 2: pre-training steps 0-15,
  // fine-tuning (optimizer reset) steps 16-31; the kill lands around the
  // boundary.
  kill_and_resume(
      "[schedule]\nprotocol = \"fine-tuning\"\ntarget = \"math\"\ngeneric = \"generic\"\n"
      "f = 0.03125\ne = 8\nm = 2\nblock_size = 8\n",
      32, 14, 20);
}

}  // namespace
}  // namespace replay::train
