#include "corpus/convert.h"

#include "corpus/normalize.h"
#include "util/error.h"
#include "util/lines.h"

namespace replay::corpus {

namespace {

struct FormatName {
  Format format;
  const char* name;
};
constexpr FormatName kFormats[] = {
    {Format::text, "text"},   {Format::code, "code"},         {Format::html, "html"},
    {Format::email, "email"}, {Format::tex, "tex"},           {Format::pod, "pod"},
    {Format::rst, "rst"},     {Format::asciidoc, "asciidoc"}, {Format::fortune, "fortune"},
    {Format::maxima, "maxima"}};

}  // namespace

Format parse_format(const std::string& name) {
  for (const auto& f : kFormats)
    if (name == f.name) return f.format;
  throw Error("unknown format \"" + name + "\" (known: " + known_formats() + ")");
}

const char* format_name(Format format) {
  for (const auto& f : kFormats)
    if (f.format == format) return f.name;
  return "?";
}

std::string known_formats() {
  std::string s;
  for (const auto& f : kFormats) s += (s.empty() ? "" : ", ") + std::string(f.name);
  return s;
}

std::vector<std::string> split_fortunes(std::string_view text) {
  std::vector<std::string> out;
  std::string current;
  for_each_line(text, [&](std::string_view line) {
    if (line == "%") {
      out.push_back(std::move(current));
      current.clear();
      return;
    }
    current.append(line);
    current.push_back('\n');
  });
  out.push_back(std::move(current));
  std::erase_if(out, [](const std::string& s) { return s.find_first_not_of(" \t\n") == std::string::npos; });
  return out;
}

std::string maxima_tests_to_text(std::string_view mac) {
  // Split into statements at top-level ';' / '$', skipping strings and
  // (nestable) comments, which are dropped.
  std::vector<std::string> statements;
  std::string current;
  int comment_depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < mac.size(); ++i) {
    char c = mac[i];
    if (comment_depth > 0) {
      if (c == '*' && i + 1 < mac.size() && mac[i + 1] == '/') --comment_depth, ++i;
      else if (c == '/' && i + 1 < mac.size() && mac[i + 1] == '*') ++comment_depth, ++i;
      continue;
    }
    if (in_string) {
      current.push_back(c);
      if (c == '\\' && i + 1 < mac.size()) current.push_back(mac[++i]);
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '/' && i + 1 < mac.size() && mac[i + 1] == '*') {
      ++comment_depth;
      ++i;
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '\\' && i + 1 < mac.size()) {  // escaped character, e.g. \;
      current.push_back(c);
      current.push_back(mac[++i]);
      continue;
    }
    if (c == ';' || c == '$') {
      size_t a = current.find_first_not_of(" \t\r\n");
      if (a != std::string::npos) {
        size_t b = current.find_last_not_of(" \t\r\n");
        statements.push_back(current.substr(a, b - a + 1));
      }
      current.clear();
      continue;
    }
    current.push_back(c);
  }
  std::string out;
  for (size_t k = 0; k + 1 < statements.size(); k += 2) {
    std::string n = std::to_string(k / 2 + 1);
    out += "(%i" + n + ") " + statements[k] + ";\n(%o" + n + ") " + statements[k + 1] + "\n";
  }
  return out;
}

std::vector<std::string_view> split_before_lines(std::string_view text, std::string_view prefix) {
  std::vector<std::string_view> parts;
  if (prefix.empty()) {
    parts.push_back(text);
    return parts;
  }
  size_t start = 0, pos = 0;
  while (pos < text.size()) {
    if (text.compare(pos, prefix.size(), prefix) == 0 && pos > start) {
      parts.push_back(text.substr(start, pos - start));
      start = pos;
    }
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) break;
    pos = eol + 1;
  }
  parts.push_back(text.substr(start));
  return parts;
}

std::vector<std::string> convert(Format format, std::string_view content, const ConvertOptions& options) {
  // Mail declares charsets per part; every other format is decoded up front
  // (Latin-1 fallback, see normalize.h) so converters see valid UTF-8.
  std::string utf8;
  if (format != Format::email) {
    double bad = 0;
    utf8 = to_valid_utf8(content, bad);
    content = utf8;
  }
  std::vector<std::string> docs;
  for (std::string_view piece : split_before_lines(content, options.split_before)) {
    switch (format) {
      case Format::text:
      case Format::code: docs.emplace_back(piece); break;
      case Format::html: docs.push_back(html_to_text(piece, options.html_drop)); break;
      case Format::email: docs.push_back(email_to_text(piece)); break;
      case Format::tex: docs.push_back(tex_to_text(piece)); break;
      case Format::pod: docs.push_back(pod_to_text(piece)); break;
      case Format::rst: docs.push_back(rst_to_text(piece)); break;
      case Format::asciidoc: docs.push_back(asciidoc_to_text(piece)); break;
      case Format::maxima: docs.push_back(maxima_tests_to_text(piece)); break;
      case Format::fortune:
        for (auto& f : split_fortunes(piece)) docs.push_back(std::move(f));
        break;
    }
  }
  return docs;
}

}  // namespace replay::corpus
