// Lightweight markup (POD, reStructuredText, AsciiDoc) -> text. These formats
// are already mostly plain text; the work is removing the markup lines and
// inline codes that a reader of the rendered page would never see.
#include <cctype>
#include <string>

#include "corpus/convert.h"
#include "util/lines.h"

namespace replay::corpus {

namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// "=====", "-----", "~~~~": a title underline/overline or block delimiter.
bool is_rule_line(std::string_view line, size_t min_len) {
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
  if (line.size() < min_len) return false;
  char c = line[0];
  if (std::isalnum(static_cast<unsigned char>(c)) || std::isspace(static_cast<unsigned char>(c)))
    return false;
  return line.find_first_not_of(c) == std::string_view::npos;
}

// POD formatting codes: X<...>, X<< ... >> (any number of '<' with spaces).
void pod_inline(std::string_view s, std::string& out) {
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (i + 1 < s.size() && s[i + 1] == '<' && std::string_view("BICLEFSXZ").find(c) != std::string_view::npos &&
        (i == 0 || !std::isupper(static_cast<unsigned char>(s[i - 1])))) {
      size_t n = 0;
      while (i + 1 + n < s.size() && s[i + 1 + n] == '<') ++n;
      size_t start = i + 1 + n, end;
      if (n == 1) {
        int depth = 1;
        for (end = start; end < s.size(); ++end) {
          if (s[end] == '<' && end > 0 && std::isupper(static_cast<unsigned char>(s[end - 1]))) ++depth;
          if (s[end] == '>' && --depth == 0) break;
        }
      } else {
        std::string closing = " " + std::string(n, '>');
        end = s.find(closing, start);
        if (end == std::string_view::npos) end = s.size();
        while (start < end && s[start] == ' ') ++start;
      }
      std::string_view inner = s.substr(start, std::min(end, s.size()) - start);
      size_t after = n == 1 ? end + 1 : end + 1 + n;
      if (c == 'X' || c == 'Z') {
        // index entries and zero-width markers vanish
      } else if (c == 'E') {
        if (inner == "lt") out += '<';
        else if (inner == "gt") out += '>';
        else if (inner == "sol") out += '/';
        else if (inner == "verbar") out += '|';
        else if (!inner.empty() && std::isdigit(static_cast<unsigned char>(inner[0]))) {
          unsigned long cp = std::stoul(std::string(inner));
          if (cp < 0x80) out += static_cast<char>(cp);
        } else out.append(inner);
      } else if (c == 'L') {
        size_t bar = inner.find('|');
        std::string_view text = bar == std::string_view::npos ? inner : inner.substr(0, bar);
        if (bar == std::string_view::npos) {  // L<perlfunc/"open"> -> "open" in perlfunc
          size_t slash = text.find('/');
          if (slash != std::string_view::npos) {
            std::string_view page = text.substr(0, slash), sec = text.substr(slash + 1);
            if (sec.size() >= 2 && sec.front() == '"' && sec.back() == '"') sec = sec.substr(1, sec.size() - 2);
            std::string t(sec);
            if (!page.empty()) t += " in " + std::string(page);
            pod_inline(t, out);
            i = std::min(after, s.size()) - 1;
            continue;
          }
        }
        pod_inline(text, out);
      } else {
        pod_inline(inner, out);
      }
      i = std::min(after, s.size()) - 1;
      continue;
    }
    out.push_back(c);
  }
}

// rST inline markup: roles, literals, references.
std::string rst_inline(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    // :role:`text` or :role:`text <target>` -> text
    if (s[i] == ':' && (i == 0 || !std::isalnum(static_cast<unsigned char>(s[i - 1])))) {
      size_t j = i + 1;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == ':' || s[j] == '-' || s[j] == '_'))
        ++j;
      if (j > i + 1 && j < s.size() && s[j] == '`' && s[j - 1] == ':') {
        size_t end = s.find('`', j + 1);
        if (end != std::string_view::npos) {
          std::string_view inner = s.substr(j + 1, end - j - 1);
          size_t lt = inner.rfind(" <");
          if (lt != std::string_view::npos && inner.back() == '>') inner = inner.substr(0, lt);
          if (!inner.empty() && (inner[0] == '~' || inner[0] == '!')) inner.remove_prefix(1);
          out.append(inner);
          i = end;
          continue;
        }
      }
    }
    if (s[i] == '`') {
      if (s.substr(i, 2) == "``") {  // ``literal``
        size_t end = s.find("``", i + 2);
        if (end != std::string_view::npos) {
          out.append(s.substr(i + 2, end - i - 2));
          i = end + 1;
          continue;
        }
      }
      size_t end = s.find('`', i + 1);  // `text <url>`_ or `text`_
      if (end != std::string_view::npos) {
        std::string_view inner = s.substr(i + 1, end - i - 1);
        size_t lt = inner.rfind(" <");
        if (lt != std::string_view::npos && !inner.empty() && inner.back() == '>') inner = inner.substr(0, lt);
        out.append(inner);
        i = end;
        while (i + 1 < s.size() && s[i + 1] == '_') ++i;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace

std::string pod_to_text(std::string_view pod) {
  std::string out;
  bool in_begin_block = false;  // =begin html ... =end: not for text readers
  for_each_line(pod, [&](std::string_view line) {
    if (!line.empty() && line[0] == '=' && line.size() > 1 && std::isalpha(static_cast<unsigned char>(line[1]))) {
      size_t sp = line.find_first_of(" \t");
      std::string_view cmd = line.substr(1, sp == std::string_view::npos ? std::string_view::npos : sp - 1);
      std::string_view arg = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
      if (cmd == "begin") in_begin_block = true;
      if (cmd == "end") in_begin_block = false;
      if (starts_with(cmd, "head")) {
        out += "\n";
        pod_inline(arg, out);
        out += "\n\n";
      } else if (cmd == "item") {
        out += "\n";
        if (arg != "*" && !arg.empty()) {
          std::string_view a = arg;
          if (starts_with(a, "* ")) a.remove_prefix(2);
          pod_inline(a, out);
        } else {
          out += "-";
        }
        out += "\n";
      }
      return;  // =over =back =cut =pod =for =encoding =begin =end
    }
    if (in_begin_block) return;
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      out.append(line);  // verbatim paragraph: code examples stay as written
    } else {
      pod_inline(line, out);
    }
    out.push_back('\n');
  });
  return out;
}

std::string rst_to_text(std::string_view rst) {
  std::string out;
  bool skipping_options = false;  // after a directive line: its ":option:" lines
  bool in_comment = false;        // ".. " comment body (indented)
  for_each_line(rst, [&](std::string_view line) {
    std::string_view t = line;
    size_t indent = t.find_first_not_of(" \t");
    if (indent == std::string_view::npos) {
      skipping_options = false;
      out.push_back('\n');
      return;
    }
    t.remove_prefix(indent);
    if (in_comment) {
      if (indent > 0) return;
      in_comment = false;
    }
    if (skipping_options && t[0] == ':') return;
    skipping_options = false;
    if (starts_with(t, ".. ")) {
      std::string_view rest = t.substr(3);
      size_t dc = rest.find("::");
      if (dc != std::string_view::npos && rest.find(' ') > dc) {
        // directive: keep an argument that is prose (".. note:: text")
        std::string_view arg = rest.substr(dc + 2);
        size_t a = arg.find_first_not_of(' ');
        std::string_view name = rest.substr(0, dc);
        bool prose = name == "note" || name == "warning" || name == "seealso" || name == "versionadded" ||
                     name == "versionchanged" || name == "deprecated" || name == "tip" || name == "important";
        if (a != std::string_view::npos && prose) {
          out += rst_inline(arg.substr(a));
          out.push_back('\n');
        }
        skipping_options = true;
        return;
      }
      if (starts_with(rest, "_") || starts_with(rest, "[") || starts_with(rest, "|")) return;  // targets
      if (indent == 0) in_comment = true;  // a comment, possibly multi-line
      return;
    }
    if (is_rule_line(t, 3)) return;  // title over/underlines, transitions
    std::string inl = rst_inline(line);
    // "paragraph::" introduces a literal block; the reader sees one colon.
    if (inl.size() >= 2 && inl.compare(inl.size() - 2, 2, "::") == 0) {
      inl.pop_back();
      if (inl.size() >= 2 && inl[inl.size() - 2] == ' ') inl.resize(inl.size() - 2);
      if (inl.find_first_not_of(" ") == std::string::npos) inl.clear();
    }
    out += inl;
    out.push_back('\n');
  });
  return out;
}

std::string asciidoc_to_text(std::string_view adoc) {
  std::string out;
  for_each_line(adoc, [&](std::string_view line) {
    std::string_view t = line;
    if (t == "+") return;                                    // list continuation
    if (is_rule_line(t, 4)) return;                          // ---- .... **** ==== blocks and underlines
    if (starts_with(t, "//")) return;                        // comment
    if (starts_with(t, "[[") && t.size() > 4 && t.substr(t.size() - 2) == "]]") return;  // anchor
    if (t.size() >= 2 && t[0] == '[' && t.back() == ']' && t.find(' ') == std::string_view::npos) return;
    if (t.size() >= 2 && t[0] == '[' && t.back() == ']' && t.find('"') == std::string_view::npos &&
        (starts_with(t, "[verse") || starts_with(t, "[source") || starts_with(t, "[NOTE") || starts_with(t, "[listing")))
      return;
    for (std::string_view p : {"include::", "ifdef::", "ifndef::", "endif::", "ifeval::"})
      if (starts_with(t, p)) return;
    if (t.size() > 2 && t[0] == ':' && t.find(": ", 1) != std::string_view::npos &&
        t.find(' ') > t.find(':', 1))
      return;  // :attribute: value
    // linkgit:git-foo[1] -> git-foo(1)
    std::string s(t);
    for (size_t p; (p = s.find("linkgit:")) != std::string::npos;) {
      size_t lb = s.find('[', p), rb = lb == std::string::npos ? lb : s.find(']', lb);
      if (rb == std::string::npos) {
        s.erase(p, 8);
        break;
      }
      s = s.substr(0, p) + s.substr(p + 8, lb - p - 8) + "(" + s.substr(lb + 1, rb - lb - 1) + ")" + s.substr(rb + 1);
    }
    // Section titles "== Title ==" -> "Title"
    if (!s.empty() && s[0] == '=' && s.find(' ') != std::string::npos) {
      size_t a = s.find_first_not_of('=');
      if (a != std::string::npos && s[a] == ' ') {
        s = s.substr(a + 1);
        while (!s.empty() && (s.back() == '=' || s.back() == ' ')) s.pop_back();
      }
    }
    out += s;
    out.push_back('\n');
  });
  return out;
}

}  // namespace replay::corpus
