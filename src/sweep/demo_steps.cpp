#include "sweep/demo_steps.h"

#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "run/layout.h"
#include "store/builder.h"
#include "store/manifest.h"
#include "sweep/runner.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/interrupted.h"
#include "util/process.h"

namespace replay::sweep {

namespace stdfs = std::filesystem;

namespace {

// Micro scale (configs/micro/base.toml): sequences of 128 tokens of a small
// BPE vocabulary trained on all domains, so that a 1M-parameter model learns
// more than unigram statistics in half a million tokens.
constexpr int kMicroSeqLen = 128;
constexpr int kMicroVocab = 1024;

// True when the store exists and was built with today's validation rule: a
// store from before the per-document cap (store/split_rule.h) is rebuilt, so
// a data/ folder of an older checkout gives the same validation sets, and so
// the same numbers, as a fresh one.
bool store_is_current(const stdfs::path& dir) {
  const stdfs::path manifest = dir / store::kManifestName;
  if (!stdfs::exists(manifest)) return false;
  const store::Manifest m = store::manifest_from_json(fs::read_file(manifest), manifest.string());
  const uint64_t wanted = store::BuildOptions{}.val_doc_sequences;
  if (m.split_rule.val_doc_sequences == wanted) return true;
  std::fprintf(stderr, "demo: %s was built without today's validation rule (at most %llu sequences per "
               "document): rebuilding it\n", dir.string().c_str(), (unsigned long long)wanted);
  return false;
}

}  // namespace

// The stop signal may have reached the child from the terminal too: it is
// forwarded once.
void run_self(const std::vector<std::string>& args, const std::atomic<int>* stop_signal) {
  std::vector<std::string> argv = {process::self_executable().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string shown = "replay";
  for (const auto& a : args) shown += " " + a;
  std::fprintf(stderr, "demo: %s\n", shown.c_str());
  std::fflush(stderr);
  pid_t pid = process::spawn(argv);
  int status = 0, forwarded = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    const int signal = stop_signal ? stop_signal->load() : 0;
    if (signal && !forwarded) ::kill(pid, forwarded = signal);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (forwarded) throw Interrupted("demo stopped by signal " + std::to_string(forwarded) + " during: " + shown, forwarded);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw Error("demo step failed: " + shown);
}

void ensure_data(const DemoOptions& o, const std::vector<std::string>& domains) {
  const stdfs::path corpora = o.data / "corpora", tokenizer = o.data / "micro" / "tokenizer.json",
                    stores = o.data / "micro" / "stores";
  std::vector<std::string> needed = {"generic"};
  needed.insert(needed.end(), domains.begin(), domains.end());
  // The tokenizer is trained on every domain, so one tokenizer serves all
  // targets: without one, build the whole recipe first.
  if (!stdfs::exists(tokenizer)) {
    needed = {"generic"};
    needed.insert(needed.end(), kDemoDomains.begin(), kDemoDomains.end());
  }

  std::vector<std::string> corpus_cmd = {"corpus", "build", (o.root / "corpora" / "default.toml").string(),
                                         "--out", corpora.string(), "--cache",
                                         (o.data / "cache" / "packages").string()};
  bool missing_corpus = false;
  for (const auto& d : needed) {
    if (stdfs::exists(corpora / (d + ".jsonl.zst"))) continue;
    corpus_cmd.insert(corpus_cmd.end(), {"--domain", d});
    missing_corpus = true;
  }
  if (missing_corpus) run_self(corpus_cmd, o.stop_signal);

  if (!stdfs::exists(tokenizer)) {
    // Trained on a sample of every domain that exists, so one tokenizer serves all targets.
    std::vector<std::string> cmd = {"tokenizer", "train", "--vocab-size", std::to_string(kMicroVocab),
                                    "--sample-mb", "20", "-o", tokenizer.string()};
    // Sorted: the sample (and so the tokenizer) must not depend on directory order.
    std::vector<std::string> inputs;
    for (const auto& entry : stdfs::directory_iterator(corpora))
      if (entry.path().string().ends_with(".jsonl.zst")) inputs.push_back(entry.path().string());
    std::sort(inputs.begin(), inputs.end());
    cmd.insert(cmd.end(), inputs.begin(), inputs.end());
    run_self(cmd, o.stop_signal);
  }
  for (const auto& d : needed) {
    if (store_is_current(stores / d)) continue;
    run_self({"data", "build", "--tokenizer", tokenizer.string(), "--seq-len", std::to_string(kMicroSeqLen),
              "--domain", d, (corpora / (d + ".jsonl.zst")).string(), "--out", (stores / d).string()},
             o.stop_signal);
  }
}


std::string run_demo_sweep(const SweepSpec& spec, const DemoOptions& o) {
  SweepOptions options;
  options.registry = o.runs / run::kRegistryFile;
  options.runs_dir = o.runs;
  options.jobs = o.jobs;
  options.stop_signal = o.stop_signal;
  SweepSummary summary = run_sweep(spec, options);
  if (summary.failed + summary.interrupted > 0)
    throw Error(std::to_string(summary.failed + summary.interrupted) + " run(s) of sweep " + spec.name +
                " failed or were interrupted (rerun to resume): see `replay runs --sweep " + spec.name + "`");
  return spec.name;
}

std::vector<SummaryRow> summary_rows(const std::string& sweep, const analysis::ReportResult& report) {
  std::vector<SummaryRow> rows = {
      {"sweep", sweep}, {"  report", report.markdown.string()}, {"  html", report.html.string()}};
  if (report.fit) {
    char fit[160];
    std::snprintf(fit, sizeof fit, "L(x) = %.4g / x^%.4g + %.4g%s", report.fit->A, report.fit->B, report.fit->C,
                  report.fit->degenerate ? " (degenerate: effectively log-linear)" : "");
    rows.emplace_back("  reference fit", fit);
  }
  for (const auto& line : analysis::multiplier_lines(report.fit ? &*report.fit : nullptr, report.multipliers,
                                                     "fewer than 3 reference points"))
    rows.emplace_back("  multiplier", line);
  return rows;
}

std::string format_summary(const std::vector<SummaryRow>& rows) {
  size_t width = 0;
  for (const auto& [label, text] : rows) width = std::max(width, label.size());
  std::string out;
  for (const auto& [label, text] : rows)
    out += "demo: " + label + std::string(width - label.size(), ' ') + "  " + text + "\n";
  return out;
}

}  // namespace replay::sweep
