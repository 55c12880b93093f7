#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "text/byte_level.h"
#include "text/encodings.h"
#include "text/tokenizer.h"
#include "text_test_support.h"
#include "util/error.h"

using namespace replay;
using namespace replay::text;
using namespace replay::text::testing;
using nlohmann::json;

namespace {

// A small byte-level BPE in HF format, written by hand: 256 byte tokens then
// merges h+e, l+l, he+ll, hell+o, Ġ+w.
json tiny_tokenizer(bool merges_as_arrays) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[bytes_to_byte_level(std::string(1, static_cast<char>(b)))] = b;
  std::vector<std::pair<std::string, std::string>> merges = {{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"Ġ", "w"}};
  json merge_list = json::array();
  int id = 256;
  for (auto& [a, b] : merges) {
    vocab[a + b] = id++;
    if (merges_as_arrays) merge_list.push_back(json::array({a, b}));
    else merge_list.push_back(a + " " + b);
  }
  return json{{"version", "1.0"},
              {"added_tokens", json::array({json{{"id", 261}, {"content", "<|endoftext|>"}, {"special", true}}})},
              {"normalizer", nullptr},
              {"pre_tokenizer",
               {{"type", "Sequence"},
                {"pretokenizers",
                 json::array({json{{"type", "Split"}, {"pattern", {{"Regex", std::string(kCl100kPattern)}}}, {"behavior", "Isolated"}, {"invert", false}},
                              json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}}},
              {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merge_list}}}};
}

std::string load_error(const std::filesystem::path& p) {
  try {
    Tokenizer::load(p);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(HfJson, LoadsHandWrittenFileWithStringOrArrayMerges) {
  TempDir dir("hf_tiny");
  fs::write_file_atomic(dir.path / "strings.json", tiny_tokenizer(false).dump());
  fs::write_file_atomic(dir.path / "arrays.json", tiny_tokenizer(true).dump());
  Tokenizer a = Tokenizer::load(dir.path / "strings.json");
  Tokenizer b = Tokenizer::load(dir.path / "arrays.json");
  EXPECT_EQ(a.fingerprint(), b.fingerprint());
  EXPECT_EQ(a.vocab_size(), 262u);
  EXPECT_EQ(a.eot_id(), 261u);
  // "hello" -> hello (259); " world" -> Ġw (260) o r l d.
  EXPECT_EQ(a.encode("hello world"), (std::vector<TokenId>{259, 260, 'o', 'r', 'l', 'd'}));
  EXPECT_EQ(b.encode("hello world"), a.encode("hello world"));
  std::vector<TokenId> with;
  a.encode_with_special_tokens("hello<|endoftext|>", with);
  EXPECT_EQ(with, (std::vector<TokenId>{259, 261}));
  // A folder holding tokenizer.json loads too.
  fs::write_file_atomic(dir.path / "folder" / "tokenizer.json", tiny_tokenizer(true).dump());
  EXPECT_EQ(Tokenizer::load(dir.path / "folder").fingerprint(), a.fingerprint());
}

TEST(HfJson, ByteLevelAloneMeansTheGpt2Regex) {
  TempDir dir("hf_bytelevel");
  json j = tiny_tokenizer(true);
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  fs::write_file_atomic(dir.path / "t.json", j.dump());
  EXPECT_EQ(Tokenizer::load(dir.path / "t.json").pattern(), std::string(kGpt2Pattern));
}

TEST(HfJson, SavedRankFileLoadsBackIdentical) {
  TempDir dir("hf_roundtrip");
  for (std::string enc : {"r50k_base", "cl100k_base"}) {
    Tokenizer original = Tokenizer::load(rank_file(enc));
    original.save(dir.path / (enc + ".json"));
    Tokenizer loaded = Tokenizer::load(dir.path / (enc + ".json"));
    EXPECT_EQ(loaded.fingerprint(), original.fingerprint()) << enc;
    EXPECT_EQ(loaded.vocab_size(), original.vocab_size());
    EXPECT_EQ(loaded.eot_id(), original.eot_id());
    for (const auto& s : real_samples(8 * 1024)) EXPECT_EQ(loaded.encode(s.text), original.encode(s.text)) << enc << " " << s.name;
  }
  // GPT-2 files (merge-list semantics) survive the round trip too.
  Tokenizer gpt2 = Tokenizer::load(gpt2_dir());
  gpt2.save(dir.path / "gpt2.json");
  EXPECT_EQ(Tokenizer::load(dir.path / "gpt2.json").fingerprint(), gpt2.fingerprint());
}

TEST(HfJson, MalformedFilesNameTheFileAndKey) {
  TempDir dir("hf_bad");
  auto write = [&](const std::string& name, const std::string& text) {
    fs::write_file_atomic(dir.path / name, text);
    return dir.path / name;
  };
  auto expect = [&](const std::filesystem::path& p, std::initializer_list<std::string> needles) {
    std::string msg = load_error(p);
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
  };
  expect(write("empty.json", ""), {"empty.json", "empty"});
  expect(write("broken.json", "{\"model\": "), {"broken.json", "invalid JSON"});
  expect(dir.path / "absent.json", {"absent.json", "not found"});
  json j = tiny_tokenizer(false);
  j["model"].erase("vocab");
  expect(write("novocab.json", j.dump()), {"novocab.json", "model.vocab"});
  j = tiny_tokenizer(false);
  j["model"]["merges"].push_back("q zz");
  expect(write("badmerge.json", j.dump()), {"badmerge.json", "model.merges[5]"});
  j = tiny_tokenizer(false);
  j["model"]["type"] = "Unigram";
  expect(write("unigram.json", j.dump()), {"unigram.json", "model.type"});
  j = tiny_tokenizer(false);
  j["normalizer"] = {{"type", "NFC"}};
  expect(write("norm.json", j.dump()), {"norm.json", "normalizer"});
  j = tiny_tokenizer(false);
  j["model"]["byte_fallback"] = true;
  expect(write("fallback.json", j.dump()), {"fallback.json", "byte_fallback"});
  j = tiny_tokenizer(false);
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  expect(write("regex.json", j.dump()), {"regex.json", "regex"});
  j = tiny_tokenizer(false);
  j["model"]["vocab"].erase("a");
  expect(write("nobyte.json", j.dump()), {"nobyte.json", "byte 0x61"});
}

// Ids index the model's arrays: an id of 4e9 used to end in "internal error:
// std::bad_alloc", one of 3e8 in 13 GB and 40 s for a 32 KB file.
TEST(HfJson, OutOfBoundsOrSparseIdsAreRefusedBeforeAllocating) {
  TempDir dir("hf_ids");
  auto expect = [&](const json& j, const std::string& name, std::initializer_list<std::string> needles) {
    fs::write_file_atomic(dir.path / name, j.dump());
    std::string msg = load_error(dir.path / name);
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
  };
  json j = tiny_tokenizer(false);
  j["model"]["vocab"]["zz"] = 4000000000u;
  expect(j, "huge.json", {"huge.json", "token 'zz' has id 4000000000", "largest supported id 16777215"});
  j = tiny_tokenizer(false);
  j["model"]["vocab"]["zz"] = 300000000u;
  expect(j, "large.json", {"large.json", "token 'zz' has id 300000000"});
  j = tiny_tokenizer(false);
  j["model"]["vocab"]["zz"] = 5000000u;  // below the bound, but 5 million unused ids
  expect(j, "sparse.json", {"sparse.json", "token 'zz' has id 5000000 but the file has only 263 tokens"});
  j = tiny_tokenizer(false);
  j["added_tokens"][0]["id"] = uint64_t{1} << 40;  // not narrowed to 32 bits before the check
  expect(j, "added.json", {"added.json", "token '<|endoftext|>' has id 1099511627776"});

  // A few unused ids are fine (o200k's specials skip 18).
  j = tiny_tokenizer(false);
  j["added_tokens"][0]["id"] = 1200;
  fs::write_file_atomic(dir.path / "gap.json", j.dump());
  EXPECT_EQ(Tokenizer::load(dir.path / "gap.json").special_tokens().at(0).id, 1200u);
}

TEST(HfJson, Gpt2AndRankFilesCheckTheirIdsToo) {
  TempDir dir("gpt2_ids");
  json enc = json::object();
  for (int b = 0; b < 256; ++b) enc[bytes_to_byte_level(std::string(1, static_cast<char>(b)))] = b;
  enc["hello"] = 4000000000u;
  fs::write_file_atomic(dir.path / "encoder.json", enc.dump());
  fs::write_file_atomic(dir.path / "vocab.bpe", "#version: 0.2\nh e\n");
  std::string msg = load_error(dir.path / "encoder.json");
  EXPECT_NE(msg.find("encoder.json: token 'hello' has id 4000000000"), std::string::npos) << msg;

  fs::write_file_atomic(dir.path / "r50k_base.tiktoken", "IQ== 0\nIg== 999999999\n");
  msg = load_error(dir.path / "r50k_base.tiktoken");
  EXPECT_NE(msg.find("r50k_base.tiktoken: token 'Ig==' has id 999999999"), std::string::npos) << msg;
  fs::write_file_atomic(dir.path / "r50k_base.tiktoken", "IQ== 0\nIg== 9000000\n");
  msg = load_error(dir.path / "r50k_base.tiktoken");
  EXPECT_NE(msg.find("token 'Ig==' has id 9000000 but the file has only 2 tokens"), std::string::npos) << msg;
}
