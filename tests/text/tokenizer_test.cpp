#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "text/bpe_model.h"
#include "text/tokenizer.h"
#include "text_test_support.h"
#include "util/error.h"

using namespace replay;
using namespace replay::text;
using namespace replay::text::testing;

namespace {
const Tokenizer& r50k() {
  static const Tokenizer t = Tokenizer::load(rank_file("r50k_base"));
  return t;
}
const Tokenizer& cl100k() {
  static const Tokenizer t = Tokenizer::load(rank_file("cl100k_base"));
  return t;
}
}  // namespace

TEST(Tokenizer, KnownEncodingsLoadWithTheirSizesAndSpecials) {
  EXPECT_EQ(r50k().vocab_size(), 50257u);
  EXPECT_EQ(r50k().eot_id(), 50256u);
  EXPECT_EQ(cl100k().vocab_size(), 100277u);
  EXPECT_EQ(cl100k().eot_id(), 100257u);
  EXPECT_EQ(cl100k().special_tokens().size(), 5u);
  Tokenizer o200k = Tokenizer::load(rank_file("o200k_base"));
  EXPECT_EQ(o200k.vocab_size(), 200019u);
  EXPECT_EQ(o200k.eot_id(), 199999u);
  EXPECT_EQ(o200k.encode("hello world"), (std::vector<TokenId>{24912, 2375}));
  Tokenizer p50k = Tokenizer::load(rank_file("p50k_base"));
  EXPECT_EQ(p50k.vocab_size(), 50281u);
  EXPECT_EQ(p50k.encode("    x"), (std::vector<TokenId>{50258, 2124}));  // "   " is a p50k token
}

TEST(Tokenizer, KnownIds) {
  EXPECT_EQ(r50k().encode("hello world"), (std::vector<TokenId>{31373, 995}));
  EXPECT_EQ(cl100k().encode("hello world"), (std::vector<TokenId>{15339, 1917}));
  EXPECT_TRUE(r50k().encode("").empty());
  EXPECT_EQ(r50k().decode(std::vector<TokenId>{31373, 995}), "hello world");
}

TEST(Tokenizer, SpecialTokenStringsArePlainTextUnlessAsked) {
  std::string text = "a<|endoftext|>b";
  auto plain = cl100k().encode(text);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), cl100k().eot_id()), 0);
  EXPECT_EQ(cl100k().decode(plain), text);
  std::vector<TokenId> with;
  cl100k().encode_with_special_tokens(text, with);
  EXPECT_EQ(with, (std::vector<TokenId>{64, 100257, 65}));
  EXPECT_EQ(cl100k().decode(with), text);
}

TEST(Tokenizer, DecodeOfEncodeIsIdentityOnRandomBytes) {
  std::mt19937_64 rng(1234);
  std::vector<const Tokenizer*> tokenizers = {&r50k(), &cl100k()};
  for (int round = 0; round < 300; ++round) {
    size_t n = rng() % 400;
    std::string s(n, '\0');
    int mode = round % 3;
    for (auto& c : s) {
      uint64_t r = rng();
      if (mode == 0) c = static_cast<char>(r);  // arbitrary bytes, mostly invalid UTF-8
      else if (mode == 1) c = " \n\ta'1Zé\xC3\xA9\xE2\x82\xAC\xF0\x9F"[r % 16];  // split sequences
      else c = static_cast<char>(r % 4 == 0 ? 0x80 + r % 64 : 32 + r % 95);
    }
    for (const Tokenizer* t : tokenizers) {
      auto ids = t->encode(s);
      ASSERT_EQ(t->decode(ids), s) << "round " << round;
      for (TokenId id : ids) ASSERT_LT(id, t->vocab_size());
    }
  }
}

TEST(Tokenizer, Gpt2FilesGiveTheSameIdsAsR50k) {
  Tokenizer gpt2 = Tokenizer::load(gpt2_dir());
  EXPECT_EQ(gpt2.vocab_size(), 50257u);
  EXPECT_EQ(gpt2.eot_id(), 50256u);
  auto samples = real_samples();
  ASSERT_GE(samples.size(), 10u);
  for (const auto& s : samples) EXPECT_EQ(gpt2.encode(s.text), r50k().encode(s.text)) << s.name;
  // Loading through either file name finds the other one.
  Tokenizer via_file = Tokenizer::load(gpt2_dir() / "vocab.bpe");
  EXPECT_EQ(via_file.fingerprint(), gpt2.fingerprint());
}

TEST(Tokenizer, HeapMergeMatchesSimpleMerge) {
  const detail::Model& m = cl100k().internal_model();
  std::mt19937_64 rng(7);
  const char* alphabet[] = {"a", "b", "e", "th", "in", " ", "é", "ing", "er", "0", "ab"};
  for (int round = 0; round < 200; ++round) {
    std::string piece;
    size_t parts = 1 + rng() % 120;
    for (size_t i = 0; i < parts; ++i) piece += alphabet[rng() % std::size(alphabet)];
    if (piece.size() > 256) piece.resize(256);
    std::vector<TokenId> simple, heap;
    detail::bpe_merge_piece(m, piece, simple, 256);
    detail::bpe_merge_piece(m, piece, heap, 0);
    ASSERT_EQ(simple, heap) << piece;
  }
}

TEST(Tokenizer, VeryLongRunsEncodeAndRoundTrip) {
  for (const std::string& s :
       {std::string(256 * 1024, ' '), std::string(100000, 'a'), std::string(30000, '7'),
        std::string(50000, '\n'), std::string(20000, '!') + std::string(20000, '\t')}) {
    auto ids = cl100k().encode(s);
    EXPECT_EQ(cl100k().decode(ids), s);
    EXPECT_LT(ids.size(), s.size());
  }
}

TEST(Tokenizer, EncodesIdenticallyFromSeveralThreads) {
  auto samples = real_samples();
  std::vector<std::vector<TokenId>> expected;
  for (const auto& s : samples) expected.push_back(cl100k().encode(s.text));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 3; ++rep)
        for (size_t i = 0; i < samples.size(); ++i)
          if (cl100k().encode(samples[(i + t) % samples.size()].text) != expected[(i + t) % samples.size()])
            ++mismatches[t];
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST(Tokenizer, BadIdsAndFilesGiveClearErrors) {
  EXPECT_THROW(r50k().decode(std::vector<TokenId>{50257}), Error);
  TempDir dir("bad");
  auto expect_error = [](const std::filesystem::path& p, const std::string& needle) {
    try {
      Tokenizer::load(p);
      ADD_FAILURE() << "no error for " << p;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(dir.path / "missing.tiktoken", "missing.tiktoken");
  fs::write_file_atomic(dir.path / "r50k_base.tiktoken", "");
  expect_error(dir.path / "r50k_base.tiktoken", "empty");
  fs::write_file_atomic(dir.path / "r50k_base.tiktoken", "IQ== 0\nnot-base64! 1\n");
  expect_error(dir.path / "r50k_base.tiktoken", "r50k_base.tiktoken:2");
  fs::write_file_atomic(dir.path / "r50k_base.tiktoken", "IQ== 0\n");
  expect_error(dir.path / "r50k_base.tiktoken", "no token for byte");
  fs::write_file_atomic(dir.path / "mystery.tiktoken", "IQ== 0\n");
  expect_error(dir.path / "mystery.tiktoken", "mystery.tiktoken");
  expect_error(dir.path, "no tokenizer in directory");
}

TEST(Tokenizer, FingerprintIsStableAndDistinguishesEncodings) {
  EXPECT_EQ(r50k().fingerprint().size(), 32u);
  EXPECT_EQ(Tokenizer::load(rank_file("r50k_base")).fingerprint(), r50k().fingerprint());
  EXPECT_NE(r50k().fingerprint(), cl100k().fingerprint());
  EXPECT_NE(Tokenizer::load(rank_file("p50k_base")).fingerprint(), r50k().fingerprint());
}
