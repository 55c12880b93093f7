#include <gtest/gtest.h>

#include "corrupt_registry.h"
#include "error_of.h"
#include "temp_dir.h"
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <set>

#include "analysis/registry.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/process.h"

namespace stdfs = std::filesystem;
using namespace replay::analysis;


TEST(Registry, RunsAreContentAddressedAndKeepTheirStatus) {
  TempDir tmp("ids");
  const stdfs::path& dir = tmp.path;
  Registry reg(dir / "r.sqlite");
  EXPECT_EQ(reg.schema_version(), kRegistrySchemaVersion);
  std::string id = reg.add_run({"[train]\nlr = 0.003\n", "", "mt", "rho=0", {{"family", "mid-training"}, {"rho", "0"}}, "runs/a", {}});
  EXPECT_EQ(id, run_id_for_config("[train]\nlr = 0.003\n"));
  EXPECT_EQ(id.size(), 32u);
  reg.mark_running(id);
  reg.mark_done(id, 1234.5);
  // Re-adding (a rerun sweep) must not reset a finished run.
  EXPECT_EQ(reg.add_run({"[train]\nlr = 0.003\n", "", "mt", "rho=0", {}, "", {}}), id);
  RunRecord r = reg.get_run(id);
  EXPECT_EQ(r.status, RunStatus::done);
  EXPECT_EQ(r.run_dir, "runs/a");
  ASSERT_TRUE(r.started_at && r.ended_at);
  EXPECT_LE(*r.started_at, *r.ended_at);
  EXPECT_DOUBLE_EQ(*r.tokens_per_s, 1234.5);
  // The same run can belong to a second sweep with its own name and tags.
  reg.add_run({"[train]\nlr = 0.003\n", "", "other", "baseline", {{"family", "reference"}, {"x", "0.25"}}, "", {}});
  auto other = reg.list_runs({std::string("other"), std::nullopt});
  ASSERT_EQ(other.size(), 1u);
  EXPECT_EQ(other[0].name, "baseline");
  EXPECT_DOUBLE_EQ(*other[0].tag_number("x"), 0.25);
  EXPECT_EQ(reg.list_runs().size(), 2u);
  EXPECT_EQ(reg.sweeps(), (std::vector<std::string>{"mt", "other"}));
}

TEST(Registry, StatusFiltersMetricsAndBranches) {
  TempDir tmp("life");
  const stdfs::path& dir = tmp.path;
  Registry reg(dir / "r.sqlite");
  std::string a = reg.add_run({"config a", "", "s", "a", {}, "", {}});
  std::string b = reg.add_run({"config b", "", "s", "b", {}, "", {}});
  std::string c = reg.add_run({"config c", "", "s", "c", {}, "", {}});
  reg.mark_running(a);
  reg.record_eval(a, 10, 1000, {{"target", 4.0}, {"generic", 5.0}});
  reg.record_eval(a, 20, 2000, {{"target", 3.5}, {"generic", 4.5}});
  reg.record_eval(a, 5, 500, {{"target", 6.0}});  // out of order: not the final value
  reg.record_progress(a, 20, 2000, 800.0);
  reg.mark_done(a);
  reg.mark_running(b);
  reg.mark_failed(b, "CUDA out of memory");
  reg.record_branch(c, a, 12);

  auto final_a = reg.final_metrics(a);
  ASSERT_EQ(final_a.size(), 2u);
  EXPECT_EQ(final_a.at("target").step, 20);
  EXPECT_DOUBLE_EQ(final_a.at("target").loss, 3.5);
  EXPECT_EQ(reg.eval_history(a, "target").size(), 3u);
  EXPECT_EQ(reg.get_run(a).step, 20);
  EXPECT_DOUBLE_EQ(*reg.get_run(a).tokens_per_s, 800.0);

  auto failed = reg.list_runs({std::nullopt, RunStatus::failed});
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].id, b);
  EXPECT_EQ(failed[0].error, "CUDA out of memory");
  auto queued = reg.list_runs({std::string("s"), RunStatus::queued});
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].branched_from, a);
  EXPECT_EQ(queued[0].branch_step, 12);
  // Retrying a failed run clears its error.
  reg.mark_queued(b);
  EXPECT_EQ(reg.get_run(b).error, "");
  EXPECT_EQ(reg.get_run(b).status, RunStatus::queued);

  std::string db = (dir / "r.sqlite").string();
  EXPECT_NE(error_of([&] { reg.mark_done("nope"); }).find(db), std::string::npos);
  EXPECT_NE(error_of([&] { reg.record_branch(a, a, 3); }).find("itself"), std::string::npos);
  EXPECT_NE(error_of([&] { reg.record_branch(a, "missing", 3); }).find("missing"), std::string::npos);
  EXPECT_THROW(parse_run_status("paused"), replay::Error);
}

TEST(Registry, ImportsAMetricsFile) {
  TempDir tmp("import");
  const stdfs::path& dir = tmp.path;
  Registry reg(dir / "r.sqlite");
  std::string id = reg.add_run({"cfg", "", "s", "x", {}, "", {}});
  RunMetrics m = parse_metrics(
      R"({"kind":"step","step":1,"tokens":10,"loss":3,"tokens_per_s":50})" "\n"
      R"({"kind":"eval","step":1,"tokens":10,"val":{"t":2.5}})" "\n"
      R"({"kind":"step","step":2,"tokens":20,"loss":2,"tokens_per_s":70})" "\n"
      R"({"kind":"eval","step":2,"tokens":20,"val":{"t":2.25}})" "\n",
      "m");
  reg.import_metrics(id, m);
  reg.import_metrics(id, m);  // idempotent
  EXPECT_EQ(reg.eval_history(id, "t").size(), 2u);
  EXPECT_DOUBLE_EQ(reg.final_metrics(id).at("t").loss, 2.25);
  EXPECT_EQ(reg.get_run(id).tokens, 20);
}

// Flipped bytes in a table page used to read as runs without losses.
TEST(Registry, ACorruptFileIsRefusedNamingIt) {
  TempDir tmp("corrupt");
  auto db = tmp.path / "r.sqlite";
  fake::write_registry_with_runs(db, 600);
  EXPECT_EQ(Registry(db, false).list_runs().size(), 600u);  // intact: opens
  fake::corrupt_middle_pages(db);
  for (bool create : {false, true}) {
    std::string e = error_of([&] { Registry r(db, create); });
    EXPECT_NE(e.find(db.string()), std::string::npos) << e;
    EXPECT_NE(e.find("corrupt (SQLite quick_check: "), std::string::npos) << e;
    EXPECT_NE(e.find("restore it from a backup"), std::string::npos) << e;
  }
}

// A listing command opens read-only: it never initializes a 0-byte file,
// nor creates a missing one, nor writes a file that is not a registry.
TEST(Registry, AReaderNeverCreatesOrWritesTheFile) {
  TempDir tmp("readonly");
  auto empty = tmp.path / "empty.sqlite";
  replay::fs::write_file_atomic(empty, "");
  std::string e = error_of([&] { Registry r(empty, /*create=*/false); });
  EXPECT_NE(e.find(empty.string() + " is empty (0 bytes)"), std::string::npos) << e;
  EXPECT_EQ(stdfs::file_size(empty), 0u);

  auto text = tmp.path / "notes.sqlite";
  replay::fs::write_file_atomic(text, std::string(8192, 'x'));
  e = error_of([&] { Registry r(text, /*create=*/false); });
  EXPECT_NE(e.find(text.string()), std::string::npos) << e;
  EXPECT_EQ(replay::fs::read_file(text), std::string(8192, 'x'));

  // An old-schema file stays as it is: a reader neither migrates it nor
  // sets its journal mode (the header's bytes 18-19 say WAL = 2 / legacy = 1).
  auto old = tmp.path / "old.sqlite";
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(old.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "CREATE TABLE unrelated(x); PRAGMA user_version=1", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  std::string before = replay::fs::read_file(old);
  EXPECT_EQ(Registry(old, false).schema_version(), 1);
  EXPECT_EQ(replay::fs::read_file(old), before);
}

TEST(Registry, ClearErrorsNamingTheFile) {
  TempDir tmp("errors");
  const stdfs::path& dir = tmp.path;
  auto missing = dir / "none.sqlite";
  std::string e = error_of([&] { Registry r(missing, /*create=*/false); });
  EXPECT_NE(e.find(missing.string()), std::string::npos) << e;
  EXPECT_FALSE(stdfs::exists(missing));

  auto junk = dir / "junk.sqlite";
  replay::fs::write_file_atomic(junk, std::string(8192, 'x'));
  e = error_of([&] { Registry r(junk); });
  EXPECT_NE(e.find(junk.string()), std::string::npos) << e;

  // A reader never creates the schema: an empty SQLite file is refused.
  auto empty = dir / "empty.sqlite";
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(empty.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "CREATE TABLE unrelated(x)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  e = error_of([&] { Registry r(empty, /*create=*/false); });
  EXPECT_NE(e.find("not a run registry yet"), std::string::npos) << e;
  EXPECT_NE(e.find(empty.string()), std::string::npos) << e;

  // A registry written by a newer schema is refused, not misread.
  auto newer = dir / "newer.sqlite";
  { Registry r(newer); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(newer.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  e = error_of([&] { Registry r(newer); });
  EXPECT_NE(e.find("schema version 99"), std::string::npos) << e;
  EXPECT_NE(e.find(newer.string()), std::string::npos) << e;
}

// A sweep process writes while `replay runs` reads from another process:
// neither side may fail with "database is locked", and the file stays intact.
TEST(Registry, ConcurrentWriterAndReaderProcesses) {
  TempDir tmp("concurrent");
  const stdfs::path& dir = tmp.path;
  auto path = dir / "r.sqlite";
  { Registry init(path); }
  constexpr int kRuns = 40, kEvals = 10;
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int code = 0;
    try {
      Registry reg(path);
      for (int i = 0; i < kRuns; ++i) {
        std::string id = reg.add_run({"config " + std::to_string(i), "", "sweep", "run" + std::to_string(i), {}, "", {}});
        reg.mark_running(id);
        for (int s = 1; s <= kEvals; ++s) reg.record_eval(id, s, s * 100, {{"target", 5.0 - 0.1 * s}});
        reg.mark_done(id);
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "writer: %s\n", e.what());
      code = 1;
    }
    _exit(code);
  }
  int reads = 0, max_seen = 0;
  bool reader_ok = true;
  try {
    Registry reg(path, /*create=*/false);
    for (;;) {
      auto runs = reg.list_runs({std::string("sweep"), std::nullopt});
      for (const auto& r : runs)  // a done run always shows its final eval: no torn writes
        if (r.status == RunStatus::done) {
          EXPECT_EQ(r.final_metrics.at("target").step, kEvals);
        }
      max_seen = std::max<int>(max_seen, runs.size());
      ++reads;
      int status = 0;
      if (waitpid(child, &status, WNOHANG) == child) {
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "writer process failed";
        break;
      }
    }
  } catch (const std::exception& e) {
    reader_ok = false;
    ADD_FAILURE() << "reader: " << e.what();
    waitpid(child, nullptr, 0);
  }
  ASSERT_TRUE(reader_ok);
  EXPECT_GT(reads, 1);
  Registry reg(path);
  auto runs = reg.list_runs({std::string("sweep"), RunStatus::done});
  EXPECT_EQ(runs.size(), static_cast<size_t>(kRuns));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "ok");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

namespace {

// A registry file as schema version 1 wrote it: no target columns.
void write_v1_registry(const stdfs::path& path) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  const char* sql = R"sql(
CREATE TABLE runs(id TEXT PRIMARY KEY, config TEXT NOT NULL, run_dir TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL CHECK(status IN ('queued', 'running', 'done', 'failed')), created_at REAL NOT NULL,
  started_at REAL, ended_at REAL, step INTEGER NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT 0,
  tokens_per_s REAL, error TEXT NOT NULL DEFAULT '', branched_from TEXT REFERENCES runs(id),
  branch_step INTEGER NOT NULL DEFAULT 0);
CREATE TABLE sweep_runs(sweep TEXT NOT NULL, run_id TEXT NOT NULL REFERENCES runs(id), name TEXT NOT NULL,
  tags TEXT NOT NULL DEFAULT '{}', position INTEGER NOT NULL, PRIMARY KEY(sweep, run_id));
CREATE INDEX sweep_runs_by_run ON sweep_runs(run_id);
CREATE TABLE evals(run_id TEXT NOT NULL REFERENCES runs(id), split TEXT NOT NULL, step INTEGER NOT NULL,
  tokens INTEGER NOT NULL, loss REAL, PRIMARY KEY(run_id, split, step));
INSERT INTO runs(id, config, status, created_at) VALUES('old1', 'config old', 'done', 1.0);
INSERT INTO sweep_runs VALUES('s', 'old1', 'ref-x1', '{"family":"reference","target":"finemath"}', 0);
INSERT INTO evals VALUES('old1', 'finemath', 10, 100, 3.5);
PRAGMA user_version=1;
)sql";
  char* msg = nullptr;
  ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &msg), SQLITE_OK) << (msg ? msg : "");
  sqlite3_close(db);
}

}  // namespace

TEST(Registry, VersionOneFilesAreReadAsTheyAreAndMigratedByWriters) {
  TempDir tmp("v1");
  const stdfs::path dir = tmp.path;
  auto path = dir / "r.sqlite";
  write_v1_registry(path);
  {
    Registry reader(path, /*create=*/false);  // reads, never writes
    EXPECT_EQ(reader.schema_version(), 1);
    auto runs = reader.list_runs();
    ASSERT_EQ(runs.size(), 1u);
    EXPECT_TRUE(runs[0].target.empty());
    EXPECT_EQ(runs[0].effective_target().source, "finemath");  // the tag fallback
    EXPECT_EQ(runs[0].effective_target().key(), "split:finemath");
    EXPECT_DOUBLE_EQ(runs[0].final_metrics.at("finemath").loss, 3.5);
    EXPECT_TRUE(reader.get_run("old1").target.empty());
    std::string e = error_of([&] { reader.add_run({"config new", "", "s", "n", {}, "", {}}); });
    EXPECT_NE(e.find("schema version 1"), std::string::npos) << e;
    EXPECT_NE(e.find(path.string()), std::string::npos) << e;
  }
  Registry writer(path);
  EXPECT_EQ(writer.schema_version(), kRegistrySchemaVersion);
  RunRecord old = writer.get_run("old1");
  EXPECT_TRUE(old.target.empty());
  EXPECT_EQ(old.status, RunStatus::done);
  EXPECT_EQ(old.tags.at("family"), "reference");
  // A rerun that knows the run's target records it.
  TargetIdentity math{"target", "math", "/data/stores/math", "00aa"};
  writer.add_run({"config old", "old1", "s", "ref-x1", {{"family", "reference"}}, "", math});
  EXPECT_EQ(writer.get_run("old1").target.store, "/data/stores/math");
  EXPECT_EQ(Registry(path, false).schema_version(), kRegistrySchemaVersion);
}

TEST(Registry, RecordsEachRunsTargetIdentity) {
  TempDir tmp("target");
  const stdfs::path dir = tmp.path;
  Registry reg(dir / "r.sqlite");
  TargetIdentity math{"target", "math", (dir / "stores" / "math").string(), "0123456789abcdef0123456789abcdef"};
  std::string id = reg.add_run({"cfg math", "", "s", "a", {{"target", "target"}}, "", math});
  RunRecord r = reg.get_run(id);
  EXPECT_EQ(r.target.source, "target");
  EXPECT_EQ(r.target.domain, "math");
  EXPECT_EQ(r.target.store, math.store);
  EXPECT_EQ(r.target.manifest_hash, math.manifest_hash);
  EXPECT_EQ(reg.list_runs()[0].target.store, math.store);
  EXPECT_EQ(r.effective_target().key(), math.key());
  EXPECT_EQ(math.label(), "math (" + math.store + ", manifest 01234567)");
  // A recorded identity is what the run was measured on: a rerun keeps it.
  TargetIdentity other = math;
  other.manifest_hash = "ffff";
  reg.add_run({"cfg math", "", "s2", "a", {}, "", other});
  EXPECT_EQ(reg.get_run(id).target.manifest_hash, math.manifest_hash);

  // Selectors: domain, source (the split name), store path in any spelling.
  EXPECT_TRUE(math.matches("math"));
  EXPECT_TRUE(math.matches("target"));
  EXPECT_TRUE(math.matches(math.store));
  EXPECT_TRUE(math.matches((dir / "stores" / "." / "math").string()));
  EXPECT_FALSE(math.matches("code"));
  EXPECT_FALSE(math.matches(""));
  // Same domain name, different store or manifest: different targets.
  TargetIdentity copy = math;
  copy.store = (dir / "stores2" / "math").string();
  EXPECT_NE(copy.key(), math.key());
  copy = math;
  copy.manifest_hash = "1";
  EXPECT_NE(copy.key(), math.key());
  EXPECT_TRUE(TargetIdentity{}.empty());
  EXPECT_EQ(TargetIdentity{}.key(), "");
}

namespace {

// A registry file as schema version 2 wrote it: version 1 plus the target
// columns; statuses without 'interrupted', no trainer columns, no aliases.
void write_v2_registry(const stdfs::path& path) {
  write_v1_registry(path);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  const char* sql = R"sql(
ALTER TABLE runs ADD COLUMN target_source TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN target_domain TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN target_store TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN target_manifest TEXT NOT NULL DEFAULT '';
INSERT INTO runs(id, config, status, created_at, started_at, branched_from, branch_step, target_store,
                 target_manifest) VALUES('old2', 'config old2', 'running', 2.0, 3.0, 'old1', 7, '/s/math', 'aa');
INSERT INTO sweep_runs VALUES('s', 'old2', 'mid', '{"family":"mid-training"}', 1);
INSERT INTO evals VALUES('old2', 'target', 20, 200, 2.5);
PRAGMA user_version=2;
)sql";
  char* msg = nullptr;
  ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &msg), SQLITE_OK) << (msg ? msg : "");
  sqlite3_close(db);
}

}  // namespace

// Version 2 -> 3 rebuilds the runs table (new status, trainer columns) with
// every row, reference and eval kept; a reader reads a version-2 file as it is.
TEST(Registry, VersionTwoFilesAreMigratedKeepingEveryRun) {
  TempDir tmp("v2");
  const auto path = tmp.path / "r.sqlite";
  write_v2_registry(path);
  {
    Registry reader(path, /*create=*/false);
    EXPECT_EQ(reader.schema_version(), 2);
    auto runs = reader.list_runs();
    ASSERT_EQ(runs.size(), 2u);
    EXPECT_TRUE(runs[1].aliases.empty());
    EXPECT_EQ(runs[1].pid, 0);
    EXPECT_FALSE(runs[1].trainer_gone());  // no pid recorded: cannot tell
  }
  Registry writer(path);
  EXPECT_EQ(writer.schema_version(), kRegistrySchemaVersion);
  RunRecord old = writer.get_run("old2");
  EXPECT_EQ(old.status, RunStatus::running);
  EXPECT_EQ(old.branched_from, "old1");
  EXPECT_EQ(old.branch_step, 7);
  EXPECT_EQ(old.target.store, "/s/math");
  EXPECT_DOUBLE_EQ(*old.started_at, 3.0);
  EXPECT_DOUBLE_EQ(old.final_metrics.at("target").loss, 2.5);
  EXPECT_EQ(old.tags.at("family"), "mid-training");
  EXPECT_EQ(writer.get_run("old1").status, RunStatus::done);
  // The new status and columns work on the migrated file, and foreign keys
  // still hold (a branch from an unknown run is refused).
  writer.mark_interrupted("old2", "stopped by signal 15");
  EXPECT_EQ(writer.get_run("old2").status, RunStatus::interrupted);
  writer.mark_running("old2", 4242, "elsewhere");
  EXPECT_EQ(writer.get_run("old2").pid, 4242);
  EXPECT_FALSE(writer.get_run("old2").trainer_gone());  // another host: cannot tell
  EXPECT_THROW(writer.record_branch("old2", "nope", 1), replay::Error);
  // A second name for the same run in one sweep is an alias; the first keeps its tags.
  writer.add_run({"config old2", "old2", "s", "mid-copy", {{"family", "copy"}}, "", {}});
  auto runs = writer.list_runs({});
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1].name, "mid");
  EXPECT_EQ(runs[1].aliases, std::vector<std::string>{"mid-copy"});
  EXPECT_EQ(runs[1].tag("family"), "mid-training");
  EXPECT_EQ(Registry(path, false).schema_version(), kRegistrySchemaVersion);
}

namespace {

// A registry file as schema version 3 wrote it: the version-2 file migrated
// by this build (3 -> 4 only adds a table), without task_scores.
void write_v3_registry(const stdfs::path& path) {
  write_v2_registry(path);
  { Registry migrate(path); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* msg = nullptr;
  ASSERT_EQ(sqlite3_exec(db, "DROP TABLE task_scores; PRAGMA user_version=3", nullptr, nullptr, &msg), SQLITE_OK)
      << (msg ? msg : "");
  sqlite3_close(db);
}

const char* const kTaskLines =
    R"({"kind":"task","step":0,"tokens":0,"task":"hellaswag","items":400,"acc":0.30,"acc_stderr":0.023,"acc_norm":0.32,"acc_norm_stderr":0.0233,"mismatches":0,"gold_loglik":-41.5})" "\n"
    R"({"kind":"task","step":0,"tokens":0,"task":"arc_easy","items":200,"acc":0.45,"acc_stderr":0.035,"mismatches":2,"gold_loglik":-12.25})" "\n"
    R"({"kind":"eval","step":64,"tokens":4096,"val":{"target":3.0}})" "\n"
    R"({"kind":"task","step":64,"tokens":4096,"task":"hellaswag","items":400,"acc":0.35,"acc_stderr":0.0239,"acc_norm":0.36,"acc_norm_stderr":0.024,"mismatches":0,"gold_loglik":-40.0})" "\n"
    R"({"kind":"task","step":64,"tokens":4096,"task":"arc_easy","items":200,"acc":0.41,"acc_stderr":0.0348,"mismatches":2,"gold_loglik":null})" "\n";

}  // namespace

// Version 3 -> 4 adds the task scores; a reader sees none in a version-3
// file and does not change it.
TEST(Registry, VersionThreeFilesAreMigratedToTaskScores) {
  TempDir tmp("v3");
  const auto path = tmp.path / "r.sqlite";
  write_v3_registry(path);
  const std::string before = replay::fs::read_file(path);
  {
    Registry reader(path, /*create=*/false);
    EXPECT_EQ(reader.schema_version(), 3);
    EXPECT_TRUE(reader.task_scores("old2").empty());
    EXPECT_TRUE(reader.task_history("old2", "hellaswag").empty());
    EXPECT_TRUE(reader.final_task_scores("old2").empty());
    EXPECT_EQ(reader.list_runs().size(), 2u);
  }
  EXPECT_EQ(replay::fs::read_file(path), before);
  Registry writer(path);
  EXPECT_EQ(writer.schema_version(), kRegistrySchemaVersion);
  RunRecord old = writer.get_run("old2");
  EXPECT_EQ(old.status, RunStatus::running);
  EXPECT_EQ(old.branched_from, "old1");
  EXPECT_DOUBLE_EQ(old.final_metrics.at("target").loss, 2.5);
  EXPECT_TRUE(writer.task_scores("old2").empty());
  writer.import_metrics("old2", parse_metrics(kTaskLines, "m"));
  EXPECT_EQ(writer.task_scores("old2").size(), 4u);
  EXPECT_EQ(Registry(path, false).final_task_scores("old2").size(), 2u);
}

TEST(Registry, ImportsTaskScoresIdempotentlyAndReadsThemBack) {
  TempDir tmp("tasks");
  Registry reg(tmp.path / "r.sqlite");
  std::string a = reg.add_run({"cfg a", "", "s", "a", {}, "", {}});
  std::string b = reg.add_run({"cfg b", "", "s", "b", {}, "", {}});
  RunMetrics m = parse_metrics(kTaskLines, "m");
  reg.import_metrics(a, m);
  reg.import_metrics(a, m);  // idempotent: one row per (run, task, step)
  EXPECT_EQ(reg.task_scores(a).size(), 4u);
  EXPECT_TRUE(reg.task_scores(b).empty());

  auto history = reg.task_history(a, "hellaswag");
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].step, 0);
  EXPECT_EQ(history[1].step, 64);
  EXPECT_EQ(history[1].tokens, 4096);
  EXPECT_EQ(history[1].items, 400);
  EXPECT_DOUBLE_EQ(history[1].acc, 0.35);
  EXPECT_DOUBLE_EQ(history[1].acc_stderr, 0.0239);
  ASSERT_TRUE(history[1].acc_norm && history[1].acc_norm_stderr);
  EXPECT_DOUBLE_EQ(*history[1].acc_norm, 0.36);
  EXPECT_DOUBLE_EQ(*history[1].acc_norm_stderr, 0.024);
  EXPECT_DOUBLE_EQ(history[1].gold_loglik, -40.0);

  auto final = reg.final_task_scores(a);
  ASSERT_EQ(final.size(), 2u);
  const TaskScoreRecord& arc = final.at("arc_easy");
  EXPECT_EQ(arc.step, 64);
  EXPECT_DOUBLE_EQ(arc.acc, 0.41);
  EXPECT_EQ(arc.mismatches, 2);
  EXPECT_FALSE(arc.acc_norm.has_value());  // the task reports no acc_norm
  EXPECT_TRUE(std::isnan(arc.gold_loglik));  // null in the metrics, NULL in the file
  EXPECT_EQ(final.at("hellaswag").step, 64);

  // A later import of the same step (a resumed run rescoring) replaces it.
  RunMetrics again;
  TaskScoreRecord redo = history[1];
  redo.acc = 0.36;
  again.tasks.push_back(redo);
  reg.import_metrics(a, again);
  EXPECT_DOUBLE_EQ(reg.final_task_scores(a).at("hellaswag").acc, 0.36);
  EXPECT_EQ(reg.task_scores(a).size(), 4u);
  EXPECT_THROW(reg.import_metrics("nope", m), replay::Error);
}

// A running run whose trainer's process is gone (on this host) is stale.
TEST(Registry, ARunningRunWhoseTrainerIsGoneIsStale) {
  TempDir tmp("stale");
  Registry reg(tmp.path / "r.sqlite");
  std::string id = reg.add_run({"cfg", "", "s", "x", {}, "", {}});
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);  // gone, reaped
  reg.mark_running(id, ::getpid(), replay::process::host_name());
  EXPECT_FALSE(reg.get_run(id).trainer_gone());
  reg.mark_running(id, child, replay::process::host_name());
  EXPECT_TRUE(reg.get_run(id).trainer_gone());
  reg.mark_done(id);
  EXPECT_FALSE(reg.get_run(id).trainer_gone());  // only a running run can be stale
}

namespace {

// Runs the query through SQLite itself (as a researcher would with the
// sqlite3 shell) and returns the first column of every row.
std::vector<std::string> query_names(const stdfs::path& path, const char* sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  std::vector<std::string> out;
  while (sqlite3_step(stmt) == SQLITE_ROW) out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

// Four runs of a rho sweep as the sweep runner tags them (runner.cpp writes
// rho with 17 significant digits), plus one without rho whose tags only
// look like numbers.
void add_rho_runs(Registry& reg) {
  for (const char* rho : {"0", "0.25", "0.5", "0.75000000000000000"})
    reg.add_run({std::string("cfg rho ") + rho, "", "s", std::string("mid-rho=") + rho,
                 {{"family", "mid-training"}, {"rho", rho}, {"seed", "7"}, {"target", "finemath"}}, "", {}});
  reg.add_run({"cfg odd", "", "s", "odd", {{"note", "0.9 "}, {"family", "007"}}, "", {}});
}

}  // namespace

TEST(Registry, NumberTagsAreStoredAsNumbersSoSqlComparesThem) {
  TempDir tmp("numtags");
  const auto path = tmp.path / "r.sqlite";
  {
    Registry reg(path);
    add_rho_runs(reg);
  }
  const char* query = "SELECT name FROM sweep_runs WHERE json_extract(tags, '$.rho') > 0.4 ORDER BY name";
  EXPECT_EQ(query_names(path, query), (std::vector<std::string>{"mid-rho=0.5", "mid-rho=0.75000000000000000"}));
  EXPECT_EQ(query_names(path, "SELECT json_type(tags, '$.seed') FROM sweep_runs WHERE name = 'mid-rho=0'"),
            std::vector<std::string>{"integer"});
  // Text that only looks like a number stays text (and a string never compares as a number).
  EXPECT_EQ(query_names(path, "SELECT json_type(tags, '$.note') || ' ' || json_type(tags, '$.family') "
                              "FROM sweep_runs WHERE name = 'odd'"),
            std::vector<std::string>{"text text"});
  Registry reader(path, false);
  auto runs = reader.list_runs();
  ASSERT_EQ(runs.size(), 5u);
  EXPECT_EQ(runs[1].tag("rho"), "0.25");
  EXPECT_EQ(runs[3].tag("rho"), "0.75");  // the shortest text of the same number
  EXPECT_DOUBLE_EQ(*runs[3].tag_number("rho"), 0.75);
  EXPECT_EQ(runs[0].tag("target"), "finemath");
  EXPECT_EQ(runs[4].tag("note"), "0.9 ");
  EXPECT_EQ(runs[4].tag("family"), "007");
}

// A version-4 file kept its numbers as text: a reader reads it as it is, a
// writer rewrites every tag object (memberships and aliases) in place.
TEST(Registry, VersionFourFilesGetNumberTagsWhenOpenedForWriting) {
  TempDir tmp("v4");
  const auto path = tmp.path / "r.sqlite";
  {
    Registry reg(path);
    add_rho_runs(reg);
    reg.add_run({"cfg rho 0.5", "", "s", "alias-of-half", {{"rho", "0.5"}}, "", {}});
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  const char* as_text =
      "UPDATE sweep_runs SET tags = (SELECT json_group_object(key, CAST(value AS TEXT)) FROM json_each(tags)); "
      "UPDATE run_aliases SET tags = (SELECT json_group_object(key, CAST(value AS TEXT)) FROM json_each(tags)); "
      "PRAGMA user_version=4";
  ASSERT_EQ(sqlite3_exec(db, as_text, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
  const char* query = "SELECT name FROM sweep_runs WHERE json_extract(tags, '$.rho') > 0.4 ORDER BY name";
  ASSERT_EQ(query_names(path, query).size(), 4u);  // text compares above every number: the bug
  {
    Registry reader(path, false);
    EXPECT_EQ(reader.schema_version(), 4);
    EXPECT_DOUBLE_EQ(*reader.list_runs()[2].tag_number("rho"), 0.5);
  }
  EXPECT_EQ(Registry(path).schema_version(), kRegistrySchemaVersion);
  EXPECT_EQ(query_names(path, query), (std::vector<std::string>{"mid-rho=0.5", "mid-rho=0.75000000000000000"}));
  EXPECT_EQ(query_names(path, "SELECT json_type(tags, '$.rho') FROM run_aliases"), std::vector<std::string>{"real"});
  EXPECT_EQ(query_names(path, "SELECT json_type(tags, '$.note') FROM sweep_runs WHERE name = 'odd'"),
            std::vector<std::string>{"text"});
  EXPECT_EQ(Registry(path, false).list_runs()[0].tag("target"), "finemath");
}

// A sweep file edited (or a store rebuilt) since an earlier run: the name now
// means the new run on that store; the old run leaves the sweep but stays in
// the registry. The same name on another store (one sweep over two targets)
// keeps its run.
TEST(Registry, ANameThatNowMeansAnotherRunOnTheSameStoreLeavesTheOldOne) {
  TempDir tmp("replaced");
  Registry reg(tmp.path / "r.sqlite");
  TargetIdentity math{"target", "math", (tmp.path / "stores" / "math").string(), "aaaa"};
  TargetIdentity code{"target", "code", (tmp.path / "stores" / "code").string(), "cccc"};
  const std::string old_math = reg.add_run({"ft lr 3e-4 math", "", "demo", "ft-m=1", {}, "", math});
  const std::string on_code = reg.add_run({"ft lr 3e-4 code", "", "demo", "ft-m=1", {}, "", code});
  TargetIdentity rebuilt = math;
  rebuilt.manifest_hash = "bbbb";  // same store path, rebuilt
  const std::string new_math = reg.add_run({"ft lr 1e-3 math", "", "demo", "ft-m=1", {}, "", rebuilt});
  RunFilter demo;
  demo.sweep = "demo";
  std::set<std::string> ids;
  for (const auto& r : reg.list_runs(demo)) ids.insert(r.id);
  EXPECT_EQ(ids, (std::set<std::string>{new_math, on_code}));
  EXPECT_TRUE(reg.find_run(old_math));  // still in the registry
  // Adding the old run again (its config back in the file) makes it the name's run again.
  reg.add_run({"ft lr 3e-4 math", "", "demo", "ft-m=1", {}, "", math});
  ids.clear();
  for (const auto& r : reg.list_runs(demo)) ids.insert(r.id);
  EXPECT_EQ(ids, (std::set<std::string>{old_math, on_code}));
}
