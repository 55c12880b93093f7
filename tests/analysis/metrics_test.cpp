#include <gtest/gtest.h>

#include <cmath>

#include "analysis/metrics.h"
#include "util/error.h"

using namespace replay::analysis;

TEST(Metrics, ParsesStepsAndEvals) {
  std::string text =
      R"({"kind":"step","step":1,"tokens":4096,"lr":0.001,"loss":5.5,"grad_norm":1.2,"tokens_per_s":900})"
      "\n"
      R"({"kind":"step","step":2,"tokens":8192,"lr":0.002,"loss":5.0,"grad_norm":1.1,"tokens_per_s":1000})"
      "\n"
      R"({"kind":"eval","step":2,"tokens":8192,"val":{"finemath":4.5,"c4":4.9}})"
      "\n"
      R"({"kind":"step","step":3,"tokens":12288,"lr":0.002,"loss":null,"grad_norm":1.0,"tokens_per_s":1100})"
      "\n"
      R"({"kind":"eval","step":3,"tokens":12288,"val":{"finemath":4.4,"c4":4.8},"extra":1})"
      "\n"
      R"({"kind":"note","text":"ignored"})"
      "\n";
  RunMetrics m = parse_metrics(text, "m.jsonl");
  ASSERT_EQ(m.steps.size(), 3u);
  ASSERT_EQ(m.evals.size(), 2u);
  EXPECT_EQ(m.steps[1].tokens, 8192);
  EXPECT_DOUBLE_EQ(m.steps[1].lr, 0.002);
  EXPECT_TRUE(std::isnan(m.steps[2].loss));  // diverged step written as null
  ASSERT_NE(m.final_eval(), nullptr);
  EXPECT_EQ(m.final_eval()->step, 3);
  EXPECT_DOUBLE_EQ(m.final_eval()->val.at("finemath"), 4.4);
  EXPECT_DOUBLE_EQ(*m.median_tokens_per_s(), 1000);
  EXPECT_FALSE(m.truncated_tail);
}

TEST(Metrics, ToleratesATruncatedLastLineOnly) {
  std::string good = R"({"kind":"eval","step":5,"tokens":10,"val":{"a":1.5}})" "\n";
  RunMetrics m = parse_metrics(good + R"({"kind":"step","st)", "run/metrics.jsonl");
  EXPECT_TRUE(m.truncated_tail);
  EXPECT_EQ(m.evals.size(), 1u);
  try {
    parse_metrics(good + "{oops\n" + good, "run/metrics.jsonl");
    FAIL() << "expected an error";
  } catch (const replay::Error& e) {
    EXPECT_NE(std::string(e.what()).find("run/metrics.jsonl:2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_metrics(R"({"kind":"eval","step":1,"tokens":1})" "\n", "f"), replay::Error);
  EXPECT_THROW(parse_metrics(R"({"kind":"step","tokens":1,"loss":2})" "\n", "f"), replay::Error);
}

TEST(Metrics, MissingFileNamesThePath) {
  try {
    read_metrics("/nonexistent/run/metrics.jsonl");
    FAIL();
  } catch (const replay::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/run/metrics.jsonl"), std::string::npos);
  }
}
