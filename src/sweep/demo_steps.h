// The steps both demos (demo.h) are made of: running one of replay's own
// subcommands as the user would, building the micro data that is missing,
// and running a sweep that must finish.
#pragma once
#include <atomic>
#include <string>
#include <vector>

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

}  // namespace replay::sweep
