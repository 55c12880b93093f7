// Two ranks of a world as two threads of this test process (TCPStore and
// Gloo over loopback), for tests of the collectives and of what is built on
// them without starting processes.
#pragma once
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

#include "dist/communicator.h"

namespace replay::dist::testing {

// A port for this test process (ctest runs each test in a process of its
// own, often with consecutive pids): 4 per pid, in 26000-31999, apart from
// data_parallel_test's ports and below Linux's ephemeral range (32768-).
inline int test_port(int offset) { return 26000 + static_cast<int>(::getpid() % 1500) * 4 + offset; }

inline World rank_of_two(int rank, int port) {
  World w;
  w.rank = rank;
  w.size = 2;
  w.master_addr = "127.0.0.1";
  w.master_port = port;
  w.launcher = "env";
  return w;
}

// Runs body(rank's communicator) on two threads; rethrows nothing: the
// bodies record their own expectations.
inline void on_two_ranks(int port, std::chrono::seconds timeout, const std::function<void(Communicator&)>& body,
                         bool agent_store = false) {
  auto rank = [&](int r) {
    World w = rank_of_two(r, port);
    if (agent_store) {
      w.agent_store = true;
      w.store_prefix = "/worker/attempt_0";
    }
    Communicator comm(w, timeout);
    body(comm);
  };
  std::thread one(rank, 1);
  rank(0);
  one.join();
}

}  // namespace replay::dist::testing
