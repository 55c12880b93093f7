// Unusable output paths are refused up front by every command that writes,
// naming the config key or option, with exit 1 (not "internal error", exit 2)
// and nothing written. Drives the real binary.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "replay_cli.h"
#include "tiny_run.h"
#include "train/train_process.h"

namespace stdfs = std::filesystem;
using namespace replay::train::testing;

namespace {

void expect_refused(const CliResult& r, const std::string& key, const std::string& reason) {
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("error: "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("internal error"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(key), std::string::npos) << "expected the key " << key << " in: " << r.out;
  EXPECT_NE(r.out.find(reason), std::string::npos) << "expected '" << reason << "' in: " << r.out;
}

}  // namespace

TEST(OutputPaths, TrainOutUnderAFileNamesTheKey) {
  TempDir dir("outpaths");
  make_store(dir.path / "generic", "generic");
  make_store(dir.path / "math", "math");
  std::ofstream(dir.path / "blocker") << "a regular file";
  const stdfs::path config = write_tiny_config(dir.path, "run", "[schedule]\nsource = \"generic\"\n", 4);
  const std::string out = (dir.path / "blocker" / "run").string();
  const CliResult r = run_replay("train " + config.string() + " --set 'out=\"" + out + "\"'");
  expect_refused(r, config.string() + ": out", "is a file");
}

TEST(OutputPaths, EveryWritingCommandChecksItsOutputFirst) {
  TempDir dir("outpaths");
  const std::string blocker = (dir.path / "blocker").string();
  std::ofstream(blocker) << "a regular file";
  expect_refused(run_replay("demo --runs /proc/replay-runs"), "--runs", "/proc");
  expect_refused(run_replay("demo --data " + blocker + "/data"), "--data", "is a file");
  expect_refused(run_replay("data build --domain x --out " + blocker + "/store " + blocker), "--out", "is a file");
  expect_refused(run_replay("tokenizer train " + blocker + " --out /proc/replay-tok.json"), "--out", "/proc");
  expect_refused(run_replay("corpus import --domain x --out " + blocker + "/c " + blocker), "--out", "is a file");
  // Nothing but the blocker was written.
  EXPECT_EQ(std::distance(stdfs::directory_iterator(dir.path), stdfs::directory_iterator()), 1);
}
