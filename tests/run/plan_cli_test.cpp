// `replay plan` end to end on the example configs (store sizes overridden,
// so no store is needed), and its error path.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <string>

#include "replay_cli.h"
#include "temp_dir.h"

namespace {

const std::string kExamples = std::string(REPLAY_SOURCE_DIR) + "/configs/examples/";

}  // namespace

TEST(PlanCli, MidTrainingExample) {
  const CliResult r = run_replay("plan " + kExamples + "mid_training_micro.toml --store-size generic=200000 --store-size math=4000");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("protocol mid-training"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("wsd peak"), std::string::npos) << r.out;
  // The target realizes its ideal exposure: pool 32 x 32 epochs.
  EXPECT_NE(r.out.find("ideal target 1024"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1024         32         32   32.000"), std::string::npos) << r.out;
}

TEST(PlanCli, FineTuningExample) {
  const CliResult r = run_replay("plan " + kExamples + "fine_tuning_micro.toml --store-size generic=200000 --store-size math=4000");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("pre-training: steps 0-"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("optimizer reset (weights only)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("whole run:"), std::string::npos) << r.out;
}

// The continued-pretraining example: train.steps derived (64 / (1 - 0.75)),
// exposure T x B, and the rho sweep's values through --set.
TEST(PlanCli, ContinuedPretrainingExample) {
  const std::string cmd = "plan " + kExamples + "continued_pretraining_micro.toml --store-size generic=200000 "
                          "--store-size basque=4000";
  const CliResult r = run_replay(cmd);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("protocol continued-pretraining"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("target_steps 64, rho 0.75: 256 steps, target weight 0.250000, target exposure 1024 "
                       "sequences"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("continued-pretraining: steps 0-256, fresh optimizer"), std::string::npos) << r.out;
  const CliResult rho9 = run_replay(cmd + " --set schedule.rho=0.9");
  ASSERT_EQ(rho9.status, 0) << rho9.out;
  EXPECT_NE(rho9.out.find("640 steps, target weight 0.100000, target exposure 1024 sequences"), std::string::npos)
      << rho9.out;
  const CliResult one = run_replay(cmd + " --set schedule.rho=1");
  EXPECT_EQ(one.status, 1) << one.out;
  EXPECT_NE(one.out.find("schedule.rho = 1: must be in [0, 1)"), std::string::npos) << one.out;
}

TEST(PlanCli, PaperScaleWithoutStores) {
  const CliResult r = run_replay("plan " + kExamples + "mid_training_paper.toml --store-size generic=1048576 --store-size math=4096");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("32768"), std::string::npos) << r.out;
}

TEST(PlanCli, ErrorsAreClear) {
  const CliResult missing = run_replay("plan " + kExamples + "mid_training_micro.toml");
  EXPECT_EQ(missing.status, 1) << missing.out;
  EXPECT_NE(missing.out.find("--store-size"), std::string::npos) << missing.out;
  const CliResult bad = run_replay("plan " + kExamples + "mid_training_micro.toml --store-size math=lots");
  EXPECT_EQ(bad.status, 1) << bad.out;
  EXPECT_NE(bad.out.find("not a sequence count"), std::string::npos) << bad.out;
}

TEST(PlanCli, SetOverridesGoThroughTheOneLoader) {
  const std::string sizes = " --store-size generic=200000 --store-size math=4000";
  const CliResult base = run_replay("plan " + kExamples + "mid_training_micro.toml" + sizes);
  const CliResult rho = run_replay("plan " + kExamples + "mid_training_micro.toml" + sizes + " --set schedule.rho=0.75");
  ASSERT_EQ(base.status, 0) << base.out;
  ASSERT_EQ(rho.status, 0) << rho.out;
  EXPECT_NE(rho.out.find("rho 0.75"), std::string::npos) << rho.out;
  EXPECT_EQ(base.out.find("rho 0.75"), std::string::npos) << base.out;
  const CliResult typo = run_replay("plan " + kExamples + "mid_training_micro.toml" + sizes + " --set schedule.rhoo=0.75");
  EXPECT_EQ(typo.status, 1) << typo.out;
  EXPECT_NE(typo.out.find("unknown key 'schedule.rhoo'"), std::string::npos) << typo.out;
}

TEST(PlanCli, SyntaxErrorsNameFileLineAndColumn) {
  TempDir dir("plan-syntax");
  const std::string file = (dir.path / "bad.toml").string();
  std::ofstream(file) << "[train]\nsteps = = 3\n";
  const CliResult r = run_replay("plan " + file);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find(file + ":2:"), std::string::npos) << r.out;
}

// The plan names the seeds it draws on; `replay sweep --seeds N --list`
// repeats every run once per seed with the default streams.
TEST(PlanCli, SeedsInPlanAndSweepList) {
  const std::string plan = "plan " + kExamples + "mid_training_micro.toml --store-size generic=200000 --store-size math=4000";
  const CliResult one = run_replay(plan);
  ASSERT_EQ(one.status, 0) << one.out;
  EXPECT_NE(one.out.find(", seed 42\n"), std::string::npos) << one.out;
  const CliResult split = run_replay(plan + " --set seeds.pool=7 --set seeds.init=3");
  ASSERT_EQ(split.status, 0) << split.out;
  EXPECT_NE(split.out.find(", data seed 42, pool seed 7\n"), std::string::npos) << split.out;
  const CliResult bad = run_replay(plan + " --set seeds.order=7");
  EXPECT_EQ(bad.status, 1) << bad.out;
  EXPECT_NE(bad.out.find("unknown key 'seeds.order'"), std::string::npos) << bad.out;

  const CliResult list =
      run_replay("sweep " + std::string(REPLAY_SOURCE_DIR) + "/configs/examples/continued_pretraining_sweep.toml --list --seeds 2");
  ASSERT_EQ(list.status, 0) << list.out;
  EXPECT_NE(list.out.find("-seed=1 "), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("-seed=2 --set"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("--set seeds.init=2 --set seeds.data=2\n"), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find("seeds.pool"), std::string::npos) << list.out;
  // The example seed sweep: 2 cells x 3 seeds.
  const CliResult example = run_replay("sweep " + kExamples + "seeds_sweep.toml --list");
  ASSERT_EQ(example.status, 0) << example.out;
  EXPECT_EQ(std::count(example.out.begin(), example.out.end(), '\n'), 6) << example.out;
  EXPECT_NE(example.out.find("mid-rho=0.5-seed=3 --set schedule.rho=0.5 --set seeds.init=3 --set seeds.data=3\n"),
            std::string::npos)
      << example.out;
  const CliResult zero = run_replay("sweep " + std::string(REPLAY_SOURCE_DIR) +
                                    "/configs/examples/continued_pretraining_sweep.toml --list --seeds 0");
  EXPECT_NE(zero.status, 0) << zero.out;
  EXPECT_NE(zero.out.find("--seeds"), std::string::npos) << zero.out;
}
