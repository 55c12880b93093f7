// Line iteration over a text in memory, the one way every parser of the
// project walks lines.
#pragma once
#include <cstddef>
#include <string_view>
#include <type_traits>

namespace replay {

// Calls fn(line) or fn(line_number, line) (1-based) for every line of `text`,
// empty ones included, in order. A line excludes its '\n' and a '\r' before
// it (CRLF files read as LF files); a final line without '\n' is a line, a
// trailing '\n' does not start another one.
template <class Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  size_t line_number = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if constexpr (std::is_invocable_v<Fn&, size_t, std::string_view>)
      fn(line_number, line);
    else
      fn(line);
  }
}

}  // namespace replay
