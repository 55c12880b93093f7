#include "eval/task.h"

#include <toml++/toml.h>

#include <set>

#include "util/error.h"
#include "util/fs.h"
#include "util/lines.h"
#include "util/toml_reader.h"

namespace replay::eval {

namespace {

using nlohmann::json;

// A placeholder's field and ops, e.g. {"premise", {"strip"}}.
struct Placeholder {
  std::string field;
  std::vector<std::string> ops;
};

// Literal text and placeholders in order: a placeholder is a segment whose
// `is_field` is true.
struct Segment {
  bool is_field = false;
  std::string text;
  Placeholder placeholder;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

void check_op(const std::string& op, const Maps& maps, const std::string& where) {
  if (op == "strip" || op == "rstrip_period" || op == "lower_first") return;
  if (op.rfind("map:", 0) == 0) {
    if (!maps.count(op.substr(4)))
      throw Error(where + ": unknown map '" + op.substr(4) + "' in op '" + op + "' (define [maps." + op.substr(4) + "])");
    return;
  }
  throw Error(where + ": unknown op '" + op + "' (known: strip, rstrip_period, lower_first, map:NAME)");
}

std::vector<Segment> parse_template(const std::string& text, const Maps& maps, const std::string& where) {
  std::vector<Segment> out(1);
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      out.back().text += c;
      ++i;
    } else if (c == '}') {
      throw Error(where + ": unmatched '}' at offset " + std::to_string(i) + " in \"" + text + "\"");
    } else if (c == '{') {
      const size_t end = text.find('}', i);
      if (end == std::string::npos)
        throw Error(where + ": unclosed '{' at offset " + std::to_string(i) + " in \"" + text + "\"");
      auto parts = split(text.substr(i + 1, end - i - 1), '|');
      if (parts[0].empty()) throw Error(where + ": empty field name in \"" + text + "\"");
      Segment s{true, "", {parts[0], {parts.begin() + 1, parts.end()}}};
      for (const auto& op : s.placeholder.ops) check_op(op, maps, where);
      out.push_back(std::move(s));
      out.emplace_back();
      i = end;
    } else {
      out.back().text += c;
    }
  }
  return out;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string apply_op(const std::string& op, std::string v, const Maps& maps, const std::string& where) {
  if (op == "strip") {
    size_t b = 0, e = v.size();
    while (b < e && is_space(v[b])) ++b;
    while (e > b && is_space(v[e - 1])) --e;
    return v.substr(b, e - b);
  }
  if (op == "rstrip_period") {
    if (!v.empty() && v.back() == '.') v.pop_back();
    return v;
  }
  if (op == "lower_first") return lower_first(v);
  const auto& map = maps.at(op.substr(4));
  const auto it = map.find(v);
  if (it == map.end()) throw Error(where + ": value '" + v + "' is not a key of [maps." + op.substr(4) + "]");
  return it->second;
}

std::string field_text(const Placeholder& p, const json& item, const json* extra, const std::string& where) {
  const json* value = nullptr;
  if (extra && extra->contains(p.field)) value = &(*extra)[p.field];
  else if (item.is_object() && item.contains(p.field)) value = &item[p.field];
  if (!value) throw Error(where + ": unknown field '" + p.field + "' (the item has no such key)");
  if (value->is_string()) return value->get<std::string>();
  if (value->is_number() || value->is_boolean()) return value->dump();
  throw Error(where + ": field '" + p.field + "' is not a string or number: " + value->dump());
}

// Decodes the code point at the start of `s` (UTF-8); 0 bytes on bad input.
std::pair<uint32_t, size_t> first_code_point(const std::string& s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  if (s.empty()) return {0, 0};
  if (b(0) < 0x80) return {b(0), 1};
  if ((b(0) & 0xE0) == 0xC0 && s.size() >= 2) return {((b(0) & 0x1Fu) << 6) | (b(1) & 0x3Fu), 2};
  return {0, 0};  // 3- and 4-byte characters are left as they are
}

uint32_t lower_code_point(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;  // Latin-1 Supplement
  if (c == 0x178) return 0xFF;                                 // Ÿ -> ÿ
  const bool even_capital = (c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177);
  const bool odd_capital = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
  if ((even_capital && c % 2 == 0) || (odd_capital && c % 2 == 1)) return c + 1;
  return c;
}

std::string encode_code_point(uint32_t c) {
  if (c < 0x80) return std::string(1, static_cast<char>(c));
  return {static_cast<char>(0xC0 | (c >> 6)), static_cast<char>(0x80 | (c & 0x3F))};
}

}  // namespace

std::string lower_first(const std::string& text) {
  const auto [c, n] = first_code_point(text);
  if (n == 0) return text;
  return encode_code_point(lower_code_point(c)) + text.substr(n);
}

int64_t utf8_length(const std::string& text) {
  int64_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

void check_template(const std::string& text, const Maps& maps, const std::string& where) {
  parse_template(text, maps, where);
}

std::string render_template(const std::string& text, const json& item, const Maps& maps,
                            const std::string& where, const json* extra) {
  std::string out;
  for (const auto& s : parse_template(text, maps, where)) {
    if (!s.is_field) {
      out += s.text;
      continue;
    }
    std::string v = field_text(s.placeholder, item, extra, where);
    for (const auto& op : s.placeholder.ops) v = apply_op(op, std::move(v), maps, where);
    out += v;
  }
  return out;
}

}  // namespace replay::eval
