#include "corpus/glob.h"

#include <fnmatch.h>

namespace replay::corpus {

namespace {

// One segment pattern (no '/') against one segment: POSIX fnmatch(3) (glibc),
// which has the same `*`, `?` and `[...]` / `[!...]` rules. FNM_NOESCAPE
// keeps a backslash literal (package paths never escape anything).
bool match_segment(std::string_view p, std::string_view s) {
  return fnmatch(std::string(p).c_str(), std::string(s).c_str(), FNM_NOESCAPE) == 0;
}

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t slash = s.find('/', start);
    parts.push_back(s.substr(start, slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return parts;
}

bool match_parts(const std::vector<std::string_view>& p, size_t pi,
                 const std::vector<std::string_view>& s, size_t si) {
  while (pi < p.size()) {
    if (p[pi] == "**") {
      if (pi + 1 == p.size()) return true;
      for (size_t k = si; k <= s.size(); ++k)
        if (match_parts(p, pi + 1, s, k)) return true;
      return false;
    }
    if (si >= s.size() || !match_segment(p[pi], s[si])) return false;
    ++pi;
    ++si;
  }
  return si == s.size();
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view path) {
  if (pattern.find('/') == std::string_view::npos) {
    size_t slash = path.rfind('/');
    return match_segment(pattern, slash == std::string_view::npos ? path : path.substr(slash + 1));
  }
  return match_parts(split(pattern), 0, split(path), 0);
}

bool PathFilter::matches(std::string_view path) const {
  bool in = false;
  for (const auto& p : include)
    if (glob_match(p, path)) {
      in = true;
      break;
    }
  if (!in) return false;
  for (const auto& p : exclude)
    if (glob_match(p, path)) return false;
  return true;
}

}  // namespace replay::corpus
