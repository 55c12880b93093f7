// The sweep files under configs/ as shipped: every one expands to the number
// of runs configs/README.md states, and every run resolves and plans without
// its data (store sizes given, as `replay plan --store-size`). A new sweep file
// fails here until it is added to kExpectedRuns, so none goes unchecked. The
// micro validity rules of configs/README.md are asserted on the plans, and the
// paper values the README says are invalid at micro scale are shown to be
// refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "error_of.h"
#include "run/run_config.h"
#include "sweep/sweep_file.h"

namespace {

namespace stdfs = std::filesystem;
using replay::sweep::load_sweep;
using replay::sweep::SweepSpec;

const stdfs::path kConfigs = stdfs::path(REPLAY_SOURCE_DIR) / "configs";

// Runs per sweep file (names, before identical configs collapse into one run).
const std::map<std::string, size_t> kExpectedRuns = {
    {"paper/fine_tuning.toml", 14},   {"paper/mid_training.toml", 6},  {"paper/schedule_sweep.toml", 24},
    {"paper/reference.toml", 5},      {"paper/repetitions.toml", 12},  {"paper/lr_schedule.toml", 24},
    {"paper/weight_decay.toml", 18},  {"paper/model_scaling.toml", 25},
    {"micro/fine_tuning.toml", 14},   {"micro/mid_training.toml", 5},  {"micro/schedule_sweep.toml", 12},
    {"micro/schedule_sweep_full_grid.toml", 22},                       {"micro/reference.toml", 5},
    {"micro/repetitions.toml", 8},    {"micro/lr_schedule.toml", 12},  {"micro/weight_decay.toml", 18},
    {"micro/model_scaling.toml", 15}, {"micro/demo.toml", 9},          {"micro/practical.toml", 4},
    {"examples/continued_pretraining_sweep.toml", 4},                  {"examples/seeds_sweep.toml", 6},
    {"studies/fine_tuning_replay.toml", 36},
};

bool is_sweep_file(const stdfs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str().find("[[group]]") != std::string::npos;
}

// Every sweep file under configs/<folder>/, relative to configs/.
std::set<std::string> sweep_files() {
  std::set<std::string> out;
  for (const char* folder : {"paper", "micro", "examples", "studies"})
    for (const auto& entry : stdfs::directory_iterator(kConfigs / folder))
      if (entry.path().extension() == ".toml" && is_sweep_file(entry.path()))
        out.insert(entry.path().lexically_relative(kConfigs).generic_string());
  return out;
}

// Training-split sizes large enough for every pool of the family (the largest
// reference pool is 16/1024 of 1024 x 1024 sequences), as configs/README.md's
// `replay plan` line; generic data need not be unlimited to plan.
int64_t store_size(const replay::schedule::SourceConfig& source) {
  return source.name == "generic" ? 1048576 : 16384;
}

replay::schedule::RunPlan plan_of(const SweepSpec& spec, const replay::sweep::RunSpec& run) {
  const replay::run::RunDescription description = replay::run::load_run_toml(spec.base, run.overrides);
  return replay::schedule::plan_run(description.schedule, spec.file.string() + " " + run.name, store_size);
}

}  // namespace

TEST(ConfigFiles, EverySweepFileExpandsToItsStatedRuns) {
  const std::set<std::string> files = sweep_files();
  for (const auto& [file, runs] : kExpectedRuns) EXPECT_TRUE(files.count(file)) << file << " is gone";
  for (const std::string& file : files) {
    auto expected = kExpectedRuns.find(file);
    ASSERT_NE(expected, kExpectedRuns.end()) << file << ": a sweep file missing from kExpectedRuns";
    EXPECT_EQ(load_sweep(kConfigs / file).runs.size(), expected->second) << file;
  }
}

// Every run of every paper and micro sweep file plans. A mid-training stage 2
// holds at least one mixing block; fine-tuning fits in the run.
TEST(ConfigFiles, EveryRunPlans) {
  for (const std::string& file : sweep_files()) {
    if (file.rfind("examples/", 0) == 0) continue;  // tests/run/plan_cli_test.cpp plans those
    const SweepSpec spec = load_sweep(kConfigs / file);
    for (const auto& run : spec.runs) {
      SCOPED_TRACE(file + " " + run.name);
      replay::schedule::RunPlan plan;
      ASSERT_NO_THROW(plan = plan_of(spec, run));
      if (!plan.paper) continue;
      const auto& p = *plan.paper;
      const auto& mix = plan.mixture->spec();
      EXPECT_LE(p.delta, 1.0);
      EXPECT_LE(p.gamma, 1.0);
      EXPECT_GT(p.pool, 0);
      if (p.alpha > 0) {
        EXPECT_GE(p.stage2_steps * mix.batch_size, mix.block_size);
      }
      EXPECT_LE(p.stage2_steps, mix.num_steps);
    }
  }
}

// The side studies' reference designs resolve to the values the files state.
TEST(ConfigFiles, ReferenceDesignsOfTheSideStudies) {
  const SweepSpec reps = load_sweep(kConfigs / "paper/repetitions.toml");
  const auto& e64 = reps.runs.at(1);
  ASSERT_EQ(e64.name, "reps-e=64");
  const auto plan = plan_of(reps, e64);
  ASSERT_TRUE(plan.paper);
  EXPECT_EQ(plan.mixture->spec().num_steps, 1000);
  EXPECT_EQ(plan.paper->pool, 4000);              // f = 4/1024 of 1000 x 1024
  EXPECT_EQ(plan.paper->boundary_step, 750);      // gamma = 1/4, rho = 0
  EXPECT_EQ(plan_of(reps, reps.runs.at(0)).paper->boundary_step, 874);  // 2 floor(875 / 2)
  ASSERT_EQ(plan.phases.size(), 1u);
  const auto& phase = plan.phases[0];
  EXPECT_DOUBLE_EQ(phase.lr_at_step(500), 3e-3);  // constant after warmup
  EXPECT_DOUBLE_EQ(phase.lr_at_step(999), 3e-3);
  EXPECT_LT(phase.lr_at_step(0), 3e-3);

  // The paper's schedule sweep reaches rho = 0.9375: stage 2 = alpha x 512 steps.
  const SweepSpec full = load_sweep(kConfigs / "paper/schedule_sweep.toml");
  const auto& last = full.runs.back();
  EXPECT_EQ(last.name, "full-alpha=0.125-rho=0.9375");
  EXPECT_EQ(plan_of(full, last).paper->stage2_steps, 64);
}

// configs/README.md: values the micro files leave out are invalid there.
TEST(ConfigFiles, PaperValuesDroppedAtMicroScaleAreRefused) {
  const stdfs::path base = kConfigs / "micro/base.toml";
  auto refusal = [&](const std::vector<std::string>& overrides) {
    return error_of([&] {
      const auto description = replay::run::load_run_toml(base, overrides);
      replay::schedule::plan_run(description.schedule, base.string(), store_size);
    });
  };
  const std::vector<std::string> mid = {"schedule.protocol=\"mid-training\"", "schedule.alpha=1.0"};
  // rho = 0.9375 at alpha = 1: delta = 2 (micro/mid_training.toml, schedule_sweep_full_grid.toml).
  auto high = mid;
  high.push_back("schedule.rho=0.9375");
  EXPECT_NE(refusal(high).find("delta = 2 is outside [0, 1]"), std::string::npos) << refusal(high);
  // At alpha = 0.5, delta = 1 leaves no stage 1 for the other half of the
  // target exposure; at alpha = 0.25 (delta = 1/2) it is valid.
  auto half = high, quarter = high;
  half.push_back("schedule.alpha=0.5");
  EXPECT_NE(refusal(half).find("alpha = 1"), std::string::npos) << refusal(half);
  quarter.push_back("schedule.alpha=0.25");
  EXPECT_EQ(refusal(quarter), "(no error)");
  // The paper's fine-tuning e = 64 at m = 4: n_FT = 2 x 64 x 4 = 512 > 256 steps.
  const std::string ft = refusal({"schedule.protocol=\"fine-tuning\"", "schedule.e=64", "schedule.m=4.0"});
  EXPECT_NE(ft.find("delta = 2 is outside [0, 1]"), std::string::npos) << ft;
  // rho = 0.875 at e = 32 (micro/repetitions.toml stops at 0.75): delta = 2.
  const std::string reps = refusal({"schedule.protocol=\"mid-training\"", "schedule.alpha=1.0", "schedule.e=32",
                                    "schedule.rho=0.875"});
  EXPECT_NE(reps.find("delta = 2 is outside [0, 1]"), std::string::npos) << reps;
}
