// `replay tasks build-help`: the offline Basque multiple-choice benchmark
// from Debian's LibreOffice help (src/corpus/help_tasks.h has the rules and
// the output format; docs/corpora.md how to rebuild it). Scoring is
// `replay eval`'s business, not this command's.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/command.h"
#include "cli/options.h"
#include "corpus/help_tasks.h"
#include "util/fs.h"

namespace {

using namespace replay;
using namespace replay::corpus;

struct HelpArgs {
  std::string out;
  std::string cache = HelpTaskOptions{}.cache_dir.string();
  uint64_t seed = 1;
  size_t min_items = 1000;
  size_t max_chars = 0;
  bool quiet = false;
};

void run_build_help(const HelpArgs& args) {
  fs::check_output_path(args.cache, fs::OutputKind::directory, "--cache");
  HelpTaskOptions options;
  options.out_dir = args.out;
  options.cache_dir = args.cache;
  options.seed = args.seed;
  options.min_items = args.min_items;
  options.max_chars = args.max_chars;
  options.log = args.quiet ? nullptr : stderr;
  HelpTaskSummary s = build_help_tasks(options);
  std::printf("%s: %zu pages, %zu held out, %zu aligned paragraphs and headings\n", s.out_dir.string().c_str(),
              s.pages, s.held_out_pages, s.aligned);
  for (const auto& [name, items] : s.items) std::printf("  %-36s %6zu items\n", name.c_str(), items);
}

void setup(CLI::App& app) {
  auto* tasks = app.add_subcommand("tasks", "Build multiple-choice evaluation tasks from packages");
  tasks->require_subcommand(1);
  auto args = std::make_shared<HelpArgs>();
  auto* help = tasks->add_subcommand(
      "build-help", "Basque and English multiple-choice tasks from the LibreOffice help pages that the "
                    "corpus holds out (libreoffice-help-eu, libreoffice-help-en-us): OUT/<task>.jsonl, "
                    "OUT/<task>.toml and OUT/MANIFEST.json, written atomically");
  help->add_option(replay::cli::kOutFlag, args->out, "Output folder (replaced as a whole)")->required();
  help->add_option("--cache", args->cache, "Package download cache folder")->capture_default_str();
  help->add_option("--seed", args->seed, "Seed of the gold positions and distractor choice")->capture_default_str();
  help->add_option("--max-chars", args->max_chars,
                   "Drop paragraphs longer than this many bytes in either language (0 = no limit): "
                   "tasks a model with a short context can score")
      ->capture_default_str();
  help->add_option("--min-items", args->min_items, "Fail when a task has fewer items")->capture_default_str();
  help->add_flag("--quiet", args->quiet, "No progress lines, only the summary");
  help->callback([args] { run_build_help(*args); });
}

}  // namespace

REPLAY_COMMAND(12, setup);
