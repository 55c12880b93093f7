// The signals that ask a replay process to stop cleanly: SIGTERM (kill,
// schedulers), SIGINT (Ctrl-C) and SIGHUP (the terminal went away). The
// handler only stores the signal number (async-signal-safe); the process
// checks it where stopping is safe (a trainer after its step, a sweep between
// waits) and ends with replay::Interrupted, exit 128 + signal. SA_RESETHAND
// makes a second signal end the process at once, for a user who cannot wait.
#pragma once
#include <atomic>

namespace replay {

// Installs the handlers (once per process) and returns the flag: 0 until a
// stop signal arrives, then its number.
const std::atomic<int>& install_stop_handlers();

// Whether a child that exited with `exit_code` was stopped by one of these
// signals (128 + signal, as the CLI reports replay::Interrupted).
bool stopped_by_signal(int exit_code);

}  // namespace replay
