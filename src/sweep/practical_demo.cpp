// `replay demo --practical`: the paper's practical experiment at micro scale
// (demo.h). Every piece is content-addressed or checked for existence, so a
// rerun continues where it stopped and reuses the pretrained model.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>

#include "analysis/registry.h"
#include "corpus/documents.h"
#include "corpus/help_tasks.h"
#include "corpus/holdout.h"
#include "analysis/report.h"
#include "eval/results.h"
#include "run/layout.h"
#include "sweep/demo.h"
#include "sweep/demo_steps.h"
#include "sweep/sweep_file.h"
#include "util/duration.h"
#include "util/error.h"
#include "util/fs.h"

namespace replay::sweep {

namespace stdfs = std::filesystem;

namespace {

// The help benchmark rebuilt for a 128-token model: paragraphs of at most
// 200 bytes (Basque takes ~2 bytes per micro token, so every choice fits),
// at least 500 items per task instead of the frozen benchmark's 1,000.
constexpr const char* kTasksMaxChars = "200";
constexpr const char* kTasksMinItems = "500";
// Basque tasks measure the gain, their English twins (same paragraph ids)
// the forgetting.
const std::vector<std::string> kGainTasks = {"help_next_sentence_eu_easy", "help_title_description_eu_easy"};
const std::vector<std::string> kForgettingTasks = {"help_next_sentence_en_easy", "help_title_description_en_easy"};

// A basque corpus built before the help pages were held out (an older
// checkout's data/) holds the evaluation paragraphs: scoring on it would
// measure memorization. Such a corpus and its store are removed, so that
// ensure_data rebuilds them under the holdout rule.
void drop_basque_corpus_without_holdout(const DemoOptions& o) {
  const stdfs::path corpus = o.data / "corpora" / "basque.jsonl.zst";
  if (!stdfs::exists(corpus)) return;
  const corpus::HoldoutRule& rule = corpus::holdout_rule(corpus::HelpTaskOptions{}.holdout);
  corpus::DocumentReader reader(corpus);
  corpus::Document doc;
  size_t held_out = 0;
  while (reader.next(doc)) {
    const size_t colon = doc.source.find(':');  // "<package>:<path in the archive>"
    held_out += colon != std::string::npos && corpus::is_held_out_file(rule, doc.source.substr(colon + 1));
  }
  if (held_out == 0) return;
  std::fprintf(stderr,
               "demo: %s holds %zu help pages the benchmark evaluates on (built before the %s holdout): "
               "rebuilding it and its store (the tokenizer, trained on it, is kept)\n",
               corpus.c_str(), held_out, rule.name.c_str());
  stdfs::remove(corpus);
  stdfs::remove_all(o.data / "micro" / "stores" / "basque");
}

stdfs::path ensure_help_tasks(const DemoOptions& o) {
  const stdfs::path dir = o.data / "tasks" / "help-short";
  if (!stdfs::exists(dir / "MANIFEST.json"))
    run_self({"tasks", "build-help", "--out", dir.string(), "--cache", (o.data / "cache" / "packages").string(),
              "--max-chars", kTasksMaxChars, "--min-items", kTasksMinItems, "--quiet"},
             o.stop_signal);
  return dir;
}

analysis::RunRecord only_run_of(const DemoOptions& o, const std::string& sweep) {
  analysis::Registry registry(o.runs / run::kRegistryFile, false);
  auto runs = registry.list_runs({sweep, std::nullopt});
  if (runs.size() != 1) throw Error("sweep " + sweep + ": expected one run, the registry has " + std::to_string(runs.size()));
  return runs.front();
}

// Pre-trains the English model once (a one-run sweep: content-addressed,
// resumable, recorded) and exports it in Hugging Face format, the form a
// practitioner's pretrained model comes in. Returns the exported directory.
stdfs::path pretrained_english_model(const DemoOptions& o) {
  const stdfs::path config = o.root / "configs" / "micro" / "english.toml";
  SweepSpec spec{config, "practical-english", config, {{"english", {}, {{"family", "pretraining"}}}}};
  run_demo_sweep(spec, o);
  const analysis::RunRecord run = only_run_of(o, spec.name);
  const stdfs::path hf = o.runs / "exports" / ("english-" + run.id.substr(0, 16));
  if (!stdfs::exists(hf / "config.json")) run_self({"model", "export", run.run_dir, hf.string()}, o.stop_signal);
  return hf;
}

std::string toml_list(const std::vector<std::string>& values) {
  std::string out = "[";
  for (const auto& v : values) out += (out.size() > 1 ? ", \"" : "\"") + v + "\"";
  return out + "]";
}

std::vector<analysis::RunRecord> runs_by_rho(const DemoOptions& o, const std::string& sweep) {
  analysis::Registry registry(o.runs / run::kRegistryFile, false);
  auto runs = registry.list_runs({sweep, std::nullopt});
  for (auto& r : runs) r.final_metrics = registry.final_metrics(r.id);
  std::sort(runs.begin(), runs.end(), [](const auto& a, const auto& b) {
    return a.tag_number("rho").value_or(0) < b.tag_number("rho").value_or(0);
  });
  return runs;
}

std::map<std::string, eval::Comparison> by_task(const std::vector<eval::Comparison>& comparisons) {
  std::map<std::string, eval::Comparison> out;
  for (const auto& c : comparisons)
    if (!c.norm) out[c.task] = c;
  return out;
}

std::string fixed(double value, int digits, bool sign = false) {
  char text[32];
  std::snprintf(text, sizeof text, sign ? "%+.*f" : "%.*f", digits, value);
  return text;
}

// "+0.023 (p 0.41)"; p from McNemar's exact test on the same items.
std::string change(const eval::Comparison& c) {
  char p[32];
  std::snprintf(p, sizeof p, "%.2g", c.p_value);
  return fixed(c.diff, 3, true) + " (p " + p + ")";
}

// "+1.23 ± 0.08": the mean paired change of the gold choice's log-likelihood.
std::string gold_change(const eval::Comparison& c) {
  return fixed(c.gold_diff, 2, true) + " ± " + fixed(c.gold_diff_se, 2);
}

// One row per run and task: accuracy with its standard error, its change
// from the pretrained model (step 0 of the same run) and from rho = 0,
// both paired on the same items, and the same two changes of the gold
// choice's log-likelihood (nats per item, a measure that moves before the
// accuracy does). Markdown, also printed.
std::string summary_table(const std::vector<analysis::RunRecord>& runs) {
  std::string md =
      "| rho | steps | val loss basque | val loss generic | task | acc ± se | acc vs pretrained | acc vs rho 0 | "
      "gold log-lik vs pretrained | gold log-lik vs rho 0 |\n"
      "|---:|---:|---:|---:|:---|---:|---:|---:|---:|---:|\n";  // numbers right, the task name left
  const stdfs::path none_final = runs.empty() ? stdfs::path() : run::task_results_dir(runs.front().run_dir, runs.front().step);
  for (const auto& r : runs) {
    const stdfs::path start = run::task_results_dir(r.run_dir, 0), final = run::task_results_dir(r.run_dir, r.step);
    const auto gain = by_task(eval::compare_dirs(start, final));
    const auto replay = by_task(eval::compare_dirs(none_final, final));
    // The splits by the sweep's tags (practical.toml: target, generic).
    const auto loss = [&](const std::string& split) {
      auto it = r.final_metrics.find(split);
      return it == r.final_metrics.end() ? std::string("-") : fixed(it->second.loss, 3);
    };
    const bool is_reference = final == none_final;
    for (const auto& [task, c] : gain) {
      const double se = eval::accuracy_of(c.acc_b, static_cast<double>(c.shared)).stderr_;
      const auto other = replay.find(task);  // absent: the rho = 0 run did not score this task
      const bool paired = !is_reference && other != replay.end();
      md += "| " + fixed(r.tag_number("rho").value_or(0), 2) + " | " + std::to_string(r.step) + " | " +
            loss(r.tag("target")) + " | " + loss(r.tag("generic")) + " | " + task + " | " + fixed(c.acc_b, 3) +
            " ± " + fixed(se, 3) + " | " + change(c) + " | " + (paired ? change(other->second) : "-") + " | " +
            gold_change(c) + " | " + (paired ? gold_change(other->second) : "-") + " |\n";
    }
  }
  return md;
}

}  // namespace

std::vector<stdfs::path> run_practical_demo(const DemoOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  drop_basque_corpus_without_holdout(o);
  ensure_data(o, {"basque"});
  const stdfs::path tasks = ensure_help_tasks(o);
  const stdfs::path pretrained = pretrained_english_model(o);

  std::vector<std::string> task_files;
  for (const auto* list : {&kGainTasks, &kForgettingTasks})
    for (const auto& name : *list) task_files.push_back((tasks / (name + ".toml")).string());
  SweepSpec spec = load_sweep(o.root / "configs" / "micro" / "practical.toml",
                              {"data.sources.basque.store=\"" + (o.data / "micro" / "stores" / "basque").string() + "\"",
                               "train.init_from=\"" + pretrained.string() + "\"", "eval.tasks=" + toml_list(task_files)});
  const std::string sweep = run_demo_sweep(spec, o);

  analysis::Registry registry(o.runs / run::kRegistryFile, false);
  analysis::ReportOptions report;
  report.collect.sweep = sweep;
  report.out_dir = o.runs / run::kReportsDir / sweep;
  report.gain_tasks = kGainTasks;
  report.forgetting_tasks = kForgettingTasks;
  const analysis::ReportResult result = analysis::write_report(registry, report);

  const std::string table = summary_table(runs_by_rho(o, sweep));
  const stdfs::path summary = o.runs / run::kReportsDir / (sweep + "-summary.md");
  fs::write_file_atomic(summary,
                        "# Continued pretraining on Basque with replay (replay demo --practical)\n\n"
                        "Accuracy on the first items of each task; ± is the standard error over items; changes are "
                        "paired on the same items: accuracy with McNemar's exact p, the gold choice's "
                        "log-likelihood (nats per item) with its paired standard error.\n\n" + table);
  const std::string paths = format_summary(
      {{"report", result.markdown.string()}, {"html", result.html.string()}, {"summary", summary.string()}});
  std::fprintf(stderr, "%s%s", paths.c_str(), table.c_str());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "demo: finished in %s\n", format_duration(seconds).c_str());
  return {result.dir};
}

}  // namespace replay::sweep
