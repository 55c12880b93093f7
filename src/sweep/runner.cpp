#include "sweep/runner.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "analysis/metrics.h"
#include "analysis/registry.h"
#include "run/layout.h"
#include "run/run_config.h"
#include "run/state_key.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/process.h"

namespace replay::sweep {

namespace stdfs = std::filesystem;

namespace {

struct PlannedRun {
  const RunSpec* spec = nullptr;
  run::RunConfig config;
  std::string id;
  stdfs::path dir;
  bool done = false;
  int64_t branch_at = 0;                 // start from the root's published prefix
  int parent = -1;                       // index of the run that publishes it
  std::set<int64_t> publish_at;          // prefixes this run publishes for others
};

std::string number(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", value);
  return buf;
}

std::map<std::string, std::string> tags_for(const RunSpec& spec, const run::RunConfig& config) {
  std::map<std::string, std::string> tags = spec.tags;
  const auto& s = config.schedule.spec;
  if (!s.target.empty()) tags.emplace("target", s.target);
  if (!s.generic.empty()) tags.emplace("generic", s.generic);
  if (const auto& paper = config.plan.paper) {
    // x: the pool as a fraction of all training sequences (reference runs).
    tags.emplace("x", number(paper->f));
    tags.emplace("rho", number(paper->rho));
    tags.emplace("alpha", number(paper->alpha));
  }
  return tags;
}

// The target the run is measured on, as the registry records it.
analysis::TargetIdentity target_of(const run::RunConfig& config) {
  const run::SourceStore* target = config.target();
  if (!target) return {};
  return {target->name, target->domain.empty() ? target->name : target->domain,
          stdfs::absolute(target->dir).lexically_normal().string(), target->manifest_hash};
}

// A run branches from the earlier root (a run that trains from scratch) with
// which it shares the longest prefix; a root never needs a prefix it did not
// compute itself. Signatures are computed once per run.
void plan_prefix_sharing(std::vector<PlannedRun>& runs, double min_fraction) {
  std::vector<std::string> base(runs.size());
  std::vector<std::vector<uint64_t>> signatures(runs.size());
  std::vector<int> roots;
  for (int i = 0; i < static_cast<int>(runs.size()); ++i) {
    if (runs[i].done) continue;
    const auto& config = runs[i].config;
    base[i] = run::state_base_key(config);
    signatures[i] = run::step_signatures(config, config.settings.train.steps);
    int best = -1;
    int64_t best_steps = 0;
    for (int r : roots) {
      if (base[r] != base[i]) continue;
      auto [a, b] = std::mismatch(signatures[i].begin(), signatures[i].end(), signatures[r].begin(),
                                  signatures[r].end());
      const int64_t shared = a - signatures[i].begin();
      if (shared > best_steps) best = r, best_steps = shared;
    }
    const int64_t steps = config.settings.train.steps;
    if (best < 0 || best_steps >= steps ||
        static_cast<double>(best_steps) < min_fraction * static_cast<double>(steps)) {
      roots.push_back(i);
      continue;
    }
    runs[i].branch_at = best_steps;
    runs[i].parent = best;
    runs[best].publish_at.insert(best_steps);
  }
}

std::vector<std::string> train_command(const SweepSpec& sweep, const PlannedRun& run,
                                       const stdfs::path& binary, int threads) {
  std::vector<std::string> argv = {binary.string(), "train", sweep.base.string()};
  for (const auto& o : run.spec->overrides) {
    argv.push_back("--set");
    argv.push_back(o);
  }
  for (const std::string& o : {"out=\"" + run.dir.string() + "\"", "threads=" + std::to_string(threads)}) {
    argv.push_back("--set");
    argv.push_back(o);
  }
  for (int64_t s : run.publish_at) {
    argv.push_back("--publish-prefix");
    argv.push_back(std::to_string(s));
  }
  if (run.branch_at > 0) {
    argv.push_back("--branch-at");
    argv.push_back(std::to_string(run.branch_at));
  }
  return argv;
}

// The step a run's trainer started from a shared state at, 0 if it did not.
int64_t branched_at(const stdfs::path& run_dir) {
  const stdfs::path marker = run_dir / run::kBranchFile;
  if (!stdfs::exists(marker)) return 0;
  try {
    return nlohmann::json::parse(fs::read_file(marker)).at(run::kBranchKey).get<int64_t>();
  } catch (const std::exception&) {
    return 0;  // unreadable marker: record no branch (the numbers are the same either way)
  }
}

// The last "replay: error: ..." line of a log, else its last line. Lines end
// at '\r' too (not util/lines.h): the trainer redraws its progress line with
// carriage returns, and each redraw is a line here.
std::string failure_reason(const stdfs::path& log, int status) {
  std::string text;
  try {
    text = fs::read_file(log);
  } catch (const Error&) {
  }
  std::string last, error;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find_first_of("\r\n", start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty()) last = line;
    if (line.rfind("replay: error:", 0) == 0) error = line;
    start = end + 1;
  }
  std::string why = !error.empty() ? error : last;
  std::string code = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                         : "exit " + std::to_string(WEXITSTATUS(status));
  return code + (why.empty() ? "" : ": " + why) + " (log: " + log.string() + ")";
}

// Resolves every run first and adds it to the registry: a bad config stops
// the sweep before any training.
std::vector<PlannedRun> resolve_runs(const SweepSpec& sweep, const SweepOptions& options,
                                     analysis::Registry& registry) {
  std::vector<PlannedRun> runs;
  runs.reserve(sweep.runs.size());
  for (const RunSpec& spec : sweep.runs) {
    PlannedRun run;
    run.spec = &spec;
    try {
      run.config = run::load_run_config(sweep.base, spec.overrides);
    } catch (const Error& e) {
      throw Error(sweep.file.string() + ": run '" + spec.name + "': " + e.what());
    }
    run.id = run.config.content_hash;
    run.dir = run::run_dir_for(options.runs_dir, run.id);
    analysis::NewRun entry{run.config.resolved.dump(2), run.id, sweep.name, spec.name,
                           tags_for(spec, run.config), stdfs::absolute(run.dir).string(),
                           target_of(run.config)};
    registry.add_run(entry);
    auto record = registry.get_run(run.id);
    run.done = record.status == analysis::RunStatus::done;
    if (record.status == analysis::RunStatus::failed && !options.retry_failed) run.done = true;
    runs.push_back(std::move(run));
  }
  return runs;
}

SweepSummary summarize(const std::vector<PlannedRun>& runs) {
  SweepSummary summary;
  summary.runs = static_cast<int>(runs.size());
  for (const auto& run : runs) {
    summary.steps_total += run.config.settings.train.steps;
    if (run.done) ++summary.skipped;
    if (run.branch_at > 0) {
      ++summary.branched;
      summary.steps_shared += run.branch_at;
    }
  }
  return summary;
}

// Runs the runs that are not done as `replay train` processes, at most
// `jobs` at a time, each one after the run whose prefix it branches from.
class Execution {
 public:
  Execution(const SweepSpec& sweep, const SweepOptions& options, analysis::Registry& registry,
            std::vector<PlannedRun>& runs, SweepSummary& summary)
      : sweep_(sweep), options_(options), registry_(registry), runs_(runs), summary_(summary),
        state_(runs.size(), waiting) {
    jobs_ = std::max(1, options.jobs);
    const int cores = options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
    threads_per_job_ = std::max(1, cores / jobs_);
    binary_ = options.replay_binary.empty() ? process::self_executable() : options.replay_binary;
    for (size_t i = 0; i < runs.size(); ++i) {
      if (runs[i].done) state_[i] = finished;
      else ++to_run_;
    }
  }

  void run() {
    start_ = std::chrono::steady_clock::now();
    while (finished_ < to_run_) {
      for (size_t i = 0; i < runs_.size() && static_cast<int>(running_.size()) < jobs_; ++i)
        if (ready(i)) start(i);
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, 0);
      if (pid < 0) throw Error("lost track of the training processes");
      auto it = running_.find(pid);
      if (it == running_.end()) continue;
      const size_t i = it->second;
      running_.erase(it);
      finish(i, status);
    }
  }

 private:
  enum State { waiting, started, finished };

  bool ready(size_t i) const {
    return state_[i] == waiting && (runs_[i].parent < 0 || state_[static_cast<size_t>(runs_[i].parent)] == finished);
  }

  void say(const std::string& text) const {
    if (options_.console) std::fprintf(options_.console, "%s\n", text.c_str());
  }

  void start(size_t i) {
    PlannedRun& run = runs_[i];
    registry_.mark_running(run.id);
    const pid_t pid = process::spawn(train_command(sweep_, run, binary_, threads_per_job_), run.dir / run::kTrainLog);
    running_[pid] = i;
    state_[i] = started;
    say("[" + std::to_string(finished_ + running_.size()) + "/" + std::to_string(to_run_) + "] start " +
        run.spec->name + (run.branch_at ? " (branching at step " + std::to_string(run.branch_at) + ")" : "") +
        " -> " + run.dir.string());
  }

  void finish(size_t i, int status) {
    state_[i] = finished;
    ++finished_;
    PlannedRun& run = runs_[i];
    const stdfs::path metrics_file = run.dir / run::kMetricsFile;
    std::optional<analysis::RunMetrics> metrics;
    if (stdfs::exists(metrics_file)) {
      metrics = analysis::read_metrics(metrics_file);
      registry_.import_metrics(run.id, *metrics);
    }
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (ok) {
      record_success(run, metrics ? metrics->median_tokens_per_s() : std::nullopt);
    } else {
      const std::string why = failure_reason(run.dir / run::kTrainLog, status);
      registry_.mark_failed(run.id, why);
      ++summary_.failed;
      say("failed: " + run.spec->name + ": " + why);
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double eta = elapsed / static_cast<double>(finished_) * static_cast<double>(to_run_ - finished_);
    char line[256];
    std::snprintf(line, sizeof line, "[%zu/%zu] %s %s  elapsed %.0fs, ETA %.0fs", finished_, to_run_,
                  ok ? "done" : "FAILED", run.spec->name.c_str(), elapsed, eta);
    say(line);
  }

  // The trainer leaves kBranchFile only when it really started from a shared
  // state, which may be a later one than the planned branch (a phase another
  // run published); the registry records the planned parent only for the
  // planned branch.
  void record_success(const PlannedRun& run, std::optional<double> tokens_per_s) {
    const int64_t started_at = branched_at(run.dir);
    if (run.branch_at > 0 && started_at == run.branch_at) {
      registry_.record_branch(run.id, runs_[static_cast<size_t>(run.parent)].id, run.branch_at);
    } else if (started_at > 0) {
      say("note: " + run.spec->name + " started from a shared state after step " + std::to_string(started_at));
    } else if (run.branch_at > 0) {
      say("note: " + run.spec->name + " found no shared prefix and trained from scratch");
    }
    registry_.mark_done(run.id, tokens_per_s);
    ++summary_.done;
  }

  const SweepSpec& sweep_;
  const SweepOptions& options_;
  analysis::Registry& registry_;
  std::vector<PlannedRun>& runs_;
  SweepSummary& summary_;
  std::vector<State> state_;
  std::map<pid_t, size_t> running_;
  size_t finished_ = 0, to_run_ = 0;
  int jobs_ = 1, threads_per_job_ = 1;
  stdfs::path binary_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

SweepSummary run_sweep(const SweepSpec& sweep, const SweepOptions& options) {
  analysis::Registry registry(options.registry);
  std::vector<PlannedRun> runs = resolve_runs(sweep, options, registry);
  if (options.share_prefixes) plan_prefix_sharing(runs, options.min_prefix_fraction);
  SweepSummary summary = summarize(runs);
  if (options.console) {
    std::fprintf(options.console,
                 "sweep %s: %d runs, %d already done, %d branch from a shared prefix (%lld of %lld steps not "
                 "recomputed)\n",
                 sweep.name.c_str(), summary.runs, summary.skipped, summary.branched,
                 static_cast<long long>(summary.steps_shared), static_cast<long long>(summary.steps_total));
  }
  Execution(sweep, options, registry, runs, summary).run();
  return summary;
}

}  // namespace replay::sweep
