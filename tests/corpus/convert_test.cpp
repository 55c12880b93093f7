#include "corpus/convert.h"

#include <gtest/gtest.h>

#include "corpus/normalize.h"
#include "util/error.h"

using namespace replay::corpus;

namespace {
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
}  // namespace

TEST(Html, DropsScriptsAndNavigationKeepsParagraphsAndDecodesEntities) {
  std::string html = R"(<!DOCTYPE html><html><head><title>T</title><style>p{}</style></head>
<body><nav>Home | Next</nav><div class="navheader">Prev Up</div>
<h1>Caf&eacute; &amp; bar</h1><script>var x = 1;</script>
<p>First   paragraph
 spans lines.</p><p>Second&nbsp;one &lt;b&gt;</p>
<pre>  code
    indented</pre><ul><li>one</li><li>two</li></ul></body></html>)";
  std::string text = html_to_text(html, {".navheader"});
  EXPECT_FALSE(contains(text, "var x")) << text;
  EXPECT_FALSE(contains(text, "Home")) << text;
  EXPECT_FALSE(contains(text, "Prev Up")) << text;
  EXPECT_FALSE(contains(text, "p{}")) << text;
  EXPECT_TRUE(contains(text, "Café & bar\n\nFirst paragraph spans lines.\n\nSecond one <b>")) << text;
  EXPECT_TRUE(contains(text, "  code\n    indented")) << text;
  EXPECT_TRUE(contains(text, "one\ntwo")) << text;
}

TEST(Html, SurvivesBrokenMarkup) {
  std::string text = html_to_text("<p>unclosed <b>bold <i>both</p><div>next");
  EXPECT_EQ(text, "unclosed bold both\n\nnext\n");
}

TEST(Email, StripsHeadersKeepsOnlyTextPlain) {
  std::string mail =
      "From someone@example.com  Tue Aug  6 11:01:33 2002\n"
      "Received: from x\n\tby y\n"
      "Subject: Hello\n"
      "Content-Type: multipart/alternative;\n boundary=\"XYZ\"\n"
      "\n"
      "preamble\n"
      "--XYZ\n"
      "Content-Type: text/plain; charset=iso-8859-1\n"
      "Content-Transfer-Encoding: quoted-printable\n"
      "\n"
      "Caf=E9 soft=\nbreak here\n"
      "--XYZ\n"
      "Content-Type: text/html\n"
      "\n"
      "<p>HTML version</p>\n"
      "--XYZ--\n";
  std::string text = email_to_text(mail);
  EXPECT_TRUE(contains(text, "Café softbreak here")) << text;
  EXPECT_FALSE(contains(text, "Subject")) << text;
  EXPECT_FALSE(contains(text, "HTML version")) << text;
  EXPECT_FALSE(contains(text, "preamble")) << text;
}

TEST(Email, PlainMessageAndBase64AndHtmlOnly) {
  EXPECT_EQ(email_to_text("Subject: x\nFrom: a@b\n\nJust the body.\n"), "Just the body.\n");
  std::string b64 =
      "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
      "aGVsbG8gd29ybGQ=\n";
  EXPECT_EQ(email_to_text(b64), "hello world");
  EXPECT_EQ(email_to_text("Content-Type: text/html\n\n<p>only html</p>\n"), "");
}

TEST(Tex, StripsCommentsAndMarkupKeepsMathAndVerbatim) {
  std::string tex =
      "% Copyright line\n"
      "\\def\\TITLE{x}\n"
      "\\section{Greetings!}\n"
      "\\noindent The \\kbd{gp} calculator\\label{se:gp} computes $\\sum_{i=1}^n i^2$ % note\n"
      "and 50\\% of \\emph{users} like it.\n"
      "\\bprog\n"
      "? 1/(Mod(2,5)) % not a comment in code\n"
      "%1 = Mod(3, 5)\n"
      "@eprog\n";
  std::string text = tex_to_text(tex);
  EXPECT_FALSE(contains(text, "Copyright")) << text;
  EXPECT_FALSE(contains(text, "TITLE")) << text;
  EXPECT_FALSE(contains(text, "note")) << text;
  EXPECT_FALSE(contains(text, "se:gp")) << text;
  EXPECT_TRUE(contains(text, "Greetings!\n")) << text;
  EXPECT_TRUE(contains(text, "The gp calculator computes $\\sum_{i=1}^n i^2$")) << text;
  EXPECT_TRUE(contains(text, "50% of users like it.")) << text;
  EXPECT_TRUE(contains(text, "? 1/(Mod(2,5)) % not a comment in code\n%1 = Mod(3, 5)")) << text;
  EXPECT_FALSE(contains(text, "bprog")) << text;
}

TEST(Pod, HeadingsItemsAndFormattingCodes) {
  std::string pod =
      "=pod\n\n=head2 How do I sort a hash?\n\n"
      "Use B<sort> with C<< $a <=> $b >> and see L<perlfunc/\"sort\"> or L<the docs|perlop>.\n"
      "E<lt>tagE<gt> X<index entry>\n\n"
      "    my @sorted = sort keys %h;\n\n"
      "=over 4\n\n=item * first\n\n=back\n\n=cut\n";
  std::string text = pod_to_text(pod);
  EXPECT_TRUE(contains(text, "How do I sort a hash?\n")) << text;
  EXPECT_TRUE(contains(text, "Use sort with $a <=> $b and see sort in perlfunc or the docs.")) << text;
  EXPECT_TRUE(contains(text, "<tag> \n") || contains(text, "<tag>\n") || contains(text, "<tag> ")) << text;
  EXPECT_FALSE(contains(text, "index entry")) << text;
  EXPECT_TRUE(contains(text, "    my @sorted = sort keys %h;")) << text;
  EXPECT_TRUE(contains(text, "first")) << text;
  EXPECT_FALSE(contains(text, "=over")) << text;
  EXPECT_FALSE(contains(text, "=cut")) << text;
}

TEST(Rst, DropsDirectivesUnderlinesAndRoles) {
  std::string rst =
      ":tocdepth: 2\n\n"
      "=========\nFAQ Title\n=========\n\n"
      ".. contents::\n   :local:\n\n"
      ".. This is a comment\n   spanning lines.\n\n"
      "Why use :func:`len` and ``x.y``?\n---------------------------------\n\n"
      "See `the docs <https://x>`_ for more::\n\n"
      "   print(len(x))\n";
  std::string text = rst_to_text(rst);
  EXPECT_FALSE(contains(text, "===")) << text;
  EXPECT_FALSE(contains(text, "contents")) << text;
  EXPECT_FALSE(contains(text, ":local:")) << text;
  EXPECT_FALSE(contains(text, "comment")) << text;
  EXPECT_TRUE(contains(text, "FAQ Title")) << text;
  EXPECT_TRUE(contains(text, "Why use len and x.y?")) << text;
  EXPECT_TRUE(contains(text, "See the docs for more:\n")) << text;
  EXPECT_TRUE(contains(text, "   print(len(x))")) << text;
}

TEST(AsciiDoc, GitStyleMarkup) {
  std::string adoc =
      "git-add(1)\n==========\n\n"
      ":attr: value\n[[anchor]]\ninclude::other.txt[]\n"
      "SYNOPSIS\n--------\n[verse]\n'git add' [<pathspec>...]\n\n"
      "See linkgit:git-rm[1] for removal.\n"
      "----\n$ git add .\n----\n+\nmore\n";
  std::string text = asciidoc_to_text(adoc);
  EXPECT_TRUE(contains(text, "git-add(1)\n")) << text;
  EXPECT_FALSE(contains(text, "=====")) << text;
  EXPECT_FALSE(contains(text, "attr")) << text;
  EXPECT_FALSE(contains(text, "anchor")) << text;
  EXPECT_FALSE(contains(text, "include::")) << text;
  EXPECT_FALSE(contains(text, "[verse]")) << text;
  EXPECT_TRUE(contains(text, "See git-rm(1) for removal.")) << text;
  EXPECT_TRUE(contains(text, "$ git add .\nmore")) << text;
}

TEST(Fortune, SplitsOnPercentLines) {
  auto f = split_fortunes("First quote.\n\t-- Someone\n%\nSecond\n%\n%\n   \n%\nThird");
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0], "First quote.\n\t-- Someone\n");
  EXPECT_EQ(f[1], "Second\n");
  EXPECT_EQ(f[2], "Third\n");
}

TEST(Maxima, PairsProblemsWithAnswersAndDropsComments) {
  std::string mac =
      "/* header comment /* nested */ still comment */\n"
      "(kill(all), 0);\n0$\n"
      "f(x):=x^2+y;\nf(x):=x^2+y$\n"
      "f(2); /* evaluate */\ny+4$\n"
      "s: \"a;b\";\n\"a;b\"$\n";
  std::string text = maxima_tests_to_text(mac);
  EXPECT_EQ(text,
            "(%i1) (kill(all), 0);\n(%o1) 0\n"
            "(%i2) f(x):=x^2+y;\n(%o2) f(x):=x^2+y\n"
            "(%i3) f(2);\n(%o3) y+4\n"
            "(%i4) s: \"a;b\";\n(%o4) \"a;b\"\n");
}

TEST(Convert, SplitBeforeAndFormatNames) {
  auto parts = split_before_lines("intro\n=head2 Q1\na1\n=head2 Q2\na2\n", "=head2 ");
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[1], "=head2 Q1\na1\n");
  auto docs = convert(Format::pod, "=head2 Q1\nA1 text\n=head2 Q2\nA2 text\n", {{}, "=head2 "});
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(parse_format("html"), Format::html);
  try {
    parse_format("docx");
    FAIL();
  } catch (const replay::Error& e) {
    EXPECT_TRUE(contains(e.what(), "docx")) << e.what();
  }
}

TEST(Normalize, NewlinesWhitespaceAndLength) {
  DropReason why;
  EXPECT_EQ(normalize_text("\r\n\n  a line  \r\nnext\rthird\n\n\n\nend\x01\n\n", 1, why),
            "  a line\nnext\nthird\n\nend");
  EXPECT_EQ(why, DropReason::kept);
  EXPECT_EQ(normalize_text("short", 10, why), "");
  EXPECT_EQ(why, DropReason::too_short);
  EXPECT_EQ(normalize_text(" \n\t\n", 0, why), "");
  EXPECT_EQ(why, DropReason::too_short);
}

TEST(Normalize, EncodingRepairRules) {
  double bad = 0;
  // Pure Latin-1 (no valid multi-byte sequence): transcoded.
  EXPECT_EQ(to_valid_utf8("caf\xE9 \x93quoted\x94", bad), "café “quoted”");
  EXPECT_EQ(bad, 0);
  // Mostly UTF-8 with one stray byte: replaced by U+FFFD.
  std::string mixed = "naïve " + std::string(200, 'x') + "\xFF";
  std::string fixed = to_valid_utf8(mixed, bad);
  EXPECT_TRUE(is_valid_utf8(fixed));
  EXPECT_NE(fixed.find("\xEF\xBF\xBD"), std::string::npos);
  EXPECT_GT(bad, 0);
  // Overlong encodings and surrogates are invalid.
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));
  EXPECT_TRUE(is_valid_utf8("ok 🙂 ü"));
  // Mostly garbage with some UTF-8: dropped.
  DropReason why;
  normalize_text("é\xFF\xFE\xFD\xFC abc", 1, why);
  EXPECT_EQ(why, DropReason::encoding);
}

TEST(Normalize, DeduplicatorSeesExactDuplicatesOnly) {
  Deduplicator d;
  EXPECT_TRUE(d.insert("a text"));
  EXPECT_FALSE(d.insert("a text"));
  EXPECT_TRUE(d.insert("a text."));
  EXPECT_EQ(d.size(), 2u);
}
