#include "util/staged_dir.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>

#include "temp_dir.h"
#include "util/error.h"
#include "util/fs.h"

namespace stdfs = std::filesystem;
using replay::StagedDir;
using Mode = replay::StagedDir::Mode;

namespace {

std::set<std::string> entries(const stdfs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : stdfs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

void write(const stdfs::path& path, const std::string& text) { replay::fs::write_file_atomic(path, text); }

// The PID of a process that has exited (and been reaped): a killed writer.
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

}  // namespace

TEST(StagedDir, StagesNextToTheFinalPathUnderALeftoverName) {
  TempDir tmp("staged");
  StagedDir staged(tmp.path / "store");
  EXPECT_EQ(staged.path().parent_path(), tmp.path);
  EXPECT_TRUE(stdfs::is_directory(staged.path()));
  EXPECT_TRUE(StagedDir::is_leftover(staged.path().filename().string()));
  EXPECT_NE(staged.path().filename().string().find(std::to_string(::getpid())), std::string::npos);
  EXPECT_FALSE(StagedDir::is_leftover("store"));
  EXPECT_FALSE(stdfs::exists(tmp.path / "store"));
}

TEST(StagedDir, ReplaceShowsTheNewContentAndRemovesTheOld) {
  TempDir tmp("staged");
  const stdfs::path final_path = tmp.path / "out";
  write(final_path / "old.txt", "old");
  {
    StagedDir staged(final_path);
    write(staged.path() / "sub" / "new.txt", "new");
    EXPECT_EQ(replay::fs::read_file(final_path / "old.txt"), "old");  // untouched until publish
    EXPECT_TRUE(staged.publish(Mode::replace));
  }
  EXPECT_EQ(replay::fs::read_file(final_path / "sub" / "new.txt"), "new");
  EXPECT_FALSE(stdfs::exists(final_path / "old.txt"));
  EXPECT_EQ(entries(tmp.path), std::set<std::string>{"out"});  // no staging or old dir left
}

TEST(StagedDir, ReplaceCreatesAMissingDirectory) {
  TempDir tmp("staged");
  StagedDir staged(tmp.path / "deeper" / "out/");  // parent created, trailing slash ignored
  write(staged.path() / "a.txt", "a");
  EXPECT_TRUE(staged.publish(Mode::replace));
  EXPECT_EQ(replay::fs::read_file(tmp.path / "deeper" / "out" / "a.txt"), "a");
  EXPECT_EQ(entries(tmp.path / "deeper"), std::set<std::string>{"out"});
}

TEST(StagedDir, KeepExistingKeepsTheDirectoryPublishedFirst) {
  TempDir tmp("staged");
  const stdfs::path final_path = tmp.path / "shared";
  StagedDir first(final_path), second(final_path);  // two writers racing
  write(first.path() / "who.txt", "first");
  write(second.path() / "who.txt", "second");
  EXPECT_TRUE(first.publish(Mode::keep_existing));
  EXPECT_FALSE(second.publish(Mode::keep_existing));
  EXPECT_EQ(replay::fs::read_file(final_path / "who.txt"), "first");
  EXPECT_EQ(entries(tmp.path), std::set<std::string>{"shared"});  // the loser's staging is gone
}

TEST(StagedDir, KeepExistingPlacesWhenNothingIsThere) {
  TempDir tmp("staged");
  StagedDir staged(tmp.path / "shared");
  write(staged.path() / "x.txt", "x");
  EXPECT_TRUE(staged.publish(Mode::keep_existing));
  EXPECT_EQ(replay::fs::read_file(tmp.path / "shared" / "x.txt"), "x");
}

TEST(StagedDir, DestroyedWithoutPublishLeavesNothing) {
  TempDir tmp("staged");
  write(tmp.path / "out" / "keep.txt", "kept");
  {
    StagedDir staged(tmp.path / "out");
    write(staged.path() / "half.txt", "half-written");
  }  // e.g. an exception while filling it
  EXPECT_EQ(entries(tmp.path), std::set<std::string>{"out"});
  EXPECT_EQ(entries(tmp.path / "out"), std::set<std::string>{"keep.txt"});
}

TEST(StagedDir, PublishingTwiceIsAnError) {
  TempDir tmp("staged");
  StagedDir staged(tmp.path / "out");
  staged.publish(Mode::replace);
  EXPECT_THROW(staged.publish(Mode::replace), replay::Error);
}

TEST(StagedDir, LockFileIsAHiddenSiblingThatIsNoLeftover) {
  EXPECT_EQ(StagedDir::lock_file("/x/stores/code/"), stdfs::path("/x/stores/.code.lock"));
  EXPECT_FALSE(StagedDir::is_leftover(StagedDir::lock_file("/x/stores/code").filename().string()));
}

TEST(StagedDir, RecoverLeftoversRemovesOnlyDeadWritersDirectoriesOfThatName) {
  TempDir dir("recover");
  const std::string dead = std::to_string(dead_pid()), alive = std::to_string(::getpid());
  write(dir.path / "code" / "a.txt", "current");
  for (const std::string name : {".tmp-code-" + dead + "-0", ".old-code-" + dead + "-3",
                                 ".tmp-code-" + alive + "-7",      // a live writer's: kept
                                 ".tmp-code-v2-" + dead + "-0",    // another store's ("code-v2")
                                 ".tmp-code-" + dead + "-0-x"})    // not a StagedDir name
    write(dir.path / name / "f", "x");
  const auto done = StagedDir::recover_leftovers(dir.path / "code");
  EXPECT_EQ(done.size(), 2u);
  EXPECT_EQ(entries(dir.path), (std::set<std::string>{"code", ".tmp-code-" + alive + "-7", ".tmp-code-v2-" + dead + "-0",
                                                      ".tmp-code-" + dead + "-0-x"}));
  EXPECT_EQ(replay::fs::read_file(dir.path / "code" / "a.txt"), "current");
}

// Killed between moving the old directory aside and renaming the new one in:
// the set-aside one is the only copy known complete, so it comes back.
TEST(StagedDir, RecoverLeftoversPutsBackTheSetAsideDirectoryWhenTheFinalOneIsMissing) {
  TempDir dir("restore");
  const std::string dead = std::to_string(dead_pid());
  write(dir.path / (".old-code-" + dead + "-0") / "a.txt", "old");
  write(dir.path / (".tmp-code-" + dead + "-0") / "a.txt", "new");
  const auto done = StagedDir::recover_leftovers(dir.path / "code");
  ASSERT_FALSE(done.empty());
  EXPECT_NE(done.front().find("restored"), std::string::npos) << done.front();
  EXPECT_EQ(entries(dir.path), std::set<std::string>{"code"});
  EXPECT_EQ(replay::fs::read_file(dir.path / "code" / "a.txt"), "old");
}
