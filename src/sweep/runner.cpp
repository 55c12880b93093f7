#include "sweep/runner.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cmath>
#include <cstring>
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
#include "sweep/progress.h"
#include "sweep/run_record.h"
#include "util/duration.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/file_lock.h"
#include "util/interrupted.h"
#include "util/process.h"
#include "util/stop_signals.h"
#include "util/worker_pool.h"

namespace replay::sweep {

namespace stdfs = std::filesystem;

namespace {

// One run to train: every name of the sweep whose config resolves to the
// same content hash is this one run (one run folder, one trainer).
struct PlannedRun {
  std::vector<const RunSpec*> specs;     // its names in the sweep, in sweep order
  run::RunConfig config;
  std::string id;
  stdfs::path dir;
  bool done = false;
  int64_t branch_at = 0;                 // start from the root's published prefix
  int parent = -1;                       // index of the run that publishes it
  std::set<int64_t> publish_at;          // prefixes this run publishes for others
  bool mine = true;                      // in this worker's share (options.shard)
  stdfs::path prefix_dir;                // the parent's published state, when the parent is not mine
  std::string status_seen;               // claim mode: its status.json when this worker planned

  const RunSpec& spec() const { return *specs.front(); }
  // "a" or, for one config under several names, "a = b".
  std::string label() const {
    std::string text;
    for (const RunSpec* s : specs) text += (text.empty() ? "" : " = ") + s->name;
    return text;
  }
};

// The run's folder says a trainer completed it (sweep/run_record.h).
bool folder_done(const stdfs::path& run_dir) {
  const auto outcome = folder_outcome(run_dir);
  return outcome && outcome->status == analysis::RunStatus::done;
}

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
    // Where stage 2 starts, as the plan computed it, for the report's curves.
    if (paper->boundary_step > 0 && paper->stage2_steps > 0)
      tags.emplace("stage2_step", std::to_string(paper->boundary_step));
  }
  if (const auto& c = config.plan.continued) {
    tags.emplace("rho", number(c->rho));
    tags.emplace("target_steps", std::to_string(c->target_steps));
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

// Runs of this share whose parent is another share's (with claims: every
// run with a parent, since any may be another worker's): where that parent
// publishes their prefix (what the trainer's --branch-at will look for).
void locate_foreign_prefixes(std::vector<PlannedRun>& runs, const stdfs::path& runs_dir, bool claim) {
  for (PlannedRun& run : runs) {
    if (!run.mine || run.parent < 0 || (!claim && runs[static_cast<size_t>(run.parent)].mine)) continue;
    const std::string& shared = run.config.settings.shared;
    const stdfs::path shared_dir = shared.empty() ? runs_dir / run::kSharedDirName : stdfs::path(shared);
    run.prefix_dir = shared_dir / run::state_key(run.config, run.branch_at);
  }
}

std::vector<std::string> train_command(const SweepSpec& sweep, const PlannedRun& run,
                                       const stdfs::path& binary, int threads) {
  std::vector<std::string> argv = {binary.string(), "train", sweep.base.string()};
  for (const auto& o : run.spec().overrides) {
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

// Resolves every run before anything is written: a bad config refuses the
// sweep and leaves the registry as it was. Names that resolve to the same
// config become one run.
std::vector<PlannedRun> resolve_runs(const SweepSpec& sweep, const SweepOptions& options) {
  std::vector<PlannedRun> runs;
  std::map<std::string, size_t> by_id;
  for (const RunSpec& spec : sweep.runs) {
    run::RunConfig config;
    try {
      config = run::load_run_config(sweep.base, spec.overrides);
    } catch (const Error& e) {
      throw Error(sweep.file.string() + ": run '" + spec.name + "': " + e.what());
    }
    auto [it, is_new] = by_id.emplace(config.content_hash, runs.size());
    if (!is_new) {
      runs[it->second].specs.push_back(&spec);
      continue;
    }
    PlannedRun run;
    run.specs = {&spec};
    run.id = config.content_hash;
    run.dir = run::run_dir_for(options.runs_dir, run.id);
    run.config = std::move(config);
    runs.push_back(std::move(run));
  }
  return runs;
}

// The run's membership of the sweep, as the registry and the run folder record it.
Membership membership_of(const SweepSpec& sweep, const PlannedRun& run) {
  Membership m{sweep.name, run.id, run.config.resolved.dump(2), target_of(run.config), {}};
  for (const RunSpec* spec : run.specs) m.names.emplace_back(spec->name, tags_for(*spec, run.config));
  return m;
}

// The registry's entries of the run: one per name.
std::vector<analysis::NewRun> registry_entries(const SweepSpec& sweep, const PlannedRun& run) {
  std::vector<analysis::NewRun> entries;
  const Membership m = membership_of(sweep, run);
  for (const auto& [name, tags] : m.names)
    entries.push_back({m.config, run.id, sweep.name, name, tags, stdfs::absolute(run.dir).string(), m.target});
  return entries;
}

// Which status.json the folder holds ("" for none): its inode and mtime
// change when a trainer's end is recorded (an atomic rename), so a claim-mode
// worker tells an outcome of this round from one it found when it started.
std::string status_stamp(const stdfs::path& run_dir) {
  struct stat st{};
  if (::stat((run_dir / run::kStatusFile).c_str(), &st) != 0) return "";
  return std::to_string(st.st_ino) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

// Claim mode: nothing is registered before it is claimed; a run is done when
// its folder says so (or failed, when failures are not retried).
void plan_claimed_runs(const SweepOptions& options, std::vector<PlannedRun>& runs) {
  for (PlannedRun& run : runs) {
    const auto outcome = folder_outcome(run.dir);
    run.done = outcome && (outcome->status == analysis::RunStatus::done ||
                           (outcome->status == analysis::RunStatus::failed && !options.retry_failed));
    run.status_seen = status_stamp(run.dir);
  }
}

// A run its folder says is done: its metrics and throughput into the registry.
analysis::RunStatus record_folder_done(const PlannedRun& run, analysis::Registry& registry) {
  std::optional<double> tokens_per_s;
  if (const auto outcome = folder_outcome(run.dir)) tokens_per_s = outcome->tokens_per_s;
  if (stdfs::exists(run.dir / run::kMetricsFile))
    registry.import_metrics(run.id, analysis::read_metrics(run.dir / run::kMetricsFile));
  registry.mark_done(run.id, tokens_per_s);
  return analysis::RunStatus::done;
}

// Adds every run of this worker's share under all its names in one
// transaction and records the membership in each run folder, then reads
// which are already done (a rerun skips them). A run its folder says is done
// (another worker's registry recorded it) is recorded done here too. Runs of
// other shares are done when their folders say so, which is all a worker
// knows of them.
void register_runs(const SweepSpec& sweep, const SweepOptions& options, std::vector<PlannedRun>& runs,
                   analysis::Registry& registry) {
  std::vector<analysis::NewRun> entries;
  for (const PlannedRun& run : runs) {
    if (!run.mine) continue;
    const auto mine = registry_entries(sweep, run);
    entries.insert(entries.end(), mine.begin(), mine.end());
  }
  registry.add_runs(entries);
  for (PlannedRun& run : runs) {
    if (!run.mine) {
      run.done = folder_done(run.dir);
      continue;
    }
    write_membership(run.dir, membership_of(sweep, run));
    auto status = registry.get_run(run.id).status;
    if (status != analysis::RunStatus::done && folder_done(run.dir)) status = record_folder_done(run, registry);
    run.done = status == analysis::RunStatus::done || (status == analysis::RunStatus::failed && !options.retry_failed);
  }
}

SweepSummary summarize(const std::vector<PlannedRun>& runs) {
  SweepSummary summary;
  for (const auto& run : runs) {
    if (!run.mine) continue;
    ++summary.runs;
    summary.names += static_cast<int>(run.specs.size());
    summary.steps_total += run.config.settings.train.steps;
    if (run.done) ++summary.skipped;
    if (run.branch_at > 0) {
      ++summary.branched;
      summary.steps_shared += run.branch_at;
    }
  }
  return summary;
}

// How often the sweep looks at its trainers, the stop flag and the locks of
// runs another process is computing: short enough to forward a Ctrl-C at
// once, long enough to cost nothing beside training.
constexpr auto kPollInterval = std::chrono::milliseconds(50);
// How often the running runs' metrics are read and their lines refreshed.
constexpr auto kProgressInterval = std::chrono::seconds(1);
// Claim mode: how often a run another worker holds is tried again (a look
// at its claims folder; on a network filesystem a few metadata requests).
constexpr auto kClaimRetryInterval = std::chrono::seconds(1);

// The exit code of a child as a shell reports it (128 + signal if killed).
int exit_code_of(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

// Runs the runs that are not done as `replay train` processes, at most
// `jobs` at a time, each one after the run whose prefix it branches from.
// Only one trainer per run folder: a run whose folder another process holds
// (another sweep's trainer) is waited for, then reused if that finished it.
// A stop signal is forwarded to the trainers, which save a checkpoint; their
// runs are recorded `interrupted` and the sweep ends with replay::Interrupted.
class Execution {
 public:
  Execution(const SweepSpec& sweep, const SweepOptions& options, analysis::Registry& registry,
            std::vector<PlannedRun>& runs, SweepSummary& summary)
      : sweep_(sweep), options_(options), registry_(registry), runs_(runs), summary_(summary),
        state_(runs.size(), waiting), host_(process::host_name()),
        board_(options.console, options.console && ::isatty(::fileno(options.console))) {
    if (options.claim) claims_.emplace(sweep.name, options.claim_timeout_s);
    jobs_ = std::max(1, options.jobs);
    const int cores = resolve_threads(options.threads);
    threads_per_job_ = std::max(1, cores / jobs_);
    binary_ = options.replay_binary.empty() ? process::self_executable() : options.replay_binary;
    for (size_t i = 0; i < runs.size(); ++i) {
      if (runs[i].done || !runs[i].mine) state_[i] = finished;
      else ++to_run_;
    }
  }

  void run() {
    start_ = ProgressClock::now();
    while (finished_ < to_run_ && !stop_requested()) {
      for (size_t i = 0; i < runs_.size() && static_cast<int>(running_.size()) < jobs_; ++i)
        if (ready(i)) try_start(i);
      if (claims_) keep_claims();
      if (reap(WNOHANG)) continue;
      show_progress();
      std::this_thread::sleep_for(kPollInterval);
    }
    board_.erase();
    if (const int signal = stop_requested()) stop(signal);
  }

 private:
  // busy: another process holds its folder; elsewhere: another worker's claim (claim mode)
  enum State { waiting, busy, elsewhere, started, finished };

  int stop_requested() const { return options_.stop_signal ? options_.stop_signal->load() : 0; }

  bool ready(size_t i) {
    if (state_[i] != waiting && state_[i] != busy && state_[i] != elsewhere) return false;
    const int parent = runs_[i].parent;
    if (parent < 0) return true;
    if (parent_trained_elsewhere(static_cast<size_t>(parent))) return prefix_published(i);
    return state_[static_cast<size_t>(parent)] == finished;
  }

  // The one rule for a parent another worker trains, with shards (another
  // share's run) and with claims (another worker's claim): its child waits
  // for the published prefix (prefix_published), never for the parent.
  bool parent_trained_elsewhere(size_t parent) const {
    return claims_ ? state_[parent] == elsewhere : !runs_[parent].mine;
  }

  // Whether the run is in this worker's registry (a branch is recorded
  // between two registered runs only).
  bool registered_here(size_t i) const { return claims_ ? registered_.count(i) > 0 : runs_[i].mine; }

  // Run i branches from a run of another share: ready once that run's state
  // is published, or after options.prefix_wait_s without it (then it trains
  // from scratch: the same numbers, only slower).
  bool prefix_published(size_t i) {
    PlannedRun& run = runs_[i];
    if (stdfs::exists(run.prefix_dir)) return true;
    const auto now = ProgressClock::now();
    const auto [it, first] = prefix_wait_since_.emplace(i, now);
    const std::string parent = runs_[static_cast<size_t>(run.parent)].label();
    if (first)
      say(run.label() + ": waiting up to " + format_duration(options_.prefix_wait_s) + " for the prefix of " + parent +
          " (another worker's run) at step " + std::to_string(run.branch_at));
    if (std::chrono::duration<double>(now - it->second).count() < options_.prefix_wait_s) return false;
    say(run.label() + ": the prefix of " + parent + " was not published in time; training from scratch");
    run.branch_at = 0;
    return true;
  }

  void say(const std::string& text) { board_.say(text); }

  // Every kProgressInterval: the running runs' lines, from their metrics.
  void show_progress() {
    const auto now = ProgressClock::now();
    if (now - last_progress_ < kProgressInterval) return;
    last_progress_ = now;
    for (auto& [i, progress] : progress_) progress.poll(now);
    const double sweep_eta = sweep_eta_s(now);
    std::map<size_t, std::string> lines;
    for (const auto& [i, progress] : progress_)
      if (progress.has_step()) lines.emplace(i, progress.line(sweep_eta));
    board_.show(lines, now);
  }

  // The sweep's ETA: its elapsed time scaled by the steps left over the
  // steps trained so far (startup, evaluation and parallel jobs included in
  // the pace). Steps are counted from each run's first step seen, so the
  // steps of a checkpoint or shared prefix are not taken for speed. Before
  // any step was seen, finished runs over runs left.
  double sweep_eta_s(ProgressClock::time_point now) const {
    int64_t done = steps_trained_, left = 0;
    for (size_t i = 0; i < runs_.size(); ++i) {
      if (state_[i] == finished) continue;
      const int64_t steps = runs_[i].config.settings.train.steps;
      const auto it = progress_.find(i);
      if (it != progress_.end() && it->second.has_step()) {
        done += it->second.steps_trained();
        left += std::max<int64_t>(0, steps - it->second.step());
      } else {
        left += steps - runs_[i].branch_at;
      }
    }
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double eta = eta_seconds(elapsed, static_cast<double>(done), static_cast<double>(left));
    if (!std::isnan(eta)) return eta;
    return eta_seconds(elapsed, static_cast<double>(finished_), static_cast<double>(to_run_ - finished_));
  }

  // The folder's lock is probed (and let go) before spawning: a held one
  // means another process's trainer works there, and a second one would be
  // refused. The registry is read again: that process may have finished it.
  void try_start(size_t i) {
    PlannedRun& run = runs_[i];
    if (claims_ && !claim(i)) return;
    stdfs::create_directories(run.dir);
    {
      fs::FileLock probe(run.dir / run::kLockFile);
      if (!probe.held()) return wait_for_holder(i, probe.holder_pid());
    }
    if (registry_.get_run(run.id).status == analysis::RunStatus::done) return reuse(i);
    // The holder's trainer lets go of the folder when it exits, before its
    // sweep records the run done: the folder's summary says it completed.
    if (state_[i] == busy && stdfs::exists(run.dir / run::kSummaryFile)) return reuse(i);
    start(i);
  }

  void wait_for_holder(size_t i, long holder) {
    if (state_[i] == busy) return;  // said once
    state_[i] = busy;
    say(runs_[i].label() + ": being computed by " + (holder > 0 ? "PID " + std::to_string(holder) : "another process") +
        " (" + runs_[i].dir.string() + "), waiting");
  }

  // Claim mode: true when this worker holds the run's claim and the run is
  // still to be trained here. A run another worker holds is tried again
  // every kClaimRetryInterval: its claim is released when that worker ends
  // it, or taken over when stale (sweep/claims.h).
  bool claim(size_t i) {
    PlannedRun& run = runs_[i];
    if (claims_->holds(run.dir)) return true;
    const auto now = ProgressClock::now();
    const auto [last, first] = last_claim_try_.try_emplace(i, now);
    if (!first && now - last->second < kClaimRetryInterval) return false;
    last->second = now;
    if (!claims_->try_claim(run.dir)) {
      if (state_[i] != elsewhere) say(run.label() + ": claimed by " + holder_of(run) + ", leaving it to that worker");
      state_[i] = elsewhere;
      return false;
    }
    const auto outcome = folder_outcome(run.dir);
    const bool this_round = status_stamp(run.dir) != run.status_seen;
    if (outcome && outcome->status == analysis::RunStatus::done) return ended_elsewhere(i, "done by another worker");
    if (outcome && outcome->status == analysis::RunStatus::failed && (this_round || !options_.retry_failed))
      return ended_elsewhere(i, "failed on another worker (" + outcome->error + ")");
    state_[i] = waiting;
    register_run(i);
    return true;
  }

  std::string holder_of(const PlannedRun& run) const {
    const auto holder = claims_->holder(run.dir);
    return holder ? holder->host + " pid " + std::to_string(holder->pid) : "another worker";
  }

  // Claim mode: another worker ended the run (this one holds its claim for a
  // moment to read the folder, and lets go). Returns false: nothing to start.
  bool ended_elsewhere(size_t i, const std::string& what) {
    claims_->release(runs_[i].dir);
    state_[i] = finished;
    ++finished_;
    ++summary_.by_others;
    say("[" + std::to_string(finished_) + "/" + std::to_string(to_run_) + "] " + runs_[i].label() + ": " + what);
    return false;
  }

  // Claim mode: the run enters this worker's registry and its folder gets
  // the sweep's membership, as register_runs does for every run otherwise.
  void register_run(size_t i) {
    if (!registered_.insert(i).second) return;
    registry_.add_runs(registry_entries(sweep_, runs_[i]));
    write_membership(runs_[i].dir, membership_of(sweep_, runs_[i]));
  }

  // Claim mode: refreshes the held claims; a trainer whose claim another
  // worker took over is killed at once, so that it writes nothing more into
  // the folder the new holder now trains in.
  void keep_claims() {
    for (const stdfs::path& dir : claims_->heartbeat())
      for (const auto& [pid, i] : running_)
        if (runs_[i].dir == dir) {
          ::kill(pid, SIGKILL);
          claim_lost_.insert(i);
          say(runs_[i].label() + ": its claim was taken over by " + holder_of(runs_[i]) +
              " (not refreshed within " + format_duration(options_.claim_timeout_s) + "); stopped its trainer");
        }
  }

  void reuse(size_t i) {
    const PlannedRun& run = runs_[i];
    if (registry_.get_run(run.id).status != analysis::RunStatus::done) {
      std::optional<double> tokens_per_s;
      if (stdfs::exists(run.dir / run::kMetricsFile)) {
        const analysis::RunMetrics metrics = analysis::read_metrics(run.dir / run::kMetricsFile);
        registry_.import_metrics(run.id, metrics);
        tokens_per_s = metrics.median_tokens_per_s();
      }
      registry_.mark_done(run.id, tokens_per_s);
    }
    if (claims_) claims_->release(run.dir);
    state_[i] = finished;
    ++finished_;
    ++summary_.reused;
    say("[" + std::to_string(finished_) + "/" + std::to_string(to_run_) + "] " + runs_[i].label() +
        ": done by another process, reusing its result");
  }

  void start(size_t i) {
    PlannedRun& run = runs_[i];
    process::SpawnOptions spawn{run.dir / run::kTrainLog, /*own_process_group=*/true};
    const pid_t pid = process::spawn(train_command(sweep_, run, binary_, threads_per_job_), spawn);
    running_[pid] = i;
    state_[i] = started;
    registry_.mark_running(run.id, pid, host_);
    const size_t number = finished_ + running_.size();
    progress_.emplace(i, RunProgress(run.label(), number, to_run_, run.config.settings.train.steps, run.dir,
                                     ProgressClock::now()));
    say("[" + std::to_string(number) + "/" + std::to_string(to_run_) + "] start " + run.label() +
        (run.branch_at ? " (branching at step " + std::to_string(run.branch_at) + ")" : "") + " -> " +
        run.dir.string());
  }

  // Collects one ended trainer; false when none has ended (WNOHANG) or none runs.
  bool reap(int flags) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, flags);
    if (pid == 0 || (pid < 0 && errno == ECHILD)) return false;
    if (pid < 0) {
      if (errno == EINTR) return true;
      throw Error("lost track of the training processes: waitpid: " + std::string(std::strerror(errno)));
    }
    auto it = running_.find(pid);
    if (it == running_.end()) return true;
    const size_t i = it->second;
    running_.erase(it);
    finish(i, status);
    return true;
  }

  void finish(size_t i, int status) {
    PlannedRun& run = runs_[i];
    const int code = exit_code_of(status);
    if (code == fs::kLockHeldExit) {
      progress_.erase(i);  // what its metrics showed was the holder's training
      return refused(i);
    }
    if (claim_lost_.erase(i)) return lost(i);
    const double run_s = end_progress(i);
    state_[i] = finished;
    ++finished_;
    const stdfs::path metrics_file = run.dir / run::kMetricsFile;
    std::optional<analysis::RunMetrics> metrics;
    if (stdfs::exists(metrics_file)) {
      metrics = analysis::read_metrics(metrics_file);
      registry_.import_metrics(run.id, *metrics);
    }
    const char* outcome = "done";
    if (code == 0) {
      write_outcome(run.dir, record_success(run, metrics ? metrics->median_tokens_per_s() : std::nullopt));
    } else if (stopped_by_signal(code)) {
      outcome = "interrupted";
      const std::string why = failure_reason(run.dir / run::kTrainLog, status);
      registry_.mark_interrupted(run.id, why);
      write_outcome(run.dir, {analysis::RunStatus::interrupted, why, std::nullopt, "", 0});
      ++summary_.interrupted;
    } else {
      outcome = "FAILED";
      const std::string why = failure_reason(run.dir / run::kTrainLog, status);
      registry_.mark_failed(run.id, why);
      write_outcome(run.dir, {analysis::RunStatus::failed, why, std::nullopt, "", 0});
      ++summary_.failed;
      say("failed: " + run.label() + ": " + why);
    }
    if (claims_) claims_->release(run.dir);  // after its outcome is in the folder
    const auto now = ProgressClock::now();
    say("[" + std::to_string(finished_) + "/" + std::to_string(to_run_) + "] " + outcome + " " + run.label() +
        " in " + format_duration(run_s) + "; sweep elapsed " +
        format_duration(std::chrono::duration<double>(now - start_).count()) + ", ETA " +
        format_duration(sweep_eta_s(now)));
  }

  // Claim mode: the trainer of a run whose claim was taken over ended. The
  // run is the new holder's: its folder is left alone, and this worker waits
  // for it like for any run another worker holds.
  void lost(size_t i) {
    end_progress(i);
    registry_.mark_interrupted(runs_[i].id, "its claim was taken over by " + holder_of(runs_[i]));
    state_[i] = elsewhere;
  }

  // Stops following run i (its trainer ended): its last steps count as
  // trained. Returns how long its trainer ran.
  double end_progress(size_t i) {
    auto node = progress_.extract(i);
    if (node.empty()) return 0;
    const auto now = ProgressClock::now();
    node.mapped().poll(now);
    steps_trained_ += node.mapped().steps_trained();
    return node.mapped().running_s(now);
  }

  // Another process took the folder between the probe and the trainer's own
  // lock: wait for it like for any holder, and record it as the run's trainer.
  // Busy even when the holder is already gone: what it left (a completed
  // run) is checked before starting again.
  void refused(size_t i) {
    fs::FileLock probe(runs_[i].dir / run::kLockFile);
    const long holder = probe.held() ? 0 : probe.holder_pid();
    if (!probe.held()) registry_.mark_running(runs_[i].id, holder, host_);
    state_[i] = waiting;
    wait_for_holder(i, holder);
  }

  // Forwards the stop to every trainer, waits for their checkpoints, then
  // ends the sweep: a rerun resumes what was interrupted and starts the rest.
  [[noreturn]] void stop(int signal) {
    say("sweep " + sweep_.name + ": stopped by signal " + std::to_string(signal) + ", stopping " +
        std::to_string(running_.size()) + " trainer(s) at their next step");
    for (const auto& [pid, i] : running_) ::kill(pid, signal);
    while (!running_.empty()) reap(0);
    const size_t not_started = to_run_ - finished_;
    throw Interrupted("sweep " + sweep_.name + " stopped by signal " + std::to_string(signal) + ": " +
                          std::to_string(summary_.interrupted) + " run(s) interrupted with a checkpoint, " +
                          std::to_string(not_started) + " not started; rerun the sweep to resume",
                      signal);
  }

  // The trainer leaves kBranchFile only when it really started from a shared
  // state, which may be a later one than the planned branch (a phase another
  // run published); the registry records the planned parent only for the
  // planned branch (and only where this worker registered the parent: its
  // own share). Returns what the run folder records (sweep/run_record.h).
  RunOutcome record_success(const PlannedRun& run, std::optional<double> tokens_per_s) {
    RunOutcome outcome{analysis::RunStatus::done, "", tokens_per_s, "", 0};
    const int64_t started_at = branched_at(run.dir);
    if (run.branch_at > 0 && started_at == run.branch_at) {
      const PlannedRun& parent = runs_[static_cast<size_t>(run.parent)];
      if (registered_here(static_cast<size_t>(run.parent))) registry_.record_branch(run.id, parent.id, run.branch_at);
      outcome.branched_from = parent.id;
      outcome.branch_step = run.branch_at;
    } else if (started_at > 0) {
      say("note: " + run.label() + " started from a shared state after step " + std::to_string(started_at));
    } else if (run.branch_at > 0) {
      say("note: " + run.label() + " found no shared prefix and trained from scratch");
    }
    registry_.mark_done(run.id, tokens_per_s);
    ++summary_.done;
    return outcome;
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
  std::string host_;
  ProgressClock::time_point start_, last_progress_;
  std::map<size_t, RunProgress> progress_;  // of the runs whose trainers run, by index
  std::map<size_t, ProgressClock::time_point> prefix_wait_since_;  // runs waiting for another share's prefix
  std::optional<RunClaims> claims_;         // claim mode (options.claim)
  std::set<size_t> registered_;             // claim mode: runs this worker registered
  std::map<size_t, ProgressClock::time_point> last_claim_try_;  // claim mode: runs tried, when
  std::set<size_t> claim_lost_;             // claim mode: trainers killed because their claim was taken over
  int64_t steps_trained_ = 0;               // by trainers that ended
  ProgressBoard board_;
};

// "a = b, c = d": the names that share a run, or "" when every name has its own.
std::string shared_names(const std::vector<PlannedRun>& runs) {
  std::string text;
  for (const auto& run : runs)
    if (run.specs.size() > 1) text += (text.empty() ? "" : ", ") + run.label();
  return text;
}

}  // namespace

bool in_shard(const std::string& run_id, const Shard& shard) {
  if (shard.count < 1 || shard.index < 0 || shard.index >= shard.count)
    throw Error("shard " + std::to_string(shard.index) + "/" + std::to_string(shard.count) +
                ": expected 0 <= index < count");
  const uint64_t value = std::stoull(run_id.substr(0, 16), nullptr, 16);
  return value % static_cast<uint64_t>(shard.count) == static_cast<uint64_t>(shard.index);
}

SweepSummary run_sweep(const SweepSpec& sweep, const SweepOptions& options) {
  if (options.claim && options.shard) throw Error("a sweep takes --claim or --shard, not both");
  std::vector<PlannedRun> runs = resolve_runs(sweep, options);  // before the registry is touched
  if (options.shard)
    for (PlannedRun& run : runs) run.mine = in_shard(run.id, *options.shard);
  analysis::Registry registry(options.registry);
  if (options.claim) plan_claimed_runs(options, runs);
  else register_runs(sweep, options, runs, registry);
  if (options.share_prefixes) {
    plan_prefix_sharing(runs, options.min_prefix_fraction);  // over every share: each worker plans the same
    locate_foreign_prefixes(runs, options.runs_dir, options.claim);
  }
  SweepSummary summary = summarize(runs);
  if (options.console) {
    const std::string shared = shared_names(runs);
    const std::string share = options.shard ? " (share " + std::to_string(options.shard->index) + "/" +
                                                  std::to_string(options.shard->count) + " of " +
                                                  std::to_string(runs.size()) + " runs)"
                                            : options.claim ? " (claiming runs one at a time)" : "";
    std::fprintf(options.console,
                 "sweep %s%s: %d runs%s, %d already done, %d branch from a shared prefix (%lld of %lld steps not "
                 "recomputed)\n",
                 sweep.name.c_str(), share.c_str(), summary.runs,
                 shared.empty() ? "" : (" for " + std::to_string(summary.names) + " names (" + shared + ")").c_str(),
                 summary.skipped, summary.branched, static_cast<long long>(summary.steps_shared),
                 static_cast<long long>(summary.steps_total));
  }
  Execution(sweep, options, registry, runs, summary).run();
  return summary;
}

}  // namespace replay::sweep
