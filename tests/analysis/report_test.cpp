#include <gtest/gtest.h>

#include <sqlite3.h>

#include <regex>

#include "analysis/report.h"
#include "fake_sweep.h"
#include "png_pixels.h"
#include "temp_dir.h"
#include "util/error.h"

using namespace replay::analysis;
namespace stdfs = std::filesystem;

namespace {
uint32_t be32(const std::string& s, size_t at) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(s[at + i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}
}  // namespace

TEST(Report, WritesMarkdownHtmlAndFiguresFromTheRegistry) {
  TempDir tmp("report");
  const stdfs::path& root = tmp.path;
  fake::build_sweep(root);
  Registry reg(root / "registry.sqlite", false);
  ReportOptions opt;
  opt.collect.sweep = "finemath-micro";
  opt.out_dir = root / "reports" / "finemath-micro";
  ReportResult res = write_report(reg, opt);

  ASSERT_TRUE(res.fit.has_value());
  EXPECT_TRUE(res.fit->degenerate);
  // The paper's four comparisons plus "best schedule over fine-tuning".
  ASSERT_EQ(res.multipliers.size(), 5u);
  EXPECT_EQ(res.multipliers[4].p, "best schedule (full-rho0.75-alpha0.5)");
  EXPECT_EQ(res.multipliers[4].q, "fine-tuning (ft-rho0)");
  ASSERT_TRUE(res.multipliers[4].value.has_value());
  EXPECT_EQ(format_significant(*res.multipliers[4].value, 4), "15.88");
  std::string md = replay::fs::read_file(res.markdown);
  std::string html = replay::fs::read_file(res.html);
  // The multiplier table carries what the fit code computes: the spec's values.
  const char* expected[] = {"1.490x", "1.855x", "2.494x", "6.368x"};
  for (size_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(res.multipliers[i].value.has_value());
    std::string text = format_significant(*res.multipliers[i].value, 4) + "x";
    EXPECT_EQ(text, expected[i]);
    EXPECT_NE(md.find("| " + text + " |"), std::string::npos) << text;
    EXPECT_NE(html.find("<td class=\"num\">" + text + "</td>"), std::string::npos) << text;
  }
  EXPECT_NE(md.find("fine-tuning + replay (ft-rho0.75)"), std::string::npos);
  EXPECT_NE(md.find("best full schedule (full-rho0.75-alpha0.5)"), std::string::npos);
  EXPECT_NE(md.find("degenerate fit"), std::string::npos);
  // Runs without identity: the target is named by its split (the "target" tag).
  EXPECT_NE(md.find("# Replay report: sweep finemath-micro, target finemath\n"), std::string::npos);
  // The fine-tuning baseline's implied pool lies 4.45x below the smallest reference pool.
  EXPECT_NE(md.find("| extrapolated: fine-tuning (ft-rho0): implied pool"), std::string::npos);
  // Runs table: the failed run with its error, the queued run.
  EXPECT_NE(md.find("loss is NaN at step 12"), std::string::npos);
  EXPECT_NE(md.find("| waiting |"), std::string::npos);
  EXPECT_NE(md.find("| queued |"), std::string::npos);

  // Figures: heatmap, loss vs rho, fit, and curves for each of the 17 done runs.
  for (const char* base : {"heatmap_rho_alpha", "target_loss_vs_rho", "reference_fit"}) {
    std::string png = replay::fs::read_file(res.dir / "figures" / (std::string(base) + ".png"));
    EXPECT_EQ(png.substr(1, 3), "PNG") << base;
    EXPECT_EQ(be32(png, 16), 800u) << base;
    EXPECT_EQ(be32(png, 20), 560u) << base;
    EXPECT_NE(replay::fs::read_file(res.dir / "figures" / (std::string(base) + ".svg")).find("<svg"),
              std::string::npos);
    EXPECT_NE(md.find("](figures/" + std::string(base) + ".png)"), std::string::npos) << base;
    EXPECT_NE(html.find("src=\"figures/" + std::string(base) + ".svg\""), std::string::npos) << base;
  }
  // Plus one overlay per family (reference, fine-tuning, mid-training, full)
  // for the target and the generic split; each figure as PNG, SVG and CSV.
  EXPECT_EQ(res.figures.size(), 3u * (3 + 17 + 8));
  for (const auto& f : res.figures) EXPECT_TRUE(stdfs::exists(res.dir / f)) << f;
  EXPECT_NE(md.find("[data as CSV](figures/reference_fit.csv)"), std::string::npos);
  // The fit's data names each schedule placed on the law at its implied pool.
  std::string fit_csv = replay::fs::read_file(res.dir / "figures" / "reference_fit.csv");
  EXPECT_NE(fit_csv.find("\nmt-rho0.5 at its implied pool,"), std::string::npos) << fit_csv;
  EXPECT_NE(fit_csv.find("\nfitted law,"), std::string::npos) << fit_csv;
  EXPECT_NE(html.find("href=\"figures/heatmap_rho_alpha.csv\""), std::string::npos);
  // The heatmap's data, under a header naming the axes and the value.
  std::string heat = replay::fs::read_file(res.dir / "figures" / "heatmap_rho_alpha.csv");
  EXPECT_EQ(heat.substr(0, heat.find('\n')), "rho (replay fraction),alpha (fraction of target data in stage 2),"
                                               "final finemath loss (nats/token)");
  // Text columns left-aligned, number columns right-aligned (run, id, status | step, losses).
  EXPECT_NE(md.find("| run | id | status | step | target loss | generic loss |"), std::string::npos);
  EXPECT_NE(md.find("\n|:---|:---|:---|---:|---:|---:|"), std::string::npos) << md;
  EXPECT_NE(html.find("<tr><td>mt-rho0</td><td>"), std::string::npos);
  // Real text in the SVG: the title names the target (here its split name).
  std::string svg = replay::fs::read_file(res.dir / "figures" / "target_loss_vs_rho.svg");
  EXPECT_NE(svg.find(">Final finemath loss against rho</text>"), std::string::npos);
  // Every family's runs overlaid: one line per done run.
  std::string full = replay::fs::read_file(res.dir / "figures" / "family_target_full.csv");
  EXPECT_NE(full.find("series,step,target validation (finemath) loss (nats/token)\n"), std::string::npos) << full;
  EXPECT_NE(full.find("full-rho0.75-alpha0.5,64,"), std::string::npos) << full;

  // Rewriting replaces the report in one piece: no temporary or old copies.
  write_report(reg, opt);
  for (const auto& entry : stdfs::directory_iterator(root / "reports"))
    EXPECT_EQ(entry.path().filename(), "finemath-micro");
}

TEST(Report, FailsCleanlyForAnUnknownSweepAndLeavesNothing) {
  TempDir tmp("report_unknown");
  const stdfs::path& root = tmp.path;
  fake::build_sweep(root);
  Registry reg(root / "registry.sqlite", false);
  ReportOptions opt;
  opt.collect.sweep = "no-such-sweep";
  opt.out_dir = root / "reports" / "x";
  try {
    write_report(reg, opt);
    FAIL();
  } catch (const replay::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-sweep"), std::string::npos);
  }
  EXPECT_TRUE(!stdfs::exists(root / "reports") || stdfs::is_empty(root / "reports"));
}

TEST(Report, WithoutReferenceRunsSaysSoInsteadOfFitting) {
  TempDir tmp("report_noref");
  const stdfs::path& root = tmp.path;
  {
    Registry reg(root / "registry.sqlite");
    fake::add_done_run(reg, root, "s", "mt-rho0", {{"family", "mid-training"}, {"rho", "0"}, {"alpha", "1"}}, 3.5, 4.0);
    fake::add_done_run(reg, root, "s", "mt-rho0.5", {{"family", "mid-training"}, {"rho", "0.5"}, {"alpha", "1"}}, 3.4, 3.9);
  }
  Registry reg(root / "registry.sqlite", false);
  ReportOptions opt;
  opt.collect.sweep = "s";
  opt.out_dir = root / "out";
  ReportResult res = write_report(reg, opt);
  EXPECT_FALSE(res.fit.has_value());
  std::string md = replay::fs::read_file(res.markdown);
  EXPECT_NE(md.find("no reference curve is fitted and no data-efficiency multiplier is computed"),
            std::string::npos) << md;
  EXPECT_EQ(md.find("Not enough"), std::string::npos) << md;  // nothing is pending: there are none
  EXPECT_NE(md.find("| mt-rho0.5 | mid-training | 0.5 | 1 | 3.40000 | 3.90000 |"), std::string::npos) << md;
  EXPECT_TRUE(stdfs::exists(root / "out" / "figures" / "target_loss_vs_rho.png"));
  EXPECT_EQ(md.find("Downstream tasks"), std::string::npos);  // no run scored tasks
  // Two rho values at one alpha: a one-column heatmap would say nothing.
  EXPECT_NE(md.find("No rho x alpha heatmap: the mid-training and full runs span 2 value(s) of rho and 1 of alpha"),
            std::string::npos) << md;
  EXPECT_FALSE(stdfs::exists(root / "out" / "figures" / "heatmap_rho_alpha.png"));
}

// A continued-pretraining rho sweep with downstream tasks and no reference
// runs (fake::build_cpt_sweep has the numbers).
TEST(Report, DownstreamTasksSectionFromTaskScores) {
  TempDir tmp("report_tasks");
  const stdfs::path& root = tmp.path;
  fake::build_cpt_sweep(root);
  Registry reg(root / "registry.sqlite", false);
  ReportOptions opt;
  opt.collect.sweep = "cpt";
  opt.out_dir = root / "out";
  opt.gain_tasks = {"help_eu"};
  opt.forgetting_tasks = {"arc_easy", "hellaswag"};
  ReportResult res = write_report(reg, opt);
  EXPECT_EQ(res.tasks, (std::vector<std::string>{"arc_easy", "hellaswag", "help_eu"}));
  std::string md = replay::fs::read_file(res.markdown);
  std::string html = replay::fs::read_file(res.html);

  // No fit and no multiplier text pretending otherwise.
  EXPECT_FALSE(res.fit.has_value());
  EXPECT_TRUE(res.multipliers.empty());
  EXPECT_NE(md.find("no reference curve is fitted"), std::string::npos) << md;
  EXPECT_EQ(md.find("Not enough"), std::string::npos) << md;
  EXPECT_FALSE(std::regex_search(md, std::regex("[0-9]x \\|"))) << md;
  EXPECT_NE(md.find("| cpt-rho0.9 | continued-pretraining | 0.9 |  | 3.80000 | 4.10000 |"), std::string::npos) << md;
  // The continued-pretraining runs are on the target-loss-against-rho figure
  // (third palette colour, green), with no legend entry for the fine-tuning
  // (blue) and mid-training (orange) series the sweep does not have.
  std::string rho_png = replay::fs::read_file(res.dir / "figures" / "target_loss_vs_rho.png");
  EXPECT_GT(png_pixels::count_pixels(rho_png, 44, 160, 44), 100);
  EXPECT_EQ(png_pixels::count_pixels(rho_png, 31, 119, 180), 0);
  EXPECT_EQ(png_pixels::count_pixels(rho_png, 255, 127, 14), 0);

  ASSERT_NE(md.find("## Downstream tasks"), std::string::npos) << md;
  EXPECT_NE(md.find("| run | rho | task | step | acc | acc_norm | change since first evaluation | "
                    "target loss (finemath) | generic loss (c4) |"),
            std::string::npos) << md;
  // Final acc +- SE, change +- sqrt(se1^2 + se2^2), losses from final_metrics.
  EXPECT_NE(md.find("| cpt-rho0 | 0 | help_eu | 64 | 0.400 ± 0.020 |  | +0.100 ± 0.028 | 3.50000 | 4.60000 |"),
            std::string::npos) << md;
  EXPECT_NE(md.find("| cpt-rho0 | 0 | arc_easy | 64 | 0.400 ± 0.030 |  | -0.100 ± 0.042 | 3.50000 | 4.60000 |"),
            std::string::npos) << md;
  EXPECT_NE(md.find("| cpt-rho0 | 0 | hellaswag | 64 | 0.360 ± 0.020 | 0.370 ± 0.021 | -0.040 ± 0.028 (within noise) |"),
            std::string::npos) << md;
  EXPECT_NE(md.find("| cpt-rho0.5 | 0.5 | help_eu | 64 | 0.370 ± 0.020 |  | +0.070 ± 0.028 |"), std::string::npos)
      << md;
  // |change| < 2 SE is within noise; a run first scored after step 0 says from when.
  EXPECT_NE(md.find("| cpt-rho0.9 | 0.9 | help_eu | 64 | 0.310 ± 0.020 |  | +0.010 ± 0.028 (within noise) |"),
            std::string::npos) << md;
  EXPECT_NE(md.find("| cpt-rho0.75 | 0.75 | help_eu | 64 | 0.360 ± 0.020 |  | +0.030 ± 0.028 (from step 32; within noise) |"),
            std::string::npos) << md;
  EXPECT_NE(html.find("<td class=\"num\">+0.010 ± 0.028 (within noise)</td>"), std::string::npos);

  // Gain = change on help_eu; forgetting = mean over two tasks, SE sqrt(0.03^2*2 + 0.02^2*2) / 2.
  ASSERT_NE(md.find("### Gain and forgetting"), std::string::npos) << md;
  EXPECT_NE(md.find("| cpt-rho0 | 0 | +0.100 ± 0.028 | -0.070 ± 0.025 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| cpt-rho0.5 | 0.5 | +0.070 ± 0.028 | -0.020 ± 0.025 (within noise) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| cpt-rho0.9 | 0.9 | +0.010 ± 0.028 (within noise) | +0.000 ± 0.025 (within noise) |"),
            std::string::npos) << md;
  EXPECT_NE(md.find("5 of 8 mean changes above are within noise"), std::string::npos) << md;

  for (const char* base : {"task_accuracy_vs_step_help_eu", "task_accuracy_vs_step_arc_easy",
                           "task_accuracy_vs_step_hellaswag", "task_accuracy_vs_rho", "gain_vs_forgetting",
                           "target_loss_vs_rho"}) {
    EXPECT_EQ(replay::fs::read_file(res.dir / "figures" / (std::string(base) + ".png")).substr(1, 3), "PNG") << base;
    EXPECT_NE(replay::fs::read_file(res.dir / "figures" / (std::string(base) + ".svg")).find("<svg"),
              std::string::npos) << base;
    EXPECT_NE(md.find("](figures/" + std::string(base) + ".png)"), std::string::npos) << base;
  }
  // 6 task/loss figures, 4 training curves and the family's two overlays, as PNG, SVG and CSV.
  EXPECT_EQ(res.figures.size(), 3u * (6 + 4 + 2));

  // Without gain and forgetting tasks: the table, no gain_vs_forgetting.
  opt.gain_tasks.clear();
  opt.forgetting_tasks.clear();
  res = write_report(reg, opt);
  md = replay::fs::read_file(res.markdown);
  EXPECT_NE(md.find("## Downstream tasks"), std::string::npos);
  EXPECT_EQ(md.find("Gain and forgetting"), std::string::npos);
  EXPECT_FALSE(stdfs::exists(res.dir / "figures" / "gain_vs_forgetting.png"));
  EXPECT_TRUE(stdfs::exists(res.dir / "figures" / "task_accuracy_vs_rho.svg"));
}

// A gain or forgetting task that no run scored is refused, naming it, and
// nothing is written.
TEST(Report, AnUnknownGainOrForgettingTaskIsRefused) {
  TempDir tmp("report_unknown_task");
  const stdfs::path& root = tmp.path;
  fake::build_cpt_sweep(root);
  Registry reg(root / "registry.sqlite", false);
  ReportOptions opt;
  opt.collect.sweep = "cpt";
  opt.out_dir = root / "out";
  opt.gain_tasks = {"help_eu"};
  opt.forgetting_tasks = {"arc_challenge"};
  try {
    write_report(reg, opt);
    FAIL() << "an unknown forgetting task was accepted";
  } catch (const replay::Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("forgetting task 'arc_challenge' is not scored by any run"), std::string::npos) << what;
    EXPECT_NE(what.find("tasks scored: arc_easy, hellaswag, help_eu"), std::string::npos) << what;
  }
  EXPECT_FALSE(stdfs::exists(root / "out"));
  opt.forgetting_tasks = {"arc_easy"};
  opt.gain_tasks = {"help_eu", "help_en"};
  EXPECT_THROW(write_report(reg, opt), replay::Error);
  opt.gain_tasks = {"help_eu"};
  EXPECT_NO_THROW(write_report(reg, opt));
}

// A registry older than schema version 4, read as it is, has no task scores:
// the report takes them from the runs' metrics.jsonl.
TEST(Report, TaskScoresFromMetricsWhenTheRegistryHasNone) {
  TempDir tmp("report_tasks_v3");
  const stdfs::path& root = tmp.path;
  fake::build_cpt_sweep(root);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((root / "registry.sqlite").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DROP TABLE task_scores; PRAGMA user_version=3", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  Registry reg(root / "registry.sqlite", false);
  ASSERT_EQ(reg.schema_version(), 3);
  ReportOptions opt;
  opt.collect.sweep = "cpt";
  opt.out_dir = root / "out";
  ReportResult res = write_report(reg, opt);
  std::string md = replay::fs::read_file(res.markdown);
  EXPECT_NE(md.find("| cpt-rho0 | 0 | help_eu | 64 | 0.400 ± 0.020 |  | +0.100 ± 0.028 | 3.50000 | 4.60000 |"),
            std::string::npos) << md;
}

// The fresh-machine reference points: the report says why there is no
// multiplier, and shows none.
TEST(Report, RisingReferencePointsGiveNoMultiplierAnywhere) {
  TempDir root_dir("report_rising");
  const stdfs::path root = root_dir.path;
  {
    Registry reg(root / "registry.sqlite");
    const char* xs[] = {"0.001953125", "0.00390625", "0.0078125", "0.015625"};
    const double losses[] = {5.278, 5.140, 5.141, 4.928};
    for (int i = 0; i < 4; ++i)
      fake::add_done_run(reg, root, "s", std::string("ref-") + xs[i], {{"family", "reference"}, {"x", xs[i]}},
                         losses[i], 5.5);
    fake::add_done_run(reg, root, "s", "ft-rho0", {{"family", "fine-tuning"}, {"rho", "0"}}, 5.1263, 5.6);
    fake::add_done_run(reg, root, "s", "ft-rho0.5", {{"family", "fine-tuning"}, {"rho", "0.5"}}, 5.1558, 5.5);
  }
  Registry reg(root / "registry.sqlite", false);
  ReportOptions opt;
  opt.collect.sweep = "s";
  opt.out_dir = root / "out";
  for (FitMethod method : {FitMethod::multistart, FitMethod::reference}) {
    opt.method = method;
    ReportResult res = write_report(reg, opt);
    ASSERT_TRUE(res.fit.has_value());
    EXPECT_FALSE(res.fit->usable_for_multipliers);
    ASSERT_EQ(res.multipliers.size(), 1u);
    EXPECT_FALSE(res.multipliers[0].value.has_value());
    std::string md = replay::fs::read_file(res.markdown);
    EXPECT_NE(md.find("No multiplier can be computed: "), std::string::npos) << md;
    EXPECT_NE(md.find("loss rises from 5.140 at x=1/256 to 5.141 at x=1/128"), std::string::npos) << md;
    EXPECT_EQ(md.find("multiplier x(L_P)/x(L_Q)"), std::string::npos) << md;  // no multiplier table
    EXPECT_FALSE(std::regex_search(md, std::regex("[0-9]x \\|"))) << md;  // no multiplier cell
    EXPECT_EQ(md.find("1.18"), std::string::npos) << md;
    // The figure still shows every reference point (in loss space nothing
    // is dropped) and the schedules, without implied pools.
    std::string csv = replay::fs::read_file(res.dir / "figures" / "reference_fit.csv");
    EXPECT_NE(csv.find("fitted law (unusable),"), std::string::npos) << csv;
    for (const char* point : {"0.001953125,5.278", "0.00390625,5.14,", "0.0078125,5.141", "0.015625,4.928"})
      EXPECT_NE(csv.find("reference runs (mean of seeds)," + std::string(point)), std::string::npos) << point << csv;
    EXPECT_NE(csv.find("ft-rho0.5 (no implied pool),"), std::string::npos) << csv;
    EXPECT_TRUE(stdfs::exists(res.dir / "figures" / "reference_fit.svg"));
  }
}

// A sweep over seeds: cell means in the fit, intervals in the multiplier
// table, "no measurable effect" for the zero effect, paired differences, and
// the multiplier figure with error bars.
TEST(Report, SeedsGiveIntervalsAndPairedDifferences) {
  TempDir tmp("report-seeds");
  const stdfs::path& root = tmp.path;
  fake::build_seeded_sweep(root);
  Registry reg(root / "registry.sqlite", false);
  ReportOptions opt;
  opt.collect.sweep = "seeded";
  opt.out_dir = root / "reports" / "seeded";
  ReportResult res = write_report(reg, opt);
  ASSERT_TRUE(res.fit);
  EXPECT_EQ(res.fit->points.size(), 5u);  // 15 reference runs, 5 cells
  ASSERT_TRUE(res.fit_intervals);
  EXPECT_TRUE(res.fit_intervals->A);
  const Multiplier* mt = nullptr;
  const Multiplier* ft = nullptr;
  for (const auto& m : res.multipliers) {
    if (m.p == "mid-training + replay (mt-rho=0.5)") mt = &m;
    if (m.p == "fine-tuning + replay (ft-rho=0.5)") ft = &m;
  }
  ASSERT_TRUE(mt && ft);
  ASSERT_TRUE(mt->interval && ft->interval);
  EXPECT_TRUE(mt->interval->contains(2.0)) << multiplier_line(*mt);
  EXPECT_FALSE(mt->no_measurable_effect());
  EXPECT_TRUE(ft->no_measurable_effect()) << multiplier_line(*ft);
  ASSERT_TRUE(mt->paired && ft->paired);
  EXPECT_EQ(mt->paired->n, 3u);
  EXPECT_LT(mt->paired->hi, 0);  // replay lowers the loss on every seed
  std::string md = replay::fs::read_file(res.markdown);
  EXPECT_NE(md.find("| " + multiplier_value_text(*mt) + " |"), std::string::npos) << md;
  EXPECT_NE(md.find("| no measurable effect (interval ["), std::string::npos) << md;
  EXPECT_NE(md.find("| " + paired_text(*mt->paired) + " |"), std::string::npos) << md;
  EXPECT_NE(md.find(" \u00b1 "), std::string::npos);  // schedule losses as mean +- SE
  EXPECT_NE(md.find("(3 seeds)"), std::string::npos);
  EXPECT_NE(md.find("Uncertainty of the fit"), std::string::npos);
  EXPECT_TRUE(stdfs::exists(res.dir / "figures" / "multipliers.png"));
  EXPECT_TRUE(stdfs::exists(res.dir / "figures" / "multipliers.svg"));
  EXPECT_NE(md.find("mean over seeds, error bars +-1 SE"), std::string::npos);  // target_loss_vs_rho
  // The demo's summary lines use the same wording.
  std::vector<std::string> lines = multiplier_lines(&*res.fit, res.multipliers);
  bool worded = false;
  for (const auto& l : lines) worded |= l.find("fine-tuning + replay (ft-rho=0.5) over fine-tuning (ft-rho=0): no measurable effect") == 0;
  EXPECT_TRUE(worded);
}

namespace {

// A done run whose registry config is a resolved description (JSON) with
// the given phases, and whose metrics evaluate every 16 of 64 steps.
std::string add_run_with_phases(Registry& reg, const stdfs::path& root, const std::string& name,
                                std::map<std::string, std::string> tags, const std::string& phases) {
  const std::string config = R"({"schedule": {"protocol": ")" + tags["family"] + R"(", "phases": )" + phases +
                             R"(}, "name": ")" + name + R"("})";
  tags["target"] = "finemath";
  tags["generic"] = "c4";
  const std::string rel = "runs/" + name;
  replay::fs::write_file_atomic(root / rel / "metrics.jsonl", fake::metrics_text(3.5, 4.0));
  std::string id = reg.add_run({config, "", "s", name, tags, rel, {}});
  reg.import_metrics(id, read_metrics(root / rel / "metrics.jsonl"));
  reg.mark_done(id);
  return id;
}

}  // namespace

// Stage boundaries on the curves: the plan's stage-2 step (tag) of a
// mid-training run, the fine-tuning phase's first step of a fine-tuning run;
// each family's runs overlaid with their boundaries named.
TEST(Report, CurvesMarkWhereStageTwoStarts) {
  TempDir tmp("report-stages");
  const stdfs::path& root = tmp.path;
  std::string mt_id;
  {
    Registry reg(root / "registry.sqlite");
    const std::string one_phase = R"([{"name": "train", "first_step": 0, "num_steps": 64}])";
    mt_id = add_run_with_phases(reg, root, "mt-rho0", {{"family", "mid-training"}, {"rho", "0"}, {"stage2_step", "48"}}, one_phase);
    add_run_with_phases(reg, root, "mt-rho0.5", {{"family", "mid-training"}, {"rho", "0.5"}, {"stage2_step", "32"}},
                        one_phase);
    add_run_with_phases(reg, root, "ft", {{"family", "fine-tuning"}, {"rho", "0"}},
                        R"([{"name": "pre-training", "first_step": 0, "num_steps": 40},
                            {"name": "fine-tuning", "first_step": 40, "num_steps": 24}])");
  }
  Registry reg(root / "registry.sqlite", false);
  ReportOptions opt;
  opt.collect.sweep = "s";
  opt.out_dir = root / "out";
  ReportResult res = write_report(reg, opt);
  auto csv = [&](const std::string& base) { return replay::fs::read_file(res.dir / "figures" / (base + ".csv")); };
  std::string mt = csv("curves_mt-rho0_" + mt_id.substr(0, 8));
  EXPECT_NE(mt.find("\nstage 2 starts,48,"), std::string::npos) << mt;
  EXPECT_NE(mt.find("\ntarget validation (finemath),64,3.5"), std::string::npos) << mt;
  std::string overlay = csv("family_target_mid-training");
  EXPECT_NE(overlay.find("\nmt-rho0,16,"), std::string::npos) << overlay;
  EXPECT_NE(overlay.find("\nmt-rho0.5,64,3.5"), std::string::npos) << overlay;
  EXPECT_NE(overlay.find("\nstage 2 starts: mt-rho0.5,32,"), std::string::npos) << overlay;
  EXPECT_NE(overlay.find("\nstage 2 starts: mt-rho0,48,"), std::string::npos) << overlay;
  std::string ft = csv("family_generic_fine-tuning");
  EXPECT_NE(ft.find("series,step,generic validation (c4) loss (nats/token)\n"), std::string::npos) << ft;
  EXPECT_NE(ft.find("\nfine-tuning starts,40,"), std::string::npos) << ft;  // one run: no names
  EXPECT_NE(replay::fs::read_file(res.dir / "figures" / "family_generic_fine-tuning.svg").find(">fine-tuning starts</text>"),
            std::string::npos);
}
