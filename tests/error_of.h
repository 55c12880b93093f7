// Shared by the test suites: the message of the replay::Error that `fn`
// throws, or "(no error)", so tests can assert what a message names.
#pragma once
#include <string>

#include "util/error.h"

template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const replay::Error& e) {
    return e.what();
  }
  return "(no error)";
}
