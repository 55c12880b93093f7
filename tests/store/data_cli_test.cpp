// `replay data build` and `data info` through the real binary (REPLAY_BINARY):
// a concurrent build of one store is refused naming the holder's PID, a
// SIGKILLed build's staging folder is removed by the next build, a store set
// aside by a build killed mid-replace is put back, --val-fraction is capped,
// and `data info` finds token ids the manifest does not own up to.
//
// To catch a build mid-way on any machine, fast or slow, its input is a named
// pipe: the build reads it once (pass 1), creates its staging folder, then
// blocks opening it again for pass 2 until the test decides what happens.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "store/token_store.h"
#include "store_surgery.h"
#include "store_test_util.h"
#include "util/fs.h"
#include "util/staged_dir.h"

namespace stdfs = std::filesystem;
using namespace replay;

namespace {

const stdfs::path kR50k =
    stdfs::path(REPLAY_SOURCE_DIR) / "tests/oracle/node_modules/gpt-tokenizer/data/r50k_base.tiktoken";
constexpr auto kPatience = std::chrono::seconds(120);  // a loaded machine, not a hang

std::string build_args(const stdfs::path& input, const stdfs::path& out) {
  return "data build --tokenizer " + kR50k.string() + " --seq-len 16 --val-sequences 2 --threads 1 --domain code " +
         input.string() + " --out " + out.string();
}

// REPLAY_BINARY in the environment overrides the built one (debugging).
std::string binary() {
  const char* env = std::getenv("REPLAY_BINARY");
  return env ? env : REPLAY_BINARY;
}

std::pair<int, std::string> run(const std::string& args) {
  std::FILE* p = ::popen((binary() + " " + args + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  return {WEXITSTATUS(status), out};
}

// `replay args...` in the background, its output into `log`.
pid_t spawn(const std::string& args, const stdfs::path& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const std::string cmd = "exec " + binary() + " " + args + " >" + log.string() + " 2>&1";
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), nullptr);
    std::_Exit(127);
  }
  return pid;
}

std::string jsonl(const std::vector<std::string>& docs) {
  std::string text;
  for (const auto& d : docs) text += nlohmann::json{{"text", d}}.dump() + "\n";
  return text;
}

bool exited(pid_t pid) { return ::waitpid(pid, nullptr, WNOHANG) == pid; }

// Ends a background build however the test ends, so that a failed assertion
// never leaves one blocked on its pipe.
struct KillOnExit {
  pid_t pid;  // -1 once the test has reaped it itself
  ~KillOnExit() {
    if (pid > 0 && ::kill(pid, SIGKILL) == 0) ::waitpid(pid, nullptr, 0);
  }
};

// Writes `text` into the named pipe once `pid` opens it for reading.
void feed_pipe(const stdfs::path& fifo, const std::string& text, pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  int fd;
  while ((fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK)) < 0) {  // ENXIO: no reader yet
    ASSERT_EQ(errno, ENXIO);
    ASSERT_FALSE(exited(pid)) << "the build ended before reading its input";
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::fcntl(fd, F_SETFL, 0);  // blocking writes from here on
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fd);
}

// The staging folder of build `pid` in `parent`, once it exists.
std::optional<stdfs::path> wait_for_staging(const stdfs::path& parent, pid_t pid) {
  const std::string prefix = ".tmp-code-" + std::to_string(pid) + "-";
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (std::chrono::steady_clock::now() < deadline && !exited(pid)) {
    for (const auto& e : stdfs::directory_iterator(parent))
      if (e.path().filename().string().starts_with(prefix)) return e.path();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return std::nullopt;
}

std::vector<std::string> leftovers(const stdfs::path& parent) {
  std::vector<std::string> found;
  for (const auto& e : stdfs::directory_iterator(parent))
    if (StagedDir::is_leftover(e.path().filename().string())) found.push_back(e.path().filename().string());
  return found;
}

class DataCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(stdfs::exists(binary())) << "build the replay binary first";
    ASSERT_TRUE(stdfs::exists(kR50k)) << kR50k << " is missing: run scripts/setup.sh";
    fs::write_file_atomic(corpus_, jsonl(numbered_documents(300)));
    stdfs::create_directories(stores_);
  }

  TempDir tmp_{"build-lock"};
  const stdfs::path corpus_ = tmp_.path / "code.jsonl";
  const stdfs::path stores_ = tmp_.path / "stores";
};

}  // namespace

TEST_F(DataCli, ConcurrentBuildIsRefusedAndAKilledBuildsStagingIsRemovedByTheNext) {
  const stdfs::path fifo = tmp_.path / "pipe.jsonl";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const pid_t first = spawn(build_args(fifo, stores_ / "code"), tmp_.path / "first.log");
  KillOnExit guard{first};
  feed_pipe(fifo, jsonl(numbered_documents(300)), first);  // pass 1; pass 2 will wait on the pipe
  const auto staging = wait_for_staging(stores_, first);
  ASSERT_TRUE(staging) << fs::read_file(tmp_.path / "first.log");

  auto [rc, out] = run(build_args(corpus_, stores_ / "code"));
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("another `replay data build` (PID " + std::to_string(first) + ") is building " +
                     (stores_ / "code").string()),
            std::string::npos)
      << out;
  EXPECT_TRUE(stdfs::exists(*staging)) << "the refused build touched the running one's staging folder";

  ::kill(first, SIGKILL);
  ::waitpid(first, nullptr, 0);
  guard.pid = -1;
  ASSERT_EQ(leftovers(stores_), std::vector<std::string>{staging->filename().string()});

  std::tie(rc, out) = run(build_args(corpus_, stores_ / "code"));
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("removed " + staging->string() + ", left by a killed process"), std::string::npos) << out;
  EXPECT_TRUE(leftovers(stores_).empty());
  std::tie(rc, out) = run("data info " + (stores_ / "code").string());
  EXPECT_EQ(rc, 0) << out;
}

// A build killed after setting the old store aside, before renaming the new
// one in, leaves no store at its path: the next build puts the old one back
// first, so even a build that then fails leaves the store usable.
TEST_F(DataCli, StoreSetAsideByAKilledBuildIsPutBack) {
  auto [rc, out] = run(build_args(corpus_, stores_ / "code"));
  ASSERT_EQ(rc, 0) << out;
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  const std::string suffix = "-code-" + std::to_string(dead) + "-0";
  stdfs::rename(stores_ / "code", stores_ / (".old" + suffix));
  stdfs::copy(stores_ / (".old" + suffix), stores_ / (".tmp" + suffix));

  fs::write_file_atomic(tmp_.path / "empty.jsonl", "");
  std::tie(rc, out) = run(build_args(tmp_.path / "empty.jsonl", stores_ / "code"));
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("no documents"), std::string::npos) << out;
  EXPECT_NE(out.find("restored " + (stores_ / "code").string()), std::string::npos) << out;
  EXPECT_TRUE(leftovers(stores_).empty());
  std::tie(rc, out) = run("data info " + (stores_ / "code").string());
  EXPECT_EQ(rc, 0) << out;
}

// `--val-fraction` above the cap is refused by the option itself, before the
// tokenizer or the input is read.
TEST_F(DataCli, ValFractionAboveTheCapIsRefusedAtTheOption) {
  auto [rc, out] = run(build_args(corpus_, stores_ / "code") + " --val-fraction 1");
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("--val-fraction"), std::string::npos) << out;
  EXPECT_FALSE(stdfs::exists(stores_ / "code"));
}

// A shard re-sealed around an id past the vocabulary (checksums valid, the
// manifest's recorded maximum unchanged) fails `data info`, named.
TEST_F(DataCli, DataInfoReportsTokenIdsBeyondTheRecordedMaximum) {
  auto [rc, out] = run(build_args(corpus_, stores_ / "code"));
  ASSERT_EQ(rc, 0) << out;
  std::tie(rc, out) = run("data info " + (stores_ / "code").string());
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("token ids       OK (largest"), std::string::npos) << out;
  store_surgery::reseal_with_token(stores_ / "code", store::Split::train, {5}, 60000);  // r50k: 50257 ids
  std::tie(rc, out) = run("data info " + (stores_ / "code").string());
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("the train split holds token id 60000, beyond splits.train.max_token_id = "), std::string::npos)
      << out;
}
