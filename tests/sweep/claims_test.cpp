// Claims (sweep/claims.h) without trainers: a run is claimed once, a live
// claim of another machine holds while its mtime moves, a stale one is taken
// over by the next generation, a gone process of this machine is replaced at
// once, and a holder whose claim was taken over learns it on its heartbeat.
// Other workers are played by claim files written here, as they would write
// them.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <thread>

#include <nlohmann/json.hpp>

#include "run/layout.h"
#include "sweep/claims.h"
#include "temp_dir.h"
#include "util/error.h"
#include "util/fs.h"

namespace {

namespace stdfs = std::filesystem;
using namespace replay;
using namespace std::chrono_literals;

stdfs::path claim_file(const stdfs::path& run_dir, int generation) {
  return run_dir / run::kClaimsDir / (std::to_string(generation) + ".json");
}

// A claim as another worker writes it.
void plant_claim(const stdfs::path& run_dir, int generation, const sweep::ClaimHolder& holder) {
  stdfs::create_directories(run_dir / run::kClaimsDir);
  fs::write_file_atomic(claim_file(run_dir, generation),
                        nlohmann::json{{"host", holder.host}, {"pid", holder.pid},
                                       {"process_space", holder.process_space}, {"claimed_at", "x"},
                                       {"sweep", holder.sweep}}
                            .dump());
}

sweep::ClaimHolder other_machine() { return {"other-host", 4242, "boot/pid:[1]", "", "s"}; }

// A child process of this machine that has ended and been reaped: its pid names no process.
pid_t gone_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

void touch(const stdfs::path& file) { ASSERT_EQ(::utimensat(AT_FDCWD, file.c_str(), nullptr, 0), 0); }

}  // namespace

TEST(Claims, ARunIsClaimedOnceRecordingItsHolderAndReleased) {
  TempDir tmp("claims");
  const stdfs::path run_dir = tmp.path / "run";
  sweep::RunClaims claims("s", 60);
  ASSERT_TRUE(claims.try_claim(run_dir));
  EXPECT_TRUE(claims.holds(run_dir));
  EXPECT_TRUE(claims.try_claim(run_dir));  // held already
  const auto holder = claims.holder(run_dir);
  ASSERT_TRUE(holder);
  EXPECT_EQ(holder->pid, ::getpid());
  EXPECT_EQ(holder->host, sweep::this_process("s").host);
  EXPECT_EQ(holder->sweep, "s");
  EXPECT_TRUE(stdfs::exists(claim_file(run_dir, 0)));
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : stdfs::directory_iterator(run_dir / run::kClaimsDir)) ++entries;
  EXPECT_EQ(entries, 1u);  // the private file the claim was linked from is gone

  claims.release(run_dir);
  EXPECT_FALSE(claims.holds(run_dir));
  EXPECT_FALSE(stdfs::exists(claim_file(run_dir, 0)));
  EXPECT_FALSE(claims.holder(run_dir));
  EXPECT_THROW(sweep::RunClaims("s", 0), Error);
}

TEST(Claims, AnotherMachinesClaimHoldsWhileRefreshedAndIsTakenOverWhenStale) {
  TempDir tmp("claims");
  const stdfs::path run_dir = tmp.path / "run";
  plant_claim(run_dir, 0, other_machine());
  sweep::RunClaims claims("s", 0.4);
  EXPECT_FALSE(claims.try_claim(run_dir));
  // Its holder refreshes it: a watcher's clock restarts each time the mtime moves.
  for (int beat = 0; beat < 4; ++beat) {
    std::this_thread::sleep_for(150ms);
    touch(claim_file(run_dir, 0));
    EXPECT_FALSE(claims.try_claim(run_dir)) << "beat " << beat;
  }
  EXPECT_EQ(claims.holder(run_dir)->host, "other-host");
  // It stops refreshing: after the timeout the next generation is this worker's.
  std::this_thread::sleep_for(450ms);
  ASSERT_TRUE(claims.try_claim(run_dir));
  EXPECT_FALSE(stdfs::exists(claim_file(run_dir, 0)));
  ASSERT_TRUE(stdfs::exists(claim_file(run_dir, 1)));
  EXPECT_EQ(claims.holder(run_dir)->pid, ::getpid());
}

TEST(Claims, AGoneProcessOfThisMachineIsReplacedAtOnceALiveOneIsNot) {
  TempDir tmp("claims");
  const stdfs::path run_dir = tmp.path / "run";
  sweep::ClaimHolder holder = sweep::this_process("s");
  const pid_t sleeper = ::fork();
  if (sleeper == 0) {
    ::pause();
    ::_exit(0);
  }
  holder.pid = sleeper;
  plant_claim(run_dir, 3, holder);
  sweep::RunClaims claims("s", 3600);  // never stale by time in this test
  EXPECT_FALSE(claims.try_claim(run_dir));
  ::kill(sleeper, SIGKILL);
  ::waitpid(sleeper, nullptr, 0);
  EXPECT_TRUE(claims.try_claim(run_dir));
  EXPECT_TRUE(stdfs::exists(claim_file(run_dir, 4)));
  EXPECT_FALSE(stdfs::exists(claim_file(run_dir, 3)));

  // The same pid in another pid namespace or boot is not this machine's process: judged by time.
  const stdfs::path other = tmp.path / "other";
  holder.pid = gone_pid();
  holder.process_space += "-elsewhere";
  plant_claim(other, 0, holder);
  EXPECT_FALSE(claims.try_claim(other));
}

TEST(Claims, AHolderWhoseClaimWasTakenOverLearnsItOnItsHeartbeat) {
  TempDir tmp("claims");
  const stdfs::path kept = tmp.path / "kept", taken = tmp.path / "taken";
  sweep::RunClaims claims("s", 0.2);  // heartbeat every 0.05 s
  ASSERT_TRUE(claims.try_claim(kept));
  ASSERT_TRUE(claims.try_claim(taken));
  plant_claim(taken, 1, other_machine());  // another worker judged it stale and took it
  std::this_thread::sleep_for(80ms);
  const auto before = stdfs::last_write_time(claim_file(kept, 0));
  std::this_thread::sleep_for(20ms);
  const auto lost = claims.heartbeat();
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0], taken);
  EXPECT_FALSE(claims.holds(taken));
  EXPECT_TRUE(claims.holds(kept));
  EXPECT_GT(stdfs::last_write_time(claim_file(kept, 0)), before);  // refreshed
  EXPECT_TRUE(claims.heartbeat().empty());  // not due again yet
}

TEST(Claims, AWorkerThatStopsReleasesItsClaims) {
  TempDir tmp("claims");
  const stdfs::path run_dir = tmp.path / "run";
  {
    sweep::RunClaims claims("s", 60);
    ASSERT_TRUE(claims.try_claim(run_dir));
  }
  EXPECT_FALSE(stdfs::exists(claim_file(run_dir, 0)));
}
