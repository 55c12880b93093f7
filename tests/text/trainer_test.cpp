#include <gtest/gtest.h>

#include "text/tokenizer.h"
#include "text_test_support.h"
#include "util/error.h"

using namespace replay;
using namespace replay::text;
using namespace replay::text::testing;

namespace {

std::function<bool(std::string&)> feed(const std::vector<Sample>& samples) {
  auto i = std::make_shared<size_t>(0);
  return [&samples, i](std::string& out) {
    if (*i == samples.size()) return false;
    out = samples[(*i)++].text;
    return true;
  };
}

}  // namespace

TEST(Trainer, TrainsDeterministicallySavesAndLoadsBackIdentical) {
  auto samples = real_samples();
  BpeTrainOptions options;
  options.vocab_size = 1000;
  options.threads = 1;
  Tokenizer one = train_bpe(feed(samples), options);
  options.threads = 3;
  Tokenizer three = train_bpe(feed(samples), options);
  EXPECT_EQ(one.fingerprint(), three.fingerprint());
  EXPECT_EQ(one.vocab_size(), 1000u);
  EXPECT_EQ(one.eot_id(), 999u);
  EXPECT_EQ(one.merge_count(), 999u - 256u);

  TempDir dir("trainer");
  one.save(dir.path / "tokenizer.json");
  Tokenizer loaded = Tokenizer::load(dir.path / "tokenizer.json");
  EXPECT_EQ(loaded.fingerprint(), one.fingerprint());
  EXPECT_EQ(loaded.pattern(), one.pattern());
  size_t bytes = 0, tokens = 0;
  for (const auto& s : samples) {
    auto ids = one.encode(s.text);
    EXPECT_EQ(loaded.encode(s.text), ids) << s.name;
    EXPECT_EQ(one.decode(ids), s.text);
    bytes += s.text.size();
    tokens += ids.size();
  }
  // Trained on this very text, a 1k vocabulary must compress it well below
  // one token per byte (measured ~0.3).
  EXPECT_LT(static_cast<double>(tokens) / bytes, 0.45);
  // Frequent words of the sample became single tokens.
  EXPECT_EQ(one.encode(" the").size(), 1u);
  EXPECT_EQ(one.encode(" License").size(), 1u);
}

TEST(Trainer, RespectsPatternAndSpecials) {
  auto samples = real_samples(4096);
  BpeTrainOptions options;
  options.vocab_size = 400;
  options.pattern = "gpt2";
  options.special_tokens = {"<|endoftext|>", "<|pad|>"};
  Tokenizer t = train_bpe(feed(samples), options);
  EXPECT_EQ(t.vocab_size(), 400u);
  ASSERT_EQ(t.special_tokens().size(), 2u);
  EXPECT_EQ(t.special_tokens()[1].content, "<|pad|>");
  EXPECT_EQ(t.special_tokens()[1].id, 399u);
  std::vector<TokenId> ids;
  t.encode_with_special_tokens("a<|pad|>", ids);
  EXPECT_EQ(ids.back(), 399u);
}

TEST(Trainer, MergesOverlappingRunsCorrectly) {
  // "aaaa..." exercises overlapping pair occurrences in the count updates.
  std::vector<Sample> samples = {{"runs", std::string(1000, 'a') + " " + std::string(999, 'a') + " abababab abab"}};
  BpeTrainOptions options;
  options.vocab_size = 270;
  options.special_tokens = {};
  Tokenizer t = train_bpe(feed(samples), options);
  std::string text = std::string(1000, 'a');
  EXPECT_EQ(t.decode(t.encode(text)), text);
  EXPECT_LE(t.encode(text).size(), 20u);
}

TEST(Trainer, RejectsBadOptionsAndEmptyInput) {
  std::vector<Sample> none;
  BpeTrainOptions options;
  EXPECT_THROW(train_bpe(feed(none), options), Error);
  options.vocab_size = 100;
  auto samples = real_samples(1024);
  EXPECT_THROW(train_bpe(feed(samples), options), Error);
  options.vocab_size = 300;
  options.pattern = "(unclosed";
  EXPECT_THROW(train_bpe(feed(samples), options), Error);
}
