#include "util/stop_signals.h"

#include <signal.h>

namespace replay {

namespace {

constexpr int kStopSignals[] = {SIGTERM, SIGINT, SIGHUP};

std::atomic<int> stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs a lock-free flag");

void request_stop(int signal) { stop_signal.store(signal); }

}  // namespace

const std::atomic<int>& install_stop_handlers() {
  struct sigaction action = {};
  action.sa_handler = request_stop;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND | SA_RESTART;
  for (int s : kStopSignals) ::sigaction(s, &action, nullptr);
  return stop_signal;
}

bool stopped_by_signal(int exit_code) {
  for (int s : kStopSignals)
    if (exit_code == 128 + s) return true;
  return false;
}

}  // namespace replay
