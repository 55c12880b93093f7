#include "util/file_lock.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "temp_dir.h"
#include "util/error.h"

namespace replay::fs {
namespace {

std::string contents(const std::filesystem::path& file) {
  std::ifstream in(file);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(FileLockTest, SecondHolderIsRefusedWithTheFirstsPidUntilReleased) {
  TempDir tmp("lock");
  const auto file = tmp.path / ".lock";
  {
    FileLock first(file);
    ASSERT_TRUE(first.held());
    EXPECT_EQ(contents(file), std::to_string(::getpid()) + "\n");
    // flock locks belong to an open file description: a second open in the
    // same process conflicts just as another process would.
    FileLock second(file);
    EXPECT_FALSE(second.held());
    EXPECT_EQ(second.holder_pid(), ::getpid());
    EXPECT_EQ(contents(file), std::to_string(::getpid()) + "\n") << "the refused one must not touch the file";

    FileLock moved(std::move(first));
    EXPECT_TRUE(moved.held());
    EXPECT_FALSE(FileLock(file).held());
  }
  EXPECT_TRUE(FileLock(file).held());
}

TEST(FileLockTest, KilledHolderLeavesNoStaleLock) {
  TempDir tmp("lock");
  const auto file = tmp.path / ".lock";
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  if (child == 0) {
    FileLock lock(file);
    char c = lock.held() ? 'y' : 'n';
    (void)!::write(ready[1], &c, 1);
    ::pause();
    std::_Exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  FileLock refused(file);
  EXPECT_FALSE(refused.held());
  EXPECT_EQ(refused.holder_pid(), child);

  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(ready[0]);
  ::close(ready[1]);
  FileLock after(file);
  EXPECT_TRUE(after.held());
  EXPECT_EQ(contents(file), std::to_string(::getpid()) + "\n");
}

TEST(FileLockTest, MissingFolderIsAnErrorNamingTheFile) {
  TempDir tmp("lock");
  const auto file = tmp.path / "no-such-dir" / ".lock";
  try {
    FileLock lock(file);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace replay::fs
