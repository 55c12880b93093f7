#include "serve/server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

#include "analysis/registry.h"
#include "serve/dashboard.h"
#include "serve/page.h"
#include "util/error.h"

namespace replay::serve {

namespace {

using nlohmann::json;

void send_json(httplib::Response& res, int status, const json& doc) {
  res.status = status;
  // The page polls: an answer must never come from a cache.
  res.set_header("Cache-Control", "no-store");
  res.set_content(doc.dump(), "application/json");
}

// Answers with `make(registry)`, or 404 / 500 with {"error"}.
void answer(httplib::Response& res, const std::filesystem::path& db,
            const std::function<json(const analysis::Registry&)>& make) {
  try {
    const analysis::Registry registry(db, /*create=*/false);
    send_json(res, 200, make(registry));
  } catch (const NotFound& e) {
    send_json(res, 404, {{"error", e.what()}});
  } catch (const std::exception& e) {
    send_json(res, 500, {{"error", e.what()}});
  }
}

// A query parameter the route needs; NotFound names it when absent.
std::string required(const httplib::Request& req, const char* name) {
  if (!req.has_param(name)) throw NotFound(std::string("missing query parameter '") + name + "'");
  return req.get_param_value(name);
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void add_routes(httplib::Server& server, const std::filesystem::path& db, FitCache& fits) {
  server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_content(kDashboardPage, "text/html; charset=utf-8");
  });
  server.Get("/api/runs", [db](const httplib::Request&, httplib::Response& res) {
    answer(res, db, [](const analysis::Registry& r) { return runs_document(r, unix_now()); });
  });
  server.Get("/api/run", [db](const httplib::Request& req, httplib::Response& res) {
    answer(res, db, [&](const analysis::Registry& r) { return run_curves(r, required(req, "id")); });
  });
  server.Get("/api/sweep", [db](const httplib::Request& req, httplib::Response& res) {
    answer(res, db, [&](const analysis::Registry& r) { return sweep_overlay(r, required(req, "name")); });
  });
  server.Get("/api/fit", [db, &fits](const httplib::Request& req, httplib::Response& res) {
    answer(res, db, [&](const analysis::Registry& r) {
      const std::string target = req.has_param("target") ? req.get_param_value("target") : "";
      return fits.fit_document(r, required(req, "sweep"), target);
    });
  });
}

}  // namespace

std::string url_of(const std::string& host, int port) {
  return "http://" + host + ":" + std::to_string(port) + "/";
}

void serve(const ServeOptions& options, const std::atomic<int>& stop,
           const std::function<void(int port)>& on_listening) {
  { const analysis::Registry check(options.db, /*create=*/false); }  // refuse a missing or corrupt file now
  httplib::Server server;
  // cpp-httplib's default also sets SO_REUSEPORT, with which a second
  // server binds a port in use and the two share its requests unseen; only
  // SO_REUSEADDR (a restart may bind while old connections linger).
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  FitCache fits;
  add_routes(server, options.db, fits);
  int port = options.port;
  if (port == 0) port = server.bind_to_any_port(options.host);
  else if (!server.bind_to_port(options.host, port)) port = -1;
  if (port < 0)
    throw Error("serve: cannot listen on " + options.host + ":" + std::to_string(options.port) +
                " (address in use, or not an address of this machine)");
  on_listening(port);
  std::atomic<bool> finished{false};
  // stop() does nothing before the accept loop runs, so it is repeated
  // until the loop has ended.
  std::thread watcher([&] {
    while (!finished.load()) {
      if (stop.load() != 0) server.stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  const bool ok = server.listen_after_bind();
  finished = true;
  watcher.join();
  if (!ok && stop.load() == 0) throw Error("serve: the server on " + url_of(options.host, port) + " stopped");
}

}  // namespace replay::serve
