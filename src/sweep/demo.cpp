#include "sweep/demo.h"

#include <chrono>
#include <cstdio>

#include "analysis/report.h"
#include "run/layout.h"
#include "sweep/demo_steps.h"
#include "sweep/runner.h"
#include "sweep/sweep_file.h"
#include "util/duration.h"
#include "util/error.h"

namespace replay::sweep {

namespace stdfs = std::filesystem;

std::vector<stdfs::path> run_demo(const DemoOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::string> domains = o.domains;
  if (o.full) domains = kDemoDomains;
  ensure_data(o, domains);

  std::vector<stdfs::path> reports;
  std::vector<SummaryRow> summary;
  const stdfs::path registry = o.runs / run::kRegistryFile;
  for (const auto& domain : domains) {
    std::vector<std::string> sweeps = {"demo.toml"};
    if (o.full) sweeps.push_back("schedule_sweep.toml");
    const std::string store = "data.sources.target.store=\"" + (o.data / "micro" / "stores" / domain).string() + "\"";
    std::vector<std::string> sweep_names;
    for (const auto& file : sweeps) {
      SweepSpec spec = load_sweep(o.root / "configs" / "micro" / file, {store},
                                  o.full ? std::optional<int64_t>(kFullDemoSeeds) : std::nullopt);
      spec.name += "-" + domain;
      sweep_names.push_back(run_demo_sweep(spec, o));
    }
    analysis::Registry reg(registry, false);
    for (const auto& name : sweep_names) {
      analysis::ReportOptions report;
      report.collect.sweep = name;
      report.collect.reference_sweep = sweep_names.front();
      report.out_dir = o.runs / run::kReportsDir / name;
      const analysis::ReportResult result = analysis::write_report(reg, report);
      const auto rows = summary_rows(name, result);
      summary.insert(summary.end(), rows.begin(), rows.end());
      reports.push_back(result.dir);
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "%sdemo: finished in %s\n", format_summary(summary).c_str(), format_duration(seconds).c_str());
  return reports;
}

}  // namespace replay::sweep
