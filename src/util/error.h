// One exception type for every user-facing failure. The CLI catches it, prints
// the message and exits non-zero; messages must name the file, key or value.
#pragma once
#include <stdexcept>
#include <string>

namespace replay {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace replay
