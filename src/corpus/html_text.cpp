// HTML -> text with gumbo: the parser handles broken markup, entities and
// implied tags, so this file only decides what is content and where the
// paragraph breaks go.
#include <gumbo.h>
#include <strings.h>

#include <cstring>

#include "corpus/convert.h"

namespace replay::corpus {

namespace {

bool has_token(const char* list, std::string_view token) {
  if (!list) return false;
  std::string_view s(list);
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    size_t j = i;
    while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j]))) ++j;
    if (s.substr(i, j - i) == token) return true;
    i = j;
  }
  return false;
}

std::string tag_name(const GumboElement& el) {
  if (el.tag != GUMBO_TAG_UNKNOWN) return gumbo_normalized_tagname(el.tag);
  GumboStringPiece piece = el.original_tag;
  gumbo_tag_from_original_text(&piece);
  std::string name(piece.data, piece.length);
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

class TextBuilder {
 public:
  explicit TextBuilder(const std::vector<std::string>& drop) : drop_(drop) {}

  void visit(const GumboNode* node, bool in_pre) {
    switch (node->type) {
      case GUMBO_NODE_TEXT:
      case GUMBO_NODE_CDATA:
      case GUMBO_NODE_WHITESPACE:
        text(node->v.text.text, in_pre);
        return;
      case GUMBO_NODE_DOCUMENT:
        children(&node->v.document.children, in_pre);
        return;
      case GUMBO_NODE_ELEMENT:
      case GUMBO_NODE_TEMPLATE:
        element(node->v.element, in_pre);
        return;
      default:
        return;  // comments
    }
  }
  std::string take() { return std::move(out_); }

 private:
  bool dropped(const GumboElement& el) {
    switch (el.tag) {
      case GUMBO_TAG_SCRIPT: case GUMBO_TAG_STYLE: case GUMBO_TAG_HEAD: case GUMBO_TAG_NAV:
      case GUMBO_TAG_NOSCRIPT: case GUMBO_TAG_TEMPLATE: case GUMBO_TAG_HEADER:
      case GUMBO_TAG_FOOTER: case GUMBO_TAG_ASIDE: case GUMBO_TAG_BUTTON: case GUMBO_TAG_INPUT:
      case GUMBO_TAG_SELECT: case GUMBO_TAG_TEXTAREA: case GUMBO_TAG_SVG: case GUMBO_TAG_IFRAME:
      case GUMBO_TAG_OBJECT: case GUMBO_TAG_MATH:
        return true;
      default:
        break;
    }
    if (drop_.empty()) return false;
    const GumboAttribute* cls = gumbo_get_attribute(&el.attributes, "class");
    const GumboAttribute* id = gumbo_get_attribute(&el.attributes, "id");
    std::string tag;
    for (const auto& sel : drop_) {
      if (sel.empty()) continue;
      if (sel[0] == '.') {
        if (cls && has_token(cls->value, std::string_view(sel).substr(1))) return true;
      } else if (sel[0] == '#') {
        if (id && sel.compare(1, std::string::npos, id->value) == 0) return true;
      } else {
        if (tag.empty()) tag = tag_name(el);
        if (strcasecmp(sel.c_str(), tag.c_str()) == 0) return true;
      }
    }
    return false;
  }

  // Newlines this element forces before and after itself.
  static int breaks(GumboTag tag) {
    switch (tag) {
      case GUMBO_TAG_P: case GUMBO_TAG_H1: case GUMBO_TAG_H2: case GUMBO_TAG_H3:
      case GUMBO_TAG_H4: case GUMBO_TAG_H5: case GUMBO_TAG_H6: case GUMBO_TAG_PRE:
      case GUMBO_TAG_BLOCKQUOTE: case GUMBO_TAG_TABLE: case GUMBO_TAG_UL: case GUMBO_TAG_OL:
      case GUMBO_TAG_DL: case GUMBO_TAG_HR: case GUMBO_TAG_SECTION: case GUMBO_TAG_ARTICLE:
      case GUMBO_TAG_FIGURE:
        return 2;
      case GUMBO_TAG_DIV: case GUMBO_TAG_LI: case GUMBO_TAG_TR: case GUMBO_TAG_DT:
      case GUMBO_TAG_DD: case GUMBO_TAG_BR: case GUMBO_TAG_CAPTION: case GUMBO_TAG_TITLE:
      case GUMBO_TAG_ADDRESS: case GUMBO_TAG_FIGCAPTION: case GUMBO_TAG_CENTER:
        return 1;
      default:
        return 0;
    }
  }

  void element(const GumboElement& el, bool in_pre) {
    if (dropped(el)) return;
    int b = breaks(el.tag);
    newlines(b);
    if (el.tag == GUMBO_TAG_TD || el.tag == GUMBO_TAG_TH) space_ = true;
    if (el.tag == GUMBO_TAG_IMG) {
      const GumboAttribute* alt = gumbo_get_attribute(&el.attributes, "alt");
      if (alt && *alt->value) text(alt->value, false);
    }
    children(&el.children, in_pre || el.tag == GUMBO_TAG_PRE || el.tag == GUMBO_TAG_LISTING);
    newlines(b);
    if (el.tag == GUMBO_TAG_TD || el.tag == GUMBO_TAG_TH) space_ = true;
  }

  void children(const GumboVector* kids, bool in_pre) {
    for (unsigned i = 0; i < kids->length; ++i)
      visit(static_cast<const GumboNode*>(kids->data[i]), in_pre);
  }

  void newlines(int n) {
    if (n == 0 || out_.empty()) return;
    space_ = false;
    int have = 0;
    for (size_t i = out_.size(); i > 0 && out_[i - 1] == '\n' && have < n; --i) ++have;
    while (have++ < n) out_.push_back('\n');
  }

  void text(const char* s, bool in_pre) {
    if (in_pre) {
      out_ += s;
      space_ = false;
      return;
    }
    for (const char* p = s; *p; ++p) {
      unsigned char c = static_cast<unsigned char>(*p);
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
        space_ = true;
        continue;
      }
      // U+00A0 (no-break space) is whitespace for layout purposes.
      if (c == 0xC2 && static_cast<unsigned char>(p[1]) == 0xA0) {
        ++p;
        space_ = true;
        continue;
      }
      if (space_ && !out_.empty() && out_.back() != '\n' && out_.back() != ' ') out_.push_back(' ');
      space_ = false;
      out_.push_back(static_cast<char>(c));
    }
  }

  const std::vector<std::string>& drop_;
  std::string out_;
  bool space_ = false;
};

}  // namespace

std::string html_to_text(std::string_view html, const std::vector<std::string>& drop) {
  GumboOutput* output = gumbo_parse_with_options(&kGumboDefaultOptions, html.data(), html.size());
  TextBuilder builder(drop);
  builder.visit(output->document, false);
  gumbo_destroy_output(&kGumboDefaultOptions, output);
  return builder.take();
}

}  // namespace replay::corpus
