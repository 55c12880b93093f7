// Threads per rank (dist/launch.h): `replay launch --nproc N` gives each rank
// an equal share of the machine's cores through OMP_NUM_THREADS unless the
// user set it, and a config whose `threads` is 0 takes that share
// (model/threads.h) while an explicit count still wins.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "dist/launch.h"
#include "model/threads.h"
#include "temp_dir.h"
#include "util/fs.h"

namespace {

using namespace replay;

// Sets (or unsets, nullopt) OMP_NUM_THREADS for one scope.
class OmpThreadsVar {
 public:
  explicit OmpThreadsVar(const std::optional<std::string>& value) {
    if (const char* old = std::getenv(dist::kOmpThreadsVar)) old_ = old;
    if (value) ::setenv(dist::kOmpThreadsVar, value->c_str(), 1);
    else ::unsetenv(dist::kOmpThreadsVar);
  }
  ~OmpThreadsVar() {
    if (old_) ::setenv(dist::kOmpThreadsVar, old_->c_str(), 1);
    else ::unsetenv(dist::kOmpThreadsVar);
  }

 private:
  std::optional<std::string> old_;
};

// What OMP_NUM_THREADS each of two ranks saw: a shell per rank writes it down.
std::string threads_seen_by_ranks(const std::filesystem::path& dir) {
  dist::LaunchOptions o;
  o.nproc = 2;
  o.port = 29590;  // no rendezvous happens: the ranks are shells
  o.executable = "/bin/sh";
  o.args = {"-c", "printf %s \"$OMP_NUM_THREADS\" > '" + dir.string() + "'/rank-$RANK"};
  o.console = nullptr;
  EXPECT_EQ(dist::launch_local(o).exit_code, 0);
  const std::string rank0 = fs::read_file(dir / "rank-0");
  EXPECT_EQ(fs::read_file(dir / "rank-1"), rank0);
  return rank0;
}

}  // namespace

TEST(LaunchThreads, EachRankGetsAnEqualShareOfTheCoresAtLeastOne) {
  EXPECT_EQ(dist::threads_per_rank(8, 2), 4);
  EXPECT_EQ(dist::threads_per_rank(16, 3), 5);
  EXPECT_EQ(dist::threads_per_rank(2, 2), 1);
  EXPECT_EQ(dist::threads_per_rank(3, 2), 1);
  EXPECT_EQ(dist::threads_per_rank(2, 4), 1);
  EXPECT_EQ(dist::threads_per_rank(1, 1), 1);
}

TEST(LaunchThreads, RanksGetTheirShareUnlessTheUserSetOmpNumThreads) {
  TempDir tmp("launch-threads");
  {
    OmpThreadsVar unset(std::nullopt);
    EXPECT_EQ(threads_seen_by_ranks(tmp.path), std::to_string(dist::threads_per_rank(model::available_cores(), 2)));
  }
  OmpThreadsVar users("3");
  EXPECT_EQ(threads_seen_by_ranks(tmp.path), "3");
}

TEST(LaunchThreads, AConfigWithZeroThreadsTakesTheLaunchersShareAnExplicitCountWins) {
  {
    OmpThreadsVar share("1");
    EXPECT_EQ(model::configure_threads(0), 1);
    EXPECT_EQ(model::configure_threads(2), 2);
  }
  for (const char* not_a_count : {"0", "many", "-2"}) {
    OmpThreadsVar bad(not_a_count);
    EXPECT_EQ(model::configure_threads(0), model::available_cores()) << not_a_count;
  }
  OmpThreadsVar unset(std::nullopt);
  EXPECT_EQ(model::configure_threads(0), model::available_cores());
}
