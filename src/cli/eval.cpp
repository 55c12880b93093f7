// `replay eval MODEL --task FILE [--task FILE ...] [--out DIR] [--tokenizer PATH]
//  [--batch-tokens N] [--limit N] [--threads N]`: zero-shot multiple-choice
// accuracy as lm-evaluation-harness computes it (src/eval/score.h, docs/eval.md).
// `replay eval compare A_DIR B_DIR` (or `replay eval --compare A_DIR B_DIR`):
// paired comparison of two --out directories (src/eval/results.h).
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cli/command.h"
#include "util/duration.h"
#include "cli/options.h"
#include "eval/results.h"
#include "eval/score.h"
#include "eval/task.h"
#include "model/threads.h"
#include "text/tokenizer.h"
#include "train/train_state.h"
#include "util/error.h"
#include "util/fs.h"

namespace {

namespace eval = replay::eval;

struct EvalArgs {
  std::string model, tokenizer, out;
  std::vector<std::string> tasks, compare;
  int64_t batch_tokens = 8192, limit = 0;
  int threads = 0;
};

replay::text::Tokenizer tokenizer_for(const EvalArgs& args, const replay::train::LoadedModel& loaded,
                                      std::optional<replay::text::Tokenizer>& given) {
  if (given) return std::move(*given);
  if (loaded.tokenizer.empty())
    throw replay::Error("no tokenizer is known for " + args.model + " (no run data.tokenizer, no tokenizer.json): pass --tokenizer PATH");
  return replay::text::Tokenizer::load(loaded.tokenizer);
}

void print_result(const eval::TaskResult& r) {
  const auto acc = r.accuracy(false), norm = r.accuracy(true);
  std::printf("%s: %zu items, %lld requests\n", r.task.c_str(), r.items.size(), (long long)r.requests);
  std::printf("  acc      %.4f ± %.4f%s\n", acc.mean, acc.stderr_, r.acc ? "" : "  (not a metric of this task)");
  std::printf("  acc_norm %.4f ± %.4f%s\n", norm.mean, norm.stderr_, r.acc_norm ? "" : "  (not a metric of this task)");
  std::printf("  mismatches %lld, truncated %lld, %.1f items/s (%s)\n", (long long)r.mismatches,
              (long long)r.truncated, r.seconds > 0 ? r.items.size() / r.seconds : 0.0,
              replay::format_duration(r.seconds).c_str());
}

void run_eval(const EvalArgs& args) {
  if (args.model.empty()) throw replay::Error("replay eval: MODEL is required (or use `replay eval compare A B`)");
  if (args.tasks.empty()) throw replay::Error("replay eval: at least one --task FILE is required");
  if (args.batch_tokens < 1) throw replay::Error("--batch-tokens must be positive, got " + std::to_string(args.batch_tokens));
  if (!args.out.empty()) replay::fs::check_output_path(args.out, replay::fs::OutputKind::directory, "--out");
  // Every task file is read before the model: a bad file fails in milliseconds.
  std::vector<eval::Task> tasks;
  for (const auto& file : args.tasks) tasks.push_back(eval::load_task(file, args.limit));
  for (size_t i = 0; i < tasks.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (tasks[i].name == tasks[j].name)
        throw replay::Error(tasks[i].file.string() + ": task name '" + tasks[i].name + "' is also the name of " + tasks[j].file.string());
  // A --tokenizer is read before the model too: a wrong path fails before a long load.
  std::optional<replay::text::Tokenizer> given;
  if (!args.tokenizer.empty()) given = replay::text::Tokenizer::load(args.tokenizer);
  replay::model::configure_threads(args.threads);
  auto loaded = replay::train::load_model_from(args.model);
  const auto tokenizer = tokenizer_for(args, loaded, given);
  eval::check_vocabulary(loaded.model, tokenizer);
  const auto model_vocab = static_cast<size_t>(loaded.model->config().vocab_size);
  if (model_vocab > tokenizer.vocab_size() + tokenizer.vocab_size() / 8 + 128)
    std::fprintf(stderr, "warning: the model has %zu ids, the tokenizer %s only %zu: is it the model's tokenizer?\n",
                 model_vocab, tokenizer.source().c_str(), tokenizer.vocab_size());
  loaded.model->eval();
  std::vector<eval::TaskResult> results;
  for (const auto& task : tasks) {
    results.push_back(eval::score_task(loaded.model, tokenizer, task, {args.batch_tokens}));
    print_result(results.back());
  }
  if (!args.out.empty()) {
    eval::write_results(args.out, loaded.weights.string(), results);
    std::printf("wrote %s\n", args.out.c_str());
  }
}

void run_compare(const std::string& a, const std::string& b) {
  std::printf("paired comparison, A = %s, B = %s\n", a.c_str(), b.c_str());
  for (const auto& c : eval::compare_dirs(a, b)) {
    std::printf("%s %s: %lld shared items", c.task.c_str(), c.norm ? "acc_norm" : "acc", (long long)c.shared);
    if (c.only_a || c.only_b) std::printf(" (%lld only in A, %lld only in B: not compared)", (long long)c.only_a, (long long)c.only_b);
    std::printf("\n  A %.4f  B %.4f  B - A %+.4f  95%% bootstrap CI [%+.4f, %+.4f]\n", c.acc_a, c.acc_b, c.diff,
                c.ci.low, c.ci.high);
    std::printf("  discordant: A right only %lld, B right only %lld; McNemar exact p = %.4g\n",
                (long long)c.a_only_right, (long long)c.b_only_right, c.p_value);
    if (!c.norm)
      std::printf("  gold log-likelihood: A %.3f  B %.3f  B - A %+.3f ± %.3f (paired SE)\n", c.gold_a, c.gold_b,
                  c.gold_diff, c.gold_diff_se);
  }
}

void setup(CLI::App& app) {
  static EvalArgs args;
  static std::string ca, cb;
  auto* cmd = app.add_subcommand("eval", "Score multiple-choice tasks (lm-eval style acc / acc_norm); compare results paired");
  cmd->add_option("MODEL", args.model, "Run directory, checkpoint or Hugging Face model directory");
  cmd->add_option("--task", args.tasks, "Task file (TOML, see docs/eval.md); repeat --task for more")->allow_extra_args(false);
  cmd->add_option(replay::cli::kOutFlag, args.out, "Write <task>.jsonl per-item results and summary.json here");
  cmd->add_option(replay::cli::kTokenizerFlag, args.tokenizer, "Tokenizer (default: the run's data.tokenizer or the HF dir's tokenizer.json)");
  cmd->add_option("--batch-tokens", args.batch_tokens, "Padded tokens per forward batch")->capture_default_str();
  cmd->add_option("--limit", args.limit, "Score only the first N items of each task (0 = all)");
  cmd->add_option("--threads", args.threads, "CPU threads (0 = all available cores)");
  cmd->add_option("--compare", args.compare, "A_DIR B_DIR: paired comparison of two --out directories")->expected(2);
  auto* compare = cmd->add_subcommand("compare", "Paired comparison (McNemar, bootstrap) of two --out directories");
  compare->add_option("A_DIR", ca, "Results of A")->required();
  compare->add_option("B_DIR", cb, "Results of B")->required();
  compare->callback([] { run_compare(ca, cb); });
  cmd->callback([cmd, compare] {
    if (cmd->got_subcommand(compare)) return;
    if (!args.compare.empty()) return run_compare(args.compare[0], args.compare[1]);
    run_eval(args);
  });
}

}  // namespace

REPLAY_COMMAND(55, setup);
