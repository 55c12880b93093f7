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
// Tag conventions read by `replay fit` and `replay report` (all optional):
//   family  reference | fine-tuning | mid-training | full | ...
//   x       reference runs: target pool size as a fraction of training
//   rho, alpha  schedule knobs (numbers)
//   target  name of the target validation split ("finemath")
//   generic name of the generic validation split ("c4")
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

struct sqlite3;

namespace replay::analysis {

inline constexpr const char* kDefaultRegistryPath = "runs/registry.sqlite";
inline constexpr int kRegistrySchemaVersion = 1;

enum class RunStatus { queued, running, done, failed };
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

struct RunRecord {
  std::string id;
  std::string sweep;  // the sweep this record was listed for ("" from get_run)
  std::string name;   // the run's name in that sweep
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

  std::optional<double> tag_number(const std::string& key) const;
  std::string tag(const std::string& key, const std::string& fallback = "") const;
};

struct NewRun {
  std::string config;   // resolved config text; its hash is the id unless id is set
  std::string id;       // optional override
  std::string sweep;
  std::string name;
  std::map<std::string, std::string> tags;
  std::string run_dir;
};

struct RunFilter {
  std::optional<std::string> sweep;
  std::optional<RunStatus> status;
};

class Registry {
 public:
  // create = false: the file must exist (readers such as `replay runs`).
  explicit Registry(const std::filesystem::path& db, bool create = true);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  const std::filesystem::path& path() const { return path_; }
  int schema_version() const;

  // Adds the run (status queued) if its id is new, and its membership in
  // `sweep` (name, tags) in any case. Returns the run id. An existing run
  // keeps its status, so a rerun sweep sees what is already done.
  std::string add_run(const NewRun& run);
  std::optional<RunRecord> find_run(const std::string& id) const;
  RunRecord get_run(const std::string& id) const;  // throws if unknown

  void mark_queued(const std::string& id);  // e.g. retry a failed run
  void mark_running(const std::string& id);
  void mark_done(const std::string& id, std::optional<double> tokens_per_s = std::nullopt);
  void mark_failed(const std::string& id, const std::string& error);
  void record_progress(const std::string& id, int64_t step, int64_t tokens,
                       std::optional<double> tokens_per_s = std::nullopt);
  void record_eval(const std::string& id, int64_t step, int64_t tokens,
                   const std::map<std::string, double>& losses);
  // Imports every eval (and the latest step, median throughput) of a parsed
  // metrics.jsonl; idempotent.
  void import_metrics(const std::string& id, const RunMetrics& metrics);
  void record_branch(const std::string& id, const std::string& parent_id, int64_t step);

  std::vector<RunRecord> list_runs(const RunFilter& filter = {}) const;
  std::vector<std::string> sweeps() const;
  std::map<std::string, SplitLoss> final_metrics(const std::string& id) const;
  std::vector<SplitLoss> eval_history(const std::string& id, const std::string& split) const;

 private:
  void exec(const char* sql) const;
  void set_status(const std::string& id, RunStatus status, const char* extra_sql,
                  const std::string* text, std::optional<double> number);
  void require_run(const std::string& id) const;
  std::string where() const;  // "registry <path>"

  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
};

}  // namespace replay::analysis
