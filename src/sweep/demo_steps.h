// The steps both demos (demo.h) are made of: running one of replay's own
// subcommands as the user would, building the micro data that is missing,
// and running a sweep that must finish.
#pragma once
#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "analysis/report.h"
#include "sweep/demo.h"
#include "sweep/sweep_file.h"

namespace replay::sweep {

// Runs `replay <args>` as a child process, echoing the command line ("demo:
// replay ..."), so the user sees, and can rerun, exactly what the demo does.
// A stop signal is passed on to the child (once) and ends the demo with
// replay::Interrupted when the child has stopped; a failure is replay::Error
// naming the command.
void run_self(const std::vector<std::string>& args, const std::atomic<int>* stop_signal);

// Builds what is missing of data/ for these target domains: the corpora,
// the micro tokenizer (trained on every domain, so one tokenizer serves all
// targets: without one, the whole recipe is built first) and the micro
// token stores of "generic" and each domain.
void ensure_data(const DemoOptions& options, const std::vector<std::string>& domains);

// Runs the sweep in options.runs (registry there), throwing when a run failed
// or was interrupted (a rerun resumes it). Returns the sweep's name.
std::string run_demo_sweep(const SweepSpec& spec, const DemoOptions& options);

// One row of a demo's final summary: a label and its text.
using SummaryRow = std::pair<std::string, std::string>;

// What one report says at a glance: the sweep's name, the report (Markdown,
// then HTML), the reference fit when there is one, and every multiplier
// line (analysis::multiplier_lines) or why there is none.
std::vector<SummaryRow> summary_rows(const std::string& sweep, const analysis::ReportResult& report);

// The rows as "demo: LABEL  TEXT" lines, the labels padded to the widest so
// that the texts start in one column.
std::string format_summary(const std::vector<SummaryRow>& rows);

}  // namespace replay::sweep
