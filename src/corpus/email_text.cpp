// RFC 822 / MIME messages -> the text a person wrote: headers stripped, only
// text/plain parts kept. Enough MIME for real mailing-list archives
// (multipart nesting, forwarded message/rfc822, quoted-printable, base64,
// Latin-1 family charsets), not a full implementation.
#include <strings.h>

#include <cctype>
#include <string>

#include "corpus/convert.h"
#include "corpus/normalize.h"
#include "util/base64.h"

namespace replay::corpus {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

struct Part {
  std::string content_type = "text/plain";  // lowercase type/subtype
  std::string boundary;
  std::string charset;
  std::string encoding;  // lowercase Content-Transfer-Encoding
  std::string_view body;
};

// Value of `name` in "text/plain; charset=\"x\"; format=flowed".
std::string header_param(std::string_view value, std::string_view name) {
  size_t pos = 0;
  while ((pos = value.find(';', pos)) != std::string_view::npos) {
    std::string_view rest = trim(value.substr(pos + 1));
    pos += 1;
    if (rest.size() > name.size() && strncasecmp(rest.data(), name.data(), name.size()) == 0) {
      std::string_view v = trim(rest.substr(name.size()));
      if (v.empty() || v[0] != '=') continue;
      v = trim(v.substr(1));
      if (!v.empty() && v[0] == '"') {
        size_t end = v.find('"', 1);
        return std::string(v.substr(1, end == std::string_view::npos ? std::string_view::npos : end - 1));
      }
      size_t end = v.find_first_of("; \t\r\n");
      return std::string(v.substr(0, end));
    }
  }
  return "";
}

Part parse_part(std::string_view msg) {
  Part part;
  size_t pos = 0;
  std::string name, value;
  auto finish_header = [&] {
    if (name.empty()) return;
    std::string n = lower(name);
    if (n == "content-type") {
      std::string_view v = trim(value);
      part.content_type = lower(trim(v.substr(0, v.find(';'))));
      part.boundary = header_param(v, "boundary");
      part.charset = lower(header_param(v, "charset"));
    } else if (n == "content-transfer-encoding") {
      part.encoding = lower(trim(value));
    }
    name.clear();
    value.clear();
  };
  while (pos < msg.size()) {
    size_t eol = msg.find('\n', pos);
    if (eol == std::string_view::npos) eol = msg.size();
    std::string_view line = msg.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = eol + 1;
    if (line.empty()) {  // end of headers
      finish_header();
      part.body = pos <= msg.size() ? msg.substr(pos) : std::string_view();
      return part;
    }
    if (line[0] == ' ' || line[0] == '\t') {  // folded continuation
      value += ' ';
      value += trim(line);
      continue;
    }
    finish_header();
    size_t colon = line.find(':');
    // Lines without a colon (the mbox "From " line) are not headers.
    if (colon != std::string_view::npos && line.find(' ') > colon) {
      name = line.substr(0, colon);
      value = line.substr(colon + 1);
    }
  }
  finish_header();
  return part;  // headers only, no body
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string decode_quoted_printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '=') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 1 < s.size() && s[i + 1] == '\n') {  // soft line break
      i += 1;
    } else if (i + 2 < s.size() && s[i + 1] == '\r' && s[i + 2] == '\n') {
      i += 2;
    } else if (i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back('=');
    }
  }
  return out;
}

bool is_latin1_family(const std::string& charset) {
  return charset.rfind("iso-8859", 0) == 0 || charset.rfind("windows-125", 0) == 0 ||
         charset == "latin1" || charset == "cp1252" || charset == "us-ascii";
}

void extract(std::string_view msg, std::string& out, int depth) {
  if (depth > 20) return;  // pathological nesting
  Part part = parse_part(msg);
  const std::string& type = part.content_type;
  if (type.rfind("multipart/", 0) == 0) {
    if (part.boundary.empty()) return;
    const std::string delim = "--" + part.boundary;
    std::string_view body = part.body;
    size_t pos = 0, start = std::string_view::npos;
    while (pos < body.size()) {
      size_t eol = body.find('\n', pos);
      if (eol == std::string_view::npos) eol = body.size();
      std::string_view line = body.substr(pos, eol - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.rfind(delim, 0) == 0) {
        if (start != std::string_view::npos) extract(body.substr(start, pos - start), out, depth + 1);
        bool closing = line.substr(delim.size()).rfind("--", 0) == 0;
        if (closing) return;
        start = eol + 1;
      }
      pos = eol + 1;
    }
    if (start != std::string_view::npos && start < body.size())
      extract(body.substr(start), out, depth + 1);  // unterminated last part
    return;
  }
  if (type == "message/rfc822") {
    extract(part.body, out, depth + 1);
    return;
  }
  if (type != "text/plain") return;
  std::string text;
  if (part.encoding == "quoted-printable")
    text = decode_quoted_printable(part.body);
  else if (part.encoding == "base64")
    text = *decode_base64(part.body, Base64Input::mime);
  else
    text = std::string(part.body);
  if (is_latin1_family(part.charset) && !is_valid_utf8(text)) text = latin1_to_utf8(text);
  if (!out.empty()) out += "\n\n";
  out += text;
}

}  // namespace

std::string email_to_text(std::string_view message) {
  std::string out;
  extract(message, out, 0);
  return out;
}

}  // namespace replay::corpus
