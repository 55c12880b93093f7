// What the dashboard shows while a sweep runs, and how `replay serve`
// refuses what it cannot do, on registries written here (no training):
// a running run's step comes from its metrics.jsonl as the trainer appends
// to it, its ETA from its pace since it started; a missing registry, a bad
// flag and a port in use are refused with the documented exit codes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "analysis/registry.h"
#include "replay_cli.h"
#include "serve/dashboard.h"
#include "serve_fixture.h"
#include "temp_dir.h"
#include "util/fs.h"
#include "util/process.h"

namespace {

namespace stdfs = std::filesystem;
using namespace replay;
using nlohmann::json;

// A shell command's exit code and output (stdout and stderr).
CliResult run_command(const std::string& command) { return run_shell(command + " 2>&1"); }

std::string step_lines(int first, int last) {
  std::string out;
  for (int s = first; s <= last; ++s)
    out += "{\"kind\":\"step\",\"step\":" + std::to_string(s) + ",\"phase\":\"train\",\"tokens\":" +
           std::to_string(s * 256) + ",\"lr\":0.001,\"loss\":" + std::to_string(5.0 - 0.1 * s) +
           ",\"grad_norm\":1.0,\"tokens_per_s\":1000.0}\n";
  return out;
}

// A registry with one run of 20 steps (resolved config as a sweep records
// it), running in this process; its folder holds metrics.jsonl.
struct RunningRun {
  TempDir tmp{"serve_live"};
  stdfs::path db = tmp.path / "registry.sqlite";
  stdfs::path run_dir = tmp.path / "r1";
  std::string id;

  RunningRun() {
    stdfs::create_directories(run_dir);
    analysis::Registry reg(db);
    analysis::NewRun run;
    run.config = json{{"train", {{"steps", 20}}}, {"schedule", {{"phases", json::array()}}}}.dump();
    run.sweep = "live";
    run.name = "only";
    run.run_dir = run_dir.string();
    id = reg.add_run(run);
    reg.mark_running(id, ::getpid(), process::host_name());
  }
};

TEST(ServeLive, ARunningRunShowsItsStepAndEtaFromItsMetrics) {
  RunningRun r;
  const analysis::Registry reg(r.db, false);
  const double started = *reg.get_run(r.id).started_at;
  train::testing::write_text(r.run_dir / "metrics.jsonl", step_lines(1, 5));
  json doc = serve::runs_document(reg, started + 10);
  json run = doc["runs"][0];
  EXPECT_EQ(run["status"], "running");
  EXPECT_EQ(run["step"], 0) << "the registry has not heard of the steps yet";
  EXPECT_EQ(run["progress_step"], 5);
  EXPECT_EQ(run["total_steps"], 20);
  // 5 steps in 10 s, 15 left: 30 s at that pace.
  EXPECT_DOUBLE_EQ(run["eta_s"].get<double>(), 30.0);
  EXPECT_EQ(run["eta"], "30s");
  EXPECT_EQ(run["duration"], "10s");

  // The trainer appends (the last line not finished yet): the next look sees it.
  train::testing::write_text(r.run_dir / "metrics.jsonl", step_lines(1, 15) + "{\"kind\":\"st");
  run = serve::runs_document(reg, started + 30)["runs"][0];
  EXPECT_EQ(run["progress_step"], 15);
  EXPECT_DOUBLE_EQ(run["eta_s"].get<double>(), 10.0);
  json curves = serve::run_curves(reg, r.id);
  EXPECT_EQ(curves["train"].size(), 15u);
  EXPECT_DOUBLE_EQ(curves["train"][14][1].get<double>(), 5.0 - 0.1 * 15);

  // Done: no ETA any more.
  analysis::Registry(r.db).mark_done(r.id);
  run = serve::runs_document(reg, started + 40)["runs"][0];
  EXPECT_EQ(run["status"], "done");
  EXPECT_TRUE(run["eta_s"].is_null());
  EXPECT_EQ(run["eta"], "");
}

TEST(ServeLive, AMetricsFileThatDoesNotParseIsNamedNotFatal) {
  RunningRun r;
  train::testing::write_text(r.run_dir / "metrics.jsonl", "not json\n" + step_lines(1, 2));
  const analysis::Registry reg(r.db, false);
  json curves = serve::run_curves(reg, r.id);
  EXPECT_NE(curves["error"].get<std::string>().find("metrics.jsonl"), std::string::npos) << curves["error"];
  EXPECT_TRUE(curves["train"].empty());
}

TEST(ServeCli, RefusesAMissingRegistryAndBadFlags) {
  TempDir tmp("serve_cli");
  const stdfs::path missing = tmp.path / "nothing.sqlite";
  CliResult r = run_replay("serve --db " + missing.string() + " --port 0");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find(missing.string()), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("serve: http"), std::string::npos) << "nothing listens";
  EXPECT_FALSE(stdfs::exists(missing)) << "serve never creates a registry";
  // --runs DIR alone reads DIR's registry.
  r = run_replay("serve --runs " + tmp.path.string() + " --port 0");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find((tmp.path / "registry.sqlite").string()), std::string::npos) << r.out;
  EXPECT_EQ(run_replay("serve --port 70000").status, 2);
  EXPECT_EQ(run_replay("serve --port").status, 2);
  EXPECT_EQ(run_replay("serve --no-such-flag").status, 2);
}

TEST(ServeCli, APortInUseIsAnErrorNamingIt) {
  RunningRun r;
  serve_testing::ServeProcess first("--db " + r.db.string(), r.tmp.path / "first.log");
  ASSERT_FALSE(first.url().empty()) << fs::read_file(r.tmp.path / "first.log");
  // Under `timeout`: a server that shared the port would serve until killed.
  CliResult second = run_command("timeout 60 " + std::string(REPLAY_BINARY) + " serve --db " + r.db.string() +
                                 " --port " + std::to_string(first.port()));
  EXPECT_EQ(second.status, 1) << second.out;
  EXPECT_NE(second.out.find("cannot listen on 127.0.0.1:" + std::to_string(first.port())), std::string::npos)
      << second.out;
  EXPECT_EQ(first.stop(), 0);
}

}  // namespace
