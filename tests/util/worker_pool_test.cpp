#include "util/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace replay {
namespace {

TEST(WorkerPool, RunCallsEveryWorkerOnceOnItsOwnThreadAndTheCallerIsWorkerZero) {
  WorkerPool pool(3);
  ASSERT_EQ(pool.size(), 3);
  for (int round = 0; round < 5; ++round) {  // the same threads serve every job
    std::vector<std::thread::id> ids(3);
    std::vector<int> calls(3, 0);
    pool.run([&](int w) {
      ids[w] = std::this_thread::get_id();
      ++calls[w];
    });
    EXPECT_EQ(calls, std::vector<int>({1, 1, 1}));
    EXPECT_EQ(ids[0], std::this_thread::get_id());
    EXPECT_EQ(std::set<std::thread::id>(ids.begin(), ids.end()).size(), 3u);
  }
}

TEST(WorkerPool, ForEachIndexVisitsEveryIndexExactlyOnce) {
  WorkerPool pool(4);
  std::vector<std::atomic<int>> seen(1000);
  pool.for_each_index(seen.size(), [&](size_t i) { seen[i].fetch_add(1); });
  for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i].load(), 1) << i;
  pool.for_each_index(0, [&](size_t) { FAIL() << "no index to visit"; });
}

TEST(WorkerPool, AThrowIsRethrownAfterEveryWorkerReturnedAndThePoolStaysUsable) {
  WorkerPool pool(2);
  std::atomic<int> visited{0};
  EXPECT_THROW(pool.for_each_index(100000,
                                   [&](size_t i) {
                                     visited.fetch_add(1);
                                     if (i == 3) throw std::runtime_error("item 3");
                                   }),
               std::runtime_error);
  EXPECT_LT(visited.load(), 100000);  // the others stopped early
  int sum = 0;
  pool.run([&](int w) {
    if (w == 0) sum = 42;
  });
  EXPECT_EQ(sum, 42);
}

TEST(WorkerPool, APoolOfOneStartsNoThread) {
  WorkerPool pool(1);
  std::thread::id id;
  pool.run([&](int) { id = std::this_thread::get_id(); });
  EXPECT_EQ(id, std::this_thread::get_id());
  EXPECT_EQ(resolve_threads(3), 3);
  EXPECT_GE(resolve_threads(0), 1);
}

}  // namespace
}  // namespace replay
