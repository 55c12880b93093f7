#include "corpus/normalize.h"

#include <xxhash.h>

namespace replay::corpus {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
  return n;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Windows-1252 0x80..0x9F; 0 where undefined (kept as the C1 control).
constexpr uint16_t kCp1252[32] = {0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
                                  0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0,      0x017D, 0,
                                  0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                  0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

}  // namespace

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string latin1_to_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (unsigned char c : s) {
    uint32_t cp = c;
    if (c >= 0x80 && c < 0xA0 && kCp1252[c - 0x80]) cp = kCp1252[c - 0x80];
    append_utf8(out, cp);
  }
  return out;
}

std::string to_valid_utf8(std::string_view raw, double& bad_fraction) {
  bad_fraction = 0;
  size_t invalid = 0, multibyte = 0, chars = 0;
  for (size_t i = 0; i < raw.size();) {
    size_t n = utf8_sequence_length(raw, i);
    if (n == 0) {
      ++invalid;
      n = 1;
    } else if (n > 1) {
      ++multibyte;
    }
    ++chars;
    i += n;
  }
  if (invalid == 0) return std::string(raw);
  if (multibyte == 0) return latin1_to_utf8(raw);
  std::string out;
  out.reserve(raw.size() + 2 * invalid);
  for (size_t i = 0; i < raw.size();) {
    size_t n = utf8_sequence_length(raw, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    } else {
      out.append(raw, i, n);
      i += n;
    }
  }
  bad_fraction = static_cast<double>(invalid) / static_cast<double>(chars);
  return out;
}

std::string normalize_text(std::string_view raw, size_t min_chars, DropReason& reason) {
  double bad = 0;
  std::string text = to_valid_utf8(raw, bad);
  if (bad > 0.01) {
    reason = DropReason::encoding;
    return {};
  }
  // Line by line: newline forms, control characters, trailing spaces, and
  // runs of blank lines.
  std::string out;
  out.reserve(text.size());
  std::string line;
  int blank_run = 0;
  auto flush_line = [&] {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (line.empty()) {
      if (++blank_run == 1 && !out.empty()) out.push_back('\n');
    } else {
      blank_run = 0;
      out += line;
      out.push_back('\n');
    }
    line.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\r') {
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
      flush_line();
    } else if (c == '\n') {
      flush_line();
    } else if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\f') {
      continue;
    } else {
      line.push_back(c);
    }
  }
  flush_line();
  // Trim both ends (the first line's indentation is kept unless it is the
  // only thing there: code keeps its shape).
  size_t end = out.find_last_not_of(" \t\n\f");
  if (end == std::string::npos) {
    reason = DropReason::too_short;
    return {};
  }
  out.resize(end + 1);
  size_t begin = out.find_first_not_of("\n\f");
  out.erase(0, begin);
  if (out.size() < min_chars) {
    reason = DropReason::too_short;
    return {};
  }
  reason = DropReason::kept;
  return out;
}

bool Deduplicator::insert(std::string_view text) {
  XXH128_hash_t h = XXH3_128bits(text.data(), text.size());
  return seen_.insert({h.high64, h.low64}).second;
}

}  // namespace replay::corpus
