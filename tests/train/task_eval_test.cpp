// Multiple-choice tasks scored during training (eval.tasks): a metrics line
// per task at every evaluation, the same accuracy `replay eval` gives the
// final checkpoint, training itself unchanged, and eval.tasks without a
// tokenizer refused before anything runs.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "error_of.h"
#include "replay_cli.h"
#include "store/builder.h"
#include "text/tokenizer.h"
#include "tiny_run.h"
#include "train/trainer.h"
#include "util/fs.h"
#include "util/lines.h"

namespace replay::train {
namespace {

namespace stdfs = std::filesystem;

class TaskEvalTest : public ::testing::Test {
 protected:
  // A BPE tokenizer of 300 ids, a store built with it and six items.
  void SetUp() override {
    const auto docs = testing::make_documents("generic", 120, 7);
    size_t next = 0;
    text::BpeTrainOptions bpe;
    bpe.vocab_size = 300;
    bpe.threads = 1;
    const text::Tokenizer tok = text::train_bpe(
        [&](std::string& t) { return next < docs.size() ? (t = docs[next++], true) : false; }, bpe);
    tok.save(tmp_.path / "tok.json");
    store::TokenizerHandle handle;
    handle.encode = [&tok](std::string_view t, std::vector<uint32_t>& out) { tok.encode(t, out); };
    handle.eot_id = tok.eot_id();
    handle.vocab_size = tok.vocab_size();
    handle.fingerprint = tok.fingerprint();
    store::BuildOptions opt;
    opt.domain = "generic";
    opt.seq_len = 32;
    opt.val_sequences = 8;
    opt.val_max_fraction = 0.25;
    opt.threads = 1;
    store::build_store(tmp_.path / "generic", store::documents_from_vector(docs), handle, opt);
    // Contexts and choices from the corpus text, so scores differ by item
    // and by model.
    std::string items;
    for (int i = 0; i < 6; ++i) {
      const std::string& d = docs[static_cast<size_t>(i)];
      items += nlohmann::json({{"id", "q" + std::to_string(i)}, {"context", d.substr(0, 30)},
                               {"choices", {d.substr(30, 12), d.substr(60, 9), d.substr(90, 15)}}, {"label", i % 3}})
                   .dump() + "\n";
    }
    fs::write_file_atomic(tmp_.path / "t.jsonl", items);
    fs::write_file_atomic(tmp_.path / "t.toml",
                          "name = \"cats\"\nitems = \"t.jsonl\"\n[template]\ncontext = \"{context}\"\n"
                          "choice_list = \"choices\"\nchoice = \" {choice}\"\nlabel = \"label\"\n");
  }

  std::string config(const std::string& name, bool tasks, bool tokenizer = true) {
    const stdfs::path file = tmp_.path / (name + ".toml");
    fs::write_file_atomic(
        file, "seed = 3\nout = \"" + (tmp_.path / name).string() + "\"\nthreads = 1\n[model]\npreset = \"tiny\"\n" +
                  "vocab_size = 320\n[data]\n" +
                  (tokenizer ? "tokenizer = \"" + (tmp_.path / "tok.json").string() + "\"\n" : "") +
                  "[data.sources.generic]\nstore = \"" + (tmp_.path / "generic").string() + "\"\n" +
                  "[schedule]\nsource = \"generic\"\n[train]\nsteps = 6\nbatch_size = 4\n" +
                  "[eval]\nevery = 3\nsequences = 4\n" +
                  (tasks ? "tasks = [\"" + (tmp_.path / "t.toml").string() + "\"]\n" : ""));
    return file.string();
  }

  TempDir tmp_{"task_eval"};
};

TEST_F(TaskEvalTest, TasksAreScoredAtEveryEvaluationAsReplayEvalScoresThem) {
  const CliResult with = run_replay("train " + config("with", true));
  ASSERT_EQ(with.status, 0) << with.out;
  const CliResult without = run_replay("train " + config("without", false));
  ASSERT_EQ(without.status, 0) << without.out;
  const auto metrics = testing::read_metrics(tmp_.path / "with" / "metrics.jsonl");
  std::vector<nlohmann::json> lines;
  for (const auto& j : metrics.other)
    if (j.value("kind", "") == "task") lines.push_back(j);
  ASSERT_EQ(lines.size(), 2u);  // after steps 3 and 6
  EXPECT_EQ(lines[0]["step"], 3);
  EXPECT_EQ(lines[1]["step"], 6);
  for (const auto& l : lines) {
    EXPECT_EQ(l["task"], "cats");
    EXPECT_EQ(l["items"], 6);
    const double p = l["acc"];
    EXPECT_NEAR(l["acc_stderr"].get<double>(), std::sqrt(p * (1 - p) / 5), 1e-12);
  }
  // Scoring reads the model and draws nothing: the training is unchanged.
  const auto plain = testing::read_metrics(tmp_.path / "without" / "metrics.jsonl");
  ASSERT_EQ(plain.steps.size(), metrics.steps.size());
  for (size_t i = 0; i < plain.steps.size(); ++i) EXPECT_EQ(plain.steps[i].loss, metrics.steps[i].loss);
  // The last line is what `replay eval` says of the final checkpoint, on the
  // trainer's one thread (another count changes fp32 sums in the last bits).
  const CliResult cli = run_replay("eval " + (tmp_.path / "with").string() + " --task " +
                                   (tmp_.path / "t.toml").string() + " --threads 1 --out " + (tmp_.path / "scores").string());
  ASSERT_EQ(cli.status, 0) << cli.out;
  const auto summary = nlohmann::json::parse(fs::read_file(tmp_.path / "scores" / "summary.json"));
  EXPECT_EQ(summary["tasks"]["cats"]["acc"], lines[1]["acc"]);
  EXPECT_EQ(summary["tasks"]["cats"]["acc_norm"], lines[1]["acc_norm"]);
  double gold = 0;
  for_each_line(fs::read_file(tmp_.path / "scores" / "cats.jsonl"), [&](std::string_view line) {
    const auto item = nlohmann::json::parse(line);
    gold += item["scores"][item["gold"].get<size_t>()].get<double>();
  });
  EXPECT_NEAR(lines[1]["gold_loglik"].get<double>(), gold / 6, 1e-9);
  // ... and the step-3 model scored otherwise.
  EXPECT_NE(lines[0]["gold_loglik"], lines[1]["gold_loglik"]);
  // The trainer keeps the per-item results of every evaluation, the same
  // files `replay eval --out` writes.
  EXPECT_EQ(fs::read_file(tmp_.path / "with" / "tasks" / "step-6" / "cats.jsonl"),
            fs::read_file(tmp_.path / "scores" / "cats.jsonl"));
  EXPECT_TRUE(stdfs::exists(tmp_.path / "with" / "tasks" / "step-3" / "summary.json"));
}

// A run that starts from pretrained weights is scored before its first step:
// the starting model is the first point of its curves, and its per-item
// results can be compared with any later step's.
TEST_F(TaskEvalTest, ARunFromPretrainedWeightsIsScoredBeforeItsFirstStep) {
  ASSERT_EQ(run_replay("train " + config("base", true)).status, 0);
  std::string cfg = fs::read_file(config("cont", true));
  cfg.insert(cfg.find("steps = 6"), "init_from = \"" + (tmp_.path / "base").string() + "\"\n");
  fs::write_file_atomic(tmp_.path / "cont.toml", cfg);
  const CliResult r = run_replay("train " + (tmp_.path / "cont.toml").string());
  ASSERT_EQ(r.status, 0) << r.out;
  const auto metrics = testing::read_metrics(tmp_.path / "cont" / "metrics.jsonl");
  std::vector<nlohmann::json> tasks;
  for (const auto& j : metrics.other)
    if (j.value("kind", "") == "task") tasks.push_back(j);
  const auto& evals = metrics.evals;
  ASSERT_EQ(tasks.size(), 3u);  // before step 1, after 3 and 6
  EXPECT_EQ(tasks[0]["step"], 0);
  EXPECT_EQ(tasks[0]["tokens"], 0);
  ASSERT_FALSE(evals.empty());
  EXPECT_EQ(evals[0]["step"], 0);
  // Step 0 is the base run's final model: the same scores, item by item.
  EXPECT_EQ(fs::read_file(tmp_.path / "cont" / "tasks" / "step-0" / "cats.jsonl"),
            fs::read_file(tmp_.path / "base" / "tasks" / "step-6" / "cats.jsonl"));
  const CliResult cmp = run_replay("eval compare " + (tmp_.path / "cont" / "tasks" / "step-0").string() + " " +
                                   (tmp_.path / "cont" / "tasks" / "step-6").string());
  ASSERT_EQ(cmp.status, 0) << cmp.out;
  EXPECT_NE(cmp.out.find("cats acc: 6 shared items"), std::string::npos) << cmp.out;
  // Run again when complete: nothing is recomputed, step 0 is not scored again.
  ASSERT_EQ(run_replay("train " + (tmp_.path / "cont.toml").string()).status, 0);
  size_t again = 0;
  for (const auto& j : testing::read_metrics(tmp_.path / "cont" / "metrics.jsonl").other)
    again += j.value("kind", "") == "task";
  EXPECT_EQ(again, 3u);
  // A run trained from scratch has no step-0 line (the first test).
}

TEST_F(TaskEvalTest, BadTasksAreRefusedBeforeTraining) {
  const CliResult r = run_replay("train " + config("no_tok", true, /*tokenizer=*/false));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("eval.tasks: scoring tasks needs data.tokenizer"), std::string::npos) << r.out;
  EXPECT_FALSE(stdfs::exists(tmp_.path / "no_tok"));
  const std::string text = fs::read_file(config("missing", true));
  fs::write_file_atomic(tmp_.path / "missing.toml",
                        text.substr(0, text.find("tasks = ")) + "tasks = [\"" + (tmp_.path / "nope.toml").string() + "\"]\n");
  const CliResult m = run_replay("train " + (tmp_.path / "missing.toml").string());
  EXPECT_NE(m.status, 0);
  EXPECT_NE(m.out.find("eval.tasks"), std::string::npos) << m.out;
  EXPECT_NE(m.out.find("nope.toml' not found"), std::string::npos) << m.out;
  EXPECT_FALSE(stdfs::exists(tmp_.path / "missing"));
  // A choice longer than the model's context (tiny: 64 tokens) is found
  // when the tasks are read, not at the first evaluation.
  fs::write_file_atomic(tmp_.path / "t.jsonl",
                        nlohmann::json({{"context", "the cat"}, {"choices", {std::string(400, 'x'), "sat"}}, {"label", 0}})
                                .dump() + "\n");
  const CliResult l = run_replay("train " + config("long", true));
  EXPECT_NE(l.status, 0);
  EXPECT_NE(l.out.find("t.toml"), std::string::npos) << l.out;
  EXPECT_NE(l.out.find("max_seq_len"), std::string::npos) << l.out;
  EXPECT_FALSE(stdfs::exists(tmp_.path / "long" / "metrics.jsonl")) << "trained before reading its tasks";
}

}  // namespace
}  // namespace replay::train
