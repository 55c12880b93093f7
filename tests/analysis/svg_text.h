// Reads an SVG with an independent XML parser (expat): whether it is
// well-formed, and every <text> element's content and position, so tests can
// check that figures carry real text rather than glyph outlines.
#pragma once
#include <expat.h>

#include <cstdio>
#include <string>
#include <vector>

namespace svg_text {

struct Text {
  std::string content;
  double x = 0, y = 0;  // from transform="translate(x,y) ..."
};

struct Parsed {
  bool well_formed = false;
  std::string error;
  std::vector<Text> texts;
  bool has(const std::string& content) const {
    for (const auto& t : texts)
      if (t.content == content) return true;
    return false;
  }
  const Text* find(const std::string& content) const {
    for (const auto& t : texts)
      if (t.content == content) return &t;
    return nullptr;
  }
};

namespace detail {
struct State {
  Parsed* out;
  bool in_text = false;
};
inline void start(void* data, const XML_Char* name, const XML_Char** attrs) {
  auto* s = static_cast<State*>(data);
  if (std::string(name) != "text") return;
  s->in_text = true;
  Text t;
  for (int i = 0; attrs[i]; i += 2)
    if (std::string(attrs[i]) == "transform") std::sscanf(attrs[i + 1], "translate(%lf,%lf", &t.x, &t.y);
  s->out->texts.push_back(t);
}
inline void end(void* data, const XML_Char* name) {
  if (std::string(name) == "text") static_cast<State*>(data)->in_text = false;
}
inline void chars(void* data, const XML_Char* text, int len) {
  auto* s = static_cast<State*>(data);
  if (s->in_text) s->out->texts.back().content.append(text, len);
}
}  // namespace detail

inline Parsed parse(const std::string& svg) {
  Parsed out;
  detail::State state{&out};
  XML_Parser p = XML_ParserCreate("UTF-8");
  XML_SetUserData(p, &state);
  XML_SetElementHandler(p, detail::start, detail::end);
  XML_SetCharacterDataHandler(p, detail::chars);
  out.well_formed = XML_Parse(p, svg.data(), static_cast<int>(svg.size()), 1) == XML_STATUS_OK;
  if (!out.well_formed) out.error = XML_ErrorString(XML_GetErrorCode(p));
  XML_ParserFree(p);
  return out;
}

}  // namespace svg_text
