#include "corpus/glob.h"

namespace replay::corpus {

namespace {

// Matches one segment pattern (no '/') against one segment.
bool match_segment(std::string_view p, std::string_view s) {
  size_t pi = 0, si = 0, star_p = std::string_view::npos, star_s = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star_p = pi++;
      star_s = si;
      continue;
    }
    if (pi < p.size()) {
      bool ok = false;
      size_t next = pi + 1;
      if (p[pi] == '?') {
        ok = true;
      } else if (p[pi] == '[') {
        size_t j = pi + 1;
        bool negate = j < p.size() && (p[j] == '!' || p[j] == '^');
        if (negate) ++j;
        bool found = false;
        size_t start = j;
        while (j < p.size() && (p[j] != ']' || j == start)) {
          if (j + 2 < p.size() && p[j + 1] == '-' && p[j + 2] != ']') {
            if (s[si] >= p[j] && s[si] <= p[j + 2]) found = true;
            j += 3;
          } else {
            if (s[si] == p[j]) found = true;
            ++j;
          }
        }
        if (j < p.size()) {  // well-formed class
          ok = found != negate;
          next = j + 1;
        } else {
          ok = s[si] == '[';  // unterminated: a literal '['
        }
      } else {
        ok = p[pi] == s[si];
      }
      if (ok) {
        pi = next;
        ++si;
        continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    pi = star_p + 1;
    si = ++star_s;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
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
