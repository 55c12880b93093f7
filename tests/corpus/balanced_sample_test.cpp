#include "corpus/balanced_sample.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "corpus_test_util.h"
#include "util/fs.h"

using namespace replay;
using replay::corpus::BalancedSample;

namespace {

std::vector<std::string> drain(BalancedSample& sample) {
  std::vector<std::string> out;
  for (std::string text; sample.next(text);) out.push_back(text);
  return out;
}

// Input "a": a folder of four 10-byte documents (files a1..a4, read in path
// order); input "b": a JSONL file of two 30-byte documents.
void write_inputs(const std::filesystem::path& dir) {
  for (int i = 4; i >= 1; --i)  // written out of order: reading order is by path
    fs::write_file_atomic(dir / "a" / ("a" + std::to_string(i) + ".txt"), "a" + std::to_string(i) + "-------\n");
  std::string b1(29, '1'), b2(29, '2');
  fs::write_file_atomic(dir / "b.jsonl", "{\"text\":\"" + b1 + "\\n\"}\n{\"text\":\"" + b2 + "\\n\"}\n");
}

}  // namespace

TEST(BalancedSample, NextDocumentComesFromTheLeastServedInput) {
  TempDir dir("balanced_order");
  write_inputs(dir.path);
  BalancedSample sample({(dir.path / "a").string(), (dir.path / "b.jsonl").string()}, "text", 60);
  auto docs = drain(sample);
  // a (tie, listed first), b, then a twice until a has caught up with b's 30.
  ASSERT_EQ(docs.size(), 4u);
  EXPECT_EQ(docs[0].substr(0, 2), "a1");
  EXPECT_EQ(docs[1][0], '1');
  EXPECT_EQ(docs[2].substr(0, 2), "a2");
  EXPECT_EQ(docs[3].substr(0, 2), "a3");
  EXPECT_EQ(sample.taken(), 60u);
}

TEST(BalancedSample, ExhaustedInputsDropOut) {
  TempDir dir("balanced_exhaust");
  write_inputs(dir.path);
  BalancedSample sample({(dir.path / "a").string(), (dir.path / "b.jsonl").string()}, "text", 1000);
  auto docs = drain(sample);
  ASSERT_EQ(docs.size(), 6u);  // everything, the budget is never reached
  EXPECT_EQ(docs[4].substr(0, 2), "a4");
  EXPECT_EQ(docs[5][0], '2');
  EXPECT_EQ(sample.taken(), 100u);
}

TEST(BalancedSample, LastDocumentIsCutAtALineEndWithinTheBudget) {
  TempDir dir("balanced_cut");
  fs::write_file_atomic(dir.path / "d.txt", "abc\ndef\nghi\n");
  for (auto [budget, expected] : std::vector<std::pair<uint64_t, std::string>>{
           {8, "abc\ndef\n"}, {7, "abc\n"}, {4, "abc\n"}, {3, "abc"}, {100, "abc\ndef\nghi\n"}}) {
    BalancedSample sample({(dir.path / "d.txt").string()}, "text", budget);
    auto docs = drain(sample);
    ASSERT_EQ(docs.size(), 1u) << budget;
    EXPECT_EQ(docs[0], expected) << budget;
    EXPECT_LE(sample.taken(), budget);
  }
}

TEST(BalancedSample, MissingInputIsAnErrorNamingIt) {
  TempDir dir("balanced_missing");
  const std::string missing = (dir.path / "nope.jsonl").string();
  std::string e = error_of([&] { BalancedSample sample({missing}, "text", 10); });
  EXPECT_NE(e.find("nope.jsonl"), std::string::npos) << e;
}
