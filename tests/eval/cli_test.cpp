// `replay eval` through the real binary: bad input fails with a message
// naming the file and leaves no output directory; `eval compare` prints the
// paired statistics.
#include <gtest/gtest.h>

#include "eval/results.h"
#include "eval_fixture.h"
#include "replay_cli.h"
#include "temp_dir.h"

using namespace replay::eval;
using namespace replay::eval::testing;

TEST(EvalCli, BadInputFailsNamingTheFileAndWritesNothing) {
  const TempDir tmp("eval_cli");
  const stdfs::path hf = write_hf_dir(tmp.path);
  const stdfs::path out = tmp.path / "out";
  // An item with a label out of range, in line 2.
  replay::fs::write_file_atomic(tmp.path / "bad.jsonl",
                                R"({"context": "a", "choices": ["b", "c"], "label": 0})" "\n"
                                R"({"context": "a", "choices": ["b", "c"], "label": 5})" "\n");
  replay::fs::write_file_atomic(tmp.path / "bad.toml",
                                "name = \"bad\"\nitems = \"bad.jsonl\"\n[template]\ncontext = \"{context}\"\n"
                                "choice_list = \"choices\"\nchoice = \" {choice}\"\nlabel = \"label\"\n");
  auto r = run_replay("eval " + hf.string() + " --task " + kTinyTask.string() + " --task " +
                      (tmp.path / "bad.toml").string() + " --out " + out.string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("bad.toml"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("line 2"), std::string::npos) << r.out;
  EXPECT_FALSE(stdfs::exists(out));

  // A tokenizer that does not belong to the model (400 ids, model vocab 320).
  write_tokenizer(tmp.path / "big.json", 400, false);
  r = run_replay("eval " + hf.string() + " --task " + kTinyTask.string() + " --tokenizer " +
                 (tmp.path / "big.json").string() + " --out " + out.string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("vocab_size is 320"), std::string::npos) << r.out;
  EXPECT_FALSE(stdfs::exists(out));

  // --out under a regular file: refused before any work.
  r = run_replay("eval " + hf.string() + " --task " + kTinyTask.string() + " --out " + (tmp.path / "bad.toml" / "x").string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("--out"), std::string::npos) << r.out;
  for (const auto& entry : stdfs::directory_iterator(tmp.path))
    EXPECT_EQ(entry.path().filename().string().rfind(".tmp-", 0), std::string::npos) << entry.path();
}

TEST(EvalCli, ComparePrintsThePairedStatistics) {
  const TempDir tmp("eval_cli_compare");
  auto result = [](const std::vector<int>& correct) {
    TaskResult r;
    r.task = "t";
    r.acc_norm = false;
    for (size_t i = 0; i < correct.size(); ++i)
      r.items.push_back({std::to_string(i), {-1.0}, {1}, {1}, 0, 0, 0, correct[i] != 0, false});
    return r;
  };
  std::vector<int> a(40, 1), b(40, 1);
  for (int i = 0; i < 10; ++i) a[i] = 0;       // B right only: 10
  for (int i = 10; i < 12; ++i) b[i] = 0;      // A right only: 2
  write_results(tmp.path / "a", "A", {result(a)});
  write_results(tmp.path / "b", "B", {result(b)});
  for (const std::string form : {"eval compare ", "eval --compare "}) {
    const auto r = run_replay(form + (tmp.path / "a").string() + " " + (tmp.path / "b").string());
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("t acc: 40 shared items"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("B - A +0.2000"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("McNemar exact p = 0.03857"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("acc_norm"), std::string::npos) << r.out;  // not a metric of the task
  }
}
