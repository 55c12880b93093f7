// The paper's parameterization: every row of the spec's worked grid
// (N = 1024, B = 1024, gamma = 1/32) in `reference` mode, the ideal exposure
// in `exact` mode, and the validation errors.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>

#include "schedule/paper.h"
#include "schedule/protocol.h"
#include "util/error.h"

using namespace replay::schedule;

namespace {

struct GridRow {
  double rho, alpha, delta;
  int64_t stage2_steps;
  double w1, w2;
  int64_t per_block_s1, per_block_s2;
  int64_t realized;
};

// Spec section 3, verbatim.
const GridRow kGrid[] = {
    {0, 1, 1.0 / 32, 32, 0, 1, 0, 2048, 32768},
    {0, 0.5, 1.0 / 64, 16, 0.01587, 1, 32, 2048, 32512},
    {0, 0.125, 1.0 / 256, 4, 0.02745, 1, 56, 2048, 32656},
    {0.25, 1, 1.0 / 24, 44, 0, 0.75, 0, 1536, 33792},
    {0.5, 1, 1.0 / 16, 64, 0, 0.5, 0, 1024, 32768},
    {0.75, 1, 1.0 / 8, 128, 0, 0.25, 0, 512, 32768},
    {0.875, 1, 1.0 / 4, 256, 0, 0.125, 0, 256, 32768},
    {0.875, 0.125, 1.0 / 32, 32, 0.02823, 0.125, 57, 256, 32368},
    {0.9375, 1, 1.0 / 2, 512, 0, 0.0625, 0, 128, 32768},
};

constexpr int64_t kN = 1024, kB = 1024;

ProtocolSpec mid_training(double rho, double alpha, Apportion mode) {
  ProtocolSpec p;
  p.protocol = Protocol::mid_training;
  p.target = "math";
  p.generic = "generic";
  p.knobs.f = 1.0 / 1024;
  p.knobs.e = 32;
  p.knobs.rho = rho;
  p.knobs.alpha = alpha;
  p.apportion = mode;
  p.steps = kN;
  p.batch_size = kB;
  p.lr.kind = LrKind::wsd;
  return p;
}

DataConfig paper_data() {
  DataConfig d;
  d.sources = {{"generic", "stores/c4", 0, Repeat::restart, true}, {"math", "stores/finemath", 0, Repeat::restart, true}};
  return d;
}

int64_t store_size(const SourceConfig& s) { return s.name == "math" ? 4096 : kN * kB; }

int64_t target_in(const Mixture& mix, int32_t target, int64_t first, int64_t count) {
  std::vector<SequenceRef> buf(static_cast<size_t>(count));
  mix.fill(first, buf);
  int64_t n = 0;
  for (const SequenceRef& r : buf) n += r.source == target;
  return n;
}

}  // namespace

TEST(Paper, DerivesEveryGridRow) {
  for (const GridRow& row : kGrid) {
    PaperKnobs k;
    k.f = 1.0 / 1024;
    k.e = 32;
    k.rho = row.rho;
    k.alpha = row.alpha;
    const PaperSchedule p = derive_paper_schedule(k, kN, kB, "grid");
    SCOPED_TRACE("rho " + std::to_string(row.rho) + " alpha " + std::to_string(row.alpha));
    EXPECT_DOUBLE_EQ(p.gamma, 1.0 / 32);
    EXPECT_NEAR(p.delta, row.delta, 1e-15);
    EXPECT_EQ(p.stage2_steps, row.stage2_steps);
    EXPECT_EQ(p.boundary_step, kN - row.stage2_steps);
    EXPECT_NEAR(p.w1, row.w1, 5e-6);
    EXPECT_DOUBLE_EQ(p.w2, row.w2);
    EXPECT_EQ(p.pool, 1024);
    EXPECT_EQ(p.target_sequences, 32768);
    // The same schedule from the other pairs of knobs.
    PaperKnobs ad = k, rd = k;
    ad.rho.reset();
    ad.delta = p.delta;
    rd.alpha.reset();
    rd.delta = p.delta;
    EXPECT_NEAR(derive_paper_schedule(ad, kN, kB, "grid").rho, row.rho, 1e-12);
    EXPECT_NEAR(derive_paper_schedule(rd, kN, kB, "grid").alpha, row.alpha, 1e-12);
  }
}

TEST(Paper, ReferenceModeReproducesRealizedTargetSequences) {
  for (const GridRow& row : kGrid) {
    SCOPED_TRACE("rho " + std::to_string(row.rho) + " alpha " + std::to_string(row.alpha));
    const RunPlan plan = build_run_plan(mid_training(row.rho, row.alpha, Apportion::reference), paper_data(), store_size);
    const Mixture& mix = *plan.mixture;
    const int32_t t = mix.source_index("math");
    const int64_t boundary = plan.paper->boundary_step * kB;
    if (boundary > 0) {
      EXPECT_EQ(target_in(mix, t, 0, 2048), row.per_block_s1);
    }
    EXPECT_EQ(target_in(mix, t, boundary, 2048), row.per_block_s2);
    const auto usage = measure_usage(mix, 0, kN);  // iterates every batch of the run
    EXPECT_EQ(usage[t].realized, row.realized);
    EXPECT_EQ(mix.total_draws(t), row.realized);  // closed form agrees
    EXPECT_EQ(usage[t].unique, 1024);
    const int32_t g = mix.source_index("generic");
    EXPECT_EQ(usage[g].unique, usage[g].realized);  // generic never repeats
    EXPECT_TRUE(plan.warnings.empty());
  }
}

TEST(Paper, ExactModeRealizesTheIdealExposure) {
  for (const GridRow& row : kGrid) {
    SCOPED_TRACE("rho " + std::to_string(row.rho) + " alpha " + std::to_string(row.alpha));
    const RunPlan plan = build_run_plan(mid_training(row.rho, row.alpha, Apportion::exact), paper_data(), store_size);
    const Mixture& mix = *plan.mixture;
    const int32_t t = mix.source_index("math");
    const auto usage = measure_usage(mix, 0, kN);
    EXPECT_EQ(usage[t].realized, 32768);
    EXPECT_DOUBLE_EQ(usage[t].epochs, 32.0);
    // Stage 2 holds alpha of it, stage 1 the rest.
    const size_t last = mix.spec().stages.size() - 1;
    EXPECT_EQ(mix.draws_in_stage(last, t), std::llround(row.alpha * 32768));
  }
}

TEST(Paper, ValidationErrors) {
  PaperKnobs k;
  k.f = 1.0 / 1024;
  k.e = 32;
  k.rho = 0.5;
  EXPECT_THROW(derive_paper_schedule(k, kN, kB, "x"), replay::Error);  // only one knob
  k.alpha = 1;
  k.delta = 0.5;  // inconsistent: should be 1/16
  try {
    derive_paper_schedule(k, kN, kB, "run.toml [schedule]");
    FAIL();
  } catch (const replay::Error& e) {
    EXPECT_NE(std::string(e.what()).find("inconsistent"), std::string::npos) << e.what();
  }
  k.delta = 1.0 / 16;
  EXPECT_NO_THROW(derive_paper_schedule(k, kN, kB, "x"));  // three consistent values
  PaperKnobs big;
  big.f = 0.5;
  big.e = 4;  // gamma = 2
  big.rho = 0;
  big.alpha = 1;
  try {
    derive_paper_schedule(big, kN, kB, "x");
    FAIL();
  } catch (const replay::Error& e) {
    EXPECT_NE(std::string(e.what()).find("gamma"), std::string::npos) << e.what();
  }
  PaperKnobs w;  // w1 = 0.95 * 0.9 / 0.5 > 1
  w.f = 0.5;
  w.e = 1.9;
  w.alpha = 0.1;
  w.delta = 0.5;
  try {
    derive_paper_schedule(w, kN, kB, "x");
    FAIL();
  } catch (const replay::Error& e) {
    EXPECT_NE(std::string(e.what()).find("w1"), std::string::npos) << e.what();
  }
  PaperKnobs out = k;
  out.delta.reset();
  out.rho = 1.5;
  EXPECT_THROW(derive_paper_schedule(out, kN, kB, "x"), replay::Error);
}

TEST(Paper, PoolLargerThanStoreAndShortStage2AreErrors) {
  auto small = [](const SourceConfig& s) -> int64_t { return s.name == "math" ? 1000 : kN * kB; };
  try {
    build_run_plan(mid_training(0.5, 1, Apportion::exact), paper_data(), small);
    FAIL();
  } catch (const replay::Error& e) {
    EXPECT_NE(std::string(e.what()).find("larger than the store"), std::string::npos) << e.what();
  }
  ProtocolSpec p = mid_training(0, 1, Apportion::exact);  // stage 2 = 32 steps
  p.batch_size = 32;
  p.knobs.f = 1.0 / 1024;  // pool = 32 sequences
  p.block_size = 2048;     // 32 steps * 32 = 1024 sequences < one block
  try {
    build_run_plan(p, paper_data(), store_size);
    FAIL();
  } catch (const replay::Error& e) {
    EXPECT_NE(std::string(e.what()).find("shorter than one mixing block"), std::string::npos) << e.what();
  }
  p.block_size = 64;
  EXPECT_NO_THROW(build_run_plan(p, paper_data(), store_size));
}
