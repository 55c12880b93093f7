// Meta's Llama-3 tokenizer.json: loading, exactness against an independent
// implementation (npm @huggingface/tokenizers under node, tests/oracle/llama3.js)
// on real text of every domain, the spec's published vectors, BOS from the
// file's post_processor, and added-token strings kept as text.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "text/tokenizer.h"
#include "text_test_support.h"
#include "util/error.h"

using namespace replay;
using namespace replay::text;
using namespace replay::text::testing;

namespace {

constexpr TokenId kBeginOfText = 128000;
constexpr TokenId kEndOfText = 128001;
constexpr const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

Tokenizer load_llama3() {
  if (!stdfs::exists(llama3_json()))
    throw Error(llama3_json().string() + " is missing: run scripts/setup.sh (npm ci in tests/oracle)");
  return Tokenizer::load(llama3_json());
}

// The oracle's ids for each text; `flags` as tests/oracle/llama3.js takes them.
std::vector<std::vector<TokenId>> oracle_ids(const stdfs::path& tokenizer_json,
                                             const std::vector<std::string>& texts, const std::string& flags) {
  TempDir dir("llama3_oracle");
  fs::write_file_atomic(dir.path / "texts.json", nlohmann::json(texts).dump());
  std::string out = run_capture("node '" + (oracle_dir() / "llama3.js").string() + "' '" + tokenizer_json.string() +
                                "' '" + (dir.path / "texts.json").string() + "' " + flags);
  if (out.empty()) return {};
  return nlohmann::json::parse(out).get<std::vector<std::vector<TokenId>>>();
}

// Fails naming the sample, the first differing position and both id runs.
void expect_same_ids(const std::string& what, const std::vector<Sample>& samples,
                     const std::vector<std::vector<TokenId>>& ours,
                     const std::vector<std::vector<TokenId>>& oracle) {
  ASSERT_EQ(oracle.size(), samples.size())
      << what << ": node oracle gave no output; is node installed and tests/oracle/node_modules set up "
      << "(scripts/setup.sh)?";
  for (size_t i = 0; i < samples.size(); ++i) {
    if (ours[i] == oracle[i]) continue;
    const size_t at = first_difference(ours[i], oracle[i]);
    ADD_FAILURE() << what << " differs on sample " << samples[i].name << " at token " << at
                  << "\n  ours:   " << ids_from(ours[i], at) << "\n  oracle: " << ids_from(oracle[i], at);
  }
}

std::vector<std::string> texts_of(const std::vector<Sample>& samples) {
  std::vector<std::string> texts;
  for (const auto& s : samples) texts.push_back(s.text);
  return texts;
}

}  // namespace

TEST(Llama3, LoadsMetasFile) {
  Tokenizer tok = load_llama3();
  EXPECT_EQ(tok.pattern(), kLlama3Pattern);
  EXPECT_EQ(tok.vocab_size(), 128256u);
  ASSERT_EQ(tok.special_tokens().size(), 256u);
  EXPECT_EQ(tok.special_tokens().front().id, kBeginOfText);
  EXPECT_EQ(tok.special_tokens().front().content, "<|begin_of_text|>");
  EXPECT_EQ(tok.special_tokens().back().id, 128255u);
  EXPECT_EQ(tok.eot_id(), kEndOfText);  // <|end_of_text|>
  EXPECT_GT(tok.merge_count(), 200000u);
  // ignore_merges: a pre-token that is itself a token is emitted whole.
  EXPECT_EQ(tok.encode(" Việt"), (std::vector<TokenId>{101798}));
  // This copy's post_processor is ByteLevel alone: no BOS.
  EXPECT_FALSE(tok.has_bos());
  EXPECT_THROW(tok.bos_id(), Error);
}

TEST(Llama3, PublishedVectorsWithTheBosTemplate) {
  TempDir dir("llama3_bos");
  write_with_bos_template(llama3_json(), dir.path / "tokenizer.json");
  Tokenizer tok = Tokenizer::load(dir.path / "tokenizer.json");
  ASSERT_TRUE(tok.has_bos());
  EXPECT_EQ(tok.bos_id(), kBeginOfText);
  auto document = [&](std::string_view text) {
    std::vector<TokenId> ids;
    tok.encode_document(text, ids);
    return ids;
  };
  EXPECT_EQ(document("hi, how are you today?"),
            (std::vector<TokenId>{128000, 6151, 11, 1268, 527, 499, 3432, 30}));
  EXPECT_EQ(document("hello !"), (std::vector<TokenId>{128000, 15339, 758}));
  EXPECT_EQ(document("! ! !"), (std::vector<TokenId>{128000, 0, 758, 758}));
  EXPECT_EQ(tok.encode("hello !"), (std::vector<TokenId>{15339, 758}));  // encode() itself adds nothing
}

TEST(Llama3, BosFollowsThePostProcessor) {
  Tokenizer without = load_llama3();
  TempDir dir("llama3_pp");
  write_with_bos_template(llama3_json(), dir.path / "with.json");
  Tokenizer with = Tokenizer::load(dir.path / "with.json");
  std::vector<TokenId> a, b;
  without.encode_document("hello !", a);
  with.encode_document("hello !", b);
  EXPECT_EQ(a, (std::vector<TokenId>{15339, 758}));
  EXPECT_EQ(b, (std::vector<TokenId>{128000, 15339, 758}));
  // The BOS changes how stores frame documents, so it is part of the identity.
  EXPECT_NE(with.fingerprint(), without.fingerprint());
  // save() writes the template back; load() reads the same tokenizer.
  with.save(dir.path / "saved.json");
  Tokenizer reloaded = Tokenizer::load(dir.path / "saved.json");
  EXPECT_EQ(reloaded.fingerprint(), with.fingerprint());
  EXPECT_EQ(reloaded.bos_id(), kBeginOfText);
  without.save(dir.path / "saved_without.json");
  EXPECT_EQ(Tokenizer::load(dir.path / "saved_without.json").fingerprint(), without.fingerprint());
}

TEST(Llama3, MatchesHuggingFaceTokenizersOnRealText) {
  Tokenizer plain = load_llama3();
  TempDir dir("llama3_real");
  write_with_bos_template(llama3_json(), dir.path / "with.json");
  Tokenizer with_bos = Tokenizer::load(dir.path / "with.json");
  auto samples = real_samples(48 * 1024);
  samples.push_back({"numbers", "0 12 123 1234 12345 123456 3.14159265 -42 1e-9 0xDEADBEEF 1,234,567.89 ١٢٣ ⅷ\n"});
  samples.push_back({"spaces_only", std::string(33, ' ')});
  samples.push_back({"newlines_and_tabs", "\n\n\t\t\n \n  \r\n\r\n\t x \t\n"});
  ASSERT_GE(samples.size(), 15u) << "too few real text files found on this machine";
  auto texts = texts_of(samples);

  std::vector<std::vector<TokenId>> ours, ours_bos;
  size_t total_tokens = 0;
  for (const auto& s : samples) {
    ours.push_back(plain.encode(s.text));
    total_tokens += ours.back().size();
    ours_bos.emplace_back();
    with_bos.encode_document(s.text, ours_bos.back());
  }
  // Samples hold no added-token strings of Llama 3, so --plain changes nothing here.
  expect_same_ids("llama3 encode", samples, ours, oracle_ids(llama3_json(), texts, "--plain"));
  expect_same_ids("llama3 with template", samples, ours_bos, oracle_ids(dir.path / "with.json", texts, "--plain"));
  EXPECT_GT(total_tokens, 20000u);
}

TEST(Llama3, AddedTokenStringsArePlainTextUnlessAsked) {
  Tokenizer tok = load_llama3();
  const std::vector<Sample> samples = {
      {"chat", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"},
      {"corpus", "A file about tokenizers: <|end_of_text|> ends a document, <|reserved_special_token_5|> is unused."},
      {"near_misses", "<|begin_of_text| <|end_of_text|x <||> <|eot_id|><|eot_id|>"}};
  std::vector<std::vector<TokenId>> plain, special;
  for (const auto& s : samples) {
    plain.push_back(tok.encode(s.text));
    EXPECT_TRUE(std::all_of(plain.back().begin(), plain.back().end(), [](TokenId id) { return id < kBeginOfText; }))
        << s.name << ": an added token came out of plain text";
    EXPECT_EQ(tok.decode(plain.back()), s.text);
    special.emplace_back();
    tok.encode_with_special_tokens(s.text, special.back());
  }
  EXPECT_EQ(special[0].front(), kBeginOfText);
  EXPECT_NE(std::find(special[1].begin(), special[1].end(), kEndOfText), special[1].end());
  auto texts = texts_of(samples);
  expect_same_ids("plain", samples, plain, oracle_ids(llama3_json(), texts, "--plain --no-template"));
  expect_same_ids("special", samples, special, oracle_ids(llama3_json(), texts, "--no-template"));
}

TEST(Llama3, UnsupportedPostProcessorsAreRefusedByKey) {
  TempDir dir("llama3_bad_pp");
  nlohmann::json j = nlohmann::json::parse(fs::read_file(llama3_json()));
  auto error_for = [&](const nlohmann::json& post) {
    j["post_processor"] = post;
    fs::write_file_atomic(dir.path / "bad.json", j.dump());
    try {
      Tokenizer::load(dir.path / "bad.json");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  std::string roberta = error_for({{"type", "RobertaProcessing"}});
  EXPECT_NE(roberta.find("post_processor.type"), std::string::npos) << roberta;
  EXPECT_NE(roberta.find("RobertaProcessing"), std::string::npos) << roberta;
  // A token after the text (an EOS template) would frame documents differently.
  nlohmann::json suffix = {
      {"type", "TemplateProcessing"},
      {"single", {{{"Sequence", {{"id", "A"}, {"type_id", 0}}}}, {{"SpecialToken", {{"id", "<|end_of_text|>"}, {"type_id", 0}}}}}},
      {"special_tokens", {{"<|end_of_text|>", {{"id", "<|end_of_text|>"}, {"ids", {128001}}, {"tokens", {"<|end_of_text|>"}}}}}}};
  std::string after = error_for(suffix);
  EXPECT_NE(after.find("post_processor.single"), std::string::npos) << after;
  EXPECT_NE(after.find("bad.json"), std::string::npos) << after;
  // A template naming an id that is not an added token.
  nlohmann::json wrong_id = {
      {"type", "TemplateProcessing"},
      {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
      {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {42}}, {"tokens", {"<s>"}}}}}}};
  std::string wrong = error_for({{"type", "Sequence"}, {"processors", {wrong_id}}});
  EXPECT_NE(wrong.find("post_processor.processors[0].special_tokens.<s>.ids"), std::string::npos) << wrong;
}
