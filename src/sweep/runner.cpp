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
    return nlohmann::json::parse(fs::read_file(marker)).at("branch_at").get<int64_t>();
  } catch (const std::exception&) {
    return 0;  // unreadable marker: record no branch (the numbers are the same either way)
  }
}

// The last "replay: error: ..." line of a log, else its last line.
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

}  // namespace

SweepSummary run_sweep(const SweepSpec& sweep, const SweepOptions& options) {
  analysis::Registry registry(options.registry);
  auto say = [&](const std::string& text) {
    if (options.console) std::fprintf(options.console, "%s\n", text.c_str());
  };

  // Resolve every run first: a bad config stops the sweep before any training.
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
  if (options.share_prefixes) plan_prefix_sharing(runs, options.min_prefix_fraction);

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
  say("sweep " + sweep.name + ": " + std::to_string(summary.runs) + " runs, " +
      std::to_string(summary.skipped) + " already done, " + std::to_string(summary.branched) +
      " branch from a shared prefix (" + std::to_string(summary.steps_shared) + " of " +
      std::to_string(summary.steps_total) + " steps not recomputed)");

  const int jobs = std::max(1, options.jobs);
  int cores = options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  const int threads_per_job = std::max(1, cores / jobs);
  const stdfs::path binary = options.replay_binary.empty() ? process::self_executable()
                                                            : options.replay_binary;

  std::map<pid_t, int> running;  // pid -> run index
  std::vector<int> state(runs.size(), 0);  // 0 waiting, 1 running, 2 finished
  size_t finished = 0, to_run = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    if (runs[i].done) state[i] = 2;
    else ++to_run;
  }
  const auto sweep_start = std::chrono::steady_clock::now();
  auto ready = [&](size_t i) {
    return state[i] == 0 && (runs[i].parent < 0 || state[static_cast<size_t>(runs[i].parent)] == 2);
  };
  while (finished < to_run) {
    for (size_t i = 0; i < runs.size() && static_cast<int>(running.size()) < jobs; ++i) {
      if (!ready(i)) continue;
      PlannedRun& run = runs[i];
      registry.mark_running(run.id);
      pid_t pid = process::spawn(train_command(sweep, run, binary, threads_per_job), run.dir / run::kTrainLog);
      running[pid] = static_cast<int>(i);
      state[i] = 1;
      say("[" + std::to_string(finished + running.size()) + "/" + std::to_string(to_run) + "] start " +
          run.spec->name + (run.branch_at ? " (branching at step " + std::to_string(run.branch_at) + ")" : "") +
          " -> " + run.dir.string());
    }
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) throw Error("lost track of the training processes");
    auto it = running.find(pid);
    if (it == running.end()) continue;
    const size_t i = static_cast<size_t>(it->second);
    running.erase(it);
    state[i] = 2;
    ++finished;
    PlannedRun& run = runs[i];
    const stdfs::path metrics_file = run.dir / run::kMetricsFile;
    if (stdfs::exists(metrics_file)) registry.import_metrics(run.id, analysis::read_metrics(metrics_file));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      // The trainer leaves kBranchFile only when it really started from a
      // shared state; otherwise it trained from scratch (same numbers, no saving).
      if (run.branch_at > 0 && branched_at(run.dir) == run.branch_at) {
        registry.record_branch(run.id, runs[static_cast<size_t>(run.parent)].id, run.branch_at);
      } else if (run.branch_at > 0) {
        say("note: " + run.spec->name + " found no shared prefix and trained from scratch");
      }
      auto metrics = analysis::read_metrics(metrics_file);
      registry.mark_done(run.id, metrics.median_tokens_per_s());
      ++summary.done;
    } else {
      std::string why = failure_reason(run.dir / run::kTrainLog, status);
      registry.mark_failed(run.id, why);
      ++summary.failed;
      say("failed: " + run.spec->name + ": " + why);
    }
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - sweep_start).count();
    double eta = elapsed / static_cast<double>(finished) * static_cast<double>(to_run - finished);
    char line[256];
    std::snprintf(line, sizeof line, "[%zu/%zu] %s %s  elapsed %.0fs, ETA %.0fs", finished, to_run,
                  state[i] == 2 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "done" : "FAILED",
                  run.spec->name.c_str(), elapsed, eta);
    say(line);
  }
  return summary;
}

}  // namespace replay::sweep
