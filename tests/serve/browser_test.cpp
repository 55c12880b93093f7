// The dashboard in a real browser: headless Chromium (Debian's `chromium`,
// which scripts/test.sh installs) loads the page `replay serve` gives for a
// registry made by a real tiny sweep, runs its script against the live API,
// and the DOM it leaves must hold every run (id and name), the charts as SVG
// with their text, the stage boundaries, the fit and the heatmap. A
// screenshot of the page is taken and must be a real picture of it.
// Skipped, saying so, where no Chromium is installed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "analysis/png_pixels.h"
#include "analysis/registry.h"
#include "serve_fixture.h"
#include "temp_dir.h"
#include "util/fs.h"

namespace {

namespace stdfs = std::filesystem;
using serve_testing::ServeProcess;

std::string find_chromium() {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/snap/bin"})
    for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
      const stdfs::path p = stdfs::path(dir) / name;
      if (::access(p.c_str(), X_OK) == 0) return p.string();
    }
  return "";
}

// Runs a shell command; its stdout.
std::string output_of(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  ::pclose(pipe);
  return out;
}

// Headless Chromium on `url` with `what` (--dump-dom or --screenshot=FILE).
// The virtual time budget lets the page's script fetch the API and draw
// (a fit's first bootstrap takes real seconds: the budget waits for it).
std::string chromium(const std::string& binary, const stdfs::path& profile, const std::string& what,
                     const std::string& url) {
  return output_of("timeout 50 " + binary + " --headless=new --no-sandbox --disable-gpu --no-first-run" +
                   " --user-data-dir=" + profile.string() + " --virtual-time-budget=8000" +
                   " --window-size=1280,1600 " + what + " " + url + " 2>/dev/null");
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(ServeBrowser, ChromiumDrawsTheDashboard) {
  const std::string browser = find_chromium();
  if (browser.empty()) GTEST_SKIP() << "no chromium found (apt-get install chromium; scripts/test.sh does)";
  TempDir tmp("serve_browser");
  const auto db = serve_testing::tiny_sweep_registry();
  ServeProcess server("--db " + db.string(), tmp.path / "serve.log");
  const std::string url = server.url();
  ASSERT_FALSE(url.empty()) << replay::fs::read_file(tmp.path / "serve.log");

  const std::string dom = chromium(browser, tmp.path / "profile", "--dump-dom", url);
  ASSERT_NE(dom.find("Replay dashboard"), std::string::npos) << dom.substr(0, 2000);
  // Every run of the registry is a row, by id and by name.
  replay::analysis::Registry registry(db, false);
  const auto runs = registry.list_runs();
  ASSERT_EQ(runs.size(), static_cast<size_t>(serve_testing::kSweepRuns));
  for (const auto& r : runs) {
    EXPECT_NE(dom.find("data-run-id=\"" + r.id + "\""), std::string::npos) << r.id;
    EXPECT_NE(dom.find(">" + r.name + "<"), std::string::npos) << r.name;
  }
  EXPECT_EQ(count(dom, "<td class=\"done\">done</td>"), runs.size());
  // The charts: the selected run's, the sweep's two overlays, the
  // multipliers, the heatmap; axis labels are real text.
  EXPECT_GE(count(dom, "<svg class=\"chart\""), 4u) << dom;
  EXPECT_NE(dom.find("target validation loss</text>"), std::string::npos);
  EXPECT_NE(dom.find("generic validation loss</text>"), std::string::npos);
  EXPECT_NE(dom.find(">step</text>"), std::string::npos);
  // Fine-tuning's stage boundary is marked on both overlays.
  EXPECT_GE(count(dom, "class=\"boundary\""), 2u);
  EXPECT_EQ(count(dom, ">ft: stage 2 @ "), 2u);
  // The fit's table and the heatmap's four cells.
  EXPECT_NE(dom.find("id=\"fit-params\""), std::string::npos);
  EXPECT_NE(dom.find("id=\"heatmap-svg\""), std::string::npos);
  EXPECT_NE(dom.find(">rho 0.5</text>"), std::string::npos);
  EXPECT_NE(dom.find(">alpha 1</text>"), std::string::npos);
  EXPECT_EQ(dom.find("id=\"status\" class=\"error\""), std::string::npos) << "the page reported an API error";
  EXPECT_NE(dom.find(std::to_string(runs.size()) + " runs, 0 running"), std::string::npos);

  // The screenshot: a PNG of the window with the charts' colours in it.
  const stdfs::path shot = tmp.path / "dashboard.png";
  chromium(browser, tmp.path / "profile", "--screenshot=" + shot.string(), url);
  ASSERT_TRUE(stdfs::exists(shot)) << "no screenshot";
  const std::string png = replay::fs::read_file(shot);
  EXPECT_GT(png.size(), 20000u) << "a dashboard, not a blank page";
  EXPECT_GT(png_pixels::count_pixels(png, 0x1f, 0x77, 0xb4), 200) << "the first series' blue is drawn";
  // Kept for people to look at: REPLAY_SERVE_SCREENSHOT=path copies it there.
  if (const char* keep = std::getenv("REPLAY_SERVE_SCREENSHOT"))
    stdfs::copy_file(shot, keep, stdfs::copy_options::overwrite_existing);
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
