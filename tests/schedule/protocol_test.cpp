// Protocols: phases, LR schedules per phase, data continuity across phases,
// the shared pre-training content key, and resume across a stage boundary.
#include <gtest/gtest.h>

#include <set>

#include "schedule/protocol.h"
#include "util/error.h"

using namespace replay::schedule;

namespace {

DataConfig micro_data(const std::string& target = "math") {
  DataConfig d;
  d.sources = {{"generic", "g", 0, Repeat::restart, true}, {target, "t", 0, Repeat::restart, true}};
  return d;
}
int64_t sizes(const SourceConfig& s) { return s.name == "generic" ? 100000 : 500; }

ProtocolSpec micro(Protocol protocol) {
  ProtocolSpec p;
  p.protocol = protocol;
  p.target = "math";
  p.generic = "generic";
  p.knobs.f = 1.0 / 256;  // 256 steps x 32 = 8192 sequences: pool of 32
  p.knobs.e = 64;
  p.steps = 256;
  p.batch_size = 32;
  p.block_size = 64;
  return p;
}

std::vector<SequenceRef> all_batches(const BatchPlan& plan) {
  std::vector<SequenceRef> out;
  std::vector<SequenceRef> buf(static_cast<size_t>(plan.batch_size()));
  for (int64_t s = 0; s < plan.num_steps(); ++s) {
    plan.batch(s, buf);
    out.insert(out.end(), buf.begin(), buf.end());
  }
  return out;
}

}  // namespace

TEST(Protocol, FineTuningPhases) {
  ProtocolSpec spec = micro(Protocol::fine_tuning);
  spec.m = 2;  // n_FT = 1 pool batch * 64 * 2 = 128 steps, target weight 1/2
  const RunPlan plan = build_run_plan(spec, micro_data(), sizes);
  ASSERT_EQ(plan.phases.size(), 2u);
  const Phase& pre = plan.phases[0];
  const Phase& ft = plan.phases[1];
  EXPECT_EQ(pre.name, "pre-training");
  EXPECT_EQ(pre.first_step, 0);
  EXPECT_EQ(pre.num_steps, 128);
  EXPECT_FALSE(pre.reset_optimizer);
  EXPECT_DOUBLE_EQ(pre.lr.peak, 1e-3);
  EXPECT_EQ(pre.lr.kind, LrKind::cosine);
  EXPECT_EQ(ft.first_step, 128);
  EXPECT_EQ(ft.num_steps, 128);
  EXPECT_TRUE(ft.reset_optimizer);
  EXPECT_DOUBLE_EQ(ft.lr.peak, 3e-4);
  // New warmup at the start of fine-tuning: int(0.01 * 128) = 1 step from 0.
  EXPECT_DOUBLE_EQ(ft.lr_at_step(128), 0.0);
  EXPECT_DOUBLE_EQ(ft.lr_at_step(129), 3e-4);
  EXPECT_DOUBLE_EQ(pre.lr_at_step(1), 1e-3);
  // Pre-training reads generic only; fine-tuning holds pool * e target sequences.
  const int32_t t = plan.target;
  for (const SequenceRef& r : all_batches(*pre.data)) EXPECT_NE(r.source, t);
  int64_t target = 0;
  for (const SequenceRef& r : all_batches(*ft.data)) target += r.source == t;
  EXPECT_EQ(target, 32 * 64);
  // Generic data never repeats across the two phases.
  const auto usage = measure_usage(*plan.mixture, 0, 256);
  const int32_t g = plan.mixture->source_index("generic");
  EXPECT_EQ(usage[g].unique, usage[g].realized);
  EXPECT_EQ(usage[t].unique, 32);
  EXPECT_EQ(plan.phase_of_step(127), 0u);
  EXPECT_EQ(plan.phase_of_step(128), 1u);
}

TEST(Protocol, FineTuningWithoutReplayAndTooLong) {
  ProtocolSpec spec = micro(Protocol::fine_tuning);
  spec.m = 1;
  const RunPlan plan = build_run_plan(spec, micro_data(), sizes);
  EXPECT_EQ(plan.phases.back().num_steps, 64);
  spec.m = 5;  // 320 steps > 256
  EXPECT_THROW(build_run_plan(spec, micro_data(), sizes), replay::Error);
}

TEST(Protocol, SharedPreTrainingHasOneContentKey) {
  ProtocolSpec spec = micro(Protocol::fine_tuning);
  spec.m = 2;
  const RunPlan math = build_run_plan(spec, micro_data("math"), sizes);
  ProtocolSpec code_spec = spec;
  code_spec.target = "code";
  const RunPlan code = build_run_plan(code_spec, micro_data("code"), sizes);
  // Same generic pre-training: same key, and the same batches.
  EXPECT_EQ(phase_content_key(math, 0, "model-x"), phase_content_key(code, 0, "model-x"));
  EXPECT_EQ(all_batches(*math.phases[0].data).size(), all_batches(*code.phases[0].data).size());
  const auto a = all_batches(*math.phases[0].data), b = all_batches(*code.phases[0].data);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(math.mixture->source_names()[a[i].source], code.mixture->source_names()[b[i].source]);
    EXPECT_EQ(a[i].index, b[i].index);
  }
  // Fine-tuning phases differ; so do other seeds, models and lengths.
  EXPECT_NE(phase_content_key(math, 1, "model-x"), phase_content_key(code, 1, "model-x"));
  EXPECT_NE(phase_content_key(math, 0, "model-x"), phase_content_key(math, 0, "model-y"));
  ProtocolSpec seeded = spec;
  seeded.seed = 7;
  EXPECT_NE(phase_content_key(build_run_plan(seeded, micro_data(), sizes), 0, "model-x"),
            phase_content_key(math, 0, "model-x"));
  ProtocolSpec longer = spec;
  longer.m = 1.5;
  EXPECT_NE(phase_content_key(build_run_plan(longer, micro_data(), sizes), 0, "model-x"),
            phase_content_key(math, 0, "model-x"));
}

TEST(Protocol, MidTrainingIsOnePhaseWithTwoStages) {
  ProtocolSpec spec = micro(Protocol::mid_training);
  spec.knobs.e = 32;
  spec.knobs.rho = 0.5;
  spec.knobs.alpha = 1;
  spec.lr.kind = LrKind::wsd;
  const RunPlan plan = build_run_plan(spec, micro_data(), sizes);
  ASSERT_EQ(plan.phases.size(), 1u);
  EXPECT_EQ(plan.phases[0].num_steps, 256);
  EXPECT_FALSE(plan.phases[0].reset_optimizer);
  ASSERT_EQ(plan.mixture->spec().stages.size(), 2u);
  EXPECT_EQ(plan.mixture->spec().stages[1].start_step, 256 - 64);  // delta = (1/8) / 0.5 = 1/4
  const auto usage = measure_usage(*plan.mixture, 0, 256);
  EXPECT_EQ(usage[plan.target].realized, 32 * 32);
}

TEST(Protocol, RhoWithoutStageTwoIsWarnedAsHavingNoEffect) {
  ProtocolSpec spec = micro(Protocol::mid_training);
  spec.knobs.e = 32;
  spec.knobs.rho = 0.5;
  spec.knobs.alpha = 0;  // no target data in stage 2: delta = 0, nothing to replay in
  const RunPlan plan = build_run_plan(spec, micro_data(), sizes);
  ASSERT_EQ(plan.warnings.size(), 1u);
  EXPECT_NE(plan.warnings[0].find("rho = 0.5 has no effect"), std::string::npos) << plan.warnings[0];
  spec.knobs.alpha = 1;
  EXPECT_TRUE(build_run_plan(spec, micro_data(), sizes).warnings.empty());
}

TEST(Protocol, ReferenceIsOneUniformStage) {
  ProtocolSpec spec = micro(Protocol::reference);
  spec.knobs.e = 32;
  const RunPlan plan = build_run_plan(spec, micro_data(), sizes);
  ASSERT_EQ(plan.mixture->spec().stages.size(), 1u);
  const auto usage = measure_usage(*plan.mixture, 0, 256);
  EXPECT_EQ(usage[plan.target].realized, 32 * 32);
  // Spread through the run: every quarter holds a quarter (within a sequence).
  const auto q = measure_usage(*plan.mixture, 64, 64);
  EXPECT_NEAR(static_cast<double>(q[plan.target].realized), 256.0, 1.0);
  spec.knobs.rho = 0.5;
  EXPECT_THROW(build_run_plan(spec, micro_data(), sizes), replay::Error);
}

TEST(Protocol, GeneralStagesResetAndContinueSchedules) {
  ProtocolSpec spec = micro(Protocol::general);
  spec.lr.kind = LrKind::cosine;
  spec.lr.peak = 2e-3;
  LrSchedule ft;
  ft.kind = LrKind::constant;
  ft.peak = 5e-4;
  ft.warmup = 0;
  spec.stages = {{0, {{"generic", 1.0}}, false, std::nullopt},
                 {100, {{"generic", 0.5}, {"math", 0.5}}, false, std::nullopt},  // same phase
                 {150, {{"generic", 0.8}, {"math", 0.2}}, true, std::nullopt},   // reset, schedule continues
                 {200, {{"math", 1.0}}, true, ft}};                              // reset + new schedule
  const RunPlan plan = build_run_plan(spec, micro_data(), sizes);
  ASSERT_EQ(plan.phases.size(), 3u);
  EXPECT_EQ(plan.phases[0].num_steps, 150);
  EXPECT_EQ(plan.phases[1].first_step, 150);
  EXPECT_TRUE(plan.phases[1].reset_optimizer);
  EXPECT_EQ(plan.phases[1].lr_first_step, 0);
  EXPECT_EQ(plan.phases[1].lr.total_steps, 200);  // the first schedule spans stages 0-2
  EXPECT_DOUBLE_EQ(plan.phases[1].lr_at_step(150), plan.phases[0].lr_at_step(150));
  EXPECT_EQ(plan.phases[2].lr_first_step, 200);
  EXPECT_EQ(plan.phases[2].lr.total_steps, 56);
  EXPECT_DOUBLE_EQ(plan.phases[2].lr_at_step(200), 5e-4);
  spec.stages[1].weights = {{"nope", 1.0}};
  EXPECT_THROW(build_run_plan(spec, micro_data(), sizes), replay::Error);
}

TEST(Protocol, ResumeAcrossAStageBoundaryIsExact) {
  // A "killed" run rebuilds its plan from the config and continues at step s:
  // the batches it reads are those the uninterrupted run reads.
  ProtocolSpec spec = micro(Protocol::mid_training);
  spec.knobs.e = 32;
  spec.knobs.rho = 0.75;
  spec.knobs.alpha = 0.5;
  const RunPlan first = build_run_plan(spec, micro_data(), sizes);
  const int64_t boundary = first.paper->boundary_step;
  const auto full = all_batches(*first.mixture);
  const RunPlan resumed = build_run_plan(spec, micro_data(), sizes);
  std::vector<SequenceRef> buf(32);
  for (int64_t s = boundary - 3; s < 256; ++s) {
    resumed.mixture->batch(s, buf);
    for (int i = 0; i < 32; ++i) ASSERT_EQ(buf[i], full[static_cast<size_t>(s * 32 + i)]);
  }
}

TEST(Protocol, WarnsWhenGenericWraps) {
  ProtocolSpec spec = micro(Protocol::single);
  spec.source = "generic";
  auto tiny = [](const SourceConfig&) -> int64_t { return 1000; };
  const RunPlan plan = build_run_plan(spec, micro_data(), tiny);
  ASSERT_EQ(plan.warnings.size(), 1u);
  EXPECT_NE(plan.warnings[0].find("repeats"), std::string::npos);
}

// continued-pretraining: N = round(T / (1 - rho)) steps, one phase, target
// weight T / N at every step.
TEST(Protocol, ContinuedPretrainingTotalSteps) {
  EXPECT_EQ(continued_pretraining_steps(100, 0.0), 100);
  EXPECT_EQ(continued_pretraining_steps(100, 0.5), 200);
  EXPECT_EQ(continued_pretraining_steps(100, 0.75), 400);
  EXPECT_EQ(continued_pretraining_steps(100, 0.9), 1000);
  EXPECT_EQ(continued_pretraining_steps(10, 1.0 / 3), 15);
  EXPECT_EQ(continued_pretraining_steps(7, 0.5), 14);
  EXPECT_EQ(continued_pretraining_steps(5, 0.3), 7);  // 7.142... rounds to nearest
  for (double bad : {1.0, 1.5, -0.1}) {
    try {
      continued_pretraining_steps(100, bad);
      FAIL() << "rho " << bad;
    } catch (const replay::Error& e) {
      EXPECT_NE(std::string(e.what()).find("schedule.rho"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(continued_pretraining_steps(0, 0.5), replay::Error);
}

namespace {

ProtocolSpec continued(int64_t target_steps, double rho) {
  ProtocolSpec p;
  p.protocol = Protocol::continued_pretraining;
  p.target = "math";
  p.generic = "generic";
  p.target_steps = target_steps;
  p.knobs.rho = rho;
  p.steps = continued_pretraining_steps(target_steps, rho);
  p.batch_size = 8;
  p.lr = LrSchedule{LrKind::cosine, 1e-5};
  p.lr.warmup = 0.1;
  return p;
}

// The target sequence indices in stream order, and the generic usage.
struct Streams {
  std::vector<int64_t> target;
  int64_t generic = 0, generic_unique = 0;
  int64_t steps = 0;
};
Streams streams_of(const RunPlan& plan) {
  Streams s;
  std::set<int64_t> seen;
  for (const Phase& ph : plan.phases) {
    s.steps += ph.num_steps;
    for (const SequenceRef& r : all_batches(*ph.data)) {
      if (r.source == plan.target) {
        s.target.push_back(r.index);
      } else {
        ++s.generic;
        seen.insert(r.index);
      }
    }
  }
  s.generic_unique = static_cast<int64_t>(seen.size());
  return s;
}

}  // namespace

TEST(Protocol, ContinuedPretrainingSameTargetStreamForEveryRho) {
  const int64_t T = 40;
  const RunPlan base = build_run_plan(continued(T, 0.0), micro_data(), sizes);
  const Streams reference = streams_of(base);
  ASSERT_EQ(reference.target.size(), static_cast<size_t>(T * 8));
  for (double rho : {0.0, 0.5, 0.75, 0.9}) {
    const RunPlan plan = build_run_plan(continued(T, rho), micro_data(), sizes);
    ASSERT_EQ(plan.phases.size(), 1u);
    const Phase& ph = plan.phases[0];
    EXPECT_EQ(ph.name, "continued-pretraining");
    EXPECT_EQ(ph.num_steps, continued_pretraining_steps(T, rho));
    EXPECT_EQ(ph.lr.total_steps, ph.num_steps);
    EXPECT_DOUBLE_EQ(ph.lr.peak, 1e-5);
    ASSERT_TRUE(plan.continued);
    EXPECT_EQ(plan.continued->target_sequences, T * 8);
    EXPECT_DOUBLE_EQ(plan.continued->target_weight, 1 - rho);
    const Streams s = streams_of(plan);
    EXPECT_EQ(s.target, reference.target) << "rho " << rho;  // same sequences, same order
    EXPECT_EQ(s.generic, (ph.num_steps - T) * 8);
    EXPECT_EQ(s.generic_unique, s.generic) << "replay is fresh generic data";
    // Every step carries floor or ceil of (1 - rho) * batch target sequences.
    std::vector<SequenceRef> buf(8);
    for (int64_t step = 0; step < ph.num_steps; ++step) {
      ph.data->batch(step, buf);
      int64_t t = 0;
      for (const SequenceRef& r : buf) t += r.source == plan.target;
      EXPECT_LE(std::abs(static_cast<double>(t) - (1 - rho) * 8), 1.0) << "rho " << rho << " step " << step;
    }
  }
}

// A budget beyond the target's pool repeats the pool by its `repeat` rule, the
// same way for every rho, with a warning.
TEST(Protocol, ContinuedPretrainingBudgetBeyondThePoolRepeats) {
  DataConfig data = micro_data();
  data.sources[1].pool = 100;  // 40 steps x 8 = 320 target sequences: 3.2 epochs
  const Streams a = streams_of(build_run_plan(continued(40, 0.0), data, sizes));
  const RunPlan plan = build_run_plan(continued(40, 0.75), data, sizes);
  EXPECT_EQ(streams_of(plan).target, a.target);
  EXPECT_EQ(std::set<int64_t>(a.target.begin(), a.target.end()).size(), 100u);
  ASSERT_FALSE(plan.warnings.empty());
  EXPECT_NE(plan.warnings[0].find("repeats"), std::string::npos) << plan.warnings[0];
}

TEST(Protocol, ContinuedPretrainingErrors) {
  auto error_of = [](const ProtocolSpec& spec) -> std::string {
    try {
      build_run_plan(spec, micro_data(), sizes);
    } catch (const replay::Error& e) {
      return e.what();
    }
    return "";
  };
  ProtocolSpec steps = continued(40, 0.5);
  steps.steps = 79;
  const std::string e = error_of(steps);
  EXPECT_NE(e.find("train.steps = 79"), std::string::npos) << e;
  EXPECT_NE(e.find("schedule.target_steps = 40"), std::string::npos) << e;
  ProtocolSpec same = continued(40, 0.5);
  same.generic = "math";
  EXPECT_NE(error_of(same).find("different"), std::string::npos);
  ProtocolSpec reference = continued(40, 0.5);
  reference.apportion = Apportion::reference;
  EXPECT_NE(error_of(reference).find("exact"), std::string::npos);
}
