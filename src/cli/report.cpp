// `replay report`: writes a sweep's Markdown + HTML report with figures
// (SVG and PNG) from the run registry and the run directories, for one
// target (--target when the sweep's runs span several; which runs are used:
// analysis/efficiency.h). --gain-task / --forgetting-task name the
// downstream tasks of the gain and forgetting summaries (analysis/report.h).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "analysis/registry.h"
#include "analysis/report.h"
#include "cli/command.h"
#include "cli/options.h"
#include "util/error.h"
#include "util/fs.h"

namespace {

using namespace replay::analysis;
namespace stdfs = std::filesystem;

struct Options {
  std::string what;  // sweep directory or sweep name
  std::string db, out, target, generic, reference_sweep, form = "power", method = "multistart";
  bool all_sweeps = false;
  std::vector<std::string> gain_tasks, forgetting_tasks;
};

void run(const Options& o) {
  // Enum-like values first: a typo fails before any registry is opened.
  const CurveForm form = parse_curve_form(o.form);
  const FitMethod method = parse_fit_method(o.method);
  std::string db = o.db.empty() ? kDefaultRegistryPath : o.db;
  std::string sweep = o.what;
  stdfs::path out = o.out;
  // A directory holding a registry.sqlite: report on its sweep (the sweep
  // named like the directory, or its only sweep).
  if (stdfs::is_directory(o.what) && stdfs::exists(stdfs::path(o.what) / replay::run::kRegistryFile)) {
    if (o.db.empty()) db = (stdfs::path(o.what) / replay::run::kRegistryFile).string();
    Registry probe(db, false);
    auto sweeps = probe.sweeps();
    std::string dir_name = stdfs::path(o.what).lexically_normal().filename().string();
    if (dir_name.empty()) dir_name = stdfs::path(o.what).lexically_normal().parent_path().filename().string();
    bool named = std::find(sweeps.begin(), sweeps.end(), dir_name) != sweeps.end();
    if (named) sweep = dir_name;
    else if (sweeps.size() == 1) sweep = sweeps[0];
    else {
      std::string list;
      for (const auto& s : sweeps) list += (list.empty() ? "" : ", ") + s;
      throw replay::Error(db + " holds several sweeps (" + list + "); name one: replay report NAME --db " + db);
    }
    if (out.empty()) out = stdfs::path(o.what) / "report";
  }
  // Next to the registry's runs (runs/reports/SWEEP by default, where the
  // demo writes too), never into the working directory.
  if (out.empty()) out = stdfs::path(db).parent_path() / replay::run::kReportsDir / sweep;
  replay::fs::check_output_path(out, replay::fs::OutputKind::directory, "--out");
  Registry reg(db, /*create=*/false);
  ReportOptions ro;
  ro.collect = {sweep, o.reference_sweep, o.target, o.generic, o.all_sweeps};
  ro.out_dir = out;
  ro.form = form;
  ro.method = method;
  ro.gain_tasks = o.gain_tasks;
  ro.forgetting_tasks = o.forgetting_tasks;
  ReportResult res = write_report(reg, ro);
  std::string target = res.target.domain.empty() ? res.target.source : res.target.domain;
  // Each figure is a PNG, an SVG and a CSV: count the figures, not the files.
  const auto figures = std::count_if(res.figures.begin(), res.figures.end(),
                                     [](const auto& f) { return f.extension() == ".png"; });
  std::printf("report for sweep %s, target %s: %s (%ld figures, each as PNG, SVG and CSV)\n", sweep.c_str(),
              target.c_str(), res.markdown.c_str(), static_cast<long>(figures));
  std::printf("  html: %s\n", res.html.c_str());
  if (!res.tasks.empty()) {
    std::string tasks;
    for (const auto& t : res.tasks) tasks += (tasks.empty() ? "" : ", ") + t;
    std::printf("  downstream tasks: %s\n", tasks.c_str());
  }
  if (res.fit_intervals) std::printf("  fit uncertainty: %s\n", fit_intervals_text(*res.fit_intervals).c_str());
  if (res.fit || !res.multipliers.empty())
    for (const auto& line : multiplier_lines(res.fit ? &*res.fit : nullptr, res.multipliers))
      std::printf("  %s\n", line.c_str());
}

void setup(CLI::App& app) {
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("report", "Write a Markdown + HTML report (fit, multipliers, plots, runs) for a sweep");
  cmd->add_option("sweep", opts->what, "Sweep name in the registry, or a directory with a registry.sqlite")
      ->required();
  cmd->add_option("--db", opts->db, std::string("Run registry (default ") + kDefaultRegistryPath + ")");
  cmd->add_option(replay::cli::kOutFlag, opts->out,
                  "Report directory (default: reports/SWEEP next to the registry, runs/reports/SWEEP; "
                  "or DIR/report)");
  cmd->add_option("--target", opts->target,
                  "The target to report on: its domain (math), store path, or validation split name; "
                  "required when the sweep's runs span several targets");
  cmd->add_option("--generic", opts->generic, "Generic validation split (default: the runs' generic tag)");
  cmd->add_option("--reference-sweep", opts->reference_sweep,
                  "Take reference runs from this sweep only (default: every sweep on the target)");
  cmd->add_flag("--all-sweeps", opts->all_sweeps, "Schedules from every sweep on the target");
  cmd->add_option("--form", opts->form, "Curve form: power or shifted-power")->capture_default_str();
  cmd->add_option("--fit-method", opts->method, "multistart or reference (the paper's single start)")
      ->capture_default_str();
  cmd->add_option("--gain-task", opts->gain_tasks,
                  "A downstream task whose change is the runs' gain (repeatable; a task some run scored)")
      ->allow_extra_args(false);  // one name per flag: the sweep name may follow
  cmd->add_option("--forgetting-task", opts->forgetting_tasks,
                  "A downstream task whose change is the runs' forgetting (repeatable); with --gain-task, "
                  "draws gain_vs_forgetting")
      ->allow_extra_args(false);  // one name per flag: the sweep name may follow
  cmd->callback([opts] { run(*opts); });
}

}  // namespace

REPLAY_COMMAND(90, setup);
