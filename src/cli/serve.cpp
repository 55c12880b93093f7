// `replay serve`: a live dashboard of a run registry on a local HTTP port
// (serve/server.h): the runs with status and ETA, each run's curves, the
// overlays of a sweep's runs with their stage boundaries, the fit and the
// multipliers with their intervals, the (rho, alpha) heatmap; the page
// refreshes by itself while a sweep writes the registry. The first line on
// stderr is the URL ("serve: http://127.0.0.1:PORT/"), so that a script
// started with --port 0 can read where to go. SIGINT or SIGTERM ends it
// (exit 0): it writes nothing, so there is nothing to save.
#include <cstdio>
#include <memory>
#include <string>

#include "analysis/registry.h"
#include "cli/command.h"
#include "cli/options.h"
#include "run/layout.h"
#include "serve/server.h"
#include "util/stop_signals.h"

namespace {

struct Options {
  std::string runs = replay::run::kDefaultRunsDir;
  std::string db;  // "" = <runs>/registry.sqlite
  std::string host = replay::serve::kDefaultHost;
  int port = 8080;
};

void run(const Options& o) {
  replay::serve::ServeOptions so;
  so.db = o.db.empty() ? std::filesystem::path(o.runs) / replay::run::kRegistryFile : std::filesystem::path(o.db);
  so.host = o.host;
  so.port = o.port;
  const std::atomic<int>& stop = replay::install_stop_handlers();
  replay::serve::serve(so, stop, [&](int port) {
    std::fprintf(stderr, "serve: %s\n", replay::serve::url_of(o.host, port).c_str());
    std::fprintf(stderr, "serve: registry %s; Ctrl-C stops\n", so.db.string().c_str());
  });
  std::fprintf(stderr, "serve: stopped\n");
}

void setup(CLI::App& app) {
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("serve", "Serve a live dashboard of the run registry on a local HTTP port");
  cmd->footer(
      "Open the printed URL in a browser: runs with status and ETA, curves, sweep overlays with\n"
      "stage boundaries, the fit and multipliers with intervals, the (rho, alpha) heatmap.\n"
      "It refreshes by itself while a sweep runs. Example:\n"
      "  replay serve --runs runs --port 8080");
  replay::cli::add_runs_option(cmd, opts->runs);
  replay::cli::add_db_option(cmd, opts->db);
  cmd->add_option("--host", opts->host, "Address to listen on (only this machine by default)")->capture_default_str();
  cmd->add_option("--port", opts->port, "Port to listen on (0: any free port; the URL is printed)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->callback([opts] { run(*opts); });
}

}  // namespace

REPLAY_COMMAND(95, setup);
