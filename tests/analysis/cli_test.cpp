// Runs the replay binary's fit, runs and report subcommands end to end.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>

#include "replay_cli.h"
#include "corrupt_registry.h"
#include "fake_sweep.h"
#include "temp_dir.h"

#include <nlohmann/json.hpp>

namespace stdfs = std::filesystem;

TEST(Cli, FitFromTheCommandLineGivesTheSpecMultipliers) {
  CliResult r = run_replay(
      "fit --ref 16/1024:2.99478 --ref 8/1024:3.16164 --ref 4/1024:3.39593 --ref 2/1024:3.49087 "
      "--ref 1/1024:3.62532 --schedule ft:3.99417 --schedule ft+replay:3.90261 --schedule mt:3.56935 "
      "--schedule mt+replay:3.42762 --schedule best:3.35965 --compare ft+replay/ft "
      "--compare mt+replay/mt --compare best/mt --compare mt/ft --compare magic/ft");
  EXPECT_EQ(r.status, 1) << r.out;  // "magic" is not a schedule
  EXPECT_NE(r.out.find("no schedule named 'magic'"), std::string::npos) << r.out;

  r = run_replay(
      "fit --ref 16/1024:2.99478 --ref 8/1024:3.16164 --ref 4/1024:3.39593 --ref 2/1024:3.49087 "
      "--ref 1/1024:3.62532 --schedule ft:3.99417 --schedule ft+replay:3.90261 --schedule mt:3.56935 "
      "--schedule mt+replay:3.42762 --schedule best:3.35965 --compare ft+replay/ft "
      "--compare mt+replay/mt --compare best/mt --compare mt/ft");
  ASSERT_EQ(r.status, 0) << r.out;
  for (const char* m : {"1.490x", "1.855x", "2.494x", "6.368x"})
    EXPECT_NE(r.out.find(m), std::string::npos) << m << "\n" << r.out;
  EXPECT_NE(r.out.find("WARNING: degenerate fit"), std::string::npos) << r.out;
}

TEST(Cli, BothFitMethodsGiveTheSpecMultipliers) {
  const std::string vector =
      "fit --ref 16/1024:2.99478 --ref 8/1024:3.16164 --ref 4/1024:3.39593 --ref 2/1024:3.49087 "
      "--ref 1/1024:3.62532 --schedule ft:3.99417 --schedule ft+replay:3.90261 --schedule mt:3.56935 "
      "--schedule mt+replay:3.42762 --schedule best:3.35965 --compare ft+replay/ft "
      "--compare mt+replay/mt --compare best/mt --compare mt/ft";
  for (const char* method : {"reference", "multistart"}) {
    CliResult r = run_replay(vector + " --fit-method " + method);
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find(std::string("method ") + method), std::string::npos) << r.out;
    for (const char* m : {"ft+replay over ft: 1.490x", "mt+replay over mt: 1.855x", "best over mt: 2.494x",
                          "mt over ft: 6.368x"})
      EXPECT_NE(r.out.find(m), std::string::npos) << m << "\n" << r.out;
    // ft's implied pool lies 4.45x below the smallest reference pool.
    EXPECT_NE(r.out.find("EXTRAPOLATED: ft: implied pool"), std::string::npos) << r.out;
  }
  CliResult r = run_replay(vector + " --fit-method newton");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("unknown fit method 'newton'"), std::string::npos) << r.out;
}

// The fresh-machine points: the reference's single start fits B = -12.09
// and used to print "fine-tuning + replay over fine-tuning 1.182x" although
// fine-tuning + replay had the higher loss.
TEST(Cli, FitGivesNoMultiplierFromRisingReferencePoints) {
  for (const char* method : {"reference", "multistart"}) {
    CliResult r = run_replay(
        std::string("fit --ref 1/512:5.278 --ref 1/256:5.140 --ref 1/128:5.141 --ref 1/64:4.928 ") +
        "--schedule ft:5.1263 --schedule ft+replay:5.1558 --compare ft+replay/ft --fit-method " + method);
    ASSERT_EQ(r.status, 0) << r.out;
    size_t none = r.out.find("\n  no multiplier can be computed: ");
    ASSERT_NE(none, std::string::npos) << r.out;
    EXPECT_NE(r.out.find("loss rises from 5.140 at x=1/256 to 5.141 at x=1/128", none), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("implied x none (the fit is unusable, see above)"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("1.18"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("implied x 0"), std::string::npos) << r.out;
  }
}

TEST(Cli, FitSaysWhenALossIsBelowTheAsymptote) {
  // Exact points of L = 0.05 / x^0.35 + 2.4: a clean fit with C = 2.4.
  std::string args = "fit";
  for (double x : {1.0, 2.0, 4.0, 8.0, 16.0}) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " --ref %g:%.12f", x, 0.05 / std::pow(x, 0.35) + 2.4);
    args += buf;
  }
  CliResult r = run_replay(args + " --schedule base:2.43 --schedule magic:2.39 --compare magic/base");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.find("degenerate"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("C = 2.4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("magic: loss 2.39 is at or below the fitted asymptote"), std::string::npos) << r.out;
}

TEST(Cli, FitRejectsMalformedPoints) {
  CliResult r = run_replay("fit --ref 1:3.5 --ref 2:abc --ref 4:3.2");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("abc"), std::string::npos) << r.out;
  r = run_replay("fit --ref 1:3.5");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("at least 3"), std::string::npos) << r.out;
}

TEST(Cli, RunsFitAndReportFromTheRegistry) {
  TempDir tmp("cli");
  const stdfs::path& root = tmp.path;
  fake::build_sweep(root);
  std::string db = (root / "registry.sqlite").string();

  CliResult r = run_replay("runs --db " + db + " --status failed");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("broken"), std::string::npos);
  EXPECT_NE(r.out.find("loss is NaN"), std::string::npos);
  EXPECT_EQ(r.out.find("ft-rho0"), std::string::npos);
  r = run_replay("runs --db " + db + " --sweep finemath-micro");
  ASSERT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("finemath=3.9942"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("19 runs: 17 done, 0 running, 1 queued, 1 failed"), std::string::npos) << r.out;
  r = run_replay("runs --db " + (root / "missing.sqlite").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("missing.sqlite"), std::string::npos);

  r = run_replay("fit --db " + db + " --sweep finemath-micro");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("5 reference runs, 12 schedules"), std::string::npos) << r.out;
  for (const char* m : {"1.490x", "1.855x", "2.494x", "6.368x"})
    EXPECT_NE(r.out.find(m), std::string::npos) << m << "\n" << r.out;

  r = run_replay("report " + root.string());  // a directory with registry.sqlite
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("report for sweep finemath-micro, target finemath"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mid-training (mt-rho0) over fine-tuning (ft-rho0): 6.368x"), std::string::npos) << r.out;
  EXPECT_TRUE(stdfs::exists(root / "report" / "report.md"));
  EXPECT_TRUE(stdfs::exists(root / "report" / "figures" / "heatmap_rho_alpha.png"));
  EXPECT_TRUE(stdfs::exists(root / "report" / "figures" / "heatmap_rho_alpha.csv"));
  // 3 sweep figures, 17 runs' curves, 4 families x 2 overlays; the files are 3 times as many.
  EXPECT_NE(r.out.find("(28 figures, each as PNG, SVG and CSV)"), std::string::npos) << r.out;
  r = run_replay("report nothing-here --db " + db + " --out " + (root / "r2").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("nothing-here"), std::string::npos);
  EXPECT_FALSE(stdfs::exists(root / "r2"));
}

// Repeated --gain-task / --forgetting-task collect every name (the mean
// over both forgetting tasks shows it); an unknown one is refused naming it.
TEST(Cli, ReportTakesGainAndForgettingTasks) {
  TempDir tmp("cli_tasks");
  const stdfs::path& root = tmp.path;
  fake::build_cpt_sweep(root);
  const std::string db = " --db " + (root / "registry.sqlite").string();
  const stdfs::path out = root / "rep";
  CliResult r = run_replay("report --gain-task help_eu cpt" + db + " --out " + out.string() +
                           " --forgetting-task arc_easy --forgetting-task hellaswag");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("downstream tasks: arc_easy, hellaswag, help_eu"), std::string::npos) << r.out;
  EXPECT_TRUE(stdfs::exists(out / "figures" / "gain_vs_forgetting.png"));
  std::string md = replay::fs::read_file(out / "report.md");
  EXPECT_NE(md.find("| cpt-rho0 | 0 | +0.100 ± 0.028 | -0.070 ± 0.025 |"), std::string::npos) << md;

  const stdfs::path out2 = root / "rep2";
  r = run_replay("report cpt" + db + " --out " + out2.string() + " --gain-task help_en --forgetting-task arc_easy");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("gain task 'help_en' is not scored by any run"), std::string::npos) << r.out;
  EXPECT_FALSE(stdfs::exists(out2));
}

// One sweep name, two domains: every command names the target, and a fit or
// report through both is refused until --target picks one.
// A corrupt registry used to list its runs without their losses, exit 0.
TEST(Cli, RunsAndReportRefuseACorruptRegistry) {
  TempDir tmp("cli-corrupt");
  auto db = tmp.path / "registry.sqlite";
  fake::write_registry_with_runs(db, 600);
  ASSERT_EQ(run_replay("runs --db " + db.string()).status, 0);
  fake::corrupt_middle_pages(db);
  const std::string out = " --out " + (tmp.path / "report").string();
  for (const std::string& cmd : {"runs --db " + db.string(), "report big --db " + db.string() + out}) {
    CliResult r = run_replay(cmd);
    EXPECT_NE(r.status, 0) << cmd << "\n" << r.out;
    EXPECT_NE(r.out.find("run registry " + db.string() + " is corrupt"), std::string::npos) << r.out;
  }
}

// `replay runs` used to re-initialize a 0-byte registry and create a missing one.
TEST(Cli, RunsNeverCreatesOrWritesARegistry) {
  TempDir tmp("cli-readonly");
  auto empty = tmp.path / "registry.sqlite";
  replay::fs::write_file_atomic(empty, "");
  CliResult r = run_replay("runs --db " + empty.string());
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.out.find(empty.string() + " is empty (0 bytes)"), std::string::npos) << r.out;
  EXPECT_EQ(stdfs::file_size(empty), 0u);

  auto missing = tmp.path / "none.sqlite";
  r = run_replay("runs --db " + missing.string());
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("no run registry at " + missing.string()), std::string::npos) << r.out;
  EXPECT_FALSE(stdfs::exists(missing));
}

TEST(Cli, TwoTargetsInOneRegistry) {
  TempDir root_dir("cli_targets");
  const stdfs::path root = root_dir.path;
  fake::build_sweep(root, fake::target_of("math", root));
  fake::build_sweep(root, fake::target_of("code", root), [](double l) { return l + 0.5 + 0.1 * std::sin(7 * l); });
  std::string db = " --db " + (root / "registry.sqlite").string();

  CliResult r = run_replay("fit --sweep finemath-micro" + db);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("spans 2 targets: math ("), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Pass --target DOMAIN"), std::string::npos) << r.out;
  r = run_replay("fit --sweep finemath-micro --target math" + db);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("target math (" + (root / "stores" / "math").string()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("5 reference runs, 12 schedules"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1.490x"), std::string::npos) << r.out;
  r = run_replay("fit --target code" + db);  // no sweep: every sweep on the target
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("target code ("), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("1.490x"), std::string::npos) << r.out;

  r = run_replay("report finemath-micro --out " + (root / "rep").string() + db);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("--target"), std::string::npos) << r.out;
  r = run_replay("report finemath-micro --target code --out " + (root / "rep").string() + db);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("target code"), std::string::npos) << r.out;

  r = run_replay("runs --target code" + db);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("19 runs:"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(" math "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" code "), std::string::npos) << r.out;
  r = run_replay("runs" + db);
  EXPECT_NE(r.out.find("38 runs:"), std::string::npos) << r.out;
}

// A sweep over seeds: `runs` adds the cells (mean +- SE) to the listing,
// `runs --json` and `fit --json` parse, and the fit's multipliers carry
// intervals.
TEST(Cli, SeedsInRunsAndFitWithJson) {
  TempDir tmp("cli-seeds");
  fake::build_seeded_sweep(tmp.path);
  std::string db = (tmp.path / "registry.sqlite").string();
  CliResult r = run_replay("runs --db " + db);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("mt-rho=0.5-seed=2"), std::string::npos) << r.out;  // the per-run listing stays
  EXPECT_NE(r.out.find("cells (runs that differ only in their seed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(3 seeds)"), std::string::npos) << r.out;

  r = run_replay("runs --db " + db + " --json");
  ASSERT_EQ(r.status, 0) << r.out;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("runs").size(), 27u);
  ASSERT_EQ(j.at("cells").size(), 9u);
  const auto& cell = j.at("cells").at(5);
  EXPECT_EQ(cell.at("name"), "mt-rho=0");
  EXPECT_EQ(cell.at("seeds"), nlohmann::json({1, 2, 3}));
  // Numeric tags are JSON numbers, as in the registry (a script compares them).
  EXPECT_TRUE(cell.at("tags").at("rho").is_number()) << cell.at("tags");
  EXPECT_TRUE(j.at("runs").at(0).at("tags").at("seed").is_number()) << j.at("runs").at(0);
  EXPECT_EQ(cell.at("final_losses").at("finemath").at("n"), 3);
  EXPECT_TRUE(cell.at("final_losses").at("finemath").at("se").is_number());

  // Two cells compared over their shared seeds: the target difference is
  // measurable, the generic losses are the same per seed (within noise).
  r = run_replay("runs --db " + db + " --compare mt-rho=0.5/mt-rho=0");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("comparisons (final loss P - Q, paired over the seeds both ran"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mt-rho=0.5 - mt-rho=0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("over 3 shared seeds"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("): measurable"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("): within noise"), std::string::npos) << r.out;
  r = run_replay("runs --db " + db + " --json --compare mt-rho=0.5/mt-rho=0");
  ASSERT_EQ(r.status, 0) << r.out;
  j = nlohmann::json::parse(r.out);
  const auto& cmp = j.at("comparisons").at(0);
  EXPECT_EQ(cmp.at("p"), "mt-rho=0.5");
  EXPECT_TRUE(cmp.at("paired").at("finemath").at("measurable").get<bool>()) << cmp.dump();
  EXPECT_LT(cmp.at("paired").at("finemath").at("mean").get<double>(), 0) << cmp.dump();
  EXPECT_EQ(cmp.at("paired").at("finemath").at("n"), 3);
  EXPECT_EQ(cmp.at("paired").at("finemath").at("over"), "seeds");
  r = run_replay("runs --db " + db + " --compare mt-rho=0.5/nope");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("no cell named 'nope'"), std::string::npos) << r.out;

  r = run_replay("fit --db " + db + " --sweep seeded --json");
  ASSERT_EQ(r.status, 0) << r.out;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("fit").at("points").size(), 5u);
  EXPECT_TRUE(j.at("fit").at("A_interval").is_object());
  bool none = false, some = false;
  for (const auto& m : j.at("multipliers")) {
    none |= m.at("no_measurable_effect").get<bool>();
    some |= m.at("interval").is_object() && !m.at("no_measurable_effect").get<bool>();
    EXPECT_TRUE(m.at("paired").is_object()) << m.dump();
  }
  EXPECT_TRUE(none && some) << r.out;
  r = run_replay("fit --db " + db + " --sweep seeded");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("over fine-tuning (ft-rho=0): no measurable effect (interval ["), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("uncertainty: A in ["), std::string::npos) << r.out;
}
