// `replay serve` over real HTTP: the real binary serving a registry made by
// a real tiny sweep (serve_fixture.h) answers every route of serve/server.h
// with what the registry and the run folders hold, refuses what it cannot
// serve, and stops on SIGTERM with exit 0. The documents are also checked
// against `replay runs --json` and `replay fit --json`, which they share.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <set>

#include "replay_cli.h"
#include "serve_fixture.h"
#include "temp_dir.h"

namespace {

using nlohmann::json;
using serve_testing::ServeProcess;

json get_json(httplib::Client& client, const std::string& path, int expect_status = 200) {
  auto res = client.Get(path.c_str());
  EXPECT_TRUE(res) << path;
  if (!res) return nullptr;
  EXPECT_EQ(res->status, expect_status) << path << ": " << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json") << path;
  return json::parse(res->body);
}

// The run of `runs` whose tags include every one of `tags`.
const json& run_tagged(const json& runs, const json& tags) {
  for (const auto& r : runs["runs"]) {
    bool all = true;
    for (const auto& [k, v] : tags.items()) all = all && r["tags"].contains(k) && r["tags"][k] == v;
    if (all) return r;
  }
  ADD_FAILURE() << "no run tagged " << tags;
  static const json none = json::object();
  return none;
}

TEST(ServeApi, ServesTheRegistryOfATinySweep) {
  TempDir tmp("serve_api");
  const auto db = serve_testing::tiny_sweep_registry();
  ServeProcess server("--db " + db.string(), tmp.path / "serve.log");
  const std::string url = server.url();
  ASSERT_FALSE(url.empty()) << replay::fs::read_file(tmp.path / "serve.log");
  httplib::Client client("127.0.0.1", server.port());

  // The page: one HTML document with its script, nothing from the network.
  auto page = client.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<svg"), std::string::npos) << "charts are drawn as SVG by the page's script";
  EXPECT_NE(page->body.find("/api/runs"), std::string::npos);
  EXPECT_EQ(page->body.find("http://"), page->body.find("http://www.w3.org/2000/svg")) << "no external resource";

  // Runs: the same document as `replay runs --json`, plus the live fields.
  json runs = get_json(client, "/api/runs");
  ASSERT_EQ(runs["runs"].size(), static_cast<size_t>(serve_testing::kSweepRuns));
  CliResult cli = run_replay("runs --db " + db.string() + " --json");
  ASSERT_EQ(cli.status, 0) << cli.out;
  json cli_runs = json::parse(cli.out);
  for (size_t i = 0; i < cli_runs["runs"].size(); ++i) {
    json served = runs["runs"][i];
    for (const char* live : {"total_steps", "progress_step", "eta_s", "eta", "duration_s", "duration"}) served.erase(live);
    EXPECT_EQ(served, cli_runs["runs"][i]);
  }
  EXPECT_EQ(runs["cells"], cli_runs["cells"]);
  EXPECT_EQ(runs["sweeps"], json::array({serve_testing::kSweepName}));
  for (const auto& r : runs["runs"]) {
    EXPECT_EQ(r["status"], "done") << r["name"];
    EXPECT_EQ(r["total_steps"], 20) << r["name"];
    EXPECT_EQ(r["progress_step"], 20) << r["name"];
    EXPECT_TRUE(r["eta_s"].is_null()) << "a done run has no ETA";
  }

  // One run's curves: every training step, and the evaluations of both splits.
  const json& ft = run_tagged(runs, {{"family", "fine-tuning"}});
  json curves = get_json(client, "/api/run?id=" + ft["id"].get<std::string>());
  EXPECT_EQ(curves["train"].size(), 20u);
  EXPECT_EQ(curves["train"].back()[0], 20);
  EXPECT_EQ(curves["target_split"], "math");
  EXPECT_EQ(curves["generic_split"], "generic");
  ASSERT_TRUE(curves["evals"].contains("math"));
  ASSERT_TRUE(curves["evals"].contains("generic"));
  EXPECT_EQ(curves["evals"]["math"].back()[0], 20);
  EXPECT_DOUBLE_EQ(curves["evals"]["math"].back()[1].get<double>(),
                   ft["final_losses"]["math"]["loss"].get<double>());
  // Fine-tuning starts at the boundary its resolved config records.
  ASSERT_EQ(curves["boundaries"].size(), 1u);
  const int64_t boundary = curves["boundaries"][0];
  EXPECT_GT(boundary, 0);
  EXPECT_LT(boundary, 20);

  // The sweep's overlay: every run with its validation curves; the
  // fine-tuning run carries where fine-tuning starts, each mid-training run
  // its stage2_step tag (the plan's boundary), the reference runs (one
  // stage) none.
  json overlay = get_json(client, std::string("/api/sweep?name=") + serve_testing::kSweepName);
  ASSERT_EQ(overlay["runs"].size(), static_cast<size_t>(serve_testing::kSweepRuns));
  std::set<std::string> with_boundary;
  for (const auto& r : overlay["runs"]) {
    EXPECT_FALSE(r["evals"]["math"].empty()) << r["name"];
    if (!r["boundaries"].empty()) with_boundary.insert(r["name"]);
  }
  EXPECT_EQ(with_boundary, (std::set<std::string>{ft["name"].get<std::string>(), "mid-alpha=0.5-rho=0",
                                                   "mid-alpha=0.5-rho=0.5", "mid-alpha=1-rho=0",
                                                   "mid-alpha=1-rho=0.5"}));
  for (const auto& r : runs["runs"])
    if (r["name"].get<std::string>().rfind("mid-", 0) == 0)
      for (const auto& o : overlay["runs"])
        if (o["name"] == r["name"])
          EXPECT_EQ(o["boundaries"][0].get<int64_t>(), r["tags"]["stage2_step"].get<int64_t>())
              << r["name"];

  // The heatmap: rho ascending, alpha descending, each cell its run's final target loss.
  const json& heat = overlay["heatmap"];
  EXPECT_EQ(heat["cells"], 4);
  EXPECT_EQ(heat["rho"], json::array({0.0, 0.5}));
  EXPECT_EQ(heat["alpha"], json::array({1.0, 0.5}));
  const json& mid = run_tagged(runs, {{"family", "mid-training"}, {"rho", 0.5}, {"alpha", 0.5}});
  EXPECT_DOUBLE_EQ(heat["loss"][1][1].get<double>(), mid["final_losses"]["math"]["loss"].get<double>());

  // The fit: the same document as `replay fit --sweep dash --json` (asked
  // twice: the second answer comes from the cache and must be the same).
  json fit = get_json(client, std::string("/api/fit?sweep=") + serve_testing::kSweepName);
  cli = run_replay("fit --db " + db.string() + " --sweep " + serve_testing::kSweepName + " --json");
  ASSERT_EQ(cli.status, 0) << cli.out;
  EXPECT_EQ(fit, json::parse(cli.out));
  EXPECT_EQ(fit["fit"]["points"].size(), 3u);
  EXPECT_EQ(get_json(client, std::string("/api/fit?sweep=") + serve_testing::kSweepName), fit);

  // What it cannot serve: 404 with a message naming it.
  EXPECT_NE(get_json(client, "/api/run?id=0123", 404)["error"].get<std::string>().find("no run 0123"),
            std::string::npos);
  EXPECT_NE(get_json(client, "/api/sweep?name=nope", 404)["error"].get<std::string>().find("no sweep nope"),
            std::string::npos);
  EXPECT_NE(get_json(client, "/api/run", 404)["error"].get<std::string>().find("'id'"), std::string::npos);

  EXPECT_EQ(server.stop(), 0) << "SIGTERM ends the server with exit 0";
}

}  // namespace
