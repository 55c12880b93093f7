#include "analysis/registry.h"

#include <sqlite3.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/hash.h"
#include "util/process.h"

namespace replay::analysis {

namespace {

using json = nlohmann::json;

// Migration step v -> v + 1 is kMigrations[v]; the file's PRAGMA
// user_version says which steps have run. Version 1: runs, sweeps, evals.
// Version 2: each run's target identity (registry.h). Versions 3, 4: below.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE runs(
  id TEXT PRIMARY KEY,
  config TEXT NOT NULL,
  run_dir TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL CHECK(status IN ('queued', 'running', 'done', 'failed')),
  created_at REAL NOT NULL,
  started_at REAL,
  ended_at REAL,
  step INTEGER NOT NULL DEFAULT 0,
  tokens INTEGER NOT NULL DEFAULT 0,
  tokens_per_s REAL,
  error TEXT NOT NULL DEFAULT '',
  branched_from TEXT REFERENCES runs(id),
  branch_step INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE sweep_runs(
  sweep TEXT NOT NULL,
  run_id TEXT NOT NULL REFERENCES runs(id),
  name TEXT NOT NULL,
  tags TEXT NOT NULL DEFAULT '{}',
  position INTEGER NOT NULL,
  PRIMARY KEY(sweep, run_id)
);
CREATE INDEX sweep_runs_by_run ON sweep_runs(run_id);
CREATE TABLE evals(
  run_id TEXT NOT NULL REFERENCES runs(id),
  split TEXT NOT NULL,
  step INTEGER NOT NULL,
  tokens INTEGER NOT NULL,
  loss REAL,
  PRIMARY KEY(run_id, split, step)
);
)sql",
    R"sql(
ALTER TABLE runs ADD COLUMN target_source TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN target_domain TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN target_store TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN target_manifest TEXT NOT NULL DEFAULT '';
)sql",
    // Version 3: status 'interrupted' (a CHECK constraint, so the table is
    // rebuilt, as SQLite's ALTER TABLE cannot change one), the trainer's pid
    // and host (to tell a live run from one whose process is gone), and a
    // run's further names in a sweep (run_aliases). migrate() turns foreign
    // keys off around this step: dropping the old table must not cascade.
    R"sql(
CREATE TABLE runs_v3(
  id TEXT PRIMARY KEY,
  config TEXT NOT NULL,
  run_dir TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL CHECK(status IN ('queued', 'running', 'done', 'failed', 'interrupted')),
  created_at REAL NOT NULL,
  started_at REAL,
  ended_at REAL,
  step INTEGER NOT NULL DEFAULT 0,
  tokens INTEGER NOT NULL DEFAULT 0,
  tokens_per_s REAL,
  error TEXT NOT NULL DEFAULT '',
  branched_from TEXT REFERENCES runs(id),
  branch_step INTEGER NOT NULL DEFAULT 0,
  target_source TEXT NOT NULL DEFAULT '',
  target_domain TEXT NOT NULL DEFAULT '',
  target_store TEXT NOT NULL DEFAULT '',
  target_manifest TEXT NOT NULL DEFAULT '',
  pid INTEGER NOT NULL DEFAULT 0,
  host TEXT NOT NULL DEFAULT ''
);
INSERT INTO runs_v3(id, config, run_dir, status, created_at, started_at, ended_at, step, tokens,
                    tokens_per_s, error, branched_from, branch_step, target_source, target_domain,
                    target_store, target_manifest)
  SELECT id, config, run_dir, status, created_at, started_at, ended_at, step, tokens, tokens_per_s,
         error, branched_from, branch_step, target_source, target_domain, target_store, target_manifest
  FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v3 RENAME TO runs;
CREATE TABLE run_aliases(
  sweep TEXT NOT NULL,
  name TEXT NOT NULL,
  run_id TEXT NOT NULL REFERENCES runs(id),
  tags TEXT NOT NULL DEFAULT '{}',
  position INTEGER NOT NULL,
  PRIMARY KEY(sweep, name)
);
CREATE INDEX run_aliases_by_run ON run_aliases(sweep, run_id);
)sql",
    // Version 4: downstream task scores, one row per run, task and evaluation
    // step (metrics.h TaskScoreRecord). Scores are nullable because SQLite
    // has no NaN (a diverged model's scores read back as NaN).
    R"sql(
CREATE TABLE task_scores(
  run_id TEXT NOT NULL REFERENCES runs(id),
  task TEXT NOT NULL,
  step INTEGER NOT NULL,
  tokens INTEGER NOT NULL,
  items INTEGER NOT NULL,
  acc REAL,
  acc_stderr REAL,
  acc_norm REAL,
  acc_norm_stderr REAL,
  gold_loglik REAL,
  mismatches INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(run_id, task, step)
);
)sql",
    // Version 5: tags whose text is a number become JSON numbers, so that
    // json_extract(tags, '$.rho') > 0.4 compares numbers. The rows are
    // rewritten by retype_number_tags (C++, the same rule as add_run).
    "-- version 5: see retype_number_tags",
};
constexpr int kNumMigrations = sizeof(kMigrations) / sizeof(kMigrations[0]);
static_assert(kNumMigrations == kRegistrySchemaVersion);

double now_seconds() {
  using namespace std::chrono;
  return duration_cast<duration<double>>(system_clock::now().time_since_epoch()).count();
}

// Prepared statement with RAII and errors that name the registry file.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& where, const char* sql) : db_(db), where_(where) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) fail("prepare");
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Stmt& bind(int i, double v) {
    if (std::isfinite(v)) sqlite3_bind_double(stmt_, i, v);
    else sqlite3_bind_null(stmt_, i);  // SQLite has no NaN; NULL reads back as NaN
    return *this;
  }
  Stmt& bind(int i, std::optional<double> v) {
    if (v) return bind(i, *v);
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail("step");
    return false;
  }
  void run() {
    while (step()) {
    }
  }
  std::string text(int col) const {
    auto* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, col)) : "";
  }
  int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  double real(int col) const {
    return is_null(col) ? std::numeric_limits<double>::quiet_NaN() : sqlite3_column_double(stmt_, col);
  }
  std::optional<double> opt_real(int col) const {
    if (is_null(col)) return std::nullopt;
    return sqlite3_column_double(stmt_, col);
  }

 private:
  [[noreturn]] void fail(const char* what) {
    throw Error(where_ + ": " + what + " failed: " + sqlite3_errmsg(db_));
  }
  sqlite3* db_;
  std::string where_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE takes the write lock up front, so two writers queue on the
// busy timeout instead of deadlocking on a read-to-write upgrade.
class WriteTransaction {
 public:
  WriteTransaction(sqlite3* db, const std::string& where) : db_(db), where_(where) {
    exec("BEGIN IMMEDIATE");
  }
  ~WriteTransaction() {
    if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    exec("COMMIT");
    done_ = true;
  }

 private:
  void exec(const char* sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
      std::string text = msg ? msg : sqlite3_errmsg(db_);
      sqlite3_free(msg);
      throw Error(where_ + ": " + sql + " failed: " + text);
    }
  }
  sqlite3* db_;
  std::string where_;
  bool done_ = false;
};

// A tag value whose whole text is a finite JSON number ("0.5", "16",
// "1e-3"; not "0.5 ", "007", "nan" or "1e999"): the number; else nullopt.
std::optional<json> tag_as_number(const std::string& text) {
  if (text.empty() || !(text.front() == '-' || std::isdigit(static_cast<unsigned char>(text.front()))) ||
      !std::isdigit(static_cast<unsigned char>(text.back())))
    return std::nullopt;
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_number()) return std::nullopt;
  if (j.is_number_float() && !std::isfinite(j.get<double>())) return std::nullopt;
  return j;
}

}  // namespace

std::string tags_json(const std::map<std::string, std::string>& tags) {
  json out = json::object();
  for (const auto& [k, v] : tags) {
    auto number = tag_as_number(v);
    out[k] = number ? *number : json(v);
  }
  return out.dump();
}

namespace {

std::map<std::string, std::string> parse_tags(const std::string& text, const std::string& where) {
  std::map<std::string, std::string> tags;
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) throw Error(where + ": corrupt tags " + text);
  for (const auto& [k, v] : j.items()) tags[k] = v.is_string() ? v.get<std::string>() : v.dump();
  return tags;
}

constexpr const char* kRunColumns =
    "r.id, r.config, r.run_dir, r.status, r.created_at, r.started_at, r.ended_at, r.step, "
    "r.tokens, r.tokens_per_s, r.error, r.branched_from, r.branch_step, ";
constexpr const char* kTargetColumns = "r.target_source, r.target_domain, r.target_store, r.target_manifest";
constexpr const char* kNoTargetColumns = "'', '', '', ''";  // a version-1 file read as it is
constexpr const char* kTrainerColumns = ", r.pid, r.host";
constexpr const char* kNoTrainerColumns = ", 0, ''";  // a version-1 or -2 file read as it is
constexpr int kNumRunColumns = 19;

RunRecord read_run_columns(const Stmt& s) {
  RunRecord r;
  r.id = s.text(0);
  r.config = s.text(1);
  r.run_dir = s.text(2);
  r.status = parse_run_status(s.text(3));
  r.created_at = s.real(4);
  r.started_at = s.opt_real(5);
  r.ended_at = s.opt_real(6);
  r.step = s.integer(7);
  r.tokens = s.integer(8);
  r.tokens_per_s = s.opt_real(9);
  r.error = s.text(10);
  r.branched_from = s.text(11);
  r.branch_step = s.integer(12);
  r.target = {s.text(13), s.text(14), s.text(15), s.text(16)};
  r.pid = s.integer(17);
  r.host = s.text(18);
  return r;
}

}  // namespace

const char* run_status_name(RunStatus status) {
  switch (status) {
    case RunStatus::queued: return "queued";
    case RunStatus::running: return "running";
    case RunStatus::done: return "done";
    case RunStatus::failed: return "failed";
    case RunStatus::interrupted: return "interrupted";
  }
  return "?";
}

RunStatus parse_run_status(const std::string& name) {
  if (name == "queued") return RunStatus::queued;
  if (name == "running") return RunStatus::running;
  if (name == "done") return RunStatus::done;
  if (name == "failed") return RunStatus::failed;
  if (name == "interrupted") return RunStatus::interrupted;
  throw Error("unknown run status '" + name + "' (expected queued, running, done, failed or interrupted)");
}

std::string run_id_for_config(std::string_view resolved_config) {
  return hash::xxh128_hex(resolved_config);
}

bool RunRecord::trainer_gone() const {
  if (status != RunStatus::running || pid <= 0 || host != process::host_name()) return false;
  return !process::alive(static_cast<pid_t>(pid));
}

std::optional<double> RunRecord::tag_number(const std::string& key) const {
  auto it = tags.find(key);
  if (it == tags.end()) return std::nullopt;
  try {
    size_t used = 0;
    double v = std::stod(it->second, &used);
    if (used != it->second.size()) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string RunRecord::tag(const std::string& key, const std::string& fallback) const {
  auto it = tags.find(key);
  return it == tags.end() ? fallback : it->second;
}

TargetIdentity RunRecord::effective_target() const {
  if (!target.empty()) return target;
  std::string split = tag("target");
  return {split, split, "", ""};
}

std::string TargetIdentity::label() const {
  if (empty()) return source.empty() ? "" : "split " + source + " (no store recorded)";
  std::string name = domain.empty() ? source : domain;
  return name + " (" + (store.empty() ? "no store" : store) +
         (manifest_hash.empty() ? "" : ", manifest " + manifest_hash.substr(0, 8)) + ")";
}

std::string TargetIdentity::key() const {
  if (empty()) return source.empty() ? "" : "split:" + source;
  return store + "\n" + manifest_hash;
}

bool TargetIdentity::matches(const std::string& selector) const {
  if (selector.empty()) return false;
  if (selector == domain || selector == source || selector == store) return true;
  if (store.empty()) return false;
  std::error_code ec;
  auto normal = [&](const std::string& p) {
    auto abs = std::filesystem::weakly_canonical(std::filesystem::absolute(p, ec), ec);
    return (ec ? std::filesystem::path(p) : abs).lexically_normal().string();
  };
  return normal(selector) == normal(store);
}

namespace {

// A reader opens only an existing, non-empty file: SQLite would otherwise
// treat a 0-byte file as a fresh database, and a listing command must not
// turn a truncated registry into an empty one.
void require_registry_file(const std::filesystem::path& db) {
  std::error_code ec;
  if (!std::filesystem::exists(db, ec))
    throw Error("no run registry at " + db.string() + " (run a sweep first, or pass --db)");
  if (!std::filesystem::is_regular_file(db, ec))
    throw Error("run registry " + db.string() + " is not a regular file");
  if (std::filesystem::file_size(db, ec) == 0 && !ec)
    throw Error("run registry " + db.string() +
                " is empty (0 bytes), not a run registry: restore it from a backup or rerun its sweeps");
}

}  // namespace

Registry::Registry(const std::filesystem::path& db, bool create) : path_(db) {
  if (!create) require_registry_file(db);
  if (create && db.has_parent_path()) std::filesystem::create_directories(db.parent_path());
  // A reader opens read-only, so no code path of a listing command can write.
  int flags = (create ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY) | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(db.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error("cannot open run registry " + db.string() + ": " + msg);
  }
  try {
    // A writer holds the lock for milliseconds; 30 s covers a loaded machine.
    sqlite3_busy_timeout(db_, 30000);
    if (create) {  // settings stored in the file: only a writer sets them
      exec("PRAGMA journal_mode=WAL");
      exec("PRAGMA synchronous=FULL");
    }
    exec("PRAGMA foreign_keys=ON");
    check_integrity();
    version_ = schema_version();
    if (version_ > kRegistrySchemaVersion)
      throw Error(where() + " has schema version " + std::to_string(version_) +
                  ", newer than this build of replay understands (" +
                  std::to_string(kRegistrySchemaVersion) + ")");
    // Only a writer migrates: a reader must not queue behind a busy sweep
    // just to open the file, nor change a file it was asked to read.
    if (version_ < kRegistrySchemaVersion && create) migrate();
    if (version_ == 0)
      throw Error(where() + " is not a run registry yet (no schema): open it with a sweep first");
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

// A corrupt page otherwise reads as missing rows: runs silently lose their
// losses. SQLite reports corruption either as quick_check rows or as an
// error while stepping it; both become one message naming the file.
void Registry::check_integrity() const {
  std::string complaint;
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, "PRAGMA quick_check", -1, &stmt, nullptr);
  if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    auto* text = sqlite3_column_text(stmt, 0);
    std::string first = text ? reinterpret_cast<const char*>(text) : "";
    if (first != "ok") complaint = first;
  } else {
    complaint = sqlite3_errmsg(db_);
  }
  sqlite3_finalize(stmt);
  if (!complaint.empty())
    throw Error(where() + " is corrupt (SQLite quick_check: " + complaint +
                "): restore it from a backup, or rebuild it by rerunning its sweeps");
}

void Registry::migrate() {
  // Version 3 rebuilds the runs table; with foreign keys on, dropping the old
  // one would delete (or refuse) every row that refers to it. The pragma is
  // a no-op inside a transaction, so it goes around it, and the rebuilt
  // references are checked before committing.
  exec("PRAGMA foreign_keys=OFF");
  WriteTransaction tx(db_, where());
  version_ = schema_version();  // another process may have migrated meanwhile
  if (version_ > kRegistrySchemaVersion)
    throw Error(where() + " has schema version " + std::to_string(version_) +
                ", newer than this build of replay understands (" +
                std::to_string(kRegistrySchemaVersion) + ")");
  for (int v = version_; v < kRegistrySchemaVersion; ++v) {
    exec(kMigrations[v]);
    if (v + 1 == 5) retype_number_tags();
  }
  if (Stmt(db_, where(), "PRAGMA foreign_key_check").step())
    throw Error(where() + ": migration to schema version " + std::to_string(kRegistrySchemaVersion) +
                " left a broken reference between runs; the file is unchanged");
  exec(("PRAGMA user_version=" + std::to_string(kRegistrySchemaVersion)).c_str());
  tx.commit();
  exec("PRAGMA foreign_keys=ON");
  version_ = kRegistrySchemaVersion;
}

// Migration to version 5: every stored tag object rewritten by tags_json,
// in sweep_runs and run_aliases (inside migrate's transaction).
void Registry::retype_number_tags() {
  for (const char* table : {"sweep_runs", "run_aliases"}) {
    std::vector<std::pair<int64_t, std::string>> rows;
    Stmt read(db_, where(), (std::string("SELECT rowid, tags FROM ") + table).c_str());
    while (read.step()) rows.emplace_back(read.integer(0), tags_json(parse_tags(read.text(1), where())));
    for (const auto& [rowid, tags] : rows)
      Stmt(db_, where(), (std::string("UPDATE ") + table + " SET tags = ? WHERE rowid = ?").c_str())
          .bind(1, tags).bind(2, rowid).run();
  }
}

std::string Registry::run_columns() const {
  return std::string(kRunColumns) + (version_ >= 2 ? kTargetColumns : kNoTargetColumns) +
         (version_ >= 3 ? kTrainerColumns : kNoTrainerColumns);
}

Registry::~Registry() { sqlite3_close(db_); }

std::string Registry::where() const { return "run registry " + path_.string(); }

void Registry::exec(const char* sql) const {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string text = msg ? msg : sqlite3_errmsg(db_);
    sqlite3_free(msg);
    throw Error(where() + ": " + text);
  }
}

int Registry::schema_version() const {
  Stmt s(db_, where(), "PRAGMA user_version");
  s.step();
  return static_cast<int>(s.integer(0));
}

std::string Registry::add_run(const NewRun& run) { return add_runs({run}).front(); }

std::vector<std::string> Registry::add_runs(const std::vector<NewRun>& runs) {
  for (const NewRun& run : runs)
    if (run.config.empty() && run.id.empty())
      throw Error(where() + ": a run needs a config (or an explicit id)");
  if (version_ < kRegistrySchemaVersion)
    throw Error(where() + " has schema version " + std::to_string(version_) +
                " and was opened for reading; open it for writing to migrate it to version " +
                std::to_string(kRegistrySchemaVersion));
  std::vector<std::string> ids;
  WriteTransaction tx(db_, where());
  for (const NewRun& run : runs) ids.push_back(insert_run(run));
  tx.commit();
  return ids;
}

// One run of add_runs, inside its transaction.
std::string Registry::insert_run(const NewRun& run) {
  std::string id = run.id.empty() ? run_id_for_config(run.config) : run.id;
  const TargetIdentity& t = run.target;
  Stmt(db_, where(),
       "INSERT OR IGNORE INTO runs(id, config, run_dir, status, created_at, target_source, "
       "target_domain, target_store, target_manifest) VALUES(?, ?, ?, 'queued', ?, ?, ?, ?, ?)")
      .bind(1, id).bind(2, run.config).bind(3, run.run_dir).bind(4, now_seconds())
      .bind(5, t.source).bind(6, t.domain).bind(7, t.store).bind(8, t.manifest_hash).run();
  if (!run.run_dir.empty())
    Stmt(db_, where(), "UPDATE runs SET run_dir = ? WHERE id = ? AND run_dir = ''")
        .bind(1, run.run_dir).bind(2, id).run();
  // A run recorded before identities (a migrated file) gets one on a rerun;
  // a recorded identity is what the run was measured on and stays.
  if (!t.empty())
    Stmt(db_, where(),
         "UPDATE runs SET target_source = ?, target_domain = ?, target_store = ?, target_manifest = ? "
         "WHERE id = ? AND target_store = '' AND target_manifest = ''")
        .bind(1, t.source).bind(2, t.domain).bind(3, t.store).bind(4, t.manifest_hash).bind(5, id).run();
  add_membership(run, id);
  return id;
}

// The run's first name in a sweep is its membership (sweep_runs); a further
// name that resolves to the same run (same config) is an alias and keeps its
// own tags, so no name overwrites another.
void Registry::add_membership(const NewRun& run, const std::string& id) {
  const std::string tags = tags_json(run.tags);
  const std::string name = run.name.empty() ? id.substr(0, 12) : run.name;
  retire_replaced(run.sweep, name, id, run.target.store);
  Stmt(db_, where(),
       "INSERT INTO sweep_runs(sweep, run_id, name, tags, position) VALUES(?1, ?2, ?3, ?4, "
       "(SELECT COUNT(*) FROM sweep_runs WHERE sweep = ?1)) "
       "ON CONFLICT(sweep, run_id) DO UPDATE SET tags = excluded.tags WHERE name = excluded.name")
      .bind(1, run.sweep).bind(2, id).bind(3, name).bind(4, tags).run();
  Stmt first(db_, where(), "SELECT name FROM sweep_runs WHERE sweep = ? AND run_id = ?");
  first.bind(1, run.sweep).bind(2, id);
  if (first.step() && first.text(0) == name) return;
  Stmt(db_, where(),
       "INSERT INTO run_aliases(sweep, name, run_id, tags, position) VALUES(?1, ?2, ?3, ?4, "
       "(SELECT COUNT(*) FROM run_aliases WHERE sweep = ?1)) "
       "ON CONFLICT(sweep, name) DO UPDATE SET run_id = excluded.run_id, tags = excluded.tags")
      .bind(1, run.sweep).bind(2, name).bind(3, id).bind(4, tags).run();
}

// A name of a sweep that now resolves to another run on the same target
// store (the sweep file or the store changed since: new settings, new id)
// no longer means the old run: its membership or alias of that name ends,
// so cells, fits and reports do not mix the two. The old run stays in the
// registry. Runs on other stores keep the name (one sweep over several
// targets), and so do runs recorded without a store.
void Registry::retire_replaced(const std::string& sweep, const std::string& name, const std::string& id,
                               const std::string& store) {
  if (store.empty()) return;
  for (const char* table : {"sweep_runs", "run_aliases"})
    Stmt(db_, where(),
         (std::string("DELETE FROM ") + table +
          " WHERE sweep = ?1 AND name = ?2 AND run_id <> ?3 AND run_id IN (SELECT id FROM runs WHERE "
          "target_store = ?4)")
             .c_str())
        .bind(1, sweep).bind(2, name).bind(3, id).bind(4, store).run();
}

std::vector<std::string> Registry::aliases(const std::string& sweep, const std::string& id) const {
  std::vector<std::string> out;
  if (version_ < 3) return out;  // an older file read as it is has none
  Stmt s(db_, where(), "SELECT name FROM run_aliases WHERE sweep = ? AND run_id = ? ORDER BY position");
  s.bind(1, sweep).bind(2, id);
  while (s.step()) out.push_back(s.text(0));
  return out;
}

void Registry::require_run(const std::string& id) const {
  Stmt s(db_, where(), "SELECT 1 FROM runs WHERE id = ?");
  s.bind(1, id);
  if (!s.step()) throw Error(where() + ": no run with id " + id);
}

std::optional<RunRecord> Registry::find_run(const std::string& id) const {
  Stmt s(db_, where(), ("SELECT " + run_columns() + " FROM runs r WHERE r.id = ?").c_str());
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  RunRecord r = read_run_columns(s);
  r.final_metrics = final_metrics(id);
  // Name and tags from the run's first sweep membership, if any.
  Stmt m(db_, where(), "SELECT sweep, name, tags FROM sweep_runs WHERE run_id = ? ORDER BY rowid LIMIT 1");
  m.bind(1, id);
  if (m.step()) {
    r.name = m.text(1);
    r.tags = parse_tags(m.text(2), where());
  }
  return r;
}

RunRecord Registry::get_run(const std::string& id) const {
  auto r = find_run(id);
  if (!r) throw Error(where() + ": no run with id " + id);
  return *r;
}

void Registry::set_status(const std::string& id, RunStatus status, const char* extra_sql,
                          const std::string* text, std::optional<double> number) {
  WriteTransaction tx(db_, where());
  require_run(id);
  std::string sql = std::string("UPDATE runs SET status = ?1") + extra_sql + " WHERE id = ?2";
  Stmt s(db_, where(), sql.c_str());
  s.bind(1, std::string(run_status_name(status))).bind(2, id).bind(3, now_seconds());
  if (text) s.bind(4, *text);
  if (number) s.bind(5, number);
  s.run();
  tx.commit();
}

void Registry::mark_queued(const std::string& id) {
  set_status(id, RunStatus::queued, ", started_at = NULL, ended_at = NULL, error = ''", nullptr,
             std::nullopt);
}

void Registry::mark_running(const std::string& id, int64_t pid, const std::string& host) {
  WriteTransaction tx(db_, where());
  require_run(id);
  Stmt(db_, where(),
       "UPDATE runs SET status = 'running', started_at = ?, ended_at = NULL, error = '', pid = ?, host = ? "
       "WHERE id = ?")
      .bind(1, now_seconds()).bind(2, pid).bind(3, host).bind(4, id).run();
  tx.commit();
}

void Registry::mark_interrupted(const std::string& id, const std::string& reason) {
  set_status(id, RunStatus::interrupted, ", ended_at = ?3, error = ?4", &reason, std::nullopt);
}

void Registry::mark_done(const std::string& id, std::optional<double> tokens_per_s) {
  set_status(id, RunStatus::done,
             tokens_per_s ? ", ended_at = ?3, tokens_per_s = ?5" : ", ended_at = ?3", nullptr,
             tokens_per_s);
}

void Registry::mark_failed(const std::string& id, const std::string& error) {
  set_status(id, RunStatus::failed, ", ended_at = ?3, error = ?4", &error, std::nullopt);
}

void Registry::record_progress(const std::string& id, int64_t step, int64_t tokens,
                               std::optional<double> tokens_per_s) {
  WriteTransaction tx(db_, where());
  require_run(id);
  Stmt(db_, where(),
       "UPDATE runs SET step = ?, tokens = ?, tokens_per_s = COALESCE(?, tokens_per_s) WHERE id = ?")
      .bind(1, step).bind(2, tokens).bind(3, tokens_per_s).bind(4, id).run();
  tx.commit();
}

void Registry::record_eval(const std::string& id, int64_t step, int64_t tokens,
                           const std::map<std::string, double>& losses) {
  WriteTransaction tx(db_, where());
  require_run(id);
  for (const auto& [split, loss] : losses)
    Stmt(db_, where(), "INSERT OR REPLACE INTO evals(run_id, split, step, tokens, loss) VALUES(?, ?, ?, ?, ?)")
        .bind(1, id).bind(2, split).bind(3, step).bind(4, tokens).bind(5, loss).run();
  tx.commit();
}

void Registry::import_metrics(const std::string& id, const RunMetrics& metrics) {
  WriteTransaction tx(db_, where());
  require_run(id);
  for (const auto& e : metrics.evals)
    for (const auto& [split, loss] : e.val) {
      Stmt(db_, where(), "INSERT OR REPLACE INTO evals(run_id, split, step, tokens, loss) VALUES(?, ?, ?, ?, ?)")
          .bind(1, id).bind(2, split).bind(3, e.step).bind(4, e.tokens).bind(5, loss).run();
    }
  for (const auto& t : metrics.tasks)
    Stmt(db_, where(),
         "INSERT OR REPLACE INTO task_scores(run_id, task, step, tokens, items, acc, acc_stderr, acc_norm, "
         "acc_norm_stderr, gold_loglik, mismatches) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(1, id).bind(2, t.task).bind(3, t.step).bind(4, t.tokens).bind(5, t.items).bind(6, t.acc)
        .bind(7, t.acc_stderr).bind(8, t.acc_norm).bind(9, t.acc_norm_stderr).bind(10, t.gold_loglik)
        .bind(11, t.mismatches).run();
  if (!metrics.steps.empty()) {
    const auto& last = metrics.steps.back();
    Stmt(db_, where(),
         "UPDATE runs SET step = MAX(step, ?), tokens = MAX(tokens, ?), "
         "tokens_per_s = COALESCE(?, tokens_per_s) WHERE id = ?")
        .bind(1, last.step).bind(2, last.tokens).bind(3, metrics.median_tokens_per_s()).bind(4, id)
        .run();
  }
  tx.commit();
}

void Registry::record_branch(const std::string& id, const std::string& parent_id, int64_t step) {
  WriteTransaction tx(db_, where());
  require_run(id);
  if (parent_id == id) throw Error(where() + ": run " + id + " cannot branch from itself");
  require_run(parent_id);
  Stmt(db_, where(), "UPDATE runs SET branched_from = ?, branch_step = ? WHERE id = ?")
      .bind(1, parent_id).bind(2, step).bind(3, id).run();
  tx.commit();
}

std::vector<RunRecord> Registry::list_runs(const RunFilter& filter) const {
  std::string sql = "SELECT " + run_columns() +
                    ", m.sweep, m.name, m.tags FROM sweep_runs m JOIN runs r ON r.id = m.run_id "
                    "WHERE (?1 IS NULL OR m.sweep = ?1) AND (?2 IS NULL OR r.status = ?2) "
                    "ORDER BY m.sweep, m.position";
  // One read transaction: the list and each run's metrics come from the same
  // snapshot even while a sweep commits new results.
  exec("BEGIN");
  struct EndRead {
    sqlite3* db;
    ~EndRead() { sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr); }
  } end_read{db_};
  Stmt s(db_, where(), sql.c_str());
  if (filter.sweep) s.bind(1, *filter.sweep);
  if (filter.status) s.bind(2, std::string(run_status_name(*filter.status)));
  std::vector<RunRecord> out;
  while (s.step()) {
    RunRecord r = read_run_columns(s);
    r.sweep = s.text(kNumRunColumns);
    r.name = s.text(kNumRunColumns + 1);
    r.tags = parse_tags(s.text(kNumRunColumns + 2), where());
    out.push_back(std::move(r));
  }
  for (auto& r : out) {
    r.final_metrics = final_metrics(r.id);
    r.aliases = aliases(r.sweep, r.id);
  }
  return out;
}

std::vector<std::string> Registry::sweeps() const {
  Stmt s(db_, where(), "SELECT DISTINCT sweep FROM sweep_runs ORDER BY sweep");
  std::vector<std::string> out;
  while (s.step()) out.push_back(s.text(0));
  return out;
}

std::map<std::string, SplitLoss> Registry::final_metrics(const std::string& id) const {
  Stmt s(db_, where(),
         "SELECT split, step, tokens, loss FROM evals e WHERE run_id = ?1 AND step = "
         "(SELECT MAX(step) FROM evals WHERE run_id = ?1 AND split = e.split)");
  s.bind(1, id);
  std::map<std::string, SplitLoss> out;
  while (s.step()) out[s.text(0)] = SplitLoss{s.text(0), s.integer(1), s.integer(2), s.real(3)};
  return out;
}

std::vector<SplitLoss> Registry::eval_history(const std::string& id, const std::string& split) const {
  Stmt s(db_, where(), "SELECT step, tokens, loss FROM evals WHERE run_id = ? AND split = ? ORDER BY step");
  s.bind(1, id).bind(2, split);
  std::vector<SplitLoss> out;
  while (s.step()) out.push_back(SplitLoss{split, s.integer(0), s.integer(1), s.real(2)});
  return out;
}

namespace {

constexpr const char* kTaskColumns =
    "task, step, tokens, items, acc, acc_stderr, acc_norm, acc_norm_stderr, gold_loglik, mismatches";

TaskScoreRecord read_task_columns(const Stmt& s) {
  TaskScoreRecord t;
  t.task = s.text(0);
  t.step = s.integer(1);
  t.tokens = s.integer(2);
  t.items = s.integer(3);
  t.acc = s.real(4);
  t.acc_stderr = s.real(5);
  t.acc_norm = s.opt_real(6);
  t.acc_norm_stderr = s.opt_real(7);
  t.gold_loglik = s.real(8);
  t.mismatches = s.integer(9);
  return t;
}

}  // namespace

std::vector<TaskScoreRecord> Registry::task_scores(const std::string& id) const {
  std::vector<TaskScoreRecord> out;
  if (version_ < 4) return out;  // an older file read as it is has none
  std::string sql = std::string("SELECT ") + kTaskColumns + " FROM task_scores WHERE run_id = ? ORDER BY task, step";
  Stmt s(db_, where(), sql.c_str());
  s.bind(1, id);
  while (s.step()) out.push_back(read_task_columns(s));
  return out;
}

std::vector<TaskScoreRecord> Registry::task_history(const std::string& id, const std::string& task) const {
  std::vector<TaskScoreRecord> out;
  for (auto& t : task_scores(id))
    if (t.task == task) out.push_back(std::move(t));
  return out;
}

std::map<std::string, TaskScoreRecord> Registry::final_task_scores(const std::string& id) const {
  std::map<std::string, TaskScoreRecord> out;
  for (auto& t : task_scores(id)) out[t.task] = std::move(t);  // ordered by step: the last one stays
  return out;
}

std::filesystem::path resolve_run_dir(const Registry& registry, const std::string& run_dir) {
  std::filesystem::path p(run_dir);
  if (p.is_absolute() || run_dir.empty()) return p;
  std::filesystem::path beside = registry.path().parent_path() / p;
  return std::filesystem::exists(beside) ? beside : p;
}

}  // namespace replay::analysis
