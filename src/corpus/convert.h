// Converters from the formats found in packages to clean text. Each is a
// small pure function (tested on inline samples); `convert` dispatches on the
// recipe's `format`. Output still goes through normalize_text afterwards, so
// converters need not care about blank-line runs or trailing spaces.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace replay::corpus {

enum class Format { text, code, html, email, tex, pod, rst, asciidoc, fortune, maxima };

// "html" -> Format::html; throws replay::Error naming the value otherwise.
Format parse_format(const std::string& name);
const char* format_name(Format format);
std::string known_formats();  // "text, code, html, ..." for error messages

// HTML via gumbo (a real HTML5 parser, entities decoded). Drops script,
// style, head, nav, header, footer, aside, form controls, and any element
// matching a `drop` selector: "tag", ".class" or "#id". Block elements end
// paragraphs; whitespace collapses except inside <pre>.
std::string html_to_text(std::string_view html, const std::vector<std::string>& drop = {});

// RFC 822 message: headers stripped; only text/plain parts kept (multipart
// walked recursively; quoted-printable and base64 decoded; Latin-1 family
// charsets transcoded to UTF-8). Empty when the message has no text/plain part.
std::string email_to_text(std::string_view message);

// TeX / LaTeX source: comments removed, macro definitions and layout-only
// commands dropped, text-style macros (\emph{x}, \kbd{x} ...) unwrapped,
// sectioning commands put on their own lines. Math ($...$, \[...\]) is kept
// verbatim: it is the content of the math domain.
std::string tex_to_text(std::string_view tex);

// Perl POD: commands (=head2 ...) become headings, =over/=back/=cut etc. are
// dropped, formatting codes (B<>, C<< >>, L<text|link>, E<gt> ...) unwrapped.
std::string pod_to_text(std::string_view pod);

// reStructuredText: title underlines, directives' option lines, comments,
// and roles (:func:`x` -> x) are removed; literal blocks are kept.
std::string rst_to_text(std::string_view rst);

// AsciiDoc (git's documentation): attribute lines, block delimiters,
// anchors, includes and conditionals removed; linkgit:x[1] -> x(1).
std::string asciidoc_to_text(std::string_view adoc);

// fortune(6) files: one quotation per document, separated by lines "%".
std::vector<std::string> split_fortunes(std::string_view text);

// Maxima test files (rtest*.mac): statements ending in ';' or '$' come in
// pairs, input then expected result. Rendered as a session transcript:
// "(%i1) input;\n(%o1) result" with comments removed.
std::string maxima_tests_to_text(std::string_view mac);

// Splits `text` before every line starting with `prefix` (e.g. "=head2 " to
// make one document per FAQ question). Empty prefix: the whole text.
std::vector<std::string_view> split_before_lines(std::string_view text, std::string_view prefix);

struct ConvertOptions {
  std::vector<std::string> html_drop;  // extra selectors for html_to_text
  std::string split_before;            // see split_before_lines
};

// One file's content -> zero or more raw document texts.
std::vector<std::string> convert(Format format, std::string_view content,
                                 const ConvertOptions& options = {});

}  // namespace replay::corpus
