// TeX -> text, conservatively: the math domain wants the formulas, so math
// and unknown macros stay verbatim; only markup that is clearly layout or
// typography is removed or unwrapped.
#include <cctype>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "corpus/convert.h"

namespace replay::corpus {

namespace {

// What to do with a macro outside math.
enum class Action { unwrap, heading, drop_arg, drop, replace };

const std::unordered_map<std::string, Action>& actions() {
  static const std::unordered_map<std::string, Action> table = {
      // text styles: keep the argument
      {"emph", Action::unwrap}, {"textbf", Action::unwrap}, {"textit", Action::unwrap},
      {"texttt", Action::unwrap}, {"textsf", Action::unwrap}, {"textrm", Action::unwrap},
      {"underline", Action::unwrap}, {"kbd", Action::unwrap}, {"tet", Action::unwrap},
      {"var", Action::unwrap}, {"key", Action::unwrap}, {"centerline", Action::unwrap},
      {"url", Action::unwrap}, {"mbox", Action::unwrap}, {"hbox", Action::unwrap},
      {"footnote", Action::unwrap}, {"caption", Action::unwrap}, {"sidx", Action::unwrap},
      // sectioning: the argument on its own line
      {"chapter", Action::heading}, {"section", Action::heading}, {"subsection", Action::heading},
      {"subsubsection", Action::heading}, {"paragraph", Action::heading},
      {"subsec", Action::heading}, {"subsubsec", Action::heading}, {"title", Action::heading},
      // cross-reference bookkeeping: gone with its argument
      {"label", Action::drop_arg}, {"index", Action::drop_arg}, {"kbdsidx", Action::drop_arg},
      {"cite", Action::drop_arg}, {"ref", Action::drop_arg},
      {"pageref", Action::drop_arg}, {"vskip", Action::drop}, {"hskip", Action::drop},
      {"usepackage", Action::drop_arg}, {"documentclass", Action::drop_arg},
      {"bibliographystyle", Action::drop_arg}, {"bibliography", Action::drop_arg},
      // layout-only, no argument
      {"noindent", Action::drop}, {"smallskip", Action::drop}, {"medskip", Action::drop},
      {"bigskip", Action::drop}, {"newpage", Action::drop}, {"par", Action::drop},
      {"maketitle", Action::drop}, {"tableofcontents", Action::drop}, {"vfill", Action::drop},
      {"hfill", Action::drop}, {"eject", Action::drop}, {"bprog", Action::drop},
      {"copyrightpage", Action::drop}, {"endtitle", Action::drop}, {"begintitle", Action::drop},
      {"authors", Action::drop}, {"smallbreak", Action::drop}, {"medbreak", Action::drop},
      {"bigbreak", Action::drop}, {"centering", Action::drop}, {"item", Action::replace},
      {"dots", Action::replace}, {"ldots", Action::replace}, {"TeX", Action::replace},
      {"LaTeX", Action::replace}, {"_", Action::replace}, {"&", Action::replace},
      {"%", Action::replace}, {"#", Action::replace}, {"$", Action::replace},
      {"{", Action::replace}, {"}", Action::replace}, {"\\", Action::replace}};
  return table;
}

const char* replacement(const std::string& name) {
  if (name == "item") return "\n- ";
  if (name == "dots" || name == "ldots") return "...";
  if (name == "\\") return "\n";
  return nullptr;  // TeX, LaTeX and escaped characters: the name itself
}

// Lines that only define or load macros carry no text.
bool is_definition_line(std::string_view line) {
  size_t i = line.find_first_not_of(" \t");
  if (i == std::string_view::npos) return false;
  line.remove_prefix(i);
  for (std::string_view p : {"\\def", "\\gdef", "\\edef", "\\let", "\\input", "\\newcommand",
                             "\\renewcommand", "\\providecommand", "\\catcode", "\\chapno",
                             "\\newif", "\\font", "\\setlength", "\\newtheorem"}) {
    if (line.substr(0, p.size()) == p &&
        (line.size() == p.size() || !std::isalpha(static_cast<unsigned char>(line[p.size()]))))
      return true;
  }
  return false;
}

// Removes an unescaped % and the rest of the line.
std::string_view strip_comment(std::string_view line) {
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\\') {
      ++i;
    } else if (line[i] == '%') {
      return line.substr(0, i);
    }
  }
  return line;
}

// Index just past the group that opens at s[i] == '{' (or i if none).
size_t skip_group(std::string_view s, size_t i) {
  if (i >= s.size() || s[i] != '{') return i;
  int depth = 0;
  for (; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
      continue;
    }
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return i + 1;
  }
  return s.size();
}

class MacroPass {
 public:
  std::string run(std::string_view s) {
    process(s);
    return std::move(out_);
  }

 private:
  void process(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
      char c = s[i];
      if (c == '$') {
        math_ = !math_;
        out_.push_back(c);
        ++i;
        continue;
      }
      if (c != '\\' || math_) {
        out_.push_back(c);
        ++i;
        continue;
      }
      // A macro: letters, or one non-letter character.
      size_t j = i + 1;
      while (j < s.size() && std::isalpha(static_cast<unsigned char>(s[j]))) ++j;
      if (j == i + 1 && j < s.size()) ++j;
      std::string name(s.substr(i + 1, j - i - 1));
      if (name == "[" || name == "(") math_ = true;
      if (name == "]" || name == ")") math_ = false;
      auto it = actions().find(name);
      if (it == actions().end()) {
        out_.append(s.substr(i, j - i));
        i = j;
        continue;
      }
      size_t k = j;
      while (k < s.size() && (s[k] == ' ' || s[k] == '*')) ++k;  // \section*{...}
      size_t end = skip_group(s, k);
      bool has_arg = end > k;
      switch (it->second) {
        case Action::unwrap:
        case Action::heading:
          if (!has_arg) {
            i = j;
            break;
          }
          if (it->second == Action::heading) out_ += "\n\n";
          process(s.substr(k + 1, end - k - 2));
          if (it->second == Action::heading) out_ += "\n\n";
          i = end;
          break;
        case Action::drop_arg:
          i = has_arg ? end : j;
          break;
        case Action::drop:
          i = j;
          // \vskip2.5truecm: the dimension goes too
          if (name == "vskip" || name == "hskip")
            while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i])) && s[i] != '\\') ++i;
          break;
        case Action::replace: {
          const char* r = replacement(name);
          out_ += r ? r : name;
          i = j;
          break;
        }
      }
    }
  }

  std::string out_;
  bool math_ = false;
};

}  // namespace

std::string tex_to_text(std::string_view tex) {
  // Pass 1, by lines: verbatim blocks (where % is not a comment), comments,
  // definition lines.
  std::string body, out;
  auto flush_body = [&] {
    out += MacroPass().run(body);
    body.clear();
  };
  std::string_view verbatim_end;
  size_t pos = 0;
  while (pos <= tex.size()) {
    size_t eol = tex.find('\n', pos);
    if (eol == std::string_view::npos) eol = tex.size();
    std::string_view line = tex.substr(pos, eol - pos);
    pos = eol + 1;
    if (!verbatim_end.empty()) {
      size_t end = line.find(verbatim_end);
      if (end == std::string_view::npos) {
        out.append(line);
        out.push_back('\n');
        continue;
      }
      out.append(line.substr(0, end));
      out.push_back('\n');
      line.remove_prefix(end + verbatim_end.size());
      verbatim_end = {};
    }
    for (auto [begin, end] : {std::pair<std::string_view, std::string_view>{"\\bprog", "@eprog"},
                              {"\\begin{verbatim}", "\\end{verbatim}"},
                              {"\\begin{lstlisting}", "\\end{lstlisting}"}}) {
      size_t b = line.find(begin);
      if (b != std::string_view::npos) {
        body.append(strip_comment(line.substr(0, b)));
        body.push_back('\n');
        flush_body();
        std::string_view rest = line.substr(b + begin.size());
        size_t e = rest.find(end);
        if (e != std::string_view::npos) {  // one-line block
          out.append(rest.substr(0, e));
          out.push_back('\n');
          line = rest.substr(e + end.size());
          break;
        }
        out.append(rest);
        out.push_back('\n');
        verbatim_end = end;
        line = {};
        break;
      }
    }
    if (!verbatim_end.empty()) continue;
    if (is_definition_line(line)) continue;
    std::string_view kept = strip_comment(line);
    // A line that was only a comment disappears entirely (no blank line).
    if (kept.find_first_not_of(" \t") == std::string_view::npos && kept.size() != line.size())
      continue;
    body.append(kept);
    body.push_back('\n');
  }
  flush_body();
  return out;
}

}  // namespace replay::corpus
