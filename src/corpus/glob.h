// Path patterns for choosing files inside packages: `*` matches within one
// path segment, `**` matches any number of whole segments (including none),
// `?` one character, `[abc]` / `[a-z]` / `[!x]` a character class.
// A pattern without '/' matches the file name only ("*.dat" anywhere).
// Segments match with POSIX fnmatch(3); only `**` and the split are ours.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace replay::corpus {

bool glob_match(std::string_view pattern, std::string_view path);

// A file is chosen when it matches some `include` and no `exclude` pattern.
struct PathFilter {
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  bool matches(std::string_view path) const;
};

}  // namespace replay::corpus
