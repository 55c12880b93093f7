// The run registry: one SQLite file that records every run of every sweep
// (config, status, times, throughput, errors, evaluation losses, branch
// points). WAL mode plus a busy timeout let `replay runs` / `replay report`
// read while a sweep writes from another process; every write is one short
// IMMEDIATE transaction, so readers never see half an update.
//
// A run is content-addressed: its id is the hash of its resolved config text,
// so a sweep that is rerun finds its finished runs and skips them. A run can
// belong to several sweeps (a reference run shared by two experiments); its
// name and tags are per membership, because they describe the run's role in
// that sweep.
//
// Target identity (schema version 2). Every run records which target data it
// was measured on, in first-class columns: the source name in its config
// (also the name of the target's validation split in its evals, e.g.
// "target"), the display domain ("math"), the store's absolute path and the
// xxh128 of the store's manifest.json. Two runs have the same target when the
// store path AND the manifest hash are equal: the domain is only a name (two
// stores may share it). Fits and reports never mix targets (efficiency.h).
// Runs recorded without an identity (schema 1 files, runs without a target
// source) fall back to their "target" tag: their target is that split name,
// with no store, and it is a different target from any run with a store.
//
// Names (schema version 3). Runs of one sweep that resolve to the same
// config are one run with several names: its first name (and tags) is its
// membership of the sweep, every further name an alias with its own tags
// (RunRecord::aliases). A name is never overwritten by another.
//
// Trainer (schema version 3). A running run records the pid and host of its
// trainer, so that a `running` row whose process is gone (its sweep was
// killed) can be told from a live one (RunRecord::trainer_gone). A run whose
// trainer was stopped by a signal is `interrupted` (a rerun resumes it).
//
// Task scores (schema version 4). Every downstream task a run scored at an
// evaluation (metrics.jsonl "task" lines, metrics.h TaskScoreRecord): one row
// per run, task and step, imported with the losses by import_metrics.
//
// Numeric tags (schema version 5). A tag whose whole text is a finite JSON
// number ("0.5", "16", "1e-3") is stored as a JSON number, every other tag
// as a JSON string, so SQL can compare them:
//   SELECT name FROM sweep_runs WHERE json_extract(tags, '$.rho') > 0.4
// selects exactly the runs with rho > 0.4 (as text, every run matched).
// Read back, a number tag is its shortest round-trip text ("1e-3" reads
// "0.001", "0.10000000000000001" reads "0.1"): RunRecord::tag_number gives
// the same value either way.
//
// Schema versions: opening for writing (create = true) migrates an older
// file in place (version 1 -> 2 adds the target columns, empty for old runs;
// 2 -> 3 rebuilds the runs table with the new status and the trainer
// columns, 0 / "" for old runs, and adds the aliases table, empty; 3 -> 4
// adds the task_scores table, empty: a rerun sweep or an import fills it;
// 4 -> 5 rewrites every stored tag object with its numbers as numbers).
// A reader (create = false) never writes: it reads an older file as it is
// (a version-1 file has every run without identity, a version-3 or older one
// has no task scores, a version-4 or older one has its numbers as text, with
// the same RunRecord::tag_number values), and refuses a file with no schema at all.
//
// Tag conventions read by `replay fit` and `replay report` (all optional):
//   family  reference | fine-tuning | mid-training | full | ...
//   x       reference runs: target pool size as a fraction of training
//   rho, alpha  schedule knobs (numbers)
//   target  name of the target validation split ("finemath"); the fallback
//           target of a run without identity
//   generic name of the generic validation split ("c4")
//   stage2_step  the paper's protocols: the first step of stage 2 as the
//           run's plan computed it (schedule/paper.h boundary_step), when
//           the run has two stages; the report marks it on training curves
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analysis/metrics.h"
#include "run/layout.h"

struct sqlite3;

namespace replay::analysis {

// <runs>/registry.sqlite with the default runs folder (run/layout.h).
inline const std::string kDefaultRegistryPath = std::string(run::kDefaultRunsDir) + "/" + run::kRegistryFile;
inline constexpr int kRegistrySchemaVersion = 5;

enum class RunStatus { queued, running, done, failed, interrupted };
const char* run_status_name(RunStatus status);
RunStatus parse_run_status(const std::string& name);  // throws replay::Error

// Content hash of a resolved config: the run id (32 hex digits).
std::string run_id_for_config(std::string_view resolved_config);

struct SplitLoss {
  std::string split;
  int64_t step = 0;
  int64_t tokens = 0;
  double loss = 0;
};

// Which target data a run was measured on (see the header comment).
struct TargetIdentity {
  std::string source;         // source name in the config = target validation split ("target")
  std::string domain;         // display name ("math"); may be shared by different stores
  std::string store;          // absolute path of the target store
  std::string manifest_hash;  // xxh128 hex of the store's manifest.json

  // No store and no manifest: a run from before identities, or without a target.
  bool empty() const { return store.empty() && manifest_hash.empty(); }
  // "math (/data/stores/math, manifest 0123abcd)"; "split finemath (no store
  // recorded)" for a tag-only target; "" when nothing is known.
  std::string label() const;
  // What decides whether two runs share a target: store + manifest, or for a
  // tag-only target "split:" + source ("" when nothing is known).
  std::string key() const;
  // `selector` names this target: its domain, its store path (compared after
  // normalizing), or its source / split name.
  bool matches(const std::string& selector) const;
};

struct RunRecord {
  std::string id;
  std::string sweep;  // the sweep this record was listed for ("" from get_run)
  std::string name;   // the run's name in that sweep
  std::vector<std::string> aliases;  // its further names there (same config), from list_runs
  std::map<std::string, std::string> tags;  // per-sweep tags
  std::string config;  // resolved config text (TOML)
  std::string run_dir;
  RunStatus status = RunStatus::queued;
  double created_at = 0;                 // unix seconds
  std::optional<double> started_at, ended_at;
  int64_t step = 0, tokens = 0;          // latest progress
  std::optional<double> tokens_per_s;
  std::string error;
  std::string branched_from;             // run id, "" if trained from scratch
  int64_t branch_step = 0;
  std::map<std::string, SplitLoss> final_metrics;  // latest eval per split
  TargetIdentity target;                 // empty for runs recorded without one
  int64_t pid = 0;                       // trainer of the latest start, 0 if unknown
  std::string host;                      // where that trainer ran

  // A `running` run whose trainer is known to be gone: recorded on this host
  // and no such process is alive (or only its zombie). False when it cannot
  // be known (no pid recorded, another host). Not the run folder's lock: a
  // listing must not take a lock a starting trainer needs.
  bool trainer_gone() const;

  std::optional<double> tag_number(const std::string& key) const;
  std::string tag(const std::string& key, const std::string& fallback = "") const;
  // `target` if set, else the fallback from the "target" tag (source and
  // domain = the tag, no store); empty when the run has neither.
  TargetIdentity effective_target() const;
};

// Tags as the registry stores them (a JSON object's text): a tag whose whole
// text is a finite JSON number is a number, every other tag a string. The one
// rule for the database and for `replay runs --json`.
std::string tags_json(const std::map<std::string, std::string>& tags);

struct NewRun {
  std::string config;   // resolved config text; its hash is the id unless id is set
  std::string id;       // optional override
  std::string sweep;
  std::string name;
  std::map<std::string, std::string> tags;
  std::string run_dir;
  // The target the run is measured on, from its config: source = the target
  // source's name (the schedule's target), domain = its store manifest's
  // domain, store = the store's absolute path, manifest_hash =
  // hash::xxh128_hex of the store's manifest.json bytes. Empty for a run
  // without a target. Recorded when the run is first added; adding it again
  // fills it in only where the registry has none yet.
  TargetIdentity target;
};

struct RunFilter {
  std::optional<std::string> sweep;
  std::optional<RunStatus> status;
};

class Registry {
 public:
  // create = true: creates the file if needed and migrates an older schema.
  // create = false: the file must exist and is opened read-only (SQLite
  // SQLITE_OPEN_READONLY), never created, initialized or migrated (readers
  // such as `replay runs`); a missing, 0-byte or non-SQLite file is refused
  // naming it. A version-1 file opened this way reads fine, but add_run on it
  // fails naming the file.
  // Every open runs PRAGMA quick_check and refuses a corrupt file, naming it
  // and SQLite's first complaint: a damaged page would otherwise read as
  // missing rows (runs without losses). quick_check reads every page, so it
  // costs about 5-8 ms per MB of registry: measured (SQLite 3.40, warm
  // cache, two busy cores) 45-75 ms for 3,000 runs with 20 evals each
  // (11 MB) and 0.4-0.6 s for 5,000 runs with 120 evals each (78 MB).
  explicit Registry(const std::filesystem::path& db, bool create = true);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  const std::filesystem::path& path() const { return path_; }
  int schema_version() const;

  // Adds the run (status queued) if its id is new, and its membership in
  // `sweep` (name, tags) in any case. Returns the run id. An existing run
  // keeps its status, so a rerun sweep sees what is already done. A run of
  // the same sweep and name on the same target store with another id (the
  // sweep file or the store changed) leaves the sweep: the name now means
  // the new run; the old one stays in the registry.

  std::string add_run(const NewRun& run);
  // add_run for every run in one transaction: all of them or none (a sweep
  // refused part way leaves nothing behind). Returns their ids in order.
  std::vector<std::string> add_runs(const std::vector<NewRun>& runs);
  std::optional<RunRecord> find_run(const std::string& id) const;
  RunRecord get_run(const std::string& id) const;  // throws if unknown

  void mark_queued(const std::string& id);  // e.g. retry a failed run
  // Running in the process `pid` on `host` (process::host_name()).
  void mark_running(const std::string& id, int64_t pid = 0, const std::string& host = "");
  // Stopped by a signal with its state saved: a rerun resumes it.
  void mark_interrupted(const std::string& id, const std::string& reason);
  void mark_done(const std::string& id, std::optional<double> tokens_per_s = std::nullopt);
  void mark_failed(const std::string& id, const std::string& error);
  void record_progress(const std::string& id, int64_t step, int64_t tokens,
                       std::optional<double> tokens_per_s = std::nullopt);
  void record_eval(const std::string& id, int64_t step, int64_t tokens,
                   const std::map<std::string, double>& losses);
  // Imports every eval and task score (and the latest step, median
  // throughput) of a parsed metrics.jsonl; idempotent.
  void import_metrics(const std::string& id, const RunMetrics& metrics);
  void record_branch(const std::string& id, const std::string& parent_id, int64_t step);

  std::vector<RunRecord> list_runs(const RunFilter& filter = {}) const;
  std::vector<std::string> sweeps() const;
  std::map<std::string, SplitLoss> final_metrics(const std::string& id) const;
  std::vector<SplitLoss> eval_history(const std::string& id, const std::string& split) const;
  // Task scores (none from a file older than version 4): every one of the
  // run's, ordered by task then step; one task's, by step; the latest step
  // of each task, by task name.
  std::vector<TaskScoreRecord> task_scores(const std::string& id) const;
  std::vector<TaskScoreRecord> task_history(const std::string& id, const std::string& task) const;
  std::map<std::string, TaskScoreRecord> final_task_scores(const std::string& id) const;

 private:
  void exec(const char* sql) const;
  void migrate();  // to kRegistrySchemaVersion, in one write transaction
  void retype_number_tags();  // the data step of version 5
  void check_integrity() const;  // PRAGMA quick_check; throws naming the file
  std::string run_columns() const;  // the SELECT list for read_run_columns
  std::string insert_run(const NewRun& run);  // inside add_runs' transaction
  void add_membership(const NewRun& run, const std::string& id);
  void retire_replaced(const std::string& sweep, const std::string& name, const std::string& id,
                       const std::string& store);
  std::vector<std::string> aliases(const std::string& sweep, const std::string& id) const;
  void set_status(const std::string& id, RunStatus status, const char* extra_sql,
                  const std::string* text, std::optional<double> number);
  void require_run(const std::string& id) const;
  std::string where() const;  // "registry <path>"

  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
  int version_ = 0;  // the file's schema version when opened
};

// A run's folder as recorded (RunRecord::run_dir): an absolute path as it
// is; a relative one beside the registry file (where a sweep keeps its
// runs) when that exists, else relative to the working directory.
std::filesystem::path resolve_run_dir(const Registry& registry, const std::string& run_dir);

}  // namespace replay::analysis
