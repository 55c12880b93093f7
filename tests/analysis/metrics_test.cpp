#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

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

// Task lines as Trainer::score_tasks writes them: acc_norm only for tasks
// that report it; a step-0 line (the starting weights) is an ordinary line.
TEST(Metrics, ParsesTaskLines) {
  std::string text =
      R"({"kind":"task","step":0,"tokens":0,"task":"help_next_sentence_eu_hard","items":500,"acc":0.31,"acc_stderr":0.02,"acc_norm":0.3,"acc_norm_stderr":0.021,"mismatches":0,"gold_loglik":-40.1})"
      "\n"
      R"({"kind":"eval","step":32,"tokens":8192,"val":{"basque":3.1}})"
      "\n"
      R"({"kind":"task","step":32,"tokens":8192,"task":"arc_easy","items":120,"acc":0.5,"acc_stderr":0.046,"mismatches":3,"gold_loglik":null,"seconds":1.5})"
      "\n";
  RunMetrics m = parse_metrics(text, "m.jsonl");
  ASSERT_EQ(m.tasks.size(), 2u);
  EXPECT_EQ(m.evals.size(), 1u);
  const TaskScoreRecord& a = m.tasks[0];
  EXPECT_EQ(a.step, 0);
  EXPECT_EQ(a.task, "help_next_sentence_eu_hard");
  EXPECT_EQ(a.items, 500);
  EXPECT_DOUBLE_EQ(a.acc, 0.31);
  EXPECT_DOUBLE_EQ(a.acc_stderr, 0.02);
  ASSERT_TRUE(a.acc_norm && a.acc_norm_stderr);
  EXPECT_DOUBLE_EQ(*a.acc_norm, 0.3);
  EXPECT_DOUBLE_EQ(*a.acc_norm_stderr, 0.021);
  EXPECT_DOUBLE_EQ(a.gold_loglik, -40.1);
  const TaskScoreRecord& b = m.tasks[1];
  EXPECT_EQ(b.step, 32);
  EXPECT_EQ(b.tokens, 8192);
  EXPECT_EQ(b.mismatches, 3);
  EXPECT_FALSE(b.acc_norm.has_value());
  EXPECT_TRUE(std::isnan(b.gold_loglik));  // a diverged model's NaN, written as null
}

TEST(Metrics, ATaskLineMissingAKeyNamesTheLine) {
  const std::string good =
      R"({"kind":"task","step":8,"tokens":64,"task":"t","items":10,"acc":0.5,"acc_stderr":0.1,"mismatches":0,"gold_loglik":-3})";
  EXPECT_EQ(parse_metrics(good + "\n", "f").tasks.size(), 1u);
  auto without = [&](const std::string& key) {
    auto j = nlohmann::json::parse(good);
    j.erase(key);
    return j.dump() + "\n";
  };
  for (const char* key : {"step", "tokens", "task", "items", "acc", "acc_stderr", "mismatches", "gold_loglik"}) {
    std::string text = good + "\n" + without(key);
    try {
      parse_metrics(text, "run/metrics.jsonl");
      ADD_FAILURE() << "a task line without " << key << " was accepted";
    } catch (const replay::Error& e) {
      std::string what = e.what();
      EXPECT_NE(what.find("run/metrics.jsonl:2"), std::string::npos) << what;
      EXPECT_NE(what.find(key), std::string::npos) << what;
    }
  }
  // acc_norm comes with its standard error or not at all.
  std::string half = good.substr(0, good.size() - 1) + R"(,"acc_norm":0.4})" "\n";
  EXPECT_THROW(parse_metrics(half, "f"), replay::Error);
}
