// Data-parallel training through the real binary: `replay launch --nproc 2`
// against one process on the tiny model, resuming across world sizes, a
// rank killed mid-run, and optimizer-state sharding (train.shard_optimizer:
// the same losses, weights and moments as unsharded and as one process,
// and resume across sharded and unsharded).
//
// Tolerance: with microbatches of 2 rows, one process adds 4 microbatch
// gradients in a row while 2 ranks add 2 each and then the two halves, so
// losses agree to floating-point summation order, not bit for bit:
// kRelTolerance relative, per step and per evaluation.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <regex>
#include <thread>

#include <torch/cuda.h>

#include "model/safetensors.h"
#include "tiny_run.h"
#include "train/train_process.h"

namespace replay::train {
namespace {

namespace stdfs = std::filesystem;
using testing::read_log;
using testing::wait_exit;

constexpr double kRelTolerance = 1e-5;
// Final weights and AdamW moments of two runs, relative to each tensor's
// largest value: the weights within kRelTolerance; the moments, averages of
// gradients that partly cancel, within kMomentTolerance (measured on the
// tiny model after 12 steps: sharded vs unsharded 8e-5, 2 ranks unsharded
// vs 1 process 3e-5; the losses agree to 1e-8).
constexpr double kMomentTolerance = 1e-3;
constexpr int kSteps = 12;
// Every run of these tests: 4 microbatches per global batch of 8.
const std::vector<std::string> kMicrobatch = {"--set", "train.microbatch=2"};
const std::vector<std::string> kSharded = {"--set", "train.shard_optimizer=true"};
const std::string kSchedule = std::string(testing::kTinyMidTraining) +
    "[optim]\nlr = 3e-3\n[lr_schedule]\nkind = \"wsd\"\n";

// `replay ARGS...` in the background, stdout and stderr appended to `log`.
pid_t spawn_replay(const std::vector<std::string>& args, const stdfs::path& log) {
  pid_t pid = ::fork();
  if (pid == 0) {
    FILE* f = std::freopen(log.c_str(), "a", stderr);
    (void)f;
    ::dup2(::fileno(stderr), STDOUT_FILENO);
    std::vector<std::string> all = {REPLAY_BINARY};
    all.insert(all.end(), args.begin(), args.end());
    all.insert(all.end(), kMicrobatch.begin(), kMicrobatch.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    std::_Exit(127);
  }
  return pid;
}

// The largest relative difference seen, printed at the end of each test
// (what the tolerance is measured against).
double max_rel_diff = 0;

void expect_close(double expected, double actual, const std::string& what) {
  EXPECT_LE(std::abs(actual - expected), kRelTolerance * std::abs(expected))
      << what << ": " << expected << " vs " << actual;
  max_rel_diff = std::max(max_rel_diff, std::abs(actual - expected) / std::abs(expected));
}

// Same steps, phases, and losses and evaluations within kRelTolerance.
void expect_close_losses(const stdfs::path& reference, const stdfs::path& other) {
  auto a = testing::read_metrics(reference);
  auto b = testing::read_metrics(other);
  ASSERT_EQ(a.steps.size(), static_cast<size_t>(kSteps));
  ASSERT_EQ(b.steps.size(), a.steps.size());
  for (size_t i = 0; i < a.steps.size(); ++i) {
    EXPECT_EQ(b.steps[i].step, a.steps[i].step);
    EXPECT_EQ(b.steps[i].phase, a.steps[i].phase);
    expect_close(a.steps[i].loss, b.steps[i].loss, "loss of step " + std::to_string(i + 1));
  }
  ASSERT_EQ(a.evals.size(), b.evals.size());
  for (size_t i = 0; i < a.evals.size(); ++i) {
    EXPECT_EQ(a.evals[i]["step"], b.evals[i]["step"]);
    for (const auto& [source, loss] : a.evals[i]["val"].items())
      expect_close(loss.get<double>(), b.evals[i]["val"][source].get<double>(),
                   "eval " + std::to_string(i) + " " + source);
  }
}

// The tensors of the final checkpoint's `file` (model.safetensors or
// optimizer.safetensors; checkpoints every 3 steps, so step 12 has one).
std::map<std::string, torch::Tensor> final_tensors(const stdfs::path& run, const std::string& file) {
  const auto contents = model::read_safetensors(run / "checkpoints" / "step-000000012" / file);
  return {contents.tensors.begin(), contents.tensors.end()};
}

// The largest difference of a value of `other` from `reference`, relative
// to the largest magnitude of that tensor in `reference`; both must hold the
// same names and shapes.
double max_relative_difference(const std::map<std::string, torch::Tensor>& reference,
                               const std::map<std::string, torch::Tensor>& other) {
  EXPECT_EQ(reference.size(), other.size());
  double worst = 0;
  for (const auto& [name, a] : reference) {
    auto it = other.find(name);
    if (it == other.end() || !it->second.sizes().equals(a.sizes())) {
      ADD_FAILURE() << "missing or reshaped: " << name;
      continue;
    }
    const auto x = a.to(torch::kFloat64), y = it->second.to(torch::kFloat64);
    const double scale = std::max(x.abs().max().item<double>(), 1e-30);
    worst = std::max(worst, (x - y).abs().max().item<double>() / scale);
  }
  return worst;
}

class DataParallelTest : public ::testing::Test {
 protected:
  void TearDown() override {
    std::printf("largest relative difference of a loss from one process: %.3g\n", max_rel_diff);
  }
  void SetUp() override {
    max_rel_diff = 0;
    ASSERT_TRUE(stdfs::exists(REPLAY_BINARY)) << "build the replay binary first";
    testing::make_store(tmp_.path / "generic", "generic", 160);
    testing::make_store(tmp_.path / "math", "math");
    reference_ = testing::write_tiny_config(tmp_.path, "reference", kSchedule, kSteps);
    const int code = wait_exit(spawn_replay({"train", reference_.string()}, log("reference")));
    ASSERT_EQ(code, 0) << read_log(log("reference"));
  }

  stdfs::path log(const std::string& name) const { return tmp_.path / (name + ".log"); }
  stdfs::path metrics(const std::string& name) const { return tmp_.path / name / "metrics.jsonl"; }
  stdfs::path config(const std::string& name) { return testing::write_tiny_config(tmp_.path, name, kSchedule, kSteps); }

  // `replay launch --nproc N --port P -- train CONFIG`, with a port of its own.
  std::vector<std::string> launch_args(int nproc, const stdfs::path& cfg) {
    // 8 ports per test process in 20000-25999: apart from communicator_test's
    // and below Linux's ephemeral range (32768-).
    static int next = 0;
    const int port = 20000 + static_cast<int>((::getpid() % 750) * 8 + next++ % 8);
    return {"launch", "--nproc", std::to_string(nproc), "--port", std::to_string(port), "--", "train", cfg.string()};
  }

  // Starts `args`, SIGTERMs it once `after` steps are logged, expects the
  // stop-with-checkpoint exit (128 + SIGTERM).
  void interrupt_after(const std::vector<std::string>& args, const std::string& name, size_t after) {
    const pid_t pid = spawn_replay(args, log(name));
    testing::wait_for_step_lines(pid, metrics(name), after, log(name));
    if (HasFatalFailure()) return;
    ::kill(pid, SIGTERM);
    EXPECT_EQ(wait_exit(pid), 128 + SIGTERM) << read_log(log(name));
    ASSERT_LT(testing::count_step_lines(metrics(name)), static_cast<size_t>(kSteps)) << "stopped too late";
  }

  TempDir tmp_{"dist"};
  stdfs::path reference_;
};

TEST_F(DataParallelTest, TwoRanksGiveTheLossesOfOneProcess) {
  const auto cfg = config("two");
  const auto args = launch_args(2, cfg);
  ASSERT_EQ(wait_exit(spawn_replay(args, log("two"))), 0) << read_log(log("two"));
  const std::string text = read_log(log("two"));
  EXPECT_NE(text.find("rank 0/2 master 127.0.0.1:" + args[4]), std::string::npos) << text;
  EXPECT_NE(text.find("rank 1/2 master 127.0.0.1:" + args[4]), std::string::npos) << text;
  EXPECT_NE(text.find("replay train: gradients all-reduced with gloo (device cpu)"), std::string::npos) << text;
  expect_close_losses(metrics("reference"), metrics("two"));
  EXPECT_NE(read_log(metrics("two")).find("\"allreduce_s\""), std::string::npos);
  EXPECT_TRUE(stdfs::exists(tmp_.path / "two" / "summary.json"));
}

TEST_F(DataParallelTest, ResumesOnAnotherNumberOfRanks) {
  // Two ranks stopped (SIGTERM to the launcher, forwarded), one finishes...
  interrupt_after(launch_args(2, config("two-then-one")), "two-then-one", 4);
  if (HasFatalFailure()) return;
  ASSERT_EQ(wait_exit(spawn_replay({"train", config("two-then-one").string()}, log("two-then-one"))), 0)
      << read_log(log("two-then-one"));
  EXPECT_NE(read_log(log("two-then-one")).find("resuming from"), std::string::npos);
  expect_close_losses(metrics("reference"), metrics("two-then-one"));
  // ...and one process stopped, two ranks finish.
  interrupt_after({"train", config("one-then-two").string()}, "one-then-two", 4);
  if (HasFatalFailure()) return;
  ASSERT_EQ(wait_exit(spawn_replay(launch_args(2, config("one-then-two")), log("one-then-two"))), 0)
      << read_log(log("one-then-two"));
  EXPECT_NE(read_log(log("one-then-two")).find("resuming from"), std::string::npos);
  expect_close_losses(metrics("reference"), metrics("one-then-two"));
}

TEST_F(DataParallelTest, AKilledRankStopsTheLaunchNamingItAndARerunResumes) {
  const auto cfg = config("killed");
  const pid_t launcher = spawn_replay(launch_args(2, cfg), log("killed"));
  testing::wait_for_step_lines(launcher, metrics("killed"), 4, log("killed"));
  if (HasFatalFailure()) return;
  std::smatch m;
  const std::string started = read_log(log("killed"));
  ASSERT_TRUE(std::regex_search(started, m, std::regex("rank 1/2 pid ([0-9]+)"))) << started;
  const pid_t rank1 = std::stoi(m[1]);
  const auto killed_at = std::chrono::steady_clock::now();
  ::kill(rank1, SIGKILL);
  EXPECT_EQ(wait_exit(launcher), 1);
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  EXPECT_LT(seconds, 30.0) << "the launch took " << seconds << " s to stop";
  const std::string text = read_log(log("killed"));
  EXPECT_NE(text.find("rank 1 (pid " + std::string(m[1]) + ") was killed by signal 9"), std::string::npos) << text;
  ASSERT_LT(testing::count_step_lines(metrics("killed")), static_cast<size_t>(kSteps)) << "killed too late";

  ASSERT_EQ(wait_exit(spawn_replay(launch_args(2, cfg), log("killed"))), 0) << read_log(log("killed"));
  EXPECT_NE(read_log(log("killed")).find("resuming from"), std::string::npos);
  expect_close_losses(metrics("reference"), metrics("killed"));
}

TEST_F(DataParallelTest, ABatchThatDoesNotSplitEvenlyIsAnError) {
  EXPECT_EQ(wait_exit(spawn_replay(launch_args(3, config("three")), log("three"))), 1);
  const std::string text = read_log(log("three"));
  EXPECT_NE(text.find("train.batch_size = 8 does not divide into 3 ranks"), std::string::npos) << text;
  EXPECT_NE(text.find("replay launch: rank "), std::string::npos) << text;
}

// The local GPUs (2, 4 or 8 of them), one rank each, gradients all-reduced by NCCL
// (dist/communicator.h). Runs only with two or more CUDA devices and a
// libtorch with NCCL (scripts/gpu_check.sh); skipped on the CPU build. The
// GPU's kernels (TF32 matmuls) differ from the CPU's: losses within 2e-2.
TEST_F(DataParallelTest, EveryLocalGpuWithNccl) {
  const int gpus = torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
  if (gpus < 2) GTEST_SKIP() << gpus << " CUDA device(s): data parallelism over GPUs needs 2";
  int ranks = 2;  // the batch of 8 splits evenly over 2, 4 or 8 ranks
  while (ranks * 2 <= std::min(gpus, 8)) ranks *= 2;
  auto args = launch_args(ranks, config("gpus"));
  args.insert(args.end(), {"--set", "device=\"cuda\""});
  ASSERT_EQ(wait_exit(spawn_replay(args, log("gpus"))), 0) << read_log(log("gpus"));
  const std::string text = read_log(log("gpus"));
  EXPECT_NE(text.find("replay train: gradients all-reduced with nccl (device cuda)"), std::string::npos) << text;
  const auto cpu = testing::read_metrics(metrics("reference")), gpu = testing::read_metrics(metrics("gpus"));
  ASSERT_EQ(gpu.steps.size(), cpu.steps.size());
  for (size_t i = 0; i < cpu.steps.size(); ++i)
    EXPECT_NEAR(gpu.steps[i].loss, cpu.steps[i].loss, 2e-2 * std::abs(cpu.steps[i].loss)) << "step " << i + 1;
}

std::vector<std::string> with_sharding(std::vector<std::string> args) {
  args.insert(args.end(), kSharded.begin(), kSharded.end());
  return args;
}

TEST_F(DataParallelTest, TwoRanksShardedGiveTheWeightsAndLossesOfUnshardedAndOfOneProcess) {
  ASSERT_EQ(wait_exit(spawn_replay(with_sharding(launch_args(2, config("sharded"))), log("sharded"))), 0)
      << read_log(log("sharded"));
  EXPECT_NE(read_log(log("sharded")).find("optimizer state sharded across 2 ranks"), std::string::npos)
      << read_log(log("sharded"));
  ASSERT_EQ(wait_exit(spawn_replay(launch_args(2, config("two")), log("two"))), 0) << read_log(log("two"));
  expect_close_losses(metrics("reference"), metrics("sharded"));
  expect_close_losses(metrics("two"), metrics("sharded"));
  // The final weights and the moments rank 0 gathered into its checkpoint.
  for (const auto& [file, tolerance] : {std::pair<std::string, double>{"model.safetensors", kRelTolerance},
                                       std::pair<std::string, double>{"optimizer.safetensors", kMomentTolerance}}) {
    const auto sharded = final_tensors(tmp_.path / "sharded", file);
    const double from_two = max_relative_difference(final_tensors(tmp_.path / "two", file), sharded);
    const double from_one = max_relative_difference(final_tensors(tmp_.path / "reference", file), sharded);
    EXPECT_LE(from_two, tolerance) << file;
    EXPECT_LE(from_one, tolerance) << file;
    const double two_from_one = max_relative_difference(final_tensors(tmp_.path / "reference", file),
                                                        final_tensors(tmp_.path / "two", file));
    std::printf("%s after 12 steps, sharded vs 2 ranks unsharded: %.3g, vs 1 process: %.3g; 2 ranks unsharded vs "
                "1 process: %.3g (relative to each tensor's largest value)\n",
                file.c_str(), from_two, from_one, two_from_one);
  }
}

TEST_F(DataParallelTest, ResumesAcrossShardedAndUnsharded) {
  // Two ranks sharded stopped, one process (unsharded) finishes...
  interrupt_after(with_sharding(launch_args(2, config("sharded-then-one"))), "sharded-then-one", 4);
  if (HasFatalFailure()) return;
  ASSERT_EQ(wait_exit(spawn_replay({"train", config("sharded-then-one").string()}, log("sharded-then-one"))), 0)
      << read_log(log("sharded-then-one"));
  EXPECT_NE(read_log(log("sharded-then-one")).find("resuming from"), std::string::npos);
  expect_close_losses(metrics("reference"), metrics("sharded-then-one"));
  // ...and one process stopped, two ranks sharded finish.
  interrupt_after({"train", config("one-then-sharded").string()}, "one-then-sharded", 4);
  if (HasFatalFailure()) return;
  ASSERT_EQ(wait_exit(spawn_replay(with_sharding(launch_args(2, config("one-then-sharded"))), log("one-then-sharded"))),
            0)
      << read_log(log("one-then-sharded"));
  EXPECT_NE(read_log(log("one-then-sharded")).find("resuming from"), std::string::npos);
  expect_close_losses(metrics("reference"), metrics("one-then-sharded"));
}

}  // namespace
}  // namespace replay::train
