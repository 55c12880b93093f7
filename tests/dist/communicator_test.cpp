// The process group wrapper with two ranks as two threads of this process
// (TCPStore and Gloo over loopback): the reductions, rank 0's hand-offs, and
// a collective that one rank never joins failing within the timeout.
#include "dist/communicator.h"

#include <gtest/gtest.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

#include "two_ranks.h"
#include "util/error.h"

namespace replay::dist {
namespace {

using testing::on_two_ranks;
using testing::rank_of_two;
using testing::test_port;

TEST(Communicator, ReductionsAndHandOffs) {
  on_two_ranks(test_port(0), std::chrono::seconds(30), [](Communicator& comm) {
    const int r = comm.world().rank;
    torch::Tensor flat = torch::tensor({1.0f + r, 10.0f * (r + 1), -2.0f});
    comm.all_reduce_mean(flat, "test mean");
    EXPECT_FLOAT_EQ(flat[0].item<float>(), 1.5f);
    EXPECT_FLOAT_EQ(flat[1].item<float>(), 15.0f);
    EXPECT_FLOAT_EQ(flat[2].item<float>(), -2.0f);
    std::vector<double> values = {0.25 + r, 1e-12 * r};
    comm.all_reduce_sum(values, "test sum");
    EXPECT_DOUBLE_EQ(values[0], 1.5);
    EXPECT_DOUBLE_EQ(values[1], 1e-12);
    EXPECT_EQ(comm.all_reduce_max(r == 1 ? 15 : 0, "test max"), 15);
    EXPECT_EQ(comm.share_from_rank0("start", r == 0 ? "from rank 0" : "ignored"), "from rank 0");
    comm.rank0_done("test write");
    comm.barrier("test end");
  });
}

// torchrun's agent store: the store is served by someone else (here this
// test, as torchrun's agent would), and rank 0 connects as a client too.
// The collectives of optimizer sharding: every rank's shard to every rank,
// and every rank's shard to rank 0 alone.
TEST(Communicator, ShardsAreAllGatheredAndGatheredToRankZero) {
  on_two_ranks(test_port(3), std::chrono::seconds(30), [](Communicator& comm) {
    const int r = comm.world().rank;
    torch::Tensor flat = torch::full({6}, -1.0f);
    flat.narrow(0, 3 * r, 3).copy_(torch::tensor({1.0f, 2.0f, 3.0f}) + 10.0f * r);
    comm.all_gather_shards(flat, 3, "test all-gather");
    EXPECT_TRUE(torch::equal(flat, torch::tensor({1.0f, 2.0f, 3.0f, 11.0f, 12.0f, 13.0f}))) << flat;
    const torch::Tensor all = comm.gather_shards_to_rank0(torch::tensor({0.5 + r, -1.0 * r}), "test gather");
    if (r == 0) {
      EXPECT_TRUE(torch::equal(all, torch::tensor({0.5, 0.0, 1.5, -1.0}))) << all;
    } else {
      EXPECT_FALSE(all.defined());
    }
    EXPECT_THROW(comm.all_gather_shards(flat, 4, "a shard size that does not fit"), Error);
    // Shards of more than one piece (communicator.cpp gathers 2^24 elements at a time).
    const int64_t big = (int64_t{1} << 24) + 5;
    torch::Tensor values = torch::zeros({2 * big});
    values.narrow(0, big * r, big).copy_(torch::arange(big, torch::kFloat32) + static_cast<float>(r));
    comm.all_gather_shards(values, big, "test all-gather in pieces");
    for (int owner = 0; owner < 2; ++owner)
      EXPECT_TRUE(torch::equal(values.narrow(0, big * owner, big),
                               torch::arange(big, torch::kFloat32) + static_cast<float>(owner)));
    const torch::Tensor gathered = comm.gather_shards_to_rank0(values.narrow(0, big * r, big), "test gather in pieces");
    if (r == 0) EXPECT_TRUE(torch::equal(gathered, values));
  });
}

TEST(Communicator, AgentStoreEveryRankIsAClient) {
  c10d::TCPStoreOptions agent_options;
  agent_options.port = static_cast<uint16_t>(test_port(2));
  agent_options.isServer = true;
  agent_options.waitWorkers = false;
  agent_options.timeout = std::chrono::seconds(30);
  auto agent = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", agent_options);
  on_two_ranks(
      test_port(2), std::chrono::seconds(30),
      [](Communicator& comm) {
        std::vector<double> values = {1.0 + comm.world().rank};
        comm.all_reduce_sum(values, "test sum");
        EXPECT_DOUBLE_EQ(values[0], 3.0);
        EXPECT_EQ(comm.share_from_rank0("x", comm.world().rank == 0 ? "zero" : ""), "zero");
      },
      /*agent_store=*/true);
  // The ranks' keys live under the attempt's prefix.
  EXPECT_TRUE(agent->check({"/worker/attempt_0/replay/share/0/x"}));
}

TEST(Communicator, ACollectiveOneRankNeverJoinsFailsWithinTheTimeoutNamingTheRank) {
  const auto start = std::chrono::steady_clock::now();
  std::string message;
  on_two_ranks(test_port(1), std::chrono::seconds(2), [&](Communicator& comm) {
    if (comm.world().rank == 1) {
      std::this_thread::sleep_for(std::chrono::seconds(4));  // never joins, then leaves
      return;
    }
    std::vector<double> values = {1.0};
    try {
      comm.all_reduce_sum(values, "the lonely sum");
    } catch (const Error& e) {
      message = e.what();
    }
  });
  EXPECT_NE(message.find("rank 0/2: the lonely sum failed"), std::string::npos) << message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

}  // namespace
}  // namespace replay::dist
