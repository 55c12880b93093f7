// The memory estimate is an upper bound of the real `replay train` peak
// (measured by the kernel: ru_maxrss of the child), and not a loose one.
// The shape has a large vocabulary, where the uncalibrated estimate (weights,
// gradients, moments and activations only) read 4x below the peak.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <string>

#include "run/run_config.h"
#include "tiny_run.h"
#include "train/train_process.h"

namespace stdfs = std::filesystem;
using namespace replay::train::testing;

TEST(MemoryEstimate, BoundsTheMeasuredPeakOfTheRealTrainer) {
  TempDir dir("memory");
  make_store(dir.path / "generic", "generic");
  make_store(dir.path / "math", "math");
  const stdfs::path config = write_tiny_config(dir.path, "run", "[schedule]\nsource = \"generic\"\n", 3);
  const std::vector<std::string> shape = {"--set", "model.vocab_size=32768", "--set", "train.microbatch=8",
                                          "--set", "train.batch_size=8"};
  const replay::run::RunConfig rc = replay::run::load_run_config(config, {"model.vocab_size=32768",
                                                                          "train.microbatch=8", "train.batch_size=8"});
  const uint64_t estimate = replay::run::estimate_training_memory(rc.model, 8, rc.seq_len).total();

  const stdfs::path log = dir.path / "train.log";
  const pid_t pid = spawn_train(config, shape, log);
  int status = 0;
  rusage usage{};
  ASSERT_EQ(::wait4(pid, &status, 0, &usage), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_log(log);
  const uint64_t peak = static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // KiB on Linux
  EXPECT_LE(peak, estimate) << "measured " << (peak >> 20) << " MiB, estimated " << (estimate >> 20) << " MiB";
  EXPECT_LE(estimate, peak * 8 / 5) << "estimate " << (estimate >> 20) << " MiB is loose for a peak of "
                                    << (peak >> 20) << " MiB";
  // The trainer tells the user the same estimate.
  EXPECT_NE(read_log(log).find("peak memory about " + std::to_string(estimate >> 20) + " MiB"), std::string::npos)
      << read_log(log);
}

// The device gate of a CUDA run: Llama-3.1-8B at the paper's precision, one
// 4096-token sequence per microbatch. An H200-sized device (143,771 MiB as
// the driver reports it) admits it only with activation checkpointing, which
// the refusal names with the config key; an 80 GB device admits it with no
// way the trainer has, and the refusal says so.
TEST(DeviceGate, RefusesWhatDoesNotFitAndNamesTheWaysThatWould) {
  const auto m = replay::model::preset("llama-3.1-8b");
  replay::model::MemoryPlanOptions plan;
  plan.microbatch = 1;
  plan.seq_len = 4096;
  const double h200 = 143771.0 * (1 << 20), h100 = 81559.0 * (1 << 20);
  const std::string refused = replay::run::device_memory_refusal(m, plan, h200, "cuda:0");
  ASSERT_FALSE(refused.empty());
  EXPECT_NE(refused.find("on cuda:0"), std::string::npos) << refused;
  EXPECT_NE(refused.find("weights 32.1 GB"), std::string::npos) << refused;
  EXPECT_NE(refused.find("activation checkpointing ("), std::string::npos) << refused;
  EXPECT_NE(refused.find("train.activation_checkpointing = true"), std::string::npos) << refused;

  plan.checkpointing = true;
  EXPECT_EQ(replay::run::device_memory_refusal(m, plan, h200, "cuda:0"), "");
  const std::string small = replay::run::device_memory_refusal(m, plan, h100, "cuda:1");
  ASSERT_FALSE(small.empty());
  EXPECT_EQ(small.find("train.activation_checkpointing = true"), std::string::npos) << small;
  EXPECT_NE(small.find("not in Replay's trainer yet"), std::string::npos) << small;
}

// The device the gate asks the driver about (run/machine.h), from the one
// parsed `device` setting.
TEST(DeviceGate, DeviceIndexComesFromTheSettings) {
  replay::run::RunSettings s;
  EXPECT_FALSE(s.cuda_index().has_value());
  s.device = "cuda";
  EXPECT_EQ(s.cuda_index(), 0);
  s.device = "cuda:3";
  EXPECT_EQ(s.cuda_index(), 3);
}
