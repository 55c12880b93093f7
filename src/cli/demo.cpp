// `replay demo`: the main job, a micro replication of the paper on CPU.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/options.h"
#include "sweep/demo.h"
#include "util/fs.h"
#include "util/stop_signals.h"

namespace {

std::string known_domains() {
  std::string list;
  for (const auto& d : replay::sweep::kDemoDomains) list += (list.empty() ? "" : ", ") + d;
  return list;
}

// A parse-time check (usage error, exit 2): an unknown domain fails at once,
// not after the corpora, tokenizer and stores of the known ones were built.
CLI::Validator domain_validator() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        const auto& known = replay::sweep::kDemoDomains;
        if (std::find(known.begin(), known.end(), value) != known.end()) return "";
        return "unknown demo domain '" + value + "' (known: " + known_domains() + ")";
      },
      "DOMAIN", "demo domain");
}

void setup(CLI::App& app) {
  auto options = std::make_shared<replay::sweep::DemoOptions>();
  auto* cmd = app.add_subcommand(
      "demo",
      "Micro replication of 'Replaying pre-training data improves fine-tuning' on real corpora: "
      "builds what is missing (corpora, tokenizer, stores), runs reference runs at several pool "
      "sizes, mid-training and fine-tuning with and without replay, fits the reference curve, "
      "prints the data-efficiency multipliers and writes the report (runs/reports/). "
      "Interrupted, it continues where it stopped.");
  cmd->add_option("--domain", options->domains, "Target domain(s): " + known_domains())
      ->capture_default_str()
      ->check(domain_validator());
  cmd->add_flag("--full", options->full,
                "All target domains and the rho x alpha schedule sweep, every run over " +
                    std::to_string(replay::sweep::kFullDemoSeeds) + " seeds (hours on 2 cores)");
  cmd->add_flag("--practical", options->practical,
                "The practical experiment instead: pre-train an English micro model once, export it in "
                "Hugging Face format, continue it on Basque with replay rho = 0, 0.5, 0.75, 0.9 at a fixed "
                "target budget, score Basque tasks and their English twins (runs/reports/practical*)")
      ->excludes("--full");
  cmd->add_option("-j,--jobs", options->jobs, "Runs in parallel (cores are divided between them)")
      ->capture_default_str();
  cmd->add_option("--data", options->data, "Data folder (corpora, tokenizer, stores)")->capture_default_str();
  cmd->add_option(replay::cli::kRunsFlag, options->runs, "Runs folder (run directories, registry, reports)")
      ->capture_default_str();
  cmd->callback([options] {
    replay::fs::check_output_path(options->data, replay::fs::OutputKind::directory, "--data");
    replay::fs::check_output_path(options->runs, replay::fs::OutputKind::directory, replay::cli::kRunsFlag);
    // SIGTERM, SIGINT, SIGHUP: passed on to the step or trainers at work; exit 128 + signal.
    options->stop_signal = &replay::install_stop_handlers();
    if (options->practical) replay::sweep::run_practical_demo(*options);
    else replay::sweep::run_demo(*options);
  });
}

}  // namespace

REPLAY_COMMAND(5, setup);
