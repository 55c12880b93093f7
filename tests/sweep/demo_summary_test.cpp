// The demo's final summary: every report's Markdown and HTML paths, the fit
// and the multipliers, texts in one column.
#include <gtest/gtest.h>

#include "sweep/demo_steps.h"

namespace {

using namespace replay;

analysis::ReportResult report_without_fit() {
  analysis::ReportResult r;
  r.dir = "runs/reports/demo-math";
  r.markdown = r.dir / "report.md";
  r.html = r.dir / "report.html";
  return r;
}

TEST(DemoSummary, ReportPathsFitAndMultipliersInOneColumn) {
  analysis::ReportResult with_fit = report_without_fit();
  with_fit.dir = "runs/reports/schedule-sweep-math";
  with_fit.markdown = with_fit.dir / "report.md";
  with_fit.html = with_fit.dir / "report.html";
  analysis::CurveFit fit;
  fit.A = 0.5, fit.B = 0.25, fit.C = 3.5, fit.usable_for_multipliers = true;
  with_fit.fit = fit;
  analysis::Multiplier m;
  m.p = "mid-rho=0.5", m.q = "mid-rho=0", m.loss_p = 3.9, m.loss_q = 4.0, m.value = 1.49;
  with_fit.multipliers = {m};

  auto rows = sweep::summary_rows("demo-math", report_without_fit());
  const auto more = sweep::summary_rows("schedule-sweep-math", with_fit);
  rows.insert(rows.end(), more.begin(), more.end());
  EXPECT_EQ(sweep::format_summary(rows),
            "demo: sweep            demo-math\n"
            "demo:   report         runs/reports/demo-math/report.md\n"
            "demo:   html           runs/reports/demo-math/report.html\n"
            "demo:   multiplier     no multiplier can be computed: fewer than 3 reference points\n"
            "demo: sweep            schedule-sweep-math\n"
            "demo:   report         runs/reports/schedule-sweep-math/report.md\n"
            "demo:   html           runs/reports/schedule-sweep-math/report.html\n"
            "demo:   reference fit  L(x) = 0.5 / x^0.25 + 3.5\n"
            "demo:   multiplier     mid-rho=0.5 over mid-rho=0: 1.490x (target loss 3.90000 vs 4.00000)\n");
}

}  // namespace
