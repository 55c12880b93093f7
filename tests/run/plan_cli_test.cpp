// `replay plan` end to end on the example configs (store sizes overridden,
// so no store is needed), and its error path.
#include <gtest/gtest.h>

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
