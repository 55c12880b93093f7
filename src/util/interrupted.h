// A run stopped on request (SIGTERM, SIGINT) after saving its state: not a
// failure of the input, so the CLI prints the message and exits with
// 128 + signal, as a shell reports a process ended by that signal, and sweeps
// and scripts see an interruption rather than an error.
#pragma once
#include <string>

#include "util/error.h"

namespace replay {

class Interrupted : public Error {
 public:
  Interrupted(const std::string& message, int signal) : Error(message), signal(signal) {}
  const int signal;
};

}  // namespace replay
