// One target per analysis: refusal when runs span targets, --target
// selection, and baselines / reference runs from other sweeps on the target.
#include <gtest/gtest.h>

#include <cmath>

#include "analysis/efficiency.h"
#include "analysis/report.h"
#include "error_of.h"
#include "fake_sweep.h"
#include "temp_dir.h"

using namespace replay::analysis;
namespace stdfs = std::filesystem;

namespace {

// Another domain's losses: not an affine map of the FineMath vector, so its
// fit and multipliers differ, and still falling in x.
double code_loss(double loss) { return loss + 0.5 + 0.1 * std::sin(7 * loss); }

struct Numbers {
  std::vector<CurvePoint> reference;
  CurveFit fit;
  std::vector<Multiplier> multipliers;
};

Numbers numbers(const Registry& reg, const CollectOptions& o, FitMethod method = FitMethod::multistart) {
  SweepData data = collect_sweep(reg, o);
  FitOptions fo;
  fo.method = method;
  CurveFit fit = fit_curve(data.reference, fo);
  return {data.reference, fit, paper_multipliers(fit, data.schedules, data.baselines)};
}

void expect_identical(const Numbers& a, const Numbers& b) {
  ASSERT_EQ(a.reference.size(), b.reference.size());
  for (size_t i = 0; i < a.reference.size(); ++i) {
    EXPECT_EQ(a.reference[i].x, b.reference[i].x);
    EXPECT_EQ(a.reference[i].loss, b.reference[i].loss);
  }
  EXPECT_EQ(a.fit.A, b.fit.A);
  EXPECT_EQ(a.fit.B, b.fit.B);
  EXPECT_EQ(a.fit.C, b.fit.C);
  EXPECT_EQ(a.fit.rss, b.fit.rss);
  ASSERT_EQ(a.multipliers.size(), b.multipliers.size());
  for (size_t i = 0; i < a.multipliers.size(); ++i) {
    EXPECT_EQ(a.multipliers[i].p, b.multipliers[i].p);
    EXPECT_EQ(a.multipliers[i].q, b.multipliers[i].q);
    ASSERT_TRUE(a.multipliers[i].value && b.multipliers[i].value);
    EXPECT_EQ(*a.multipliers[i].value, *b.multipliers[i].value);
  }
}

}  // namespace

// The paper sweep run twice, for math and for code, into one registry under
// one sweep name (`--set data.sources.target.store=...`).
TEST(Efficiency, RunsOfTwoTargetsAreNeverFittedTogether) {
  TempDir both_dir("eff_both"), alone_dir("eff_alone"), code_dir("eff_code");
  const stdfs::path both = both_dir.path, alone = alone_dir.path, code_alone = code_dir.path;
  TargetIdentity math = fake::target_of("math", both), code = fake::target_of("code", both);
  fake::build_sweep(both, math);
  fake::build_sweep(both, code, code_loss);
  fake::build_sweep(alone, math);
  fake::build_sweep(code_alone, code, code_loss);
  Registry reg(both / "registry.sqlite", false);

  std::string e = error_of([&] { collect_sweep(reg, {"finemath-micro", "", "", ""}); });
  EXPECT_NE(e.find("spans 2 targets"), std::string::npos) << e;
  EXPECT_NE(e.find("math (" + math.store), std::string::npos) << e;
  EXPECT_NE(e.find("code (" + code.store), std::string::npos) << e;
  EXPECT_NE(e.find("--target"), std::string::npos) << e;
  e = error_of([&] { collect_sweep(reg, {"", "", "", ""}); });  // every sweep: the same refusal
  EXPECT_NE(e.find("spans 2 targets"), std::string::npos) << e;
  e = error_of([&] { collect_sweep(reg, {"finemath-micro", "", "finemath", ""}); });  // the split names both
  EXPECT_NE(e.find("matches 2 targets"), std::string::npos) << e;
  EXPECT_NE(e.find("store path"), std::string::npos) << e;
  e = error_of([&] { collect_sweep(reg, {"finemath-micro", "", "basque", ""}); });
  EXPECT_NE(e.find("matches none"), std::string::npos) << e;

  Registry math_reg(alone / "registry.sqlite", false), code_reg(code_alone / "registry.sqlite", false);
  for (FitMethod method : {FitMethod::multistart, FitMethod::reference}) {
    Numbers want = numbers(math_reg, {"finemath-micro", "", "", ""}, method);
    expect_identical(numbers(reg, {"finemath-micro", "", "math", ""}, method), want);
    expect_identical(numbers(reg, {"finemath-micro", "", math.store, ""}, method), want);
    expect_identical(numbers(reg, {"", "", "math", ""}, method), want);
    expect_identical(numbers(reg, {"finemath-micro", "", "code", ""}, method),
                     numbers(code_reg, {"finemath-micro", "", "", ""}, method));
  }
  // And the two targets do give different numbers.
  Numbers m = numbers(reg, {"finemath-micro", "", "math", ""}), c = numbers(reg, {"finemath-micro", "", "code", ""});
  EXPECT_NE(m.fit.B, c.fit.B);
  EXPECT_EQ(format_significant(*m.multipliers[0].value, 4), "1.490");
  EXPECT_NE(format_significant(*c.multipliers[0].value, 4), "1.490");
  SweepData data = collect_sweep(reg, {"finemath-micro", "", "code", ""});
  EXPECT_EQ(data.target.domain, "code");
  EXPECT_EQ(data.target_split, "finemath");
  EXPECT_EQ(data.runs.size(), 19u);  // code's runs only, the failed and queued ones included
  for (const auto& r : data.runs) EXPECT_EQ(r.target.domain, "code") << r.name;
}

TEST(Efficiency, ReportsNameTheirTargetAndRefuseToMixTargets) {
  TempDir root_dir("eff_report");
  const stdfs::path root = root_dir.path;
  fake::build_sweep(root, fake::target_of("math", root));
  fake::build_sweep(root, fake::target_of("code", root), code_loss);
  Registry reg(root / "registry.sqlite", false);
  ReportOptions opt;
  opt.collect.sweep = "finemath-micro";
  opt.out_dir = root / "report";
  std::string e = error_of([&] { write_report(reg, opt); });
  EXPECT_NE(e.find("spans 2 targets"), std::string::npos) << e;
  EXPECT_FALSE(stdfs::exists(root / "report"));
  opt.collect.target = "math";
  ReportResult res = write_report(reg, opt);
  EXPECT_EQ(res.target.domain, "math");
  std::string md = replay::fs::read_file(res.markdown);
  EXPECT_NE(md.find("# Replay report: sweep finemath-micro, target math\n"), std::string::npos);
  EXPECT_NE(md.find("Target: math (" + (root / "stores" / "math").string()), std::string::npos);
  EXPECT_NE(md.find("Final target loss"), std::string::npos);
  EXPECT_NE(md.find("| 1.490x |"), std::string::npos);
}

TEST(Efficiency, TargetsThatShareADomainNameAreTwoTargets) {
  TempDir root_dir("eff_same_domain");
  const stdfs::path root = root_dir.path;
  TargetIdentity a = fake::target_of("math", root), b = a;
  b.store = (root / "stores" / "math-v2").string();
  b.manifest_hash = "abc";
  fake::build_sweep(root, a);
  fake::build_sweep(root, b, code_loss, "finemath-micro-v2");
  Registry reg(root / "registry.sqlite", false);
  // Each sweep alone has one target: no --target needed.
  EXPECT_EQ(collect_sweep(reg, {"finemath-micro", "", "", ""}).target.store, a.store);
  // Across sweeps the domain name is ambiguous; the store path is not.
  std::string e = error_of([&] { collect_sweep(reg, {"", "", "math", ""}); });
  EXPECT_NE(e.find("matches 2 targets"), std::string::npos) << e;
  EXPECT_NE(e.find("pass the store path"), std::string::npos) << e;
  SweepData data = collect_sweep(reg, {"", "", b.store, ""});
  EXPECT_EQ(data.target.manifest_hash, "abc");
  EXPECT_EQ(data.reference.size(), 5u);
}

// The demo's layout: reference, mid-training and fine-tuning runs in one
// sweep, the full schedules in another, both on one target.
TEST(Efficiency, BaselinesAndReferenceRunsComeFromOtherSweepsOnTheSameTarget) {
  TempDir root_dir("eff_cross");
  const stdfs::path root = root_dir.path;
  TargetIdentity math = fake::target_of("math", root), code = fake::target_of("code", root);
  {
    Registry reg(root / "registry.sqlite");
    const double xs[] = {1, 2, 4, 8, 16}, ref[] = {3.62532, 3.49087, 3.39593, 3.16164, 2.99478};
    for (const TargetIdentity* t : {&math, &code}) {
      auto L = [&](double l) { return t == &math ? l : code_loss(l); };
      const std::string demo = "demo-" + t->domain, full = "full-" + t->domain;
      for (int i = 0; i < 5; ++i) {
        char x[32];
        std::snprintf(x, sizeof x, "%.10g", xs[i] / 1024);
        fake::add_done_run(reg, root, demo, "ref-x" + std::to_string(int(xs[i])),
                           {{"family", "reference"}, {"x", x}}, L(ref[i]), 3.9, *t);
      }
      fake::add_done_run(reg, root, demo, "ft-rho0", {{"family", "fine-tuning"}, {"rho", "0"}}, L(3.99417), 4.4, *t);
      fake::add_done_run(reg, root, demo, "mt-rho0", {{"family", "mid-training"}, {"rho", "0"}, {"alpha", "1"}},
                         L(3.56935), 4.2, *t);
      fake::add_done_run(reg, root, full, "full-rho0.75-alpha0.5",
                         {{"family", "full"}, {"rho", "0.75"}, {"alpha", "0.5"}}, L(3.35965), 3.9, *t);
    }
  }
  Registry reg(root / "registry.sqlite", false);
  SweepData full = collect_sweep(reg, {"full-math", "", "", ""});
  EXPECT_EQ(full.reference.size(), 5u);
  EXPECT_EQ(full.reference_sweeps, std::vector<std::string>{"demo-math"});
  ASSERT_EQ(full.schedules.size(), 1u);
  EXPECT_EQ(full.baselines.size(), 2u);  // math's ft and mt, never code's
  for (const auto& b : full.baselines) EXPECT_EQ(b.sweep, "demo-math");
  CurveFit fit = fit_curve(full.reference);
  auto ms = paper_multipliers(fit, full.schedules, full.baselines);
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_EQ(ms[0].p, "best full schedule (full-rho0.75-alpha0.5)");
  EXPECT_EQ(ms[0].q, "mid-training (mt-rho0, sweep demo-math)");
  EXPECT_EQ(format_significant(*ms[0].value, 4), "2.494");
  EXPECT_EQ(ms[1].p, "best schedule (full-rho0.75-alpha0.5)");
  EXPECT_EQ(ms[1].q, "fine-tuning (ft-rho0, sweep demo-math)");
  EXPECT_EQ(format_significant(*ms[1].value, 4), "15.88");
  // The demo sweep itself: "mid-training over fine-tuning" and, since the
  // full sweep is not in its scope, its best schedule is mid-training's.
  SweepData demo = collect_sweep(reg, {"demo-math", "", "", ""});
  auto dm = paper_multipliers(fit_curve(demo.reference), demo.schedules, demo.baselines);
  ASSERT_EQ(dm.size(), 1u);
  EXPECT_EQ(dm[0].p, "mid-training (mt-rho0)");
  EXPECT_EQ(format_significant(*dm[0].value, 4), "6.368");
  // Every sweep on the target: all three families in scope, nothing borrowed.
  SweepData all = collect_sweep(reg, {"", "", "math", ""});
  EXPECT_EQ(all.schedules.size(), 3u);
  EXPECT_TRUE(all.baselines.empty());
  EXPECT_EQ(paper_multipliers(fit_curve(all.reference), all.schedules).size(), 3u);
  SweepData widened = collect_sweep(reg, {"full-math", "", "", "", /*all_sweeps=*/true});
  EXPECT_EQ(widened.schedules.size(), 3u);
  // --reference-sweep restricts the reference runs, and says when it has none on the target.
  std::string e = error_of([&] { collect_sweep(reg, {"full-math", "demo-code", "", ""}); });
  EXPECT_NE(e.find("reference sweep 'demo-code' has no runs on target math"), std::string::npos) << e;
}

// Registries from before identities: a "target" tag cannot tell two domains
// apart, so nothing is taken from outside the selected sweep.
TEST(Efficiency, TagOnlyTargetsStayWithinTheSelectedSweep) {
  TempDir root_dir("eff_tags");
  const stdfs::path root = root_dir.path;
  fake::build_sweep(root, {}, {}, "demo-math");
  fake::build_sweep(root, {}, code_loss, "demo-code");
  Registry reg(root / "registry.sqlite", false);
  SweepData data = collect_sweep(reg, {"demo-math", "", "", ""});
  EXPECT_TRUE(data.target.empty());
  EXPECT_EQ(data.target_split, "finemath");
  EXPECT_EQ(data.reference.size(), 5u);
  EXPECT_EQ(data.reference_sweeps, std::vector<std::string>{"demo-math"});
  EXPECT_TRUE(data.baselines.empty());
  EXPECT_EQ(format_significant(*paper_multipliers(fit_curve(data.reference), data.schedules)[0].value, 4),
            "1.490");
  // The old meaning of --target: the split to read, for runs without identity.
  SweepData generic = collect_sweep(reg, {"demo-math", "", "c4", ""});
  EXPECT_EQ(generic.target_split, "c4");
}

// The rho x alpha grid the report and the dashboard both draw: the lowest
// loss per cell, NaN where no schedule ran, other families left out, and a
// single column is degenerate (a line, not a map).
TEST(Efficiency, RhoAlphaGridKeepsTheBestCellAndKnowsADegenerateGrid) {
  auto schedule = [](std::string family, double rho, double alpha, double loss) {
    ScheduleLoss s;
    s.family = std::move(family);
    s.rho = rho;
    s.alpha = alpha;
    s.loss = loss;
    return s;
  };
  std::vector<ScheduleLoss> column = {schedule("mid-training", 0, 1, 5.0), schedule("mid-training", 0.5, 1, 4.8),
                                      schedule("fine-tuning", 0.5, 1, 1.0)};
  RhoAlphaGrid one = rho_alpha_grid(column);
  EXPECT_TRUE(one.degenerate());
  EXPECT_EQ(one.cells, 2u);

  std::vector<ScheduleLoss> grid = column;
  grid.push_back(schedule("full", 0.5, 0.5, 4.7));
  grid.push_back(schedule("full", 0.5, 0.5, 4.6));  // the better of two in one cell
  RhoAlphaGrid two = rho_alpha_grid(grid);
  EXPECT_FALSE(two.degenerate());
  EXPECT_EQ(two.rho, (std::vector<double>{0, 0.5}));
  EXPECT_EQ(two.alpha, (std::vector<double>{1, 0.5}));  // alpha descending
  EXPECT_EQ(two.cells, 3u);
  EXPECT_DOUBLE_EQ(two.loss[1][0], 4.8);
  EXPECT_DOUBLE_EQ(two.loss[1][1], 4.6);
  EXPECT_TRUE(std::isnan(two.loss[0][1]));  // rho 0, alpha 0.5 never ran
}
