// Scoring (src/eval/score.h) through the real binary against an independent
// Python scorer (tests/eval/reference_score.py over the float64 forward of
// tests/model/reference_llama.py), plus batching and decision rules.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

#include "eval/score.h"
#include "eval_fixture.h"
#include "replay_cli.h"
#include "temp_dir.h"
#include "util/error.h"
#include "util/lines.h"

using namespace replay::eval;
using namespace replay::eval::testing;
using nlohmann::json;

namespace {

// The untruncated requests of the tiny task and its items, for the reference.
json handoff(const Task& task, const replay::text::Tokenizer& tok) {
  json h = {{"requests", json::array()}, {"items", json::array()}};
  for (const auto& r : build_requests(task, tok, int64_t{1} << 30))
    h["requests"].push_back({{"ids", r.tokens}, {"continuation", r.continuation}});
  for (const auto& item : task.items) h["items"].push_back({{"choices", item.choices}, {"gold", item.gold}});
  return h;
}

std::vector<json> read_jsonl(const stdfs::path& file) {
  std::vector<json> out;
  replay::for_each_line(replay::fs::read_file(file), [&](std::string_view line) {
    if (!line.empty()) out.push_back(json::parse(line));
  });
  return out;
}

}  // namespace

TEST(EvalScore, MatchesTheIndependentReference) {
  if (!stdfs::exists(kPython)) GTEST_SKIP() << kPython << " (Debian python3-torch) not found";
  const TempDir tmp("eval_parity");
  const stdfs::path hf = write_hf_dir(tmp.path);
  // --batch-tokens 100: several padded batches of different lengths.
  const auto r = run_replay("eval " + hf.string() + " --task " + kTinyTask.string() + " --out " +
                            (tmp.path / "out").string() + " --batch-tokens 100 --threads 1");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("tiny_copa: 6 items, 12 requests"), std::string::npos) << r.out;

  const auto tok = replay::text::Tokenizer::load(hf / "tokenizer.json");
  ASSERT_TRUE(tok.has_bos());
  const Task task = load_task(kTinyTask);
  const json h = handoff(task, tok);
  replay::fs::write_file_atomic(tmp.path / "handoff.json", h.dump());
  const std::string cmd = std::string(kPython) + " " + (kSource / "tests/eval/reference_score.py").string() + " " +
                          hf.string() + " " + (tmp.path / "handoff.json").string() + " " + (tmp.path / "ref.json").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const json ref = json::parse(replay::fs::read_file(tmp.path / "ref.json"));

  const auto items = read_jsonl(tmp.path / "out" / "tiny_copa.jsonl");
  ASSERT_EQ(items.size(), 6u);
  double worst = 0;
  size_t k = 0, truncated = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    EXPECT_EQ(items[i]["id"], task.items[i].id);
    for (size_t c = 0; c < 2; ++c, ++k) {
      const double mine = items[i]["scores"][c].get<double>(), theirs = ref["scores"][k].get<double>();
      worst = std::max(worst, std::abs(mine - theirs) / std::abs(theirs));
      EXPECT_EQ(items[i]["tokens"][c], h["requests"][k]["continuation"]);
      truncated += h["requests"][k]["ids"].size() > 65;
    }
  }
  std::printf("eval parity: worst relative difference of a choice's log-likelihood %.3g\n", worst);
  EXPECT_LT(worst, 1e-4);
  EXPECT_EQ(truncated, 2u);  // item c4's two choices exceed the 64-token context
  const json summary = json::parse(replay::fs::read_file(tmp.path / "out" / "summary.json"));
  const json& s = summary["tasks"]["tiny_copa"];
  EXPECT_EQ(s["truncated"], 2);
  EXPECT_NEAR(s["acc"].get<double>(), ref["acc"].get<double>(), 1e-12);
  EXPECT_NEAR(s["acc_norm"].get<double>(), ref["acc_norm"].get<double>(), 1e-12);
  const double p = ref["acc"].get<double>();
  EXPECT_NEAR(s["acc_stderr"].get<double>(), std::sqrt(p * (1 - p) / 5), 1e-12);
}

TEST(EvalScore, BatchingAndTheLibraryAgreeWithEachOther) {
  const TempDir tmp("eval_batching");
  const auto tok = write_tokenizer(tmp.path / "tok.json", 300, false);
  ASSERT_FALSE(tok.has_bos());
  replay::model::Llama model = tiny_model(320);
  const Task task = load_task(kTinyTask);
  const auto requests = build_requests(task, tok, model->config().max_seq_len);
  const auto one = score_requests(model, requests, {1});        // one request per forward
  const auto all = score_requests(model, requests, {1 << 20});  // everything in one forward
  ASSERT_EQ(one.size(), 12u);
  for (size_t k = 0; k < one.size(); ++k) {
    EXPECT_LT(one[k], 0.0);
    EXPECT_NEAR(one[k], all[k], 1e-5 * std::abs(one[k])) << k;
  }
  const TaskResult result = score_task(model, tok, task, {1 << 20});
  EXPECT_EQ(result.items.size(), 6u);
  EXPECT_EQ(result.items[0].scores[1], all[1]);
  EXPECT_EQ(result.items[5].id, "7");  // no id field: its line number
}

TEST(EvalScore, DecisionsTakeTheFirstOfTiesAndNormalizeByCharacters) {
  ItemResult item;
  item.scores = {-2.0, -2.0, -3.0};
  item.chars = {4, 8, 30};
  item.gold = 1;
  decide(item);
  EXPECT_EQ(item.predicted, 0);       // a tie: the first
  EXPECT_EQ(item.predicted_norm, 2);  // -3/30 is the highest per character
  EXPECT_FALSE(item.correct);
  TaskResult r;
  for (int i = 0; i < 4; ++i) r.items.push_back(item);
  r.items[0].correct = true;
  EXPECT_DOUBLE_EQ(r.accuracy(false).mean, 0.25);
  EXPECT_DOUBLE_EQ(r.accuracy(false).stderr_, std::sqrt(0.25 * 0.75 / 3));
}

TEST(EvalScore, VocabularyMismatchIsAClearError) {
  const TempDir tmp("eval_vocab");
  const auto tok = write_tokenizer(tmp.path / "tok.json", 300, false);
  replay::model::Llama model = tiny_model(256);
  std::string message;
  try {
    score_task(model, tok, load_task(kTinyTask));
  } catch (const replay::Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("vocab_size is 256"), std::string::npos) << message;
  EXPECT_NE(message.find("300"), std::string::npos) << message;
}

TEST(EvalScore, MismatchesAreCountedAndTrailingSpacesMoveToTheContinuation) {
  const TempDir tmp("eval_mismatch");
  const auto tok = write_tokenizer(tmp.path / "tok.json", 300, true);
  // " the" is one of the trained merges, " th" + "e" crosses it.
  const auto the = tok.encode(" the"), th = tok.encode(" th");
  ASSERT_EQ(the.size(), 1u);
  ASSERT_FALSE(th.size() <= the.size() && std::equal(th.begin(), th.end(), the.begin()));
  replay::fs::write_file_atomic(tmp.path / "m.jsonl",
                                R"({"id": "a", "context": "I saw th", "choices": ["e cat", "is"], "label": 0})" "\n"
                                R"({"id": "b", "context": "I saw ", "choices": ["the cat", "a cat"], "label": 0})" "\n");
  replay::fs::write_file_atomic(tmp.path / "m.toml",
                                "name = \"m\"\nitems = \"m.jsonl\"\n[template]\ncontext = \"{context}\"\n"
                                "choice_list = \"choices\"\nchoice = \"{choice}\"\nlabel = \"label\"\n");
  const Task task = load_task(tmp.path / "m.toml");
  const auto requests = build_requests(task, tok, 64);
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_TRUE(requests[0].mismatch);  // "I saw th" + "e cat": " th" becomes " the"
  EXPECT_EQ(requests[0].tokens.front(), tok.bos_id());
  const auto whole = tok.encode("I saw the cat");
  EXPECT_EQ(requests[0].tokens.size(), whole.size() + 1);
  // Still scored, as lm-eval does: the tokens after the context's length.
  EXPECT_EQ(requests[0].continuation, static_cast<int64_t>(whole.size() + 1 - (tok.encode("I saw th").size() + 1)));
  // "I saw " + "the cat": the context is encoded as "I saw" and the space
  // goes with the continuation, so " the" stays one token and no mismatch.
  EXPECT_FALSE(requests[2].mismatch);
  EXPECT_EQ(requests[2].continuation, static_cast<int64_t>(tok.encode("I saw the cat").size() - tok.encode("I saw").size()));
  replay::model::Llama model = tiny_model(320);
  const TaskResult r = score_task(model, tok, task);
  EXPECT_EQ(r.mismatches, 1);
  EXPECT_EQ(r.requests, 4);
}

TEST(EvalScore, ChoicesSharingTheirInputShareTheForwardAndScoreAsAlone) {
  const TempDir tmp("eval_shared");
  const auto tok = write_tokenizer(tmp.path / "tok.json", 300, true);
  replay::fs::write_file_atomic(tmp.path / "l.jsonl",
                                R"({"context": "The man broke his toe. Answer:", "choices": ["A", "B", "C", "D"], "label": 2})" "\n"
                                R"({"context": "I tipped the bottle. Answer:", "choices": ["A", "B", "the cat"], "label": 0})" "\n");
  replay::fs::write_file_atomic(tmp.path / "l.toml",
                                "name = \"letters\"\nitems = \"l.jsonl\"\n[template]\ncontext = \"{context}\"\n"
                                "choice_list = \"choices\"\nchoice = \" {choice}\"\nlabel = \"label\"\n");
  const Task task = load_task(tmp.path / "l.toml");
  const auto requests = build_requests(task, tok, 64);
  ASSERT_EQ(requests.size(), 7u);
  // " A" .. " D" after the same context: same input, different last token.
  EXPECT_TRUE(std::equal(requests[0].tokens.begin(), requests[0].tokens.end() - 1, requests[1].tokens.begin()));
  replay::model::Llama model = tiny_model(320);
  const auto together = score_requests(model, requests, {1 << 20});
  for (size_t k = 0; k < requests.size(); ++k) {
    const auto alone = score_requests(model, {requests[k]}, {1 << 20});
    EXPECT_NEAR(together[k], alone[0], 1e-5 * std::abs(alone[0])) << k;
  }
  EXPECT_NE(together[0], together[1]);
}
