// Exactness against an independent implementation: the npm gpt-tokenizer
// package, run under node (tests/oracle/encode.js), on real text from every
// domain. Any mismatch prints the sample, the position and both id runs.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "text/tokenizer.h"
#include "text_test_support.h"

using namespace replay;
using namespace replay::text;
using namespace replay::text::testing;

namespace {

std::vector<std::vector<TokenId>> oracle_ids(const std::string& encoding, const std::vector<Sample>& samples) {
  TempDir dir("oracle_" + encoding);
  nlohmann::json texts = nlohmann::json::array();
  for (const auto& s : samples) texts.push_back(s.text);
  fs::write_file_atomic(dir.path / "texts.json", texts.dump());
  std::string out = run_capture("node '" + (oracle_dir() / "encode.js").string() + "' " + encoding + " '" +
                                (dir.path / "texts.json").string() + "'");
  if (out.empty()) return {};
  return nlohmann::json::parse(out).get<std::vector<std::vector<TokenId>>>();
}

void expect_same_as_oracle(const std::string& encoding) {
  Tokenizer tokenizer = Tokenizer::load(rank_file(encoding));
  auto samples = real_samples(48 * 1024);
  ASSERT_GE(samples.size(), 12u) << "too few real text files found on this machine";
  auto expected = oracle_ids(encoding, samples);
  ASSERT_EQ(expected.size(), samples.size()) << "node oracle gave no output; is node installed and "
                                                 "tests/oracle/node_modules set up (scripts/setup.sh)?";
  size_t total_tokens = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    auto ours = tokenizer.encode(samples[i].text);
    total_tokens += ours.size();
    if (ours == expected[i]) continue;
    const size_t at = first_difference(ours, expected[i]);
    ADD_FAILURE() << encoding << " differs on sample " << samples[i].name << " at token " << at
                  << "\n  ours:   " << ids_from(ours, at) << "\n  oracle: " << ids_from(expected[i], at)
                  << "\n  text there: '" << tokenizer.decode(std::vector<TokenId>(ours.begin() + at,
                                                                                  ours.begin() + std::min(ours.size(), at + 8)))
                  << "'";
  }
  EXPECT_GT(total_tokens, 20000u);
}

}  // namespace

TEST(Oracle, R50kMatchesGptTokenizer) { expect_same_as_oracle("r50k_base"); }
TEST(Oracle, Cl100kMatchesGptTokenizer) { expect_same_as_oracle("cl100k_base"); }
TEST(Oracle, O200kMatchesGptTokenizer) { expect_same_as_oracle("o200k_base"); }
