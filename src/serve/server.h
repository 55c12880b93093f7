// `replay serve`'s HTTP server (Debian's cpp-httplib): the dashboard page
// (page.h) and the JSON documents behind it (dashboard.h), read from the
// registry afresh at every request. Routes, all GET:
//
//   /                      the page (text/html)
//   /api/runs              runs_document
//   /api/run?id=ID         run_curves
//   /api/sweep?name=NAME   sweep_overlay (with its heatmap)
//   /api/fit?sweep=NAME[&target=T]   FitCache::fit_document
//
// A document the registry cannot give answers 404 (an unknown run or sweep,
// a missing parameter) or 500 (the registry cannot be read), with
// {"error": message}; the page shows the message and keeps polling.
// Nothing is written: the registry is opened read-only per request
// (analysis/registry.h), so a sweep may write it meanwhile.
#pragma once
#include <atomic>
#include <filesystem>
#include <functional>
#include <string>

namespace replay::serve {

inline constexpr const char* kDefaultHost = "127.0.0.1";

struct ServeOptions {
  std::filesystem::path db;   // the registry; must exist (checked before listening)
  std::string host = kDefaultHost;
  int port = 0;               // 0: a free port, chosen by the system
};

// "http://HOST:PORT/"
std::string url_of(const std::string& host, int port);

// Listens on host:port and serves until `stop` becomes nonzero (checked
// every 100 ms; util/stop_signals.h sets it on SIGINT / SIGTERM), then
// returns. `on_listening` is called with the bound port once connections are
// accepted. Throws replay::Error when the registry cannot be opened or the
// address cannot be bound (naming it).
void serve(const ServeOptions& options, const std::atomic<int>& stop,
           const std::function<void(int port)>& on_listening);

}  // namespace replay::serve
